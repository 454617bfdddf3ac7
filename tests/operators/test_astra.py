"""ASTRA adapter: agreement with ASTRA's own calls, stacks and threads, resource use, errors,
and the CUDA paths (skipped without a usable GPU)."""

import copy
import gc
import multiprocessing
import pickle
import subprocess
import sys

import astra
import numpy as np
import pytest
import torch

from diffblend_astra.operators import as_operator, cone_beam, fan_beam, parallel_beam
from diffblend_astra.operators.astra_geometry import CPU_PROJECTORS
from diffblend_astra.operators.cuda import cuda_usable

from helpers_operators import astra_case, dot

PAIRS = [(kind, projector) for kind, projectors in CPU_PROJECTORS.items()
         for projector in projectors]


PATHS = {"default": None, "direct": False}
"""``use_matrix`` values: the default (ASTRA's system matrix where it fits) and direct calls."""


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind, projector", PAIRS)
def test_forward_equals_astra_create_sino(kind, projector, path, generator):
    op = astra_case(kind, projector, use_matrix=PATHS[path])
    x = torch.rand(op.domain_shape, generator=generator)
    proj_geom, vol_geom = op.astra_geometry
    projector_id = astra.create_projector(projector, proj_geom, vol_geom)
    sino_id, expected = astra.create_sino(x.numpy(), projector_id)
    astra.data2d.delete(sino_id)
    astra.projector.delete(projector_id)
    torch.testing.assert_close(op(x), torch.from_numpy(expected), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", CPU_PROJECTORS)
def test_stack_projects_each_slice(kind, path, generator):
    single = astra_case(kind, use_matrix=PATHS[path])
    stack = astra_case(kind, slices=3, use_matrix=PATHS[path])
    x = torch.rand(stack.domain_shape, generator=generator)
    y = torch.rand(stack.range_shape, generator=generator)
    torch.testing.assert_close(stack(x), torch.stack([single(s) for s in x]))
    torch.testing.assert_close(stack.T(y), torch.stack([single.T(s) for s in y]))


@pytest.mark.parametrize("kind", CPU_PROJECTORS)
def test_threads_match_serial_loop(kind, generator):
    proj_geom, vol_geom = astra_case(kind).astra_geometry
    serial = as_operator(proj_geom, vol_geom, slices=7, workers=1, use_matrix=False)
    x = torch.rand(serial.domain_shape, generator=generator)
    y = torch.rand(serial.range_shape, generator=generator)
    for workers in (2, 3, 8):
        threaded = as_operator(proj_geom, vol_geom, slices=7, workers=workers,
                               use_matrix=False)
        for _ in range(5):
            assert torch.equal(threaded(x), serial(x))
            assert torch.equal(threaded.T(y), serial.T(y))


def test_inherited_operator_works_in_a_forked_child(generator):
    op = astra_case("parallel", slices=4, use_matrix=False)
    x = torch.rand(op.domain_shape, generator=generator)
    expected = op(x)                                # starts the thread pool in this process
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_project_into, args=(op, x, results))
    child.start()
    try:
        assert np.array_equal(results.get(timeout=60), expected.numpy())
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def _project_into(op, x, results):
    results.put(op(x).numpy())


COPIES = {"pickle": lambda op: pickle.loads(pickle.dumps(op)), "deepcopy": copy.deepcopy}


@pytest.mark.parametrize("how", COPIES)
def test_copies_own_their_projectors(how, generator):
    op = astra_case("fanflat_vec", projector="line_fanflat", slices=2)
    x = torch.rand(op.domain_shape, generator=generator)
    expected = op(x)
    duplicate = COPIES[how](op)
    assert repr(duplicate) == repr(op)
    del op
    gc.collect()
    assert torch.equal(duplicate(x), expected)


def test_pixel_size_scales_line_integrals():
    ones = torch.ones(32, 32)
    (pg1, vg1), (pg2, vg2) = parallel_beam(shape=32, views=4), parallel_beam(shape=32, views=4,
                                                                             pixel_size=0.5)
    torch.testing.assert_close(as_operator(pg2, vg2)(ones), 0.5 * as_operator(pg1, vg1)(ones))


@pytest.mark.parametrize("path", PATHS)
def test_no_astra_objects_leak(path, astra_object_counts, generator):
    proj_geom, vol_geom = parallel_beam(shape=16, views=8)
    before = astra_object_counts()
    op = as_operator(proj_geom, vol_geom, slices=2, use_matrix=PATHS[path])
    x = torch.rand(op.domain_shape, generator=generator)
    for _ in range(1000):
        op.T(op(x))
    assert astra_object_counts() == {**before, "projector": before["projector"] + 1}
    for _ in range(50):
        as_operator(proj_geom, vol_geom, slices=2, use_matrix=PATHS[path]).T(op(x))
    del op
    gc.collect()
    assert astra_object_counts() == before


def test_transpose_of_transpose_is_the_operator():
    op = astra_case("parallel")
    assert op.T.T is op
    assert op.T.astra_geometry is None


def test_import_is_light():
    code = ("import sys, diffblend_astra.operators\n"
            "print(sorted(m for m in ('astra', 'odl', 'tomosipo') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"


# --- bad input -------------------------------------------------------------------------------

@pytest.fixture
def stack():
    return astra_case("fanflat", slices=2)


@pytest.mark.parametrize("direction", ["forward", "adjoint"])
def test_bad_tensors_raise_clear_errors(stack, direction):
    apply = getattr(stack, direction)
    shape = stack.domain_shape if direction == "forward" else stack.range_shape
    expected = rf"must have shape \({shape[0]}, {shape[1]}, {shape[2]}\)"
    with pytest.raises(ValueError, match=expected):
        apply(torch.zeros(shape[1:]))
    for bad in (torch.zeros(shape, dtype=torch.int64), np.zeros(shape, dtype=np.int32),
                torch.zeros(shape, dtype=torch.complex64), np.zeros(shape, dtype=bool)):
        with pytest.raises(TypeError, match="real floating-point values"):
            apply(bad)
    with pytest.raises(TypeError, match="torch.Tensor or numpy.ndarray"):
        apply(np.zeros(shape).tolist())
    for bad in (float("nan"), float("inf")):
        values = torch.zeros(shape)
        values[0, 0, 0] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            apply(values)


def _parallel():
    return astra.create_proj_geom("parallel", 1.0, 24, np.linspace(0, np.pi, 6))


@pytest.mark.parametrize("proj_geom, vol_geom, error, match", [
    ({"type": "curved", "DetectorCount": 3}, astra.create_vol_geom(8), ValueError,
     "unsupported ASTRA projection geometry type 'curved'"),
    (astra.create_proj_geom("parallel", 1.0, 24, np.array([])), astra.create_vol_geom(8),
     ValueError, "non-empty 1D 'ProjectionAngles'"),
    (astra.create_proj_geom("fanflat_vec", 24, np.zeros((0, 6))), astra.create_vol_geom(8),
     ValueError, r"'Vectors' of shape \(views, 6\)"),
    (_parallel(), astra.create_vol_geom(8, 8, 8), ValueError, "mismatched geometry pair"),
    (cone_beam(shape=8, views=4)[0], astra.create_vol_geom(8), ValueError,
     "mismatched geometry pair"),
    (_parallel(), [8, 8], TypeError, "vol_geom must be an ASTRA geometry dict"),
    ("parallel", astra.create_vol_geom(8), TypeError, "proj_geom must be an ASTRA geometry dict"),
    ({**_parallel(), "DetectorCount": 0}, astra.create_vol_geom(8), ValueError,
     "'DetectorCount' must be positive"),
    ({"type": "parallel", "ProjectionAngles": np.ones(3), "DetectorCount": 4},
     astra.create_vol_geom(8), ValueError, "positive 'DetectorWidth'"),
    (_parallel(), astra.create_vol_geom(8, 8, -4, 4, -2, 2), ValueError, "square pixels"),
    (_parallel(), astra.create_vol_geom(8, 8, 4, -4, -4, 4), ValueError, "min < max"),
])
def test_bad_geometry_raises(proj_geom, vol_geom, error, match):
    with pytest.raises(error, match=match):
        as_operator(proj_geom, vol_geom)


@pytest.mark.parametrize("options, match", [
    ({"projector": "strip_fanflat"}, "does not support 'parallel'"),
    ({"projector": "cuda"}, "does not support 'parallel'"),
    ({"slices": 0}, "slices must be None"),
    ({"slices": 2.0}, "slices must be None"),
    ({"workers": 0}, "workers must be a positive int"),
])
def test_bad_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        as_operator(_parallel(), astra.create_vol_geom(8), **options)


@pytest.mark.skipif(cuda_usable(), reason="checks the behaviour without a usable GPU")
def test_3d_geometry_without_cuda_raises_instead_of_crashing():
    """Parallel 3D beams need ASTRA's CUDA code (cone beams go to RTK: test_rtk.py)."""
    code = """
import astra, numpy as np
from diffblend_astra.operators import as_operator, cone_beam
vol_geom = cone_beam(shape=8, views=4)[1]
proj_geom = astra.create_proj_geom("parallel3d", 1.0, 1.0, 8, 8, np.linspace(0, 3, 4))
for pg in (proj_geom, astra.geom_2vec(proj_geom)):
    try:
        as_operator(pg, vol_geom)
    except RuntimeError as error:
        print(error)
as_operator(proj_geom, vol_geom)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr           # a Python exception, not a signal
    assert result.stdout.count("requires a usable CUDA GPU") == 2
    assert "'parallel', 'parallel_vec', 'fanflat', 'fanflat_vec'" in result.stdout
    assert ("RuntimeError: the 3D ASTRA geometry 'parallel3d' requires a usable CUDA GPU"
            in result.stderr)


def test_cpu_operator_reports_devices():
    op = astra_case("parallel")
    assert op.device_ok("cpu") and op.T.device_ok(torch.device("cpu"))
    assert op.device_ok("cuda") == cuda_usable()


# --- CUDA ------------------------------------------------------------------------------------

def relative_error_cuda_cpu(op, x):
    """Relative difference of ASTRA's CUDA projector from the CPU one on ``x``."""
    on_cpu = op(x)
    return (torch.linalg.vector_norm(op(x.cuda()).cpu() - on_cpu)
            / torch.linalg.vector_norm(on_cpu)).item()


@pytest.mark.cuda
@pytest.mark.parametrize("make", [parallel_beam, fan_beam])
def test_cuda_2d_matches_cpu_and_is_nearly_adjoint(make, generator):
    op = as_operator(*make(shape=32, views=20), slices=3)
    radius = torch.linspace(-1, 1, 32)
    blob = torch.exp(-4 * (radius[:, None] ** 2 + radius[None, :] ** 2))
    # on a smooth image the CPU and CUDA discretisations agree closely
    assert relative_error_cuda_cpu(op, blob.expand(3, 32, 32).contiguous()) < 0.05
    x = torch.rand(op.domain_shape, generator=generator)
    y = torch.rand(op.range_shape, generator=generator)
    ax, aty = op(x.cuda()), op.T(y.cuda())
    assert ax.is_cuda and aty.is_cuda
    mismatch = abs(dot(ax.cpu(), y) - dot(x, aty.cpu())) / (ax.norm() * y.norm()).item()
    assert mismatch < 1e-2, f"CUDA 2D back-projection off the transpose by {mismatch:.2e}"


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["parallel3d", "parallel3d_vec", "cone", "cone_vec"])
def test_cuda_3d_operator(kind, generator):
    proj_geom, vol_geom = cone_beam(shape=(8, 24, 24), views=16)
    if kind.startswith("parallel3d"):
        proj_geom = astra.create_proj_geom("parallel3d", 1.0, 1.0, 12, 36,
                                           proj_geom["ProjectionAngles"])
    if kind.endswith("_vec"):
        proj_geom = astra.geom_2vec(proj_geom)
    op = as_operator(proj_geom, vol_geom)
    x = torch.rand(op.domain_shape, generator=generator).cuda().requires_grad_(True)
    y = torch.rand(op.range_shape, generator=generator).cuda()
    ax = op(x)
    assert ax.shape == op.range_shape and ax.is_cuda
    (grad,) = torch.autograd.grad(torch.sum(ax * y), x)
    torch.testing.assert_close(grad, op.T(y))
    torch.testing.assert_close(op(x.detach().cpu()), ax.detach().cpu(), rtol=1e-4, atol=1e-4)
    mismatch = abs(dot(ax.detach(), y) - dot(x.detach(), op.T(y))) / (ax.norm() * y.norm()).item()
    assert mismatch < 5e-2, f"ASTRA 3D back-projection off the transpose by {mismatch:.2e}"
