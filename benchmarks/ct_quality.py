"""Reconstruction quality on real CT: the held-out test patient on the working grid.

    python benchmarks/ct_quality.py                 # every scan, every method
    python benchmarks/ct_quality.py --scans parallel-8 --methods dds dbpp
    python benchmarks/ct_quality.py --report        # rebuild the tables from the records

The case: the central :data:`SLICES` slices of the test patient ``lung-1``
(:data:`diffblend_astra.datasets.SPLITS`), on the working grid (256² slices of 1.25 mm, 5 mm
apart, CT units), scanned noiselessly like the phantom benchmark (``benchmarks/quality.py``:
4, 6 and 8 parallel views, 90° limited angle, 8 fan views). The methods use the bundled
real-CT priors (each its phantom prior fine-tuned on the training scans,
``benchmarks/train_ct_weights.py``; the tables state every prior's steps). 3D ADMM-TV runs
at the weight (:data:`TV_WEIGHTS`) that scores best on the **validation** patient ``lung-2``
(its central slab, the same scan); the diffusion methods run at the registry's settings,
chosen on the same validation slab (``ct_settings.py``); FBP-UNet is one network per scan,
trained on the training scans (``train_ct_weights.py``). Nothing is chosen on the test
patient. Metrics as in the phantom benchmark: PSNR/SSIM per plane over the planes that
contain the object, and of the whole volume. At 8 parallel views DB++ and DDS also run on
the slabs next to the central one (:data:`SLABS`) and at equal time (:data:`EQUAL_TIME`):
each at the steps that take the other's time.

Records go to ``ct_quality_records.jsonl`` (resumable, keyed by weights and definition like
the phantom records); the tables go to the "ct-quality" section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from diffblend_astra import baselines
from diffblend_astra.checkpoint import load_bundled
from diffblend_astra.datasets import SPLITS, WORKING_GRID
from diffblend_astra.experiment import SCANS, evaluate, make_ct_case
from diffblend_astra.methods import DIFFUSION
from diffblend_astra.metrics import tv_z
from quality import (PLANES, PROTOCOL, _definition, _evaluate, _machine, _read, _run,
                     _scan_table, digest_of, evaluations)
from results_file import update_section
from train_ct_weights import total_steps

RECORDS = Path(__file__).with_name("ct_quality_records.jsonl")
SLICES = 16
STEPS = 50
METHODS = ("fbp", "cgls", "admm-tv", "fbp-unet", "dds2d", "dds", "dds-iscs", "db", "dbpp-cg",
           "dbpp")
TV_WEIGHTS = (3e-4, 1e-3, 3e-3)
"""ADMM-TV's λ (relative to ‖A‖², as :func:`~diffblend_astra.baselines.admm_tv` takes it)
tried on the validation patient."""
WEIGHTS = {"dds2d": ("slice",), "dds": ("slice",), "dds-iscs": ("slice",),
           "db": ("conditional",),
           "dbpp-cg": ("blend",), "dbpp": ("blend",)}
TARGET_SCAN = "parallel-8"
"""The scan of the comparison's targets: DB++ and DDS also run there at equal time and on
more slabs of the test patient."""
SLABS = {"central": 0, "before": -SLICES, "after": SLICES}
"""The test patient's slabs of :data:`SLICES` slices (record ``volume`` 0, 1, 2) and their
shift from the central one: the central slab, of every table, and the ones just before and
after it."""
SLAB_METHODS = ("dds", "dbpp")
EQUAL_TIME = {"dbpp": STEPS // 2, "dds": 2 * STEPS}
"""Steps at which DB++ and DDS run in the other's time at :data:`STEPS` on
:data:`TARGET_SCAN`: the 3-slice network costs about twice the 2D one per evaluation
(``method_time.py --ct``, the "ct method time" table of ``RESULTS.md``)."""
(TEST,), (VALIDATION,) = SPLITS["test"], SPLITS["validation"]


def _tv(lam: float) -> str:
    return f"admm-tv/lam-{lam:g}"


def case_for(patient: str):
    """The case maker of :func:`quality._run` for ``patient``: volume ``index`` is its
    ``index``-th slab of :data:`SLABS`."""
    @lru_cache(maxsize=2)
    def case(index: int, scan: str):
        return make_ct_case(scan=patient, slices=SLICES, shift=list(SLABS.values())[index],
                            **SCANS[scan])
    return case


def evaluate_ct(case, method: str, index: int, steps: int) -> dict:
    """:func:`quality._evaluate` with the real-CT priors, and ADMM-TV at a given λ."""
    if not method.startswith("admm-tv/lam-"):
        return _evaluate(case, method, index, steps, phantom=False)
    lam = float(method.removeprefix("admm-tv/lam-"))
    result = evaluate(case.truth, lambda: baselines.admm_tv(case.operator, case.y, lam=lam))
    return {"metrics": result["metrics"], "tv_z": float(result["tv_z"]),
            "seconds": result["seconds"], "truth_tv_z": float(tv_z(case.truth))}


def ct_definition(method: str) -> str:
    """What ``method`` is here (the registry's settings), digested."""
    return _definition(method, phantom=False)


@lru_cache(maxsize=None)
def digest(method: str, scan: str) -> str:
    """The digest of the bundled real-CT weights ``method`` reads ("" for none)."""
    if method == "fbp-unet":
        return digest_of((f"fbp-unet-ct-{scan}",))
    return digest_of(WEIGHTS.get(method.split("/")[0], ()))


def chosen_tv_weight(records: list[dict], scan: str) -> float | None:
    """The λ of :data:`TV_WEIGHTS` with the best volume PSNR on the validation patient."""
    scores = {}
    for r in records:
        if r["scan"] == f"{scan}@{VALIDATION}" and r["method"].startswith("admm-tv/lam-"):
            scores[float(r["method"].removeprefix("admm-tv/lam-"))] = \
                r["metrics"]["volume"]["psnr"]
    return max(scores, key=scores.get) if len(scores) == len(TV_WEIGHTS) else None


def run(records: Path, scans, methods, steps: int) -> None:
    for scan in scans:
        if "admm-tv" in methods:
            _run(records, f"{scan}@{VALIDATION}", [_tv(lam) for lam in TV_WEIGHTS], [0], steps,
                 case_for=lambda i, s: case_for(VALIDATION)(i, scan), evaluate=evaluate_ct,
                 digest=lambda m, s: "")
        lam = chosen_tv_weight(_read(records), scan)
        names = [(_tv(lam) if m == "admm-tv" else m) for m in methods
                 if m != "admm-tv" or lam is not None]
        _run(records, scan, names, [0], steps, case_for=case_for(TEST), evaluate=evaluate_ct,
             digest=digest, definition=ct_definition)
        if scan == TARGET_SCAN and steps == STEPS:
            _run(records, scan, [m for m in SLAB_METHODS if m in methods],
                 range(1, len(SLABS)), steps, case_for=case_for(TEST), evaluate=evaluate_ct,
                 digest=digest, definition=ct_definition)
            for method in (m for m in EQUAL_TIME if m in methods):
                _run(records, scan, [method], [0], EQUAL_TIME[method], case_for=case_for(TEST),
                     evaluate=evaluate_ct, digest=digest, definition=ct_definition)


def report(records: list[dict], steps: int) -> str:
    measured = [r for r in records if r.get("protocol") == PROTOCOL
                and r["definition"] == ct_definition(r["method"])
                and r["weights"] == _current(r)]
    current = [r for r in measured if r["nfe"] == steps and r["volume"] == 0]
    dates = sorted({r["date"] for r in current}) or [str(datetime.date.today())]
    lines = [f"## Real CT ({', '.join(dates)}; {_machine()})", "",
             f"Command: `python benchmarks/ct_quality.py` (records in "
             f"`benchmarks/ct_quality_records.jsonl`). The held-out **test patient** "
             f"`{TEST}`, its central {SLICES} slices on the working grid ({WORKING_GRID.size}² "
             f"slices of {WORKING_GRID.pixel_mm:g} mm, {WORKING_GRID.slice_mm:g} mm apart, CT "
             f"units u = (HU + 1000) / 2000), noiseless projections; {steps} steps for every "
             f"diffusion method (one started from CGLS at t = 500 runs the 26 at or below it). "
             f"Priors: the bundled "
             f"real-CT priors, each its phantom prior fine-tuned on the training scans "
             f"({', '.join(SPLITS['train'])}; 16 crops of 64² per step), training steps "
             f"{prior_budget()}. 3D TV at the λ of "
             f"{', '.join(f'{w:g}' for w in TV_WEIGHTS)} (× ‖A‖²) "
             f"that scored best on the validation patient `{VALIDATION}` (same scan, central "
             f"slab); nothing chosen on the test patient. PSNR [dB] / SSIM per plane over the "
             f"planes that contain the object, and of the whole volume; data range [0, 1]. "
             f"Times: wall-clock seconds per volume on a shared 2-core machine.", "",
             f"Settings: every diffusion method at the registry's (`methods.DIFFUSION`, "
             f"chosen on the validation patient by `ct_settings.py`): {settings_line()}. "
             f"FBP-UNet: one network per scan trained from scratch on the training scans "
             f"(2,000 steps of 16 crops of 64², `train_ct_weights.py`)."]
    for scan in SCANS:
        found = {r["method"]: [r] for r in current if r["scan"] == scan}
        rows = {m: found[m] for m in sorted(found, key=lambda m: METHODS.index(m.split("/")[0]))}
        if rows:
            truth = np.mean([r[0]["truth_tv_z"] for r in rows.values()])
            lines += ["", _scan_table(f"{scan} (test patient {TEST})", rows, truth,
                                      phantom=False)]
    if steps == STEPS:
        for table in (slab_table([r for r in measured if r["nfe"] == steps]),
                      equal_time_table([r for r in measured if r["volume"] == 0])):
            lines += ["", table] if table else []
    return "\n".join(lines)


def slab_table(records: list[dict]) -> str:
    """PSNR of :data:`SLAB_METHODS` on each slab of :data:`TARGET_SCAN`, the mean over the
    slabs, and DB++'s difference to DDS."""
    psnr = {(r["method"], r["volume"]): r["metrics"] for r in records
            if r["scan"] == TARGET_SCAN and r["method"] in SLAB_METHODS}
    lines = [f"### {TARGET_SCAN} on three slabs of the test patient {TEST}", "",
             f"DB++ and DDS on the central slab of {SLICES} slices (the table above) and the "
             f"{SLICES} slices just before and just after it. PSNR [dB] over the planes that "
             f"contain the object, and of the whole volume.", "",
             "| method | plane | " + " | ".join(SLABS) + " | mean |",
             "|---|---|" + "---|" * (len(SLABS) + 1)]
    complete = [m for m in SLAB_METHODS if all((m, k) in psnr for k in range(len(SLABS)))]
    if not complete:
        return ""
    for plane in ("coronal", "sagittal", "volume"):
        values = {m: [psnr[m, k][plane]["psnr"] for k in range(len(SLABS))] for m in complete}
        rows = [(m, row, "") for m, row in values.items()]
        if len(complete) == 2:
            rows.append(("DB++ − DDS", [b - a for a, b in zip(values["dds"], values["dbpp"])],
                         "+"))
        for label, row, sign in rows:
            lines.append(f"| {label} | {plane} | "
                         + " | ".join(f"{v:{sign}.2f}" for v in [*row, np.mean(row)]) + " |")
    return "\n".join(lines)


def equal_time_table(records: list[dict]) -> str:
    """DB++ and DDS on :data:`TARGET_SCAN` at :data:`STEPS` and at the steps that match
    the other's time (:data:`EQUAL_TIME`); "" until one of the latter is measured."""
    if not any(r["scan"] == TARGET_SCAN and r["nfe"] == EQUAL_TIME.get(r["method"])
               for r in records):
        return ""
    runs = [("dds", STEPS), ("dbpp", EQUAL_TIME["dbpp"]), ("dbpp", STEPS),
            ("dds", EQUAL_TIME["dds"])]
    lines = [f"### {TARGET_SCAN} at equal time (test patient {TEST})", "",
             "DB++'s network costs about twice DDS's per evaluation (the \"ct method time\" "
             "table): DB++ at half the steps runs in DDS's time, DDS at twice the steps in "
             "DB++'s. Each at its registry setting otherwise.", "",
             "| method | steps | network evaluations | axial PSNR | coronal PSNR | sagittal PSNR "
             "| volume PSNR | volume SSIM | s / volume |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method, nfe in runs:
        for r in (r for r in records if r["scan"] == TARGET_SCAN
                  and r["method"] == method and r["nfe"] == nfe):
            lines.append(f"| {method} | {nfe} | {evaluations(method, nfe, phantom=False)} | "
                         + " | ".join(f"{r['metrics'][p]['psnr']:.2f}" for p in PLANES)
                         + f" | {r['metrics']['volume']['psnr']:.2f} | "
                           f"{r['metrics']['volume']['ssim']:.3f} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def prior_budget() -> str:
    """The training steps of the bundled real-CT priors the tables use."""
    parts = []
    for kind in sorted({name for names in WEIGHTS.values() for name in names}):
        total = total_steps(load_bundled(kind).training)
        phantom = total_steps(load_bundled(f"{kind}-phantom").training)
        parts.append(f"{kind} {total:,} ({phantom:,} on phantoms + {total - phantom:,} on "
                     f"the training scans)")
    return "; ".join(parts)


def settings_line() -> str:
    """Each diffusion method's η and start, as the tables ran them."""
    def text(spec):
        parts = [f"η {spec.eta:g}",
                 f"from CGLS at t = {spec.warm_start}" if spec.warm_start else "from noise"]
        if spec.prior_kind == "blend":
            cross = spec.partitions.cross_every
            parts.append(f"cross partitions every {cross} steps" if cross
                         else "no cross partitions")
        if spec.tv_z is not None:
            parts.append(f"TV-z (ρ, λ) = ({spec.tv_z[0]:g}, {spec.tv_z[1]:g}) × ‖A‖²")
        return ", ".join(parts)
    return "; ".join(f"{m} {text(DIFFUSION[m])}" for m in WEIGHTS)


def _current(record: dict) -> str:
    if "@" in record["scan"]:
        return ""
    try:
        return digest(record["method"], record["scan"])
    except (FileNotFoundError, ValueError):
        return "missing"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", nargs="+", choices=list(SCANS), default=list(SCANS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--report", action="store_true", help="only rebuild the tables")
    parser.add_argument("--records", type=Path, default=RECORDS)
    args = parser.parse_args(argv)
    if not args.report:
        run(args.records, args.scans, args.methods, args.steps)
    text = report(_read(args.records), args.steps)
    print(text)
    update_section("ct-quality", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
