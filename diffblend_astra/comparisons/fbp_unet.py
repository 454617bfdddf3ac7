"""FBP-UNet (Jin et al., 2017): a supervised residual UNet from FBP slices to clean slices.

The network is trained for one scan geometry: the FBP of simulated projections of training
volumes is the input, the volume the target, axial slice by axial slice (``(B, 1, Y, X)``
batches in network units). It learns the residual, ``out = x + U(x)``, and starts as the
identity (zero-initialised last layer), so training begins from plain FBP.

Paper vs CPU defaults: the original network (FBPConvNet) has 4 pooling levels of widths
64 … 1024 with batch normalisation, trained for 150 epochs at batch size 32 in the
DiffusionBlend comparison; :class:`UNetConfig` defaults to 2 levels of widths 16 … 64 for CPUs
(``UNetConfig(width=64, depth=4)`` is the paper's size, without batch normalisation).

Weights are saved as safetensors with a JSON sidecar holding the architecture, the
intensity window and the geometry; :meth:`FbpUnet.reconstruct` refuses other geometries.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..baselines import fbp
from ..checkpoint import FORMAT_VERSION, check_format_version, read_tensors, write_tensors
from ..normalization import IntensityWindow
from ..operators import as_operator
from ..train import step_generator


@dataclass(frozen=True)
class UNetConfig:
    """``depth`` pooling levels; level ``k`` has ``width · 2^k`` channels."""

    width: int = 16
    depth: int = 2

    def __post_init__(self):
        if self.width < 1 or self.depth < 0:
            raise ValueError(f"need width >= 1 and depth >= 0, got {self.width}, {self.depth}")


def _conv_block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class ResidualUNet(nn.Module):
    """``(B, 1, H, W) → (B, 1, H, W)``, ``x + U(x)``; any ``H, W`` (padded internally)."""

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


def _plain_geometry(geometry) -> dict:
    """``(proj_geom, vol_geom)`` as JSON-ready dicts (arrays → lists) for storage and ``==``."""
    def plain(d):
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in d.items()}
    proj_geom, vol_geom = geometry
    return {"proj_geom": plain(proj_geom), "vol_geom": plain(vol_geom)}


class FbpUnet:
    """A trained FBP-UNet: ``reconstruct(operator, y)`` = network(FBP(y)), slice by slice.

    Args:
        network: a :class:`ResidualUNet` (or any ``(B, 1, Y, X)`` module).
        geometry: the ``(proj_geom, vol_geom)`` 2D ASTRA pair it was trained for.
        window: physical units ↔ network units of its inputs and outputs.
        max_batch: slices per network call.
    """

    def __init__(self, network, *, geometry, window: IntensityWindow = IntensityWindow(0.0, 1.0),
                 max_batch: int = 16):
        self.network, self.window, self.max_batch = network, window, max_batch
        self.geometry = _plain_geometry(geometry)

    @torch.no_grad()
    def predict(self, u: torch.Tensor) -> torch.Tensor:
        """Network on FBP slices ``(S, 1, Y, X)`` in network units, ``max_batch`` at a time."""
        device = next(self.network.parameters()).device
        return torch.cat([self.network(chunk.to(device)).to(u.device)
                          for chunk in u.split(self.max_batch)])

    def fits(self, operator) -> bool:
        """Whether ``operator`` is a 2D-stack ASTRA operator with the trained geometry."""
        geometry = getattr(operator, "astra_geometry", None)
        return geometry is not None and _plain_geometry(geometry) == self.geometry

    def reconstruct(self, operator, y: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``y`` of a 2D-stack ASTRA ``operator`` with the trained geometry;
        returns ``(Z, Y, X)`` float32 in physical units."""
        if not self.fits(operator):
            proj_geom = self.geometry["proj_geom"]
            views = len(proj_geom.get("ProjectionAngles") or proj_geom.get("Vectors") or ())
            raise ValueError(f"this FBP-UNet was trained for one geometry (a "
                             f"{proj_geom['type']!r} scan with {views} views and its vol_geom) "
                             f"and only undoes the artefacts of that FBP; got {operator!r}")
        u = self.window.to_network(fbp(operator, y))[:, None]
        return self.window.to_physical(self.predict(u)[:, 0])

    def validation_loss(self, volumes) -> float:
        """Mean squared error in network units over the slices of ``volumes`` ``(Z, Y, X)``."""
        inputs, targets = training_pairs(volumes, self.geometry_pair(), self.window)
        return float(F.mse_loss(self.predict(inputs), targets))

    def geometry_pair(self) -> tuple[dict, dict]:
        """The trained ``(proj_geom, vol_geom)`` with angle arrays as NumPy arrays."""
        proj_geom = {k: np.asarray(v) if k in ("ProjectionAngles", "Vectors") else v
                     for k, v in self.geometry["proj_geom"].items()}
        return proj_geom, dict(self.geometry["vol_geom"])

    def save(self, path) -> Path:
        """Write ``path`` (safetensors) and its JSON sidecar."""
        meta = {"format_version": FORMAT_VERSION, "model": "fbp-unet",
                "network": dataclasses.asdict(self.network.config),
                "intensity_window": self.window.to_dict(), "geometry": self.geometry}
        write_tensors(path, self.network.state_dict(), meta)
        return Path(path)

    @classmethod
    def load(cls, path, device: str | torch.device = "cpu") -> "FbpUnet":
        """The model written by :meth:`save` (weights on ``device``)."""
        tensors, meta = read_tensors(path)
        check_format_version(meta, path, FORMAT_VERSION)
        if meta.get("model") != "fbp-unet" or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path} is not an FBP-UNet checkpoint")
        network = ResidualUNet(UNetConfig(**meta["network"]))
        network.load_state_dict(tensors)
        network.to(device).eval()
        geometry = meta["geometry"]
        return cls(network, geometry=(geometry["proj_geom"], geometry["vol_geom"]),
                   window=IntensityWindow.from_dict(meta["intensity_window"]))


def training_pairs(volumes, geometry, window: IntensityWindow):
    """``(inputs, targets)`` ``(S, 1, Y, X)`` in network units: the FBP of each volume's
    simulated projections with ``geometry = (proj_geom, vol_geom)``, and the volume."""
    proj_geom, vol_geom = geometry
    inputs, targets = [], []
    for volume in volumes:
        volume = torch.as_tensor(volume, dtype=torch.float32)
        if volume.ndim != 3:
            raise ValueError(f"training volumes are (Z, Y, X), got {tuple(volume.shape)}")
        operator = as_operator(proj_geom, vol_geom, slices=volume.shape[0])
        inputs.append(fbp(operator, operator(volume)))
        targets.append(volume)
    return (window.to_network(torch.cat(inputs))[:, None],
            window.to_network(torch.cat(targets))[:, None])


def train_fbp_unet(volumes, geometry, *, steps: int = 2000, batch_size: int = 16,
                   learning_rate: float = 1e-3, config: UNetConfig = UNetConfig(),
                   window: IntensityWindow = IntensityWindow(0.0, 1.0), seed: int = 0,
                   device: str | torch.device = "cpu", progress: bool = False) -> FbpUnet:
    """Train an FBP-UNet for ``geometry = (proj_geom, vol_geom)`` (a 2D ASTRA pair).

    ``volumes``: ``(Z, Y, X)`` arrays in physical units whose slices fit ``vol_geom``. Each
    step draws ``batch_size`` slices with :func:`~..train.step_generator` ``(seed, step)``
    and takes an Adam step on the mean squared error in network units.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    inputs, targets = training_pairs(volumes, geometry, window)
    with torch.random.fork_rng():       # seeded initial weights, global RNG state restored
        torch.manual_seed(seed)
        network = ResidualUNet(config)
    network.to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    for step in tqdm(range(steps), disable=not progress, desc="train FBP-UNet"):
        index = torch.randint(inputs.shape[0], (batch_size,), generator=step_generator(seed, step))
        loss = F.mse_loss(network(inputs[index].to(device)), targets[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return FbpUnet(network.eval(), geometry=geometry, window=window)
