import math
from types import SimpleNamespace

import pytest
import torch

from diffblend_astra.comparisons.padis import (PatchGrid, PatchNetwork, PatchPrior,
                                               load_patch_prior, patch_network_config,
                                               position_channels, sample_patches,
                                               train_patch_prior)
from diffblend_astra.comparisons.registry import EXTRA_METHODS
from diffblend_astra.networks import NetworkConfig
from diffblend_astra.solver import DiffusionBlendSolver
from helpers_operators import random_operator

MICRO = NetworkConfig(sample_size=8, in_channels=3, out_channels=1, block_out_channels=(8, 8),
                      layers_per_block=1, attention_levels=(), norm_num_groups=4,
                      spacing_embedding=False)


class RecordingPatchNetwork:
    """Returns ``0.5 x`` and records each call's patches and positions."""

    def __init__(self, patch):
        self.config = SimpleNamespace(sample_size=patch)
        self.calls = []

    def __call__(self, x, t, positions):
        self.calls.append((x.clone(), t.clone(), positions.clone()))
        return 0.5 * x


def coordinate_volume(shape, channel):
    """A volume whose voxels hold their own normalised row (0) or column (1) coordinate."""
    z, n1, n2 = shape
    maps = position_channels(torch.arange(n1), torch.arange(n2), (n1, n2))
    return maps[channel].expand(z, n1, n2).clone()


@pytest.mark.parametrize("image_shape, patch", [((16, 16), 8), ((13, 10), 4), ((6, 9), 8)])
def test_stitching_covers_every_pixel_exactly_once_for_every_shift(image_shape, patch):
    grid = PatchGrid(image_shape, patch)
    (m1, m2), (k1, k2) = grid.margins, grid.counts
    assert grid.canvas_shape == (image_shape[0] + 2 * m1, image_shape[1] + 2 * m2)
    images = torch.randn((2,) + image_shape)
    canvas = grid.pad(images, torch.full((2,) + grid.canvas_shape, 7.0))
    for shift in [(a, b) for a in range(m1 + 1) for b in range(m2 + 1)]:
        ones = torch.ones(2 * k1 * k2, patch, patch)
        assert torch.equal(grid.stitch(ones, shift), torch.ones((2,) + image_shape))
        assert torch.equal(grid.stitch(grid.cut(canvas, shift), shift), images)


def test_random_shifts_cover_the_whole_range():
    grid = PatchGrid((16, 16), 8)
    g = torch.Generator().manual_seed(0)
    shifts = {grid.random_shift(g) for _ in range(2000)}
    assert shifts == {(a, b) for a in range(9) for b in range(9)}


def test_training_patches_carry_their_true_positions():
    """Where a training patch shows the image, its content equals its position channel."""
    shape = (3, 12, 10)
    g = torch.Generator().manual_seed(0)
    for channel in (0, 1):
        x0, positions = sample_patches([coordinate_volume(shape, channel)], 8, 32, g)
        assert x0.shape == (32, 1, 8, 8) and positions.shape == (32, 2, 8, 8)
        inside = (positions.abs() < 1).all(dim=1)
        assert inside.any() and (~inside).any()
        assert torch.allclose(x0[:, 0][inside], positions[:, channel][inside])
        assert (x0[:, 0][~inside] == -1).all()                    # padding is the background


def test_sampling_feeds_the_network_the_positions_it_was_trained_with():
    shape = (2, 12, 10)
    net = RecordingPatchNetwork(8)
    prior = PatchPrior(net, image_shape=shape[1:], max_batch=5)
    for channel in (0, 1):
        x = coordinate_volume(shape, channel)
        eps = prior.predict_noise(x, 0, 0, torch.Generator().manual_seed(channel))
        assert torch.allclose(eps, 0.5 * x)                       # stitched back in place
        patches = torch.cat([c[0] for c in net.calls])
        positions = torch.cat([c[2] for c in net.calls])
        net.calls.clear()
        assert patches.shape[0] == 2 * math.prod(PatchGrid(shape[1:], 8).counts)
        inside = (positions.abs() < 1).all(dim=1)
        assert torch.allclose(patches[:, 0][inside], positions[:, channel][inside])


def test_padding_is_the_noised_background():
    net = RecordingPatchNetwork(8)
    prior = PatchPrior(net, image_shape=(8, 8), max_batch=100)
    prior.predict_noise(torch.zeros(20, 8, 8), 999, 0, torch.Generator().manual_seed(0))
    patches, _, positions = net.calls[0]
    padding = patches[:, 0][~(positions.abs() < 1).all(dim=1)]
    a = prior.alpha_bar[999]
    assert abs(padding.mean() + a ** 0.5) < 0.05 and abs(padding.std() - (1 - a) ** 0.5) < 0.05


def test_patch_network_shapes_and_config():
    net = PatchNetwork(MICRO)
    out = net(torch.randn(3, 1, 8, 8), torch.tensor([1, 2, 3]), torch.randn(3, 2, 8, 8))
    assert out.shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="positions"):
        net(torch.randn(3, 1, 8, 8), torch.tensor([1, 2, 3]), None)
    assert patch_network_config(56).sample_size == 56
    with pytest.raises(ValueError, match="multiple of 8"):
        patch_network_config(20)


def test_trained_prior_round_trips_and_runs_in_the_solver(tmp_path):
    shape = (4, 12, 12)
    volumes = [torch.rand(shape, generator=torch.Generator().manual_seed(k)) for k in range(2)]
    path = train_patch_prior(volumes, tmp_path, network=PatchNetwork(MICRO), steps=2,
                             batch_size=4, progress=False)
    prior = load_patch_prior(path)
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
    with pytest.raises(ValueError, match="trained on 64x64 slices"):   # the bundled prior
        run(op, y, checkpoint=None, steps=2, seed=0, device="cpu", progress=False)
