import math

import pytest
import torch

from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.mbir import MbirSolver, VeScore, ve_sigmas
from diffblend_astra.priors import SlicePrior
from helpers_operators import random_operator
from oracle import OracleNetwork, RecordingNetwork

SHAPE = (9, 6, 6)


def truth(seed=0):
    return torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed))


def underdetermined(seed=1):
    n = math.prod(SHAPE)
    return random_operator(SHAPE, (n // 2,), seed=seed)


def test_ve_sigmas_are_geometric_between_the_ends():
    s = ve_sigmas(5, 0.01, 100.0)
    assert s[0] == pytest.approx(100.0) and s[-1] == pytest.approx(0.01)
    ratios = s[1:] / s[:-1]
    assert torch.allclose(ratios, torch.full_like(ratios, 0.1))
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        ve_sigmas(5, 1.0, 0.5)


def test_ve_score_is_exact_tweedie_on_the_vp_levels():
    """At σ = σ_t of a VP level, x + σ² s(x, σ) is the clean volume the oracle knows."""
    x0 = truth() * 2 - 1
    score = VeScore(SlicePrior(OracleNetwork(x0, out_channels=1)))
    alpha_bar = VPSchedule().alphas_cumprod()
    g = torch.Generator().manual_seed(0)
    for t in (0, 10, 50):   # low noise: the oracle finds the right slice
        sigma = math.sqrt((1 - alpha_bar[t]) / alpha_bar[t])
        assert score.timestep(sigma) == t
        x = x0 + sigma * torch.randn(SHAPE, generator=g)
        denoised = x + sigma ** 2 * score(x, sigma, 0, g)
        assert torch.allclose(denoised, x0, atol=1e-4), (t, (denoised - x0).abs().max())


def test_ve_score_feeds_the_vp_network_the_scaled_sample():
    net = RecordingNetwork(out_channels=1)
    score = VeScore(SlicePrior(net))
    x, sigma = truth(), 3.0
    s = score(x, sigma, 0, torch.Generator())
    x_vp, t, _ = net.calls[0]
    assert torch.allclose(x_vp[:, 0], x / math.sqrt(1 + sigma ** 2))
    assert set(t.tolist()) == {score.timestep(sigma)}
    assert torch.allclose(s, -0.5 * x_vp[:, 0] / sigma)       # −ε̂/σ with ε̂ = 0.5 x_vp
    assert score.timestep(1e4) == 999 and score.timestep(0.01) == 0


def test_pc_sampler_with_an_oracle_score_returns_the_truth():
    x = truth()
    op = underdetermined()
    prior = SlicePrior(OracleNetwork(x * 2 - 1, out_channels=1))
    steps = []
    solver = MbirSolver(op, prior, steps=60)
    recon = solver.reconstruct(op(x), seed=0, progress=False,
                               callback=lambda i, v: steps.append(i))
    assert recon.shape == SHAPE and recon.dtype == torch.float32
    assert steps == list(range(60))
    assert torch.allclose(recon, x, atol=2e-3), (recon - x).abs().max()


def test_a_wrong_score_sign_does_not_recover_the_truth():
    """The oracle test can fail: the same sampler with the score's sign flipped diverges."""
    x = truth()
    op = underdetermined()

    class Flipped(OracleNetwork):
        def __call__(self, x_t, t, spacing):
            return -super().__call__(x_t, t, spacing)

    solver = MbirSolver(op, SlicePrior(Flipped(x * 2 - 1, out_channels=1)), steps=20)
    recon = solver.reconstruct(op(x), seed=0, progress=False)
    assert not torch.allclose(recon, x, atol=0.1)


def test_seeded_runs_repeat_and_inputs_are_checked():
    op = underdetermined()
    y = op(truth())
    solver = MbirSolver(op, SlicePrior(RecordingNetwork(out_channels=1)), steps=3)
    a = solver.reconstruct(y, seed=3, progress=False)
    assert torch.equal(a, solver.reconstruct(y, seed=3, progress=False))
    assert not torch.equal(a, solver.reconstruct(y, seed=4, progress=False))
    with pytest.raises(ValueError, match="range shape"):
        solver.reconstruct(y[:-1], seed=0, progress=False)
    with pytest.raises(ValueError, match="snr"):
        MbirSolver(op, SlicePrior(RecordingNetwork(out_channels=1)), snr=0.0)
    with pytest.raises(ValueError, match="steps"):
        MbirSolver(op, SlicePrior(RecordingNetwork(out_channels=1)), steps=0)
