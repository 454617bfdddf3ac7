"""Classical iterative reconstructions: CGLS and SIRT (ts_algorithms style).

Both take ``(operator, y, …)`` with ``y`` of ``operator.range_shape`` and return a float32
volume of ``operator.domain_shape`` (see :mod:`diffblend_astra.conventions`). A
``callback(x, iteration)`` is called after every iteration; returning ``True`` stops early.
"""

import torch
from tqdm import trange

from ..cg import inner
from ..conventions import DTYPE
from ..tv import as_measurement, as_volume


def start_volume(operator, y, x0):
    """The checked starting volume: ``x0`` as float32 on ``y``'s device, or zeros."""
    if x0 is None:
        return torch.zeros(operator.domain_shape, dtype=DTYPE, device=y.device)
    return as_volume(operator, x0).to(y.device)


def iterations_bar(iterations, progress, name):
    """``range(iterations)``, shown as a tqdm bar named ``name`` when ``progress`` is true."""
    if iterations < 0:
        raise ValueError(f"iterations must be non-negative, got {iterations}")
    return trange(iterations, desc=name, disable=not progress)


@torch.no_grad()
def cgls(operator, y, *, iterations=50, x0=None, progress=False, callback=None):
    """Least squares ``min ‖A x − y‖²`` by CGLS, from ``x0`` (default zeros).

    The residual ``‖A x − y‖`` decreases monotonically; early stopping (``iterations``) is
    the only regularisation. Stops early at an exactly zero normal-equation residual.
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
def sirt(operator, y, *, iterations=100, x0=None, min_constraint=None, progress=False,
         callback=None):
    """SIRT: ``x ← x + C Aᵀ R (y − A x)`` with ``R = 1/A(1)`` and ``C = 1/Aᵀ(1)``.

    Rays and voxels with (near-)zero sums get weight 0. ``min_constraint`` (e.g. ``0.0``)
    clamps the volume from below after every iteration.
    """
    y = as_measurement(operator, y)
    x = start_volume(operator, y, x0)
    row = _reciprocal(operator(torch.ones(operator.domain_shape, dtype=DTYPE, device=y.device)))
    col = _reciprocal(operator.T(torch.ones_like(y)))
    for iteration in iterations_bar(iterations, progress, "SIRT"):
        x = x + col * operator.T(row * (y - operator(x)))
        if min_constraint is not None:
            x = x.clamp(min=min_constraint)
        if callback is not None and callback(x, iteration):
            break
    return x
