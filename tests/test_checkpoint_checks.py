"""A sidecar is checked against bounds and the weights' header before anything is built."""

import json

import pytest

from diffblend_astra.checkpoint import load_checkpoint, save_checkpoint, sidecar_path
from diffblend_astra.checkpoint_checks import MAX_SIDECAR_BYTES, header_shapes
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig, ResidualUNet, UNetConfig
from diffblend_astra.normalization import IntensityWindow

MICRO = NetworkConfig(sample_size=16, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                      layers_per_block=1, attention_levels=(1,), norm_num_groups=4,
                      spacing_embedding=True)


def network_field(name, value):
    return lambda meta: meta["network"].__setitem__(name, value)


EDITS = {
    "huge layers_per_block": (network_field("layers_per_block", 10**9),
                              "network.layers_per_block = 1000000000 is out of range"),
    "huge width": (network_field("block_out_channels", [8, 10**9]),
                   "network.block_out_channels = [8, 1000000000] is out of range"),
    "too many levels": (network_field("block_out_channels", [8] * 100),
                        "expected a list of 1 to 16 integers"),
    "width not a list": (network_field("block_out_channels", 8),
                         "network.block_out_channels = 8; expected a list"),
    "bool as a size": (network_field("sample_size", True), "network.sample_size = True"),
    "huge sample_size": (network_field("sample_size", 10**7), "network.sample_size"),
    "huge schedule": (lambda m: m["schedule"].__setitem__("num_timesteps", 10**12),
                      "schedule.num_timesteps = 1000000000000 is out of range"),
    "huge image_shape": (lambda m: m["options"].__setitem__("image_shape", [64, 10**8]),
                         "options.image_shape"),
    "other layers_per_block": (network_field("layers_per_block", 2),
                               "network.layers_per_block is 2 but the weights in"),
    "other input channels": (network_field("in_channels", 1),
                             "network.in_channels is 1 but the weights"),
    "no attention": (network_field("attention_levels", []),
                     "network.attention_levels is [] but the weights"),
    "no spacing embedding": (network_field("spacing_embedding", False),
                             "network.spacing_embedding is False but the weights"),
}


@pytest.fixture
def micro(tmp_path):
    return save_checkpoint(tmp_path / "m.safetensors", EpsilonNetwork(MICRO), kind="blend",
                           schedule=VPSchedule(), window=IntensityWindow(0.0, 1.0))


@pytest.mark.parametrize("name", list(EDITS))
def test_a_bad_field_is_named_before_anything_is_built(micro, monkeypatch, name):
    edit, phrase = EDITS[name]
    meta = json.loads(sidecar_path(micro).read_text())
    edit(meta)
    sidecar_path(micro).write_text(json.dumps(meta))
    monkeypatch.setattr(EpsilonNetwork, "from_config",
                        classmethod(lambda cls, config: pytest.fail("network was built")))
    with pytest.raises(ValueError, match="m.json") as err:
        load_checkpoint(micro)
    assert phrase in str(err.value) and "\n" not in str(err.value)


def test_the_unchanged_sidecar_loads(micro):
    assert load_checkpoint(micro).network.config == MICRO


def test_a_residual_unet_sidecar_is_checked_against_its_weights(tmp_path):
    path = save_checkpoint(tmp_path / "u.safetensors", ResidualUNet(UNetConfig(width=4, depth=1)),
                           kind="fbp-unet", window=IntensityWindow(0.0, 1.0))
    meta = json.loads(sidecar_path(path).read_text())
    meta["network"]["depth"] = 3
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="network.depth is 3 but the weights in .* hold 1"):
        load_checkpoint(path)


def test_a_huge_sidecar_is_not_read(micro):
    sidecar_path(micro).write_text(" " * (MAX_SIDECAR_BYTES + 1) + "{}")
    with pytest.raises(ValueError, match="more than a sidecar may"):
        load_checkpoint(micro)


def test_header_shapes_reads_no_tensor(micro):
    shapes = header_shapes(micro)
    assert shapes["unet.conv_in.weight"] == (8, 3, 3, 3)
    micro.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        header_shapes(micro)
