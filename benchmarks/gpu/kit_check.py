"""The dry run's checks: is the kit complete, and will the package import over there?

Problems stop a run (a missing file, a requirement nothing provides, two versions of a
wheel, more than :data:`travel.TRAVEL_LIMIT` to carry); notes do not. Needs no GPU, no
network and no wheels: without the wheel folder, the plan of ``wheels.txt`` stands in for it.
"""

from pathlib import Path

from environment import PREBUILT_SHIM, TOMOSIPO, WHEELS
from requirements import (project_requirements, read_machine_packages, read_plan, read_wheels,
                          resolve)
from stages import BUDGET_S, KIT, REPO, SETUP_S, scripts
from travel import TRAVEL_LIMIT, folder_bytes, tree_bytes

SHIM_SOURCES = ("build.sh", "cufft_shim.c", "ver.map")


def check(stages, machine_list: Path, wheels: Path = WHEELS, plan_file: Path = KIT / "wheels.txt"):
    """Return ``(problems, notes, wheels_present)`` for a run of ``stages``."""
    problems, notes = [], []
    total = SETUP_S + sum(stage.timeout_s for stage in stages)
    if total > BUDGET_S:
        problems.append(f"stage limits add up to {total} s, over the budget of {BUDGET_S} s")
    problems += [f"missing file {path.relative_to(REPO)}" for path in scripts(stages)
                 if not path.is_file()]
    problems += [f"missing file {path.relative_to(REPO)}" for path in
                 (KIT / "cufft_shim" / name for name in SHIM_SOURCES) if not path.is_file()]

    plan = read_plan(plan_file)
    present = wheels.is_dir() and any(wheels.glob("*.whl"))
    if present:
        carried, wheel_problems = read_wheels(wheels)
        problems += wheel_problems
        for name, (version, _) in plan.items():
            if carried.get(name, (None,))[0] != version:
                problems.append(f"wheel {name}=={version} of wheels.txt is not in {wheels}")
        notes += [f"{wheels} also holds {carried[name][2]}, not in wheels.txt"
                  for name in carried if name not in plan]
    else:
        carried = plan
        notes.append(f"wheel folder {wheels} is absent: checked against the pins of "
                     f"{plan_file.name} instead")
    report = resolve(project_requirements(REPO / "pyproject.toml"),
                     read_machine_packages(machine_list), carried)
    problems += [f"nothing provides {item}" for item in report.missing]
    problems += [f"version conflict: {item}" for item in report.conflicts]
    notes += report.notes
    notes.append(f"{len(report.resolved)} requirements resolved: " +
                 ", ".join(f"{name} {how}" for name, how in sorted(report.resolved.items())))

    if present:
        size = tree_bytes() + folder_bytes(wheels.parent)
        line = f"{size / 2**20:.1f} MiB would travel (working tree and {wheels.parent})"
        (problems if size > TRAVEL_LIMIT else notes).append(
            line + (f", over {TRAVEL_LIMIT // 2**20} MiB" if size > TRAVEL_LIMIT else ""))
    notes.append("prebuilt cuFFT shim " + ("present" if PREBUILT_SHIM.is_file() else
                 f"absent ({PREBUILT_SHIM}): it is built with gcc over there"))
    notes.append("tomosipo " + ("carried" if (TOMOSIPO / "tomosipo").is_dir() else
                 "not carried: its example is skipped unless tomosipo is installed there"))
    return problems, notes, present
