"""The networks the package ships: the score network (ε-prediction) and FBP-UNet's UNet.

Every prior calls its network as ``net(x, t, spacing) → ε̂`` where

* ``x``: ``(B, C_in, H, W)`` float32 noisy slices in network units ([-1, 1] for clean data),
* ``t``: ``(B,)`` int64 diffusion timesteps in ``[0, T)``,
* ``spacing``: ``(B,)`` int64 slice spacing of the group (1 adjacent, 3 cross), or ``None``
  for networks without a spacing embedding,
* ``ε̂``: ``(B, C_out, H, W)`` predicted noise.

Any callable with that signature works as a network. The default one,
:class:`EpsilonNetwork`, is a ``diffusers.UNet2DModel`` in which the slice spacing enters
through the class embedding with ``class_embed_type="timestep"``: a sinusoidal encoding
followed by dense layers, the same architecture as the timestep embedding — the
positional-encoding module of DiffusionBlend++.

:class:`PatchNetwork` (the ``patch`` prior) takes per-pixel position channels in place of the
spacing; :class:`ResidualUNet` is the supervised slice-to-slice network of FBP-UNet
(``(B, 1, H, W) → (B, 1, H, W)``). Every class builds itself from the ``network`` dict of its
checkpoint sidecar (``from_config``) and says its ``(in, out)`` ``channels``;
:mod:`.prior_kinds` says which class each kind uses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of a ``UNet2DModel`` score network (saved beside its weights).

    ``sample_size`` is the size ``H = W`` in pixels of the images it was trained on (whole
    slices, or random crops of larger slices); the network is fully convolutional and runs on
    any ``H, W`` (padded internally to a multiple of its downsampling factor, ``2 ** (levels -
    1)``). ``block_out_channels`` the width of
    each resolution level; ``attention_levels`` the indices of the levels (0 = full
    resolution) that carry self-attention; ``spacing_embedding`` whether the slice spacing is
    fed through the class embedding.
    """

    sample_size: int
    in_channels: int
    out_channels: int
    block_out_channels: tuple[int, ...]
    layers_per_block: int
    attention_levels: tuple[int, ...]
    norm_num_groups: int
    spacing_embedding: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(d)
        if missing:
            raise ValueError(f"network config lacks the keys {sorted(missing)}")
        values = {k: d[k] for k in names}
        values["block_out_channels"] = tuple(values["block_out_channels"])
        values["attention_levels"] = tuple(values["attention_levels"])
        return cls(**values)


def build_unet(config: NetworkConfig):
    """A freshly initialised ``diffusers.UNet2DModel`` for ``config``."""
    from diffusers import UNet2DModel

    levels = range(len(config.block_out_channels))
    down = tuple("AttnDownBlock2D" if i in config.attention_levels else "DownBlock2D"
                 for i in levels)
    up = tuple("AttnUpBlock2D" if i in config.attention_levels else "UpBlock2D"
               for i in reversed(levels))
    return UNet2DModel(
        sample_size=config.sample_size,
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=config.norm_num_groups,
        class_embed_type="timestep" if config.spacing_embedding else None,
    )


class EpsilonNetwork(nn.Module):
    """``net(x, t, spacing) → ε̂`` over a ``UNet2DModel`` (shapes in the module docstring)."""

    def __init__(self, config: NetworkConfig, unet=None):
        super().__init__()
        self.config = config
        self.unet = build_unet(config) if unet is None else unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, spacing: torch.Tensor | None = None):
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"network expects (B, {cfg.in_channels}, H, W) input, got "
                             f"{tuple(x.shape)}")
        if cfg.spacing_embedding and spacing is None:
            raise ValueError("this network was trained with a slice-spacing embedding; "
                             "pass spacing (B,)")
        labels = spacing.to(x.device) if cfg.spacing_embedding else None
        h, w = x.shape[-2:]
        multiple = 2 ** (len(cfg.block_out_channels) - 1)      # the UNet's total downsampling
        pad_h, pad_w = -h % multiple, -w % multiple
        if pad_h or pad_w:           # mirrored, so padded noise still looks like noise
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > multiple
                      else "replicate")
        return self.unet(x, t.to(x.device), class_labels=labels).sample[..., :h, :w]

    @classmethod
    def from_config(cls, config: dict) -> "EpsilonNetwork":
        """A freshly initialised network of the architecture ``config`` (a sidecar's dict)."""
        return cls(NetworkConfig.from_dict(config))

    @property
    def channels(self) -> tuple[int, int]:
        """``(in, out)`` image channels."""
        return self.config.in_channels, self.config.out_channels

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class PatchNetwork(EpsilonNetwork):
    """``net(x, t, positions) → ε̂`` for ``P × P`` patches: ``x`` ``(B, 1, P, P)``,
    ``positions`` ``(B, 2, P, P)`` (:func:`~.patches.position_channels`), ``ε̂``
    ``(B, 1, P, P)``; the UNet sees the patch and its two position channels as 3 channels
    (positions are conditions, never noised)."""

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


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`ResidualUNet`: ``depth`` pooling levels, level ``k`` with
    ``width · 2^k`` channels."""

    width: int = 16
    depth: int = 2

    def __post_init__(self):
        if self.width < 1 or self.depth < 0:
            raise ValueError(f"need width >= 1 and depth >= 0, got {self.width}, {self.depth}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _conv_block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class ResidualUNet(nn.Module):
    """``(B, 1, H, W) → (B, 1, H, W)``, ``x + U(x)``; any ``H, W`` (padded internally).

    The last layer starts at zero, so a new network is the identity. The original
    FBPConvNet has 4 levels of widths 64 … 1024 with batch normalisation;
    ``UNetConfig(width=64, depth=4)`` is that size, without batch normalisation.
    """

    channels = (1, 1)

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        widths = [config.width * 2 ** k for k in range(config.depth + 1)]
        self.down = nn.ModuleList(_conv_block(1 if k == 0 else widths[k - 1], widths[k])
                                  for k in range(config.depth + 1))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2)
                                for k in range(config.depth))
        self.merge = nn.ModuleList(_conv_block(2 * widths[k], widths[k])
                                   for k in range(config.depth))
        self.out = nn.Conv2d(widths[0], 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @classmethod
    def from_config(cls, config: dict) -> "ResidualUNet":
        """A freshly initialised network of the architecture ``config`` (a sidecar's dict)."""
        return cls(UNetConfig(**config))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (B, 1, H, W) slices, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        multiple = 2 ** self.config.depth
        padded = F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")
        skips, features = [], padded
        for k, block in enumerate(self.down):
            features = block(features if k == 0 else F.max_pool2d(features, 2))
            skips.append(features)
        features = skips.pop()
        for k in reversed(range(self.config.depth)):
            features = self.merge[k](torch.cat([skips[k], self.up[k](features)], dim=1))
        return x + self.out(features)[..., :h, :w]
