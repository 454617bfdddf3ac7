import pytest
import torch

from diffblend_astra.tv import (diff_z, diff_z_adjoint, gradient_3d, gradient_3d_adjoint,
                                isotropic_shrink, soft_threshold)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


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
