"""3D total-variation reconstruction by ADMM with CG inner solves."""

import torch

from ..consistency import SplitAdmm
from ..operators.base import operator_norm
from ..operators.inputs import as_measurement
from ..tv import gradient_3d, gradient_3d_adjoint, isotropic_shrink
from .iterative import iterations_bar, start_volume


def _identity(x):
    return x


@torch.no_grad()
def admm_tv(operator, y, *, lam=1e-3, rho=2e-2, iterations=50, cg_iters=5, x0=None,
            nonneg=False, relative=True, progress=False):
    """Isotropic 3D TV: ``min_x ½‖A x − y‖² + λ Σ_voxels ‖∇x‖₂  [subject to x ≥ 0]``.

    ADMM with the split ``g = ∇x`` (and ``v = x`` when ``nonneg``): each iteration runs
    ``cg_iters`` CG steps on ``(AᵀA + ρ∇ᵀ∇ [+ ρI]) x = Aᵀy + ρ∇ᵀ(g − u) [+ ρ(v − w)]``
    warm-started at the previous ``x``, then ``g = shrink(∇x + u, λ/ρ)``, ``u += ∇x − g``
    (and ``v = max(x + w, 0)``, ``w += x − v``). ``∇`` is :func:`~diffblend_astra.tv.gradient_3d`.

    Args:
        operator: linear operator with volume domain ``(Z, Y, X)``.
        y: measurement of ``operator.range_shape``.
        lam: TV weight λ. The defaults suit sparse-view data of volumes with intensities in
            ``[0, 1]``; the shrinkage threshold ``λ/ρ`` (0.05 by default) is in intensity units.
        rho: ADMM penalty ρ.
        relative: if true (default), ``lam`` and ``rho`` are multiples of ``‖A‖²``
            (:func:`~diffblend_astra.operators.base.operator_norm`), so they carry over between
            projectors of different scale (pixel size, number of views, detector sampling).
        iterations: ADMM iterations; ``cg_iters``: CG steps in each.
        x0: starting volume (default zeros).
        nonneg: constrain ``x ≥ 0``.
        progress: show a tqdm bar.

    Returns:
        A float32 volume of ``operator.domain_shape``.
    """
    if lam < 0:
        raise ValueError(f"lam must be non-negative, got {lam}")
    y = as_measurement(operator, y)
    x = start_volume(operator, y, x0)
    scale = operator_norm(operator) ** 2 if relative else 1.0
    lam_abs = lam * scale
    splits = [(gradient_3d, gradient_3d_adjoint, lambda v, r: isotropic_shrink(v, lam_abs / r))]
    if nonneg:
        splits.append((_identity, _identity, lambda v, r: v.clamp(min=0)))
    admm = SplitAdmm(operator, y, splits, rho=rho * scale, cg_iters=cg_iters)
    for _ in iterations_bar(iterations, progress, "ADMM-TV"):
        x = admm.step(x)
    return x.clamp(min=0) if nonneg else x
