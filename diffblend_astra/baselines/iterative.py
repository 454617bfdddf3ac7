"""Classical iterative reconstructions: CGLS and SIRT (ts_algorithms style).

Both take ``(operator, y, …)`` with ``y`` of ``operator.range_shape`` and return a float32
volume of ``operator.domain_shape`` (see :mod:`diffblend_astra.conventions`). Arrays follow
the rule of :mod:`diffblend_astra.operators.inputs`: tensors or NumPy arrays of a real
floating-point dtype, converted once to float32. A ``callback(x, iteration)`` is called after
every iteration; returning ``True`` stops early. ``progress=True`` shows a tqdm bar.
"""

import torch
from tqdm import trange

from ..cg import inner
from ..conventions import DTYPE
from ..operators.inputs import as_input, as_measurement

CGLS_ITERATIONS = 30
"""CGLS's early stopping by default: the ``cgls`` method and the warm start of the diffusion
methods (:mod:`diffblend_astra.methods`) use it."""

SIRT_ITERATIONS = 200
"""SIRT's iterations by default, as the ``sirt`` method runs it."""


def start_volume(operator, y, x0, name="x0"):
    """The checked starting volume: ``x0`` as float32 on ``y``'s device, or zeros."""
    if x0 is None:
        return torch.zeros(operator.domain_shape, dtype=DTYPE, device=y.device)
    return as_input(x0, operator.domain_shape, name, "the operator's domain").to(y.device)


def iterations_bar(iterations, progress, name):
    """``range(iterations)``, shown as a tqdm bar named ``name`` when ``progress`` is true."""
    if iterations < 0:
        raise ValueError(f"iterations must be non-negative, got {iterations}")
    return trange(iterations, desc=name, disable=not progress)


@torch.no_grad()
def cgls(operator, y, *, iterations=CGLS_ITERATIONS, x0=None, progress=False, callback=None):
    """Least squares ``min ‖A x − y‖²`` by CGLS, from ``x0`` (default zeros).

    The residual ``‖A x − y‖`` decreases monotonically; early stopping (``iterations``,
    30 by default, as the ``cgls`` method of :mod:`diffblend_astra.methods` runs it) is the
    only regularisation. Stops early at an exactly zero normal-equation residual.
    """
    y = as_measurement(operator, y)
    x = start_volume(operator, y, x0)
    r = y - operator(x)                     # data residual
    s = operator.T(r)                       # normal-equation residual Aᵀ(y − A x)
    p = s
    ss = inner(s, s)
    for iteration in iterations_bar(iterations, progress, "CGLS"):
        if ss == 0:
            break
        q = operator(p)
        alpha = (ss / inner(q, q)).to(DTYPE)
        x = x + alpha * p
        r = r - alpha * q
        s = operator.T(r)
        ss_next = inner(s, s)
        p = s + (ss_next / ss).to(DTYPE) * p
        ss = ss_next
        if callback is not None and callback(x, iteration):
            break
    return x


def _reciprocal(t, eps=1e-8):
    return torch.where(t > eps, 1.0 / t.clamp(min=eps), torch.zeros_like(t))


@torch.no_grad()
def sirt(operator, y, *, iterations=SIRT_ITERATIONS, x0=None, mask=None, min_constraint=None,
         max_constraint=None, relaxation=1.0, progress=False, callback=None):
    """SIRT with ASTRA's options: ``x ← clamp(x + λ C Aᵀ R (y − A x))``.

    As in ASTRA's ``SIRT`` algorithm, ``R = 1/A(m)`` (inverse ray sums) and ``C = m/Aᵀ(1)``
    (inverse voxel sums) with ``m`` the reconstruction mask; rays and voxels with (near-)zero
    sums get weight 0.

    Args:
        operator, y: the linear operator and a measurement of its ``range_shape``.
        iterations: number of updates (200 by default, as the ``sirt`` method of
            :mod:`diffblend_astra.methods` runs it).
        x0: starting volume (default zeros).
        mask: ASTRA's ``ReconstructionMaskId``: a volume of ``domain_shape``; only voxels
            where it is non-zero are reconstructed, the others keep ``x0`` and are left out of
            the projections ``A x``.
        min_constraint, max_constraint: ASTRA's ``MinConstraint``/``MaxConstraint``: clamp
            the whole volume after every iteration (``None``: no bound).
        relaxation: ASTRA's ``Relaxation`` λ, the step length (default 1).
        progress: show a tqdm bar; ``callback(x, iteration)``: see the module.
    """
    y = as_measurement(operator, y)
    x = start_volume(operator, y, x0)
    if relaxation <= 0:
        raise ValueError(f"relaxation must be positive, got {relaxation}")
    if mask is None:
        keep = torch.ones(operator.domain_shape, dtype=DTYPE, device=y.device)
    else:
        keep = (start_volume(operator, y, mask, "mask") != 0).to(DTYPE)
    row = _reciprocal(operator(keep))
    col = relaxation * keep * _reciprocal(operator.T(torch.ones_like(y)))
    for iteration in iterations_bar(iterations, progress, "SIRT"):
        x = x + col * operator.T(row * (y - operator(x * keep)))
        if min_constraint is not None or max_constraint is not None:
            x = x.clamp(min=min_constraint, max=max_constraint)
        if callback is not None and callback(x, iteration):
            break
    return x
