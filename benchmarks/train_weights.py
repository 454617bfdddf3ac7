"""Train the bundled weights with one recipe, the same budget for every method.

    python benchmarks/train_weights.py blend slice conditional    # the 3-slice / 2D priors
    python benchmarks/train_weights.py slice-coronal patch        # TPDM's second prior, PaDIS
    python benchmarks/train_weights.py fbp-unet-parallel-8        # one FBP-UNet per scan
    python benchmarks/train_weights.py all --install              # everything, then bundle it

The budget rule: 64 procedural training phantoms of 64³ (``phantoms.training_seeds``), 4,000
optimiser steps of Adam on 16 images of 64² per step (the PaDIS patch prior sees 64 patches
of 32², the same pixels per step), tiny networks of about 1.1 M parameters, EMA 0.999 without
warm-up for the score priors.

The 3-slice ``blend`` prior of DiffusionBlend++ follows a second stage on top of that budget:
it starts from the trained 2D ``slice`` network, inflated to three interleaved copies
(:mod:`diffblend_astra.inflate`, 9.8 M parameters), and is fine-tuned for ``--steps`` more
steps of 16 three-slice images (default 3,000; learning rate 1e-4, EMA 0.999 with warm-up,
left–right flips only, bf16 autocast where the CPU has it). Its budget is therefore the 2D
prior's plus those steps; the tables say so.

Each run writes ``runs/<name>/``; ``--install`` copies its weights into
``diffblend_astra/weights/`` (atomically), where the methods find them by name.
Runs go one after another; start several processes (``OMP_NUM_THREADS=1``) to use more cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from diffblend_astra.checkpoint import BUNDLED_WEIGHTS, bundled_path
from diffblend_astra.experiment import SCANS, scan_geometry
from diffblend_astra.io_atomic import atomic_write
from diffblend_astra.phantoms import phantom_volumes, training_seeds
from diffblend_astra.prior_kinds import BUNDLED_KIND, PRIOR_CLASSES

STEPS = 4000
INFLATED_STEPS = 3000
PHANTOMS = 64
SCORE_PRIORS = {name: kind for name, kind in BUNDLED_KIND.items() if kind in PRIOR_CLASSES}
"""The bundled score priors the core trains, by name → prior kind."""
INFLATED = {"blend"}
"""Priors that start from the trained 2D network (``--init-slice``), inflated."""


def train_one(name: str, out_dir: Path, volumes, steps: int | None,
              init_slice: Path | None = None) -> Path:
    """Train the weights ``name`` into ``out_dir``; returns the weights file. ``steps``:
    ``None`` for the recipe's own; ``init_slice``: the 2D weights an inflated prior starts
    from (default: the bundled ``slice``)."""
    if name in INFLATED:
        return train_inflated(name, out_dir, volumes, steps or INFLATED_STEPS, init_slice)
    steps = steps or STEPS
    if name in SCORE_PRIORS:
        from diffblend_astra.comparisons.tpdm import to_axis
        from diffblend_astra.train import TrainConfig, train

        if name == "slice-coronal":
            volumes = [to_axis(v, "coronal") for v in volumes]
        config = TrainConfig(prior_kind=SCORE_PRIORS[name], steps=steps, ema_warmup=False,
                             precision="fp32")
        return train(volumes, out_dir, config, resume=True,
                     data_summary={"data": f"{PHANTOMS} procedural phantoms, recipe {name!r} "
                                           f"of benchmarks/train_weights.py"})
    if name == "patch":
        from diffblend_astra.comparisons.padis import train_patch_prior

        return train_patch_prior(volumes, out_dir, patch=32, steps=steps, batch_size=64)
    if name.startswith("fbp-unet-"):
        from diffblend_astra.comparisons.fbp_unet import train_fbp_unet

        geometry = scan_geometry(**SCANS[name.removeprefix("fbp-unet-")])
        model = train_fbp_unet(volumes, geometry, steps=steps, progress=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        return model.save(out_dir / "model.safetensors")
    raise ValueError(f"unknown weights {name!r}; choose from {', '.join(BUNDLED_WEIGHTS)}")


def train_inflated(name: str, out_dir: Path, volumes, steps: int,
                   init_slice: Path | None) -> Path:
    """Fine-tune the inflated 2D network as the ``name`` prior (module docstring)."""
    from diffblend_astra.inflate import inflate_checkpoint
    from diffblend_astra.train import TrainConfig, train

    init_slice = init_slice or bundled_path("slice", must_exist=True)
    config = TrainConfig(prior_kind=SCORE_PRIORS[name], steps=steps, learning_rate=1e-4,
                         ema_warmup=True, checkpoint_every=250)
    network, base = inflate_checkpoint(init_slice, config.prior_kind, config.seed)
    return train(volumes, out_dir, config, resume=True, network=network,
                 window=base.window, schedule=base.schedule,
                 data_summary={"data": f"{PHANTOMS} procedural phantoms, recipe {name!r} of "
                                       f"benchmarks/train_weights.py",
                               "initialised_from": {"weights": init_slice.name,
                                                    "steps": base.training.get("steps_done")}})


def install(weights: Path, name: str) -> None:
    """Copy ``weights`` and its JSON sidecar over the bundled file of ``name``; the inflated
    priors are stored in float16 (half the size; loading casts back to float32, a relative
    change of at most 5e-4, below that of the bf16 autocast they run in)."""
    from diffblend_astra.checkpoint import read_tensors, write_tensors

    target = bundled_path(name)
    if name in INFLATED:
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
    parser.add_argument("--steps", type=int, default=None,
                        help=f"optimiser steps (default {STEPS}; {INFLATED_STEPS} of "
                             f"fine-tuning for the inflated priors)")
    parser.add_argument("--init-slice", type=Path, default=None,
                        help="2D weights the inflated priors start from (default: bundled)")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--install", action="store_true",
                        help="copy the trained weights into diffblend_astra/weights/")
    args = parser.parse_args(argv)
    names = list(BUNDLED_WEIGHTS) if "all" in args.names else args.names
    volumes = [torch.from_numpy(v) for v in phantom_volumes(training_seeds(PHANTOMS))]
    for name in names:
        weights = train_one(name, args.runs / name, volumes, args.steps, args.init_slice)
        print(f"{name}: {weights}", flush=True)
        if args.install:
            install(weights, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
