"""``diffblend-astra evaluate``: reconstructions vs ground truth → per-plane metrics."""

from __future__ import annotations

import json
from pathlib import Path

from .common import subparser

EXAMPLES = """\
  diffblend-astra evaluate truth.npy fbp.npy dbpp.npy --data-range 0 1
  diffblend-astra evaluate truth.npy demo_out/*.npy --data-range 0 1 --json metrics.json
"""


def register(sub) -> None:
    p = subparser(sub, "evaluate", "per-plane (axial, coronal, sagittal) PSNR/SSIM and TV-z "
                  "of reconstructions against a ground truth", EXAMPLES)
    p.add_argument("truth", type=Path, help="ground-truth volume")
    p.add_argument("reconstructions", type=Path, nargs="+", help="volumes to evaluate")
    p.add_argument("--data-range", type=float, nargs=2, metavar=("LOW", "HIGH"), required=True,
                   help="fixed intensity range for PSNR/SSIM (the same for every method)")
    p.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    p.set_defaults(run=run)


def run(args) -> None:
    from ..io import read_volume
    from ..io_atomic import atomic_write
    from ..metrics import metrics_table, plane_metrics, tv_z

    low, high = args.data_range
    if not high > low:
        raise ValueError(f"--data-range needs LOW < HIGH, got {low} {high}")
    truth = read_volume(args.truth)
    results, summary = {}, {}
    for path in args.reconstructions:
        volume = read_volume(path)
        if volume.shape != truth.shape:
            raise ValueError(f"{path} has shape {volume.shape}; the truth has {truth.shape}")
        results[path.stem] = plane_metrics(volume, truth, data_range=high - low)
        summary[path.stem] = {**results[path.stem], "tv_z": tv_z(volume)}
    summary["ground_truth_tv_z"] = tv_z(truth)
    print(metrics_table(results))
    if args.json:
        with atomic_write(args.json) as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2))
