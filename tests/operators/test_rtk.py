"""The RTK cone-beam operator: the geometry conversion against line integrals computed by hand,
RTK's own geometry, the dispatch of ``as_operator``, errors, and ASTRA's CUDA projector."""

import importlib.util
import subprocess
import sys

import astra
import numpy as np
import pytest
import torch

from diffblend_astra.baselines import cgls
from diffblend_astra.consistency import CgStep
from diffblend_astra.operators import as_operator, cone_beam
from diffblend_astra.operators.astra_geometry import volume_shape
from diffblend_astra.operators.cuda import cuda_usable
from diffblend_astra.operators.rtk import RtkConeOperator, rtk_cone_operator
from diffblend_astra.operators.rtk_geometry import ImageGrid, rtk_modules

from helpers_operators import cone_case, relative_error, resident_bytes

SIGMA = 2.5
"""Width of the Gaussian blob (world units, 3.3 voxels of :func:`big_cone`): the Joseph
interpolation smooths it by about 1 % (the error falls as 1/σ²: 2.8 % at σ = 1.5)."""


def astra_vectors(proj_geom):
    """Per view: source, detector centre, pixel vectors u (columns), v (rows), from ASTRA's
    documented definition of ``cone`` (written out here, not taken from ASTRA)."""
    if proj_geom["type"] == "cone_vec":
        return np.asarray(proj_geom["Vectors"], dtype=np.float64)
    theta = np.asarray(proj_geom["ProjectionAngles"], dtype=np.float64)
    s, c, zero = np.sin(theta), np.cos(theta), np.zeros_like(theta)
    source, detector = proj_geom["DistanceOriginSource"], proj_geom["DistanceOriginDetector"]
    du, dv = proj_geom["DetectorSpacingX"], proj_geom["DetectorSpacingY"]
    return np.stack([s * source, -c * source, zero, -s * detector, c * detector, zero,
                     c * du, s * du, zero, zero, zero, zero + dv], axis=1)


def gaussian_line_integrals(proj_geom, centre):
    """Exact ``(det_rows, angles, det_cols)`` line integrals of ``exp(-|p - centre|² / 2σ²)``
    along the rays from the source to every detector pixel centre."""
    vectors = astra_vectors(proj_geom)
    rows, cols = proj_geom["DetectorRowCount"], proj_geom["DetectorColCount"]
    r = np.arange(rows) - rows / 2 + 0.5
    c = np.arange(cols) - cols / 2 + 0.5
    out = np.empty((rows, len(vectors), cols))
    for view, (source, detector, u, v) in enumerate(vectors.reshape(-1, 4, 3)):
        pixels = detector + c[None, :, None] * u + r[:, None, None] * v
        rays = pixels - source
        rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
        to_centre = centre - source
        along = rays @ to_centre
        distance2 = to_centre @ to_centre - along**2
        out[:, view] = np.sqrt(2 * np.pi) * SIGMA * np.exp(-distance2 / (2 * SIGMA**2))
    return out


def gaussian_volume(vol_geom, centre):
    """``exp(-|p - centre|² / 2σ²)`` at the voxel centres of a 3D ASTRA vol_geom, ``(Z, Y, X)``;
    ASTRA's 3D volumes count every axis upwards from its window minimum."""
    shape = volume_shape(vol_geom)
    option = vol_geom["option"]
    axes = [option[f"WindowMin{a}"] + (np.arange(n) + 0.5) * (option[f"WindowMax{a}"]
                                                              - option[f"WindowMin{a}"]) / n
            for a, n in zip("ZYX", shape)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    d2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    return torch.from_numpy(np.exp(-d2 / (2 * SIGMA**2)).astype(np.float32))


def big_cone(kind):
    """A 24 × 32 × 28 volume of 0.75-unit voxels, off centre; 6 views; ``cone_vec`` with a
    detector shifted and turned in its own plane by 10°."""
    vol_geom = astra.create_vol_geom(32, 28, 24, -9.0, 12.0, -14.0, 10.0, -8.0, 10.0)
    proj_geom = astra.create_proj_geom("cone", 0.9, 1.1, 30, 48, np.linspace(0.3, 5.5, 6),
                                       60.0, 25.0)
    if kind == "cone_vec":
        vectors = astra.geom_2vec(proj_geom)["Vectors"]
        u, v = vectors[:, 6:9].copy(), vectors[:, 9:12].copy()
        turn = np.radians(10)
        vectors[:, 6:9] = np.cos(turn) * u + np.sin(turn) * v * 0.9 / 1.1
        vectors[:, 9:12] = np.cos(turn) * v - np.sin(turn) * u * 1.1 / 0.9
        vectors[:, 3:6] += 0.4 * u - 1.3 * v
        proj_geom = astra.create_proj_geom("cone_vec", 30, 48, vectors)
    return proj_geom, vol_geom


@pytest.mark.parametrize("kind", ["cone", "cone_vec"])
def test_projections_match_line_integrals_computed_by_hand(kind):
    proj_geom, vol_geom = big_cone(kind)
    centre = np.array([3.0, -4.0, 2.0])          # world (x, y, z), away from every symmetry
    op = rtk_cone_operator(proj_geom, vol_geom, threads=1)
    projected = op(gaussian_volume(vol_geom, centre)).double()
    exact = torch.from_numpy(gaussian_line_integrals(proj_geom, centre))
    error = relative_error(projected, exact)
    assert error < 0.015
    for axis in range(3):             # the blob sits where it should to a quarter of a voxel
        for shift in (-0.2, 0.2):
            moved = centre + shift * np.eye(3)[axis]
            wrong = torch.from_numpy(gaussian_line_integrals(proj_geom, moved))
            assert relative_error(projected, wrong) > 3 * error, (axis, shift)


def test_rtk_geometry_of_its_own_matches_the_astra_conversion(generator):
    proj_geom, vol_geom = cone_beam(shape=(8, 12, 10), views=5)
    _, RTK = rtk_modules()
    geometry = RTK.ThreeDCircularProjectionGeometry.New()
    source = proj_geom["DistanceOriginSource"]
    for angle in np.degrees(proj_geom["ProjectionAngles"]):
        geometry.AddProjection(source, source + proj_geom["DistanceOriginDetector"], angle)
    spacing = proj_geom["DetectorSpacingX"]
    native = RtkConeOperator(geometry, ImageGrid.centred((10, 8, 12)),
                             ImageGrid.centred((proj_geom["DetectorColCount"],
                                                proj_geom["DetectorRowCount"]), spacing))
    converted = rtk_cone_operator(proj_geom, vol_geom)
    assert native.domain_shape == converted.domain_shape == (8, 12, 10)
    assert native.range_shape == converted.range_shape
    x = torch.rand(native.domain_shape, generator=generator)
    torch.testing.assert_close(native(x), converted(x), rtol=1e-5, atol=1e-5)


def test_threads_do_not_change_the_projections(generator):
    one, default = rtk_cone_operator(*cone_case(), threads=1), rtk_cone_operator(*cone_case())
    x = torch.rand(one.domain_shape, generator=generator)
    y = torch.rand(one.range_shape, generator=generator)
    torch.testing.assert_close(one(x), default(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(one.T(y), default.T(y), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(cuda_usable(), reason="ASTRA projects cone beams itself on a GPU")
@pytest.mark.parametrize("kind", ["cone", "cone_vec"])
def test_as_operator_sends_cone_beams_to_rtk_without_cuda(kind, generator):
    op = as_operator(*cone_case(kind))
    assert isinstance(op, RtkConeOperator) and op.astra_geometry[0]["type"] == kind
    x = torch.rand(op.domain_shape, generator=generator)
    torch.testing.assert_close(op(x), rtk_cone_operator(*cone_case(kind))(x))
    with pytest.raises(TypeError, match="slices apply only to.*projected by RTK"):
        as_operator(*cone_case(kind), slices=6)


def test_data_consistency_cg_runs_on_the_whole_volume_in_bounded_memory(generator):
    """The solver's CG step with the RTK operator is CGLS on the whole 64³ volume (one 3D
    system, not slice by slice), and 40 iterations hold no more memory than 5."""
    op = rtk_cone_operator(*cone_beam(shape=64, views=16))
    y = op(torch.rand(op.domain_shape, generator=generator))
    zero = torch.zeros(op.domain_shape)
    torch.testing.assert_close(CgStep(op, y, cg_iters=8).step(zero), cgls(op, y, iterations=8),
                               rtol=2e-3, atol=2e-3)
    CgStep(op, y, cg_iters=5).step(zero)
    before = resident_bytes()
    CgStep(op, y, cg_iters=40).step(zero)
    assert resident_bytes() - before < 6 * 4 * 64**3, "CG kept memory per iteration"


def test_bad_geometries_raise_one_line_errors():
    proj_geom, vol_geom = cone_case("cone_vec")
    uneven = {**proj_geom, "Vectors": proj_geom["Vectors"].copy()}
    uneven["Vectors"][2, 6:9] *= 1.5
    skewed = {**proj_geom, "Vectors": proj_geom["Vectors"].copy()}
    u, v = skewed["Vectors"][3, 6:9], skewed["Vectors"][3, 9:12]    # v turned 10° towards u
    skewed["Vectors"][3, 9:12] = np.cos(0.17) * v + np.sin(0.17) * u * 1.2 / 1.1
    parallel = astra.create_proj_geom("parallel3d", 1.0, 1.0, 9, 16, np.linspace(0, 3, 4))
    for geometry, match in ((uneven, "one detector pixel size for all views.*vector u"),
                            (skewed, "rectangular detector.*view 3 are not perpendicular"),
                            (parallel, r"types \('cone', 'cone_vec'\), got 'parallel3d'")):
        with pytest.raises(ValueError, match=match):
            rtk_cone_operator(geometry, vol_geom)
    with pytest.raises(ValueError, match="3D volume grid and a 2D detector grid"):
        RtkConeOperator(None, ImageGrid.centred((4, 4)), ImageGrid.centred((4, 4)))
    with pytest.raises(ValueError, match="image grid needs 2 or 3 positive sizes"):
        ImageGrid((4, 0, 4), (1, 1, 1), (0, 0, 0))


def test_missing_rtk_names_the_extra():
    code = ("import sys; sys.modules['itk'] = None\n"
            "from diffblend_astra.operators import as_operator, cone_beam\n"
            "as_operator(*cone_beam(shape=8, views=4))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    if cuda_usable():
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "ImportError: cone-beam projection without CUDA needs RTK, which is not installed: "
        "pip install 'diffblend_astra[rtk]' (the itk-rtk package)")


@pytest.mark.cuda
@pytest.mark.skipif(importlib.util.find_spec("itk") is None,
                    reason="needs RTK: pip install 'diffblend_astra[rtk]'")
@pytest.mark.parametrize("kind", ["cone", "cone_vec"])
def test_rtk_agrees_with_astra_cuda(kind):
    """RTK's Joseph projector and ASTRA's cuda3d projector on the same geometry and a smooth
    volume: the same line integrals up to their discretisations."""
    proj_geom, vol_geom = big_cone(kind)
    volume = gaussian_volume(vol_geom, np.array([3.0, -4.0, 2.0]))
    astra_op, rtk_op = as_operator(proj_geom, vol_geom), rtk_cone_operator(proj_geom, vol_geom)
    assert not isinstance(astra_op, RtkConeOperator)
    expected = astra_op(volume.cuda()).cpu()
    assert relative_error(rtk_op(volume), expected) < 0.02
    projections = torch.from_numpy(gaussian_line_integrals(proj_geom, np.zeros(3))).float()
    back = astra_op.T(projections.cuda()).cpu()
    assert relative_error(rtk_op.T(projections), back) < 0.05
