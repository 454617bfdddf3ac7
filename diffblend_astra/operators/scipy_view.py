"""A linear operator of this package as a SciPy operator (``op.as_scipy()``).

Kept apart from :mod:`.scipy_interop` (a sparse matrix as one of ours), which builds on
:mod:`.base`: this side needs only the operator protocol, so :mod:`.base` can call it.
"""

import math

import numpy as np
import scipy.sparse.linalg
import torch


def to_scipy(op) -> scipy.sparse.linalg.LinearOperator:
    """``op`` as a float32 SciPy operator on flattened CPU arrays.

    ``matvec`` takes a float32 or float64 vector of ``prod(op.domain_shape)`` values and
    returns ``op`` applied to it, flattened, as float32; ``rmatvec`` does the same with the
    transpose.
    """
    def matvec(v):
        return _flat(op.forward(_shaped(v, op.domain_shape)))

    def rmatvec(v):
        return _flat(op.adjoint(_shaped(v, op.range_shape)))

    return scipy.sparse.linalg.LinearOperator(
        (math.prod(op.range_shape), math.prod(op.domain_shape)), matvec=matvec, rmatvec=rmatvec,
        dtype=np.float32)


def _shaped(v, shape):
    return torch.from_numpy(np.asarray(v, dtype=np.float32).reshape(shape))


def _flat(t):
    return t.detach().cpu().numpy().reshape(-1)
