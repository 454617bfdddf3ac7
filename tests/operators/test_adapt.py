"""``as_operator`` dispatch and the ODL and tomosipo adapters."""

import numpy as np
import odl
import pytest
import torch
from odl.applications import tomo

from diffblend_astra.operators import as_operator
from diffblend_astra.operators.tomosipo import TomosipoOperator

from helpers_operators import DenseTomosipoLike, astra_case


def test_as_operator_passes_operators_through_and_rejects_others():
    op = astra_case("parallel")
    assert as_operator(op) is op
    with pytest.raises(TypeError, match="cannot make a linear operator"):
        as_operator(np.eye(3))
    with pytest.raises(TypeError, match="slices apply only to ASTRA"):
        as_operator(op, slices=2)
    with pytest.raises(TypeError, match="vol_geom must be an ASTRA geometry dict"):
        as_operator(op.astra_geometry[0])


def test_odl_operator_keeps_odl_shapes_and_values(generator):
    space = odl.uniform_discr([-8, -6], [8, 6], (32, 24), dtype="float32")
    ray = tomo.RayTransform(space, tomo.parallel_beam_geometry(space, num_angles=10),
                            impl="astra_cpu")
    op = as_operator(ray)
    assert op.domain_shape == space.shape == (32, 24) and op.range_shape == ray.range.shape
    x = torch.rand(op.domain_shape, generator=generator)
    y = torch.rand(op.range_shape, generator=generator)
    np.testing.assert_allclose(op(x).numpy(), ray(x.numpy()).asarray(), rtol=1e-6)
    scale = space.cell_volume / ray.range.cell_volume       # plain transpose vs ODL's adjoint
    np.testing.assert_allclose(op.T(y).numpy(), scale * ray.adjoint(y.numpy()).asarray(),
                               rtol=1e-5, atol=1e-6)


def test_odl_operator_must_be_linear_with_adjoint():
    space = odl.rn(3)
    with pytest.raises(ValueError, match="not linear"):
        as_operator(odl.PowerOperator(space, 2))
    with pytest.raises(TypeError, match="has no adjoint"):
        as_operator(odl.Operator(space, space, linear=True))


def test_tomosipo_like_output_is_float32_on_the_input_device():
    class NumpyOut(DenseTomosipoLike):
        def __call__(self, x):
            return super().__call__(x).double().numpy()

    op = as_operator(NumpyOut(torch.eye(4), (2, 2), (4,)))
    out = op(torch.ones(2, 2))
    assert out.dtype == torch.float32 and out.shape == (4,)
    with pytest.raises(TypeError, match="not a tomosipo-like operator"):
        TomosipoOperator(torch.eye(2))
