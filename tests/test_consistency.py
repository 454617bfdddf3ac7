import pytest
import torch

from diffblend_astra.cg import conjugate_gradient
from diffblend_astra.consistency import AdmmTvZ, CgStep, data_consistency
from diffblend_astra.operators.base import operator_norm
from diffblend_astra.tv import diff_z
from helpers_operators import MatrixOperatorWithNorm, random_operator


def _tv_z(x):
    return diff_z(x).abs().sum().item()


def test_operator_norm_power_iteration_and_norm_estimate():
    op = random_operator((3, 4, 5), (40,), seed=5)
    exact = torch.linalg.matrix_norm(op.matrix.double(), ord=2).item()
    estimate = operator_norm(op, iters=100, generator=torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(exact, rel=1e-3)
    with_norm = MatrixOperatorWithNorm(op.matrix * 3, op.domain_shape, op.range_shape)
    assert operator_norm(with_norm, iters=0) == pytest.approx(3 * exact, rel=1e-5)


def _underdetermined_problem():
    """A (6, 3, 3) volume, constant in blocks along Z, seen through 27 random rays."""
    op = random_operator((6, 3, 3), (27,), seed=7)
    truth = torch.zeros(6, 3, 3)
    truth[:3], truth[3:, 1:, :] = 1.0, 0.4
    return op, truth, op(truth)


def test_admm_tv_z_with_rho_zero_is_weighted_cg():
    op, _, y = _underdetermined_problem()
    weights = torch.rand(27, generator=torch.Generator().manual_seed(8))
    weights[:3] = 0
    x0 = torch.full(op.domain_shape, 0.1)
    x = AdmmTvZ(op, y, rho=0.0, lam=1.0, cg_iters=7, weights=weights).step(x0)
    expected = conjugate_gradient(lambda v: op.T(weights * op(v)), op.T(weights * y), x0, 7)
    assert torch.allclose(x, expected, atol=1e-6)


def test_admm_tv_z_large_lambda_flattens_z():
    op, truth, y = _underdetermined_problem()
    results = {}
    for lam in (0.0, 1e-3, 0.1):
        dc, x = AdmmTvZ(op, y, rho=0.1, lam=lam, cg_iters=5, relative=True), torch.zeros(6, 3, 3)
        for _ in range(40):
            x = dc.step(x)
        results[lam] = x
    assert _tv_z(results[0.1]) < 0.5 * _tv_z(results[0.0])
    error = {lam: torch.linalg.vector_norm(x - truth).item() for lam, x in results.items()}
    assert error[1e-3] < 0.9 * error[0.0]      # a light TV-z helps on z-blocky truth


def test_admm_tv_z_state_persists_and_relative_scales():
    op, _, y = _underdetermined_problem()
    norm_sq = torch.linalg.matrix_norm(op.matrix.double(), ord=2).item() ** 2
    op = MatrixOperatorWithNorm(op.matrix, op.domain_shape, op.range_shape)
    dc = AdmmTvZ(op, y, rho=2.0, lam=0.1, cg_iters=3, relative=True)
    assert dc.rho == pytest.approx(2.0 * norm_sq, rel=1e-5)
    assert dc.lam == pytest.approx(0.1 * norm_sq, rel=1e-5)
    assert torch.equal(dc.z[0], torch.zeros(6, 3, 3)) and torch.equal(dc.u[0], torch.zeros(6, 3, 3))
    x = dc.step(torch.zeros(6, 3, 3))
    z, u = dc.z[0], dc.u[0]
    assert torch.allclose(u, diff_z(x) - z)
    dc.step(x)
    assert not torch.equal(dc.z[0], z)


def test_admm_tv_z_validates_inputs():
    op, _, y = _underdetermined_problem()
    with pytest.raises(ValueError, match=r"\(27,\)"):
        AdmmTvZ(op, y[:-1], rho=1.0, lam=0.1, cg_iters=3)
    with pytest.raises(ValueError, match="NaN"):
        AdmmTvZ(op, torch.full((27,), float("nan")), rho=1.0, lam=0.1, cg_iters=3)
    with pytest.raises(ValueError, match="non-negative"):
        AdmmTvZ(op, y, rho=1.0, lam=0.1, cg_iters=3, weights=-torch.ones(27))
    with pytest.raises(ValueError, match=r"\(6, 3, 3\)"):
        AdmmTvZ(op, y, rho=1.0, lam=0.1, cg_iters=3).step(torch.zeros(6, 3))


def test_cg_step_is_admm_tv_z_with_rho_zero_to_the_bit():
    op, _, y = _underdetermined_problem()
    weights = torch.rand(27, generator=torch.Generator().manual_seed(8))
    x0 = torch.full(op.domain_shape, 0.1)
    for w in (None, weights):
        plain = CgStep(op, y, cg_iters=4, weights=w)
        admm = AdmmTvZ(op, y, rho=0.0, lam=0.5, cg_iters=4, weights=w, relative=True)
        assert torch.equal(plain.step(plain.step(x0)), admm.step(admm.step(x0)))


def test_data_consistency_picks_the_step_from_tv_z():
    op, _, y = _underdetermined_problem()
    assert type(data_consistency(op, y, cg_iters=2)) is CgStep
    step = data_consistency(op, y, cg_iters=2, tv_z=(0.1, 0.01))
    assert isinstance(step, AdmmTvZ) and step.rho > 0
    with pytest.raises(ValueError, match="cg_iters must be non-negative"):
        CgStep(op, y, cg_iters=-1)
