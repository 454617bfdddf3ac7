"""Operators and images shared by tests: a dense-matrix operator (no ASTRA), a duck-typed
tomosipo-like operator, a small ASTRA 2D case, a small cone beam (RTK), a 2D ellipse phantom,
the process's resident memory, and error helpers."""

import os

import astra
import numpy as np
import torch

from diffblend_astra.operators import as_operator


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


def astra_case(kind, projector=None, slices=None, use_matrix=None):
    """A non-square 24 × 32 image with 0.75-unit pixels in an off-centre window;
    ``use_matrix=False`` forces the direct per-slice calls (threads for stacks)."""
    vol_geom = astra.create_vol_geom(24, 32, -10.0, 14.0, -8.0, 10.0)
    if kind.startswith("parallel"):
        proj_geom = astra.create_proj_geom("parallel", 0.9, 40, np.linspace(0.1, np.pi, 12))
    else:
        proj_geom = astra.create_proj_geom("fanflat", 1.3, 40, np.linspace(0, 6, 12), 60.0, 30.0)
    if kind.endswith("_vec"):
        proj_geom = astra.geom_2vec(proj_geom)
    return as_operator(proj_geom, vol_geom, projector=projector, slices=slices,
                       use_matrix=use_matrix)


def cone_case(kind="cone"):
    """A small cone beam: a 6 × 10 × 12 volume of 0.8-unit voxels in an off-centre window,
    7 views over 320° onto a 9 × 16 detector; ``cone_vec`` has the detector shifted by a
    third of a pixel along both axes."""
    vol_geom = astra.create_vol_geom(10, 12, 6, -4.0, 5.6, -5.0, 3.0, -2.0, 2.8)
    proj_geom = astra.create_proj_geom("cone", 1.1, 1.2, 9, 16, np.linspace(0.2, 5.8, 7),
                                       30.0, 12.0)
    if kind == "cone_vec":
        proj_geom = astra.geom_2vec(proj_geom)
        proj_geom["Vectors"][:, 3:6] += (proj_geom["Vectors"][:, 6:9]
                                         + proj_geom["Vectors"][:, 9:12]) / 3
    return proj_geom, vol_geom


def rtk_case(kind="cone"):
    """The RTK operator of :func:`cone_case` (on any machine, GPU or not), one ITK thread."""
    from diffblend_astra.operators.rtk import rtk_cone_operator

    return rtk_cone_operator(*cone_case(kind), threads=1)


class DenseTomosipoLike:
    """Duck-typed like a tomosipo operator: ``domain_shape``, ``range_shape``, ``A(x)``, ``A.T``."""

    def __init__(self, matrix, domain_shape, range_shape):
        self.matrix, self.domain_shape, self.range_shape = matrix, domain_shape, range_shape

    def __call__(self, x):
        return (self.matrix @ x.reshape(-1)).reshape(self.range_shape)

    @property
    def T(self):
        return DenseTomosipoLike(self.matrix.T, self.range_shape, self.domain_shape)


def dot(a, b):
    return torch.sum(a.double() * b.double()).item()


def ellipses(shape, flip=False):
    """A 2D phantom: a body ellipse with two off-centre inserts, asymmetric in both axes."""
    ny, nx = shape
    y, x = np.mgrid[:ny, :nx] - (np.array(shape)[:, None, None] - 1) / 2
    y = -y if flip else y
    image = ((x / (0.4 * nx)) ** 2 + (y / (0.3 * ny)) ** 2 < 1) * 1.0
    image += ((x - 0.12 * nx) / 6) ** 2 + ((y + 0.15 * ny) / 4) ** 2 < 1
    image -= 0.5 * (((x + 0.15 * nx) / 5) ** 2 + ((y - 0.05 * ny) / 7) ** 2 < 1)
    return torch.from_numpy(image.astype(np.float32))


def resident_bytes():
    """This process's resident memory, in bytes (Linux: ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def relative_error(estimate, truth):
    return (torch.linalg.vector_norm(estimate - truth) / torch.linalg.vector_norm(truth)).item()
