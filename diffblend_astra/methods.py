"""Every reconstruction method by name, in one harness: ``run_method(name, operator, y)``.

The CLI, the demo and the benchmarks assemble methods here, by direct reference. Classical
methods need only the operator; diffusion methods also load a checkpoint (the bundled
demonstration weights by default).

=========  ================================================================================
name       method
=========  ================================================================================
fbp        filtered back-projection (FDK for cone beams)
cgls       CGLS, early-stopped
sirt       SIRT
admm-tv    isotropic 3D TV by ADMM
dds2d      2D-slice prior + CG data consistency (DDS without TV)
dds        2D-slice prior + ADMM-TV-z data consistency (DDS)
dds-iscs   DDS with ISCS's slice-consistent re-noising noise in place of the TV-z term, as
           the ISCS authors run DDS (2D-slice prior + CG), started from CGLS at t = 500
db         DiffusionBlend: conditional 3-slice prior + CG
dbpp       DiffusionBlend++: blended 3-slice-patch prior + a weak TV-z term in the data
           step (as the reference DiffusionBlend++ code does), from noise, adjacent triples
           only (on 5 mm slices the paper's cross triples, 15 mm apart, scored lower)
dbpp-cg    DiffusionBlend++ as the paper runs it: plain CG data step, cross triples every
           second step
mbir       DiffusionMBIR (VE predictor–corrector + ADMM-TV-z), see :mod:`.comparisons`
tpdm       TPDM: axial and coronal slice priors alternating (coronal weights required)
padis      PaDIS patch prior per slice (weights required)
fbp-unet   supervised FBP-UNet (weights required)
=========  ================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import baselines
from .checkpoint import load_prior
from .devices import usable_device
from .operators.inputs import as_measurement
from .operators.layout import check_layout
from .partition import PartitionSchedule
from .solver import DiffusionBlendSolver

PAPER_ETA = 0.85
"""DDIM η of DDS and DiffusionBlend++ as published."""

CLASSICAL = {
    "fbp": lambda op, y, progress: baselines.fbp(op, y),
    "cgls": lambda op, y, progress: baselines.cgls(op, y, progress=progress),
    "sirt": lambda op, y, progress: baselines.sirt(op, y, progress=progress),
    "admm-tv": lambda op, y, progress: baselines.admm_tv(op, y, progress=progress),
}
"""The classical methods, each with its function's own defaults."""


@dataclass(frozen=True)
class DiffusionMethod:
    """A diffusion method: the prior kind, its data-consistency step and sampling options.

    ``tv_z``: ``(ρ, λ)`` of the ADMM-TV-z data step, ``None`` for plain CG;
    ``partitions``: the partition schedule of a ``blend`` prior (random offsets, cross every
    second step, ``averaged`` partitions per step); ``noise_correlation``: correlation of the
    re-noising noise between neighbouring slices; ``iscs``: draw that noise by ISCS's rule
    (:func:`~.diffusion.iscs_noise`) instead; ``warm_start``: start at this timestep from
    the CGLS reconstruction (SDEdit-style) instead of pure noise at ``T − 1``; ``eta``: the
    DDIM stochasticity η (``eta=`` given to :func:`run_method` overrides it).
    """

    prior_kind: str
    tv_z: tuple[float, float] | None = None
    partitions: PartitionSchedule = PartitionSchedule()
    noise_correlation: float = 0.0
    iscs: bool = False
    warm_start: int | None = None
    eta: float = PAPER_ETA

    def solve(self, operator, y, *, checkpoint=None, steps: int = 50, seed: int = 0,
              samples: int = 1, device="cpu", progress: bool = False, **solver_options):
        """Reconstruct ``y`` (see :func:`run_method`)."""
        extra = {"partitions": self.partitions} if self.prior_kind == "blend" else {}
        prior = load_prior(self.prior_kind, checkpoint, device, **extra)
        options = {"eta": self.eta, "tv_z": self.tv_z,
                   "noise_correlation": self.noise_correlation,
                   "iscs": self.iscs, "start_timestep": self.warm_start, **solver_options}
        solver = DiffusionBlendSolver(operator, prior, steps=steps, **options)
        x_init = None
        if self.warm_start is not None:
            x_init = baselines.cgls(operator, y)
        return solver.reconstruct(y, x_init=x_init, seed=seed, samples=samples,
                                  progress=progress)


DDS_TV_Z = (2e-2, 4e-4)
"""DDS's (ρ, λ) relative to ‖A‖² (:class:`~.consistency.AdmmTvZ`); λ/ρ = 0.02 in
intensity units."""

CGLS_WARM_START = 500
"""A warm start: the CGLS reconstruction noised to t = 500, then the steps of the schedule at
or below it (26 of 50). Above it the measurements already fix the coarse volume and a prior
does little; on real CT it is DDS + ISCS's chosen start, and DB++'s on the phantoms."""

# η, starts, DB++'s partitions: chosen on real-CT validation (benchmarks/ct_settings.py)
DIFFUSION = {
    "dds2d": DiffusionMethod("slice"),
    "dds": DiffusionMethod("slice", tv_z=DDS_TV_Z, eta=0.5),
    "dds-iscs": DiffusionMethod("slice", iscs=True, warm_start=CGLS_WARM_START),
    "db": DiffusionMethod("conditional"),
    "dbpp": DiffusionMethod("blend", tv_z=DDS_TV_Z,
                            partitions=PartitionSchedule(cross_every=0)),
    "dbpp-cg": DiffusionMethod("blend"),
}

EXTRA = ("mbir", "tpdm", "padis", "fbp-unet")
"""Comparison systems of :mod:`.comparisons` (imported when used)."""

METHODS = tuple(CLASSICAL) + tuple(DIFFUSION) + EXTRA

DEFAULT_STEPS = 50
"""Network evaluations of the diffusion methods by default (the paper uses 200 on GPUs)."""


def run_method(name: str | DiffusionMethod, operator, y: torch.Tensor, *, checkpoint=None,
               steps: int = DEFAULT_STEPS, seed: int = 0, samples: int = 1,
               device: str | torch.device = "cpu", progress: bool = False, **solver_options):
    """Reconstruct ``y`` with the method ``name`` (one of :data:`METHODS`, or a
    :class:`DiffusionMethod` built for an experiment).

    ``checkpoint`` (a path) replaces the bundled weights of a diffusion method; ``steps``,
    ``seed``, ``samples`` and ``solver_options`` (e.g. ``cg_iters``, ``eta``, ``tv_z``,
    ``weights``) go to :class:`~.solver.DiffusionBlendSolver`. Every method computes on
    ``device`` (``y`` is moved there; a device this torch cannot use is a ``ValueError``)
    and returns the volume there, or ``(mean, std)`` when ``samples > 1``. The result never
    carries ``y``'s autograd graph; to differentiate through a classical method, call its
    function in :mod:`.baselines` directly. Projections whose layout their shape cannot tell
    are checked for consistency (:func:`~.operators.layout.check_layout`: a warning).
    """
    device = usable_device(device)
    y = as_measurement(operator, y).detach().to(device)
    check_layout(operator, y)
    if isinstance(name, DiffusionMethod):
        return name.solve(operator, y, checkpoint=checkpoint, steps=steps, seed=seed,
                          samples=samples, device=device, progress=progress, **solver_options)
    if name in CLASSICAL:
        if samples != 1:
            raise ValueError(f"samples= applies to diffusion methods, not to {name!r}")
        return CLASSICAL[name](operator, y, progress)
    if name in EXTRA:
        from .comparisons.registry import EXTRA_METHODS

        if samples != 1 or solver_options:
            raise ValueError(f"{name!r} takes no samples= or solver options")
        return EXTRA_METHODS[name](operator, y, checkpoint=checkpoint, steps=steps, seed=seed,
                                   device=device, progress=progress)
    if name not in DIFFUSION:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return DIFFUSION[name].solve(operator, y, checkpoint=checkpoint, steps=steps, seed=seed,
                                 samples=samples, device=device, progress=progress,
                                 **solver_options)
