"""Cone-beam geometry for RTK: image grids, ASTRA ``cone`` / ``cone_vec`` dicts as an RTK
``ThreeDCircularProjectionGeometry``, and the axis orders between the two — written once.

Frames. ASTRA's world has the rotation axis along ``z``; RTK's fixed frame (IEC 61217) has it
along ``y``, with the source of gantry angle 0 on ``+z``. One rotation maps ASTRA's world onto
RTK's::

    (x, y, z) in ASTRA  ↦  (x, z, −y) in RTK                       (:func:`rtk_from_astra`)

so an ASTRA ``cone`` view at angle ``θ`` — source at
``(sin θ, −cos θ, 0) · DistanceOriginSource`` — is RTK's gantry angle ``θ`` (source at
``(sin θ, 0, cos θ) · SourceToIsocenterDistance``), with
``SourceToDetectorDistance = DistanceOriginSource + DistanceOriginDetector``. Lengths are the
volume's world units in both.

Detector. ASTRA's pixel (row ``r``, column ``c``) of a ``cone_vec`` view lies at
``d + (c − cols/2 + ½) u + (r − rows/2 + ½) v`` (``d`` the detector centre, ``u``, ``v`` the
pixel vectors). In RTK the view is ``AddProjection(source, d, u/|u|, v/|v|)``: ``d`` is the
detector's physical point ``(0, 0)``, so the projection image has spacing ``(|u|, |v|)``
and origin ``(−(cols − 1)/2 · |u|, −(rows − 1)/2 · |v|)``. RTK takes one pixel size for all
views and a rectangular detector: ``|u|``, ``|v|`` constant and ``u ⊥ v``.

Arrays. ITK images in NumPy order are ``(z, y, x)`` of RTK's frame:

* volume: the package's ``(Z, Y, X)`` array ``a`` (:mod:`~diffblend_astra.conventions`) and
  RTK's ``r`` hold the same voxels with ``r = a.transpose(1, 0, 2)[::-1]`` — ``Z`` runs along
  RTK's ``+y`` (the rotation axis), ``Y`` along RTK's ``−z``, ``X`` along RTK's ``+x``
  (:func:`volume_to_rtk`, :func:`volume_from_rtk`);
* projections: the package's ``(det_rows, angles, det_cols)`` and RTK's stack
  ``(views, v, u)`` differ by ``transpose(1, 0, 2)`` (:func:`projections_to_rtk`).

RTK (``itk-rtk``, the optional extra ``rtk``) is imported on first use (:func:`rtk_modules`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .astra_geometry import check_geometry_pair, projection_shape, volume_shape, volume_window

CONE_KINDS = ("cone", "cone_vec")
"""ASTRA geometry types that RTK projects (circular or not, flat detector)."""

_RTK_FROM_ASTRA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def rtk_modules():
    """``(itk, itk.RTK)``, imported on first use (the first RTK filter of a process takes
    seconds to load). Raises ``ImportError`` naming the extra when RTK is missing."""
    try:
        import itk
        from itk import RTK
    except (ImportError, AttributeError):
        raise ImportError("cone-beam projection without CUDA needs RTK, which is not installed: "
                          "pip install 'diffblend_astra[rtk]' (the itk-rtk package)") from None
    return itk, RTK


@dataclass(frozen=True)
class ImageGrid:
    """The grid of an ITK image: ``size`` (pixels), ``spacing`` and ``origin`` (world units,
    the centre of the first pixel) per axis, in ITK's order ``(x, y[, z])``; axes along RTK's
    frame (identity direction). A detector grid is 2D ``(u, v)``, a volume grid 3D."""

    size: tuple
    spacing: tuple
    origin: tuple

    def __post_init__(self):
        size = tuple(int(n) for n in self.size)
        spacing, origin = tuple(map(float, self.spacing)), tuple(map(float, self.origin))
        if not 2 <= len(size) <= 3 or len(spacing) != len(size) or len(origin) != len(size) \
                or min(size) < 1 or not all(s > 0 and math.isfinite(s) for s in spacing) \
                or not all(map(math.isfinite, origin)):
            raise ValueError(f"an image grid needs 2 or 3 positive sizes, as many positive finite "
                             f"spacings and finite origins, got size={self.size}, "
                             f"spacing={self.spacing}, origin={self.origin}")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)

    @classmethod
    def centred(cls, size, spacing=1.0) -> "ImageGrid":
        """The grid of ``size`` pixels of ``spacing`` (one number or one per axis) centred on
        the world origin (RTK's isocentre, or the detector's point ``(0, 0)``)."""
        size = tuple(int(n) for n in size)
        spacing = (float(spacing),) * len(size) if np.isscalar(spacing) else tuple(spacing)
        return cls(size, spacing, tuple(-(n - 1) / 2 * s for n, s in zip(size, spacing)))

    def set_on(self, image, slices: int | None = None):
        """Give the ITK ``image`` this grid; a 2D grid with ``slices`` is a projection stack,
        its third axis the view index (spacing 1, origin 0). Returns ``image``."""
        extra = () if slices is None else (1.0,)
        image.SetSpacing(self.spacing + extra)
        image.SetOrigin(self.origin + (() if slices is None else (0.0,)))
        return image


def rtk_from_astra(points) -> np.ndarray:
    """Points or vectors ``(..., 3)`` of ASTRA's world in RTK's frame (see module)."""
    return np.asarray(points, dtype=np.float64) @ _RTK_FROM_ASTRA.T


def volume_to_rtk(volume: np.ndarray) -> np.ndarray:
    """The package's ``(Z, Y, X)`` volume as RTK's ``(z, y, x)`` array (a contiguous copy)."""
    return np.ascontiguousarray(volume.transpose(1, 0, 2)[::-1])


def volume_from_rtk(array: np.ndarray) -> np.ndarray:
    """RTK's ``(z, y, x)`` volume array as the package's ``(Z, Y, X)`` (a contiguous copy)."""
    return np.ascontiguousarray(array[::-1].transpose(1, 0, 2))


def projections_to_rtk(projections: np.ndarray) -> np.ndarray:
    """``(det_rows, angles, det_cols)`` ↔ RTK's ``(views, v, u)`` stack (its own inverse;
    a contiguous copy)."""
    return np.ascontiguousarray(projections.transpose(1, 0, 2))


def package_shapes(volume: ImageGrid, detector: ImageGrid, views: int) -> tuple[tuple, tuple]:
    """``(domain_shape, range_shape)`` of the package's arrays for RTK grids: ``(Z, Y, X) =
    (ny, nz, nx)`` of the volume and ``(det_rows, angles, det_cols) = (nv, views, nu)``."""
    nx, ny, nz = volume.size
    nu, nv = detector.size
    return (ny, nz, nx), (nv, views, nu)


def from_astra(proj_geom: dict, vol_geom: dict):
    """``(geometry, volume_grid, detector_grid)`` in RTK's terms for an ASTRA ``cone`` or
    ``cone_vec`` pair with a 3D vol_geom (see module for the conventions).

    Raises ``ValueError`` for another geometry type, a detector whose pixel size changes
    between views or whose ``u`` and ``v`` are not perpendicular, or a view RTK cannot
    represent.
    """
    check_geometry_pair(proj_geom, vol_geom)
    kind = proj_geom["type"]
    if kind not in CONE_KINDS:
        raise ValueError(f"RTK projects the ASTRA cone-beam types {CONE_KINDS}, got {kind!r}")
    if kind == "cone":
        from astra import geom_2vec      # pure Python: no ASTRA 3D call

        proj_geom = geom_2vec(proj_geom)
    vectors = np.asarray(proj_geom["Vectors"], dtype=np.float64)
    rows, _, cols = projection_shape(proj_geom)
    du, dv = _pixel_size(vectors[:, 6:9], "u"), _pixel_size(vectors[:, 9:12], "v")
    cosines = np.abs(np.sum(vectors[:, 6:9] * vectors[:, 9:12], axis=1)) / (du * dv)
    if np.max(cosines) > 1e-6:
        raise ValueError(f"RTK needs a rectangular detector: the cone_vec pixel vectors u and v "
                         f"of view {int(np.argmax(cosines))} are not perpendicular "
                         f"(cosine {np.max(cosines):.2g})")
    _, RTK = rtk_modules()
    geometry = RTK.ThreeDCircularProjectionGeometry.New()
    source, centre = rtk_from_astra(vectors[:, 0:3]), rtk_from_astra(vectors[:, 3:6])
    u, v = rtk_from_astra(vectors[:, 6:9]) / du, rtk_from_astra(vectors[:, 9:12]) / dv
    for view in range(len(vectors)):
        if not geometry.AddProjection(*(tuple(map(float, part[view]))
                                        for part in (source, centre, u, v))):
            raise ValueError(f"RTK cannot represent view {view} of this {kind!r} geometry "
                             f"(source, detector centre and pixel vectors "
                             f"{vectors[view].tolist()})")
    detector = ImageGrid.centred((cols, rows), (du, dv))
    return geometry, _volume_grid(vol_geom), detector


def _volume_grid(vol_geom) -> ImageGrid:
    """RTK's grid of a 3D ASTRA vol_geom: axes ``(x, y, z)`` of RTK = ASTRA's ``(X, Z, −Y)``."""
    nz, ny, nx = volume_shape(vol_geom)
    (z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi) = volume_window(vol_geom)
    dz, dy, dx = (z_hi - z_lo) / nz, (y_hi - y_lo) / ny, (x_hi - x_lo) / nx
    return ImageGrid((nx, nz, ny), (dx, dz, dy), (x_lo + dx / 2, z_lo + dz / 2, -y_hi + dy / 2))


def _pixel_size(vectors, name) -> float:
    lengths = np.linalg.norm(vectors, axis=1)
    if not np.allclose(lengths, lengths[0], rtol=1e-6):
        raise ValueError(f"RTK takes one detector pixel size for all views; the cone_vec pixel "
                         f"vector {name} has lengths from {lengths.min():g} to {lengths.max():g}")
    return float(lengths[0])
