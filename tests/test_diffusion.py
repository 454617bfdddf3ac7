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
