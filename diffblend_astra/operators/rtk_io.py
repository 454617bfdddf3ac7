"""An RTK cone-beam set-up as a geometry file: RTK's own XML geometry and the two image grids.

The JSON file reads::

    {"rtk_geometry": "geometry.xml",
     "volume": {"size": [nx, ny, nz], "spacing": [sx, sy, sz], "origin": [ox, oy, oz]},
     "detector": {"size": [nu, nv], "spacing": [su, sv], "origin": [ou, ov]}}

``rtk_geometry`` is the path (relative to the JSON file's folder, or absolute) of a
``ThreeDCircularProjectionGeometry`` XML file, as RTK's tools write it
(``rtksimulatedgeometry``, ``ThreeDCircularProjectionGeometryXMLFileWriter``). The grids are
:class:`~.rtk_geometry.ImageGrid` in RTK's ``(x, y, z)`` / ``(u, v)`` order, as ``rtkfdk``'s
``--size``, ``--spacing``, ``--origin``; ``origin`` (the centre of the first pixel) may be
left out for a grid centred on RTK's origin. The command line takes this file wherever it
takes an ASTRA geometry file (:mod:`.geometry_io`).
"""

import json
from pathlib import Path

from ..io_atomic import atomic_write
from .rtk_geometry import ImageGrid, rtk_modules

RTK_KEY = "rtk_geometry"
_GRID_KEYS = ("size", "spacing", "origin")


def is_rtk_file(path) -> bool:
    """Whether ``path`` holds an RTK set-up: a JSON object with ``rtk_geometry`` (any other
    file, readable or not, is left to the ASTRA reader and its errors)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and RTK_KEY in data


def save_rtk_setup(path, geometry, volume: ImageGrid, detector: ImageGrid, *,
                   xml_name: str | None = None) -> Path:
    """Write ``geometry`` as RTK's XML beside ``path`` (``xml_name``, default
    ``<stem>.xml``) and the set-up JSON to ``path``, both atomically; return ``path``."""
    path = Path(path)
    xml_path = path.with_name(xml_name or path.stem + ".xml")
    _, RTK = rtk_modules()
    with atomic_write(xml_path) as tmp:
        writer = RTK.ThreeDCircularProjectionGeometryXMLFileWriter.New()
        writer.SetFilename(str(tmp))
        writer.SetObject(geometry)
        writer.WriteFile()
    data = {RTK_KEY: xml_path.name,
            "volume": {key: list(getattr(volume, key)) for key in _GRID_KEYS},
            "detector": {key: list(getattr(detector, key)) for key in _GRID_KEYS}}
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def load_rtk_setup(path):
    """``(geometry, volume_grid, detector_grid)`` of an RTK set-up file, the arguments of
    :class:`~.rtk.RtkConeOperator`. Raises ``ValueError`` naming ``path`` for a malformed
    file, a missing XML file or one without projections."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a JSON text file: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    unknown = sorted(set(data) - {RTK_KEY, "volume", "detector"})
    if unknown or not isinstance(data.get(RTK_KEY), str):
        raise ValueError(f"{path}: an RTK set-up holds 'rtk_geometry' (the XML file's path), "
                         f"'volume' and 'detector'; got keys {sorted(data)}")
    grids = [_grid(path, data, name, dims) for name, dims in (("volume", 3), ("detector", 2))]
    xml_path = path.parent / data[RTK_KEY]
    if not xml_path.is_file():
        raise ValueError(f"{path}: the RTK geometry file {xml_path} does not exist")
    _, RTK = rtk_modules()
    reader = RTK.ThreeDCircularProjectionGeometryXMLFileReader.New()
    reader.SetFilename(str(xml_path))
    reader.GenerateOutputInformation()
    geometry = reader.GetOutputObject()
    if len(geometry.GetGantryAngles()) == 0:
        raise ValueError(f"{path}: {xml_path} holds no RTK projections (expected RTK's "
                         f"ThreeDCircularProjectionGeometry XML)")
    return (geometry, *grids)


def _grid(path, data, name, dims) -> ImageGrid:
    grid = data.get(name)
    if not isinstance(grid, dict) or set(grid) - set(_GRID_KEYS) or "size" not in grid:
        raise ValueError(f"{path}: {name!r} must be an object with 'size', 'spacing' and "
                         f"optionally 'origin', each a list of {dims} numbers")
    try:
        if len(grid["size"]) != dims:
            raise ValueError(f"'size' has {len(grid['size'])} numbers")
        if "origin" in grid:
            return ImageGrid(grid["size"], grid.get("spacing", [1.0] * dims), grid["origin"])
        return ImageGrid.centred(grid["size"], grid.get("spacing", [1.0] * dims))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {name!r} is not a {dims}D image grid: {error}") from None
