import pytest
import torch

from diffblend_astra.networks import (EpsilonNetwork, NetworkConfig, PatchNetwork,
                                      ResidualUNet, UNetConfig)
from diffblend_astra.prior_kinds import named_config

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


def test_patch_network_takes_positions_as_its_condition():
    config = NetworkConfig(sample_size=8, in_channels=3, out_channels=1, block_out_channels=(8, 8),
                           layers_per_block=1, attention_levels=(), norm_num_groups=4,
                           spacing_embedding=False)
    net = PatchNetwork(config)
    out = net(torch.randn(3, 1, 8, 8), torch.tensor([1, 2, 3]), torch.randn(3, 2, 8, 8))
    assert out.shape == (3, 1, 8, 8) and net.channels == (3, 1)
    with pytest.raises(ValueError, match="positions"):
        net(torch.randn(3, 1, 8, 8), torch.tensor([1, 2, 3]), None)
    with pytest.raises(ValueError, match="3 input channels"):
        PatchNetwork(MICRO)


def test_residual_unet_starts_as_the_identity_on_any_size():
    net = ResidualUNet(UNetConfig(width=4, depth=2))
    x = torch.randn(2, 1, 13, 10)
    assert torch.equal(net(x), x)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(torch.randn(2, 13, 10))
    assert ResidualUNet.from_config(net.config.to_dict()).config == net.config


def test_every_network_rebuilds_from_its_sidecar_dict():
    net = EpsilonNetwork(MICRO)
    assert EpsilonNetwork.from_config(net.config.to_dict()).config == MICRO
    assert net.channels == (3, 3)
