"""The operator contract, run over every operator kind that works on CPU.

For each operator: output shapes and dtype, the dot-product test ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ (and
``adjointness_test()``), the gradient identities ∇ₓ⟨Ax, y⟩ = Aᵀy and ∇_y⟨x, Aᵀy⟩ = Ax,
double backward (the Hessian-vector product of ½‖Ax − y‖² is AᵀAv), and memory that stays
flat over many calls. ``norm_estimate`` is checked against a dense SVD for a fan beam and
RTK's cone beam.
"""

import numpy as np
import pytest
import torch

from diffblend_astra.operators import LinearOperator, as_operator, fan_beam
from diffblend_astra.operators.astra_geometry import CPU_PROJECTORS

from helpers_operators import DenseTomosipoLike, astra_case, dot, resident_bytes, rtk_case


def odl_case(beam):
    import odl
    from odl.applications import tomo

    space = odl.uniform_discr([-12, -9], [12, 9], (32, 24), dtype="float32")
    if beam == "parallel":
        geometry = tomo.parallel_beam_geometry(space, num_angles=12)
    else:
        geometry = tomo.FanBeamGeometry(odl.uniform_partition(0, 2 * np.pi, 12),
                                        odl.uniform_partition(-30, 30, 40),
                                        src_radius=60, det_radius=30)
    return as_operator(tomo.RayTransform(space, geometry, impl="astra_cpu"))


def tomosipo_case():
    matrix = torch.randn(5 * 7 * 3, 4 * 6 * 6, generator=torch.Generator().manual_seed(1))
    return as_operator(DenseTomosipoLike(matrix, (4, 6, 6), (5, 7, 3)))


CASES = {f"astra-{kind}-{projector}": (astra_case, kind, projector)
         for kind, projectors in CPU_PROJECTORS.items() for projector in projectors}
CASES.update({f"astra-{kind}-direct": (astra_case, kind, None, None, False)
              for kind in CPU_PROJECTORS})
CASES.update({f"astra-{kind}-stack{path}": (astra_case, kind, None, 3, use_matrix)
              for kind in CPU_PROJECTORS for path, use_matrix in (("", None), ("-threads", False))})
CASES.update({
    "astra-parallel-transposed": (lambda: astra_case("parallel", slices=2).T,),
    "odl-parallel": (odl_case, "parallel"),
    "odl-fan": (odl_case, "fan"),
    "tomosipo-like": (tomosipo_case,),
    "rtk-cone": (rtk_case, "cone"),
    "rtk-cone_vec": (rtk_case, "cone_vec"),
    "rtk-cone-transposed": (lambda: rtk_case("cone").T,),
})


@pytest.fixture(params=sorted(CASES))
def op(request):
    make, *args = CASES[request.param]
    return make(*args)


def random_pair(op, generator):
    return (torch.randn(op.domain_shape, generator=generator),
            torch.randn(op.range_shape, generator=generator))


def relative(a, b):
    a, b = a.double(), b.double()
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item()


def test_shapes_and_dtype(op, generator):
    x, y = random_pair(op, generator)
    assert isinstance(op, LinearOperator) and isinstance(op.T, LinearOperator)
    assert op.T.domain_shape == op.range_shape and op.T.range_shape == op.domain_shape
    for out, shape in ((op(x), op.range_shape), (op.T(y), op.domain_shape),
                       (op.forward(x), op.range_shape), (op.adjoint(y), op.domain_shape)):
        assert out.shape == shape and out.dtype == torch.float32 and out.device == x.device


def test_dot_product(op, generator):
    x, y = random_pair(op, generator)
    ax, aty = op(x), op.T(y)
    mismatch = abs(dot(ax, y) - dot(x, aty))
    assert mismatch / (torch.linalg.vector_norm(ax) * torch.linalg.vector_norm(y)) < 1e-4


def test_gradient_is_adjoint(op, generator):
    x, y = random_pair(op, generator)
    x.requires_grad_(True)
    (grad_x,) = torch.autograd.grad(torch.sum(op(x) * y), x)
    assert relative(grad_x, op.T(y)) < 1e-6
    x = x.detach()
    y.requires_grad_(True)
    (grad_y,) = torch.autograd.grad(torch.sum(x * op.T(y)), y)
    assert relative(grad_y, op(x)) < 1e-6


def test_double_backward(op, generator):
    x, y = random_pair(op, generator)
    v = torch.randn(op.domain_shape, generator=generator)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(0.5 * torch.sum((op(x) - y) ** 2), x, create_graph=True)
    (hessian_v,) = torch.autograd.grad(torch.sum(grad * v), x)
    assert relative(hessian_v, op.T(op(v))) < 1e-5


LEAK_BYTES = 16 << 20
"""Data the leak test pushes through an operator (inputs and outputs of all its calls, at most
1000 calls): a leak of any per-call buffer would keep a quarter of it or more."""


def test_adjointness_test_is_small(op):
    assert op.adjointness_test() < 1e-5


def test_repeated_calls_keep_memory_flat(op, generator):
    x, y = random_pair(op, generator)
    per_call = 4 * (x.numel() + y.numel())
    calls = min(1000, max(100, LEAK_BYTES // per_call))
    for _ in range(20):
        op.T(op(x))
    before = resident_bytes()
    for _ in range(calls):
        op.T(op(x))
    grown = resident_bytes() - before
    assert grown < calls * per_call / 4, f"{calls} calls kept {grown / 2**20:.1f} MiB"


@pytest.mark.parametrize("make", [lambda: as_operator(*fan_beam(shape=(12, 16), views=8)),
                                  lambda: rtk_case("cone")], ids=["fan", "rtk-cone"])
def test_norm_estimate_matches_dense_svd(make, generator):
    op = make()
    basis = torch.eye(int(np.prod(op.domain_shape))).reshape(-1, *op.domain_shape)
    matrix = torch.stack([op(e).reshape(-1) for e in basis], dim=1).double()
    exact = torch.linalg.svdvals(matrix)[0].item()
    estimate = op.norm_estimate(iters=50, generator=generator)
    assert estimate <= exact * (1 + 1e-5) and estimate > 0.99 * exact


def test_adjointness_test_is_small_for_a_transpose_and_large_otherwise():
    from diffblend_astra import as_operator
    from diffblend_astra.operators import sparse_view

    proj_geom, vol_geom = sparse_view(beam="parallel", views=8, shape=32)
    op = as_operator(proj_geom, vol_geom, slices=3)
    assert op.adjointness_test() < 1e-5
    assert op.norm_estimate() > 0

    class Wrong(type(op)):
        def _adjoint(self, y):
            return 2 * super()._adjoint(y)

    wrong = op.__class__.__new__(Wrong)
    wrong.__dict__.update(op.__dict__)
    assert wrong.adjointness_test() > 0.1
