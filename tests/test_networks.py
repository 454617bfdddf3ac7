import json

import pytest
import torch

from diffblend_astra.checkpoint import (load_bundled, load_checkpoint, read_tensors,
                                        save_checkpoint, sidecar_path)
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig, named_config
from diffblend_astra.normalization import IntensityWindow

MICRO = NetworkConfig(sample_size=16, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                      layers_per_block=1, attention_levels=(), norm_num_groups=4,
                      spacing_embedding=True)


def test_tiny_configuration_has_about_a_million_parameters():
    for kind in ("blend", "conditional", "slice"):
        n = EpsilonNetwork(named_config("tiny", kind)).num_parameters
        assert 0.8e6 < n < 1.5e6, (kind, n)


def test_spacing_label_changes_the_output():
    torch.manual_seed(0)
    net = EpsilonNetwork(MICRO)
    # a fresh UNet zero-initialises its last layer; perturb the weights so outputs differ
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 10])
    a = net(x, t, torch.tensor([1, 1]))
    b = net(x, t, torch.tensor([3, 3]))
    assert a.shape == (2, 3, 16, 16)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="spacing"):
        net(x, t, None)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.randn(2, 1, 16, 16), t, torch.tensor([1, 1]))


def save_micro(path):
    net = EpsilonNetwork(MICRO)
    return net, save_checkpoint(path, net, prior_kind="blend", schedule=VPSchedule(),
                                window=IntensityWindow(-1000.0, 2000.0), training={"steps": 3})


def test_checkpoint_round_trip(tmp_path):
    net, path = save_micro(tmp_path / "m.safetensors")
    ck = load_checkpoint(path)
    assert ck.prior_kind == "blend" and ck.window == IntensityWindow(-1000.0, 2000.0)
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
    with pytest.raises(ValueError, match="do not match the network"):
        load_checkpoint(path)
    meta["prior_kind"] = "slice"
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match a network"):
        load_checkpoint(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_tensors(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("name, kind", [("slice", "slice"), ("conditional", "conditional"),
                                        ("slice-coronal", "slice")])
def test_bundled_weights_load_without_network_access(name, kind):
    ck = load_bundled(name)
    assert ck.prior_kind == kind and ck.network.config.sample_size == 64
    assert ck.training["steps_done"] == 4000


def test_bundled_blend_prior_is_the_inflated_2d_prior_fine_tuned():
    ck = load_bundled("blend")
    slice_config = load_bundled("slice").network.config
    assert ck.prior_kind == "blend" and ck.network.config.sample_size == 64
    assert ck.network.config.block_out_channels == tuple(
        3 * w for w in slice_config.block_out_channels)
    assert ck.training["initialised_from"]["steps"] == 4000
    assert ck.training["steps_done"] >= 2000
    assert next(ck.network.parameters()).dtype == torch.float32   # stored in float16


def test_unknown_bundled_weights_are_a_clear_error():
    with pytest.raises(ValueError, match="no bundled weights named 'cone'.*blend, slice"):
        load_bundled("cone")
