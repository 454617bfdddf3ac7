"""Apply a single-slice operator to every axial slice of a ``(Z, Y, X)`` volume.

ASTRA 2D geometries do this natively (``as_operator(..., slices=Z)``); :func:`stack_slices`
does it for any 2D operator — an ODL ``RayTransform`` or a tomosipo operator of one slice —
so that the solver and the priors see the volume order of :mod:`~diffblend_astra.conventions`.
``transpose=True`` swaps the two image axes of every slice on the way in (and back on the way
out), for an operator whose images are stored ``(X, Y)``.

An ODL ``RayTransform`` on ``uniform_discr([-W/2, -W/2], [W/2, W/2], (Y, X))`` with a
``Parallel2dGeometry`` whose angles are ASTRA's plus π/2 (and the same detector partition)
equals ASTRA's ``parallel`` geometry on the same arrays, without transposing (tested).
"""

from __future__ import annotations

import torch

from .adapt import as_operator
from .base import LinearOperator


class SliceStack(LinearOperator):
    """``(Z, Y, X) → (Z,) + range`` by applying ``operator`` to each slice (see module)."""

    def __init__(self, operator, slices: int, *, transpose: bool = False):
        operator = as_operator(operator)
        if len(operator.domain_shape) != 2:
            raise ValueError(f"stack_slices needs an operator of one 2D slice, got domain "
                             f"shape {tuple(operator.domain_shape)}")
        if not isinstance(slices, int) or slices < 1:
            raise ValueError(f"slices must be a positive int, got {slices!r}")
        image = tuple(operator.domain_shape)
        image = image[::-1] if transpose else image
        super().__init__((slices,) + image, (slices,) + tuple(operator.range_shape))
        self.operator, self.transpose = operator, transpose

    def _forward(self, x):
        slices = x.transpose(-1, -2) if self.transpose else x
        return torch.stack([self.operator(s.contiguous()) for s in slices])

    def _adjoint(self, y):
        out = torch.stack([self.operator.T(s) for s in y])
        return out.transpose(-1, -2).contiguous() if self.transpose else out

    def __repr__(self):
        return f"SliceStack({self.operator!r}, slices={self.domain_shape[0]})"


def stack_slices(operator, slices: int, *, transpose: bool = False) -> SliceStack:
    """A ``(Z, Y, X)`` operator from a one-slice ``operator`` (``transpose`` for ODL's
    ``(x, y)`` image order)."""
    return SliceStack(operator, slices, transpose=transpose)
