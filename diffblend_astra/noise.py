"""Measurement noise models for simulated projections (line integrals, ASTRA order)."""

from __future__ import annotations

import torch


def add_poisson_noise(y: torch.Tensor, photons: float, generator: torch.Generator):
    """Beer–Lambert counts ``N ~ Poisson(I0 · exp(−y))`` turned back into line integrals
    ``−log(max(N, 1) / I0)``. ``photons`` is the incident count ``I0`` per ray."""
    if photons <= 0:
        raise ValueError(f"photons must be > 0, got {photons}")
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
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    return y + sigma * torch.randn(y.shape, generator=generator)
