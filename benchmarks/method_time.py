"""Time per volume of every diffusion method, in one run: the equal-wall-time comparison.

    python benchmarks/method_time.py            # one held-out 64³ volume, 8 parallel views
    python benchmarks/method_time.py --quick    # 9 slices, 4 steps: a smoke test

Each method reconstructs the same volume ``--repeats`` times, the methods interleaved so
that a change of load on a shared machine hits them alike. Reported per method: its network
evaluations, the **CPU seconds** of the process per volume (all threads; unlike wall time it
hardly depends on what else runs on the machine), the wall seconds, and the ratio of CPU
seconds to DDS's. Networks run in the solver's default precision (bf16 autocast where the
CPU has it). Written into the "method time" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

from diffblend_astra.experiment import PHANTOM_WEIGHTS, SCANS, make_case
from diffblend_astra.methods import DIFFUSION, run_method
from quality import evaluations
from results_file import update_section

METHODS = ("dds2d", "dds", "db", "dbpp-cg", "dbpp")
PHANTOM = {m: PHANTOM_WEIGHTS[DIFFUSION[m].prior_kind] for m in METHODS}
"""The phantom priors, as the case is a phantom."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    slices, steps, repeats = (9, 4, 1) if args.quick else (64, args.steps, args.repeats)
    case = make_case(index=0, slices=slices, **SCANS["parallel-8"])
    for method in METHODS:                 # warm-up: weights loaded, kernels chosen
        run_method(method, case.operator, case.y, steps=2, seed=0, checkpoint=PHANTOM[method])
    cpu = {m: [] for m in METHODS}
    wall = {m: [] for m in METHODS}
    for _ in range(repeats):
        for method in METHODS:
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            run_method(method, case.operator, case.y, steps=steps, seed=0,
                       checkpoint=PHANTOM[method])
            cpu[method].append(time.process_time() - start_cpu)
            wall[method].append(time.perf_counter() - start_wall)
    text = table(cpu, wall, steps, slices, repeats)
    print(text)
    if not args.quick:
        update_section("method time", text)
    return 0


def table(cpu: dict, wall: dict, steps: int, slices: int, repeats: int) -> str:
    reference = min(cpu["dds"])
    lines = [f"## Time per volume of the diffusion methods ({datetime.date.today()}, "
             f"{os.cpu_count()} CPU cores, {os.environ.get('OMP_NUM_THREADS', 'all')} "
             f"threads)", "",
             f"Command: `python benchmarks/method_time.py`. One held-out phantom of "
             f"{slices}×64×64, 8 parallel views, {steps} steps, best of {repeats} "
             f"interleaved runs per method after a warm-up.", "",
             "| method | network evaluations | CPU s / volume | wall s / volume | CPU time / DDS |",
             "|---|---|---|---|---|"]
    for method in METHODS:
        lines.append(f"| {method} | {evaluations(method, steps)} | {min(cpu[method]):.1f} | "
                     f"{min(wall[method]):.1f} | {min(cpu[method]) / reference:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
