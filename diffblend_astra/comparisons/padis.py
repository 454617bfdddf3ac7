"""PaDIS (Hu et al., NeurIPS 2024): a 2D prior learnt on ``P × P`` patches with their position.

The prior itself is a kind of the core, ``patch``: its network
(:class:`~..networks.PatchNetwork`), its ε̂ over a volume (:class:`~..priors.PatchPrior`,
stitched from a randomly shifted grid of patches every call) and its patches and position
channels (:mod:`..patches`). It fits the :class:`~..priors.ScorePrior` contract, so PaDIS runs
per slice inside :class:`~..solver.DiffusionBlendSolver` with its CG data step
(:mod:`.registry`). This module holds PaDIS's training recipe.

Paper vs CPU defaults: PaDIS uses 56² patches of 256² images, an EDM network and σ-levels,
1000 network evaluations and a DPS data step with Langevin updates (not implemented here);
the ``tiny`` CPU network takes any patch size that is a multiple of 8 (16 for tests).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..networks import NetworkConfig, PatchNetwork
from ..prior_kinds import named_config
from ..train import TrainConfig, train


def patch_network_config(patch: int, name: str = "tiny") -> NetworkConfig:
    """A named architecture (:func:`~..prior_kinds.named_config`) for ``patch × patch``
    patches; ``patch`` must be a multiple of 8 (``tiny``) or 32 (``paper``)."""
    config = named_config(name, "patch")
    multiple = 2 ** (len(config.block_out_channels) - 1)
    if patch < 1 or patch % multiple:
        raise ValueError(f"the {name!r} network needs a patch size that is a multiple of "
                         f"{multiple}, got {patch}")
    return dataclasses.replace(config, sample_size=patch)


def train_patch_prior(volumes, out_dir, *, patch: int = 16,
                      network: PatchNetwork | None = None, steps: int = 10_000,
                      batch_size: int = 16, seed: int = 0, progress: bool = True,
                      **kwargs) -> Path:
    """Train a ``patch`` prior with PaDIS's recipe; returns ``out_dir/model.safetensors``.

    ``volumes``: ``(Z, Y, X)`` arrays in physical units, all with the same ``(Y, X)``.
    ``network`` defaults to the ``tiny`` architecture for ``patch`` (initial weights from
    ``seed``); training is :func:`~..train.train` with EMA 0.999 without warm-up, no flips (a
    flipped patch would not match its positions) and fp32. ``kwargs`` go to :func:`~..train.train` (``window``, ``schedule``, ``device``).
    """
    config = TrainConfig(prior_kind="patch", steps=steps, batch_size=batch_size, seed=seed,
                         ema_warmup=False, flip_augment=False, precision="fp32")
    if network is None:
        with torch.random.fork_rng(devices=[]):    # seeded initial weights, global state kept
            torch.manual_seed(seed)
            network = PatchNetwork(patch_network_config(patch))
    return train(volumes, out_dir, config, network=network, progress=progress, **kwargs)
