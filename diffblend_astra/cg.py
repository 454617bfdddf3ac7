"""Conjugate gradients for symmetric positive (semi-)definite systems on tensors of any shape.

The unknown is a tensor, not a vector: inner products run over all of its elements. Updates
are float32 and out of place (so autograd can follow them); inner products accumulate in
float64, which keeps the step sizes accurate on large volumes.
"""

import torch


def inner(a, b):
    """⟨a, b⟩ over all elements, accumulated in float64; a 0-d float64 tensor."""
    return torch.dot(a.reshape(-1).double(), b.reshape(-1).double())


def conjugate_gradient(apply_normal, rhs, x0, iters, *, tol=0.0):
    """Run up to ``iters`` CG steps on ``apply_normal(x) = rhs``, starting from ``x0``.

    Args:
        apply_normal: callable ``x → N x`` for a symmetric positive semi-definite ``N``
            (for example ``x → Aᵀ(A(x))``); takes and returns tensors of ``rhs.shape``.
        rhs: right-hand side, any shape.
        x0: starting point, same shape as ``rhs``; not modified.
        iters: largest number of CG steps (each applies ``apply_normal`` once).
        tol: stop once ``‖rhs − N x‖ ≤ tol·‖rhs‖``. With ``tol = 0`` the loop still stops at
            an exactly zero residual (or a zero curvature ``pᵀN p``) instead of dividing by 0.

    Returns:
        The iterate ``x``, a new tensor of ``rhs.shape`` and ``rhs.dtype``.
    """
    if x0.shape != rhs.shape:
        raise ValueError(f"x0 must have the shape of rhs {tuple(rhs.shape)}, got {tuple(x0.shape)}")
    if iters < 0 or tol < 0:
        raise ValueError(f"iters and tol must be non-negative, got iters={iters}, tol={tol}")
    x = x0.clone()
    r = rhs - apply_normal(x)                      # residual
    p = r                                          # search direction
    rr = inner(r, r)
    rr_stop = tol**2 * inner(rhs, rhs)
    for _ in range(iters):
        if rr <= rr_stop:
            break
        q = apply_normal(p)
        curvature = inner(p, q)
        if curvature <= 0:                         # p in the null space of N: nothing to gain
            break
        alpha = (rr / curvature).to(rhs.dtype)     # exact line search along p
        x = x + alpha * p
        r = r - alpha * q
        rr_next = inner(r, r)
        p = r + (rr_next / rr).to(rhs.dtype) * p   # next N-conjugate direction
        rr = rr_next
    return x
