"""FBP/FDK from the geometry an ASTRA operator carries."""

import astra
import numpy as np
import pytest
import torch

from diffblend_astra.baselines.fbp import FILTERS, fbp
from diffblend_astra.operators import as_operator, cone_beam, fan_beam, parallel_beam

from helpers_operators import DenseTomosipoLike, ellipses, relative_error


@pytest.mark.parametrize("make", [parallel_beam, fan_beam])
@pytest.mark.parametrize("pixel_size", [1.0, 0.5])
def test_fbp_recovers_phantom(make, pixel_size, astra_object_counts):
    op = as_operator(*make(shape=64, views=180, pixel_size=pixel_size), slices=2)
    truth = torch.stack([ellipses((64, 64)), ellipses((64, 64), flip=True)])
    before = astra_object_counts()
    estimate = fbp(op, op(truth))
    assert astra_object_counts() == before
    assert estimate.shape == truth.shape and estimate.dtype == torch.float32
    assert relative_error(estimate, truth) < 0.12


@pytest.mark.parametrize("make", [parallel_beam, fan_beam])
@pytest.mark.parametrize("filter", FILTERS)
def test_filters_on_a_single_slice(make, filter):
    op = as_operator(*make(shape=(40, 56), views=120))
    truth = ellipses((40, 56))
    estimate = fbp(op, op(truth), filter=filter)
    assert estimate.shape == (40, 56)
    assert relative_error(estimate, truth) < 0.2


def test_fbp_errors():
    op = as_operator(*parallel_beam(shape=16, views=10))
    y = torch.zeros(op.range_shape)
    with pytest.raises(TypeError, match="carries no astra_geometry"):
        fbp(as_operator(DenseTomosipoLike(torch.eye(4), (2, 2), (4,))), torch.zeros(4))
    with pytest.raises(ValueError, match="filter must be one of"):
        fbp(op, y, filter="ramp")
    with pytest.raises(ValueError, match=r"must have shape \(10, 24\)"):
        fbp(op, torch.zeros(10, 23))
    with pytest.raises(TypeError, match="real floating-point"):
        fbp(op, y.int())
    dense = as_operator(DenseTomosipoLike(torch.eye(4), (2, 2), (4,)))
    dense.astra_geometry = (astra.create_proj_geom("parallel3d", 1.0, 1.0, 2, 2, [0.0]),
                            astra.create_vol_geom(2, 2, 2))
    with pytest.raises(ValueError, match="fbp supports the 2D geometries"):
        fbp(dense, torch.zeros(4))


@pytest.mark.cuda
def test_fdk_recovers_cone_phantom():
    op = as_operator(*cone_beam(shape=(16, 64, 64), views=180))
    truth = ellipses((64, 64)).expand(16, 64, 64).contiguous()
    estimate = fbp(op, op(truth.cuda()))
    assert estimate.is_cuda and estimate.shape == truth.shape
    assert relative_error(estimate[4:12].cpu(), truth[4:12]) < 0.2


@pytest.mark.parametrize("projector", ["strip", "line"])
def test_fbp_uses_the_operators_projector(projector):
    proj_geom, vol_geom = parallel_beam(shape=32, views=60)
    op = as_operator(proj_geom, vol_geom, projector=projector)
    y = op(ellipses((32, 32)))
    pid = astra.create_projector(projector, proj_geom, vol_geom)
    sino_id = astra.data2d.create("-sino", proj_geom, y.numpy())
    vol_id = astra.data2d.create("-vol", vol_geom, 0)
    config = astra.astra_dict("FBP")
    config.update(ProjectorId=pid, ProjectionDataId=sino_id, ReconstructionDataId=vol_id,
                  option={"FilterType": "hann"})
    algorithm = astra.algorithm.create(config)
    astra.algorithm.run(algorithm)
    expected = astra.data2d.get(vol_id)
    astra.algorithm.delete(algorithm)
    astra.data2d.delete([sino_id, vol_id])
    astra.projector.delete(pid)
    np.testing.assert_array_equal(fbp(op, y, filter="Hann").numpy(), expected)
    assert not torch.equal(fbp(op, y, filter="hann"),
                           fbp(as_operator(proj_geom, vol_geom), y, filter="hann"))


@pytest.mark.parametrize("make", [parallel_beam, fan_beam])
@pytest.mark.parametrize("spelling", ["Ram-Lak", "RAM-LAK", "Shepp-Logan", "Cosine", "Hamming",
                                      "Hann"])
def test_filter_names_ignore_case_on_vector_geometries(make, spelling):
    proj_geom, vol_geom = make(shape=32, views=90)
    op = as_operator(astra.geom_2vec(proj_geom), vol_geom)
    truth = ellipses((32, 32))
    estimate = fbp(op, op(truth), filter=spelling)
    assert torch.equal(estimate, fbp(op, op(truth), filter=spelling.lower()))
    assert relative_error(estimate, truth) < 0.25
