"""ASTRA-native entry points: projector ids, OpTomo, sparse matrices, SciPy solvers, NumPy
input, and ASTRA's own sample geometries compared with ASTRA's own calls."""

import astra
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch

from diffblend_astra.baselines import cgls, fbp, sirt
from diffblend_astra.operators import RtkConeOperator, as_operator, parallel_beam
from diffblend_astra.operators.cuda import cuda_usable

from helpers_operators import relative_error


def _geometry(kind="parallel"):
    vol_geom = astra.create_vol_geom(24, 32)
    if kind.startswith("parallel"):
        proj_geom = astra.create_proj_geom("parallel", 1.0, 40, np.linspace(0, np.pi, 15, False))
    else:
        proj_geom = astra.create_proj_geom("fanflat", 1.2, 48, np.linspace(0, 6, 15), 80.0, 20.0)
    return (astra.geom_2vec(proj_geom) if kind.endswith("_vec") else proj_geom), vol_geom


def _astra_sino(projector_id, image):
    sino_id, sino = astra.create_sino(np.asarray(image, dtype=np.float32), projector_id)
    astra.data2d.delete(sino_id)
    return sino


@pytest.fixture
def projector():
    """Make ASTRA projectors, deleted after the test."""
    made = []

    def make(kind, proj_geom, vol_geom):
        made.append(astra.create_projector(kind, proj_geom, vol_geom))
        return made[-1]

    yield make
    for pid in made:
        astra.projector.delete(pid)


# --- projector ids, OpTomo, sparse matrices ---------------------------------------------------

@pytest.mark.parametrize("kind, projector_type", [
    ("parallel", "strip"), ("parallel", "line"), ("parallel_vec", "distance_driven"),
    ("fanflat", "strip_fanflat"), ("fanflat_vec", "line_fanflat")])
def test_projector_id_gives_that_projector(kind, projector_type, projector, generator):
    pid = projector(projector_type, *_geometry(kind))
    image = torch.rand(24, 32, generator=generator)
    op = as_operator(pid)
    assert op.projector == projector_type and op.domain_shape == (24, 32)
    np.testing.assert_allclose(op(image).numpy(), _astra_sino(pid, image), rtol=1e-4, atol=1e-4)
    stack = as_operator(pid, slices=3)
    volume = torch.rand(3, 24, 32, generator=generator)
    np.testing.assert_allclose(stack(volume)[2].numpy(), _astra_sino(pid, volume[2]),
                               rtol=1e-4, atol=1e-4)
    astra.projector.delete(pid)                             # the operator does not need it
    assert torch.equal(stack(volume), as_operator(*_geometry(kind), projector=projector_type,
                                                  slices=3)(volume))


def test_optomo_and_sparse_matrix(projector, generator):
    proj_geom, vol_geom = _geometry()
    pid = projector("strip", proj_geom, vol_geom)
    image = torch.rand(24, 32, generator=generator)
    expected = _astra_sino(pid, image)
    np.testing.assert_allclose(as_operator(astra.OpTomo(pid))(image).numpy(), expected,
                               rtol=1e-4, atol=1e-4)
    matrix_id = astra.projector.matrix(pid)
    matrix = astra.matrix.get(matrix_id)
    astra.matrix.delete(matrix_id)
    flat = as_operator(matrix)
    assert flat.domain_shape == (24 * 32,) and flat.range_shape == (15 * 40,)
    np.testing.assert_allclose(flat(image.reshape(-1)).numpy(), expected.reshape(-1),
                               rtol=1e-4, atol=1e-4)
    stack = as_operator(matrix, domain_shape=(24, 32), range_shape=(15, 40), slices=2)
    y = torch.rand(stack.range_shape, generator=generator)
    volume = image.expand(2, 24, 32)
    assert torch.allclose(stack(volume)[1], torch.from_numpy(expected), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stack.T(y)[0].numpy().reshape(-1), matrix.T @ y[0].numpy().reshape(-1),
                               rtol=1e-4, atol=1e-4)


def test_entry_point_errors(projector):
    proj_geom, vol_geom = _geometry()
    pid = projector("line", proj_geom, vol_geom)
    with pytest.raises(ValueError, match="not the id of an existing ASTRA projector"):
        as_operator(987654)
    with pytest.raises(TypeError, match="projector apply only"):
        as_operator(pid, projector="strip")
    with pytest.raises(ValueError, match="maps 768 values to 600"):
        as_operator(scipy.sparse.eye(600, 768, format="csr"), domain_shape=(24, 24))
    with pytest.raises(TypeError, match="workers apply only"):
        as_operator(scipy.sparse.eye(4), workers=2)


def test_projector_of_unknown_computation_is_refused(projector, monkeypatch):
    from diffblend_astra.operators import astra_projector

    pid = projector("line", *_geometry())
    monkeypatch.setitem(astra_projector.CPU_PROJECTORS, "parallel", ("linear", "strip"))
    with pytest.raises(ValueError, match="computes like none of the CPU projectors"):
        as_operator(pid)


# --- SciPy interop and the input rule ---------------------------------------------------------

def test_as_scipy_runs_lsqr_and_matmul(generator):
    op = as_operator(*parallel_beam(shape=12, views=30), slices=2)
    truth = torch.rand(op.domain_shape, generator=generator)
    y = op(truth)
    scipy_op = op.as_scipy()
    assert scipy_op.shape == (y.numel(), truth.numel())
    for dtype in (np.float32, np.float64):
        solution = scipy.sparse.linalg.lsqr(scipy_op, y.numpy().astype(dtype).ravel(),
                                            atol=1e-10, btol=1e-10, iter_lim=300)[0]
        assert relative_error(torch.from_numpy(solution).float().reshape(truth.shape),
                              cgls(op, y, iterations=300)) < 1e-3
    v = np.random.default_rng(0).random(y.numel())
    np.testing.assert_allclose(scipy_op.rmatvec(v), op.T(v.reshape(op.range_shape)).reshape(-1),
                               rtol=1e-5)
    assert torch.equal(op @ truth, op(truth)) and torch.equal(op.T @ y, op.T(y))


def test_numpy_and_float64_input_follow_one_rule(generator):
    op = as_operator(*parallel_beam(shape=12, views=10), slices=2)
    x = torch.rand(op.domain_shape, generator=generator)
    y = op(x)
    for given in (x.double(), x.numpy(), x.numpy().astype(np.float64), x.half().float().numpy()):
        out = op @ given
        assert out.dtype == torch.float32 and out.device.type == "cpu"
        assert torch.allclose(out, op(torch.as_tensor(given).float()))
    grad_x = x.double().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.sum(op(grad_x) * y), grad_x)
    assert grad.dtype == torch.float64 and torch.allclose(grad.float(), op.T(y), rtol=1e-5)
    for method in (fbp, cgls, sirt):
        reference = method(op, y)
        assert torch.allclose(method(op, y.double().numpy()), reference, atol=1e-5)
    for method in (op, lambda v: cgls(op, v), lambda v: fbp(op, v)):
        with pytest.raises(TypeError, match="not cast silently"):
            method(np.zeros(op.range_shape if method is not op else op.domain_shape, dtype=int))


# --- ASTRA's sample geometries against ASTRA's own calls ---------------------------------------

SAMPLE_VOLUME = astra.create_vol_geom(256, 256)
SAMPLE_PARALLEL = astra.create_proj_geom("parallel", 1.0, 384, np.linspace(0, np.pi, 180, False))
SAMPLE_FAN_2D = astra.create_proj_geom("fanflat", 1.0, 384, np.linspace(0, 2 * np.pi, 180, False),
                                       1000, 0)
"""s001/s014 (parallel), s022 (parallel with the centre of rotation shifted by 3.6 pixels) and
the 2D cut of s005's cone (source at 1000, detector through the axis)."""

SAMPLES = {
    "parallel": SAMPLE_PARALLEL,
    "parallel_vec": astra.geom_2vec(SAMPLE_PARALLEL),
    "parallel_vec-shifted": astra.geom_postalignment(SAMPLE_PARALLEL, 3.6),
    "fanflat": SAMPLE_FAN_2D,
    "fanflat_vec": astra.geom_2vec(SAMPLE_FAN_2D),
}


def _shepp_logan():
    phantom_id, phantom = astra.data2d.shepp_logan(SAMPLE_VOLUME)
    astra.data2d.delete(phantom_id)
    return torch.from_numpy(np.ascontiguousarray(phantom, dtype=np.float32))


def _astra_cpu_fbp(proj_geom, sinogram):
    pid = astra.create_projector("linear", proj_geom, SAMPLE_VOLUME)
    sino_id = astra.data2d.create("-sino", proj_geom, sinogram)
    vol_id = astra.data2d.create("-vol", SAMPLE_VOLUME, 0)
    config = astra.astra_dict("FBP")
    config.update(ProjectorId=pid, ProjectionDataId=sino_id, ReconstructionDataId=vol_id)
    algorithm = astra.algorithm.create(config)
    astra.algorithm.run(algorithm)
    volume = astra.data2d.get(vol_id)
    astra.algorithm.delete(algorithm)
    astra.data2d.delete([sino_id, vol_id])
    astra.projector.delete(pid)
    return torch.from_numpy(volume)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_astra_sample_geometries_match_astra(name, projector):
    proj_geom = SAMPLES[name]
    kind = "line_fanflat" if name.startswith("fan") else "linear"
    phantom = _shepp_logan()
    op = as_operator(proj_geom, SAMPLE_VOLUME, projector=kind)
    sinogram = op(phantom)
    expected = _astra_sino(projector(kind, proj_geom, SAMPLE_VOLUME), phantom)
    np.testing.assert_allclose(sinogram.numpy(), expected, rtol=1e-4, atol=1e-3)
    estimate = fbp(op, sinogram, filter="Ram-Lak")
    assert relative_error(estimate, phantom) < 0.3
    if name.startswith("parallel"):
        # ASTRA's CPU FBP takes 'parallel' only: its FBP of the same object scanned without
        # the shift is the reference; a shifted scan read as unshifted is far worse
        unshifted = as_operator(SAMPLE_PARALLEL, SAMPLE_VOLUME)
        reference = _astra_cpu_fbp(SAMPLE_PARALLEL, unshifted(phantom).numpy())
        assert relative_error(estimate, phantom) < relative_error(reference, phantom) + 0.005
        if "shifted" in name:
            assert relative_error(fbp(unshifted, sinogram), phantom) > 0.5
        else:
            assert relative_error(estimate, reference) < 0.05


@pytest.mark.skipif(cuda_usable(), reason="checks the behaviour without a usable GPU")
def test_astra_3d_sample_geometries_are_refused_with_the_way_out_or_go_to_rtk():
    vol_geom = astra.create_vol_geom(64, 64, 64)
    angles = np.linspace(0, 2 * np.pi, 48, False)
    parallel = astra.create_proj_geom("parallel3d", 1.0, 1.0, 32, 64, angles)
    cone = astra.create_proj_geom("cone", 1.0, 1.0, 32, 64, angles, 1000, 0)
    for proj_geom in (parallel, astra.geom_2vec(parallel)):
        with pytest.raises(RuntimeError, match="requires a usable CUDA GPU.*parallel3d_to_stack"):
            as_operator(proj_geom, vol_geom)
    for proj_geom in (cone, astra.geom_2vec(cone)):    # detector through the axis, as s005
        op = as_operator(proj_geom, vol_geom)
        assert isinstance(op, RtkConeOperator) and op.range_shape == (32, 48, 64)
