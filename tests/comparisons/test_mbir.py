import math

import pytest
import torch

from diffblend_astra.checkpoint import save_checkpoint
from diffblend_astra.comparisons.mbir import MBIR_TV_Z, MbirSolver, VeScore, ve_sigmas
from diffblend_astra.comparisons.registry import EXTRA_METHODS
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig
from diffblend_astra.normalization import IntensityWindow
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


class TruthPrior:
    """The oracle of ``tests/oracle.py`` adapted to the VE sampler: it knows the whole clean
    volume ``x0`` (network units), so through :class:`VeScore` its score is ``(x0 − x)/σ²``
    (exact on the VP levels, and at σ_min = 0.01 = σ at t = 0)."""

    schedule = VPSchedule()
    window = IntensityWindow(0.0, 1.0)

    def __init__(self, x0, sign=1.0):
        self.x0, self.sign = x0, sign
        self.alpha_bar = self.schedule.alphas_cumprod().to(torch.float32)

    def check_volume_shape(self, shape):
        assert tuple(shape) == tuple(self.x0.shape)

    def predict_noise(self, x_t, t, step, generator):
        a = self.alpha_bar[t]
        return self.sign * (x_t - a.sqrt() * self.x0) / (1 - a).sqrt()


def test_pc_sampler_with_an_oracle_score_returns_the_truth():
    x = truth()
    op = underdetermined()
    steps = []
    solver = MbirSolver(op, TruthPrior(x * 2 - 1), steps=20, rho=0.0)
    recon = solver.reconstruct(op(x), seed=0, progress=False,
                               callback=lambda i, v: steps.append(i))
    assert recon.shape == SHAPE and recon.dtype == torch.float32
    assert steps == list(range(20))
    assert torch.allclose(recon, x, atol=1e-4), (recon - x).abs().max()


def test_tv_z_step_biases_the_oracle_result_by_at_most_its_threshold():
    """With TV-z on (default ρ, λ), the shared z, u shrink z-differences by up to λ/ρ."""
    x = truth()
    op = underdetermined()
    recon = MbirSolver(op, TruthPrior(x * 2 - 1), steps=20).reconstruct(op(x), seed=0,
                                                                         progress=False)
    rho, lam = MBIR_TV_Z
    error = (recon - x).abs().max()
    assert 1e-4 < error < lam / rho


def test_the_oracle_test_can_fail():
    """The same sampler with the score's sign flipped does not recover the truth."""
    x = truth()
    op = underdetermined()
    solver = MbirSolver(op, TruthPrior(x * 2 - 1, sign=-1.0), steps=20, rho=0.0)
    recon = solver.reconstruct(op(x), seed=0, progress=False)
    assert not torch.allclose(recon, x, atol=0.1)


def test_data_step_pulls_towards_the_measurement():
    """A prior that knows another volume: the ADMM step moves the result towards the data."""
    x, other = truth(), truth(seed=5)
    op = underdetermined()
    y = op(x)
    recon = MbirSolver(op, TruthPrior(other * 2 - 1), steps=20).reconstruct(y, seed=0,
                                                                            progress=False)
    assert (op(recon) - y).norm() < 0.5 * (op(other) - y).norm()


def test_two_network_evaluations_per_step_at_the_same_noise_level():
    net = RecordingNetwork(out_channels=1)
    op = underdetermined()
    MbirSolver(op, SlicePrior(net, max_batch=100), steps=4).reconstruct(op(truth()), seed=0,
                                                                        progress=False)
    timesteps = [int(t[0]) for _, t, _ in net.calls]
    assert len(timesteps) == 8
    assert timesteps[0::2] == timesteps[1::2]                     # corrector, predictor
    assert timesteps == sorted(timesteps, reverse=True) and timesteps[-1] == 0


def test_seeded_runs_repeat_and_inputs_are_checked():
    op = underdetermined()
    y = op(truth())
    solver = MbirSolver(op, SlicePrior(RecordingNetwork(out_channels=1)), steps=3)
    a = solver.reconstruct(y, seed=3, progress=False)
    assert torch.equal(a, solver.reconstruct(y, seed=3, progress=False))
    assert not torch.equal(a, solver.reconstruct(y, seed=4, progress=False))
    with pytest.raises(ValueError, match="operator.s range"):
        solver.reconstruct(y[:-1], seed=0, progress=False)
    with pytest.raises(ValueError, match="snr"):
        MbirSolver(op, SlicePrior(RecordingNetwork(out_channels=1)), snr=0.0)
    with pytest.raises(ValueError, match="steps"):
        MbirSolver(op, SlicePrior(RecordingNetwork(out_channels=1)), steps=0)


def test_registry_entry_runs_with_a_slice_checkpoint(tmp_path):
    config = NetworkConfig(sample_size=8, in_channels=1, out_channels=1,
                           block_out_channels=(8, 8), layers_per_block=1, attention_levels=(),
                           norm_num_groups=4, spacing_embedding=False)
    path = save_checkpoint(tmp_path / "slice.safetensors", EpsilonNetwork(config),
                           kind="slice", schedule=VPSchedule(),
                           window=IntensityWindow(0.0, 1.0))
    shape = (3, 8, 8)
    op = random_operator(shape, (math.prod(shape) // 2,), seed=1)
    x = EXTRA_METHODS["mbir"](op, op(torch.rand(shape)), checkpoint=path, steps=2, seed=0,
                              device="cpu", progress=False)
    assert x.shape == shape and torch.isfinite(x).all()


class NoData:
    """A zero operator: the data step leaves the sample as it is (CG has nothing to do)."""

    domain_shape, range_shape = (4, 16, 16), (1,)

    def __call__(self, x):
        return x.new_zeros(1)

    def T(self, y):
        return y.new_zeros(self.domain_shape)


@pytest.mark.parametrize("predictor, lands_on_sigma", [("ancestral", True),
                                                        ("reverse-diffusion", False)])
def test_ancestral_steps_land_on_the_next_noise_level(predictor, lands_on_sigma):
    """With an exact score and 10 coarse steps, the sample's noise after step i should be
    σ_{i+1}: the ancestral predictor hits it, reverse diffusion overshoots (module docstring)."""
    op = NoData()
    x0 = torch.rand(op.domain_shape, generator=torch.Generator().manual_seed(0))
    solver = MbirSolver(op, TruthPrior(x0 * 2 - 1), steps=10, predictor=predictor, rho=0.0,
                        sigma_max=10.0)
    ratios = []

    def noise_over_sigma(i, x):                      # noise in network units (window [0, 1])
        if i < 9:
            ratios.append(float((2 * (x - x0)).std() / solver.sigmas[i + 1]))

    solver.reconstruct(torch.zeros(1), seed=0, progress=False, callback=noise_over_sigma)
    assert all(abs(r - 1) < 0.1 for r in ratios) == lands_on_sigma, ratios
    with pytest.raises(ValueError, match="predictor must be one of"):
        MbirSolver(op, TruthPrior(x0), predictor="euler")
