import pytest
import torch

from diffblend_astra.networks import EpsilonNetwork
from diffblend_astra.partition import PartitionSchedule
from diffblend_astra.priors import BlendPrior, ConditionalPrior, SlicePrior
from test_networks import MICRO
from oracle import RecordingNetwork


def volume(z=11, size=8, seed=0):
    return torch.randn(z, size, size, generator=torch.Generator().manual_seed(seed))


def test_blend_prior_batches_groups_with_their_spacing_label():
    net = RecordingNetwork()
    prior = BlendPrior(net, max_batch=100)
    x = volume()
    g = torch.Generator().manual_seed(0)
    eps0 = prior.predict_noise(x, 500, step=0, generator=g)   # adjacency step
    eps1 = prior.predict_noise(x, 480, step=1, generator=g)   # cross step
    assert eps0.shape == eps1.shape == x.shape
    # RecordingNetwork returns 0.5·input: scattering the owners gives back 0.5·x
    assert torch.allclose(eps0, 0.5 * x) and torch.allclose(eps1, 0.5 * x)
    (x_a, t_a, s_a), (x_c, t_c, s_c) = net.calls
    assert x_a.shape[1] == 3 and set(s_a.tolist()) == {1} and set(t_a.tolist()) == {500}
    assert set(s_c.tolist()) == {3}
    # a cross group really holds slices three apart
    assert torch.equal(x_c[0], x[[0, 3, 6]])


def test_chunked_and_unchunked_evaluation_agree():
    """Chunks change only float rounding (kernels for other batch sizes round differently)."""
    torch.manual_seed(0)
    net = EpsilonNetwork(MICRO).eval()
    with torch.no_grad():  # a fresh UNet zero-initialises its output layer
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = volume(z=20, size=16)
    results = []
    for max_batch in (1, 3, 100):
        prior = BlendPrior(net, max_batch=max_batch)
        results.append(prior.predict_noise(x, 300, 0, torch.Generator().manual_seed(5)))
    assert results[2].abs().mean() > 0.1
    for chunked in results[:2]:
        assert torch.allclose(chunked, results[2], rtol=0, atol=1e-5)


def test_conditional_prior_feeds_each_slice_with_its_neighbours():
    net = RecordingNetwork(out_channels=1)
    prior = ConditionalPrior(net, max_batch=4)
    x = volume(z=6)
    eps = prior.predict_noise(x, 100, 0, torch.Generator())
    assert torch.allclose(eps, 0.5 * x)
    inputs = torch.cat([c[0] for c in net.calls])
    assert inputs.shape == (6, 3, 8, 8)
    assert torch.equal(inputs[0], x[[0, 0, 1]]) and torch.equal(inputs[3], x[[2, 3, 4]])
    assert torch.equal(inputs[5], x[[4, 5, 5]])
    assert all(c[2] is None for c in net.calls)


def test_slice_prior_one_slice_at_a_time():
    net = RecordingNetwork(out_channels=1)
    x = volume(z=5)
    eps = SlicePrior(net, max_batch=2).predict_noise(x, 10, 0, torch.Generator())
    assert torch.allclose(eps, 0.5 * x)
    assert [c[0].shape[:2] for c in net.calls] == [(2, 1), (2, 1), (1, 1)]


def test_volume_checks():
    prior = BlendPrior(EpsilonNetwork(MICRO))
    with pytest.raises(ValueError, match="Z >= 3"):
        prior.check_volume_shape((2, 16, 16))
    prior.check_volume_shape((10, 16, 16))
    prior.check_volume_shape((10, 32, 24))          # any size within 2x of the training size
    with pytest.raises(TypeError, match="callable"):
        SlicePrior("not a network")


def test_adjacency_only_schedule_never_calls_with_spacing_three():
    net = RecordingNetwork()
    prior = BlendPrior(net, partitions=PartitionSchedule(cross_every=0))
    g = torch.Generator().manual_seed(1)
    for step in range(4):
        prior.predict_noise(volume(), 100, step, g)
    assert all(set(c[2].tolist()) == {1} for c in net.calls)


@pytest.mark.parametrize("step", [0, 1])          # an adjacency step, a cross step
def test_partition_averaging_with_an_oracle_returns_the_oracle_noise(step):
    from diffblend_astra.diffusion import VPSchedule, add_noise
    from oracle import OracleNetwork

    truth = volume(z=20, seed=1)
    noise = volume(z=20, seed=2)
    t = 30
    x_t = add_noise(truth, noise, VPSchedule().alphas_cumprod()[t].item())
    prior = BlendPrior(OracleNetwork(truth), partitions=PartitionSchedule(averaged=3))
    eps = prior.predict_noise(x_t, t, step, torch.Generator().manual_seed(0))
    assert torch.allclose(eps, noise, atol=1e-4)


def test_partition_averaging_averages_every_offset():
    net = RecordingNetwork()
    prior = BlendPrior(net, partitions=PartitionSchedule(averaged=3), max_batch=100)
    x = volume(z=18)
    prior.predict_noise(x, 500, step=0, generator=torch.Generator().manual_seed(0))
    # the second group starts at slice 3 - offset
    seconds = sorted(int(torch.nonzero((x == call[0][1, 0]).all(-1).all(-1))[0])
                     for call in net.calls)
    assert len(net.calls) == 3 and seconds == [1, 2, 3]
    net.calls.clear()
    prior.predict_noise(x, 480, step=1, generator=torch.Generator().manual_seed(0))
    assert len(net.calls) == 3 and all(set(c[2].tolist()) == {3} for c in net.calls)
    with pytest.raises(ValueError, match="averaged"):
        PartitionSchedule(averaged=4)


def test_every_prior_satisfies_the_score_prior_protocol():
    from diffblend_astra.comparisons.tpdm import tpdm_prior
    from diffblend_astra.checkpoint import load_prior
    from diffblend_astra.priors import ScorePrior

    slice_prior = load_prior("slice")
    priors = [load_prior("blend"), load_prior("conditional"), slice_prior,
              tpdm_prior(slice_prior, slice_prior), load_prior("patch")]
    assert all(isinstance(p, ScorePrior) for p in priors)
    assert not isinstance(RecordingNetwork(), ScorePrior)
