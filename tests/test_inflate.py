import pytest
import torch

from diffblend_astra.checkpoint import load_bundled
from diffblend_astra.inflate import inflate_slice_network
from diffblend_astra.networks import EpsilonNetwork
from test_networks import MICRO


@pytest.fixture(scope="module")
def slice_network():
    return load_bundled("slice").network.float().eval()


def test_inflated_blend_network_reproduces_the_2d_network_on_identical_slices(slice_network):
    wide = inflate_slice_network(slice_network, "blend").eval()
    assert wide.config.block_out_channels == tuple(3 * w for w in
                                                  slice_network.config.block_out_channels)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 64, 64, generator=g)
    t = torch.tensor([5, 200, 600, 990])
    with torch.no_grad():
        reference = slice_network(x, t)
        for spacing in (1, 3):                         # the spacing embedding starts at zero
            eps = wide(x.repeat(1, 3, 1, 1), t, torch.full((4,), spacing))
            assert torch.allclose(eps, reference.repeat(1, 3, 1, 1), atol=1e-4)


def test_inflated_network_is_close_to_three_2d_networks_on_neighbouring_slices(slice_network):
    from diffblend_astra.phantoms import phantom_volume

    wide = inflate_slice_network(slice_network, "blend").eval()
    slices = torch.from_numpy(phantom_volume(123, (3, 64, 64)))[None] * 2 - 1
    x = slices + 0.3 * torch.randn(slices.shape, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([300])
    with torch.no_grad():
        eps = wide(x, t, torch.ones(1, dtype=torch.int64))
        separate = torch.cat([slice_network(x[:, c:c + 1], t) for c in range(3)], dim=1)
    assert float((eps - separate).norm() / separate.norm()) < 0.05


def test_inflated_conditional_network_outputs_the_centre(slice_network):
    wide = inflate_slice_network(slice_network, "conditional").eval()
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([50, 700])
    with torch.no_grad():
        assert torch.allclose(wide(x.repeat(1, 3, 1, 1), t), slice_network(x, t), atol=1e-4)


def test_inflation_refuses_a_network_that_is_not_2d():
    blend = EpsilonNetwork(MICRO)
    with pytest.raises(ValueError, match="2D 'slice' network"):
        inflate_slice_network(blend)
