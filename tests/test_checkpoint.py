"""Checkpoints: the safetensors + JSON format, round trips, refusals, the bundled weights."""

import json

import pytest
import torch

from diffblend_astra.checkpoint import (load_bundled, load_checkpoint, read_tensors,
                                        save_checkpoint, sidecar_path)
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig, ResidualUNet, UNetConfig
from diffblend_astra.normalization import IntensityWindow
from diffblend_astra.prior_kinds import BUNDLED_KIND, PRIOR_CLASSES

MICRO = NetworkConfig(sample_size=16, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                      layers_per_block=1, attention_levels=(), norm_num_groups=4,
                      spacing_embedding=True)


def save_micro(path):
    net = EpsilonNetwork(MICRO)
    return net, save_checkpoint(path, net, kind="blend", schedule=VPSchedule(),
                                window=IntensityWindow(-1000.0, 2000.0), training={"steps": 3})


def test_checkpoint_round_trip(tmp_path):
    net, path = save_micro(tmp_path / "m.safetensors")
    ck = load_checkpoint(path)
    assert ck.kind == "blend" and ck.window == IntensityWindow(-1000.0, 2000.0)
    assert ck.network.config == MICRO and ck.training == {"steps": 3}
    for a, b in zip(net.state_dict().values(), ck.network.state_dict().values()):
        assert torch.equal(a, b)
    assert not any(tmp_path.glob(".*"))  # no temporary files left


def test_pickled_payload_is_refused(tmp_path):
    _, path = save_micro(tmp_path / "m.safetensors")
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="pickled checkpoints .* are refused"):
        load_checkpoint(path)


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path):
    _, path = save_micro(tmp_path / "m.safetensors")
    meta = json.loads(sidecar_path(path).read_text())
    meta["network"]["block_out_channels"] = [8, 32]
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"block_out_channels is \[8, 32\] but the weights"):
        load_checkpoint(path)
    meta["network"]["block_out_channels"] = [8, 16]
    meta["kind"] = "slice"
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match a network"):
        load_checkpoint(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_tensors(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "absent.safetensors")


SCORE_PRIORS = [n for n, kind in BUNDLED_KIND.items() if kind in PRIOR_CLASSES]
PHANTOM_PRIORS = [n for n in SCORE_PRIORS if n.endswith("-phantom") or n == "slice-coronal"]
CT_PRIORS = [n for n in SCORE_PRIORS if n not in PHANTOM_PRIORS]


@pytest.mark.parametrize("name", PHANTOM_PRIORS)
def test_every_bundled_phantom_prior_has_the_same_training_budget(name):
    """The recipe of benchmarks/train_weights.py: 4,000 steps, then 2,500 of fine-tuning."""
    ck = load_bundled(name)
    assert ck.network.config.sample_size in (32, 64)
    assert ck.training["initialised_from"]["steps"] == 4000, name
    assert ck.training["steps_done"] == 2500, name


@pytest.mark.parametrize("name", CT_PRIORS)
def test_every_bundled_ct_prior_is_its_phantom_prior_fine_tuned_on_the_training_scans(name):
    """The recipe of benchmarks/train_ct_weights.py: 6,500 phantom steps, then 1,500 on the
    training scans in CT units, then 1,500 more (``--more``, new draws: seed 1), 64² crops
    (PaDIS: whole slices, its own patches)."""
    from diffblend_astra.datasets import INTENSITY_UNITS, SPLITS

    ck = load_bundled(name)
    assert ck.training["initialised_from"] == {"weights": name, "steps": 6500 + 1500}
    assert ck.training["steps_done"] == 1500 and ck.training["config"]["seed"] == 1, name
    assert ck.trained_on["intensity"] == INTENSITY_UNITS
    assert ck.trained_on["crop"] == (None if name == "patch" else 64)
    assert ck.trained_on["slice_shape"] == [256, 256] and ck.trained_on["pixel_mm"] == 1.25
    assert all(scan in ck.training["data"] for scan in SPLITS["train"])
    assert not any(scan in ck.training["data"] for scan in SPLITS["validation"] + SPLITS["test"])


def test_bundled_blend_prior_is_the_inflated_2d_prior_fine_tuned():
    ck = load_bundled("blend")
    slice_config = load_bundled("slice").network.config
    assert ck.kind == "blend" and ck.network.config.sample_size == 64
    assert ck.network.config.block_out_channels == tuple(
        3 * w for w in slice_config.block_out_channels)
    assert next(ck.network.parameters()).dtype == torch.float32   # stored in float16


def test_unknown_bundled_weights_are_a_clear_error():
    with pytest.raises(ValueError, match="no bundled weights named 'cone'.*blend, blend-phantom"):
        load_bundled("cone")


def test_a_supervised_network_round_trips_without_a_schedule(tmp_path):
    net = ResidualUNet(UNetConfig(width=4, depth=1))
    path = save_checkpoint(tmp_path / "u.safetensors", net, kind="fbp-unet",
                           window=IntensityWindow(0.0, 2.0), options={"geometry": {"a": 1}})
    ck = load_checkpoint(path)
    assert ck.kind == "fbp-unet" and ck.schedule is None and ck.options == {"geometry": {"a": 1}}
    assert ck.network.config == net.config
    with pytest.raises(ValueError, match="takes no diffusion schedule"):
        save_checkpoint(path, net, kind="fbp-unet", window=ck.window, schedule=VPSchedule())
    with pytest.raises(ValueError, match="needs diffusion schedule"):
        save_checkpoint(path, EpsilonNetwork(MICRO), kind="blend", window=ck.window)


def test_version_1_sidecars_still_load(tmp_path):
    net, path = save_micro(tmp_path / "m.safetensors")
    meta = json.loads(sidecar_path(path).read_text())
    kind, options = meta.pop("kind"), meta.pop("options")
    meta.update(format_version=1, prior_kind=kind, **options)
    sidecar_path(path).write_text(json.dumps(meta))
    assert load_checkpoint(path).kind == "blend"


def test_an_unknown_kind_is_refused(tmp_path):
    _, path = save_micro(tmp_path / "m.safetensors")
    meta = json.loads(sidecar_path(path).read_text())
    meta["kind"] = "voxel"
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown kind 'voxel'"):
        load_checkpoint(path)

