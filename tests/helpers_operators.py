"""A dense-matrix linear operator for tests that should not depend on ASTRA."""

import torch


class MatrixOperator:
    """``x ↦ (M @ x.flatten()).reshape(range_shape)`` for ``M`` of ``(prod(range), prod(domain))``."""

    def __init__(self, matrix, domain_shape, range_shape):
        self.matrix = matrix.to(torch.float32)
        self.domain_shape, self.range_shape = tuple(domain_shape), tuple(range_shape)
        if self.matrix.shape != (_size(self.range_shape), _size(self.domain_shape)):
            raise ValueError(f"matrix {tuple(matrix.shape)} does not map "
                             f"{self.domain_shape} to {self.range_shape}")

    def forward(self, x):
        return (self.matrix @ x.reshape(-1)).reshape(self.range_shape)

    def adjoint(self, y):
        return (self.matrix.T @ y.reshape(-1)).reshape(self.domain_shape)

    __call__ = forward

    @property
    def T(self):
        return MatrixOperator(self.matrix.T, self.range_shape, self.domain_shape)


class MatrixOperatorWithNorm(MatrixOperator):
    """:class:`MatrixOperator` that also reports its spectral norm ``‖M‖₂`` (``norm_estimate``)."""

    def norm_estimate(self):
        return torch.linalg.matrix_norm(self.matrix.double(), ord=2).item()


def _size(shape):
    return int(torch.Size(shape).numel())


def random_operator(domain_shape, range_shape, *, seed=0):
    """A :class:`MatrixOperator` with i.i.d. Gaussian entries scaled by ``1/sqrt(rows)``."""
    generator = torch.Generator().manual_seed(seed)
    rows, cols = _size(range_shape), _size(domain_shape)
    matrix = torch.randn(rows, cols, generator=generator) / rows**0.5
    return MatrixOperator(matrix, domain_shape, range_shape)
