"""``diffblend-astra evaluate``: reconstructions vs ground truth → per-plane metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .common import add_common, subparser

EXAMPLES = """\
  diffblend-astra evaluate truth.npy fbp.npy dbpp.npy --data-range 0 1
  diffblend-astra evaluate truth.npy demo_out/*.npy --data-range 0 1 --json metrics.json
"""


def register(sub) -> None:
    p = subparser(sub, "evaluate", "per-plane (axial, coronal, sagittal) and whole-volume "
                  "PSNR/SSIM and TV-z of reconstructions against a ground truth", EXAMPLES)
    p.add_argument("truth", type=Path, help="ground-truth volume")
    p.add_argument("reconstructions", type=Path, nargs="+",
                   help="volumes to evaluate; each is reported under its path as given")
    p.add_argument("--data-range", type=float, nargs=2, metavar=("LOW", "HIGH"), required=True,
                   help="fixed intensity range for PSNR/SSIM (the same for every method)")
    p.add_argument("--slices", choices=("object", "all"), default="object",
                   help="average each plane over the slices that contain the object (default; "
                        "all-air slices would flatter a method that returns zeros there) or "
                        "over all slices")
    p.add_argument("--json", type=Path,
                   help="also write the metrics to this JSON file (strict JSON: an exact "
                        "match's infinite PSNR is written as null)")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def run(args) -> None:
    from ..io import read_volume
    from ..io_atomic import atomic_write
    from ..metrics import metrics_table, plane_metrics, tv_z
    from .checks import check_device, check_finite, check_output_file

    if check_device(args.device).type != "cpu":
        raise ValueError(f"--device {args.device}: evaluate computes its metrics on the CPU; "
                         "use --device cpu")
    low, high = args.data_range
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(f"--data-range needs finite LOW < HIGH, got {low} {high}")
    keys = [str(path) for path in args.reconstructions]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"{repeated[0]} is given twice; give each reconstruction once")
    if args.json is not None:
        check_output_file(args.json, inputs=(args.truth, *args.reconstructions),
                          suffixes=(".json",), option="--json")
    truth = read_volume(args.truth)
    check_finite(truth, f"the truth {args.truth}")
    results, summary = {}, {}
    for key, path in zip(keys, args.reconstructions):
        volume = read_volume(path)
        if volume.shape != truth.shape:
            raise ValueError(f"{path} has shape {volume.shape}; the truth has {truth.shape}")
        check_finite(volume, str(path))
        results[key] = plane_metrics(volume, truth, data_range=high - low, slices=args.slices)
        summary[key] = {**results[key], "tv_z": tv_z(volume)}
    summary["ground_truth_tv_z"] = tv_z(truth)
    print(metrics_table(results))
    if args.json:
        text = json.dumps(_finite_or_null(summary), indent=2, allow_nan=False)
        with atomic_write(args.json) as tmp:
            Path(tmp).write_text(text)


def _finite_or_null(value):
    """``value`` with every non-finite float (an exact match's infinite PSNR) as ``None``."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
