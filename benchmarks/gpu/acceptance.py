"""Every CUDA path of the package, checked in one command on a GPU machine, in under 8 minutes.

Stages, in order (``stages.py``), each in its own process with its own time limit, a failure
never stopping the next:

1. ``probe``: ``import astra; astra.use_cuda()``, one 3D forward projection, one FDK;
2. ``pytest-cuda``: the tests marked ``cuda``;
3. ``operators``: the 3D parallel-beam and cone-beam operators against ASTRA's own
   ``create_sino3d_gpu`` / ``create_backprojection3d_gpu``, and their adjointness;
4. ``example-cone``, ``example-tomosipo``: the CUDA examples in quick mode;
5. ``speed``: ``benchmarks/speed.py --gpu``;
6. ``train``: training steps per second of the ``tiny`` and ``paper`` networks.

First the set-up (``environment.py``): the carried wheels of ``.gpu/wheels`` when there are
any, the cuFFT shim when ASTRA needs it. Output goes to the console and to ``log.txt`` as it
comes; ``results.json`` is brought up to date at every stage. Exit 0 when every stage that
ran passed, 1 otherwise.

``--dry-run`` (no GPU needed) prints the same stages and command lines and checks the kit:
its files, the time budget, and that every requirement of the package resolves on the target
machine (``machine_packages.txt``) with the carried wheels (the wheel folder, or the plan
``wheels.txt`` while it is absent). Exit 0: ready to run; 1: something is missing (named);
3: complete, but the wheel folder is absent (``prepare.py`` downloads it).

    python benchmarks/gpu/acceptance.py                   # on the GPU machine; writes to $OUT
    python benchmarks/gpu/acceptance.py --out gpu_check   # on your own GPU machine
    python benchmarks/gpu/acceptance.py --dry-run         # anywhere
    python benchmarks/gpu/acceptance.py --stages probe,operators
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import environment
import runner
import stages

NOT_PREPARED = 3
"""Dry-run exit status: the kit is complete but its wheel folder has not been downloaded."""


def dry_run(plan, args) -> int:
    import kit_check       # needs packaging (and tomllib or tomli); a run does not

    for stage in plan:
        state = f"skipped: {stage.skip}" if stage.skip else f"limit {stage.timeout_s} s"
        print(f"{stage.name:17} {state}\n    {stage.command()}")
    print(f"budget {stages.BUDGET_S} s (set-up {stages.SETUP_S} s); output to {args.out}/")
    problems, notes, present = kit_check.check(plan, args.packages, args.wheels)
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems:
        print(f"dry run: {len(problems)} problem(s); not ready to run")
        return 1
    if not present:
        print(f"dry run: the kit is complete, but the wheel folder {args.wheels} is absent; "
              f"run `python benchmarks/gpu/prepare.py` before a run on a machine without them")
        return NOT_PREPARED
    print("dry run: ready to run")
    return 0


def run(plan, args) -> int:
    start = time.monotonic()
    record = runner.Record(args.out, {"python": sys.version.split()[0],
                                      "machine": platform.machine(),
                                      "budget_s": stages.BUDGET_S})
    record.say(f"GPU acceptance run, budget {stages.BUDGET_S} s, output in {args.out}")
    env, summary = environment.prepare(record.say, args.wheels)
    record.results["setup"] = summary
    record.save()
    passed = runner.run_stages(plan, env, stages.REPO, start + stages.BUDGET_S, record)
    record.results["finished"] = True
    record.save()
    record.say("\n" + "\n".join(f"{entry['name']:17} {entry['status']}"
                                for entry in record.results["stages"]))
    record.say(f"total {time.monotonic() - start:.0f} s; log {record.log_path}")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="check the kit; run nothing")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_acceptance")),
                        help="folder of log.txt and results.json (default $OUT, else "
                             "./gpu_acceptance)")
    parser.add_argument("--stages", help="comma-separated names of the stages to run "
                                         "(default: all, in order)")
    parser.add_argument("--packages", type=Path, default=stages.KIT / "machine_packages.txt",
                        help="dry run: the target machine's package list")
    parser.add_argument("--wheels", type=Path, default=environment.WHEELS,
                        help="the folder of wheels to install (a run) or check (a dry run)")
    args = parser.parse_args()
    plan = stages.plan(environment.tomosipo_available())
    if args.stages:
        names = args.stages.split(",")
        unknown = sorted(set(names) - {stage.name for stage in plan})
        if unknown:
            parser.error(f"unknown stage(s) {', '.join(unknown)}; the stages are "
                         f"{', '.join(stage.name for stage in plan)}")
        plan = [stage for stage in plan if stage.name in names]
    return dry_run(plan, args) if args.dry_run else run(plan, args)


if __name__ == "__main__":
    sys.exit(main())
