"""The variance-preserving diffusion core: schedule, Tweedie x̂0 and the DDIM update.

Notation follows DDPM/DDIM: ``x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε`` with ``ε ~ N(0, I)``. All functions
work elementwise on tensors of any shape (volumes ``(Z, Y, X)`` or batches ``(B, C, H, W)``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class VPSchedule:
    """DDPM linear-β schedule: β_t from ``beta_start`` to ``beta_end`` over ``num_timesteps``."""

    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_timesteps: int = 1000

    def __post_init__(self):
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise ValueError("need 0 < beta_start <= beta_end < 1, got "
                             f"{self.beta_start}, {self.beta_end}")
        if self.num_timesteps < 2:
            raise ValueError(f"num_timesteps must be >= 2, got {self.num_timesteps}")

    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t for t = 0 … T−1, shape ``(T,)``, float64."""
        betas = torch.linspace(self.beta_start, self.beta_end, self.num_timesteps,
                               dtype=torch.float64)
        return torch.cumprod(1.0 - betas, dim=0)

    def timesteps(self, steps: int, start: int | None = None) -> list[int]:
        """``steps`` equally spaced timesteps, descending to 0 (DDIM's "uniform" subset);
        with ``start`` (a warm start), only those at or below it.

        With T = 1000: 50 steps → 980, 960, …, 0; 200 steps → 995, 990, …, 0; 50 steps from
        ``start=500`` → 500, 480, …, 0 (26 steps).
        """
        if not 1 <= steps <= self.num_timesteps:
            raise ValueError(f"steps must be in [1, {self.num_timesteps}], got {steps}")
        stride = self.num_timesteps // steps
        grid = [stride * i for i in reversed(range(steps))]
        if start is None:
            return grid
        kept = [t for t in grid if t <= start]
        if not kept:
            raise ValueError(f"start_timestep {start} is below every sampling timestep")
        return kept

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VPSchedule":
        return cls(**{k: d[k] for k in ("beta_start", "beta_end", "num_timesteps")})


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alpha_bar) -> torch.Tensor:
    """Forward process: ``x_t = √ᾱ x0 + √(1−ᾱ) ε`` (ᾱ a float or broadcastable tensor)."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=x0.dtype, device=x0.device)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def tweedie_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """Posterior mean E[x0 | x_t] from predicted noise: ``(x_t − √(1−ᾱ) ε̂) / √ᾱ``."""
    return (x_t - (1 - alpha_bar) ** 0.5 * eps) / alpha_bar ** 0.5


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, alpha_bar_next: float, eta: float,
              noise: torch.Tensor) -> torch.Tensor:
    """Re-noise a (data-consistent) x̂0 to the next, lower noise level.

    ``x_next = √ᾱ' x̂0 + √(1−ᾱ') (η z + √(1−η²) ε̂)`` with ``z`` = ``noise`` ~ N(0, I): η = 0
    is deterministic DDIM, η = 1 replaces the predicted noise by fresh noise. This is the
    update of DDS and DiffusionBlend++ (η = 0.85 there); ε̂ is the network's prediction, not
    recomputed from the data-consistent x̂0.
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    direction = eta * noise + (1 - eta ** 2) ** 0.5 * eps
    return alpha_bar_next ** 0.5 * x0 + (1 - alpha_bar_next) ** 0.5 * direction


def slice_correlated_noise(shape, correlation: float, *, generator: torch.Generator,
                           device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise of ``shape`` ``(Z, …)`` correlated along the first axis.

    A stationary AR(1) sequence over the slices, ``z_0 = w_0``,
    ``z_k = ρ z_{k−1} + √(1−ρ²) w_k`` with ``w`` i.i.d. N(0, 1): every voxel has unit
    variance and neighbouring slices have correlation ``ρ`` (``ρ^d`` at distance ``d``).
    ``correlation = 0`` is plain i.i.d. noise (the same draws as ``torch.randn``).
    """
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"correlation must be in [0, 1), got {correlation}")
    noise = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if correlation == 0.0:
        return noise
    innovation = (1.0 - correlation ** 2) ** 0.5
    for k in range(1, noise.shape[0]):
        noise[k] = correlation * noise[k - 1] + innovation * noise[k]
    return noise


ISCS_STRIDE = 16
"""Points of ISCS's interpolation grid per slice: its ``re_noising`` lays ``16 Z`` points on
the arc and gives the slices every 16th."""


def iscs_positions(slices: int) -> torch.Tensor:
    """Where each of ``Z = slices`` slices sits on ISCS's arc: ``α_k ∈ (0, 1)``, ``(Z,)`` float64.

    The grid of the authors' code: ``16 Z`` interior points ``(i + 1) / (16 Z + 1)`` of [0, 1],
    ``i = 0 … 16 Z − 1``; the slices take every 16th point outwards from the middle one
    (``i = 8 Z``), so neighbouring slices are ``16 / (16 Z + 1) ≈ 1/Z`` apart and the stack
    spans almost the whole arc, whatever ``Z``.
    """
    if slices < 1:
        raise ValueError(f"slices must be >= 1, got {slices}")
    first = ISCS_STRIDE // 2 * (slices % 2)          # odd Z: the middle point is a slice's
    index = first + ISCS_STRIDE * torch.arange(slices, dtype=torch.float64)
    return (index + 1) / (ISCS_STRIDE * slices + 1)


def iscs_noise(shape, *, generator: torch.Generator, device=None,
               dtype=torch.float32) -> torch.Tensor:
    """ISCS's noise (Du et al., ICLR 2026) of ``shape`` ``(Z, …)``, consistent across slices.

    Two standard normal slices ``a``, ``b`` (shape ``shape[1:]``) are drawn afresh for the whole
    volume, and slice ``k`` is their spherical interpolation at ``α_k`` (:func:`iscs_positions`):

        z_k = (sin((1 − α_k) θ) a + sin(α_k θ) b) / sin θ,   cos θ = ⟨a, b⟩ / (‖a‖ ‖b‖).

    Every slice is N(0, I) up to O(1/(Y·X)) (slerp keeps the norm between ‖a‖ and ‖b‖, and
    ``θ ≈ π/2`` for large slices); slices ``k`` and ``l`` have correlation
    ≈ cos(π/2 · |α_k − α_l|): ≈ cos(π/(2Z)) for neighbours, ≈ 0.1 between the first and the
    last at ``Z = 16``; all ``Z`` slices lie in the plane of ``a`` and ``b`` (rank 2).
    """
    slices = shape[0]
    a, b = torch.randn((2, *shape[1:]), generator=generator, device=device,
                       dtype=dtype).reshape(2, -1)
    cos = float(torch.dot(a, b) / (a.norm() * b.norm()))
    theta = math.acos(min(max(cos, -1 + 1e-7), 1 - 1e-7))     # the authors' clamp
    alpha = iscs_positions(slices)
    weights = torch.stack([torch.sin((1 - alpha) * theta), torch.sin(alpha * theta)], dim=1)
    weights = (weights / math.sin(theta)).to(device=a.device, dtype=dtype)
    return (weights @ torch.stack([a, b])).reshape(shape)
