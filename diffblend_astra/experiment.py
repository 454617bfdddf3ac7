"""A reconstruction experiment: a held-out volume (a procedural phantom or a real CT scan of
the test patient), a simulated scan, several methods, metrics.

Shared by ``diffblend-astra demo`` and the benchmarks so that both measure the same thing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .methods import run_method
from .metrics import metrics_table, plane_metrics, tv_z
from .operators import as_operator, limited_angle, sparse_view
from .phantoms import held_out_seeds, phantom_volume
from .solver import DiffusionBlendSolver

DATA_RANGE = 1.0
"""Phantom intensities and CT units (:func:`~.datasets.hu_to_units`) lie in [0, 1]; PSNR/SSIM
use this fixed range for every method."""

PHANTOM_WEIGHTS = {"blend": "blend-phantom", "slice": "slice-phantom",
                   "conditional": "conditional-phantom", "patch": "patch-phantom"}
"""The bundled priors trained on procedural phantoms (64² slices) by prior kind; the defaults
of every method are the real-CT priors."""

SCANS = {
    "parallel-4": dict(geometry="parallel", views=4),
    "parallel-6": dict(geometry="parallel", views=6),
    "parallel-8": dict(geometry="parallel", views=8),
    "parallel-la90": dict(geometry="parallel", views=90, arc_degrees=90),
    "fan-8": dict(geometry="fan", views=8),
}
"""The benchmark scans by name: keyword arguments of :func:`make_case` / :func:`scan_geometry`."""


def scan_geometry(*, geometry: str = "parallel", views: int = 8,
                  arc_degrees: float | None = None, size: int = 64, slices: int = 64):
    """``(proj_geom, vol_geom)`` of a scan: ``views`` views over the beam's full arc, or over
    ``arc_degrees``. 2D geometries describe one slice; ``cone`` a ``(slices, size, size)``
    volume."""
    shape = (slices, size, size) if geometry == "cone" else size
    if arc_degrees is None:
        return sparse_view(beam=geometry, views=views, shape=shape)
    return limited_angle(beam=geometry, arc=math.radians(arc_degrees), views=views,
                         shape=shape)


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
    true 3D scan (ASTRA on a CUDA GPU, RTK on the CPU otherwise)."""
    truth = torch.from_numpy(phantom_volume(held_out_seeds(index + 1)[index],
                                            (slices, size, size)))
    return scan_case(truth, f"phantom {slices}x{size}x{size}", geometry=geometry,
                     views=views, arc_degrees=arc_degrees)


def ct_slab(scan: str = "lung-1", slices: int = 16, *, shift: int = 0,
            grid=None) -> tuple[int, torch.Tensor]:
    """``(first, truth)``: ``slices`` slices ``(slices, size, size)`` float32 of the real CT
    scan ``scan`` on the working ``grid`` (:data:`~.datasets.WORKING_GRID`), in CT units —
    the central ones, moved ``shift`` slices along z — and the index of the first. The scan
    is fetched on first use."""
    from . import datasets

    volume = datasets.working_volume(scan, grid or datasets.WORKING_GRID)
    if not 1 <= slices <= volume.shape[0]:
        raise ValueError(f"slices must lie in [1, {volume.shape[0]}] for {scan}, got {slices}")
    central = (volume.shape[0] - slices) // 2
    if not -central <= shift <= volume.shape[0] - slices - central:
        raise ValueError(f"shift must lie in [{-central}, {volume.shape[0] - slices - central}]"
                         f" for {slices} slices of {scan}, got {shift}")
    first = central + shift
    return first, torch.from_numpy(np.ascontiguousarray(volume[first:first + slices]))


def make_ct_case(*, scan: str = "lung-1", slices: int = 16, geometry: str = "parallel",
                 views: int = 8, arc_degrees: float | None = None,
                 grid=None, shift: int = 0) -> Case:
    """The slab :func:`ct_slab` of ``scan`` (the test patient by default; the central
    ``slices`` slices, moved ``shift`` along z), scanned like :func:`make_case`."""
    first, truth = ct_slab(scan, slices, shift=shift, grid=grid)
    z, y, x = truth.shape
    return scan_case(truth, f"real CT {scan} slices {first}-{first + slices - 1}, "
                            f"{z}x{y}x{x}", geometry=geometry, views=views,
                     arc_degrees=arc_degrees)


def scan_case(truth: torch.Tensor, name: str, *, geometry: str = "parallel", views: int = 8,
              arc_degrees: float | None = None) -> Case:
    """The noiseless scan of ``truth`` ``(Z, Y, X)`` (square slices), described as ``name``."""
    slices, size = truth.shape[0], truth.shape[-1]
    proj_geom, vol_geom = scan_geometry(geometry=geometry, views=views,
                                        arc_degrees=arc_degrees, size=size, slices=slices)
    scan = (f"{views} views" if arc_degrees is None
            else f"{views} views over {arc_degrees:g} degrees")
    operator = as_operator(proj_geom, vol_geom, slices=None if geometry == "cone" else slices)
    y = operator(truth)
    return Case(truth, operator, y, proj_geom, vol_geom, f"{geometry} beam, {scan}, {name}")


def evaluate_method(case: Case, method: str, **options) -> dict:
    """Run ``method`` on ``case``: ``{"volume", "seconds", "metrics", "tv_z"}``."""
    return evaluate(case.truth, lambda: run_method(method, case.operator, case.y, **options))


def evaluate_solver(case: Case, prior, *, seed: int = 0, **solver_options) -> dict:
    """:func:`evaluate_method` for a prior given as an object (e.g. an ablation variant),
    solved by :class:`~.solver.DiffusionBlendSolver` with ``solver_options``."""
    solver = DiffusionBlendSolver(case.operator, prior, **solver_options)
    return evaluate(case.truth, lambda: solver.reconstruct(case.y, seed=seed, progress=False))


def evaluate(truth, reconstruct, *, data_range: float = DATA_RANGE) -> dict:
    """Time ``reconstruct()`` (no arguments, returns a volume like ``truth`` ``(Z, Y, X)``)
    and score it: ``{"volume", "seconds", "metrics" (per plane), "tv_z"}``."""
    start = time.perf_counter()
    volume = reconstruct()
    seconds = time.perf_counter() - start
    return {"volume": volume, "seconds": seconds,
            "metrics": plane_metrics(volume, truth, data_range=data_range),
            "tv_z": tv_z(volume)}


def compare(truth, reconstructions: dict, *, data_range: float = DATA_RANGE) -> str:
    """Run each ``{name: reconstruct}`` (zero-argument callables, in order) with
    :func:`evaluate` and return the :func:`~.metrics.metrics_table` of the results, with
    their run times."""
    return results_table({name: evaluate(truth, reconstruct, data_range=data_range)
                          for name, reconstruct in reconstructions.items()})


def results_table(results: dict) -> str:
    """The :func:`~.metrics.metrics_table` of ``{name: evaluate(...)}``, with run times."""
    return metrics_table({name: r["metrics"] for name, r in results.items()},
                         seconds={name: r["seconds"] for name, r in results.items()})
