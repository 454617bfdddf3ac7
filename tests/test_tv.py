import pytest
import torch

from diffblend_astra.cg import conjugate_gradient
from diffblend_astra.tv import (AdmmTvZ, diff_z, diff_z_adjoint, gradient_3d, gradient_3d_adjoint,
                                isotropic_shrink, operator_norm, soft_threshold)
from helpers_operators import MatrixOperatorWithNorm, random_operator


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _tv_z(x):
    return diff_z(x).abs().sum().item()


@pytest.mark.parametrize("shape", [(5, 4, 3), (1, 2, 2), (2, 1, 3)])
def test_diff_z_dot_test(shape):
    x, d = _randn(*shape, seed=1), _randn(*shape, seed=2)
    lhs, rhs = (diff_z(x) * d).sum(), (x * diff_z_adjoint(d)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 4, 3), (1, 2, 2), (3, 1, 6)])
def test_gradient_3d_dot_test(shape):
    x, g = _randn(*shape, seed=3), _randn(3, *shape, seed=4)
    assert gradient_3d(x).shape == (3, *shape)
    lhs, rhs = (gradient_3d(x) * g).sum(), (x * gradient_3d_adjoint(g)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)
    assert torch.equal(gradient_3d(x)[0], diff_z(x))


def test_diff_z_normal_operator_is_neumann_laplacian():
    n = 5
    unit_volumes = torch.eye(n).reshape(n, n, 1, 1)
    laplacian = torch.stack([diff_z_adjoint(diff_z(e)).reshape(n) for e in unit_volumes], dim=1)
    off_diagonal = torch.diag(torch.ones(n - 1), 1)
    expected = 2 * torch.eye(n) - off_diagonal - off_diagonal.T
    expected[0, 0] = expected[-1, -1] = 1
    assert torch.equal(laplacian, expected)
    ramp = torch.arange(3.0).reshape(3, 1, 1)
    assert torch.equal(diff_z(ramp).reshape(3), torch.tensor([1.0, 1.0, 0.0]))


def test_differences_reject_wrong_rank():
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        diff_z(torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"\(3, Z, Y, X\)"):
        gradient_3d_adjoint(torch.zeros(2, 4, 4, 4))


def test_soft_threshold_values():
    v = torch.tensor([-3.0, -0.5, 0.0, 0.5, 2.0])
    assert torch.equal(soft_threshold(v, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 1.0]))


def test_isotropic_shrink_shortens_vectors_and_keeps_zero():
    g = torch.zeros(3, 1, 1, 2)
    g[:, 0, 0, 0] = torch.tensor([3.0, 4.0, 0.0])            # length 5; second voxel is 0
    out = isotropic_shrink(g, 1.0)
    assert torch.allclose(out[:, 0, 0, 0], torch.tensor([2.4, 3.2, 0.0]))
    assert torch.equal(out[:, 0, 0, 1], torch.zeros(3))
    assert torch.equal(isotropic_shrink(g, 10.0), torch.zeros_like(g))


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
