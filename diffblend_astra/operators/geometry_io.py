"""Read and write an ASTRA geometry pair as JSON: ``{"proj_geom": {...}, "vol_geom": {...}}``.

NumPy arrays (``ProjectionAngles``, ``Vectors``) are stored as nested lists and read back as
float64 arrays; everything else is stored as is. Both directions validate the pair.
"""

import json
from pathlib import Path

import numpy as np

from ..io_atomic import atomic_write
from .astra_geometry import check_geometry_pair

_ARRAY_KEYS = ("ProjectionAngles", "Vectors")


def save_geometry(path, proj_geom: dict, vol_geom: dict) -> Path:
    """Write the pair to ``path`` atomically (a complete file or none); return the path."""
    check_geometry_pair(proj_geom, vol_geom)
    text = json.dumps({"proj_geom": proj_geom, "vol_geom": vol_geom}, indent=1, default=_plain)
    with atomic_write(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def load_geometry(path) -> tuple[dict, dict]:
    """Read ``(proj_geom, vol_geom)`` from a file written by :func:`save_geometry`.

    Raises ``ValueError`` if the file is not such a JSON object or the pair is invalid.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), dict)
                                             for k in ("proj_geom", "vol_geom")):
        raise ValueError(f"{path} must hold a JSON object with 'proj_geom' and 'vol_geom' objects")
    proj_geom = {key: np.asarray(value, dtype=np.float64) if key in _ARRAY_KEYS else value
                 for key, value in data["proj_geom"].items()}
    try:
        check_geometry_pair(proj_geom, data["vol_geom"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return proj_geom, data["vol_geom"]


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a geometry file")
