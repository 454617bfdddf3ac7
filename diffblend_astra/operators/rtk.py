"""RTK adapter: cone-beam projection on the CPU with RTK's Joseph projectors.

:class:`RtkConeOperator` maps a ``(Z, Y, X)`` volume to ``(det_rows, angles, det_cols)``
projections (:mod:`diffblend_astra.conventions`) for any RTK
``ThreeDCircularProjectionGeometry`` with a flat detector; :func:`rtk_cone_operator` builds it
from ASTRA ``cone`` / ``cone_vec`` dicts, which is what ``as_operator`` does for them when no
CUDA GPU is usable. Frames and axis orders: :mod:`.rtk_geometry`.

RTK's ``JosephForwardProjectionImageFilter`` and ``JosephBackProjectionImageFilter`` are an
exact transpose pair (dot-product test ~1e-8), both multi-threaded by ITK (all cores by
default, ``threads=`` to limit them). Each call builds its filter around views of the input
and a zero output image and copies the result out, so nothing is kept between calls.
CUDA tensors are projected on the CPU and returned on their device.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import LinearOperator
from .rtk_geometry import (ImageGrid, from_astra, package_shapes, projections_to_rtk,
                           rtk_modules, volume_from_rtk, volume_to_rtk)


def rtk_cone_operator(proj_geom: dict, vol_geom: dict, *, threads: int | None = None):
    """:class:`RtkConeOperator` of an ASTRA ``cone`` or ``cone_vec`` geometry pair (CPU);
    the same ``(Z, Y, X) → (det_rows, angles, det_cols)`` map as ASTRA's ``cuda3d``
    projector of that pair, up to the two discretisations. ``astra_geometry`` is kept."""
    geometry, volume, detector = from_astra(proj_geom, vol_geom)
    op = RtkConeOperator(geometry, volume, detector, threads=threads)
    op.astra_geometry = (proj_geom, vol_geom)
    return op


class RtkConeOperator(LinearOperator):
    """RTK's Joseph forward projector and its transpose for one geometry and two grids.

    Args:
        geometry: an ``itk.RTK.ThreeDCircularProjectionGeometry`` (flat detector: its
            ``RadiusCylindricalDetector`` must be 0), e.g. read from RTK's XML file.
        volume: the volume's :class:`~.rtk_geometry.ImageGrid`, 3D in RTK's ``(x, y, z)``;
            the operator's domain is ``(Z, Y, X) = (ny, nz, nx)``.
        detector: the detector's 2D :class:`~.rtk_geometry.ImageGrid` ``(u, v)``; the range
            is ``(det_rows, angles, det_cols) = (nv, views, nu)``.
        threads: ITK threads per projection (``None``: ITK's global default, all cores or
            ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS``).

    Attributes ``rtk_geometry``, ``volume_grid``, ``detector_grid`` hold what it was built
    from (FDK reads them: :func:`diffblend_astra.baselines.fbp`).
    """

    def __init__(self, geometry, volume: ImageGrid, detector: ImageGrid, *,
                 threads: int | None = None):
        if len(volume.size) != 3 or len(detector.size) != 2:
            raise ValueError(f"RtkConeOperator needs a 3D volume grid and a 2D detector grid, "
                             f"got {len(volume.size)}D and {len(detector.size)}D")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be None or a positive int, got {threads!r}")
        views = len(geometry.GetGantryAngles())
        if views == 0:
            raise ValueError("the RTK geometry has no projections (AddProjection)")
        if geometry.GetRadiusCylindricalDetector() != 0:
            raise ValueError("RtkConeOperator takes flat detectors only; the RTK geometry has "
                             f"RadiusCylindricalDetector={geometry.GetRadiusCylindricalDetector()}")
        super().__init__(*package_shapes(volume, detector, views))
        self.rtk_geometry, self.volume_grid, self.detector_grid = geometry, volume, detector
        self.threads = threads

    def _forward(self, x):
        rows, views, cols = self.range_shape
        projections = np.zeros((views, rows, cols), np.float32)
        out = self._run("JosephForwardProjectionImageFilter",
                        self.projections_image(projections),
                        self.volume_image(volume_to_rtk(x.cpu().numpy())))
        return torch.from_numpy(projections_to_rtk(out)).to(x.device)

    def _adjoint(self, y):
        nx, ny, nz = self.volume_grid.size
        out = self._run("JosephBackProjectionImageFilter",
                        self.volume_image(np.zeros((nz, ny, nx), np.float32)),
                        self.projections_image(projections_to_rtk(y.cpu().numpy())))
        return torch.from_numpy(volume_from_rtk(out)).to(y.device)

    def volume_image(self, array: np.ndarray):
        """An ITK view of RTK's ``(z, y, x)`` float32 ``array`` (shared memory; the image
        keeps a reference to it) on the volume grid."""
        itk, _ = rtk_modules()
        return self.volume_grid.set_on(itk.image_view_from_array(array))

    def projections_image(self, array: np.ndarray):
        """An ITK view of RTK's ``(views, v, u)`` float32 ``array`` on the detector grid."""
        itk, _ = rtk_modules()
        return self.detector_grid.set_on(itk.image_view_from_array(array), slices=len(array))

    def configure(self, filter_):
        """Give an RTK filter this operator's geometry and thread count; returns it."""
        filter_.SetGeometry(self.rtk_geometry)
        if self.threads is not None:
            filter_.SetNumberOfWorkUnits(self.threads)
            filter_.GetMultiThreader().SetMaximumNumberOfThreads(self.threads)
        return filter_

    def _run(self, name, accumulate, source) -> np.ndarray:
        """RTK's ``name`` projector: ``accumulate`` (zeros) plus the projection of ``source``,
        as a new float32 array in RTK's order."""
        itk, RTK = rtk_modules()
        image = itk.Image[itk.F, 3]
        projector = self.configure(getattr(RTK, name)[image, image].New())
        projector.SetInput(0, accumulate)
        projector.SetInput(1, source)
        projector.Update()
        return itk.array_from_image(projector.GetOutput())

    def __repr__(self):
        return (f"RtkConeOperator(views={self.range_shape[1]}, domain_shape={self.domain_shape}, "
                f"range_shape={self.range_shape})")
