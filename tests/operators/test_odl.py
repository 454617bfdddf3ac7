"""Orientation of ODL operators stacked over Z: the same geometry as ASTRA's parallel stack
gives the same sinograms and the same reconstructions, without the user turning anything."""

import numpy as np
import pytest
import torch

from diffblend_astra import baselines
from diffblend_astra.operators import as_operator, sparse_view, stack_slices

odl = pytest.importorskip("odl")
tomo = pytest.importorskip("odl.applications.tomo")


def ray_transform(proj_geom, shape=(64, 64)):
    """ODL's RayTransform with ASTRA's angles and detector (``shape`` is ODL's ``(x, y)``)."""
    half = np.asarray(shape[::-1]) / 2      # ASTRA's default window: one unit per pixel
    space = odl.uniform_discr(-half[::-1], half[::-1], shape, dtype="float32")
    angles = odl.nonuniform_partition(np.asarray(proj_geom["ProjectionAngles"]))
    count, width = proj_geom["DetectorCount"], proj_geom["DetectorWidth"]
    detector = odl.uniform_partition(-count * width / 2, count * width / 2, count)
    return tomo.RayTransform(space, tomo.Parallel2dGeometry(angles, detector), impl="astra_cpu")


def asymmetric_volume(shape):
    """A volume with a block in one corner: any flip or transpose shows."""
    x = torch.zeros(shape)
    x[:, 4:14, 6:30] = 1.0
    x[:, 40:50, 45:55] = 0.5
    return x


@pytest.mark.parametrize("image", [(64, 64), (48, 64)])
def test_default_orientation_matches_astra_parallel_stack(image):
    proj_geom, _ = sparse_view(beam="parallel", views=8, shape=64)
    import astra
    vol_geom = astra.create_vol_geom(*image)
    astra_op = as_operator(proj_geom, vol_geom, slices=3)
    odl_op = stack_slices(ray_transform(proj_geom, image[::-1]), 3)
    assert odl_op.domain_shape == astra_op.domain_shape == (3, *image)
    x = asymmetric_volume((3, *image))
    y = astra_op(x)
    assert (odl_op(x) - y).abs().max() < 1e-4 * y.abs().max()
    assert (odl_op.T(y) - astra_op.T(y)).abs().max() < 1e-4 * astra_op.T(y).abs().max()


def test_reconstruction_through_odl_is_not_transposed():
    proj_geom, vol_geom = sparse_view(beam="parallel", views=16, shape=64)
    truth = asymmetric_volume((1, 64, 64))
    y = as_operator(proj_geom, vol_geom, slices=1)(truth)       # measured with ASTRA
    recon = baselines.cgls(stack_slices(ray_transform(proj_geom), 1), y, iterations=30)
    error = (recon - truth).norm() / truth.norm()
    transposed = (recon - truth.transpose(-1, -2)).norm() / truth.norm()
    assert error < 0.5 < transposed


def test_explicit_transpose_keeps_its_meaning():
    proj_geom, _ = sparse_view(beam="parallel", views=8, shape=64)
    ray = ray_transform(proj_geom)
    x = asymmetric_volume((2, 64, 64))
    raw = stack_slices(ray, 2, transpose=False)
    swapped = stack_slices(ray, 2, transpose=True)
    assert torch.allclose(swapped(x), raw(x.transpose(-1, -2).contiguous()))
