"""Priors serve any slice size: fully convolutional networks, crop training, bounded chunks."""

import warnings

import numpy as np
import pytest
import torch

from diffblend_astra.checkpoint import load_checkpoint, load_prior
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig
from diffblend_astra.priors import BlendPrior, SlicePrior
from diffblend_astra.train import TrainConfig, sample_batch, train
from oracle import RecordingNetwork


def micro(kind="slice", size=16):
    c_in, c_out = {"blend": (3, 3), "slice": (1, 1)}[kind]
    torch.manual_seed(0)
    return EpsilonNetwork(NetworkConfig(sample_size=size, in_channels=c_in, out_channels=c_out,
                                        block_out_channels=(16, 32, 32), layers_per_block=1,
                                        attention_levels=(2,), norm_num_groups=8,
                                        spacing_embedding=kind == "blend")).eval()


def test_the_network_runs_on_slices_of_any_size():
    net = micro()
    t = torch.tensor([10])
    for shape in ((16, 16), (20, 28), (17, 33), (64, 48)):
        x = torch.randn(1, 1, *shape)
        with torch.no_grad():
            assert net(x, t).shape == x.shape
    x = torch.randn(2, 1, 24, 32)                  # a multiple of 4: no padding at all
    with torch.no_grad():
        assert torch.equal(net(x, t.expand(2)), net.unet(x, t.expand(2)).sample)


def test_network_calls_are_bounded_in_pixels_not_only_in_images():
    net = RecordingNetwork(out_channels=1)
    prior = SlicePrior(net, max_batch=16, max_pixels=3 * 32 * 32)
    prior.predict_noise(torch.randn(8, 32, 32), 10, 0, torch.Generator())
    assert [c[0].shape[0] for c in net.calls] == [3, 3, 2]
    net.calls.clear()
    prior.predict_noise(torch.randn(8, 8, 8), 10, 0, torch.Generator())
    assert [c[0].shape[0] for c in net.calls] == [8]        # small slices: max_batch rules
    net.calls.clear()
    prior.predict_noise(torch.randn(2, 64, 64), 10, 0, torch.Generator())
    assert [c[0].shape[0] for c in net.calls] == [1, 1]     # never fewer than one slice


def test_chunking_leaves_the_result_unchanged_at_a_large_slice_size():
    prior = BlendPrior(micro("blend"))
    x = torch.randn(9, 40, 40)
    whole = prior.predict_noise(x, 300, 0, torch.Generator().manual_seed(1))
    prior.max_pixels = 40 * 40
    chunked = prior.predict_noise(x, 300, 0, torch.Generator().manual_seed(1))
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_crops_come_from_anywhere_in_slices_of_different_sizes():
    a = torch.arange(24 * 24, dtype=torch.float32).reshape(1, 24, 24).expand(5, 24, 24)
    b = -torch.ones(5, 40, 20)
    x0, _, spacing = sample_batch([a, b], "blend", 200, torch.Generator().manual_seed(0),
                                  crop=16)
    assert x0.shape == (200, 3, 16, 16) and spacing.shape == (200,)
    from_a = x0[x0[:, 0, 0, 0] >= 0]
    corners = {int(v) for v in from_a[:, 0, 0, 0]}
    assert len(corners) > 20 and max(corners) <= (24 - 16) * 24 + (24 - 16)
    assert 0 < len(from_a) < 200                         # both volumes are drawn


def test_a_prior_trained_on_crops_records_them_and_serves_other_sizes(tmp_path):
    volumes = [torch.rand(6, 24, 24), torch.rand(6, 32, 20)]
    config = TrainConfig(prior_kind="slice", steps=2, batch_size=2, crop=16,
                         checkpoint_every=2, precision="fp32")
    path = train(volumes, tmp_path / "run", config, progress=False, network=micro(),
                 data_summary={"slices": {"pixel_mm": 1.25, "intensity": "ct-units"}})
    ck = load_checkpoint(path)
    assert ck.trained_on == {"slice_shape": [32, 24], "crop": 16, "pixel_mm": 1.25,
                             "intensity": "ct-units"}
    prior = load_prior(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prior.check_volume_shape((4, 40, 40))              # within 2x: no warning
    with pytest.warns(UserWarning, match=r"trained on 32x24 slices of 1.25 mm pixels"):
        prior.check_volume_shape((4, 128, 128))
    eps = prior.predict_noise(torch.randn(4, 48, 36), 100, 0, torch.Generator())
    assert eps.shape == (4, 48, 36) and torch.isfinite(eps).all()


def test_crop_training_refuses_slices_smaller_than_the_crop(tmp_path):
    config = TrainConfig(prior_kind="slice", steps=1, crop=32)
    with pytest.raises(ValueError, match=r"H >= 32, W >= 32\) for crops of 32x32"):
        train([torch.rand(5, 40, 24)], tmp_path / "run", config, progress=False)
    with pytest.raises(ValueError, match="crop must be >= 16"):
        TrainConfig(prior_kind="slice", crop=8)
    with pytest.raises(ValueError, match="'patch' prior takes no crop"):
        TrainConfig(prior_kind="patch", crop=32, flip_augment=False)
    with pytest.raises(ValueError, match="slice size of the first volume .*--crop N"):
        train([torch.rand(5, 16, 16), torch.rand(5, 24, 24)], tmp_path / "r2",
              TrainConfig(prior_kind="slice", steps=1), progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("size", [128, 256, 384])
def test_the_bundled_ct_prior_reconstructs_128_256_and_384_slices(size):
    """The test patient resampled to ``size``² over the same 320 mm field, 8 parallel views:
    DiffusionBlend++ with the bundled real-CT prior beats CGLS at every size."""
    from diffblend_astra import datasets
    from diffblend_astra.baselines import cgls
    from diffblend_astra.methods import run_method
    from diffblend_astra.metrics import plane_metrics
    from diffblend_astra.operators import as_operator, sparse_view

    grid = datasets.WorkingGrid(size=size, pixel_mm=320 / size, slice_mm=5.0)
    try:
        volume = datasets.working_volume("lung-1", grid, progress=False)
    except RuntimeError as err:
        pytest.skip(f"the package index cannot be reached here: {err}")
    truth = torch.from_numpy(np.ascontiguousarray(volume[20:27]))
    A = as_operator(*sparse_view(beam="parallel", views=8, shape=size), slices=7)
    y = A(truth)
    x = run_method("dbpp", A, y, steps=10)
    assert x.shape == truth.shape
    ours = plane_metrics(x, truth, data_range=1.0)["volume"]["psnr"]
    baseline = plane_metrics(cgls(A, y), truth, data_range=1.0)["volume"]["psnr"]
    assert ours > baseline + 1.0, (size, ours, baseline)
