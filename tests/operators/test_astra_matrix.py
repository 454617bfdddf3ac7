"""The sparse system-matrix path of 2D stacks agrees with ASTRA's direct calls."""

import pytest
import torch

from diffblend_astra.operators import as_operator, sparse_view
from diffblend_astra.operators.astra_matrix import matrix_fits


@pytest.mark.parametrize("beam", ["parallel", "fan"])
def test_matrix_path_matches_direct_calls(beam, generator):
    proj_geom, vol_geom = sparse_view(beam=beam, views=7, shape=(24, 32))
    fast = as_operator(proj_geom, vol_geom, slices=5)
    direct = as_operator(proj_geom, vol_geom, slices=5, use_matrix=False)
    assert fast.use_matrix and not direct.use_matrix
    x = torch.rand(fast.domain_shape, generator=generator)
    y = torch.rand(fast.range_shape, generator=generator)
    scale = direct(x).abs().max()
    assert (fast(x) - direct(x)).abs().max() <= 1e-5 * scale
    assert (fast.T(y) - direct.T(y)).abs().max() <= 1e-5 * direct.T(y).abs().max()


def test_matrix_is_not_used_where_it_would_be_wrong_or_too_large():
    proj_geom, vol_geom = sparse_view(beam="parallel", views=8, shape=64)
    assert matrix_fits(proj_geom, vol_geom, "linear")
    huge_geom, huge_vol = sparse_view(beam="parallel", views=2000, shape=4096)
    assert not matrix_fits(huge_geom, huge_vol, "linear")
    import astra
    import numpy as np
    vec = astra.create_proj_geom("parallel_vec", 48, np.tile([1.0, 0, 0, 0, 0, 1.0], (4, 1)))
    assert not matrix_fits(vec, vol_geom, "distance_driven")
