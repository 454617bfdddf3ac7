"""Score networks: named UNet configurations and the ε-prediction wrapper.

Every prior calls its network as ``net(x, t, spacing) → ε̂`` where

* ``x``: ``(B, C_in, H, W)`` float32 noisy slices in network units ([-1, 1] for clean data),
* ``t``: ``(B,)`` int64 diffusion timesteps in ``[0, T)``,
* ``spacing``: ``(B,)`` int64 slice spacing of the group (1 adjacent, 3 cross), or ``None``
  for networks without a spacing embedding,
* ``ε̂``: ``(B, C_out, H, W)`` predicted noise.

Any callable with that signature works as a network. The default one is a
``diffusers.UNet2DModel`` in which the slice spacing enters through the class embedding with
``class_embed_type="timestep"``: a sinusoidal encoding followed by dense layers, the same
architecture as the timestep embedding — the positional-encoding module of DiffusionBlend++.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .prior_kinds import PRIOR_CHANNELS


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of a ``UNet2DModel`` score network (saved beside its weights).

    ``sample_size`` is the slice size ``H = W`` in pixels; ``block_out_channels`` the width of
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




def named_config(name: str, prior_kind: str) -> NetworkConfig:
    """Return a named architecture for a prior kind (``blend``, ``conditional``, ``slice``).

    * ``tiny``  — 64² slices, ≈1.1 M parameters; trains on 2 CPU cores (≈0.3 s per batch of
      16). The bundled demonstration weights use it.
    * ``paper`` — 256² slices, the DDPM/ADM size of the paper's networks (≈110 M parameters,
      widths 128–512, attention at 16²); for GPUs. Fine-tune it from a diffusers DDPM
      checkpoint with :func:`network_from_pretrained`.
    """
    if prior_kind not in PRIOR_CHANNELS:
        raise ValueError(f"prior kind must be one of {sorted(PRIOR_CHANNELS)}, got {prior_kind!r}")
    c_in, c_out = PRIOR_CHANNELS[prior_kind]
    common = dict(in_channels=c_in, out_channels=c_out, spacing_embedding=prior_kind == "blend")
    if name == "tiny":
        return NetworkConfig(sample_size=64, block_out_channels=(16, 32, 64, 64),
                             layers_per_block=1, attention_levels=(3,), norm_num_groups=8,
                             **common)
    if name == "paper":
        return NetworkConfig(sample_size=256, block_out_channels=(128, 128, 256, 256, 512, 512),
                             layers_per_block=2, attention_levels=(4,), norm_num_groups=32,
                             **common)
    raise ValueError(f"unknown network configuration {name!r}; expected 'tiny' or 'paper'")


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
        return self.unet(x, t.to(x.device), class_labels=labels).sample

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def network_from_pretrained(directory: str, prior_kind: str) -> EpsilonNetwork:
    """Start a network from a diffusers ``UNet2DModel`` directory the user already has.

    This is how the paper's DiffusionBlend++ network began: from Ho et al.'s DDPM weights
    (for example a local copy of a ``google/ddpm-*-256`` ``unet`` folder). The input and
    output layers are kept when the channel counts match the prior kind and re-initialised
    otherwise; a spacing embedding is added for ``blend`` priors. Nothing is downloaded.
    """
    from diffusers import UNet2DModel

    base = UNet2DModel.from_pretrained(directory, local_files_only=True)
    c_in, c_out = PRIOR_CHANNELS[prior_kind]
    bc = base.config
    attention = tuple(i for i, name in enumerate(bc.down_block_types) if "Attn" in name)
    config = NetworkConfig(sample_size=int(bc.sample_size), in_channels=c_in,
                           out_channels=c_out, block_out_channels=tuple(bc.block_out_channels),
                           layers_per_block=int(bc.layers_per_block),
                           attention_levels=attention, norm_num_groups=int(bc.norm_num_groups),
                           spacing_embedding=prior_kind == "blend")
    net = EpsilonNetwork(config)
    own = net.unet.state_dict()
    compatible = {k: v for k, v in base.state_dict().items()
                  if k in own and own[k].shape == v.shape}
    net.unet.load_state_dict(compatible, strict=False)
    return net
