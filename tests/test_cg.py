import torch
import pytest

from diffblend_astra.cg import conjugate_gradient, inner


def _spd_system(n=20, seed=0):
    generator = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, generator=generator, dtype=torch.float64)
    matrix = m @ m.T / n + 0.5 * torch.eye(n, dtype=torch.float64)
    rhs = torch.randn(n, generator=generator, dtype=torch.float64)
    return matrix, rhs


def test_solves_spd_system_like_linalg_solve():
    matrix, rhs = _spd_system()
    expected = torch.linalg.solve(matrix, rhs)
    m32 = matrix.float()
    x = conjugate_gradient(lambda v: m32 @ v, rhs.float(), torch.zeros(20), iters=60)
    assert torch.allclose(x.double(), expected, atol=1e-4, rtol=1e-4)


def test_works_on_any_shape_and_leaves_inputs_alone():
    matrix, rhs = _spd_system(n=24, seed=1)
    m32 = matrix.float()
    rhs_3d, x0 = rhs.float().reshape(2, 3, 4), torch.ones(2, 3, 4)
    rhs_copy, x0_copy = rhs_3d.clone(), x0.clone()
    x = conjugate_gradient(lambda v: (m32 @ v.reshape(-1)).reshape(2, 3, 4), rhs_3d, x0, iters=80)
    assert x.shape == (2, 3, 4) and x.dtype == torch.float32
    assert torch.allclose(x.double().reshape(-1), torch.linalg.solve(matrix, rhs), atol=1e-4)
    assert torch.equal(rhs_3d, rhs_copy) and torch.equal(x0, x0_copy)


def test_stops_early_at_tolerance():
    matrix, rhs = _spd_system()
    m32, calls = matrix.float(), []

    def apply_normal(v):
        calls.append(1)
        return m32 @ v

    x = conjugate_gradient(apply_normal, rhs.float(), torch.zeros(20), iters=200, tol=1e-3)
    assert len(calls) < 200
    residual = torch.linalg.vector_norm(rhs.float() - m32 @ x)
    assert residual <= 1e-3 * torch.linalg.vector_norm(rhs)


def test_zero_rhs_gives_zero_without_nan():
    matrix, _ = _spd_system()
    m32 = matrix.float()
    x = conjugate_gradient(lambda v: m32 @ v, torch.zeros(20), torch.zeros(20), iters=10)
    assert torch.equal(x, torch.zeros(20))
    # a singular (zero) operator: zero curvature must not divide by zero
    x = conjugate_gradient(torch.zeros_like, torch.ones(5), torch.zeros(5), iters=3)
    assert torch.isfinite(x).all()


def test_zero_iterations_returns_a_copy_of_x0():
    x0 = torch.arange(4.0)
    x = conjugate_gradient(lambda v: v, torch.ones(4), x0, iters=0)
    assert torch.equal(x, x0) and x is not x0


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(4,\)"):
        conjugate_gradient(lambda v: v, torch.ones(4), torch.zeros(3), iters=1)


def test_inner_accumulates_in_float64():
    a = torch.full((10**6,), 1e-3)
    assert inner(a, a).dtype == torch.float64
    assert abs(inner(a, a).item() - 1.0) < 1e-6
