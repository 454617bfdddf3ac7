import pytest
import torch

from diffblend_astra.checkpoint import load_checkpoint
from diffblend_astra.networks import EpsilonNetwork, NetworkConfig
from diffblend_astra.phantoms import phantom_volumes, training_seeds, validation_seeds
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.train import TrainConfig, sample_batch, train, validation_loss

SIZE = 16


def micro_network(kind):
    c_in, c_out = {"blend": (3, 3), "conditional": (3, 1), "slice": (1, 1)}[kind]
    torch.manual_seed(0)
    return EpsilonNetwork(NetworkConfig(sample_size=SIZE, in_channels=c_in, out_channels=c_out,
                                        block_out_channels=(16, 32), layers_per_block=1,
                                        attention_levels=(), norm_num_groups=8,
                                        spacing_embedding=kind == "blend"))


def volumes(seeds):
    return [torch.from_numpy(v) * 2 - 1 for v in phantom_volumes(seeds, (12, SIZE, SIZE))]


def test_blend_batches_take_slices_one_or_three_apart():
    vol = torch.arange(12.0)[:, None, None].expand(12, SIZE, SIZE)
    x0, target, spacing = sample_batch([vol], "blend", 64, torch.Generator().manual_seed(0))
    z = x0[:, :, 0, 0]
    assert set(spacing.tolist()) == {1, 3}
    assert torch.equal(z[:, 1] - z[:, 0], spacing.float())
    assert torch.equal(z[:, 2] - z[:, 1], spacing.float())
    assert target == slice(None)


def test_conditional_and_slice_batches():
    vol = torch.arange(12.0)[:, None, None].expand(12, SIZE, SIZE)
    x0, target, spacing = sample_batch([vol], "conditional", 64, torch.Generator().manual_seed(0))
    z = x0[:, :, 0, 0]
    assert spacing is None and target == slice(1, 2)
    assert torch.all((z[:, 1] - z[:, 0] <= 1) & (z[:, 2] - z[:, 1] <= 1))
    x0, _, _ = sample_batch([vol], "slice", 8, torch.Generator())
    assert x0.shape == (8, 1, SIZE, SIZE)


@pytest.mark.slow
def test_training_lowers_the_held_out_loss(tmp_path):
    held_out = volumes(validation_seeds(2))
    net = micro_network("blend")
    before = validation_loss(net, held_out, "blend", VPSchedule(), batches=4)
    config = TrainConfig(steps=200, batch_size=8, learning_rate=2e-3, checkpoint_every=200)
    path = train([v.numpy() for v in volumes(training_seeds(4))], tmp_path, config,
                 window=_identity_window(), network=net, progress=False)
    after = validation_loss(load_checkpoint(path).network, held_out, "blend", VPSchedule(),
                            batches=4)
    assert after < 0.7 * before, (before, after)


def _identity_window():
    from diffblend_astra.normalization import IntensityWindow
    return IntensityWindow(-1.0, 1.0)


def test_resume_continues_bit_for_bit(tmp_path):
    data = [v.numpy() for v in volumes(training_seeds(2))]
    config = TrainConfig(steps=6, batch_size=4, checkpoint_every=3, prior_kind="slice")
    straight = train(data, tmp_path / "a", config, network=micro_network("slice"),
                     progress=False)
    # an interrupted run: stops after 3 steps, then resumes with the same command
    train(data, tmp_path / "b", TrainConfig(**{**config.__dict__, "steps": 3}),
          network=micro_network("slice"), progress=False)
    resumed = train(data, tmp_path / "b", config, network=micro_network("slice"),
                    progress=False, resume=True)
    a, b = load_checkpoint(straight).network, load_checkpoint(resumed).network
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert load_checkpoint(resumed).training["steps_done"] == 6


def test_resume_refuses_another_configuration(tmp_path):
    data = [v.numpy() for v in volumes(training_seeds(1))]
    train(data, tmp_path, TrainConfig(steps=2, batch_size=2, prior_kind="slice"),
          network=micro_network("slice"), progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        train(data, tmp_path, TrainConfig(steps=4, batch_size=3, prior_kind="slice"),
              network=micro_network("slice"), progress=False, resume=True)


def test_volumes_of_another_slice_size_need_crops(tmp_path):
    with pytest.raises(ValueError, match=r"expected \(Z >= 3, 16, 16\).*--crop N"):
        train([torch.zeros(8, 16, 16).numpy(), torch.zeros(8, 32, 32).numpy()], tmp_path,
              TrainConfig(prior_kind="slice"), network=micro_network("slice"), progress=False)
    assert not any(tmp_path.iterdir())


def test_ema_warmup_lets_the_average_follow_early_training(tmp_path):
    data = [v.numpy() for v in volumes(training_seeds(1))]

    def distance_from_init(warmup):
        start = micro_network("slice")
        init = {k: v.clone() for k, v in start.state_dict().items()}
        config = TrainConfig(steps=3, batch_size=2, prior_kind="slice", ema_warmup=warmup,
                             learning_rate=1e-2)
        path = train(data, tmp_path / str(warmup), config, network=start, progress=False)
        ema = load_checkpoint(path).network.state_dict()
        return sum((ema[k] - init[k]).abs().sum().item() for k in init)

    # constant decay 0.999: the average is still 99.7 % the random initialisation
    assert distance_from_init(True) > 50 * distance_from_init(False)


def test_seed_fixes_the_initial_weights_so_two_runs_are_bit_identical(tmp_path):
    from diffblend_astra.checkpoint import read_tensors

    data = [torch.from_numpy(v) for v in phantom_volumes(training_seeds(1), (4, 64, 64))]
    weights = []
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):
        config = TrainConfig(prior_kind="slice", steps=1, batch_size=2, seed=seed,
                             precision="fp32")
        weights.append(read_tensors(train(data, tmp_path / run, config, progress=False))[0])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_flips_are_left_right_only():
    vol = torch.arange(16.0 * SIZE).reshape(1, 16, SIZE).expand(3, 16, SIZE)
    vol = torch.nn.functional.pad(vol, (0, 0, 0, 0))[:, :SIZE]
    x0, _, _ = sample_batch([vol], "slice", 64, torch.Generator().manual_seed(0), flip=True)
    rows = x0[:, 0, :, 0]
    # rows keep their order (no up-down flip); some samples are mirrored left-right
    assert torch.all(rows[:, 1:] > rows[:, :-1])
    assert any(torch.equal(x[0], vol[0].flip(-1)) for x in x0)


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_training_state_is_one_file_and_a_torn_legacy_pair_is_refused(tmp_path):
    from diffblend_astra.checkpoint import read_state, write_tensors

    data = [torch.from_numpy(v) for v in phantom_volumes(training_seeds(1), (4, 64, 64))]
    config = TrainConfig(prior_kind="slice", steps=1, batch_size=2, precision="fp32")
    train(data, tmp_path / "run", config, progress=False)
    assert not (tmp_path / "run" / "state.json").exists()       # step lives in the weights file
    assert read_state(tmp_path / "run" / "state.safetensors")[1]["step"] == 1
    # an older state with a sidecar that lost its step (an interrupted write) is refused
    write_tensors(tmp_path / "old" / "state.safetensors", {"x": torch.zeros(1)},
                  {"config": {}, "param_groups": []})
    with pytest.raises(ValueError, match="no valid 'step'"):
        read_state(tmp_path / "old" / "state.safetensors")


def test_a_patch_prior_trains_on_any_slice_size_and_refuses_flips(tmp_path):
    from diffblend_astra.networks import PatchNetwork

    with pytest.raises(ValueError, match="flip_augment=False"):
        TrainConfig(prior_kind="patch")
    config = NetworkConfig(sample_size=8, in_channels=3, out_channels=1, block_out_channels=(8, 8),
                           layers_per_block=1, attention_levels=(), norm_num_groups=4,
                           spacing_embedding=False)
    volumes = [torch.rand(4, 12, 10) for _ in range(2)]
    path = train(volumes, tmp_path, TrainConfig(prior_kind="patch", steps=2, batch_size=2,
                                                flip_augment=False),
                 network=PatchNetwork(config), progress=False)
    assert load_checkpoint(path).options == {"image_shape": [12, 10], "pad_value": -1.0}
    with pytest.raises(ValueError, match="slice size of the first volume"):
        train(volumes + [torch.rand(4, 8, 8)], tmp_path / "b",
              TrainConfig(prior_kind="patch", steps=1, flip_augment=False),
              network=PatchNetwork(config), progress=False)
