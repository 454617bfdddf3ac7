"""Train a DiffusionBlend++ prior on your own volumes (NIfTI files, a DICOM series), then use it.

Shows the path from a folder of scans to a reconstruction with your own checkpoint:

1. Stand-ins for your scans: procedural phantoms that the bundled weights never saw, written
   in Hounsfield units into a folder as NIfTI volumes (``.nii.gz``) and one DICOM series (a
   folder of slices stored as uint16 with RescaleIntercept −1024, as scanners write them).
2. ``read_volume`` reads each one — a file, or a DICOM folder — as a float32 ``(Z, Y, X)``
   array in HU. A scanner measures line integrals of linear attenuation, not of HU, so the
   volumes are converted, ``μ = μ_water · (1 + HU / 1000)``; here ``μ_water = 0.45``, the
   units of the bundled prior (air 0, water 0.45, dense bone up to 1).
3. ``train(...)`` fine-tunes the bundled DiffusionBlend++ network on them (``network=``; leave
   it out to train from scratch, which needs thousands of steps) and writes
   ``model.safetensors`` with its JSON sidecar. Every slice must be 64 x 64, the tiny
   network's size.
4. A held-out phantom scanned with 8 parallel views is reconstructed with FBP and with
   DiffusionBlend++ from that checkpoint (``run_method("dbpp", ..., checkpoint=path)``);
   per-plane PSNR and SSIM are printed.

Run, from the repository root::

    python examples/train_on_your_volumes.py              # 4 x 64³ volumes, 60 steps: ~30 s
    python examples/train_on_your_volumes.py --quick      # 4 x 12 slices, 4 steps: ~10 s
    python examples/train_on_your_volumes.py --out my_run # keep scans and checkpoint

Without ``--out`` everything is written to a temporary folder, deleted at the end. Real
training takes thousands of steps (see README.md, "Train on your own volumes").
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from diffblend_astra.checkpoint import load_bundled
from diffblend_astra.io import read_volume, write_dicom_series, write_volume
from diffblend_astra.methods import run_method
from diffblend_astra.metrics import metrics_table, plane_metrics
from diffblend_astra.operators import as_operator, sparse_view
from diffblend_astra.phantoms import held_out_seeds, phantom_volume, training_seeds
from diffblend_astra.train import TrainConfig, train

MU_WATER = 0.45
"""Linear attenuation of water in the units of the bundled prior (its soft tissue)."""


def to_hu(mu):
    return 1000.0 * (mu - MU_WATER) / MU_WATER


def to_attenuation(hu):
    return MU_WATER * (1.0 + hu / 1000.0)


def write_stand_in_scans(folder: Path, slices: int) -> None:
    """Three NIfTI volumes and one DICOM series of phantoms, in HU. Seeds 64-67: the
    bundled weights were trained on seeds 0-63."""
    seeds = training_seeds(68)[64:]
    hu = {seed: to_hu(phantom_volume(seed, (slices, 64, 64))) for seed in seeds}
    for seed in seeds[:3]:
        write_volume(folder / f"patient_{seed}.nii.gz", hu[seed])
    write_dicom_series(folder / f"patient_{seeds[3]}_dicom", hu[seeds[3]],
                       dtype="uint16", slope=1.0, intercept=-1024.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="12-slice volumes, 4 training steps, 9-slice test, 5 steps")
    parser.add_argument("--train-steps", type=int, help="training steps (default 60; 4 quick)")
    parser.add_argument("--steps", type=int, help="diffusion steps (default 25; 5 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and sampling")
    parser.add_argument("--out", type=Path, help="folder for the scans and the run "
                                                 "(default: a temporary folder)")
    args = parser.parse_args()
    slices = 12 if args.quick else 64
    train_steps = args.train_steps or (4 if args.quick else 60)
    steps = args.steps or (5 if args.quick else 25)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        scans = root / "scans"
        scans.mkdir(parents=True, exist_ok=True)
        write_stand_in_scans(scans, slices)                 # 1. stand-ins for your scans

        # 2. your volumes: NIfTI files and DICOM series folders, in HU -> attenuation
        paths = sorted(scans.glob("*.nii.gz")) + sorted(p for p in scans.iterdir() if p.is_dir())
        volumes = []
        for path in paths:
            hu = read_volume(path)                       # float32 (Z, Y, X), HU
            volumes.append(to_attenuation(hu))
            print(f"read {path.name}: {hu.shape}, HU {hu.min():.0f} .. {hu.max():.0f}")

        # 3. fine-tune the bundled network on them (same intensity window as the bundled
        #    one); loaded networks are frozen for inference, so unfreeze it first
        bundled = load_bundled("blend")
        config = TrainConfig(prior_kind="blend", steps=train_steps,
                             batch_size=4 if args.quick else 8, seed=args.seed,
                             checkpoint_every=train_steps)
        start = time.perf_counter()
        checkpoint = train(volumes, root / "run", config, window=bundled.window,
                           network=bundled.network.requires_grad_(True), progress=False,
                           data_summary={"data": [p.name for p in paths]})
        print(f"trained {train_steps} steps in {time.perf_counter() - start:.1f} s: {checkpoint}")

        # 4. reconstruct a held-out phantom with your checkpoint
        truth = phantom_volume(held_out_seeds(1)[0], (9 if args.quick else 64, 64, 64))
        A = as_operator(*sparse_view(beam="parallel", views=8, shape=64), slices=len(truth))
        y = A(torch.from_numpy(truth))
        recons = {"FBP": run_method("fbp", A, y),
                  "DiffusionBlend++ (your checkpoint)": run_method(
                      "dbpp", A, y, checkpoint=checkpoint, steps=steps, seed=args.seed)}
        results = {method: plane_metrics(volume, truth, data_range=1.0)
                   for method, volume in recons.items()}
        print(f"\nsparse-view: 8 views over 180 degrees, held-out phantom {truth.shape} "
              f"(Z, Y, X), DiffusionBlend++ with {steps} steps")
        print(metrics_table(results))


if __name__ == "__main__":
    main()
