"""Read and write an ASTRA geometry pair as JSON: ``{"proj_geom": {...}, "vol_geom": {...}}``.

NumPy arrays (``ProjectionAngles``, ``Vectors``) are stored as nested lists and read back as
float64 arrays; everything else is stored as is. Both directions validate the pair. An optional
``"projector"`` key names ASTRA's 2D CPU projector type (``"strip"``, ``"line_fanflat"``, ...);
without it the geometry's default is used. Other keys, and JSON ``null`` values, are refused.
"""

import json
from pathlib import Path

import numpy as np

from ..io_atomic import atomic_write
from .astra_geometry import CPU_PROJECTORS, check_geometry_pair

_ARRAY_KEYS = ("ProjectionAngles", "Vectors")
_KEYS = ("proj_geom", "vol_geom", "projector")


def save_geometry(path, proj_geom: dict, vol_geom: dict, *, projector: str | None = None) -> Path:
    """Write the pair (and ``projector`` when given) to ``path`` atomically; return the path."""
    check_geometry_pair(proj_geom, vol_geom)
    data = {"proj_geom": proj_geom, "vol_geom": vol_geom}
    if projector is not None:
        data["projector"] = check_projector(projector, proj_geom)
    text = json.dumps(data, indent=1, default=_plain)
    with atomic_write(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def load_geometry(path) -> tuple[dict, dict]:
    """Read ``(proj_geom, vol_geom)`` from a file written by :func:`save_geometry`.

    Raises ``ValueError`` if the file is not such a JSON object or the pair is invalid.
    """
    return load_geometry_file(path)[:2]


def load_geometry_file(path) -> tuple[dict, dict, str | None]:
    """Read ``(proj_geom, vol_geom, projector)`` from a geometry file; ``projector`` is
    ``None`` when the file names none.

    Raises ``ValueError`` (one line, naming ``path``) for a file that is not valid JSON, is not
    an object with ``proj_geom`` and ``vol_geom`` objects, has unknown keys or ``null`` values,
    holds an invalid pair, or names a projector the geometry does not support.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a JSON text file") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), dict)
                                             for k in ("proj_geom", "vol_geom")):
        raise ValueError(f"{path} must hold a JSON object with 'proj_geom' and 'vol_geom' objects")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; expected {', '.join(_KEYS)}")
    for name in ("proj_geom", "vol_geom"):
        for key, value in data[name].items():
            if value is None:
                raise ValueError(f"{path}: {name} {key!r} is null; give it a value or leave "
                                 "the key out")
    proj_geom = {key: np.asarray(value, dtype=np.float64) if key in _ARRAY_KEYS else value
                 for key, value in data["proj_geom"].items()}
    try:
        check_geometry_pair(proj_geom, data["vol_geom"])
        projector = data.get("projector")
        if "projector" in data:
            projector = check_projector(projector, proj_geom)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return proj_geom, data["vol_geom"], projector


def check_projector(projector, proj_geom: dict) -> str:
    """Return ``projector`` if ASTRA's CPU projectors support it for ``proj_geom``'s type.

    Raises ``ValueError`` listing the valid names for that geometry (3D geometries have no
    choice: they use ASTRA's ``cuda3d``).
    """
    kind = proj_geom.get("type")
    valid = CPU_PROJECTORS.get(kind)
    if valid is None:
        raise ValueError(f"projector {projector!r} given for a {kind!r} geometry; 3D "
                         "geometries use ASTRA's cuda3d projector and take no projector")
    if projector not in valid:
        raise ValueError(f"unknown projector {projector!r} for a {kind!r} geometry; valid: "
                         f"{', '.join(valid)}")
    return projector


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a geometry file")
