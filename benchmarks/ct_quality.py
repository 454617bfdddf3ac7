"""Reconstruction quality on real CT: the held-out test patient on the working grid.

    python benchmarks/ct_quality.py                 # every scan, every method
    python benchmarks/ct_quality.py --scans parallel-8 --methods dds dbpp
    python benchmarks/ct_quality.py --report        # rebuild the tables from the records

The case: the central :data:`SLICES` slices of the test patient ``lung-1``
(:data:`diffblend_astra.datasets.SPLITS`), on the working grid (256² slices of 1.25 mm, 5 mm
apart, CT units), scanned noiselessly like the phantom benchmark (``benchmarks/quality.py``:
4, 6 and 8 parallel views, 90° limited angle, 8 fan views). The methods use the bundled
real-CT priors (every one: its phantom prior's 6,500 steps + 1,500 steps on the training
scans, ``benchmarks/train_ct_weights.py``). 3D ADMM-TV runs at the weight
(:data:`TV_WEIGHTS`) that scores best on the **validation** patient ``lung-2`` (its central
slab, the same scan); the diffusion methods run at the registry's settings, chosen on the
same validation slab (``ct_settings.py``); FBP-UNet is one network per scan, trained on the
training scans (``train_ct_weights.py``). Nothing is chosen on the test patient. Metrics as in the phantom benchmark: PSNR/SSIM per plane over
the planes that contain the object, and of the whole volume.

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
from diffblend_astra.datasets import SPLITS, WORKING_GRID
from diffblend_astra.experiment import SCANS, evaluate, make_ct_case
from diffblend_astra.methods import DIFFUSION
from diffblend_astra.metrics import tv_z
from quality import (PROTOCOL, _definition, _evaluate, _machine, _read, _run, _scan_table,
                     digest_of)
from results_file import update_section

RECORDS = Path(__file__).with_name("ct_quality_records.jsonl")
SLICES = 16
STEPS = 50
METHODS = ("fbp", "cgls", "admm-tv", "fbp-unet", "dds2d", "dds", "dds-iscs", "db", "dbpp")
TV_WEIGHTS = (3e-4, 1e-3, 3e-3)
"""ADMM-TV's λ (relative to ‖A‖², as :func:`~diffblend_astra.baselines.admm_tv` takes it)
tried on the validation patient."""
WEIGHTS = {"dds2d": ("slice",), "dds": ("slice",), "dds-iscs": ("slice",),
           "db": ("conditional",),
           "dbpp": ("blend",)}
(TEST,), (VALIDATION,) = SPLITS["test"], SPLITS["validation"]


def _tv(lam: float) -> str:
    return f"admm-tv/lam-{lam:g}"


def case_for(patient: str):
    """The case maker of :func:`quality._run` for ``patient``'s central slab."""
    @lru_cache(maxsize=2)
    def case(index: int, scan: str):
        return make_ct_case(scan=patient, slices=SLICES, **SCANS[scan])
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


def report(records: list[dict], steps: int) -> str:
    current = [r for r in records if r.get("protocol") == PROTOCOL and r["nfe"] == steps
               and r["definition"] == ct_definition(r["method"])
               and r["weights"] == _current(r)]
    dates = sorted({r["date"] for r in current}) or [str(datetime.date.today())]
    lines = [f"## Real CT ({', '.join(dates)}; {_machine()})", "",
             f"Command: `python benchmarks/ct_quality.py` (records in "
             f"`benchmarks/ct_quality_records.jsonl`). The held-out **test patient** "
             f"`{TEST}`, its central {SLICES} slices on the working grid ({WORKING_GRID.size}² "
             f"slices of {WORKING_GRID.pixel_mm:g} mm, {WORKING_GRID.slice_mm:g} mm apart, CT "
             f"units u = (HU + 1000) / 2000), noiseless projections; {steps} steps for every "
             f"diffusion method (one started from CGLS at t = 500 runs the 26 at or below it). "
             f"Priors: the bundled "
             f"real-CT priors, every one its phantom prior (6,500 steps) fine-tuned 1,500 "
             f"steps on the training scans ({', '.join(SPLITS['train'])}; 16 crops of 64² per "
             f"step). 3D TV at the λ of {', '.join(f'{w:g}' for w in TV_WEIGHTS)} (× ‖A‖²) "
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
    return "\n".join(lines)


def settings_line() -> str:
    """Each diffusion method's η and start, as the tables ran them."""
    def start(spec):
        return f"from CGLS at t = {spec.warm_start}" if spec.warm_start else "from noise"
    return "; ".join(f"{m} η {DIFFUSION[m].eta:g}, {start(DIFFUSION[m])}" for m in WEIGHTS)


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
