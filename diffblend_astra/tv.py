"""Total-variation maths: finite differences and shrinkage.

Differences act on volumes ``(Z, Y, X)`` (see :mod:`diffblend_astra.conventions`) and keep
their shape: along an axis, ``d[i] = x[i + 1] − x[i]`` and the last entry is 0 (Neumann
boundary). Hence ``DᵀD`` is the Neumann Laplacian along that axis, ``tridiag(−1, 2, −1)``
with 1 in both corners, and ``Dᵀ`` ignores the last entry of its input.

The ADMM steps that use them (TV-z for DDS / DiffusionMBIR, isotropic 3D TV for
:func:`~.baselines.admm_tv`) are in :mod:`.consistency`.
"""

import torch


# --- finite differences ---------------------------------------------------------------------

def _forward_difference(x, dim):
    n = x.shape[dim]
    d = x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
    return torch.cat([d, torch.zeros_like(x.narrow(dim, 0, 1))], dim)


def _forward_difference_adjoint(d, dim):
    inner_part = d.narrow(dim, 0, d.shape[dim] - 1)      # the last entry is not used by D
    zero = torch.zeros_like(d.narrow(dim, 0, 1))
    return torch.cat([zero, inner_part], dim) - torch.cat([inner_part, zero], dim)


def _check_ndim(t, ndim, what):
    if not isinstance(t, torch.Tensor) or t.ndim != ndim:
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"expected {what}, got {got}")


def diff_z(x):
    """Forward difference along Z of a volume ``(Z, Y, X)``; same shape, last slice 0."""
    _check_ndim(x, 3, "a volume of shape (Z, Y, X)")
    return _forward_difference(x, 0)


def diff_z_adjoint(d):
    """Exact adjoint of :func:`diff_z`: ``(Z, Y, X) → (Z, Y, X)``; ``d[Z−1]`` is ignored."""
    _check_ndim(d, 3, "Z differences of shape (Z, Y, X)")
    return _forward_difference_adjoint(d, 0)


def gradient_3d(x):
    """Forward differences along Z, Y and X of a volume ``(Z, Y, X)`` → ``(3, Z, Y, X)``."""
    _check_ndim(x, 3, "a volume of shape (Z, Y, X)")
    return torch.stack([_forward_difference(x, dim) for dim in range(3)])


def gradient_3d_adjoint(g):
    """Exact adjoint of :func:`gradient_3d`, a negative divergence: ``(3, Z, Y, X) → (Z, Y, X)``."""
    _check_ndim(g, 4, "a gradient field of shape (3, Z, Y, X)")
    if g.shape[0] != 3:
        raise ValueError(f"expected a gradient field of shape (3, Z, Y, X), got {tuple(g.shape)}")
    return sum(_forward_difference_adjoint(g[dim], dim) for dim in range(3))


# --- shrinkage ------------------------------------------------------------------------------

def soft_threshold(v, thresh):
    """Elementwise soft threshold ``sign(v)·max(|v| − thresh, 0)``, the prox of ``thresh·‖·‖₁``."""
    return torch.sign(v) * torch.clamp(v.abs() - thresh, min=0)


def isotropic_shrink(g, thresh):
    """Group soft threshold of a gradient field ``(3, Z, Y, X)`` over its 3 components.

    Each voxel's vector ``g[:, z, y, x]`` is shortened by ``thresh`` (set to 0 if shorter):
    the prox of ``thresh·Σ‖g[:, z, y, x]‖₂`` (isotropic TV).
    """
    norm = torch.linalg.vector_norm(g, dim=0, keepdim=True)
    scale = torch.clamp(norm - thresh, min=0) / norm.clamp(min=torch.finfo(g.dtype).tiny)
    return g * scale
