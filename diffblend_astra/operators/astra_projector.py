"""Operators from ASTRA objects a script already holds: a projector id or an ``astra.OpTomo``.

ASTRA does not report a projector's type, so a 2D CPU projector is recognised by what it
computes: its forward projection of a random image is compared with that of every CPU
projector type of its geometry (:data:`~.astra_geometry.CPU_PROJECTORS`, default options).
The match gives ``as_operator(proj_geom, vol_geom, projector=type)`` — the same numbers as
the script's projector, and an operator that does not depend on the script keeping its
projector alive. CUDA projectors (2D ``cuda``, 3D ``cuda3d``) need a usable GPU (checked
first, so a CPU-only machine gets an error, not a crash) and are served by
:func:`~.astra.astra_operator` with their geometry.
"""

import astra
import torch
from astra.experimental import direct_FP2D

from .astra import astra_operator
from .astra_geometry import CPU_PROJECTORS, projection_shape, volume_shape
from .cuda import require_cuda


def projector_operator(projector_id, *, slices=None, workers=2):
    """A :class:`~.base.LinearOperator` for the ASTRA projector ``projector_id`` (see module):
    ``(Y, X) → (angles, det)``, or with ``slices=Z`` a stack ``(Z, Y, X) → (Z, angles, det)``;
    3D projectors map ``(Z, Y, X) → (det_rows, angles, det_cols)``."""
    geometry = _geometry(astra.projector, projector_id)
    if geometry is None:
        geometry = _geometry(astra.projector3d, projector_id)
        if geometry is None:
            raise ValueError(f"{projector_id} is not the id of an existing ASTRA projector "
                             f"(astra.create_projector)")
        require_cuda(f"the 3D ASTRA projector {projector_id} ({geometry[0]['type']!r})")
        return astra_operator(*geometry, slices=slices)
    if astra.projector.is_cuda(projector_id):
        require_cuda(f"the CUDA projector {projector_id} ({geometry[0]['type']!r})")
        return astra_operator(*geometry, slices=slices, workers=workers)
    return astra_operator(*geometry, projector=_projector_type(projector_id, *geometry),
                          slices=slices, workers=workers)


def _geometry(module, projector_id):
    """``(proj_geom, vol_geom)`` of a projector of ``module``, or ``None`` if there is none."""
    try:
        return module.projection_geometry(projector_id), module.volume_geometry(projector_id)
    except astra.log.AstraError:
        return None


def _projector_type(projector_id, proj_geom, vol_geom) -> str:
    """The CPU projector type whose forward projection equals that of ``projector_id``."""
    kind = proj_geom["type"]
    image = torch.rand(volume_shape(vol_geom), generator=torch.Generator().manual_seed(0))
    theirs = _project(projector_id, image, proj_geom)
    for candidate in CPU_PROJECTORS.get(kind, ()):
        own = astra.create_projector(candidate, proj_geom, vol_geom)
        try:
            if torch.allclose(_project(own, image, proj_geom), theirs, rtol=1e-5, atol=1e-6):
                return candidate
        finally:
            astra.projector.delete(own)
    raise ValueError(f"ASTRA projector {projector_id} computes like none of the CPU projectors "
                     f"{CPU_PROJECTORS.get(kind, ())} for {kind!r} with default options; build "
                     f"the operator from its geometry instead: as_operator(proj_geom, vol_geom, "
                     f"projector=...)")


def _project(projector_id, image, proj_geom):
    out = torch.empty(projection_shape(proj_geom))
    direct_FP2D(projector_id, image, out)
    return out
