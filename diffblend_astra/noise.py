"""Measurement noise models for simulated projections (line integrals, ASTRA order)."""

from __future__ import annotations

import math

import torch


POISSON_MAX_RATE = 9.223372006484771e18
"""The largest expected count the Poisson sampler handles: ``torch.poisson`` draws int64
counts (rates near 2⁶³ ≈ 9.22e18 wrap to negative numbers) and NumPy refuses larger ``lam``
(this value is NumPy's bound, 2⁶³ less ten standard deviations)."""


def add_poisson_noise(y: torch.Tensor, photons: float, generator: torch.Generator):
    """Beer–Lambert counts ``N ~ Poisson(I0 · exp(−y))`` turned back into line integrals
    ``−log(max(N, 1) / I0)``. ``photons`` is the incident count ``I0`` per ray; the largest
    expected count ``I0 · exp(−min y)`` must stay within :data:`POISSON_MAX_RATE`."""
    if not (math.isfinite(photons) and photons > 0):
        raise ValueError(f"photons must be a finite number > 0, got {photons}")
    largest = photons * math.exp(-float(y.min()))
    if not largest <= POISSON_MAX_RATE:
        raise ValueError(f"the largest expected count {largest:.4g} (photons x exp(-min y)) is "
                         f"past the Poisson sampler's range ({POISSON_MAX_RATE:.4g} counts "
                         f"per ray)")
    counts = torch.poisson(photons * torch.exp(-y), generator=generator)
    return -torch.log(counts.clamp(min=1.0) / photons)


def poisson_weights(y: torch.Tensor, photons: float) -> torch.Tensor:
    """Per-ray weights of the weighted least-squares data term for Poisson data: the
    expected counts ``I0 · exp(−y)`` (inverse variance of the log-transformed data),
    normalised to mean 1."""
    w = photons * torch.exp(-y)
    return w / w.mean()


def add_gaussian_noise(y: torch.Tensor, sigma: float, generator: torch.Generator):
    """``y + σ · N(0, I)``."""
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma}")
    return y + sigma * torch.randn(y.shape, generator=generator)
