"""tomosipo adapter, duck-typed: anything with ``domain_shape``, ``range_shape``, ``op(x)``
and ``op.T(y)`` on torch tensors (such as ``tomosipo.operator(vg, pg)``).

tomosipo is never imported here, so it need not be installed. Its shapes follow ASTRA's
order (:mod:`diffblend_astra.conventions`). tomosipo projects with ASTRA's CUDA kernels, whose
back-projection is only approximately the transpose of the forward projection. Without a usable
GPU those kernels kill the process, so an operator of the ``tomosipo`` package is refused
with a ``RuntimeError`` unless CUDA is usable; other duck-typed operators are taken as they are.
"""

import torch

from ..conventions import DTYPE
from .base import LinearOperator
from .cuda import require_cuda


class TomosipoOperator(LinearOperator):
    """Wrap a tomosipo-like operator; outputs come back as float32 on the input's device."""

    def __init__(self, op):
        missing = [name for name in ("domain_shape", "range_shape", "T") if not hasattr(op, name)]
        if missing or not callable(op):
            raise TypeError(f"{type(op).__name__} is not a tomosipo-like operator: it needs "
                            f"domain_shape, range_shape, __call__ and .T (missing {missing})")
        if type(op).__module__.split(".")[0] == "tomosipo":
            require_cuda(f"the tomosipo operator {type(op).__name__} (tomosipo projects with "
                         f"ASTRA's CUDA kernels)")
        super().__init__(op.domain_shape, op.range_shape)
        self.tomosipo_operator = op

    def _forward(self, x):
        return _as_output(self.tomosipo_operator(x), x.device)

    def _adjoint(self, y):
        return _as_output(self.tomosipo_operator.T(y), y.device)

    def __repr__(self):
        return f"TomosipoOperator({self.tomosipo_operator!r})"


def _as_output(result, device):
    return torch.as_tensor(result).to(device=device, dtype=DTYPE).contiguous()
