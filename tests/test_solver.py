import pytest
import torch

from diffblend_astra.priors import BlendPrior, ConditionalPrior, SlicePrior
from diffblend_astra.solver import DiffusionBlendSolver
from helpers_operators import random_operator
from oracle import OracleNetwork, RecordingNetwork

SHAPE = (9, 6, 6)


def truth(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(SHAPE, generator=g)


def underdetermined(seed=1):
    """A random operator with half as many measurements as unknowns."""
    n = SHAPE[0] * SHAPE[1] * SHAPE[2]
    return random_operator(SHAPE, (n // 2,), seed=seed)


@pytest.mark.parametrize("prior_class, channels", [(BlendPrior, 3), (ConditionalPrior, 1),
                                                   (SlicePrior, 1)])
def test_oracle_network_recovers_the_truth(prior_class, channels):
    x = truth()
    net_truth = x * 2 - 1  # network units with the default window [0, 1]
    in_channels = 1 if prior_class is SlicePrior else 3
    oracle = OracleNetwork(net_truth, out_channels=channels if in_channels == 3 else 1)
    op = underdetermined()
    solver = DiffusionBlendSolver(op, prior_class(oracle), steps=20, cg_iters=3)
    recon = solver.reconstruct(op(x), seed=0, progress=False)
    assert recon.shape == SHAPE and recon.dtype == torch.float32
    assert torch.allclose(recon, x, atol=1e-3), (recon - x).abs().max()


def test_zero_noise_prior_with_full_data_approaches_least_squares():
    class ZeroNoise:
        def __call__(self, x, t, spacing):
            return torch.zeros_like(x)

    n = SHAPE[0] * SHAPE[1] * SHAPE[2]
    op = random_operator(SHAPE, (3 * n,), seed=2)
    x = truth()
    y = op(x) + 0.01 * torch.randn(3 * n, generator=torch.Generator().manual_seed(3))
    least_squares = torch.linalg.lstsq(op.matrix, y[:, None]).solution.reshape(SHAPE)
    solver = DiffusionBlendSolver(op, BlendPrior(ZeroNoise()), steps=5, cg_iters=30)
    recon = solver.reconstruct(y, seed=0, progress=False)
    assert torch.allclose(recon, least_squares, atol=1e-3)


def noisy_prior():
    return BlendPrior(RecordingNetwork())


def test_same_seed_same_output_and_different_seeds_differ():
    op = underdetermined()
    y = op(truth())
    solver = DiffusionBlendSolver(op, noisy_prior(), steps=4, cg_iters=2)
    a = solver.reconstruct(y, seed=7, progress=False)
    b = solver.reconstruct(y, seed=7, progress=False)
    c = solver.reconstruct(y, seed=8, progress=False)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_samples_give_mean_and_uncertainty_where_the_data_are_ambiguous():
    op = underdetermined()
    y = op(truth())
    solver = DiffusionBlendSolver(op, noisy_prior(), steps=4, cg_iters=2)
    mean, std = solver.reconstruct(y, seed=0, samples=3, progress=False)
    assert mean.shape == std.shape == SHAPE
    assert std.mean() > 1e-3
    # the spread lives in the null space: the samples agree on the measured part
    assert (op(mean) - y).norm() < (op(mean + std) - y).norm()


def test_callback_sees_every_step():
    op = underdetermined()
    seen = []
    DiffusionBlendSolver(op, noisy_prior(), steps=3, cg_iters=1).reconstruct(
        op(truth()), seed=0, progress=False, callback=lambda step, x0: seen.append((step, x0.shape)))
    assert seen == [(0, SHAPE), (1, SHAPE), (2, SHAPE)]


def test_tv_z_variant_flattens_z():
    from diffblend_astra.metrics import tv_z
    op = underdetermined()
    y = op(truth())
    plain = DiffusionBlendSolver(op, SlicePrior(RecordingNetwork(1)), steps=6, cg_iters=3)
    with_tv = DiffusionBlendSolver(op, SlicePrior(RecordingNetwork(1)), steps=6, cg_iters=3,
                                   tv_z=(1.0, 0.5))
    assert tv_z(with_tv.reconstruct(y, seed=0, progress=False)) < tv_z(
        plain.reconstruct(y, seed=0, progress=False))


def test_weighted_data_term_ignores_zero_weight_rays():
    op = underdetermined()
    y = op(truth())
    weights = torch.ones_like(y)
    corrupt = y.clone()
    corrupt[:10] += 100.0
    weights[:10] = 0.0
    solver = DiffusionBlendSolver(op, noisy_prior(), steps=3, cg_iters=5, weights=weights)
    clean = DiffusionBlendSolver(op, noisy_prior(), steps=3, cg_iters=5, weights=weights)
    assert torch.allclose(solver.reconstruct(corrupt, seed=0, progress=False),
                          clean.reconstruct(y, seed=0, progress=False), atol=1e-4)


def test_bad_input_is_refused_before_any_work():
    op = underdetermined()
    net = RecordingNetwork()
    solver = DiffusionBlendSolver(op, BlendPrior(net), steps=2)
    with pytest.raises(ValueError, match=r"shape \(162,\) \(the operator.s range"):
        solver.reconstruct(torch.zeros(5), progress=False)
    y = op(truth())
    y[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        solver.reconstruct(y, progress=False)
    assert net.calls == []
    with pytest.raises(ValueError, match="steps"):
        DiffusionBlendSolver(op, BlendPrior(net), steps=0)


def test_prior_by_name_and_sampling_options():
    from diffblend_astra.precision import PRECISIONS

    op = random_operator((4, 64, 64), (40,), seed=2)
    solver = DiffusionBlendSolver(op, "blend", steps=2, noise_correlation=0.5,
                                  precision="fp32")
    assert isinstance(solver.prior, BlendPrior)
    x = solver.reconstruct(torch.zeros(40), seed=0, progress=False)
    assert x.shape == (4, 64, 64) and torch.isfinite(x).all()
    assert "auto" in PRECISIONS
    with pytest.raises(ValueError, match="noise_correlation"):
        DiffusionBlendSolver(op, "blend", noise_correlation=1.0)
    with pytest.raises(ValueError, match="precision"):
        DiffusionBlendSolver(op, "blend", precision="fp16")


def test_correlated_noise_changes_the_sample_and_zero_is_the_default():
    x = truth()
    op = underdetermined()
    prior = BlendPrior(RecordingNetwork())
    runs = {rho: DiffusionBlendSolver(op, prior, steps=4, noise_correlation=rho, precision="fp32")
            .reconstruct(op(x), seed=0, progress=False) for rho in (0.0, 0.8)}
    default = DiffusionBlendSolver(op, prior, steps=4, precision="fp32").reconstruct(
        op(x), seed=0, progress=False)
    assert torch.equal(default, runs[0.0]) and not torch.equal(runs[0.0], runs[0.8])


def test_progress_bar_reaches_the_last_step(capsys):
    x = truth()
    op = underdetermined()
    DiffusionBlendSolver(op, BlendPrior(RecordingNetwork()), steps=4).reconstruct(op(x), seed=0)
    err = capsys.readouterr().err
    assert "diffusion steps" in err and "4/4" in err


class ZeroNoiseRecorder:
    """ε̂ = 0, recording the network's input ``x_t`` ``(B, Y, X)`` of every call."""

    def __init__(self):
        self.inputs = []

    def __call__(self, x, t, spacing):
        self.inputs.append(x[:, 0].clone())
        return torch.zeros_like(x)


def sampler_noise(*, iscs, warm_start):
    """The fresh noise of the sampler's first re-noising, and of its warm start (``None``
    without one), ``(Z, Y·X)`` each, recovered from the network's inputs: with ε̂ = 0, no data
    step, no clamp and η = 1, ``x_{t'} = √(ᾱ_{t'}/ᾱ_t) x_t + √(1−ᾱ_{t'}) z``."""
    shape = (9, 16, 16)
    net = ZeroNoiseRecorder()
    prior = SlicePrior(net)
    op = random_operator(shape, (50,), seed=3)
    solver = DiffusionBlendSolver(op, prior, steps=4, cg_iters=0, eta=1.0, clip_x0=None,
                                  iscs=iscs, start_timestep=500, precision="fp32")
    x_init = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    solver.reconstruct(torch.zeros(50), x_init=x_init if warm_start else None, seed=0,
                       progress=False)
    timesteps = prior.schedule.timesteps(4, 500 if warm_start else None)
    a_t, a_next = (solver.alpha_bar[t] for t in timesteps[:2])
    x_t, x_next = net.inputs[0], net.inputs[1]
    renoise = (x_next - (a_next / a_t) ** 0.5 * x_t) / (1 - a_next) ** 0.5
    start = None
    if warm_start:
        start = (x_t - a_t ** 0.5 * prior.window.to_network(x_init)) / (1 - a_t) ** 0.5
    return renoise.flatten(1), None if start is None else start.flatten(1)


def rank_ratio(noise):
    """Third singular value over the first: ≈ 0 for noise in the plane of two draws."""
    singular = torch.linalg.svdvals(noise)
    return float(singular[2] / singular[0])


def test_iscs_draws_the_renoising_and_warm_start_noise_and_only_with_the_option():
    for warm_start in (False, True):
        renoise, start = sampler_noise(iscs=True, warm_start=warm_start)
        assert rank_ratio(renoise) < 1e-3
        assert float(renoise.var()) == pytest.approx(1, abs=0.2)
        if warm_start:
            assert rank_ratio(start) < 1e-3 and rank_ratio(torch.cat([start, renoise])) > 0.1
    renoise, start = sampler_noise(iscs=False, warm_start=True)
    assert rank_ratio(renoise) > 0.1 and rank_ratio(start) > 0.1


def test_iscs_is_refused_with_noise_correlation_and_off_by_default():
    op = underdetermined()
    with pytest.raises(ValueError, match=r"^iscs=True .* expected noise_correlation=0 with it, "
                                         r"got 0.5$"):
        DiffusionBlendSolver(op, noisy_prior(), iscs=True, noise_correlation=0.5)
    with pytest.raises(TypeError, match="iscs must be True or False"):
        DiffusionBlendSolver(op, noisy_prior(), iscs="yes")
    y = op(truth())
    default, plain, iscs = (DiffusionBlendSolver(op, noisy_prior(), steps=4, precision="fp32",
                                                 **options).reconstruct(y, seed=0, progress=False)
                            for options in ({}, {"iscs": False}, {"iscs": True}))
    assert torch.equal(default, plain) and not torch.allclose(plain, iscs)
