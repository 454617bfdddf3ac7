import pytest
import torch

from diffblend_astra.diffusion import VPSchedule, add_noise, ddim_step, tweedie_x0


def test_schedule_matches_ddpm_linear_betas():
    ab = VPSchedule().alphas_cumprod()
    assert ab.shape == (1000,)
    assert ab[0].item() == pytest.approx(1 - 1e-4)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    assert ab[-1].item() == pytest.approx(torch.prod(1 - betas).item())
    assert torch.all(ab[1:] < ab[:-1])


def test_timesteps_are_the_ddim_uniform_subset():
    s = VPSchedule()
    assert s.timesteps(50)[:3] == [980, 960, 940] and s.timesteps(50)[-1] == 0
    assert s.timesteps(200)[:2] == [995, 990] and len(s.timesteps(200)) == 200
    assert s.timesteps(50, start=500)[:2] == [500, 480] and len(s.timesteps(50, 500)) == 26
    with pytest.raises(ValueError, match="below every sampling timestep"):
        s.timesteps(50, start=-1)
    with pytest.raises(ValueError, match="steps"):
        s.timesteps(0)


def test_tweedie_inverts_the_forward_process_with_the_true_noise():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 8, 8, generator=g), torch.randn(3, 8, 8, generator=g)
    a = 0.3
    assert torch.allclose(tweedie_x0(add_noise(x0, eps, a), eps, a), x0, atol=1e-5)


def test_ddim_step_limits():
    g = torch.Generator().manual_seed(0)
    x0, eps, z = (torch.randn(4, 4, generator=g) for _ in range(3))
    # η = 0: deterministic DDIM, the predicted noise is kept
    assert torch.allclose(ddim_step(x0, eps, 0.5, 0.0, z), add_noise(x0, eps, 0.5))
    # η = 1: fresh noise replaces the prediction
    assert torch.allclose(ddim_step(x0, eps, 0.5, 1.0, z), add_noise(x0, z, 0.5))
    with pytest.raises(ValueError, match="eta"):
        ddim_step(x0, eps, 0.5, 1.5, z)


def test_schedule_validation_and_round_trip():
    with pytest.raises(ValueError):
        VPSchedule(beta_start=0.1, beta_end=0.01)
    s = VPSchedule(beta_end=0.03, num_timesteps=500)
    assert VPSchedule.from_dict(s.to_dict()) == s


def test_slice_correlated_noise_has_unit_variance_and_the_requested_correlation():
    from diffblend_astra.diffusion import slice_correlated_noise

    g = torch.Generator().manual_seed(0)
    z = slice_correlated_noise((64, 64, 64), 0.6, generator=g)
    assert abs(float(z.var()) - 1) < 0.03
    assert float(z.var(dim=(1, 2)).min()) > 0.85               # every slice, not on average
    neighbours = float((z[1:] * z[:-1]).mean())
    two_apart = float((z[2:] * z[:-2]).mean())
    assert abs(neighbours - 0.6) < 0.02 and abs(two_apart - 0.36) < 0.02
    plain = slice_correlated_noise((4, 5), 0.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(plain, torch.randn((4, 5), generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="correlation"):
        slice_correlated_noise((4, 5), 1.0, generator=g)


def test_iscs_positions_are_the_authors_grid():
    """Every 16th of 16 Z interior points of [0, 1], outwards from the middle one."""
    from diffblend_astra.diffusion import iscs_positions

    for slices, expected in ((1, [9 / 17]), (2, [1 / 33, 17 / 33]),
                             (3, [9 / 49, 25 / 49, 41 / 49])):
        assert torch.allclose(iscs_positions(slices), torch.tensor(expected, dtype=torch.float64))
    gaps = iscs_positions(16).diff()
    assert torch.allclose(gaps, torch.full_like(gaps, 16 / 257))
    with pytest.raises(ValueError, match="slices"):
        iscs_positions(0)


def noise_statistics(draws):
    """Per-slice variance ``(Z,)``, per-voxel variance ``(Z, V)``, the slice correlation matrix
    ``(Z, Z)`` and the worst third-to-first singular value ratio of ``draws`` ``(N, Z, V)``."""
    variance = draws.pow(2).mean(dim=(0, 2))
    voxel_variance = draws.pow(2).mean(dim=0)
    correlation = torch.einsum("nkv,nlv->kl", draws, draws) / (draws.shape[0] * draws.shape[2])
    singular = torch.linalg.svdvals(draws)
    return variance, voxel_variance, correlation, float((singular[:, 2] / singular[:, 0]).max())


def iscs_structure(slices):
    """The correlation ISCS's rule implies between slices: cos(π/2 · |α_k − α_l|)."""
    from diffblend_astra.diffusion import iscs_positions

    alpha = iscs_positions(slices).float()
    return torch.cos(torch.pi / 2 * (alpha[:, None] - alpha[None, :]).abs())


@pytest.mark.parametrize("slices", [8, 9])
def test_iscs_noise_is_standard_normal_per_slice_with_the_slerp_structure_across_slices(slices):
    from diffblend_astra.diffusion import iscs_noise, slice_correlated_noise

    g = torch.Generator().manual_seed(0)
    shape = (slices, 16, 16)
    draws = torch.stack([iscs_noise(shape, generator=g) for _ in range(2000)]).flatten(2)
    assert draws.dtype == torch.float32 and torch.isfinite(draws).all()
    variance, voxel_variance, correlation, rank_ratio = noise_statistics(draws)
    assert float(draws.mean()) == pytest.approx(0, abs=0.01)
    assert torch.allclose(variance, torch.ones(slices), atol=0.01)       # every slice N(0, 1)
    assert float((voxel_variance - 1).abs().max()) < 0.2                 # every voxel too
    kurtosis = draws.pow(4).mean() / draws.pow(2).mean() ** 2
    assert float(kurtosis) == pytest.approx(3, abs=0.05)                 # Gaussian, not uniform
    assert float((correlation - iscs_structure(slices)).abs().max()) < 0.01
    assert rank_ratio < 1e-5                             # all slices in the plane of two draws
    # fresh endpoints on every call: consecutive draws are independent
    assert float((draws[1:] * draws[:-1]).mean()) == pytest.approx(0, abs=0.01)
    # the same statistics reject AR(1) noise with ISCS's neighbour correlation, and i.i.d. noise
    rho = float(iscs_structure(slices)[0, 1])
    for other in (0.0, rho):
        ar1 = torch.stack([slice_correlated_noise(shape, other, generator=g)
                           for _ in range(200)]).flatten(2)
        _, _, ar1_correlation, ar1_rank_ratio = noise_statistics(ar1)
        assert float((ar1_correlation - iscs_structure(slices)).abs().max()) > 0.3
        assert ar1_rank_ratio > 1e-2


def test_iscs_noise_follows_the_generator():
    from diffblend_astra.diffusion import iscs_noise

    a, b = (iscs_noise((5, 16, 16), generator=torch.Generator().manual_seed(4)) for _ in range(2))
    c = iscs_noise((5, 16, 16), generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.allclose(a, c)
