import json
import math

import numpy as np
import pytest
import torch

from diffblend_astra.normalization import IntensityWindow

HU = IntensityWindow(low=-1000.0, high=1000.0)


def test_window_ends_map_to_minus_one_and_one():
    window = IntensityWindow(0.0, 0.04)
    x = np.array([0.0, 0.02, 0.04], dtype=np.float32)
    np.testing.assert_allclose(window.to_network(x), [-1.0, 0.0, 1.0], atol=1e-6)
    assert window.scale == pytest.approx(0.02) and window.centre == pytest.approx(0.02)


def test_numpy_and_torch_round_trip_and_keep_their_type():
    window = IntensityWindow(-1024, 3071)
    x = np.random.default_rng(0).uniform(-1500, 4000, size=(2, 3, 4))
    for data in (x, torch.from_numpy(x.astype(np.float32))):
        u = window.to_network(data)
        assert type(u) is type(data) and u.dtype == data.dtype
        back = window.to_physical(u)
        np.testing.assert_allclose(np.asarray(back), np.asarray(data), rtol=1e-6, atol=1e-3)


def test_scale_converts_network_differences_to_physical_ones():
    window = IntensityWindow(10.0, 50.0)
    u = np.array([-0.3, 0.45])
    assert np.diff(window.to_physical(u))[0] == pytest.approx(np.diff(u)[0] * window.scale)


def test_no_clipping_unless_asked():
    x = np.array([-3000.0, 0.0, 3000.0])
    np.testing.assert_allclose(HU.to_network(x), [-3.0, 0.0, 3.0])
    np.testing.assert_allclose(HU.to_network(x, clip=True), [-1.0, 0.0, 1.0])
    clipped = HU.to_network(torch.tensor([-3000.0, 3000.0]), clip=True)
    assert isinstance(clipped, torch.Tensor) and clipped.tolist() == [-1.0, 1.0]


def test_dict_round_trip_through_json():
    window = IntensityWindow(-0.5, 2.25)
    data = json.loads(json.dumps(window.to_dict()))
    assert data == {"low": -0.5, "high": 2.25}
    assert IntensityWindow.from_dict(data) == window
    with pytest.raises(ValueError, match="'low' and 'high'"):
        IntensityWindow.from_dict({"low": 0.0, "high": 1.0, "gamma": 2.0})


def test_frozen_hashable_and_repr_round_trips():
    window = IntensityWindow(np.float32(1.5), 4)
    assert isinstance(window.low, float) and isinstance(window.high, float)
    assert eval(repr(window)) == window and hash(window) == hash(IntensityWindow(1.5, 4.0))
    with pytest.raises(AttributeError):
        window.low = 0.0


@pytest.mark.parametrize("low, high", [(1.0, 1.0), (2.0, 1.0), (0.0, math.inf), (math.nan, 1.0)])
def test_empty_reversed_or_infinite_windows_are_refused(low, high):
    with pytest.raises(ValueError, match="finite low < high"):
        IntensityWindow(low, high)


def test_non_numbers_are_refused():
    with pytest.raises(TypeError, match="real number"):
        IntensityWindow("0", 1.0)


def test_percentiles_pool_all_volumes():
    a = np.arange(0, 50, dtype=np.float32).reshape(2, 5, 5)
    b = torch.arange(50, 101, dtype=torch.float32).reshape(3, 17, 1)
    window = IntensityWindow.from_percentiles([a, b], lo=10, hi=90)  # voxels 0, 1, …, 100
    assert (window.low, window.high) == pytest.approx((10.0, 90.0))
    assert IntensityWindow.from_percentiles(a, lo=0, hi=100) == IntensityWindow(0.0, 49.0)


def test_percentiles_of_constant_data_are_refused():
    with pytest.raises(ValueError, match="constant"):
        IntensityWindow.from_percentiles(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="0 <= lo < hi <= 100"):
        IntensityWindow.from_percentiles(np.arange(8.0).reshape(2, 2, 2), lo=60, hi=40)
