"""The one input rule: real floating-point data of any strides, nothing else, in the API and
in the files the command line reads."""

import numpy as np
import pytest
import torch

from diffblend_astra import baselines
from diffblend_astra.io import read_volume
from diffblend_astra.operators import as_operator, sparse_view
from diffblend_astra.operators.inputs import as_float32_array, as_input


@pytest.mark.parametrize("view", [lambda a: a[::-1], lambda a: a[:, ::-1, ::2].repeat(2, 2),
                                  lambda a: np.asfortranarray(a), lambda a: a.astype(">f8")])
def test_any_strides_and_byte_order_are_accepted(view):
    array = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    strided = view(array)
    t = as_input(strided, strided.shape, "x", "the test")
    assert t.dtype == torch.float32 and t.tolist() == strided.tolist()


def test_a_reversed_volume_reconstructs_like_its_copy():
    proj_geom, vol_geom = sparse_view(beam="parallel", views=4, shape=16)
    op = as_operator(proj_geom, vol_geom, slices=3)
    y = op(torch.rand(3, 16, 16)).numpy()
    np.testing.assert_array_equal(baselines.fbp(op, y[::-1]).numpy(),
                                  baselines.fbp(op, y[::-1].copy()).numpy())


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, bool, np.complex64])
def test_non_floating_arrays_are_refused_by_the_api_and_in_files(tmp_path, dtype):
    array = np.ones((2, 3, 4), dtype=dtype)
    with pytest.raises(TypeError, match="not cast silently"):
        as_float32_array(array, "x")
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(TypeError, match="a.npy must hold real floating-point values"):
        read_volume(tmp_path / "a.npy")


def test_float_files_of_any_precision_read_as_float32(tmp_path):
    np.save(tmp_path / "h.npy", np.ones((2, 3, 4), np.float16)[:, ::-1])
    volume = read_volume(tmp_path / "h.npy")
    assert volume.dtype == np.float32 and volume.flags.c_contiguous


def test_training_follows_the_rule_too(tmp_path):
    from diffblend_astra.train import TrainConfig, train

    volume = np.ones((4, 16, 16), np.int16)
    with pytest.raises(TypeError, match="training volume 0 must hold real floating-point"):
        train([volume], tmp_path, TrainConfig(prior_kind="slice"), progress=False)
    assert list(tmp_path.iterdir()) == []
