"""ASTRA geometry dicts for common CT set-ups: parallel, fan and cone beams; sparse-view and
limited-angle scans.

Every factory returns ``(proj_geom, vol_geom)`` — the argument order of
:func:`~diffblend_astra.operators.as_operator`. Lengths are in world units (with the default
``pixel_size=1``, one unit is one pixel); angles are radians. Volumes are centred on the
rotation axis; views are equally spaced, ``start + arc · k / views`` for ``k < views``.
Defaults fit a 64² or 256² slice: the detector has about 1.5× as many pixels as the image is
wide, enough to see the whole field of view from every angle.
"""

import math

import numpy as np

BEAMS = ("parallel", "fan", "cone")
FULL_ARC = {"parallel": math.pi, "fan": 2 * math.pi, "cone": 2 * math.pi}
"""Arc of a complete scan per beam (radians): 180° for parallel, 360° for fan and cone."""


def parallel_beam(*, shape=64, views=180, arc=math.pi, start=0.0, det_count=None,
                  det_spacing=None, pixel_size=1.0):
    """2D parallel-beam geometry (ASTRA type ``parallel``).

    Args:
        shape: image size ``N`` (an ``N × N`` slice) or ``(Y, X)``, in pixels.
        views: number of projection angles.
        arc: angular range covered by the views, radians.
        start: first angle, radians.
        det_count: detector pixels; default ``ceil(1.5 · max(Y, X))``.
        det_spacing: detector pixel width, world units; default ``pixel_size``.
        pixel_size: edge of a square image pixel, world units.
    """
    ny, nx = _image_shape(shape, 2)
    pixel_size = _positive(pixel_size, "pixel_size")
    det_count = _wide_detector(det_count, max(ny, nx), "det_count")
    det_spacing = _positive(pixel_size if det_spacing is None else det_spacing, "det_spacing")
    proj_geom = {"type": "parallel", "DetectorWidth": det_spacing, "DetectorCount": det_count,
                 "ProjectionAngles": _angles(views, arc, start)}
    return proj_geom, _volume(ny, nx, pixel_size=pixel_size)


def fan_beam(*, shape=64, views=360, arc=2 * math.pi, start=0.0, det_count=None,
             det_spacing=None, source_distance=None, detector_distance=None, pixel_size=1.0):
    """2D fan-beam geometry with a flat detector (ASTRA type ``fanflat``).

    Args:
        shape: image size ``N`` or ``(Y, X)``, in pixels.
        views, arc, start: as in :func:`parallel_beam` (default: 360 views over 360°).
        det_count: detector pixels; default ``ceil(1.5 · W)`` with ``W = max(Y, X)``.
        det_spacing: detector pixel width, world units; default ``M · pixel_size`` with the
            magnification ``M = (source_distance + detector_distance) / source_distance``,
            so one detector pixel sees about one image pixel at the rotation axis.
        source_distance: source to rotation axis, world units; default ``3 · W · pixel_size``.
        detector_distance: rotation axis to detector, world units; default ``W · pixel_size``.
        pixel_size: edge of a square image pixel, world units.
    """
    ny, nx = _image_shape(shape, 2)
    width = max(ny, nx)
    pixel_size = _positive(pixel_size, "pixel_size")
    source, detector, det_spacing = _divergent(width, pixel_size, source_distance,
                                               detector_distance, det_spacing)
    proj_geom = {"type": "fanflat", "DetectorWidth": det_spacing,
                 "DetectorCount": _wide_detector(det_count, width, "det_count"),
                 "ProjectionAngles": _angles(views, arc, start),
                 "DistanceOriginSource": source, "DistanceOriginDetector": detector}
    return proj_geom, _volume(ny, nx, pixel_size=pixel_size)


def cone_beam(*, shape=64, views=360, arc=2 * math.pi, start=0.0, det_rows=None, det_cols=None,
              det_spacing=None, source_distance=None, detector_distance=None, pixel_size=1.0):
    """3D cone-beam geometry with a flat detector and a circular orbit (ASTRA type ``cone``).

    Args:
        shape: volume size ``N`` (an ``N³`` volume) or ``(Z, Y, X)``, in voxels.
        views, arc, start: as in :func:`parallel_beam` (default: 360 views over 360°).
        det_rows: detector rows (along Z); default ``ceil(1.5 · Z)``.
        det_cols: detector columns; default ``ceil(1.5 · max(Y, X))``.
        det_spacing: square detector pixel edge, world units; default as in :func:`fan_beam`.
        source_distance, detector_distance: as in :func:`fan_beam`, with ``W = max(Y, X)``.
        pixel_size: edge of a cubic voxel, world units.
    """
    nz, ny, nx = _image_shape(shape, 3)
    width = max(ny, nx)
    pixel_size = _positive(pixel_size, "pixel_size")
    source, detector, det_spacing = _divergent(width, pixel_size, source_distance,
                                               detector_distance, det_spacing)
    proj_geom = {"type": "cone", "DetectorSpacingX": det_spacing, "DetectorSpacingY": det_spacing,
                 "DetectorRowCount": _wide_detector(det_rows, nz, "det_rows"),
                 "DetectorColCount": _wide_detector(det_cols, width, "det_cols"),
                 "ProjectionAngles": _angles(views, arc, start),
                 "DistanceOriginSource": source, "DistanceOriginDetector": detector}
    return proj_geom, _volume(ny, nx, nz, pixel_size=pixel_size)


def sparse_view(*, beam="parallel", views=8, **kwargs):
    """A complete scan with few views: ``views`` angles over 180° (parallel) or 360° (fan,
    cone). Other keyword arguments go to the beam's factory (e.g. ``shape``)."""
    return _factory(beam)(views=views, arc=FULL_ARC[beam], **kwargs)


def limited_angle(*, beam="parallel", arc=math.pi / 2, views=None, **kwargs):
    """A scan restricted to ``arc`` radians (default 90°) with ``views`` angles, by default
    one per degree. Other keyword arguments go to the beam's factory."""
    arc = _positive(arc, "arc")
    views = max(1, round(math.degrees(arc))) if views is None else views
    return _factory(beam)(views=views, arc=arc, **kwargs)


_FACTORIES = {"parallel": parallel_beam, "fan": fan_beam, "cone": cone_beam}


def _factory(beam):
    if beam not in _FACTORIES:
        raise ValueError(f"beam must be one of {BEAMS}, got {beam!r}")
    return _FACTORIES[beam]


def _angles(views, arc, start):
    views = _count(views, "views")
    arc = _positive(arc, "arc")
    if not math.isfinite(start):
        raise ValueError(f"start must be a finite angle in radians, got {start!r}")
    return start + arc * np.arange(views, dtype=np.float64) / views


def _divergent(width, pixel_size, source, detector, det_spacing):
    """Source and detector distances and detector pixel width of a fan or cone beam."""
    source = _positive(3 * width * pixel_size if source is None else source, "source_distance")
    detector = _positive(width * pixel_size if detector is None else detector, "detector_distance")
    magnification = (source + detector) / source
    det_spacing = _positive(magnification * pixel_size if det_spacing is None else det_spacing,
                            "det_spacing")
    return source, detector, det_spacing


def _volume(ny, nx, nz=None, *, pixel_size):
    """ASTRA volume geometry of ``(Y, X)`` or ``(Z, Y, X)`` voxels centred on the origin."""
    geom = {"GridRowCount": ny, "GridColCount": nx, "option": {}}
    sizes = {"X": nx, "Y": ny} if nz is None else {"X": nx, "Y": ny, "Z": nz}
    if nz is not None:
        geom["GridSliceCount"] = nz
    for axis, n in sizes.items():
        geom["option"][f"WindowMin{axis}"] = -n * pixel_size / 2
        geom["option"][f"WindowMax{axis}"] = n * pixel_size / 2
    return geom


def _image_shape(shape, ndim):
    shape = (shape,) * ndim if isinstance(shape, int) else tuple(shape)
    if len(shape) != ndim:
        raise ValueError(f"shape must be an int or a tuple of {ndim} ints, got {shape!r}")
    return tuple(_count(n, "shape") for n in shape)


def _wide_detector(count, width, name):
    return math.ceil(1.5 * width) if count is None else _count(count, name)


def _count(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _positive(value, name):
    if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)
