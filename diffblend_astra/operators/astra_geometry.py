"""Check ASTRA geometry dicts and read array shapes and sizes off them (pure Python).

The dicts are those of ``astra.create_proj_geom`` / ``astra.create_vol_geom``; lengths are in
the volume's world units and angles in radians. Shapes follow
:mod:`diffblend_astra.conventions`.
"""

import operator
import warnings

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
    "fanflat": ("DetectorWidth", "DistanceOriginSource"),
    "parallel3d": ("DetectorSpacingX", "DetectorSpacingY"),
    "cone": ("DetectorSpacingX", "DetectorSpacingY", "DistanceOriginSource"),
}
_NON_NEGATIVE = {"fanflat": ("DistanceOriginDetector",), "cone": ("DistanceOriginDetector",)}
"""A detector through the rotation axis (``DistanceOriginDetector = 0``) is valid in ASTRA,
as in its sample ``s005_3d_geometry.py``."""

DEGREES_THRESHOLD = 4 * np.pi
"""Projection angles beyond two full turns, ``|θ| > 4π``, look like degrees: ASTRA expects
radians, so :func:`warn_if_degrees` warns and names the fix, ``np.deg2rad``."""

_VECTOR_PARTS = {
    "parallel_vec": (("ray direction", 0, 2), ("detector pixel vector u", 4, 6)),
    "fanflat_vec": (("detector pixel vector u", 4, 6),),
    "parallel3d_vec": (("ray direction", 0, 3), ("detector pixel vector u", 6, 9),
                       ("detector pixel vector v", 9, 12)),
    "cone_vec": (("detector pixel vector u", 6, 9), ("detector pixel vector v", 9, 12)),
}
"""Columns of each view's vector that must not be zero-length, per ``_vec`` type."""


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
    for key in _NON_NEGATIVE.get(kind, ()):
        _positive_number(proj_geom, key, kind, zero=True)
    if kind in _VECTOR_WIDTH:
        _check_vectors(np.asarray(proj_geom["Vectors"], dtype=float), kind)
    return dim


def warn_if_degrees(proj_geom, stacklevel=2) -> None:
    """Warn (``UserWarning``) when the ``ProjectionAngles`` of a checked geometry look like
    degrees (see :data:`DEGREES_THRESHOLD`); ``stacklevel`` as in ``warnings.warn``."""
    if "ProjectionAngles" not in proj_geom:
        return
    largest = float(np.max(np.abs(np.asarray(proj_geom["ProjectionAngles"], dtype=float))))
    if largest > DEGREES_THRESHOLD:
        warnings.warn(f"{proj_geom['type']!r} ProjectionAngles reach {largest:g}, beyond two "
                      f"full turns (4π radians): they look like degrees, but ASTRA expects "
                      f"radians; convert them with np.deg2rad(angles)", UserWarning,
                      stacklevel=stacklevel + 1)


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


def volume_window(vol_geom) -> tuple:
    """``(min, max)`` world extents per axis, in the order of :func:`volume_shape`."""
    return tuple(_window(vol_geom, volume_shape(vol_geom)))


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


def _positive_number(geom, key, kind, zero=False):
    value = geom.get(key)
    if not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value < 0 \
            or (value == 0 and not zero):
        sign = "non-negative" if zero else "positive"
        raise ValueError(f"{kind!r} geometry needs a {sign} {key!r}, got {value!r}")


def _check_vectors(vectors, kind):
    """Raise ``ValueError`` for a view whose ray, detector vectors or source-to-detector line
    is zero-length, or whose detector is edge-on to the rays (a degenerate ``_vec`` row)."""
    dim = 3 if vectors.shape[1] == 12 else 2
    parts = {name: vectors[:, lo:hi] for name, lo, hi in _VECTOR_PARTS[kind]}
    if kind in ("fanflat_vec", "cone_vec"):      # source, detector centre: columns 0 and dim
        parts["source-to-detector line"] = vectors[:, dim:2 * dim] - vectors[:, :dim]
    scale = max(1.0, float(np.max(np.abs(vectors))))
    for name, part in parts.items():
        _nonzero(np.linalg.norm(part, axis=1), scale, kind, name)
    if dim == 2:
        ray = parts.get("ray direction", parts.get("source-to-detector line"))
        u = parts["detector pixel vector u"]
        _nonzero(np.abs(ray[:, 0] * u[:, 1] - ray[:, 1] * u[:, 0]), scale**2, kind,
                 "detector (u parallel to the rays)")
    else:
        cross = np.cross(parts["detector pixel vector u"], parts["detector pixel vector v"])
        _nonzero(np.linalg.norm(cross, axis=1), scale**2, kind, "detector (u parallel to v)")


def _nonzero(lengths, scale, kind, name):
    bad = np.flatnonzero(lengths <= 1e-9 * scale)
    if len(bad):
        raise ValueError(f"{kind!r} geometry has a degenerate {name} in {len(bad)} of "
                         f"{len(lengths)} views (first: row {bad[0]} of 'Vectors'); each view "
                         f"needs non-zero, non-parallel ray and detector vectors")
