"""Patches, their positions and the patch prior's stitching (:mod:`diffblend_astra.patches`,
:class:`diffblend_astra.priors.PatchPrior`)."""

import math
from types import SimpleNamespace

import pytest
import torch

from diffblend_astra.patches import PatchGrid, position_channels, sample_patches
from diffblend_astra.priors import PatchPrior


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
