"""Reconstruction quality on held-out phantoms: the paper's comparison, per plane.

    python benchmarks/quality.py            # full run (4 volumes, 5 scans, ablations)
    python benchmarks/quality.py --quick    # one small volume, few steps: a smoke test

For each scan — 4, 6 and 8 parallel views, a 90° limited-angle parallel scan, 8 fan-beam
views — every method reconstructs the same held-out phantoms (never used in training). All
diffusion methods get the same number of network evaluations and priors of the same size
trained for the same number of steps. Reported: PSNR/SSIM per plane (mean ± std over
volumes, fixed data range [0, 1]), TV-z against the ground truth's, seconds per volume.
Ablations on 8 views: adjacency-only vs adjacency + cross partitions; PSNR versus NFE.
The tables are printed and written into the "quality" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from diffblend_astra.experiment import DATA_RANGE, evaluate_method, make_case
from diffblend_astra.methods import load_prior
from diffblend_astra.metrics import plane_metrics, tv_z
from diffblend_astra.partition import PartitionSchedule
from diffblend_astra.priors import BlendPrior
from diffblend_astra.solver import DiffusionBlendSolver
from results_file import update_section

SCANS = {
    "parallel, 4 views": dict(geometry="parallel", views=4),
    "parallel, 6 views": dict(geometry="parallel", views=6),
    "parallel, 8 views": dict(geometry="parallel", views=8),
    "parallel, 90° limited angle": dict(geometry="parallel", views=90, arc_degrees=90),
    "fan, 8 views": dict(geometry="fan", views=8),
}
METHODS = ("fbp", "cgls", "admm-tv", "dds2d", "dds", "dbpp")
PLANES = ("axial", "coronal", "sagittal")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 volume, 9 slices")
    parser.add_argument("--volumes", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50, help="NFE of every diffusion method")
    parser.add_argument("--scans", nargs="+", choices=list(SCANS), default=list(SCANS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    volumes, slices, steps = (1, 9, 4) if args.quick else (args.volumes, 64, args.steps)
    scans = args.scans[:1] if args.quick else args.scans

    sections = [_header(args, volumes, slices, steps)]
    for scan in scans:
        cases = [make_case(index=i, slices=slices, **SCANS[scan]) for i in range(volumes)]
        rows = {m: [evaluate_method(c, m, steps=steps, seed=i) for i, c in enumerate(cases)]
                for m in args.methods}
        truth_tv = np.mean([tv_z(c.truth) for c in cases])
        sections.append(_scan_table(scan, rows, truth_tv))
        print(sections[-1], flush=True)
    if not args.quick:
        sections.append(_ablations(volumes=min(volumes, 2), slices=slices, steps=steps))
        print(sections[-1], flush=True)
    if not args.no_write and not args.quick:
        update_section("quality", "\n\n".join(sections))
    return 0


def _header(args, volumes, slices, steps) -> str:
    command = "python benchmarks/quality.py " + " ".join(sys.argv[1:])
    return (f"## Quality ({datetime.date.today()}, {platform.node() or 'machine'}: "
            f"{_machine()})\n\nCommand: `{command.strip()}`. {volumes} held-out phantoms of "
            f"{slices}×64×64, noiseless projections, {steps} network evaluations for every "
            f"diffusion method. PSNR [dB] / SSIM per plane, mean ± std over volumes, data "
            f"range [0, 1].")


def _machine() -> str:
    return f"{os.cpu_count()} CPU cores"


def _scan_table(scan: str, rows: dict, truth_tv: float) -> str:
    lines = [f"### {scan}", "",
             "| method | " + " | ".join(f"{p} PSNR | {p} SSIM" for p in PLANES)
             + " | TV-z (truth {:.4f}) | s / volume |".format(truth_tv),
             "|---" * (2 + 2 * len(PLANES)) + "|---|"]
    for method, runs in rows.items():
        cells = []
        for plane in PLANES:
            for metric in ("psnr", "ssim"):
                values = [r["metrics"][plane][metric] for r in runs]
                digits = 2 if metric == "psnr" else 3
                cells.append(f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}")
        tv = np.mean([r["tv_z"] for r in runs])
        seconds = np.mean([r["seconds"] for r in runs])
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {tv:.4f} | {seconds:.1f} |")
    return "\n".join(lines)


def _ablations(*, volumes: int, slices: int, steps: int) -> str:
    """DB++ on 8 parallel views: partition schedules, then PSNR versus NFE."""
    cases = [make_case(index=i, slices=slices, views=8) for i in range(volumes)]
    checkpoint_prior = load_prior("blend")
    variants = {
        "adjacency + cross (default)": PartitionSchedule(),
        "adjacency only": PartitionSchedule(cross_every=0),
        "fixed partition (no offsets, no cross)": PartitionSchedule(cross_every=0,
                                                                    random_offsets=False),
    }
    lines = [f"### Ablations (DB++, parallel 8 views, {volumes} volumes)", "",
             "| variant | NFE | axial PSNR | coronal PSNR | sagittal PSNR | s / volume |",
             "|---|---|---|---|---|---|"]
    runs = [(name, schedule, steps) for name, schedule in variants.items()]
    runs += [("adjacency + cross", PartitionSchedule(), n) for n in (10, 25, 100) if n != steps]
    for name, schedule, nfe in runs:
        prior = BlendPrior(checkpoint_prior.network, partitions=schedule,
                           schedule=checkpoint_prior.schedule, window=checkpoint_prior.window)
        psnr, seconds = {p: [] for p in PLANES}, []
        for i, case in enumerate(cases):
            start = time.perf_counter()
            x = DiffusionBlendSolver(case.operator, prior, steps=nfe).reconstruct(
                case.y, seed=i, progress=False)
            seconds.append(time.perf_counter() - start)
            for plane, m in plane_metrics(x, case.truth, data_range=DATA_RANGE).items():
                psnr[plane].append(m["psnr"])
        lines.append(f"| {name} | {nfe} | " + " | ".join(
            f"{np.mean(psnr[p]):.2f}" for p in PLANES) + f" | {np.mean(seconds):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
