"""Geometry factories and the geometry JSON file."""

import json
import math

import astra
import numpy as np
import pytest
import torch

from diffblend_astra.operators import (as_operator, cone_beam, fan_beam, limited_angle,
                                       load_geometry, parallel_beam, save_geometry, sparse_view)
from diffblend_astra.operators.astra_geometry import (check_geometry_pair, projection_shape,
                                                      volume_shape, voxel_size)


@pytest.mark.parametrize("make, kind, arc", [(parallel_beam, "parallel", math.pi),
                                             (fan_beam, "fanflat", 2 * math.pi),
                                             (cone_beam, "cone", 2 * math.pi)])
def test_defaults(make, kind, arc):
    proj_geom, vol_geom = make()
    assert proj_geom["type"] == kind
    assert check_geometry_pair(proj_geom, vol_geom) == (3 if kind == "cone" else 2)
    angles = proj_geom["ProjectionAngles"]
    np.testing.assert_allclose(np.diff(angles), arc / len(angles))
    assert angles[0] == 0 and angles[-1] < arc
    assert volume_shape(vol_geom) == (64,) * (3 if kind == "cone" else 2)
    assert projection_shape(proj_geom)[-1] == 96


@pytest.mark.parametrize("make", [parallel_beam, fan_beam])
@pytest.mark.parametrize("size", [64, 256])
def test_detector_sees_the_whole_field_of_view(make, size):
    proj_geom, vol_geom = make(shape=size, views=16, pixel_size=0.5)
    disc = torch.from_numpy(np.hypot(*np.mgrid[:size, :size] - (size - 1) / 2) < size / 2 * 1.41)
    sinogram = as_operator(proj_geom, vol_geom)(disc.float())
    assert projection_shape(proj_geom) == (16, math.ceil(1.5 * size))
    assert sinogram[:, :2].abs().max() == 0 and sinogram[:, -2:].abs().max() == 0


def test_shape_and_pixel_size():
    proj_geom, vol_geom = parallel_beam(shape=(48, 80), pixel_size=0.25, views=10)
    assert volume_shape(vol_geom) == (48, 80) and voxel_size(vol_geom) == (0.25, 0.25)
    assert projection_shape(proj_geom) == (10, 120) and proj_geom["DetectorWidth"] == 0.25
    proj_geom, vol_geom = cone_beam(shape=(8, 16, 24), pixel_size=2.0, views=5)
    assert volume_shape(vol_geom) == (8, 16, 24) and voxel_size(vol_geom) == (2.0, 2.0, 2.0)
    assert projection_shape(proj_geom) == (12, 5, 36)


def test_sparse_view_and_limited_angle():
    proj_geom, _ = sparse_view(views=8)
    np.testing.assert_allclose(proj_geom["ProjectionAngles"], np.arange(8) * np.pi / 8)
    proj_geom, _ = sparse_view(beam="fan", views=8, shape=32)
    np.testing.assert_allclose(proj_geom["ProjectionAngles"], np.arange(8) * np.pi / 4)
    proj_geom, _ = limited_angle(arc=np.pi / 2)
    angles = proj_geom["ProjectionAngles"]
    assert len(angles) == 90 and angles.max() < np.pi / 2
    proj_geom, vol_geom = limited_angle(beam="cone", arc=np.pi / 3, views=12, start=0.5, shape=8)
    assert proj_geom["type"] == "cone" and len(proj_geom["ProjectionAngles"]) == 12
    np.testing.assert_allclose(proj_geom["ProjectionAngles"][[0, -1]],
                               [0.5, 0.5 + np.pi / 3 * 11 / 12])


@pytest.mark.parametrize("call, match", [
    (lambda: parallel_beam(views=0), "views must be a positive int"),
    (lambda: fan_beam(arc=-1.0), "arc must be a positive"),
    (lambda: cone_beam(shape=(4, 4)), "tuple of 3 ints"),
    (lambda: parallel_beam(pixel_size=float("nan")), "pixel_size"),
    (lambda: sparse_view(beam="helical"), "beam must be one of"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        parallel_beam(64)


@pytest.mark.parametrize("pair", [parallel_beam(views=5), cone_beam(shape=8, views=3),
                                  (astra.geom_2vec(fan_beam(views=4)[0]), fan_beam()[1])],
                         ids=["parallel", "cone", "fanflat_vec"])
def test_geometry_file_round_trip(tmp_path, pair):
    path = save_geometry(tmp_path / "geometry.json", *pair)
    assert sorted(json.loads(path.read_text())) == ["proj_geom", "vol_geom"]
    proj_geom, vol_geom = load_geometry(path)
    assert vol_geom == pair[1]
    assert proj_geom.keys() == pair[0].keys()
    for key, value in pair[0].items():
        np.testing.assert_array_equal(proj_geom[key], value)
    assert list(tmp_path.iterdir()) == [path]


def test_geometry_file_errors(tmp_path):
    path = save_geometry(tmp_path / "geometry.json", *parallel_beam(views=5))
    before = path.read_text()
    with pytest.raises(ValueError, match="non-empty 1D"):
        save_geometry(path, {**parallel_beam()[0], "ProjectionAngles": []}, parallel_beam()[1])
    assert path.read_text() == before and list(tmp_path.iterdir()) == [path]
    path.write_text('{"proj_geom": {}}')
    with pytest.raises(ValueError, match="'proj_geom' and 'vol_geom'"):
        load_geometry(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_geometry(path)
    path.write_text(json.dumps({"proj_geom": {"type": "curved"}, "vol_geom": {}}))
    with pytest.raises(ValueError, match="geometry.json: unsupported"):
        load_geometry(path)
