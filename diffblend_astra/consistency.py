"""Data consistency: the step that pulls every denoised estimate back to the measurements.

=====================  ===========================================================  =========
step                   one call of ``step(x0)``                                      used by
=====================  ===========================================================  =========
:class:`CgStep`        ``cg_iters`` CG steps on ``AᵀWA x = AᵀWy`` from ``x0``        DB++, DB,
                                                                                     DDS-2D
:class:`AdmmTvZ`       one ADMM iteration on ``½‖A x − y‖²_W + λ‖D_z x‖₁``           DDS,
                       (CG + TV-z, split variables shared across diffusion steps)    MBIR
:class:`SplitAdmm`     one ADMM iteration with any splits ``z_k = L_k x``            ADMM-TV
=====================  ===========================================================  =========

Each is *weighted* when given per-ray ``weights`` ``W ≥ 0`` (``None``: ``W = I``), which
makes the data term ``½‖A x − y‖²_W`` (e.g. photon counts for Poisson-noisy data). The
objects are built once per reconstruction (``AᵀWy`` is computed once; ADMM's ``z, u`` live
on them) and stepped once per diffusion step. :func:`data_consistency` picks the solver's
step from its ``tv_z`` option.

Scale of ρ and λ: with ASTRA's exact adjoint pair, ``AᵀA`` has the scale ``‖A‖²`` (largest
singular value squared, which grows with the number of views and the detector sampling).
The reference implementations used a rotate-and-sum "adjoint" scaled by ``π / (2·views)``,
so their ρ, λ do not carry over. Passing ``relative=True`` (or using
:func:`~.baselines.admm_tv`, which is relative by default) multiplies ρ and λ by ``‖A‖²``,
which makes them independent of the projector's scale. The shrinkage threshold ``λ/ρ`` is in
volume intensity units either way.
"""

import torch

from .cg import conjugate_gradient
from .conventions import DTYPE
from .operators.base import operator_norm
from .operators.inputs import as_measurement, as_volume
from .tv import diff_z, diff_z_adjoint, soft_threshold


class CgStep:
    """Plain (weighted) CG towards the measurements: ``step(x0)`` returns
    ``CG(AᵀWA, AᵀWy, start x0, cg_iters)``.

    Args:
        operator: linear operator (``domain_shape``, ``range_shape``, ``A(x)``, ``A.T(y)``).
        y: measurement of ``operator.range_shape``.
        cg_iters: CG iterations per step.
        weights: optional per-ray weights ``W ≥ 0`` of ``y``'s shape; ``None`` means ``W = I``.
    """

    def __init__(self, operator, y, *, cg_iters, weights=None):
        if cg_iters < 0:
            raise ValueError(f"cg_iters must be non-negative, got {cg_iters}")
        y = as_measurement(operator, y)
        if weights is not None:
            weights = as_measurement(operator, weights, name="weights").to(y.device)
            if (weights < 0).any():
                raise ValueError("weights must be non-negative")
        self.operator, self.cg_iters, self.weights = operator, cg_iters, weights
        self.device = y.device
        self._data_rhs = operator.T(self._weigh(y))

    def _weigh(self, y):
        return y if self.weights is None else self.weights * y

    def _apply_normal(self, x):
        return self.operator.T(self._weigh(self.operator(x)))

    def step(self, x0):
        """``cg_iters`` CG steps from ``x0`` (a volume of ``operator.domain_shape``); returns
        ``x``."""
        x0 = as_volume(self.operator, x0)
        return conjugate_gradient(self._apply_normal, self._data_rhs, x0, self.cg_iters)


class SplitAdmm(CgStep):
    """ADMM on ``½‖A x − y‖²_W + Σ_k g_k(L_k x)`` with one split ``z_k = L_k x`` per term.

    One :meth:`step` is one ADMM iteration::

        x   = CG(AᵀWA + ρ Σ L_kᵀL_k,  AᵀWy + ρ Σ L_kᵀ(z_k − u_k),  start x0,  cg_iters)
        z_k = prox_{g_k/ρ}(L_k x + u_k)
        u_k = u_k + L_k x − z_k

    ``z_k`` and ``u_k`` start at zero and persist across calls. With ``rho = 0`` the splits
    are skipped and a step is the :class:`CgStep` on ``AᵀWA x = AᵀWy``.

    Args:
        operator, y, cg_iters, weights: as in :class:`CgStep`.
        splits: sequence of ``(L, L_adjoint, prox)``; ``L`` maps a volume to any shape,
            ``prox(v, rho)`` returns ``argmin_z g(z)/ρ + ½‖z − v‖²``.
        rho: ADMM penalty ρ ≥ 0, in the units of ``AᵀWA``.
    """

    def __init__(self, operator, y, splits, *, rho, cg_iters, weights=None):
        if rho < 0 or cg_iters < 0:
            raise ValueError(f"rho and cg_iters must be non-negative, got rho={rho}, "
                             f"cg_iters={cg_iters}")
        super().__init__(operator, y, cg_iters=cg_iters, weights=weights)
        self.rho = rho
        self.splits = list(splits) if rho > 0 else []
        zero_volume = torch.zeros(operator.domain_shape, dtype=DTYPE, device=self.device)
        self.z = [L(zero_volume) for L, _, _ in self.splits]
        self.u = [torch.zeros_like(z) for z in self.z]

    def _apply_normal(self, x):
        out = super()._apply_normal(x)
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
        operator, y, cg_iters, weights: as in :class:`CgStep`.
        rho: ADMM penalty ρ ≥ 0.
        lam: TV-z weight λ ≥ 0.
        relative: if true, ``rho`` and ``lam`` are multiples of ``‖A‖²`` (see
            :func:`~.operators.base.operator_norm`); the absolute values are stored in
            ``self.rho``, ``self.lam``. The scale ignores ``weights``, which should then be of
            order one (e.g. max 1).
    """

    def __init__(self, operator, y, *, rho, lam, cg_iters, weights=None, relative=False):
        if lam < 0:
            raise ValueError(f"lam must be non-negative, got {lam}")
        scale = operator_norm(operator) ** 2 if relative and rho > 0 else 1.0
        self.lam = lam * scale
        split = (diff_z, diff_z_adjoint, lambda v, rho: soft_threshold(v, self.lam / rho))
        super().__init__(operator, y, [split], rho=rho * scale, cg_iters=cg_iters,
                         weights=weights)


def data_consistency(operator, y, *, cg_iters, tv_z=None, weights=None):
    """The solver's step: :class:`CgStep` for ``tv_z=None``, else :class:`AdmmTvZ` with
    ``(ρ, λ) = tv_z`` relative to ``‖A‖²``."""
    if tv_z is None:
        return CgStep(operator, y, cg_iters=cg_iters, weights=weights)
    rho, lam = tv_z
    return AdmmTvZ(operator, y, rho=rho, lam=lam, cg_iters=cg_iters, weights=weights,
                   relative=True)
