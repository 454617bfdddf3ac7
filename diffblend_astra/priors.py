"""Score priors over whole volumes: ``prior.predict_noise(x_t, t, step, generator) → ε̂``.

Each prior turns a network ``net(x, t, spacing) → ε̂`` (see :mod:`.networks`) into the
predicted noise of a whole noisy volume ``x_t`` ``(Z, Y, X)`` in network units:

* :class:`BlendPrior` — DiffusionBlend++: the volume is re-partitioned into 3-slice groups
  every step (:class:`~.partition.PartitionSchedule`), the groups go through the network as a
  batch of 3-channel images with their spacing label, and ε̂ is scattered back (averaged
  over the step's partitions when the schedule gives several).
* :class:`ConditionalPrior` — DiffusionBlend: ε̂ of each slice from the network that sees the
  slice with its noisy neighbours (j = 1, edges repeated).
* :class:`SlicePrior` — the 2D prior of DDS / DiffusionMBIR: one slice at a time.
* :class:`PatchPrior` — PaDIS: a 2D prior learnt on patches with their position, one slice
  at a time, ε̂ stitched from a randomly shifted grid of patches.

The network runs in chunks of at most ``max_batch`` images and ``max_pixels`` pixels, so
memory is bounded whatever Z and the slice size are; chunking does not change the result.
Every prior runs on slices of any size: the networks are fully convolutional. The kinds, their channels and bundled weights are
listed in :mod:`.prior_kinds`; :func:`~.checkpoint.load_prior` builds a prior from weights.
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import torch

from .diffusion import VPSchedule
from .normalization import IntensityWindow
from .partition import PartitionSchedule
from .patches import PAD_VALUE, PatchGrid

MAX_PIXELS = 16 * 128 * 128
"""Pixels per channel in one network call by default (16 slices of 128², 4 of 256²): the
bound on the network's working memory."""


@runtime_checkable
class ScorePrior(Protocol):
    """What the samplers need of a prior (:func:`~.solver.sample`, the MBIR and TPDM
    samplers): the diffusion ``schedule``, the intensity ``window`` (physical ↔ network
    units), a shape check, and ε̂ of a whole noisy volume.

    :class:`Prior` and its subclasses satisfy it, as do the comparison systems' priors
    (TPDM's axis and alternating priors, PaDIS's patch prior); so does any object of the
    user's with these members.
    """

    schedule: VPSchedule
    window: IntensityWindow

    def check_volume_shape(self, shape) -> None:
        """Raise ``ValueError`` unless a ``(Z, Y, X)`` volume of ``shape`` fits."""

    def predict_noise(self, x_t: torch.Tensor, t: int, step: int,
                      generator: torch.Generator) -> torch.Tensor:
        """ε̂ ``(Z, Y, X)`` of the noisy volume ``x_t`` at timestep ``t`` (step ``step``)."""


class Prior:
    """Common part: the network, its schedule and intensity window, chunked evaluation.

    The networks are fully convolutional: a prior reconstructs slices of any size ``Y × X``,
    whatever size it was trained on. ``trained_on`` is what
    the checkpoint records of its training slices (``slice_shape``, ``crop``, ``pixel_mm``,
    ``intensity``); a volume whose slices are more than twice as large or small as those
    gets a warning, as its pixels then see anatomy at another scale. The network runs on at
    most ``max_batch`` images and ``max_pixels`` pixels per call, so memory stays bounded
    for large slices too.
    """

    kind = ""
    min_slices = 1

    def __init__(self, network, *, schedule: VPSchedule = VPSchedule(),
                 window: IntensityWindow = IntensityWindow(0.0, 1.0), max_batch: int = 16,
                 max_pixels: int = MAX_PIXELS, trained_on: dict | None = None):
        if not callable(network):
            raise TypeError(f"network must be callable as net(x, t, spacing), got "
                            f"{type(network).__name__}")
        if max_batch < 1 or max_pixels < 1:
            raise ValueError(f"max_batch and max_pixels must be >= 1, got {max_batch}, "
                             f"{max_pixels}")
        self.network = network
        self.schedule = schedule
        self.window = window
        self.max_batch = max_batch
        self.max_pixels = max_pixels
        self.trained_on = dict(trained_on or {})

    @classmethod
    def from_checkpoint(cls, checkpoint, **kwargs) -> "Prior":
        """Build the prior from a loaded :class:`~.checkpoint.Checkpoint` (kind checked)."""
        if checkpoint.kind != cls.kind:
            raise ValueError(f"{cls.__name__} needs a '{cls.kind}' checkpoint, got a "
                             f"'{checkpoint.kind}' one")
        kwargs.setdefault("trained_on", checkpoint.trained_on)
        return cls(checkpoint.network, schedule=checkpoint.schedule, window=checkpoint.window,
                   **checkpoint.options, **kwargs)

    @property
    def training_slice_shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of the slices the network was trained on (or cropped from), when
        known: from the checkpoint's record, else the network's ``sample_size``."""
        if "slice_shape" in self.trained_on:
            return tuple(int(n) for n in self.trained_on["slice_shape"])
        size = getattr(getattr(self.network, "config", None), "sample_size", None)
        return None if size is None else (size, size)

    def check_volume_shape(self, shape) -> None:
        """Raise ``ValueError`` unless a ``(Z, Y, X)`` volume of ``shape`` fits the network;
        warn when its slices are far from the training slices' size."""
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} works on (Z, Y, X) volumes, got shape "
                             f"{tuple(shape)}")
        if shape[0] < self.min_slices:
            raise ValueError(f"{type(self).__name__} needs Z >= {self.min_slices} slices, got "
                             f"Z = {shape[0]}; for a volume of fewer slices use the 2D method "
                             f"'dds2d' (the 'slice' prior)")
        trained = self.training_slice_shape
        if trained is not None and max(max(a / b, b / a) for a, b in
                                       zip(shape[1:], trained)) > 2:
            pixel = self.trained_on.get("pixel_mm")
            at = f" of {pixel:g} mm pixels" if pixel else ""
            warnings.warn(f"the prior was trained on {trained[0]}x{trained[1]} slices{at}; "
                          f"these are {shape[1]}x{shape[2]}: if they cover a similar field "
                          f"of view, their pixels see anatomy at another scale and the prior "
                          f"fits less well (resample to about {trained[0]}x{trained[1]}, or "
                          f"train on slices like yours)", UserWarning, stacklevel=3)

    def predict_noise(self, x_t: torch.Tensor, t: int, step: int,
                      generator: torch.Generator) -> torch.Tensor:
        """ε̂ for the noisy volume ``x_t`` ``(Z, Y, X)`` at timestep ``t`` (sampling step
        ``step``); ``generator`` draws the random partition where there is one."""
        raise NotImplementedError

    @torch.no_grad()
    def _run(self, batch: torch.Tensor, t: int, labels: torch.Tensor | None) -> torch.Tensor:
        """Network on ``batch`` ``(B, C, H, W)`` with its per-image ``labels`` (``(B, …)``:
        spacings or position channels; ``None`` for none) in chunks of at most ``max_batch``
        images and ``max_pixels`` pixels per channel."""
        per_call = max(1, min(self.max_batch, self.max_pixels // batch[0, 0].numel()))
        chunks = batch.split(per_call)
        label_chunks = [None] * len(chunks) if labels is None else labels.split(per_call)
        outputs = []
        for chunk, label in zip(chunks, label_chunks):
            timesteps = torch.full((chunk.shape[0],), t, dtype=torch.int64, device=chunk.device)
            outputs.append(self.network(chunk, timesteps, label).to(chunk.dtype))
        return torch.cat(outputs)

    @staticmethod
    def _spacing(batch: torch.Tensor, spacing: int) -> torch.Tensor:
        """The spacing label of every image of ``batch``, ``(B,)`` int64."""
        return torch.full((batch.shape[0],), spacing, dtype=torch.int64, device=batch.device)


class BlendPrior(Prior):
    """DiffusionBlend++: blend the scores of 3-slice groups of a changing partition."""

    kind = "blend"
    min_slices = 3

    def __init__(self, network, *, partitions: PartitionSchedule = PartitionSchedule(),
                 **kwargs):
        super().__init__(network, **kwargs)
        self.partitions = partitions

    def predict_noise(self, x_t, t, step, generator):
        partitions = self.partitions.partitions(step, x_t.shape[0], generator)
        blended = []
        for p in partitions:
            groups = p.gather(x_t)
            blended.append(p.scatter(self._run(groups, t, self._spacing(groups, p.spacing))))
        return blended[0] if len(blended) == 1 else torch.stack(blended).mean(0)


class ConditionalPrior(Prior):
    """DiffusionBlend: ε̂ of each slice given its two noisy neighbours (edges repeated)."""

    kind = "conditional"
    min_slices = 3

    def predict_noise(self, x_t, t, step, generator):
        z = torch.arange(x_t.shape[0], device=x_t.device)
        neighbours = torch.stack([(z - 1).clamp(min=0), z, (z + 1).clamp(max=z[-1])], dim=1)
        return self._run(x_t[neighbours], t, None)[:, 0]


class SlicePrior(Prior):
    """The 2D baseline prior: every axial slice on its own."""

    kind = "slice"

    def predict_noise(self, x_t, t, step, generator):
        return self._run(x_t[:, None], t, None)[:, 0]


class PatchPrior(Prior):
    """PaDIS's patch prior, every axial slice on its own, as a sum of patch scores.

    Each call draws a new shift of the patch grid (:class:`~.patches.PatchGrid`), pads the
    slices with the forward process of the background, ``√ᾱ_t · pad_value + √(1−ᾱ_t) z``,
    runs the network on all patches with their position channels and stitches ε̂ back:
    the image score is ``Σ_c G_cᵀ s(G_c x)``. ``image_shape`` is the ``(Y, X)`` slice size
    the positions were trained on (stored with the weights); ``pad_value`` the background in
    network units.
    """

    kind = "patch"

    def __init__(self, network, *, image_shape, pad_value: float = PAD_VALUE, max_batch: int = 64,
                 **kwargs):
        super().__init__(network, max_batch=max_batch, **kwargs)
        self.grid = PatchGrid(tuple(image_shape), network.config.sample_size)
        self.pad_value = pad_value
        self.alpha_bar = self.schedule.alphas_cumprod().tolist()

    def check_volume_shape(self, shape) -> None:
        """Raise ``ValueError`` unless the ``(Z, Y, X)`` volume has the trained slice size."""
        if len(shape) != 3 or tuple(shape[1:]) != self.grid.image_shape:
            raise ValueError(f"the patch prior's positions were trained on "
                             f"{self.grid.image_shape[0]}x{self.grid.image_shape[1]} slices; "
                             f"got a volume of shape {tuple(shape)}")

    def predict_noise(self, x_t, t, step, generator):
        grid, a = self.grid, self.alpha_bar[t]
        noise = torch.randn((x_t.shape[0],) + grid.canvas_shape, generator=generator,
                            device=x_t.device, dtype=x_t.dtype)
        canvas = grid.pad(x_t, a ** 0.5 * self.pad_value + (1 - a) ** 0.5 * noise)
        shift = grid.random_shift(generator)                          # a new grid every call
        patches = grid.cut(canvas, shift)[:, None]                    # (Z·K1·K2, 1, P, P)
        positions = grid.positions(shift).to(x_t).repeat(x_t.shape[0], 1, 1, 1)
        return grid.stitch(self._run(patches, t, positions)[:, 0], shift)   # Σ_c G_cᵀ ε̂_c
