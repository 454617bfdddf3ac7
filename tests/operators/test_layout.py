"""Projections whose layout the shape cannot tell: warned about when the data disagree."""

import warnings

import numpy as np
import pytest
import torch

from diffblend_astra.operators import as_operator, sparse_view
from diffblend_astra.operators.layout import MASS_SPREAD_LIMIT, check_layout, mass_spread
from diffblend_astra.phantoms import held_out_seeds, phantom_volume


def scan(views, slices, shape=64, beam="parallel"):
    operator = as_operator(*sparse_view(beam=beam, views=views, shape=shape), slices=slices)
    volume = phantom_volume(held_out_seeds(1)[0], (slices, shape, shape))
    return operator, operator(torch.from_numpy(volume))


def test_parallel_data_keep_each_slices_mass_and_swapped_data_do_not():
    _, y = scan(views=8, slices=8)
    assert mass_spread(y) < 0.05 * MASS_SPREAD_LIMIT
    assert mass_spread(y.transpose(0, 1)) > MASS_SPREAD_LIMIT
    assert mass_spread(torch.zeros(2, 3, 4)) == 0.0


def test_z_equal_to_angles_saved_as_angles_z_det_is_warned_about():
    operator, y = scan(views=8, slices=8)
    with pytest.warns(UserWarning, match=r"\(angles, Z, det\) with Z = angles = 8"):
        check_layout(operator, y.transpose(0, 1).contiguous())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_layout(operator, y)


def test_det_equal_to_angles_saved_as_z_det_angles_is_warned_about():
    operator, y = scan(views=24, slices=3, shape=16)
    assert operator.range_shape == (3, 24, 24)
    with pytest.warns(UserWarning, match=r"\(Z, det, angles\) with det = angles = 24"):
        check_layout(operator, y.transpose(1, 2).contiguous())


def test_an_unambiguous_shape_or_another_beam_is_not_checked():
    operator, y = scan(views=8, slices=3)
    fan, y_fan = scan(views=8, slices=8, beam="fan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_layout(operator, torch.from_numpy(np.random.default_rng(0).random(y.shape)))
        check_layout(fan, y_fan.transpose(0, 1).contiguous())
