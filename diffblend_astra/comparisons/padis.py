"""PaDIS (Hu et al., NeurIPS 2024): a 2D prior learnt on ``P × P`` patches with their position.

Network (:class:`PatchNetwork`): ``net(x, t, positions) → ε̂`` with ``x`` ``(B, 1, P, P)``
noisy patches in network units, ``t`` ``(B,)`` VP timesteps, ``positions`` ``(B, 2, P, P)``
and ``ε̂`` ``(B, 1, P, P)``: a ``UNet2DModel`` whose 3 input channels are the patch and its
two position channels.

Position channels (:func:`position_channels`): per-pixel coordinate maps in the frame of the
whole ``N1 × N2`` image, ``c(i) = (2i + 1)/N − 1`` for row (column) ``i``: the pixel centres of
the image span ``(−1, 1)`` and padding pixels get ``|c| > 1``. Training
(:func:`sample_patches`) and sampling (:meth:`PatchGrid.positions`) both call this function,
so the network sees at sampling time exactly the positions it was trained with. They depend
on the image size, which is therefore stored with the weights and checked.

Padding and grid (:class:`PatchGrid`, the talk's notation): ``K_i = 1 + ⌊N_i/P⌋`` patches per
axis, the image padded by ``M_i = K_i P − N_i`` on each side; a ``K1 × K2`` grid of
non-overlapping patches shifted by ``(m1, m2) ∈ [0, M1] × [0, M2]`` covers every image pixel
exactly once. Padding holds the background ``pad_value`` (network units, −1 by default: the low
end of the intensity window, as in PaDIS). Training cuts patches at uniform positions of the
padded clean images; sampling at timestep ``t`` fills the padding with
``√ᾱ_t · pad_value + √(1−ᾱ_t) z``, the forward process of that padded image.

Sampling (:class:`PatchPrior`): each call draws a new grid shift, runs the network on all
patches of all slices (chunked) and stitches ε̂ back — the image score is the sum of the
patch scores, ``Σ_c G_cᵀ s(G_c x)``. The prior fits the ``predict_noise`` contract, so it runs
per slice inside :class:`~..solver.DiffusionBlendSolver` with its CG data step.

Paper vs CPU defaults: PaDIS uses 56² patches of 256² images, an EDM network and σ-levels,
1000 network evaluations and a DPS data step with Langevin updates (not implemented here);
the ``tiny`` CPU network takes any patch size that is a multiple of 8 (16 for tests).

Training: :class:`PatchNetwork` takes the positions where :func:`~..train.dsm_loss` passes its
spacing labels, so ``dsm_loss`` trains it unchanged (the positions are not noised);
:func:`train_patch_prior` runs the loop.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import FORMAT_VERSION, check_format_version, read_tensors, write_tensors
from ..diffusion import VPSchedule
from ..networks import EpsilonNetwork, NetworkConfig, named_config
from ..normalization import IntensityWindow
from ..train import dsm_loss, step_generator


def position_channels(rows: torch.Tensor, cols: torch.Tensor, image_shape) -> torch.Tensor:
    """Coordinate maps ``(2, len(rows), len(cols))`` of image-frame pixel indices.

    Channel 0 is ``(2·row + 1)/N1 − 1`` (constant along a row), channel 1 the same for
    columns with ``N2``; indices outside ``[0, N)`` (padding) map outside ``[−1, 1]``.
    """
    n1, n2 = image_shape
    r = (2 * rows.to(torch.float32) + 1) / n1 - 1
    c = (2 * cols.to(torch.float32) + 1) / n2 - 1
    return torch.stack([r[:, None].expand(-1, len(c)), c[None, :].expand(len(r), -1)])


@dataclass(frozen=True)
class PatchGrid:
    """Non-overlapping ``patch × patch`` tiles of a padded ``image_shape = (N1, N2)`` image."""

    image_shape: tuple[int, int]
    patch: int

    def __post_init__(self):
        if len(self.image_shape) != 2 or min(self.image_shape) < 1 or self.patch < 1:
            raise ValueError(f"need a 2D image shape and a patch size >= 1, got "
                             f"{self.image_shape}, {self.patch}")

    @property
    def counts(self) -> tuple[int, int]:
        """Patches per axis, ``K_i = 1 + ⌊N_i / P⌋``."""
        return tuple(1 + n // self.patch for n in self.image_shape)

    @property
    def margins(self) -> tuple[int, int]:
        """Padding on each side, ``M_i = K_i P − N_i``."""
        return tuple(k * self.patch - n for k, n in zip(self.counts, self.image_shape))

    @property
    def canvas_shape(self) -> tuple[int, int]:
        """The padded image, ``N_i + 2 M_i``."""
        return tuple(n + 2 * m for n, m in zip(self.image_shape, self.margins))

    def random_shift(self, generator: torch.Generator) -> tuple[int, int]:
        """A grid shift drawn uniformly from ``[0, M1] × [0, M2]``."""
        return tuple(int(torch.randint(m + 1, (1,), generator=generator))
                     for m in self.margins)

    def pad(self, images: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """Images ``(B, N1, N2)`` placed in the middle of ``fill`` ``(B, C1, C2)`` (a copy)."""
        (m1, m2), (n1, n2) = self.margins, self.image_shape
        canvas = fill.clone()
        canvas[:, m1:m1 + n1, m2:m2 + n2] = images
        return canvas

    def cut(self, canvas: torch.Tensor, shift) -> torch.Tensor:
        """Canvases ``(B, C1, C2)`` → patches ``(B·K1·K2, P, P)`` of the grid at ``shift``."""
        return self._blocks(self._region(canvas, shift)).reshape(-1, self.patch, self.patch)

    def stitch(self, patches: torch.Tensor, shift) -> torch.Tensor:
        """Inverse of :meth:`cut` on the image: patches ``(B·K1·K2, P, P)`` → ``(B, N1, N2)``."""
        (k1, k2), p = self.counts, self.patch
        blocks = patches.reshape(-1, k1, k2, p, p).permute(0, 1, 3, 2, 4)
        region = blocks.reshape(-1, k1 * p, k2 * p)
        canvas = region.new_zeros((region.shape[0],) + self.canvas_shape)
        self._region(canvas, shift).add_(region)
        (m1, m2), (n1, n2) = self.margins, self.image_shape
        return canvas[:, m1:m1 + n1, m2:m2 + n2]

    def positions(self, shift) -> torch.Tensor:
        """Position channels ``(K1·K2, 2, P, P)`` of the patches of :meth:`cut` at ``shift``."""
        (s1, s2), (m1, m2), (k1, k2) = shift, self.margins, self.counts
        rows = torch.arange(s1, s1 + k1 * self.patch) - m1
        cols = torch.arange(s2, s2 + k2 * self.patch) - m2
        return self._blocks(position_channels(rows, cols, self.image_shape)).transpose(0, 1)

    def _region(self, canvas, shift):
        (s1, s2), (k1, k2), p = shift, self.counts, self.patch
        return canvas[:, s1:s1 + k1 * p, s2:s2 + k2 * p]

    def _blocks(self, region):
        """``(B, K1 P, K2 P)`` → ``(B, K1·K2, P, P)``, patches in row-major grid order."""
        (k1, k2), p = self.counts, self.patch
        blocks = region.reshape(region.shape[0], k1, p, k2, p).permute(0, 1, 3, 2, 4)
        return blocks.reshape(region.shape[0], k1 * k2, p, p)


def sample_patches(volumes, patch: int, batch: int, generator: torch.Generator, *,
                   pad_value: float = -1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``batch`` training patches from ``volumes`` (each ``(Z, Y, X)``, network units).

    A volume, an axial slice and a patch position uniform over the padded slice
    (:class:`PatchGrid`) are drawn with ``generator``. Returns ``(x0, positions)``: patches
    ``(B, 1, P, P)`` and their position channels ``(B, 2, P, P)`` (:func:`position_channels`).
    """
    patches, positions = [], []
    for _ in range(batch):
        volume = volumes[int(torch.randint(len(volumes), (1,), generator=generator))]
        z = int(torch.randint(volume.shape[0], (1,), generator=generator))
        grid = PatchGrid(tuple(volume.shape[1:]), patch)
        top, left = (int(torch.randint(c - patch + 1, (1,), generator=generator))
                     for c in grid.canvas_shape)
        fill = volume.new_full((1,) + grid.canvas_shape, pad_value)
        canvas = grid.pad(volume[z:z + 1], fill)[0]
        patches.append(canvas[top:top + patch, left:left + patch])
        m1, m2 = grid.margins
        positions.append(position_channels(torch.arange(top, top + patch) - m1,
                                           torch.arange(left, left + patch) - m2,
                                           grid.image_shape))
    return torch.stack(patches)[:, None], torch.stack(positions)


def patch_network_config(patch: int, name: str = "tiny") -> NetworkConfig:
    """A named architecture (:func:`~..networks.named_config`) for ``patch × patch`` patches
    with 3 input channels; ``patch`` must be a multiple of 8 (``tiny``) or 32 (``paper``)."""
    config = named_config(name, "slice")
    multiple = 2 ** (len(config.block_out_channels) - 1)
    if patch < 1 or patch % multiple:
        raise ValueError(f"the {name!r} network needs a patch size that is a multiple of "
                         f"{multiple}, got {patch}")
    return dataclasses.replace(config, sample_size=patch, in_channels=3)


class PatchNetwork(EpsilonNetwork):
    """``net(x, t, positions) → ε̂`` for patches (shapes in the module docstring)."""

    def __init__(self, config: NetworkConfig, unet=None):
        if (config.in_channels, config.out_channels, config.spacing_embedding) != (3, 1, False):
            raise ValueError("a patch network has 3 input channels (patch, 2 positions), 1 "
                             "output channel and no spacing embedding")
        super().__init__(config, unet)

    def forward(self, x: torch.Tensor, t: torch.Tensor, positions: torch.Tensor):
        if x.ndim != 4 or x.shape[1] != 1 or positions is None or \
                positions.shape != (x.shape[0], 2) + tuple(x.shape[2:]):
            raise ValueError(f"a patch network takes x (B, 1, P, P) and positions "
                             f"(B, 2, P, P), got {tuple(x.shape)} and "
                             f"{None if positions is None else tuple(positions.shape)}")
        return super().forward(torch.cat([x, positions.to(x)], dim=1), t)


class PatchPrior:
    """PaDIS's patch prior over a ``(Z, Y, X)`` volume, slice by slice (see module docstring).

    Same contract as a :class:`~..priors.Prior` (``schedule``, ``window``,
    ``check_volume_shape``, ``predict_noise``). ``image_shape`` is the ``(Y, X)`` slice size
    the positions were trained on; ``max_batch`` bounds the patches per network call.
    """

    kind = "patch"

    def __init__(self, network, *, image_shape, schedule: VPSchedule = VPSchedule(),
                 window: IntensityWindow = IntensityWindow(0.0, 1.0), pad_value: float = -1.0,
                 max_batch: int = 64):
        if not callable(network):
            raise TypeError(f"network must be callable as net(x, t, positions), got "
                            f"{type(network).__name__}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.network, self.schedule, self.window = network, schedule, window
        self.grid = PatchGrid(tuple(image_shape), network.config.sample_size)
        self.pad_value, self.max_batch = pad_value, max_batch
        self.alpha_bar = schedule.alphas_cumprod().tolist()

    def check_volume_shape(self, shape) -> None:
        """Raise ``ValueError`` unless the ``(Z, Y, X)`` volume has the trained slice size."""
        if len(shape) != 3 or tuple(shape[1:]) != self.grid.image_shape:
            raise ValueError(f"the patch prior's positions were trained on "
                             f"{self.grid.image_shape[0]}x{self.grid.image_shape[1]} slices; "
                             f"got a volume of shape {tuple(shape)}")

    @torch.no_grad()
    def predict_noise(self, x_t, t, step, generator):
        grid, a = self.grid, self.alpha_bar[t]
        noise = torch.randn((x_t.shape[0],) + grid.canvas_shape, generator=generator,
                            device=x_t.device, dtype=x_t.dtype)
        canvas = grid.pad(x_t, a ** 0.5 * self.pad_value + (1 - a) ** 0.5 * noise)
        shift = grid.random_shift(generator)                          # a new grid every call
        patches = grid.cut(canvas, shift)[:, None]                    # (Z·K1·K2, 1, P, P)
        positions = grid.positions(shift).to(x_t).repeat(x_t.shape[0], 1, 1, 1)
        eps = []
        for x, pos in zip(patches.split(self.max_batch), positions.split(self.max_batch)):
            timesteps = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
            eps.append(self.network(x, timesteps, pos).to(x.dtype))
        return grid.stitch(torch.cat(eps)[:, 0], shift)               # Σ_c G_cᵀ ε̂_c


def save_patch_prior(path, network: PatchNetwork, *, image_shape, schedule: VPSchedule,
                     window: IntensityWindow, pad_value: float,
                     training: dict | None = None) -> Path:
    """Save a patch network with what :func:`load_patch_prior` needs (safetensors + JSON)."""
    meta = {"format_version": FORMAT_VERSION, "prior_kind": PatchPrior.kind,
            "network": network.config.to_dict(), "image_shape": list(image_shape),
            "pad_value": pad_value, "schedule": schedule.to_dict(),
            "intensity_window": window.to_dict(), "training": training or {}}
    write_tensors(path, network.state_dict(), meta)
    return Path(path)


def load_patch_prior(path, device: str | torch.device = "cpu", **kwargs) -> PatchPrior:
    """The :class:`PatchPrior` saved at ``path`` (weights on ``device``, eval mode)."""
    tensors, meta = read_tensors(path)
    check_format_version(meta, path, FORMAT_VERSION)
    if meta.get("prior_kind") != PatchPrior.kind or \
            meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a patch-prior checkpoint (prior kind "
                         f"{meta.get('prior_kind')!r}, format {meta.get('format_version')!r})")
    network = PatchNetwork(NetworkConfig.from_dict(meta["network"]))
    network.load_state_dict(tensors)
    network.to(device).eval().requires_grad_(False)
    return PatchPrior(network, image_shape=tuple(meta["image_shape"]),
                      schedule=VPSchedule.from_dict(meta["schedule"]),
                      window=IntensityWindow.from_dict(meta["intensity_window"]),
                      pad_value=meta["pad_value"], **kwargs)


def train_patch_prior(volumes, out_dir, *, patch: int = 16, network: PatchNetwork | None = None,
                      steps: int = 10_000, batch_size: int = 16, learning_rate: float = 2e-4,
                      ema_decay: float = 0.999, grad_clip: float = 1.0, seed: int = 0,
                      window: IntensityWindow = IntensityWindow(0.0, 1.0),
                      schedule: VPSchedule = VPSchedule(), pad_value: float = -1.0,
                      device: str | torch.device = "cpu", progress: bool = True) -> Path:
    """Train a patch prior by denoising score matching; returns ``out_dir/model.safetensors``.

    ``volumes``: ``(Z, Y, X)`` arrays in physical units, all with the same ``(Y, X)`` (mapped
    to network units with ``window``). ``network`` defaults to the ``tiny`` architecture for
    ``patch``. Step ``k`` draws its patches, timesteps and noise from
    :func:`~..train.step_generator` ``(seed, k)``; the EMA weights are saved at the end.
    """
    data = [window.to_network(torch.as_tensor(v, dtype=torch.float32)) for v in volumes]
    shapes = {tuple(v.shape[1:]) for v in data}
    if not data or any(v.ndim != 3 or not torch.isfinite(v).all() for v in data) or \
            len(shapes) != 1:
        raise ValueError(f"need finite (Z, Y, X) training volumes that share one slice size, "
                         f"got slice sizes {sorted(shapes)}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    net = network or PatchNetwork(patch_network_config(patch))
    patch = net.config.sample_size
    net.to(device).train()
    ema = copy.deepcopy(net).requires_grad_(False)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    bar = tqdm(range(steps), disable=not progress, desc="train patch prior")
    for step in bar:
        g = step_generator(seed, step)
        x0, positions = sample_patches(data, patch, batch_size, g, pad_value=pad_value)
        loss = dsm_loss(net, x0, slice(None), positions, schedule, g)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters()):
                e.lerp_(p, 1 - ema_decay)
        bar.set_postfix(loss=f"{loss.item():.4f}")
    training = {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
                "ema_decay": ema_decay, "seed": seed, "volumes": len(data)}
    return save_patch_prior(Path(out_dir) / "model.safetensors", ema,
                            image_shape=shapes.pop(), schedule=schedule, window=window,
                            pad_value=pad_value, training=training)
