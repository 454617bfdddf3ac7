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
