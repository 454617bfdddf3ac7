import numpy as np
import pytest

from diffblend_astra.phantoms import (held_out_seeds, phantom_volume, training_seeds,
                                      validation_seeds)


def test_phantoms_are_seeded_and_varied():
    a, b = phantom_volume(0), phantom_volume(1)
    assert a.shape == (64, 64, 64) and a.dtype == np.float32
    assert np.array_equal(a, phantom_volume(0))
    assert np.abs(a - b).mean() > 0.02
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_structures_continue_across_slices_and_carry_texture():
    v = phantom_volume(3)
    body = v > 0.05
    # neighbouring slices are far more alike than slices far apart
    near = np.abs(v[30] - v[31]).mean()
    far = np.abs(v[10] - v[50]).mean()
    assert near < 0.5 * far
    # not piecewise constant: many distinct grey values inside the body
    assert len(np.unique(np.round(v[body], 3))) > 200


def test_seed_sets_do_not_overlap():
    sets = [set(f(100)) for f in (training_seeds, validation_seeds, held_out_seeds)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_other_shapes_and_bad_shape():
    assert phantom_volume(0, (9, 16, 20)).shape == (9, 16, 20)
    with pytest.raises(ValueError, match="shape"):
        phantom_volume(0, (2, 16, 16))
