"""Patches of slices for the ``patch`` prior: the padded grid and the position channels.

Position channels (:func:`position_channels`): per-pixel coordinate maps in the frame of the
whole ``N1 × N2`` image, ``c(i) = (2i + 1)/N − 1`` for row (column) ``i``: the pixel centres of
the image span ``(−1, 1)`` and padding pixels get ``|c| > 1``. Training
(:func:`sample_patches`) and sampling (:meth:`PatchGrid.positions`) both call this function,
so the network sees at sampling time exactly the positions it was trained with. They depend
on the image size, which is therefore stored with the weights and checked.

Padding and grid (:class:`PatchGrid`, PaDIS's notation): ``K_i = 1 + ⌊N_i/P⌋`` patches per
axis, the image padded by ``M_i = K_i P − N_i`` on each side; a ``K1 × K2`` grid of
non-overlapping patches shifted by ``(m1, m2) ∈ [0, M1] × [0, M2]`` covers every image pixel
exactly once. Padding holds a background value (network units, −1 by default: the low end of
the intensity window). Training cuts patches at uniform positions of the padded clean images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PAD_VALUE = -1.0
"""The background the padding holds, in network units: the low end of the intensity
window, as in PaDIS."""


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
                   pad_value: float = PAD_VALUE) -> tuple[torch.Tensor, torch.Tensor]:
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
