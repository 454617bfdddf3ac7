"""Check ASTRA geometry dicts and read array shapes and sizes off them (pure Python).

The dicts are those of ``astra.create_proj_geom`` / ``astra.create_vol_geom``; lengths are in
the volume's world units and angles in radians. Shapes follow
:mod:`diffblend_astra.conventions`.
"""

import operator

import numpy as np

KINDS_2D = ("parallel", "parallel_vec", "fanflat", "fanflat_vec")
KINDS_3D = ("parallel3d", "parallel3d_vec", "cone", "cone_vec")

CPU_PROJECTORS = {
    "parallel": ("linear", "line", "strip", "distance_driven"),
    "parallel_vec": ("linear", "line", "strip", "distance_driven"),
    "fanflat": ("line_fanflat", "strip_fanflat"),
    "fanflat_vec": ("line_fanflat",),
}
"""ASTRA's 2D CPU projector types per geometry type, default first. For every pair, ASTRA's
back-projection is the exact transpose of its forward projection (dot-product test ~1e-8)."""

_VECTOR_WIDTH = {"parallel_vec": 6, "fanflat_vec": 6, "parallel3d_vec": 12, "cone_vec": 12}
_POSITIVE = {
    "parallel": ("DetectorWidth",),
    "fanflat": ("DetectorWidth", "DistanceOriginSource", "DistanceOriginDetector"),
    "parallel3d": ("DetectorSpacingX", "DetectorSpacingY"),
    "cone": ("DetectorSpacingX", "DetectorSpacingY", "DistanceOriginSource",
             "DistanceOriginDetector"),
}


def check_geometry_pair(proj_geom, vol_geom) -> int:
    """Validate an ASTRA ``(proj_geom, vol_geom)`` pair; return its dimension, 2 or 3.

    Raises ``TypeError`` for arguments that are not dicts and ``ValueError`` for an unknown
    or malformed geometry, an empty angle list, or a 2D/3D mismatch between the two.
    """
    for name, geom, maker in (("proj_geom", proj_geom, "astra.create_proj_geom"),
                              ("vol_geom", vol_geom, "astra.create_vol_geom")):
        if not isinstance(geom, dict):
            raise TypeError(f"{name} must be an ASTRA geometry dict as made by {maker}(...), "
                            f"got {type(geom).__name__}")
    kind = proj_geom.get("type")
    if kind not in KINDS_2D + KINDS_3D:
        raise ValueError(f"unsupported ASTRA projection geometry type {kind!r}; supported: "
                         f"{', '.join(KINDS_2D + KINDS_3D)}")
    dim = 2 if kind in KINDS_2D else 3
    volume_shape(vol_geom)
    if ("GridSliceCount" in vol_geom) != (dim == 3):
        want = "a 2D vol_geom, astra.create_vol_geom(rows, cols)" if dim == 2 else \
            "a 3D vol_geom, astra.create_vol_geom(rows, cols, slices)"
        raise ValueError(f"mismatched geometry pair: the {dim}D projection geometry {kind!r} "
                         f"needs {want}; got vol_geom with keys {sorted(vol_geom)}")
    projection_shape(proj_geom)
    for key in _POSITIVE.get(kind, ()):
        _positive_number(proj_geom, key, kind)
    return dim


def volume_shape(vol_geom) -> tuple:
    """``(Y, X)`` of a 2D or ``(Z, Y, X)`` of a 3D ASTRA volume geometry."""
    keys = ("GridSliceCount",) if "GridSliceCount" in vol_geom else ()
    keys += ("GridRowCount", "GridColCount")
    shape = tuple(_count(vol_geom, key, "vol_geom") for key in keys)
    _window(vol_geom, shape)
    return shape


def projection_shape(proj_geom) -> tuple:
    """``(angles, det)`` for a 2D or ``(det_rows, angles, det_cols)`` for a 3D geometry."""
    kind = proj_geom["type"]
    views = _views(proj_geom, kind)
    if kind in KINDS_2D:
        return views, _count(proj_geom, "DetectorCount", kind)
    return (_count(proj_geom, "DetectorRowCount", kind), views,
            _count(proj_geom, "DetectorColCount", kind))


def voxel_size(vol_geom) -> tuple:
    """Voxel edge lengths in world units, in the order of :func:`volume_shape`."""
    shape = volume_shape(vol_geom)
    return tuple(float(hi - lo) / n for (lo, hi), n in zip(_window(vol_geom, shape), shape))


def pixel_centres(vol_geom) -> tuple:
    """World coordinates ``(y, x)`` of the pixel centres of a 2D volume geometry, as float64
    arrays of lengths ``Y`` and ``X``. ASTRA's row 0 lies at the top (largest ``y``)."""
    shape = volume_shape(vol_geom)
    (y_lo, y_hi), (x_lo, x_hi) = _window(vol_geom, shape)[-2:]
    ny, nx = shape[-2:]
    y = y_hi - (np.arange(ny) + 0.5) * (y_hi - y_lo) / ny
    x = x_lo + (np.arange(nx) + 0.5) * (x_hi - x_lo) / nx
    return y, x


def default_projector(kind: str) -> str:
    """The CPU projector used for a 2D geometry type when none is given."""
    return CPU_PROJECTORS[kind][0]


def _window(vol_geom, shape):
    """``(min, max)`` world extents per axis of :func:`volume_shape`, ASTRA's defaults if unset."""
    option = vol_geom.get("option", {})
    axes = "ZYX"[3 - len(shape):]
    extents = []
    for axis, n in zip(axes, shape):
        lo = float(option.get(f"WindowMin{axis}", -n / 2))
        hi = float(option.get(f"WindowMax{axis}", n / 2))
        if not np.isfinite([lo, hi]).all() or hi <= lo:
            raise ValueError(f"vol_geom window along {axis} must satisfy min < max, got "
                             f"WindowMin{axis}={lo}, WindowMax{axis}={hi}")
        extents.append((lo, hi))
    return extents


def _views(proj_geom, kind):
    if kind in _VECTOR_WIDTH:
        vectors = np.asarray(proj_geom.get("Vectors", ()), dtype=float)
        width = _VECTOR_WIDTH[kind]
        if vectors.ndim != 2 or vectors.shape[1] != width or len(vectors) == 0:
            raise ValueError(f"{kind!r} geometry needs 'Vectors' of shape (views, {width}) with "
                             f"at least one view, got shape {vectors.shape}")
        values = vectors
    else:
        values = np.asarray(proj_geom.get("ProjectionAngles", ()), dtype=float)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"{kind!r} geometry needs a non-empty 1D 'ProjectionAngles' array "
                             f"(radians), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{kind!r} geometry has NaN or Inf angles/vectors")
    return len(values)


def _count(geom, key, what):
    try:
        value = operator.index(geom[key])
    except KeyError:
        raise ValueError(f"{what} lacks {key!r}") from None
    except TypeError:
        raise ValueError(f"{what} {key!r} must be an int, got {geom[key]!r}") from None
    if value < 1:
        raise ValueError(f"{what} {key!r} must be positive, got {value}")
    return value


def _positive_number(geom, key, kind):
    value = geom.get(key)
    if not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{kind!r} geometry needs a positive {key!r}, got {value!r}")
