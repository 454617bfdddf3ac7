"""Partitions of the Z slices of a volume into 3-slice groups (DiffusionBlend++).

A :class:`Partition` is a small value object: ``sources`` ``(G, 3)`` holds, for each group, the
volume slices that form its three channels (in increasing z), and ``owners`` ``(G, 3)`` marks
the entries whose network output is written back, so that every real slice is written exactly
once per partition.

The slices are laid out on a padded sequence (``offset`` leading positions, then slices
0 … Z−1, then trailing positions up to a multiple of the period) and grouped there:

* *Adjacency* partition, offset ``m ∈ {0, 1, 2}``, period 3: consecutive triples (spacing 1).
* *Cross* partition, period 9: inside each block of 9 the triples (1,4,7), (2,5,8), (3,6,9)
  (spacing 3); ``offset`` ∈ {0, …, 8}, 0 by default.

A group that reaches into the padding keeps its spacing and is moved inward by whole
multiples of it, so that its padded entries read real neighbouring slices (which it does not
own) instead of copies of the edge slice: the network then always sees a triple with the
spacing it was trained on. Only a volume too short for that (Z < 7 for a cross group) falls
back to repeating the edge slice (cross partitions of fewer than 9 slices).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GROUP_SIZE = 3
CROSS_BLOCK = 9


@dataclass(frozen=True)
class Partition:
    """Groups of three slices of a ``num_slices``-slice volume, with their spacing label."""

    num_slices: int
    spacing: int
    offset: int
    sources: tuple[tuple[int, int, int], ...]
    owners: tuple[tuple[bool, bool, bool], ...]

    @classmethod
    def adjacency(cls, num_slices: int, offset: int = 0) -> "Partition":
        """Consecutive triples of the volume shifted by ``offset`` ∈ {0, 1, 2}."""
        _check(num_slices, offset, GROUP_SIZE)
        firsts = range(0, _padded_length(num_slices, offset, GROUP_SIZE), GROUP_SIZE)
        return cls._build(num_slices, 1, offset, firsts)

    @classmethod
    def cross(cls, num_slices: int, offset: int = 0) -> "Partition":
        """Triples spaced 3 apart inside blocks of 9, shifted by ``offset`` ∈ {0, …, 8}."""
        _check(num_slices, offset, CROSS_BLOCK)
        length = _padded_length(num_slices, offset, CROSS_BLOCK)
        firsts = [block + m for block in range(0, length, CROSS_BLOCK) for m in range(3)]
        return cls._build(num_slices, 3, offset, firsts)

    @classmethod
    def _build(cls, num_slices, spacing, offset, first_positions):
        """Groups starting at the given padded positions, moved inside the volume."""
        sources, owners = [], []
        for first in first_positions:
            wanted = {first - offset + j * spacing for j in range(GROUP_SIZE)}
            wanted &= set(range(num_slices))
            if not wanted:
                continue
            group = _group_inside(min(wanted), spacing, num_slices)
            owned = [z in wanted for z in group]
            # Edge clamping may repeat a slice: only its first entry writes it back.
            owned = [o and z not in group[:j] for j, (z, o) in enumerate(zip(group, owned))]
            sources.append(group)
            owners.append(tuple(owned))
        return cls(num_slices=num_slices, spacing=spacing, offset=offset,
                   sources=tuple(sources), owners=tuple(owners))

    @property
    def num_groups(self) -> int:
        return len(self.sources)

    def index_tensors(self, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sources, owners)`` as ``(G, 3)`` int64 and bool tensors."""
        return (torch.tensor(self.sources, dtype=torch.int64, device=device),
                torch.tensor(self.owners, dtype=torch.bool, device=device))

    def gather(self, volume: torch.Tensor) -> torch.Tensor:
        """``(Z, Y, X)`` volume → ``(G, 3, Y, X)`` batch of groups."""
        sources, _ = self.index_tensors(volume.device)
        return volume[sources]

    def scatter(self, groups: torch.Tensor) -> torch.Tensor:
        """``(G, 3, Y, X)`` per-group outputs → ``(Z, Y, X)``, each slice from its owner."""
        sources, owners = self.index_tensors(groups.device)
        out = groups.new_empty((self.num_slices,) + tuple(groups.shape[2:]))
        out[sources[owners]] = groups[owners]
        return out

    def __repr__(self):
        kind = "adjacency" if self.spacing == 1 else "cross"
        return f"Partition.{kind}({self.num_slices}, offset={self.offset})"


def _check(num_slices: int, offset: int, period: int) -> None:
    if num_slices < GROUP_SIZE:
        raise ValueError(f"a volume needs at least {GROUP_SIZE} slices (Z >= 3) to be "
                         f"partitioned into 3-slice groups, got Z = {num_slices}")
    if not 0 <= offset < period:
        raise ValueError(f"offset must be in [0, {period - 1}], got {offset}")


def _padded_length(num_slices: int, offset: int, period: int) -> int:
    """Length of the padded sequence: offset + Z rounded up to a multiple of ``period``."""
    return -(-(offset + num_slices) // period) * period


def _group_inside(first_real: int, spacing: int, num_slices: int) -> tuple[int, int, int]:
    """The triple with ``spacing`` that contains ``first_real`` and lies inside the volume.

    The triple keeps the slice grid of ``first_real`` (it moves by whole multiples of
    ``spacing``). When the volume is shorter than one triple, indices are clamped to the
    edges (repetition padding).
    """
    span = (GROUP_SIZE - 1) * spacing
    start = first_real
    while start + span > num_slices - 1 and start - spacing >= 0:
        start -= spacing
    return tuple(min(start + j * spacing, num_slices - 1) for j in range(GROUP_SIZE))


@dataclass(frozen=True)
class PartitionSchedule:
    """Which partitions each sampling step uses.

    Step ``i`` (0-based, counted from the first sampling step) uses cross partitions when
    ``(i + 1) % cross_every == 0`` — every second step by default, the best "skip step" of the
    paper's Table 6 — and adjacency partitions with a random offset otherwise.
    ``cross_every=0`` disables cross partitions (the adjacency-only ablation);
    ``random_offsets=False`` always uses offset 0 (the fixed partition, "DiffusionPatch").

    ``averaged = k`` (1, 2 or 3) gives ``k`` partitions per step whose scores the prior
    averages (the paper's Eq. 7 without variable sharing): for adjacency steps the offsets
    ``m, m+1, …`` (mod 3) after the random ``m``; for cross steps the offsets ``0, 3, 6``,
    which put every slice at each of the three places of its spaced triple. ``k = 3`` covers
    every grouping of that kind, at ``k`` times the network cost.
    """

    cross_every: int = 2
    random_offsets: bool = True
    averaged: int = 1

    def __post_init__(self):
        if self.averaged not in (1, 2, 3):
            raise ValueError(f"averaged must be 1, 2 or 3 partitions per step, got "
                             f"{self.averaged}")

    def partitions(self, step: int, num_slices: int,
                   generator: torch.Generator) -> list[Partition]:
        """The partitions of step ``step`` of a ``num_slices``-slice volume."""
        if self.cross_every and (step + 1) % self.cross_every == 0:
            return [Partition.cross(num_slices, 3 * k) for k in range(self.averaged)]
        offset = 0
        if self.random_offsets:
            offset = int(torch.randint(GROUP_SIZE, (1,), generator=generator,
                                       device=generator.device))
        return [Partition.adjacency(num_slices, (offset + k) % GROUP_SIZE)
                for k in range(self.averaged)]

    def partition(self, step: int, num_slices: int, generator: torch.Generator) -> Partition:
        """The first (with ``averaged = 1`` the only) partition of step ``step``."""
        return self.partitions(step, num_slices, generator)[0]
