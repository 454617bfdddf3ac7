import math

import pytest
import torch

from diffblend_astra.comparisons.registry import EXTRA_METHODS
from diffblend_astra.comparisons.tpdm import AlternatingPrior, AxisPrior, to_axis, tpdm_prior
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig
from diffblend_astra.priors import BlendPrior, SlicePrior
from diffblend_astra.solver import DiffusionBlendSolver
from helpers_operators import random_operator
from oracle import RecordingNetwork

SLICE = NetworkConfig(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 8),
                      layers_per_block=1, attention_levels=(), norm_num_groups=4,
                      spacing_embedding=False)


def volume(shape=(5, 6, 7), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("axis", [0, 1, 2, "axial", "coronal", "sagittal"])
def test_axis_swap_is_its_own_exact_inverse(axis):
    x = volume()
    assert torch.equal(to_axis(to_axis(x, axis), axis), x)


def test_axis_swap_puts_the_chosen_slices_first():
    x = volume()
    assert torch.equal(to_axis(x, "coronal")[2], x[:, 2])     # coronal slice (Z, X)
    assert torch.equal(to_axis(x, 2)[3], x[:, :, 3].T)        # sagittal slice as (Y, Z)
    assert to_axis(x, 2).shape == (7, 6, 5)
    with pytest.raises(ValueError, match="axis must be"):
        to_axis(x, 3)


def test_axis_prior_feeds_the_network_coronal_slices_and_returns_volume_order():
    net = RecordingNetwork(out_channels=1)
    prior = AxisPrior(SlicePrior(net, max_batch=100), "coronal")
    x = volume()
    eps = prior.predict_noise(x, 7, 0, torch.Generator())
    assert torch.allclose(eps, 0.5 * x) and eps.is_contiguous()
    (inputs, t, _), = net.calls
    assert inputs.shape == (6, 1, 5, 7)                       # Y slices of (Z, X)
    assert torch.equal(inputs[4, 0], x[:, 4])


def test_alternating_prior_takes_turns():
    axial, coronal = RecordingNetwork(out_channels=1), RecordingNetwork(out_channels=1)
    prior = tpdm_prior(SlicePrior(axial), SlicePrior(coronal), every=2)
    x = volume((4, 4, 4))
    for step in range(6):
        prior.predict_noise(x, 10, step, torch.Generator())
    assert len(axial.calls) == 4 and len(coronal.calls) == 2   # steps 0,1,4,5 and 2,3
    with pytest.raises(ValueError, match="another schedule"):
        AlternatingPrior([SlicePrior(axial), SlicePrior(coronal, schedule=VPSchedule(
            num_timesteps=100))])


def test_shape_check_names_the_orientation():
    net = EpsilonNetwork(SLICE)
    prior = tpdm_prior(SlicePrior(net), SlicePrior(net))
    prior.check_volume_shape((8, 8, 8))
    prior.check_volume_shape((6, 8, 10))                      # any slice size in both planes
    coronal = AxisPrior(BlendPrior(RecordingNetwork()), "coronal")
    with pytest.raises(ValueError, match=r"coronal prior sees a \(8, 2, 8\) volume as 2 "
                                         r"slices of 8x8: BlendPrior needs Z >= 3"):
        coronal.check_volume_shape((8, 2, 8))                  # axial fits, coronal does not


def test_runs_inside_the_diffusion_blend_solver():
    shape = (8, 8, 8)
    op = random_operator(shape, (math.prod(shape) // 4,), seed=1)
    net = EpsilonNetwork(SLICE).eval()
    solver = DiffusionBlendSolver(op, tpdm_prior(SlicePrior(net), SlicePrior(net)), steps=2,
                                  cg_iters=1)
    x = solver.reconstruct(op(torch.rand(shape)), seed=0, progress=False)
    assert x.shape == shape and torch.isfinite(x).all()


def test_registry_entry_warns_where_the_volume_is_far_from_the_bundled_priors():
    op = random_operator((8, 8, 8), (64,), seed=1)
    with pytest.warns(UserWarning, match="trained on 64x64 slices; these are 8x8"):
        x = EXTRA_METHODS["tpdm"](op, torch.zeros(64), checkpoint=None, steps=2, seed=0,
                                  device="cpu", progress=False)
    assert x.shape == (8, 8, 8)
