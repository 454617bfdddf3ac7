"""Time per volume of every diffusion method, in one run: the equal-wall-time comparison.

    python benchmarks/method_time.py            # one held-out 64³ volume, 8 parallel views
    python benchmarks/method_time.py --ct       # the real-CT test case of ct_quality.py
    python benchmarks/method_time.py --quick    # 9 slices, 4 steps: a smoke test

Each method reconstructs the same volume ``--repeats`` times, the methods interleaved so
that a change of load on a shared machine hits them alike. Reported per method: its network
evaluations, the **CPU seconds** of the process per volume (all threads; unlike wall time it
hardly depends on what else runs on the machine), the wall seconds, and the ratio of CPU
seconds to DDS's. Networks run in the solver's default precision (bf16 autocast where the
CPU has it). The phantom case runs the phantom priors at the phantom tables' settings
(``quality.phantom_spec``); ``--ct`` runs the bundled real-CT priors at the registry's
settings on the test patient's 16-slice slab of ``ct_quality.py``. Written into the
"method time" (or "ct method time") section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

from diffblend_astra.experiment import PHANTOM_WEIGHTS, SCANS, make_case, make_ct_case
from diffblend_astra.methods import DIFFUSION, run_method
from ct_quality import SLICES, TEST
from quality import evaluations, phantom_spec
from results_file import update_section

METHODS = ("dds2d", "dds", "dds-iscs", "db", "dbpp-cg", "dbpp")


def runner(method: str, ct: bool):
    """``run(case, steps)`` for ``method``: the registry's method with the bundled real-CT
    prior (``ct``), or the phantom tables' method with the phantom prior."""
    if ct:
        return lambda case, steps: run_method(method, case.operator, case.y, steps=steps, seed=0)
    spec, checkpoint = phantom_spec(method), PHANTOM_WEIGHTS[DIFFUSION[method].prior_kind]
    return lambda case, steps: run_method(spec, case.operator, case.y, steps=steps, seed=0,
                                          checkpoint=checkpoint)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ct", action="store_true", help="the real-CT test case")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    slices, steps, repeats = (9, 4, 1) if args.quick else (64, args.steps, args.repeats)
    if args.ct:
        slices = min(slices, SLICES)
        case = make_ct_case(scan=TEST, slices=slices, **SCANS["parallel-8"])
    else:
        case = make_case(index=0, slices=slices, **SCANS["parallel-8"])
    run = {m: runner(m, args.ct) for m in METHODS}
    for method in METHODS:                 # warm-up: weights loaded, kernels chosen
        run[method](case, 2)
    cpu = {m: [] for m in METHODS}
    wall = {m: [] for m in METHODS}
    for _ in range(repeats):
        for method in METHODS:
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            run[method](case, steps)
            cpu[method].append(time.process_time() - start_cpu)
            wall[method].append(time.perf_counter() - start_wall)
    text = table(cpu, wall, steps, case.description, repeats, ct=args.ct)
    print(text)
    if not args.quick:
        update_section("ct method time" if args.ct else "method time", text)
    return 0


def table(cpu: dict, wall: dict, steps: int, case: str, repeats: int, *, ct: bool) -> str:
    reference = min(cpu["dds"])
    settings = ("bundled real-CT priors, the registry's settings" if ct else
                "phantom priors, the phantom tables' settings")
    lines = [f"## Time per volume of the diffusion methods{' on real CT' if ct else ''} "
             f"({datetime.date.today()}, {os.cpu_count()} CPU cores, "
             f"{os.environ.get('OMP_NUM_THREADS', 'all')} threads)", "",
             f"Command: `python benchmarks/method_time.py{' --ct' if ct else ''}`. {case}, "
             f"{steps} steps, {settings}, best of {repeats} interleaved "
             f"runs per method after a warm-up.", "",
             "| method | network evaluations | CPU s / volume | wall s / volume | CPU time / DDS |",
             "|---|---|---|---|---|"]
    for method in METHODS:
        lines.append(f"| {method} | {evaluations(method, steps, phantom=not ct)} | "
                     f"{min(cpu[method]):.1f} | "
                     f"{min(wall[method]):.1f} | {min(cpu[method]) / reference:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
