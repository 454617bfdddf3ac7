"""PaDIS's training recipe and its registry entry (the patch prior is the core's ``patch`` kind)."""

import math

import pytest
import torch

from diffblend_astra.checkpoint import load_prior
from diffblend_astra.comparisons.padis import patch_network_config, train_patch_prior
from diffblend_astra.comparisons.registry import EXTRA_METHODS
from diffblend_astra.networks import NetworkConfig, PatchNetwork
from diffblend_astra.solver import DiffusionBlendSolver
from helpers_operators import random_operator

MICRO = NetworkConfig(sample_size=8, in_channels=3, out_channels=1, block_out_channels=(8, 8),
                      layers_per_block=1, attention_levels=(), norm_num_groups=4,
                      spacing_embedding=False)



def test_patch_network_config_needs_a_multiple_of_the_levels():
    assert patch_network_config(56).sample_size == 56
    with pytest.raises(ValueError, match="multiple of 8"):
        patch_network_config(20)


def test_trained_prior_round_trips_and_runs_in_the_solver(tmp_path):
    shape = (4, 12, 12)
    volumes = [torch.rand(shape, generator=torch.Generator().manual_seed(k)) for k in range(2)]
    path = train_patch_prior(volumes, tmp_path, network=PatchNetwork(MICRO), steps=2,
                             batch_size=4, progress=False)
    prior = load_prior(path)
    assert prior.grid.image_shape == (12, 12) and prior.grid.patch == 8
    op = random_operator(shape, (math.prod(shape) // 4,), seed=1)
    x = DiffusionBlendSolver(op, prior, steps=2).reconstruct(
        op(volumes[0]), seed=0, progress=False)
    assert x.shape == shape and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="12x12 slices"):
        prior.check_volume_shape((4, 16, 16))
    run = EXTRA_METHODS["padis"]
    y = op(volumes[0])
    assert torch.equal(run(op, y, checkpoint=path, steps=2, seed=0, device="cpu",
                           progress=False), x)
    with pytest.raises(ValueError, match="trained on 256x256 slices"):   # the bundled prior
        run(op, y, checkpoint=None, steps=2, seed=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="trained on 64x64 slices"):
        run(op, y, checkpoint="patch-phantom", steps=2, seed=0, device="cpu", progress=False)
