"""Denoising score matching for every score-prior kind, with resumable, atomic checkpoints.

Training samples (all ``(B, C, H, W)`` in network units, see :mod:`.conventions`):

* ``blend`` (DiffusionBlend++, Algorithm 4): a volume, a spacing ``s ∈ {1, 3}`` (50/50), an
  index ``i``; slices ``(i, i+s, i+2s)`` are the 3 channels, ``s`` the spacing label; the
  network predicts the noise of all three.
* ``conditional`` (DiffusionBlend, Algorithm 3, j = 1): slices ``(i−1, i, i+1)`` (edge
  repeated) as input, the noise of the centre slice as target.
* ``slice`` (the 2D prior of DDS / DiffusionMBIR): single slices.
* ``patch`` (PaDIS): ``P × P`` patches of the padded slices at uniform positions, their
  position channels as the network's condition (:func:`~.patches.sample_patches`); ``P`` is
  the network's ``sample_size``.

With ``crop = C`` every sample of the other kinds is a ``C × C`` crop at a uniform position
of its slices (the same crop for the 3 slices of a group), so volumes of any slice size
``H, W >= C`` train one fully convolutional network, which then reconstructs slices of any
size. Without it, every volume must have the same slice size and the network sees it whole.

Every step draws its batch from a generator seeded by ``(seed, step)``, so a run resumed
from a checkpoint continues bit for bit as if it had never stopped.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checkpoint import read_state, save_checkpoint, write_state
from .diffusion import VPSchedule, add_noise
from .normalization import IntensityWindow
from .operators.inputs import as_input
from .patches import PAD_VALUE, sample_patches
from .prior_kinds import KINDS, PRIOR_CLASSES, named_config
from .run_identity import begin_run, run_identity
from . import precision

SPACINGS = (1, 3)
MIN_CROP = 16
"""The smallest training crop, in pixels."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (saved in every checkpoint).

    ``ema_warmup`` ramps the EMA decay as ``min(ema_decay, (1 + step) / (10 + step))``;
    without it the EMA weights keep ``ema_decay ** step`` of the random initialisation
    (37 % after 1000 steps at 0.999), which spoils short runs. ``flip_augment`` flips
    left–right only: an up–down flip would put the spine in front of the body, anatomy that
    never occurs. ``precision`` is ``auto`` (bf16 autocast where the hardware has native
    bf16), ``bf16`` or ``fp32`` (:mod:`.precision`). ``seed`` seeds everything: the
    initial weights (of a network built here), the batches and the noise. ``crop`` trains
    on random ``crop × crop`` crops of the slices (module docstring).
    """

    prior_kind: str = "blend"
    network: str = "tiny"
    steps: int = 10_000
    batch_size: int = 16
    learning_rate: float = 2e-4
    ema_decay: float = 0.999
    ema_warmup: bool = True
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 250
    flip_augment: bool = True
    precision: str = "auto"
    crop: int | None = None

    def __post_init__(self):
        if self.prior_kind not in PRIOR_CLASSES:
            raise ValueError(f"prior_kind must be one of {sorted(PRIOR_CLASSES)}, got "
                             f"{self.prior_kind!r}")
        if self.prior_kind == "patch" and self.flip_augment:
            raise ValueError("flip_augment=False is needed for a 'patch' prior: a flipped "
                             "patch would no longer match its position channels")
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch_size and checkpoint_every must be >= 1")
        if self.crop is not None and (self.prior_kind == "patch" or self.crop < MIN_CROP):
            raise ValueError(f"crop must be >= {MIN_CROP} pixels, and a 'patch' prior takes "
                             f"no crop (it cuts patches of its own), got {self.crop}")
        precision.check(self.precision)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator that draws the data and noise of training step ``step``."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def sample_batch(volumes: list[torch.Tensor], prior_kind: str, batch_size: int,
                 generator: torch.Generator, flip: bool = False, patch: int | None = None,
                 crop: int | None = None):
    """Draw a training batch from ``volumes`` (each ``(Z, H, W)``, network units; with
    ``crop``, any ``H, W >= crop``, and every sample is a random ``crop × crop`` crop).

    Returns ``(x0, target_channels, condition)``: ``x0`` ``(B, C, H, W)`` (the noised
    channels); the slice of the channels whose noise is the target (``slice(None)`` or the
    centre channel); ``condition`` the network's third argument: spacings ``(B,)`` int64 for
    ``blend``, position channels ``(B, 2, P, P)`` for ``patch`` (``patch`` = ``P``), else
    ``None``.
    """
    if prior_kind == "patch":
        x0, positions = sample_patches(volumes, patch, batch_size, generator,
                                       pad_value=PAD_VALUE)
        return x0, slice(None), positions
    samples, spacings = [], []
    for _ in range(batch_size):
        vol = volumes[int(torch.randint(len(volumes), (1,), generator=generator))]
        depth = vol.shape[0]
        if prior_kind == "blend":
            s = SPACINGS[int(torch.randint(len(SPACINGS), (1,), generator=generator))]
            if depth <= 2 * s:
                s = 1
            i = int(torch.randint(depth - 2 * s, (1,), generator=generator))
            samples.append(vol[[i, i + s, i + 2 * s]])
            spacings.append(s)
        elif prior_kind == "conditional":
            i = int(torch.randint(depth, (1,), generator=generator))
            samples.append(vol[[max(i - 1, 0), i, min(i + 1, depth - 1)]])
        else:
            i = int(torch.randint(depth, (1,), generator=generator))
            samples.append(vol[i:i + 1])
        if crop is not None:
            samples[-1] = _random_crop(samples[-1], crop, generator)
    x0 = torch.stack(samples)
    if flip:                                   # left-right only (module docstring)
        flips = torch.randint(2, (batch_size,), generator=generator).bool()
        x0 = torch.where(flips[:, None, None, None], x0.flip(-1), x0)
    target = slice(1, 2) if prior_kind == "conditional" else slice(None)
    spacing = torch.tensor(spacings, dtype=torch.int64) if prior_kind == "blend" else None
    return x0, target, spacing


def _random_crop(slices: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A ``size × size`` crop of ``slices`` ``(C, H, W)`` at a uniform position."""
    top = int(torch.randint(slices.shape[1] - size + 1, (1,), generator=generator))
    left = int(torch.randint(slices.shape[2] - size + 1, (1,), generator=generator))
    return slices[:, top:top + size, left:left + size]


def dsm_loss(network, x0, target, spacing, schedule: VPSchedule,
             generator: torch.Generator) -> torch.Tensor:
    """ε-prediction loss ``‖ε̂(x_t, t, s) − ε‖²`` at uniformly drawn timesteps."""
    alpha_bar = schedule.alphas_cumprod().to(torch.float32)
    t = torch.randint(schedule.num_timesteps, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    device = next(network.parameters()).device
    x_t = add_noise(x0, noise, alpha_bar[t][:, None, None, None])
    eps = network(x_t.to(device), t.to(device),
                  None if spacing is None else spacing.to(device))
    return F.mse_loss(eps.float(), noise[:, target].to(device))


@torch.no_grad()
def validation_loss(network, volumes, prior_kind: str, schedule: VPSchedule, *,
                    batches: int = 8, batch_size: int = 16, seed: int = 12345,
                    crop: int | None = None) -> float:
    """Held-out DSM loss on fixed draws (same data, timesteps and noise every call)."""
    was_training = network.training
    network.eval()
    total = 0.0
    for b in range(batches):
        g = step_generator(seed, b)
        x0, target, spacing = sample_batch(volumes, prior_kind, batch_size, g,
                                           patch=network.config.sample_size, crop=crop)
        total += float(dsm_loss(network, x0, target, spacing, schedule, g))
    network.train(was_training)
    return total / batches


def train(volumes, out_dir, config: TrainConfig = TrainConfig(), *,
          window: IntensityWindow = IntensityWindow(0.0, 1.0),
          schedule: VPSchedule = VPSchedule(), resume: bool = False,
          device: str | torch.device = "cpu", progress: bool = True,
          data_summary: dict | None = None, network: torch.nn.Module | None = None,
          overwrite: bool = False) -> Path:
    """Train a score network on ``volumes`` and return the path of its final checkpoint.

    ``volumes``: a list of ``(Z, H, W)`` float arrays/tensors in physical units (mapped to
    network units with ``window``): with ``config.crop``, of any ``H, W >= crop``; without,
    all of one slice size.
    ``out_dir`` receives ``state.safetensors`` (weights, EMA, optimiser; for ``resume``) and
    ``model.safetensors`` (the EMA weights, a checkpoint for the priors), both every
    ``config.checkpoint_every`` steps and at the end. ``network`` starts from given weights
    (for fine-tuning) or another architecture instead of the named configuration. A ``patch``
    prior takes slices of any one size ``(H, W)`` and cuts patches of the network's
    ``sample_size``; it records ``H, W`` and the padding value with its weights.
    ``data_summary`` is recorded in the checkpoint's ``training``; its ``slices`` entry
    (e.g. ``{"pixel_mm": 1.25, "intensity": ...}``) joins the recorded slice shape and crop
    (:attr:`~.checkpoint.Checkpoint.trained_on`).
    ``out_dir`` is one run (:mod:`.run_identity`): ``resume`` continues it only with the same
    volumes, window, kind, network and schedule; a folder that holds a run is refused unless
    ``resume`` or ``overwrite`` (start again) is asked.
    """
    out_dir = Path(out_dir)
    rank, world = _distributed_rank_world()
    if world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    device = torch.device(device)
    patch = config.prior_kind == "patch"
    data = _prepare_volumes(volumes, window, min_size=config.crop)
    if network is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            row = KINDS[config.prior_kind]
            size = None if patch else config.crop or data[0].shape[-1]
            network = row.network(named_config(config.network, config.prior_kind, size))
    net = network
    patch = net.config.sample_size if patch else None
    options = ({"image_shape": list(data[0].shape[1:]), "pad_value": PAD_VALUE} if patch
               else {})
    net.to(device).train().requires_grad_(True)   # a loaded checkpoint arrives frozen
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    start = 0
    state_path = out_dir / "state.safetensors"
    if rank == 0:
        begin_run(out_dir, run_identity(volumes, window, config.prior_kind, net.config,
                                        schedule), resume=resume, overwrite=overwrite)
    if resume and state_path.is_file():
        start = _load_state(state_path, net, ema, optimizer, config)
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    autocast = precision.autocast(config.precision, device)
    extra = dict(data_summary or {})
    slices = {"slice_shape": [max(v.shape[1] for v in data), max(v.shape[2] for v in data)],
              "crop": config.crop,
              **extra.pop("slices", {})}
    summary = {"config": asdict(config), "volumes": len(data),
               "volume_shapes": sorted({tuple(v.shape) for v in data}), "slices": slices,
               **extra}

    bar = tqdm(range(start, config.steps), initial=start, total=config.steps,
               disable=not progress or rank != 0, desc=f"train {config.prior_kind}")
    for step in bar:
        g = step_generator(config.seed + rank * 7919, step)
        x0, target, spacing = sample_batch(data, config.prior_kind, config.batch_size, g,
                                           flip=config.flip_augment, patch=patch,
                                           crop=config.crop)
        with autocast:
            loss = dsm_loss(model, x0, target, spacing, schedule, g)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        optimizer.step()
        decay = config.ema_decay
        if config.ema_warmup:
            decay = min(decay, (1 + step) / (10 + step))
        _update_ema(ema, net, decay)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        done = step + 1
        if rank == 0 and (done % config.checkpoint_every == 0 or done == config.steps):
            summary["steps_done"] = done
            _save_state(state_path, net, ema, optimizer, config, done)
            save_checkpoint(out_dir / "model.safetensors", ema, kind=config.prior_kind,
                            schedule=schedule, window=window, options=options,
                            training=summary)
    return out_dir / "model.safetensors"


def _prepare_volumes(volumes, window: IntensityWindow, *,
                     min_size: int | None) -> list[torch.Tensor]:
    """Volumes in network units, checked: ``(Z >= 3, H, W)`` with ``H, W >= min_size``
    (slice sizes may differ), or (``min_size=None``) one slice size shared by all."""
    data = []
    for k, v in enumerate(volumes):
        v = as_input(v, np.shape(v), f"training volume {k}", "a volume in physical units")
        if v.ndim != 3:
            raise ValueError(f"training volume {k} has shape {tuple(v.shape)}; expected "
                             "(Z, H, W)")
        if min_size is not None:
            if v.shape[0] < 3 or min(v.shape[1:]) < min_size:
                raise ValueError(f"training volume {k} has shape {tuple(v.shape)}; expected "
                                 f"(Z >= 3, H >= {min_size}, W >= {min_size}) for crops of "
                                 f"{min_size}x{min_size}")
        else:
            shape = data[0].shape[1:] if data else v.shape[1:]
            if v.shape[1:] != shape or v.shape[0] < 3:
                raise ValueError(f"training volume {k} has shape {tuple(v.shape)}; expected "
                                 f"(Z >= 3, {shape[0]}, {shape[1]}), the slice size of the "
                                 f"first volume (or train on crops: crop=N, --crop N)")
        if not torch.isfinite(v).all():
            raise ValueError(f"training volume {k} contains NaN or Inf")
        data.append(window.to_network(v))
    if not data:
        raise ValueError("no training volumes given")
    return data


@torch.no_grad()
def _update_ema(ema, net, decay: float) -> None:
    for e, p in zip(ema.parameters(), net.parameters()):
        e.lerp_(p, 1 - decay)


def _save_state(path, net, ema, optimizer, config, step):
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        tensors.update({f"opt.{index}.{name}": torch.as_tensor(value)
                        for name, value in slots.items()})
    write_state(path, tensors, {"step": step, "config": asdict(config),
                                  "param_groups": opt["param_groups"]})


def _load_state(path, net, ema, optimizer, config) -> int:
    tensors, meta = read_state(path)
    if _resumable(meta.get("config")) != _resumable(asdict(config)):
        raise ValueError(f"cannot resume from {path}: it was written by a run with another "
                         f"configuration ({meta.get('config')})")

    def part(prefix):
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    net.load_state_dict(part("net."))
    ema.load_state_dict(part("ema."))
    slots: dict[int, dict] = {}
    for key, value in part("opt.").items():
        index, name = key.split(".", 1)
        slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    return int(meta["step"])


def _resumable(config: dict | None) -> dict | None:
    """The part of a configuration a resumed run must share (it may run longer)."""
    if config is None:
        return None
    return {k: v for k, v in config.items() if k not in ("steps", "checkpoint_every")}


def _distributed_rank_world() -> tuple[int, int]:
    """Join the process group when started by ``torchrun`` with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl")
    return (torch.distributed.get_rank(), world) if world > 1 else (0, 1)
