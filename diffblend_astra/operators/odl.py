"""ODL adapter: any linear ``odl.Operator`` with an adjoint, such as
``odl.applications.tomo.RayTransform``.

Shapes are ODL's own (for a 2D ray transform: volume ``(x, y)``, projections ``(angle, u)``).
ODL's ``.adjoint`` is the adjoint for the *weighted* inner products of its spaces
(``⟨a, b⟩_w = Σ w a b``, with ``w`` the cell volume of a discretised space). This adapter
rescales it to the Euclidean transpose that torch autograd needs::

    Aᵀ y = w_domain · A*(y / w_range)      so that   ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ for plain arrays.

A ray transform with ODL's ``astra_cuda`` back-end (``impl='astra_cuda'`` or its class) needs
a usable CUDA GPU: without one ASTRA kills the process, so the adapter refuses it first.
"""

import numpy as np
import odl
import torch

from ..conventions import DTYPE
from .base import LinearOperator
from .cuda import require_cuda


class OdlOperator(LinearOperator):
    """Wrap a linear ``odl.Operator`` between tensor spaces with constant or per-element weights.

    Tensors are copied to the operator's array backend (NumPy, or torch for ``impl='pytorch'``
    spaces) and back to the input's device as float32.
    """

    def __init__(self, op):
        if not isinstance(op, odl.Operator):
            raise TypeError(f"expected an odl.Operator, got {type(op).__name__}")
        if not op.is_linear:
            raise ValueError(f"the ODL operator {op!r} is not linear")
        try:
            self._odl_adjoint = op.adjoint
        except NotImplementedError:
            raise TypeError(f"the ODL operator {type(op).__name__} has no adjoint") from None
        if "cuda" in str(getattr(op, "impl", "")).lower():
            require_cuda(f"the ODL operator {type(op).__name__} with impl={op.impl!r}")
        super().__init__(op.domain.shape, op.range.shape)
        self.odl_operator = op
        self._domain_weight = _weight(op.domain)
        self._range_weight = _weight(op.range)

    def _forward(self, x):
        return _from_odl(self.odl_operator(_to_odl(self.odl_operator.domain, x)), x.device)

    def _adjoint(self, y):
        w_domain, w_range = self._domain_weight.to(y.device), self._range_weight.to(y.device)
        y_odl = _to_odl(self.odl_operator.range, y / w_range)
        return _from_odl(self._odl_adjoint(y_odl), y.device) * w_domain

    def __repr__(self):
        return f"OdlOperator({self.odl_operator!r})"


def _weight(space) -> torch.Tensor:
    """The inner-product weight of an ODL space as a float32 tensor (scalar or per element)."""
    weighting = getattr(space, "weighting", None)
    if weighting is None:
        return torch.ones((), dtype=DTYPE)
    if getattr(weighting, "exponent", 2.0) != 2.0 or not hasattr(weighting, "weight"):
        raise TypeError(f"unsupported ODL weighting {weighting!r}: only constant or per-element "
                        f"weights of an L2 inner product can be turned into a plain transpose")
    return torch.as_tensor(np.asarray(weighting.weight, dtype=np.float32))


def _to_odl(space, t):
    data = t.cpu().numpy() if space.impl == "numpy" else t.to(space.device)
    return space.element(data)


def _from_odl(element, device):
    data = element.asarray()
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.array(data, dtype=np.float32))
    return data.to(device=device, dtype=DTYPE).contiguous()
