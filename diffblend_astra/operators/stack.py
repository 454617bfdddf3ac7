"""Apply a single-slice operator to every axial slice of a ``(Z, Y, X)`` volume.

ASTRA 2D geometries do this natively (``as_operator(..., slices=Z)``); :func:`stack_slices`
does it for any 2D operator — an ODL ``RayTransform`` or a tomosipo operator of one slice —
so that the solver and the priors see the volume order of :mod:`~diffblend_astra.conventions`.

Orientation. A slice here is ``(Y, X)`` with row 0 at the top (ASTRA's image order). An ODL
image is indexed ``[x, y]`` with ``y`` pointing up, so by default an ODL operator receives each
slice turned to ODL's order (transposed, then ``y`` reversed) and its adjoint turns it back: an
ODL ``RayTransform`` on ``uniform_discr([-W/2, -W/2], [W/2, W/2], (X, Y))`` with the same angles
and detector partition as ASTRA's ``parallel`` geometry then gives the same sinograms as
``as_operator(proj_geom, vol_geom, slices=Z)`` (tested). ``transpose=True`` instead only swaps
the two image axes of every slice, and ``transpose=False`` passes slices as they are (both
for any operator, ODL included).
"""

from __future__ import annotations

import torch

from .adapt import as_operator
from .base import LinearOperator


class SliceStack(LinearOperator):
    """``(Z, Y, X) → (Z,) + range`` by applying ``operator`` to each slice (see module)."""

    def __init__(self, operator, slices: int, *, transpose: bool | None = None):
        operator = as_operator(operator)
        if len(operator.domain_shape) != 2:
            raise ValueError(f"stack_slices needs an operator of one 2D slice, got domain "
                             f"shape {tuple(operator.domain_shape)}")
        if not isinstance(slices, int) or slices < 1:
            raise ValueError(f"slices must be a positive int, got {slices!r}")
        self.odl_order = transpose is None and hasattr(operator, "odl_operator")
        image = tuple(operator.domain_shape)
        image = image[::-1] if transpose or self.odl_order else image
        super().__init__((slices,) + image, (slices,) + tuple(operator.range_shape))
        self.operator, self.transpose = operator, bool(transpose)

    def _forward(self, x):
        slices = x.transpose(-1, -2) if self.transpose or self.odl_order else x
        slices = slices.flip(-1) if self.odl_order else slices
        return torch.stack([self.operator(s.contiguous()) for s in slices])

    def _adjoint(self, y):
        out = torch.stack([self.operator.T(s) for s in y])
        out = out.flip(-1) if self.odl_order else out
        return out.transpose(-1, -2).contiguous() if self.transpose or self.odl_order else out

    def __repr__(self):
        return f"SliceStack({self.operator!r}, slices={self.domain_shape[0]})"


def stack_slices(operator, slices: int, *, transpose: bool | None = None) -> SliceStack:
    """A ``(Z, Y, X)`` operator from a one-slice ``operator``; ODL operators get their
    ``[x, y]`` image order by default (see the module on orientation)."""
    return SliceStack(operator, slices, transpose=transpose)
