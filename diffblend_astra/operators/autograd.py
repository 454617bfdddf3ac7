"""The one autograd function of the package: applying a linear operator.

For a linear ``A``, the vector-Jacobian product of ``x ↦ A x`` is ``g ↦ Aᵀ g``. The backward
pass therefore applies the same function with ``op.T``, so it is itself differentiable and
double backward works (``op.T.T`` is ``op``).
"""

import torch


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, op):
        ctx.op = op
        return op._forward(x.detach().contiguous())

    @staticmethod
    def backward(ctx, grad):
        return apply(ctx.op.T, grad), None


def apply(op, x: torch.Tensor) -> torch.Tensor:
    """``op`` applied to ``x`` (no input checks), with ``op.T`` as its gradient."""
    return _Apply.apply(x, op)
