"""SciPy both ways: a :class:`LinearOperator` as a SciPy operator, a sparse matrix as ours.

* :func:`~.scipy_view.to_scipy` (``op.as_scipy()``) gives a
  ``scipy.sparse.linalg.LinearOperator`` of shape ``(prod(range_shape), prod(domain_shape))``
  on flattened arrays (C order), so SciPy's solvers (``lsqr``, ``lsmr``, ``cg`` on ``AᵀA``)
  run on any operator of this package.
* :class:`SparseMatrixOperator` wraps a SciPy sparse matrix ``W`` ``(rays, pixels)`` — such as
  ASTRA's ``astra.matrix.get(astra.projector.matrix(projector_id))`` — as a
  :class:`LinearOperator`, for one image or, slice by slice, a stack of them.
"""

import math

import numpy as np
import scipy.sparse

from .astra_matrix import SystemMatrix
from .base import LinearOperator


class SparseMatrixOperator(LinearOperator):
    """A SciPy sparse matrix ``W`` ``(rays, pixels)`` as an operator (CPU tensors).

    Args:
        matrix: any SciPy sparse matrix or array; stored as float32 CSR (with its transpose).
        domain_shape: shape of one image, ``prod = pixels`` (default ``(pixels,)``); for an
            ASTRA 2D projector, the vol_geom's ``(Y, X)``.
        range_shape: shape of one projection, ``prod = rays`` (default ``(rays,)``); for an
            ASTRA 2D projector, ``(angles, det)``.
        slices: ``None`` for one image, or ``Z`` to apply ``W`` to every slice of a stack
            ``(Z,) + domain_shape → (Z,) + range_shape`` with one sparse product.
    """

    def __init__(self, matrix, *, domain_shape=None, range_shape=None, slices=None):
        if not scipy.sparse.issparse(matrix) or matrix.ndim != 2:
            raise TypeError(f"expected a 2D SciPy sparse matrix, got {type(matrix).__name__}")
        rays, pixels = matrix.shape
        domain_shape = (pixels,) if domain_shape is None else tuple(domain_shape)
        range_shape = (rays,) if range_shape is None else tuple(range_shape)
        if (math.prod(range_shape), math.prod(domain_shape)) != (rays, pixels):
            raise ValueError(f"a matrix of shape {matrix.shape} maps {pixels} values to {rays}: "
                             f"domain_shape {domain_shape} and range_shape {range_shape} must "
                             f"have these sizes")
        if slices is not None and (not isinstance(slices, int) or isinstance(slices, bool)
                                   or slices < 1):
            raise ValueError(f"slices must be None (one image) or a positive int Z (a stack), "
                             f"got {slices!r}")
        stack = () if slices is None else (slices,)
        super().__init__(stack + domain_shape, stack + range_shape)
        self._matrix = SystemMatrix(scipy.sparse.csr_matrix(matrix, dtype=np.float32),
                                    range_shape, domain_shape)

    @property
    def matrix(self):
        """``W`` as a float32 SciPy CSR matrix ``(rays, pixels)``."""
        return self._matrix.forward_matrix

    def _forward(self, x):
        return self._matrix.forward(x.cpu().reshape((-1,) + self._matrix.image_shape)).reshape(
            self.range_shape).to(x.device)

    def _adjoint(self, y):
        return self._matrix.adjoint(y.cpu().reshape((-1,) + self._matrix.range_shape)).reshape(
            self.domain_shape).to(y.device)

    def __repr__(self):
        return (f"SparseMatrixOperator(shape={self.matrix.shape}, "
                f"domain_shape={self.domain_shape}, range_shape={self.range_shape})")
