"""FBP-UNet (Jin et al., 2017): a supervised residual UNet from FBP slices to clean slices.

The network is trained for one scan geometry: the FBP of simulated projections of training
volumes is the input, the volume the target, axial slice by axial slice (``(B, 1, Y, X)``
batches in network units). It learns the residual, ``out = x + U(x)``, and starts as the
identity (zero-initialised last layer), so training begins from plain FBP.

Paper vs CPU defaults: the original network (FBPConvNet) has 4 pooling levels of widths
64 … 1024 with batch normalisation, trained for 150 epochs at batch size 32 in the
DiffusionBlend comparison; :class:`~..networks.UNetConfig` defaults to 2 levels of widths
16 … 64 for CPUs (``UNetConfig(width=64, depth=4)`` is the paper's size, without batch
normalisation). The network, :class:`~..networks.ResidualUNet`, is the core's ``fbp-unet``
kind.

Weights are a checkpoint of kind ``fbp-unet`` (:mod:`..checkpoint`: safetensors + JSON
sidecar with the architecture, the intensity window and, as its option, the geometry);
:meth:`FbpUnet.from_checkpoint` builds the model from one, and :meth:`FbpUnet.reconstruct`
refuses other geometries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..baselines import fbp
from ..checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..networks import ResidualUNet, UNetConfig
from ..normalization import IntensityWindow
from ..operators import as_operator
from ..train import step_generator


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

    def save(self, path, *, training: dict | None = None) -> Path:
        """Write the model as an ``fbp-unet`` checkpoint (``path``: ``NAME.safetensors``),
        with ``training``, what it was trained on, in the sidecar."""
        return save_checkpoint(path, self.network, kind="fbp-unet", window=self.window,
                               options={"geometry": self.geometry}, training=training)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> "FbpUnet":
        """The model of a loaded ``fbp-unet`` checkpoint (:func:`~..checkpoint.load_checkpoint`
        or :func:`~..checkpoint.load_bundled`)."""
        if checkpoint.kind != "fbp-unet":
            raise ValueError(f"an FBP-UNet needs an 'fbp-unet' checkpoint, got a "
                             f"'{checkpoint.kind}' one")
        geometry = checkpoint.options["geometry"]
        return cls(checkpoint.network, geometry=(geometry["proj_geom"], geometry["vol_geom"]),
                   window=checkpoint.window)

    @classmethod
    def load(cls, path, device: str | torch.device = "cpu") -> "FbpUnet":
        """The model saved at ``path`` (weights on ``device``)."""
        return cls.from_checkpoint(load_checkpoint(path, device))


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


def _same_crops(batches, crop: int, generator: torch.Generator):
    """A random ``crop × crop`` window per sample of ``(B, C, H, W)`` batches, the same
    window in each batch."""
    height, width = batches[0].shape[-2:]
    count = batches[0].shape[0]
    rows = torch.randint(height - crop + 1, (count,), generator=generator).tolist()
    cols = torch.randint(width - crop + 1, (count,), generator=generator).tolist()
    return tuple(torch.stack([b[k, :, r:r + crop, c:c + crop] for k, (r, c) in
                              enumerate(zip(rows, cols))]) for b in batches)


def train_fbp_unet(volumes, geometry, *, steps: int = 2000, batch_size: int = 16,
                   learning_rate: float = 1e-3, config: UNetConfig = UNetConfig(),
                   window: IntensityWindow = IntensityWindow(0.0, 1.0), seed: int = 0,
                   crop: int | None = None, device: str | torch.device = "cpu",
                   progress: bool = False) -> FbpUnet:
    """Train an FBP-UNet for ``geometry = (proj_geom, vol_geom)`` (a 2D ASTRA pair).

    ``volumes``: ``(Z, Y, X)`` arrays in physical units whose slices fit ``vol_geom``. Each
    step draws ``batch_size`` slices with :func:`~..train.step_generator` ``(seed, step)``
    (``crop``: a random ``crop × crop`` window of each, the same in the FBP and the volume;
    the network is fully convolutional and reconstructs whole slices) and takes an Adam step
    on the mean squared error in network units.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    inputs, targets = training_pairs(volumes, geometry, window)
    if crop is not None and not 1 <= crop <= min(inputs.shape[-2:]):
        raise ValueError(f"crop must lie in [1, {min(inputs.shape[-2:])}] (the slice size), "
                         f"got {crop}")
    with torch.random.fork_rng():       # seeded initial weights, global RNG state restored
        torch.manual_seed(seed)
        network = ResidualUNet(config)
    network.to(device).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    for step in tqdm(range(steps), disable=not progress, desc="train FBP-UNet"):
        g = step_generator(seed, step)
        index = torch.randint(inputs.shape[0], (batch_size,), generator=g)
        x, target = inputs[index], targets[index]
        if crop is not None:
            x, target = _same_crops((x, target), crop, g)
        loss = F.mse_loss(network(x.to(device)), target.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return FbpUnet(network.eval(), geometry=geometry, window=window)
