"""A one-slice ODL RayTransform stacked over Z matches ASTRA's own 2D stack, and so do the
reconstructions made through either."""

import numpy as np
import pytest
import torch

from diffblend_astra.methods import load_prior
from diffblend_astra.operators import as_operator, sparse_view, stack_slices
from diffblend_astra.phantoms import held_out_seeds, phantom_volume
from diffblend_astra.solver import DiffusionBlendSolver

odl = pytest.importorskip("odl")
tomo = pytest.importorskip("odl.applications.tomo")


def odl_twin(proj_geom, slices):
    """The ODL RayTransform of ASTRA's parallel geometry, stacked over ``slices`` (angles
    + π/2 on raw ODL arrays, so the slices go in as they are: ``transpose=False``)."""
    space = odl.uniform_discr([-32, -32], [32, 32], (64, 64), dtype="float32")
    angles = odl.nonuniform_partition(np.asarray(proj_geom["ProjectionAngles"]) + np.pi / 2)
    geometry = tomo.Parallel2dGeometry(angles, odl.uniform_partition(-48, 48, 96))
    return stack_slices(as_operator(tomo.RayTransform(space, geometry, impl="astra_cpu")),
                        slices, transpose=False)


@pytest.fixture(scope="module")
def pair():
    proj_geom, vol_geom = sparse_view(beam="parallel", views=8, shape=64)
    return as_operator(proj_geom, vol_geom, slices=9), odl_twin(proj_geom, 9)


def test_stacked_odl_operator_equals_astra_stack(pair, generator):
    astra_op, odl_op = pair
    assert odl_op.domain_shape == astra_op.domain_shape == (9, 64, 64)
    x = torch.rand(astra_op.domain_shape, generator=generator)
    y = torch.rand(astra_op.range_shape, generator=generator)
    assert (odl_op(x) - astra_op(x)).abs().max() < 1e-4 * astra_op(x).abs().max()
    assert (odl_op.T(y) - astra_op.T(y)).abs().max() < 1e-4 * astra_op.T(y).abs().max()


def test_transpose_swaps_the_image_axes(pair, generator):
    _, odl_op = pair
    swapped = stack_slices(odl_op.operator, 9, transpose=True)
    x = torch.rand(odl_op.domain_shape, generator=generator)
    assert torch.allclose(swapped(x), odl_op(x.transpose(-1, -2).contiguous()))
    y = torch.rand(odl_op.range_shape, generator=generator)
    lhs = torch.sum(swapped(x) * y)
    assert abs(lhs - torch.sum(x * swapped.T(y))) < 1e-4 * abs(lhs)


def test_reconstruction_agrees_through_astra_and_odl(pair):
    astra_op, odl_op = pair
    truth = torch.from_numpy(phantom_volume(held_out_seeds(1)[0], (9, 64, 64)))
    y = astra_op(truth)
    prior = load_prior("blend")
    recon = [DiffusionBlendSolver(op, prior, steps=8).reconstruct(y, seed=3, progress=False)
             for op in (astra_op, odl_op)]
    assert (recon[0] - recon[1]).norm() < 0.02 * recon[0].norm()


def test_stack_needs_a_single_slice_operator(pair):
    astra_op, _ = pair
    with pytest.raises(ValueError, match="one 2D slice"):
        stack_slices(astra_op, 4)
