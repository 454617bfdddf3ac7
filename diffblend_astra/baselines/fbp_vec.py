"""Filtered back-projection for the 2D geometries ASTRA's CPU ``FBP`` does not take:
``fanflat``, ``fanflat_vec`` and ``parallel_vec`` (ASTRA 2.5: "FBP currently only supports
parallel projection geometries"), in torch, all slices at once.

Every geometry is read as ASTRA vectors (``astra.geom_2vec``), one row per view, so shifted
centres of rotation and uneven views are handled as they are.

* Fan beams, flat detector: the weighted FBP of Kak & Slaney (*Principles of Computerized
  Tomographic Imaging*, Sec. 3.4.2), generalised to a detector anywhere along the view. The
  detector is mapped onto the parallel line through the origin (a uniform scaling, so its
  pixels stay evenly spaced), pre-weighted by the cosine of the ray angle, ramp-filtered,
  and back-projected with the ``(D/U)²`` distance weight, ``D`` the distance from the source
  to that line and ``U`` the depth of the pixel along the view.
* Parallel beams: ramp filter along each view's rays' perpendicular coordinate, then
  back-projection.

Every view is weighted ``π / views`` as ASTRA's FBP does, so sparse-view and limited-angle
scans keep the intensity scale of a complete scan (180° parallel, 360° fan).
"""

import math

import astra
import numpy as np
import torch

from ..operators.astra_geometry import pixel_centres

_BATCH_ELEMENTS = 1 << 22
"""Views back-projected at once: as many as keep ``(Z, views, Y, X)`` at about this many
float64 elements (32 MiB)."""


def fbp_vec(proj_geom, vol_geom, sinograms, filter):
    """FBP of ``sinograms`` ``(Z, angles, det)`` for a 2D fan or vector geometry; ``(Z, Y, X)``
    float64, ``filter`` one of the windows of :func:`window`."""
    kind = proj_geom["type"]
    vectors = proj_geom if kind.endswith("_vec") else astra.geom_2vec(proj_geom)
    vectors = torch.as_tensor(np.asarray(vectors["Vectors"], dtype=np.float64))
    count = sinograms.shape[-1]
    offsets = torch.arange(count, dtype=torch.float64) - (count - 1) / 2   # pixel k − centre
    views = (_fan_views if kind.startswith("fanflat") else _parallel_views)(vectors, offsets)
    weighted = sinograms.double() * views.pre_weight
    filtered = ramp_filter(weighted, filter) / views.spacing[:, None]
    y, x = (torch.from_numpy(c) for c in pixel_centres(vol_geom))
    y, x = y[:, None], x[None, :]
    volume = torch.zeros(len(sinograms), len(y), x.shape[1], dtype=torch.float64)
    batch = max(1, _BATCH_ELEMENTS // volume.numel())
    for first in range(0, len(vectors), batch):
        index, weight = views.locate(slice(first, first + batch), x, y)
        values = _interpolate(filtered[:, first:first + batch], index + (count - 1) / 2)
        volume += torch.sum(values * weight, dim=1)
    return volume * (math.pi / len(vectors))


class _Views:
    """Per-view filtering data: ``pre_weight`` ``(views, det)``, ``spacing`` ``(views,)`` of
    the filtered detector coordinate, and ``locate(views, x, y)`` → detector position
    (pixels from the centre) and back-projection weight, each ``(B, Y, X)``."""

    def __init__(self, pre_weight, spacing, locate):
        self.pre_weight, self.spacing, self.locate = pre_weight, spacing, locate


def _fan_views(vectors, offsets):
    source, centre, u = vectors[:, 0:2], vectors[:, 2:4], vectors[:, 4:6]
    pitch = torch.linalg.vector_norm(u, dim=1)                  # detector pixel width
    e = u / pitch[:, None]                                      # along the detector
    n = torch.stack([-e[:, 1], e[:, 0]], dim=1)                 # normal to it ...
    n = n * torch.sign(torch.sum((centre - source) * n, dim=1))[:, None]   # ... towards it
    to_origin = -torch.sum(source * n, dim=1)                   # D: source → line through 0
    to_detector = torch.sum((centre - source) * n, dim=1)       # source → detector
    if (to_origin <= 0).any():
        raise ValueError("fan-beam FBP needs the source on the far side of the origin from the "
                         "detector in every view")
    shift = torch.sum((centre - source) * e, dim=1)             # detector centre off the axis
    scale = to_origin / to_detector                             # detector → line through 0
    along = (shift[:, None] + offsets * pitch[:, None]) * scale[:, None]
    pre_weight = to_origin[:, None] / torch.sqrt(to_origin[:, None] ** 2 + along**2)

    def locate(views, x, y):
        s = source[views, :, None, None]
        ev, nv = e[views, :, None, None], n[views, :, None, None]
        depth = (x - s[:, 0]) * nv[:, 0] + (y - s[:, 1]) * nv[:, 1]          # U
        lateral = (x - s[:, 0]) * ev[:, 0] + (y - s[:, 1]) * ev[:, 1]
        index = (lateral * to_detector[views, None, None] / depth
                 - shift[views, None, None]) / pitch[views, None, None]
        return index, (to_origin[views, None, None] / depth) ** 2

    return _Views(pre_weight, pitch * scale, locate)


def _parallel_views(vectors, offsets):
    ray, centre, u = vectors[:, 0:2], vectors[:, 2:4], vectors[:, 4:6]
    n = torch.stack([-ray[:, 1], ray[:, 0]], dim=1) / torch.linalg.vector_norm(ray, dim=1)[:, None]
    step = torch.sum(u * n, dim=1)                 # detector pixel across the rays (signed)
    origin = torch.sum(centre * n, dim=1)          # detector centre across the rays

    def locate(views, x, y):
        nv = n[views, :, None, None]
        across = x * nv[:, 0] + y * nv[:, 1]
        index = (across - origin[views, None, None]) / step[views, None, None]
        return index, torch.ones_like(index)

    return _Views(torch.ones(len(vectors), len(offsets), dtype=torch.float64), step.abs(), locate)


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


def ramp_filter(sinograms, filter):
    """Filter the detector axis of ``sinograms`` ``(..., det)`` with the band-limited ramp
    kernel of Kak & Slaney for a unit detector spacing (divide by the spacing for another),
    times a window, zero-padded against wrap-around."""
    count = sinograms.shape[-1]
    length = 1 << (2 * count - 1).bit_length()
    k = torch.arange(length, dtype=torch.float64)
    k = torch.minimum(k, length - k)
    kernel = torch.where(k % 2 == 1, -1 / (math.pi * k) ** 2, 0.0)
    kernel[0] = 1 / 4
    response = torch.fft.rfft(kernel).real * window(filter, length // 2 + 1)
    return torch.fft.irfft(torch.fft.rfft(sinograms, n=length) * response, n=length)[..., :count]


WINDOWS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
"""Ramp filter windows, named as in ASTRA."""


def window(filter, bins):
    """The window ``filter`` (one of :data:`WINDOWS`) at ``bins`` frequencies from 0 to
    Nyquist."""
    r = torch.linspace(0, 1, bins, dtype=torch.float64)     # frequency / Nyquist
    return {"ram-lak": torch.ones_like(r),
            "shepp-logan": torch.sinc(r / 2),
            "cosine": torch.cos(math.pi * r / 2),
            "hamming": 0.54 + 0.46 * torch.cos(math.pi * r),
            "hann": 0.5 + 0.5 * torch.cos(math.pi * r)}[filter]
