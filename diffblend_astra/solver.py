"""DiffusionBlend++ reconstruction (Algorithm 1 of the paper) over any linear operator.

One sampler serves every variant; the prior and the data-consistency step are composed in:

==============  ==========================  ==========================================
variant         prior                       data consistency per step
==============  ==========================  ==========================================
DB++            :class:`~.priors.BlendPrior`      CG on AᵀA x = Aᵀy from x̂0
DB              :class:`~.priors.ConditionalPrior` CG
DDS-2D          :class:`~.priors.SlicePrior`      CG
DDS             :class:`~.priors.SlicePrior`      one ADMM-TV-z step (``tv_z=(ρ, λ)``)
==============  ==========================  ==========================================

The data-consistency steps are those of :mod:`.consistency`. Every variant takes the same
re-noising options: i.i.d. noise (the paper's), noise AR(1)-correlated across slices
(``noise_correlation``) or ISCS's slice-consistent noise (``iscs``).

The solver only calls the operator's forward and adjoint, so it works unchanged for stacked
2D ASTRA operators, ODL RayTransforms, RTK's cone-beam operator (CPU) and (on CUDA) 3D
parallel/cone ASTRA operators. Its domain must be the ``(Z, Y, X)`` volume the prior works on
(see :mod:`.conventions`).
"""

from __future__ import annotations

from typing import Callable

import torch
from tqdm.auto import tqdm

from .checkpoint import load_prior
from .consistency import data_consistency
from .conventions import DTYPE
from .diffusion import add_noise, ddim_step, iscs_noise, slice_correlated_noise, tweedie_x0
from .precision import autocast, check as check_precision
from .operators.inputs import as_measurement, as_volume
from .priors import ScorePrior


class DiffusionBlendSolver:
    """Reconstruct a ``(Z, Y, X)`` volume from projections with a learned score prior.

    Args:
        operator: a :class:`~.operators.LinearOperator` (or anything with ``domain_shape``,
            ``range_shape``, ``op(x)``, ``op.T(y)``) whose domain is ``(Z, Y, X)``.
        prior: a :class:`~.priors.ScorePrior` (e.g. a :class:`~.priors.Prior`), or the name
            of bundled weights (``"blend"``, ``"slice"``, ``"conditional"``) or a checkpoint
            path; its network must fit the
            volume's slice size.
        steps: number of DDIM steps = network evaluations (NFE). The paper uses 200 for
            DiffusionBlend++ and DDS uses 50; 50 is a CPU-sane default.
        cg_iters: CG iterations of the data-consistency step (5 in DDS and DB++).
        eta: DDIM stochasticity η ∈ [0, 1] (0.85 in DDS and DB++).
        tv_z: ``(ρ, λ)`` to add a TV-z term (DDS / DiffusionMBIR's ADMM with variable
            sharing), both relative to ``‖A‖²`` in the physical units of the operator;
            ``None`` for plain CG.
        weights: optional per-ray weights ``W`` (shape of ``y``, ≥ 0) for a weighted
            least-squares data term ``AᵀWA x = AᵀWy`` — e.g. the photon counts of each ray
            for Poisson-noisy data. Beyond the paper, which assumes noiseless data.
        start_timestep: start from this timestep instead of ``T − 1`` when ``x_init`` is
            given (SDEdit-style warm start); ignored without ``x_init``.
        clip_x0: clamp Tweedie's x̂0 to this range of network units before the data step
            (``None`` to disable). At high noise x̂0 divides the network's error by √ᾱ_t
            (≈ 0.01 near t = T), so without a clamp a small ε̂ error becomes a huge x̂0 that
            the CG step cannot repair; DDPM's "clip denoised" does the same. The default is
            the intensity window of the prior (its training data's range).
        noise_correlation: correlation ρ ∈ [0, 1) between neighbouring slices of the fresh
            noise of every DDIM re-noising step (:func:`~.diffusion.slice_correlated_noise`,
            unit variance per voxel): noise that is consistent across slices, at no cost.
            0 is the paper's i.i.d. noise.
        iscs: draw that noise by ISCS's rule instead (inter-slice consistent stochasticity,
            Du et al., ICLR 2026; :func:`~.diffusion.iscs_noise`), also at no cost. It differs
            from ``noise_correlation`` in three ways: every slice's noise is a spherical
            interpolation between two Gaussian slices shared by the volume (rank 2 across
            slices, where AR(1) adds a fresh innovation per slice); the correlation is set
            by the slice count, not a parameter (≈ cos(π/(2Z)) for neighbours, ≈ 0.1 from the
            first slice to the last at Z = 16, where AR(1) gives ρ^d); and, as in the authors'
            code, it also draws the warm start's noise (``x_init`` noised to
            ``start_timestep``). The pure-noise start x_T stays i.i.d. in both. Not with
            ``noise_correlation > 0``.
        precision: ``auto`` (bf16 autocast of the network where the hardware has native
            bf16), ``bf16`` or ``fp32`` (:mod:`.precision`); the solver's own arithmetic is
            float32 either way.
    """

    def __init__(self, operator, prior: ScorePrior, *, steps: int = 50, cg_iters: int = 5,
                 eta: float = 0.85, tv_z: tuple[float, float] | None = None,
                 weights: torch.Tensor | None = None, start_timestep: int | None = None,
                 clip_x0: tuple[float, float] | None = (-1.0, 1.0),
                 noise_correlation: float = 0.0, iscs: bool = False,
                 precision: str = "auto"):
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        if cg_iters < 0:
            raise ValueError(f"cg_iters must be >= 0, got {cg_iters}")
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        check_noise_options(noise_correlation, iscs)
        if isinstance(prior, str):
            prior = load_prior(prior)
        check_operator_fits_prior(operator, prior)
        self.operator = operator
        self.prior = prior
        self.steps = steps
        self.cg_iters = cg_iters
        self.eta = eta
        self.tv_z = tv_z
        self.weights = None if weights is None else as_measurement(operator, weights, "weights")
        if self.weights is not None and (self.weights < 0).any():
            raise ValueError("weights must be non-negative")
        self.start_timestep = start_timestep
        self.clip_x0 = clip_x0
        self.noise_correlation = noise_correlation
        self.iscs = iscs
        self.precision = check_precision(precision)
        prior.schedule.timesteps(steps, start_timestep)         # checks both, early
        self.alpha_bar = prior.schedule.alphas_cumprod().tolist()

    def reconstruct(self, y, *, x_init=None, seed: int | None = None,
                    generator: torch.Generator | None = None,
                    callback: Callable[[int, torch.Tensor], None] | None = None,
                    progress: bool = True, samples: int = 1):
        """Reconstruct from ``y`` (``operator.range_shape``, physical units).

        Returns the volume ``(Z, Y, X)`` float32 in physical units. With ``samples = k > 1``
        it draws ``k`` independent posterior samples and returns ``(mean, std)``, the
        per-voxel standard deviation being an uncertainty map. ``seed`` (or ``generator``)
        makes the result reproducible; ``callback(step, x0)`` receives the data-consistent
        estimate of every step. ``x_init`` (physical units) warm-starts the sampler. The
        result never carries the autograd graph of ``y`` or ``x_init`` (both are detached).
        """
        y = as_measurement(self.operator, y).detach()
        x_init = (None if x_init is None
                  else as_volume(self.operator, x_init, "x_init").detach())
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        generator = sampling_generator(seed, generator, y.device)
        draws = [self._sample(y, x_init, generator, callback, progress, k, samples)
                 for k in range(samples)]
        if samples == 1:
            return draws[0]
        stack = torch.stack(draws)
        return stack.mean(0), stack.std(0)

    def _sample(self, y, x_init, generator, callback, progress, index, samples):
        window = self.prior.window
        consistency = data_consistency(self.operator, y, cg_iters=self.cg_iters,
                                       tv_z=self.tv_z, weights=self.weights)
        timesteps = self.prior.schedule.timesteps(
            self.steps, self.start_timestep if x_init is not None else None)
        shape = tuple(self.operator.domain_shape)
        if x_init is None:                                      # x_T ~ N(0, I)
            x = torch.randn(shape, generator=generator, device=y.device, dtype=DTYPE)
        else:                                                   # x_init noised to the start
            noise = renoising_noise(shape, noise_correlation=0.0, iscs=self.iscs,
                                    generator=generator, device=y.device)
            x = add_noise(window.to_network(x_init), noise, self.alpha_bar[timesteps[0]])
        label = "diffusion steps" + (f", sample {index + 1}/{samples}" if samples > 1 else "")
        return sample(x, self.prior, consistency.step, timesteps, eta=self.eta,
                      generator=generator, clip_x0=self.clip_x0,
                      noise_correlation=self.noise_correlation, iscs=self.iscs,
                      precision=self.precision, callback=callback,
                      progress=label if progress else None)


def sample(x_t: torch.Tensor, prior: ScorePrior,
           data_step: Callable[[torch.Tensor], torch.Tensor], timesteps: list[int], *,
           eta: float, generator: torch.Generator,
           clip_x0: tuple[float, float] | None = (-1.0, 1.0), noise_correlation: float = 0.0,
           iscs: bool = False, precision: str = "auto",
           callback: Callable[[int, torch.Tensor], None] | None = None,
           progress: str | None = None) -> torch.Tensor:
    """Algorithm 1 of DiffusionBlend(++), in the paper's notation; returns x̂0 (physical).

    From ``x_t`` ``(Z, Y, X)`` (network units) at ``timesteps[0]``, for each ``t`` of the
    descending ``timesteps``:

    1. ε̂ = prior(x_t, t) — the blended score of the volume's 3-slice groups;
    2. x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t (Tweedie), clamped to ``clip_x0``;
    3. x̂0 ← ``data_step``(x̂0) — a few CG (or ADMM-TV-z) steps towards Aᵀy, physical units;
    4. x_{t'} = √ᾱ_{t'} x̂0 + √(1−ᾱ_{t'}) (η z + √(1−η²) ε̂) at the next timestep t', with
       z ~ N(0, I) (correlated across slices by ``noise_correlation``, or ISCS's with
       ``iscs``: :func:`renoising_noise`).

    ``callback(step, x̂0)`` sees every data-consistent estimate; ``progress`` is the label
    of a progress bar (``None``: no bar).
    """
    check_noise_options(noise_correlation, iscs)
    window = prior.window
    alpha_bar = prior.schedule.alphas_cumprod().tolist()
    shape = tuple(x_t.shape)
    for step, t in enumerate(tqdm(timesteps, desc=progress, disable=progress is None)):
        with autocast(precision, x_t.device):
            eps = prior.predict_noise(x_t, t, step, generator)      # blended ε̂(x_t)
        x0 = tweedie_x0(x_t, eps, alpha_bar[t])                      # E[x0 | x_t]
        if clip_x0 is not None:
            x0 = x0.clamp(*clip_x0)
        x0 = data_step(window.to_physical(x0))                      # CG towards Aᵀy
        if callback is not None:
            callback(step, x0)
        if step < len(timesteps) - 1:
            z = renoising_noise(shape, noise_correlation=noise_correlation, iscs=iscs,
                                generator=generator, device=x_t.device)
            x_t = ddim_step(window.to_network(x0), eps,              # re-noise to t_next
                            alpha_bar[timesteps[step + 1]], eta, z)
    return x0


def renoising_noise(shape, *, noise_correlation: float, iscs: bool,
                    generator: torch.Generator, device) -> torch.Tensor:
    """The fresh noise ``z`` of one re-noising, ``shape`` ``(Z, Y, X)`` float32: ISCS's
    (:func:`~.diffusion.iscs_noise`) with ``iscs``, else AR(1)-correlated across slices
    (:func:`~.diffusion.slice_correlated_noise`; the i.i.d. draws of ``torch.randn`` at
    ``noise_correlation = 0``)."""
    if iscs:
        return iscs_noise(shape, generator=generator, device=device, dtype=DTYPE)
    return slice_correlated_noise(shape, noise_correlation, generator=generator, device=device,
                                  dtype=DTYPE)


def check_noise_options(noise_correlation: float, iscs: bool) -> None:
    """Raise unless the re-noising options name one rule: ``noise_correlation`` ∈ [0, 1), or
    ``iscs=True`` with ``noise_correlation = 0``."""
    if not 0.0 <= noise_correlation < 1.0:
        raise ValueError(f"noise_correlation must be in [0, 1), got {noise_correlation}")
    if not isinstance(iscs, bool):
        raise TypeError(f"iscs must be True or False, got {iscs!r}")
    if iscs and noise_correlation:
        raise ValueError(f"iscs=True draws the re-noising noise its own way; expected "
                         f"noise_correlation=0 with it, got {noise_correlation}")


def check_operator_fits_prior(operator, prior: ScorePrior) -> None:
    """Raise unless ``operator`` has the protocol's shapes and its domain fits ``prior``."""
    for name in ("domain_shape", "range_shape"):
        if not hasattr(operator, name):
            raise TypeError(f"operator must provide {name}; wrap it with "
                            "diffblend_astra.as_operator(...)")
    prior.check_volume_shape(tuple(operator.domain_shape))


def sampling_generator(seed: int | None, generator: torch.Generator | None,
                       device) -> torch.Generator:
    """``generator`` if given; else a new one on ``device`` seeded with ``seed`` (``None``:
    a fresh random seed)."""
    if generator is not None:
        return generator
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator
