"""Filtered back-projection with the geometry an ASTRA operator carries.

* ``parallel``: ASTRA's CPU ``FBP`` algorithm with the operator's own projector type, slice
  by slice.
* ``parallel_vec``, ``fanflat``, ``fanflat_vec``: ASTRA's CPU ``FBP`` takes parallel beams
  only, so these use :mod:`.fbp_vec` (torch, all slices at once).
* ``cone``: ASTRA's ``FDK_CUDA`` for an ASTRA operator (needs a usable CUDA GPU).
* any cone beam projected by RTK (``as_operator`` of a ``cone`` or ``cone_vec`` geometry
  without CUDA, or an :class:`~diffblend_astra.operators.rtk.RtkConeOperator`): RTK's FDK on
  the CPU (:mod:`.fdk_rtk`).

Every view is weighted ``π / views`` as ASTRA's FBP does, so sparse-view and limited-angle
scans keep the intensity scale of a complete scan.
"""

import contextlib

import astra
import torch

from ..conventions import DTYPE
from ..operators.astra_geometry import default_projector
from ..operators.cuda import require_cuda
from ..operators.inputs import as_input
from ..operators.rtk import RtkConeOperator
from .fbp_vec import WINDOWS, fbp_vec
from .fdk_rtk import fdk_rtk

FILTERS = WINDOWS
"""Ramp filter windows, named as in ASTRA (``FilterType``); matched case-insensitively, so
``'Ram-Lak'`` works too."""


def fbp(operator, y, filter: str = "ram-lak") -> torch.Tensor:
    """Reconstruct ``y`` by filtered back-projection (FDK for cone beams).

    Args:
        operator: an operator built from ASTRA geometries, ``as_operator(proj_geom, vol_geom,
            ...)`` or ``as_operator(projector_id)``; its ``astra_geometry`` gives the geometry,
            its ``projector`` the projector type, and its shapes the layout (a 2D geometry
            with ``slices=Z`` reconstructs every slice of a ``(Z, Y, X)`` volume). Or an
            :class:`~diffblend_astra.operators.rtk.RtkConeOperator` (its RTK geometry).
        y: projections of ``operator.range_shape`` (a tensor or array, converted once to
            float32 as in :mod:`~diffblend_astra.operators.inputs`).
        filter: ramp filter window, one of :data:`FILTERS`, any letter case.

    Returns:
        A float32 volume of ``operator.domain_shape`` on ``y``'s device, in the operator's
        units (the inverse of the world length unit for line-integral data).
    """
    geometry = getattr(operator, "astra_geometry", None)
    if geometry is None and not isinstance(operator, RtkConeOperator):
        raise TypeError(f"fbp needs an operator built from ASTRA geometries, "
                        f"as_operator(proj_geom, vol_geom, ...), or an RtkConeOperator; "
                        f"{operator!r} carries no astra_geometry")
    name = filter.lower() if isinstance(filter, str) else filter
    if name not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS} (any letter case), got {filter!r}")
    y = as_input(y, operator.range_shape, "y", f"the range of {operator!r}")
    if isinstance(operator, RtkConeOperator):
        return fdk_rtk(operator, y.detach(), name).to(y.device)
    proj_geom, vol_geom = geometry
    kind = proj_geom["type"]
    if kind == "parallel":
        projector = getattr(operator, "projector", None) or default_projector(kind)
        volume = _parallel(proj_geom, vol_geom, y.detach().cpu().reshape(-1, *y.shape[-2:]),
                           projector, name)
    elif kind in ("parallel_vec", "fanflat", "fanflat_vec"):
        volume = fbp_vec(proj_geom, vol_geom, y.detach().cpu().reshape(-1, *y.shape[-2:]), name)
    elif kind == "cone":
        require_cuda("FDK reconstruction of a 'cone' geometry")
        volume = torch.from_numpy(_fdk(proj_geom, vol_geom, y.detach().cpu().numpy(), name))
    else:
        raise ValueError(f"fbp supports the 2D geometries 'parallel', 'parallel_vec', 'fanflat', "
                         f"'fanflat_vec' (CPU), 'cone' (FDK, CUDA) and cone beams projected by "
                         f"RTK (FDK, CPU), got {kind!r}")
    return volume.to(device=y.device, dtype=DTYPE).reshape(operator.domain_shape)


def _parallel(proj_geom, vol_geom, sinograms, projector, filter):
    """ASTRA's CPU FBP of each ``(angles, det)`` sinogram with ``projector``; ``(Z, Y, X)``."""
    with contextlib.ExitStack() as owned:
        projector = _own(owned, astra.projector,
                         astra.create_projector(projector, proj_geom, vol_geom))
        sino_id = _own(owned, astra.data2d, astra.data2d.create("-sino", proj_geom, 0))
        vol_id = _own(owned, astra.data2d, astra.data2d.create("-vol", vol_geom, 0))
        config = astra.astra_dict("FBP")
        config.update(ProjectorId=projector, ProjectionDataId=sino_id,
                      ReconstructionDataId=vol_id, option={"FilterType": filter})
        algorithm = _own(owned, astra.algorithm, astra.algorithm.create(config))
        slices = []
        for sinogram in sinograms.numpy():
            astra.data2d.store(sino_id, sinogram)
            astra.algorithm.run(algorithm)
            slices.append(torch.from_numpy(astra.data2d.get(vol_id)))
        return torch.stack(slices)


def _fdk(proj_geom, vol_geom, projections, filter):
    """ASTRA's FDK_CUDA of ``(det_rows, angles, det_cols)`` projections; ``(Z, Y, X)``."""
    with contextlib.ExitStack() as owned:
        sino_id = _own(owned, astra.data3d, astra.data3d.create("-sino", proj_geom, projections))
        vol_id = _own(owned, astra.data3d, astra.data3d.create("-vol", vol_geom, 0))
        config = astra.astra_dict("FDK_CUDA")
        config.update(ProjectionDataId=sino_id, ReconstructionDataId=vol_id,
                      option={"FilterType": filter})
        astra.algorithm.run(_own(owned, astra.algorithm, astra.algorithm.create(config)))
        return astra.data3d.get(vol_id)


def _own(stack, module, object_id):
    """Delete the ASTRA object ``object_id`` (of ``module``) when ``stack`` closes."""
    stack.callback(module.delete, object_id)
    return object_id
