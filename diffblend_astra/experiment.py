"""A reconstruction experiment: a held-out phantom, a simulated scan, several methods, metrics.

Shared by ``diffblend-astra demo`` and the benchmarks so that both measure the same thing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .methods import run_method
from .metrics import plane_metrics, tv_z
from .operators import as_operator, limited_angle, sparse_view
from .phantoms import held_out_seeds, phantom_volume

DATA_RANGE = 1.0
"""Phantom intensities lie in [0, 1]; PSNR/SSIM use this fixed range for every method."""


@dataclass
class Case:
    """A ground-truth volume ``(Z, Y, X)``, the scan's operator and its projections."""

    truth: torch.Tensor
    operator: object
    y: torch.Tensor
    proj_geom: dict
    vol_geom: dict
    description: str


def make_case(*, index: int = 0, geometry: str = "parallel", views: int = 8,
              arc_degrees: float | None = None, size: int = 64, slices: int = 64) -> Case:
    """Held-out phantom ``index`` scanned with ``views`` views (``arc_degrees`` for a
    limited-angle scan), noiseless. 2D geometries are applied slice by slice; ``cone`` is a
    true 3D scan and needs CUDA."""
    truth = torch.from_numpy(phantom_volume(held_out_seeds(index + 1)[index],
                                            (slices, size, size)))
    shape = (slices, size, size) if geometry == "cone" else size
    if arc_degrees is None:
        proj_geom, vol_geom = sparse_view(beam=geometry, views=views, shape=shape)
        scan = f"{views} views"
    else:
        proj_geom, vol_geom = limited_angle(beam=geometry, arc=math.radians(arc_degrees),
                                            views=views, shape=shape)
        scan = f"{views} views over {arc_degrees:g} degrees"
    operator = as_operator(proj_geom, vol_geom, slices=None if geometry == "cone" else slices)
    y = operator(truth)
    return Case(truth, operator, y, proj_geom, vol_geom,
                f"{geometry} beam, {scan}, phantom {slices}x{size}x{size}")


def evaluate_method(case: Case, method: str, **options) -> dict:
    """Run ``method`` on ``case``: ``{"volume", "seconds", "metrics", "tv_z"}``."""
    start = time.perf_counter()
    volume = run_method(method, case.operator, case.y, **options)
    seconds = time.perf_counter() - start
    return {"volume": volume, "seconds": seconds,
            "metrics": plane_metrics(volume, case.truth, data_range=DATA_RANGE),
            "tv_z": tv_z(volume)}
