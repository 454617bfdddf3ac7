"""FDK on the CPU through RTK, for the cone beams that RTK projects."""

import astra
import numpy as np
import pytest
import torch

from diffblend_astra.baselines.fbp import FILTERS, fbp
from diffblend_astra.baselines.fdk_rtk import WINDOW_SETTERS
from diffblend_astra.operators import cone_beam, limited_angle
from diffblend_astra.operators.rtk import rtk_cone_operator

from helpers_operators import ellipses, relative_error


def full_scan(kind="cone", views=180):
    proj_geom, vol_geom = cone_beam(shape=(16, 64, 64), views=views)
    if kind == "cone_vec":
        proj_geom = astra.geom_2vec(proj_geom)
        proj_geom["Vectors"][:, 3:6] += 0.5 * proj_geom["Vectors"][:, 6:9]   # half a pixel
    return rtk_cone_operator(proj_geom, vol_geom)


@pytest.mark.parametrize("kind", ["cone", "cone_vec"])
def test_fdk_on_cpu_recovers_cone_phantom(kind):
    op = full_scan(kind)
    truth = ellipses((64, 64)).expand(16, 64, 64).contiguous()
    estimate = fbp(op, op(truth))
    assert estimate.shape == truth.shape and estimate.dtype == torch.float32
    assert relative_error(estimate[4:12], truth[4:12]) < 0.2


def test_every_window_is_rtks_own_and_changes_the_result():
    assert sorted(WINDOW_SETTERS) == sorted(FILTERS)
    op = full_scan(views=60)
    truth = ellipses((64, 64)).expand(16, 64, 64).contiguous()
    y = op(truth)
    plain = fbp(op, y, filter="ram-lak")
    for name in FILTERS:
        estimate = fbp(op, y, filter=name.upper())
        assert relative_error(estimate[4:12], truth[4:12]) < 0.25, name
        if name != "ram-lak":       # a smoother window: a different volume, fewer edges
            assert relative_error(estimate, plain) > 0.01, name


def test_every_view_of_a_limited_arc_weighs_the_same():
    """RTK's own weights (half the angular gaps) would give the two end views of a 90° arc
    the gap around the missing 270° as well; the package weights every view π / views."""
    op = rtk_cone_operator(*limited_angle(beam="cone", arc=np.pi / 2, views=30,
                                          shape=(8, 32, 32)))
    energies = []
    for view in (0, 15, 29):
        y = torch.zeros(op.range_shape)
        y[:, view] = 1.0
        energies.append(torch.linalg.vector_norm(fbp(op, y)).item())
    assert max(energies) < 1.2 * min(energies), energies
