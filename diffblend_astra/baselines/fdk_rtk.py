"""FDK on the CPU: RTK's ``FDKConeBeamReconstructionFilter`` with an RTK operator's geometry.

RTK weights each view by half its angular gap to its neighbours (times the ramp's zoom
factor); the projections are rescaled first so that every view is weighted ``π / views``
instead, as the package's other FBPs do: the same numbers for an evenly spaced full scan,
and a limited arc keeps the intensity scale of a complete scan (no Parker weighting).
"""

import math

import numpy as np
import torch

from ..operators.rtk_geometry import projections_to_rtk, rtk_modules, volume_from_rtk

WINDOW_SETTERS = {"ram-lak": None, "shepp-logan": "SetSheppLoganCutFrequency",
                  "cosine": "SetCosineCutFrequency", "hamming": "SetHammingFrequency",
                  "hann": "SetHannCutFrequency"}
"""ASTRA's window names and RTK's ramp-filter settings for the same window (cut at Nyquist)."""


def fdk_rtk(operator, projections: torch.Tensor, filter: str) -> torch.Tensor:
    """FDK of ``(det_rows, angles, det_cols)`` float32 ``projections`` for an
    :class:`~diffblend_astra.operators.rtk.RtkConeOperator`; a CPU ``(Z, Y, X)`` float32
    volume in the inverse of the world length unit. ``filter`` is one of
    :data:`WINDOW_SETTERS`."""
    itk, RTK = rtk_modules()
    geometry = operator.rtk_geometry
    gaps = np.asarray(geometry.GetAngularGaps(geometry.GetSourceAngles()), dtype=np.float64)
    scale = (2 * math.pi / len(gaps)) / gaps
    stack = projections_to_rtk(projections.cpu().numpy()) * scale[:, None, None].astype(np.float32)
    nx, ny, nz = operator.volume_grid.size
    volume = np.zeros((nz, ny, nx), np.float32)
    image = itk.Image[itk.F, 3]
    fdk = operator.configure(RTK.FDKConeBeamReconstructionFilter[image].New())
    if WINDOW_SETTERS[filter] is not None:
        getattr(fdk.GetRampFilter(), WINDOW_SETTERS[filter])(1.0)
    fdk.SetInput(0, operator.volume_image(volume))
    fdk.SetInput(1, operator.projections_image(stack))
    fdk.Update()
    return torch.from_numpy(volume_from_rtk(itk.array_from_image(fdk.GetOutput())))
