"""Filtered back-projection with the geometry an ASTRA operator carries.

* ``parallel``: ASTRA's CPU ``FBP`` algorithm, slice by slice.
* ``fanflat``: ASTRA's CPU ``FBP`` handles parallel beams only, so fan beams use the
  weighted FBP for flat detectors (Kak & Slaney, *Principles of Computerized Tomographic
  Imaging*, Sec. 3.4.2): cosine pre-weighting, ramp filter on the detector scaled to the
  rotation axis, back-projection with the ``1/U²`` distance weight — here in torch, all slices
  at once.
* ``cone``: ASTRA's ``FDK_CUDA`` (needs a usable CUDA GPU).

Every view is weighted ``π / views`` as ASTRA's FBP does, so sparse-view and limited-angle
scans keep the intensity scale of a complete scan.
"""

import contextlib
import math

import astra
import numpy as np
import torch

from ..conventions import DTYPE
from ..operators.astra_geometry import default_projector, pixel_centres
from ..operators.base import check_tensor
from ..operators.cuda import require_cuda

FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
"""Ramp filter windows, named as in ASTRA."""

_BATCH_ELEMENTS = 1 << 22
"""Views back-projected at once in :func:`_fan`: as many as keep ``(Z, views, Y, X)`` at
about this many float64 elements (32 MiB)."""


def fbp(operator, y: torch.Tensor, filter: str = "ram-lak") -> torch.Tensor:
    """Reconstruct ``y`` by filtered back-projection (FDK for cone beams).

    Args:
        operator: an operator built from ASTRA geometries, ``as_operator(proj_geom, vol_geom,
            ...)``; its ``astra_geometry`` gives the geometry and its shapes the layout (a 2D
            geometry with ``slices=Z`` reconstructs every slice of a ``(Z, Y, X)`` volume).
        y: float32 projections of ``operator.range_shape`` (any device).
        filter: ramp filter window, one of :data:`FILTERS`.

    Returns:
        A float32 volume of ``operator.domain_shape`` on ``y``'s device, in the operator's
        units (the inverse of the world length unit for line-integral data).
    """
    geometry = getattr(operator, "astra_geometry", None)
    if geometry is None:
        raise TypeError(f"fbp needs an operator built from ASTRA geometries, "
                        f"as_operator(proj_geom, vol_geom, ...); {operator!r} carries no "
                        f"astra_geometry")
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    check_tensor(y, tuple(operator.range_shape), "y", f"the range of {operator!r}")
    proj_geom, vol_geom = geometry
    kind = proj_geom["type"]
    if kind in ("parallel", "fanflat"):
        sinograms = y.detach().cpu().reshape(-1, *y.shape[-2:])
        volume = _FBP_2D[kind](proj_geom, vol_geom, sinograms, filter)
    elif kind == "cone":
        require_cuda("FDK reconstruction of a 'cone' geometry")
        volume = torch.from_numpy(_fdk(proj_geom, vol_geom, y.detach().cpu().numpy(), filter))
    else:
        raise ValueError(f"fbp supports 'parallel' and 'fanflat' (CPU) and 'cone' (FDK, CUDA) "
                         f"geometries, got {kind!r}")
    return volume.to(device=y.device, dtype=DTYPE).reshape(operator.domain_shape)


def _parallel(proj_geom, vol_geom, sinograms, filter):
    """ASTRA's CPU FBP of each ``(angles, det)`` sinogram; returns ``(Z, Y, X)``."""
    with contextlib.ExitStack() as owned:
        projector = _own(owned, astra.projector,
                         astra.create_projector(default_projector("parallel"), proj_geom, vol_geom))
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


def _fan(proj_geom, vol_geom, sinograms, filter):
    """Weighted FBP of ``(Z, angles, det)`` flat-detector fan-beam sinograms; ``(Z, Y, X)``."""
    sinograms = sinograms.double()
    source = proj_geom["DistanceOriginSource"]
    magnification = (source + proj_geom["DistanceOriginDetector"]) / source
    spacing = proj_geom["DetectorWidth"] / magnification      # detector pixel at the axis
    count = sinograms.shape[-1]
    u = (torch.arange(count, dtype=torch.float64) - (count - 1) / 2) * spacing
    filtered = _ramp_filter(sinograms * (source / torch.sqrt(source**2 + u**2)), spacing, filter)
    y, x = (torch.from_numpy(c) for c in pixel_centres(vol_geom))
    y, x = y[:, None], x[None, :]
    volume = torch.zeros(len(sinograms), len(y), x.shape[1], dtype=torch.float64)
    angles = torch.as_tensor(np.asarray(proj_geom["ProjectionAngles"], dtype=np.float64))
    batch = max(1, _BATCH_ELEMENTS // volume.numel())
    for first in range(0, len(angles), batch):
        beta = angles[first:first + batch, None, None]
        depth = source - x * torch.sin(beta) + y * torch.cos(beta)    # source → pixel, (B, Y, X)
        position = (x * torch.cos(beta) + y * torch.sin(beta)) * source / depth / spacing
        values = _interpolate(filtered[:, first:first + batch], position + (count - 1) / 2)
        volume += torch.sum(values * (source / depth) ** 2, dim=1)
    return volume * (math.pi / len(angles))


def _interpolate(rows, position):
    """Linear interpolation of ``rows`` ``(Z, B, det)`` at fractional detector positions
    ``(B, Y, X)``, zero outside the detector; returns ``(Z, B, Y, X)``."""
    count = rows.shape[-1]
    left = position.floor().clamp(0, count - 2).long()
    weight = position - left
    flat = left + count * torch.arange(len(position))[:, None, None]   # index into (B · det)
    rows = rows.reshape(len(rows), -1)
    values = rows[:, flat] * (1 - weight) + rows[:, flat + 1] * weight
    return values * ((position >= 0) & (position <= count - 1))


def _ramp_filter(sinograms, spacing, filter):
    """Filter the detector axis with the band-limited ramp kernel of Kak & Slaney (spacing in
    world units), times a window, zero-padded against wrap-around."""
    count = sinograms.shape[-1]
    length = 1 << (2 * count - 1).bit_length()
    k = torch.arange(length, dtype=torch.float64)
    k = torch.minimum(k, length - k)
    kernel = torch.where(k % 2 == 1, -1 / (math.pi * k * spacing) ** 2, 0.0)
    kernel[0] = 1 / (4 * spacing**2)
    response = torch.fft.rfft(kernel).real * spacing * _window(filter, length // 2 + 1)
    return torch.fft.irfft(torch.fft.rfft(sinograms, n=length) * response, n=length)[..., :count]


def _window(filter, bins):
    r = torch.linspace(0, 1, bins, dtype=torch.float64)     # frequency / Nyquist
    return {"ram-lak": torch.ones_like(r),
            "shepp-logan": torch.sinc(r / 2),
            "cosine": torch.cos(math.pi * r / 2),
            "hamming": 0.54 + 0.46 * torch.cos(math.pi * r),
            "hann": 0.5 + 0.5 * torch.cos(math.pi * r)}[filter]


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


_FBP_2D = {"parallel": _parallel, "fanflat": _fan}
