"""Finite differences, shrinkage, and ADMM data consistency with total-variation splits.

Differences act on volumes ``(Z, Y, X)`` (see :mod:`diffblend_astra.conventions`) and keep
their shape: along an axis, ``d[i] = x[i + 1] − x[i]`` and the last entry is 0 (Neumann
boundary). Hence ``DᵀD`` is the Neumann Laplacian along that axis, ``tridiag(−1, 2, −1)``
with 1 in both corners, and ``Dᵀ`` ignores the last entry of its input.

The data-consistency object :class:`AdmmTvZ` is the DDS / DiffusionMBIR step: one ADMM
iteration per diffusion step on ``½‖A x − y‖²_W + λ‖D_z x‖₁``, with the split variables
``z, u`` carried from one diffusion step to the next.

Scale of ρ and λ: with ASTRA's exact adjoint pair, ``AᵀA`` has the scale ``‖A‖²`` (largest
singular value squared, which grows with the number of views and the detector sampling).
The reference implementations used a rotate-and-sum "adjoint" scaled by ``π / (2·views)``,
so their ρ, λ do not carry over. Passing ``relative=True`` (or using :func:`admm_tv`, which
is relative by default) multiplies ρ and λ by ``‖A‖²``, which makes them independent of the
projector's scale. The shrinkage threshold ``λ/ρ`` is in volume intensity units either way.
"""

import torch

from .cg import conjugate_gradient
from .conventions import DTYPE
from .operators.inputs import as_input
from .operators.base import power_iteration_norm


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


# --- operator helpers -----------------------------------------------------------------------

def _as_checked(t, shape, name, space):
    return as_input(t, shape, name, f"the operator's {space}")


def as_measurement(operator, y, name="y"):
    """``y`` as a float32 tensor of ``operator.range_shape``; ``ValueError`` if the shape differs
    or a value is NaN/inf."""
    return _as_checked(y, operator.range_shape, name, "range")


def as_volume(operator, x, name="x0"):
    """``x`` as a float32 tensor of ``operator.domain_shape``; ``ValueError`` if the shape differs
    or a value is NaN/inf."""
    return _as_checked(x, operator.domain_shape, name, "domain")


def operator_norm(operator, iters=20, generator=None):
    """Spectral norm ``‖A‖`` (largest singular value) of a linear operator, as a float.

    Returns ``operator.norm_estimate()`` when the operator provides it (taken to be ``‖A‖``,
    not its square); otherwise :func:`~.operators.base.power_iteration_norm` with ``iters``
    iterations from a start drawn with ``generator``.
    """
    if hasattr(operator, "norm_estimate"):
        return float(operator.norm_estimate())
    return power_iteration_norm(operator, operator.T, operator.domain_shape, iters=iters,
                                generator=generator)


# --- ADMM -----------------------------------------------------------------------------------

class SplitAdmm:
    """ADMM on ``½‖A x − y‖²_W + Σ_k g_k(L_k x)`` with one split ``z_k = L_k x`` per term.

    One :meth:`step` is one ADMM iteration::

        x   = CG(AᵀWA + ρ Σ L_kᵀL_k,  AᵀWy + ρ Σ L_kᵀ(z_k − u_k),  start x0,  cg_iters)
        z_k = prox_{g_k/ρ}(L_k x + u_k)
        u_k = u_k + L_k x − z_k

    ``z_k`` and ``u_k`` start at zero and persist across calls. With ``rho = 0`` the splits
    are skipped and a step is plain CG on the weighted normal equations ``AᵀWA x = AᵀWy``.

    Args:
        operator: linear operator (``domain_shape``, ``range_shape``, ``A(x)``, ``A.T(y)``).
        y: measurement of ``operator.range_shape``.
        splits: sequence of ``(L, L_adjoint, prox)``; ``L`` maps a volume to any shape,
            ``prox(v, rho)`` returns ``argmin_z g(z)/ρ + ½‖z − v‖²``.
        rho: ADMM penalty ρ ≥ 0, in the units of ``AᵀWA``.
        cg_iters: CG iterations per step.
        weights: optional per-ray weights ``W ≥ 0`` of ``y``'s shape; ``None`` means ``W = I``.
    """

    def __init__(self, operator, y, splits, *, rho, cg_iters, weights=None):
        if rho < 0 or cg_iters < 0:
            raise ValueError(f"rho and cg_iters must be non-negative, got rho={rho}, "
                             f"cg_iters={cg_iters}")
        y = as_measurement(operator, y)
        if weights is not None:
            weights = as_measurement(operator, weights, name="weights").to(y.device)
            if (weights < 0).any():
                raise ValueError("weights must be non-negative")
        self.operator, self.rho, self.cg_iters, self.weights = operator, rho, cg_iters, weights
        self.splits = list(splits) if rho > 0 else []
        self._data_rhs = operator.T(self._weigh(y))
        zero_volume = torch.zeros(operator.domain_shape, dtype=DTYPE, device=y.device)
        self.z = [L(zero_volume) for L, _, _ in self.splits]
        self.u = [torch.zeros_like(z) for z in self.z]

    def _weigh(self, y):
        return y if self.weights is None else self.weights * y

    def _apply_normal(self, x):
        out = self.operator.T(self._weigh(self.operator(x)))
        for L, L_adjoint, _ in self.splits:
            out = out + self.rho * L_adjoint(L(x))
        return out

    def step(self, x0):
        """One ADMM iteration from ``x0`` (a volume of ``operator.domain_shape``); returns ``x``."""
        x0 = as_volume(self.operator, x0)
        rhs = self._data_rhs
        for (_, L_adjoint, _), z, u in zip(self.splits, self.z, self.u):
            rhs = rhs + self.rho * L_adjoint(z - u)
        x = conjugate_gradient(self._apply_normal, rhs, x0, self.cg_iters)
        for k, (L, _, prox) in enumerate(self.splits):
            Lx = L(x)
            self.z[k] = prox(Lx + self.u[k], self.rho)
            self.u[k] = self.u[k] + Lx - self.z[k]
        return x


class AdmmTvZ(SplitAdmm):
    """DDS / DiffusionMBIR data consistency: ADMM on ``½‖A x − y‖²_W + λ‖D_z x‖₁``.

    Each :meth:`step` (one per diffusion step, started at the denoised estimate ``x̂0``) is::

        x = CG(AᵀWA + ρ D_zᵀD_z,  AᵀWy + ρ D_zᵀ(z − u),  start x0,  cg_iters)
        z = soft(D_z x + u, λ/ρ);   u = u + D_z x − z

    with ``z, u`` (volumes ``(Z, Y, X)``) kept from step to step, starting at zero. ``rho = 0``
    gives plain CG on ``AᵀWA x = AᵀWy`` (DDS-2D); ``lam`` is then unused.

    Args:
        operator, y, cg_iters, weights: as in :class:`SplitAdmm`.
        rho: ADMM penalty ρ ≥ 0.
        lam: TV-z weight λ ≥ 0.
        relative: if true, ``rho`` and ``lam`` are multiples of ``‖A‖²`` (see
            :func:`operator_norm`); the absolute values are stored in ``self.rho``, ``self.lam``.
            The scale ignores ``weights``, which should then be of order one (e.g. max 1).
    """

    def __init__(self, operator, y, *, rho, lam, cg_iters, weights=None, relative=False):
        if lam < 0:
            raise ValueError(f"lam must be non-negative, got {lam}")
        scale = operator_norm(operator) ** 2 if relative and rho > 0 else 1.0
        self.lam = lam * scale
        split = (diff_z, diff_z_adjoint, lambda v, rho: soft_threshold(v, self.lam / rho))
        super().__init__(operator, y, [split], rho=rho * scale, cg_iters=cg_iters,
                         weights=weights)
