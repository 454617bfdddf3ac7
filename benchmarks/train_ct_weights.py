"""Train the bundled real-CT priors: every score prior fine-tuned on real CT with one budget.

    python benchmarks/train_ct_weights.py blend --install             # DiffusionBlend++'s prior
    python benchmarks/train_ct_weights.py blend --more --install      # its second run
    python benchmarks/train_ct_weights.py slice conditional patch     # the others
    python benchmarks/train_ct_weights.py fbp-unet-ct-parallel-8      # an FBP-UNet per scan

The budget rule, the same for every kind: start from the bundled phantom prior of the kind
(``<kind>-phantom``: 6,500 steps on procedural phantoms, ``benchmarks/train_weights.py``),
then ``--steps`` (default 1,500) Adam steps on the real-CT training scans
(:data:`diffblend_astra.datasets.SPLITS` ``["train"]``, on the working grid
:data:`~diffblend_astra.datasets.WORKING_GRID`, in CT units): 16 random crops of 64² per
step (PaDIS: 64 patches of 32² of whole 256² slices, the same pixels), learning rate 1e-4,
EMA 0.999 with warm-up, left–right flips (not for patches), bf16 autocast where the CPU has
it. The validation patient and the test patient are never seen. The bundled priors had two
such runs, the first and then ``--more`` (3,000 CT steps in all).

The supervised FBP-UNets (``fbp-unet-ct-<scan>``, one per benchmark scan of 256² slices) are
trained from scratch on the same scans: :data:`FBP_UNET_STEPS` Adam steps on 16 random 64²
crops of (FBP, truth) slice pairs per step, learning rate 1e-3, fp32, bundled in float16
like the priors.

``--more`` trains the bundled real-CT prior ``<name>`` a further ``--steps`` into
``runs/ct-<name>-more/``: the same recipe with a fresh Adam and seed :data:`MORE_SEED`, so
that its batches (crops, flips, timesteps, noise) are new draws, not a replay of the first
run's (each step's batch comes from a generator seeded by ``(seed, step)``).

Each run writes ``runs/ct-<name>/`` (``--resume`` is implied: a stopped run continues);
``--install`` copies the final weights over the bundled ``<name>``, in float16.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from diffblend_astra import datasets
from diffblend_astra.checkpoint import load_bundled
from diffblend_astra.experiment import SCANS, scan_geometry
from diffblend_astra.prior_kinds import BUNDLED_KIND, FBP_UNET_SCANS
from diffblend_astra.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_weights import install  # noqa: E402

PRIORS = ("slice", "conditional", "blend", "patch")
FBP_UNETS = tuple(f"fbp-unet-ct-{scan}" for scan in FBP_UNET_SCANS)
NAMES = PRIORS + FBP_UNETS
CT_STEPS = 1500
FBP_UNET_STEPS = 2000
CROP = 64
PATCH_BATCH = 64
MORE_SEED = 1
"""Seed of a ``--more`` run (the first CT run has seed 0)."""


def train_ct(name: str, runs: Path, volumes, steps: int, crop: int = CROP, *,
             more: bool = False) -> Path:
    """Fine-tune the bundled phantom prior ``name`` on the CT ``volumes`` (``more``: train
    the bundled real-CT prior ``name`` further, with a fresh optimiser); the weights file."""
    start = name if more else f"{name}-phantom"
    base = load_bundled(start)
    kind = BUNDLED_KIND[name]
    patch = kind == "patch"
    config = TrainConfig(prior_kind=kind, steps=steps, learning_rate=1e-4, ema_warmup=True,
                         checkpoint_every=100, batch_size=PATCH_BATCH if patch else 16,
                         flip_augment=not patch, crop=None if patch else crop,
                         seed=MORE_SEED if more else 0)
    grid = datasets.WORKING_GRID
    summary = {
        "data": f"real CT training scans {', '.join(datasets.SPLITS['train'])} on the "
                f"{grid.label()} grid, recipe {name!r} of benchmarks/train_ct_weights.py",
        "slices": {"pixel_mm": grid.pixel_mm, "slice_mm": grid.slice_mm,
                   "intensity": datasets.INTENSITY_UNITS},
        "initialised_from": {"weights": start, "steps": total_steps(base.training)},
    }
    return train(volumes, runs / f"ct-{name}{'-more' if more else ''}", config, resume=True, network=base.network,
                 window=base.window, schedule=base.schedule, data_summary=summary)


def train_fbp_unet_ct(name: str, runs: Path, volumes, steps: int = FBP_UNET_STEPS) -> Path:
    """Train the FBP-UNet ``name`` (``fbp-unet-ct-<scan>``) on the CT ``volumes``; the
    weights file."""
    from diffblend_astra.comparisons.fbp_unet import train_fbp_unet

    grid = datasets.WORKING_GRID
    geometry = scan_geometry(**SCANS[name.removeprefix("fbp-unet-ct-")], size=grid.size)
    model = train_fbp_unet(volumes, geometry, steps=steps, crop=CROP, progress=True)
    training = {"steps_done": steps, "batch": f"16 crops of {CROP}² per step",
                "data": f"real CT training scans {', '.join(datasets.SPLITS['train'])} on "
                        f"the {grid.label()} grid, benchmarks/train_ct_weights.py"}
    (runs / name).mkdir(parents=True, exist_ok=True)
    return model.save(runs / name / "model.safetensors", training=training)


def total_steps(training: dict) -> int:
    """Steps of a prior, its initialisation included."""
    return int(training.get("steps_done", 0)) + int(
        training.get("initialised_from", {}).get("steps") or 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=NAMES)
    parser.add_argument("--steps", type=int, default=CT_STEPS)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--more", action="store_true",
                        help="train the bundled real-CT priors further (runs/ct-<name>-more)")
    parser.add_argument("--install", action="store_true",
                        help="copy the trained weights into diffblend_astra/weights/")
    args = parser.parse_args(argv)
    volumes = [torch.from_numpy(v) for _, v in datasets.training_volumes()]
    for name in args.names:
        if name in FBP_UNETS:
            weights = train_fbp_unet_ct(name, args.runs, volumes)
        else:
            weights = train_ct(name, args.runs, volumes, args.steps, more=args.more)
        print(f"{name}: {weights}", flush=True)
        if args.install:
            install(weights, name, half=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
