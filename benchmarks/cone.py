"""Cone beam on the CPU through RTK: FDK, CGLS, 3D TV, DDS and DiffusionBlend++ compared.

    python benchmarks/cone.py            # one held-out 64³ phantom, 8 and 23 cone views
    python benchmarks/cone.py --quick    # 9 slices, 4 steps, 8 views: a smoke test

Each scan is ``experiment.make_case(geometry="cone", views=V)``: a held-out procedural phantom
scanned noiselessly by ``operators.cone_beam`` (full 360° orbit, source at 3 volume widths,
detector 1.5× the volume, one voxel per detector pixel at the axis), projected by the RTK
operator that ``as_operator`` picks without a GPU. Reported: PSNR per plane and of the volume
(data range 1), the process's CPU seconds (all threads) and wall seconds per method, and the
operator's own wall time per forward and per transpose call (median of 5). Written into the
"cone beam" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time

from diffblend_astra.experiment import PHANTOM_WEIGHTS, make_case
from diffblend_astra.metrics import plane_metrics
from diffblend_astra.methods import DIFFUSION, run_method
from quality import phantom_spec
from results_file import update_section

METHODS = ("fbp", "cgls", "admm-tv", "dds", "dbpp")
VIEWS = (8, 23)
PLANES = ("axial", "coronal", "sagittal", "volume")


def operator_seconds(op, x, calls=5) -> tuple[float, float]:
    """Median wall seconds of one forward and one transpose call of ``op`` at ``x``."""
    y = op(x)
    forward, transpose = [], []
    for _ in range(calls):
        start = time.perf_counter()
        op(x)
        forward.append(time.perf_counter() - start)
        start = time.perf_counter()
        op.T(y)
        transpose.append(time.perf_counter() - start)
    return statistics.median(forward), statistics.median(transpose)


def run_scan(views: int, slices: int, steps: int) -> tuple[dict, tuple, float, tuple]:
    """``({method: (metrics, cpu_s, wall_s)}, (forward_s, transpose_s), adjointness,
    range_shape)``."""
    case = make_case(geometry="cone", views=views, slices=slices)
    times = operator_seconds(case.operator, case.truth)
    rows = {}
    for method in METHODS:
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        spec, options = method, {}
        if method in DIFFUSION:
            spec = phantom_spec(method)
            options = {"steps": steps, "seed": 0, "checkpoint": PHANTOM_WEIGHTS[spec.prior_kind]}
        volume = run_method(spec, case.operator, case.y, **options)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
        rows[method] = (plane_metrics(volume, case.truth, data_range=1.0), cpu, wall)
        print(f"{views} views, {method}: volume PSNR {rows[method][0]['volume']['psnr']:.2f} dB, "
              f"{wall:.0f} s", flush=True)
    return rows, times, case.operator.adjointness_test(), case.operator.range_shape


def table(results: dict, slices: int, steps: int) -> str:
    lines = [f"## Cone beam (CPU, RTK) ({datetime.date.today()}, {os.cpu_count()} CPU cores "
             f"shared with other jobs, {os.environ.get('OMP_NUM_THREADS', 'all')} torch "
             f"threads)", "",
             f"Command: `python benchmarks/cone.py`. One held-out procedural **phantom** of "
             f"{slices}×64×64 (values in [0, 1]; no real CT yet), noiseless cone-beam scans over "
             f"360° (`operators.cone_beam` defaults: a detector 1.5× the volume's size), "
             f"projected on the CPU by RTK's Joseph pair (`as_operator` without a GPU); "
             f"diffusion methods with {steps} steps, the bundled 64² weights and the phantom "
             f"tables' settings (`quality.phantom_spec`). PSNR in dB "
             f"over the slices that contain the object; CPU s counts every thread of the "
             f"process, wall s (and the operator's ms per call) also the waits for a CPU that "
             f"other jobs hold, so on a shared machine compare CPU s.", "",
             "| views | method | axial | coronal | sagittal | volume | CPU s | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for views, (rows, *_) in results.items():
        for method, (metrics, cpu, wall) in rows.items():
            psnr = " | ".join(f"{metrics[plane]['psnr']:.2f}" for plane in PLANES)
            lines.append(f"| {views} | {method} | {psnr} | {cpu:.0f} | {wall:.0f} |")
    lines += ["", "| views | projections (rows, views, cols) | forward ms / call | "
              "transpose ms / call | adjointness_test() |", "|---|---|---|---|---|"]
    for views, (_, (forward, transpose), adjointness, shape) in results.items():
        lines.append(f"| {views} | {shape} | {1e3 * forward:.0f} | "
                     f"{1e3 * transpose:.0f} | {adjointness:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    slices, steps, views = (9, 4, VIEWS[:1]) if args.quick else (64, args.steps, VIEWS)
    results = {v: run_scan(v, slices, steps) for v in views}
    text = table(results, slices, steps)
    print(text)
    if not args.quick:
        update_section("cone beam", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
