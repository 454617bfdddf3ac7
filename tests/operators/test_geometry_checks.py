"""Geometry checks (degenerate vectors, degrees, detectors through the axis), the parallel3d
→ 2D stack helper, CUDA guards of the adapters, and the prior's shape messages."""

import os
import subprocess
import sys
import types
import warnings

import astra
import numpy as np
import pytest
import torch

from diffblend_astra.baselines import fbp
from diffblend_astra.operators import as_operator, parallel3d_to_stack
from diffblend_astra.operators.astra_geometry import check_geometry_pair
from diffblend_astra.operators.cuda import cuda_usable
from diffblend_astra.priors import BlendPrior

from helpers_operators import ellipses, relative_error

TOMOSIPO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "vendor",
                        "tomosipo-0.6.0")


# --- degenerate vectors, degrees, DistanceOriginDetector = 0 ----------------------------------

def _vectors(kind, views=4):
    angles = np.linspace(0, np.pi, views, endpoint=False)
    if kind == "parallel_vec":
        return astra.geom_2vec(astra.create_proj_geom("parallel", 1.0, 16, angles))
    return astra.geom_2vec(astra.create_proj_geom("fanflat", 1.0, 16, angles, 40.0, 10.0))


@pytest.mark.parametrize("kind, columns", [
    ("parallel_vec", slice(None)), ("parallel_vec", slice(0, 2)), ("parallel_vec", slice(4, 6)),
    ("fanflat_vec", slice(None)), ("fanflat_vec", slice(4, 6))])
def test_degenerate_vectors_raise(kind, columns):
    proj_geom = _vectors(kind)
    proj_geom["Vectors"][2, columns] = 0
    with pytest.raises(ValueError, match=r"degenerate .* row 2 of 'Vectors'"):
        as_operator(proj_geom, astra.create_vol_geom(8))


def test_edge_on_detector_and_coinciding_source_raise():
    proj_geom = _vectors("parallel_vec")
    proj_geom["Vectors"][1, 4:6] = proj_geom["Vectors"][1, 0:2]        # u along the rays
    with pytest.raises(ValueError, match="u parallel to the rays"):
        as_operator(proj_geom, astra.create_vol_geom(8))
    proj_geom = _vectors("fanflat_vec")
    proj_geom["Vectors"][0, 2:4] = proj_geom["Vectors"][0, 0:2]        # detector at the source
    with pytest.raises(ValueError, match="source-to-detector line"):
        as_operator(proj_geom, astra.create_vol_geom(8))


def test_degree_angles_warn_with_the_fix():
    degrees = np.linspace(0, 180, 8, endpoint=False)
    with pytest.warns(UserWarning, match=r"look like degrees.*np\.deg2rad"):
        as_operator(astra.create_proj_geom("parallel", 1.0, 12, degrees), astra.create_vol_geom(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_operator(astra.create_proj_geom("parallel", 1.0, 12, np.deg2rad(degrees)),
                    astra.create_vol_geom(8))
        as_operator(astra.create_proj_geom("fanflat", 1.0, 12, np.linspace(0, 4 * np.pi, 8),
                                           30.0, 10.0), astra.create_vol_geom(8))


def test_detector_through_the_axis_is_accepted():
    vol_geom = astra.create_vol_geom(48, 48)
    proj_geom = astra.create_proj_geom("fanflat", 1.0, 72, np.linspace(0, 2 * np.pi, 180, False),
                                       500.0, 0.0)
    op = as_operator(proj_geom, vol_geom, slices=1)
    truth = ellipses((48, 48))[None]
    pid = astra.create_projector("line_fanflat", proj_geom, vol_geom)
    sino_id, expected = astra.create_sino(truth[0].numpy(), pid)
    astra.data2d.delete(sino_id)
    astra.projector.delete(pid)
    np.testing.assert_allclose(op(truth)[0].numpy(), expected, rtol=1e-4, atol=1e-4)
    assert relative_error(fbp(op, op(truth)), truth) < 0.15
    # ASTRA's sample s005: a cone with the detector through the axis (checked, not projected)
    cone = astra.create_proj_geom("cone", 1.0, 1.0, 32, 64, np.linspace(0, 6, 48), 1000, 0)
    assert check_geometry_pair(cone, astra.create_vol_geom(64, 64, 64)) == 3
    with pytest.raises(ValueError, match="non-negative 'DistanceOriginDetector'"):
        as_operator({**proj_geom, "DistanceOriginDetector": -1.0}, vol_geom)


# --- parallel3d as a stack of 2D slices -------------------------------------------------------

def test_parallel3d_to_stack_follows_astra_3d_axes():
    """ASTRA 3D: volume row j at y = WindowMinY + (j + ½)·pixel, detector column at
    u = x cos θ + y sin θ, rows along +z (ASTRA's CUDA kernels; s005). A point at world
    (x, y, z) must land on that column, in the row of its slice."""
    vol_geom = astra.create_vol_geom(32, 40, 6, -10, 10, -6, 10, -3, 3)   # Y from -6 to 10
    angles = np.array([0.0, 0.4, np.pi / 2, 2.0])
    proj_geom = astra.create_proj_geom("parallel3d", 0.5, 1.0, 6, 64, angles)
    proj_2d, vol_2d, slices = parallel3d_to_stack(proj_geom, vol_geom)
    op = as_operator(proj_2d, vol_2d, slices=slices)
    assert op.domain_shape == (6, 32, 40) and op.range_shape == (6, 4, 64)   # rows, angles, cols
    volume = torch.zeros(op.domain_shape)
    z, j, i = 4, 25, 30                                   # slice, row (Y), column (X)
    volume[z, j, i] = 1.0
    y, x = -6 + (j + 0.5) * 0.5, -10 + (i + 0.5) * 0.5
    projections = op(volume)
    assert projections.sum(dim=(1, 2))[z] > 0 and projections.sum() == projections[z].sum()
    for view, theta in enumerate(angles):
        column = (x * np.cos(theta) + y * np.sin(theta)) / 0.5 + (64 - 1) / 2
        profile = projections[z, view].numpy()
        centroid = (profile * np.arange(64)).sum() / profile.sum()
        assert abs(centroid - column) < 0.1


@pytest.mark.parametrize("change, match", [
    ({"DetectorRowCount": 5}, "DetectorRowCount = GridSliceCount"),
    ({"DetectorSpacingY": 2.0}, "DetectorSpacingY = slice thickness"),
    ({"type": "cone", "DistanceOriginSource": 100.0, "DistanceOriginDetector": 10.0},
     "circular 'parallel3d'"),
])
def test_parallel3d_to_stack_refuses_what_is_no_stack(change, match):
    vol_geom = astra.create_vol_geom(8, 8, 6)
    proj_geom = astra.create_proj_geom("parallel3d", 1.0, 1.0, 6, 12, np.linspace(0, 3, 5))
    with pytest.raises(ValueError, match=match):
        parallel3d_to_stack({**proj_geom, **change}, vol_geom)
    with pytest.raises(ValueError, match="Z window centred"):
        parallel3d_to_stack(proj_geom, astra.create_vol_geom(8, 8, 6, -4, 4, -4, 4, 0, 6))


# --- CUDA guards of the adapters ------------------------------------------------------------

def _run(code, pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=180, env=env)


@pytest.mark.skipif(cuda_usable(), reason="checks the behaviour without a usable GPU")
@pytest.mark.skipif(not os.path.isdir(os.path.join(TOMOSIPO, "tomosipo")),
                    reason="the real tomosipo package (not on PyPI) is not beside this checkout")
def test_tomosipo_operator_refused_without_cuda():
    code = """
import tomosipo as ts
from diffblend_astra.operators import as_operator
A = ts.operator(ts.volume(shape=(4, 8, 8)), ts.parallel(angles=6, shape=(4, 12)))
for op in (A, A.T):
    try:
        as_operator(op)
    except RuntimeError as error:
        print("refused:", error)
"""
    result = _run(code, pythonpath=os.path.abspath(TOMOSIPO))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("refused: the tomosipo operator") == 2
    assert "requires a usable CUDA GPU" in result.stdout


@pytest.mark.skipif(cuda_usable(), reason="checks the behaviour without a usable GPU")
def test_odl_astra_cuda_refused_without_cuda():
    code = """
import odl
from odl.applications import tomo
from odl.applications.tomo.backends.astra_cuda import AstraCudaImpl
from diffblend_astra.operators import as_operator
space = odl.uniform_discr([-4, -4], [4, 4], (8, 8), dtype="float32")
ray = tomo.RayTransform(space, tomo.parallel_beam_geometry(space, num_angles=6), impl=AstraCudaImpl)
try:
    as_operator(ray)
except RuntimeError as error:
    print("refused:", error)
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "refused: the ODL operator RayTransform" in result.stdout
    assert "requires a usable CUDA GPU" in result.stdout


def test_duck_typed_operators_are_not_guarded():
    from helpers_operators import DenseTomosipoLike

    op = as_operator(DenseTomosipoLike(torch.eye(4), (2, 2), (4,)))
    assert torch.equal(op(torch.ones(2, 2)), torch.ones(4))


# --- the prior's shape messages -------------------------------------------------------------

def _prior(size):
    class Network:
        config = types.SimpleNamespace(sample_size=size)

        def __call__(self, x, t, spacing):
            return x

    return BlendPrior(Network())


def test_prior_shape_errors_name_the_next_step():
    prior = _prior(64)
    with pytest.warns(UserWarning, match=r"trained on 64x64 slices; these are 256x256.*"
                                         r"resample to about 64x64"):
        prior.check_volume_shape((8, 256, 256))
    with pytest.raises(ValueError, match="Z >= 3 .*'dds2d'"):
        prior.check_volume_shape((1, 64, 64))
