import math

import pytest
import torch

from diffblend_astra.noise import POISSON_MAX_RATE, add_gaussian_noise, add_poisson_noise


def test_poisson_noise_is_unbiased_at_high_counts_and_refuses_what_it_cannot_sample():
    y = torch.full((1000,), 2.0)
    noisy = add_poisson_noise(y, 1e6, torch.Generator().manual_seed(0))
    assert abs(float(noisy.mean()) - 2.0) < 1e-3
    for photons in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite number > 0"):
            add_poisson_noise(y, photons, torch.Generator())
    with pytest.raises(ValueError, match="Poisson sampler's range"):
        add_poisson_noise(torch.zeros(3), 2 * POISSON_MAX_RATE, torch.Generator())
    with pytest.raises(ValueError, match="Poisson sampler's range"):   # exp(-y) > 1 too
        add_poisson_noise(torch.full((3,), -5.0), POISSON_MAX_RATE / 10, torch.Generator())


def test_gaussian_noise_refuses_non_finite_sigma():
    y = torch.zeros(4)
    assert torch.equal(add_gaussian_noise(y, 0.0, torch.Generator()), y)
    for sigma in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="sigma"):
            add_gaussian_noise(y, sigma, torch.Generator())
