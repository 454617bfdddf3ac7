"""Train the bundled weights with one recipe, the same budget for every learned prior.

    python benchmarks/train_weights.py blend slice conditional    # the 3-slice / 2D priors
    python benchmarks/train_weights.py slice-coronal patch        # TPDM's second prior, PaDIS
    python benchmarks/train_weights.py fbp-unet-parallel-8        # one FBP-UNet per scan
    python benchmarks/train_weights.py all --install              # everything, then bundle it

The budget rule: 64 procedural training phantoms of 64³ (``phantoms.training_seeds``), tiny
networks, and for every score prior the same two stages, 6,500 optimiser steps in all:

1. 4,000 steps of Adam (learning rate 2e-4) on 16 images of 64² per step (the PaDIS patch
   prior sees 64 patches of 32², the same pixels per step), EMA 0.999 without warm-up, fp32;
2. 2,500 steps of fine-tuning from the stage-1 network: learning rate 1e-4, EMA 0.999 with
   warm-up, left–right flips (not for patches, whose positions a flip would break), bf16
   autocast where the CPU has it.

The 3-slice ``blend`` prior of DiffusionBlend++ has no stage 1 of its own: its stage 2 starts
from the stage-1 2D ``slice`` network, inflated to three interleaved copies
(:mod:`diffblend_astra.inflate`, 9.8 M parameters instead of 1.1 M). Its steps equal the
others'; each of its steps costs more compute, which the tables state.

Each stage writes ``runs/<name>-stage1/`` and ``runs/<name>/``; ``--install`` copies the
final weights into ``diffblend_astra/weights/`` (atomically), where the methods find them by
name. Runs go one after another; start several processes (``OMP_NUM_THREADS=1``) to use
more cores. ``--from-stage1 DIR`` skips stage 1 and fine-tunes the checkpoint in ``DIR``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from diffblend_astra.checkpoint import bundled_path, load_checkpoint
from diffblend_astra.experiment import SCANS, scan_geometry
from diffblend_astra.io_atomic import atomic_write
from diffblend_astra.phantoms import phantom_volumes, training_seeds
from diffblend_astra.prior_kinds import BUNDLED_KIND, BUNDLED_WEIGHTS, PRIOR_CLASSES

STAGE_1_STEPS = 4000
STAGE_2_STEPS = 2500
PHANTOMS = 64
PATCH, PATCH_BATCH = 32, 64
INFLATED = {"blend": "slice"}
"""Priors whose stage 2 starts from another prior's stage-1 network, inflated."""


def _data(name: str) -> str:
    return f"{PHANTOMS} procedural phantoms, recipe {name!r} of benchmarks/train_weights.py"


def _volumes_for(name: str, volumes):
    """TPDM's coronal prior learns coronal slices: the volumes moved to that frame."""
    if name != "slice-coronal":
        return volumes
    from diffblend_astra.comparisons.tpdm import to_axis

    return [to_axis(v, "coronal") for v in volumes]


def train_stage_1(name: str, out_dir: Path, volumes, steps: int) -> Path:
    """Stage 1 of the score prior ``name`` into ``out_dir``; returns the weights file."""
    from diffblend_astra.train import TrainConfig, train

    if name == "patch":
        from diffblend_astra.comparisons.padis import train_patch_prior

        return train_patch_prior(volumes, out_dir, patch=PATCH, steps=steps,
                                 batch_size=PATCH_BATCH)
    config = TrainConfig(prior_kind=BUNDLED_KIND[name], steps=steps, ema_warmup=False,
                         precision="fp32")
    return train(_volumes_for(name, volumes), out_dir, config, resume=True,
                 data_summary={"data": _data(name)})


def train_stage_2(name: str, out_dir: Path, volumes, steps: int, stage_1: Path) -> Path:
    """Fine-tune the stage-1 checkpoint ``stage_1`` (inflated for :data:`INFLATED`) as the
    score prior ``name`` into ``out_dir``; returns the weights file."""
    from diffblend_astra.inflate import inflate_checkpoint
    from diffblend_astra.train import TrainConfig, train

    kind = BUNDLED_KIND[name]
    patch = kind == "patch"
    config = TrainConfig(prior_kind=kind, steps=steps, learning_rate=1e-4, ema_warmup=True,
                         checkpoint_every=250, batch_size=PATCH_BATCH if patch else 16,
                         flip_augment=not patch)
    if name in INFLATED:
        network, base = inflate_checkpoint(stage_1, kind, config.seed)
    else:
        base = load_checkpoint(stage_1)
        network = base.network
    return train(_volumes_for(name, volumes), out_dir, config, resume=True, network=network,
                 window=base.window, schedule=base.schedule,
                 data_summary={"data": _data(name),
                               "initialised_from": {"weights": f"{stage_1.parent.name} "
                                                               "(stage 1)",
                                                    "steps": base.training.get("steps_done")}})


def train_one(name: str, runs: Path, volumes, steps: tuple[int, int],
              from_stage1: Path | None = None) -> Path:
    """Train the weights ``name`` under ``runs`` with ``steps`` = (stage 1, stage 2) (the
    FBP-UNets have one stage); returns the final weights file."""
    if name.startswith("fbp-unet-"):
        from diffblend_astra.comparisons.fbp_unet import train_fbp_unet

        geometry = scan_geometry(**SCANS[name.removeprefix("fbp-unet-")])
        model = train_fbp_unet(volumes, geometry, steps=steps[0], progress=True)
        (runs / name).mkdir(parents=True, exist_ok=True)
        return model.save(runs / name / "model.safetensors")
    if BUNDLED_KIND.get(name) not in PRIOR_CLASSES:
        raise ValueError(f"unknown weights {name!r}; choose from {', '.join(BUNDLED_WEIGHTS)}")
    source = INFLATED.get(name, name)
    stage_1 = from_stage1 / "model.safetensors" if from_stage1 else train_stage_1(
        source, runs / f"{source}-stage1", volumes, steps[0])
    return train_stage_2(name, runs / name, volumes, steps[1], stage_1)


def install(weights: Path, name: str, *, half: bool | None = None) -> None:
    """Copy ``weights`` and its JSON sidecar over the bundled file of ``name``; ``half``
    (default: for the inflated priors) stores them in float16 (half the size; loading casts
    back to float32, a relative change of at most 5e-4, below that of the bf16 autocast they
    run in)."""
    from diffblend_astra.checkpoint import read_tensors, write_tensors

    target = bundled_path(name)
    if name in INFLATED if half is None else half:
        tensors, meta = read_tensors(weights)
        write_tensors(target, {k: v.half() if v.is_floating_point() else v
                               for k, v in tensors.items()}, meta)
    else:
        for source, dest in ((weights, target), (weights.with_suffix(".json"),
                                                 target.with_suffix(".json"))):
            with atomic_write(dest) as tmp:
                shutil.copyfile(source, tmp)
    print(f"installed {name} -> {target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=["all", *BUNDLED_WEIGHTS])
    parser.add_argument("--steps", type=int, nargs=2, default=(STAGE_1_STEPS, STAGE_2_STEPS),
                        metavar=("STAGE1", "STAGE2"),
                        help=f"optimiser steps of the two stages (default {STAGE_1_STEPS} "
                             f"{STAGE_2_STEPS}; an FBP-UNet trains STAGE1 steps)")
    parser.add_argument("--from-stage1", type=Path, default=None,
                        help="a run folder whose model.safetensors replaces stage 1")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--install", action="store_true",
                        help="copy the trained weights into diffblend_astra/weights/")
    args = parser.parse_args(argv)
    names = list(BUNDLED_WEIGHTS) if "all" in args.names else args.names
    if args.from_stage1 and len(names) != 1:
        parser.error("--from-stage1 takes one weights name")
    volumes = [torch.from_numpy(v) for v in phantom_volumes(training_seeds(PHANTOMS))]
    for name in names:
        weights = train_one(name, args.runs, volumes, tuple(args.steps), args.from_stage1)
        print(f"{name}: {weights}", flush=True)
        if args.install:
            install(weights, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
