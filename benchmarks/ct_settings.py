"""Sampler settings of each diffusion method, chosen on the real-CT validation patient.

    python benchmarks/ct_settings.py                     # the whole grid, then the table
    python benchmarks/ct_settings.py --methods dds-iscs  # one method's candidates
    python benchmarks/ct_settings.py --report            # rebuild the table from the records
    python benchmarks/ct_settings.py --methods dbpp --checkpoint runs/ct-blend-more/model.safetensors

Every diffusion method of the real-CT table runs on the validation patient ``lung-2`` (its
central 16 slices on the working grid, the case of ``ct_quality.py``), 8 parallel views,
50 steps, with the bundled real-CT priors, at each of its candidate settings
(:data:`CANDIDATES`): DDIM η and, for DB++, DDS and DDS + ISCS, with or without DB++'s
warm start (CGLS noised to t = 500, then the 26 steps at or below it). The candidate with the best
volume PSNR is the method's setting in the registry (:data:`diffblend_astra.methods.
DIFFUSION`); the table marks it and says whether the registry holds it. The test patient is
never used here.

``--checkpoint`` measures a prior lever instead: the methods at their registry settings, with
the prior of that checkpoint, on the same slab (records in ``ct_levers_records.jsonl``, with
the checkpoint's training steps; no table); ``--test-patient`` reports a lever chosen on
validation on the test patient's slab.

Records go to ``ct_settings_records.jsonl`` (resumable; keyed by the weights' digest and by
what the method is apart from the tuned settings); the table goes to the "ct-settings"
section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.experiment import evaluate_method
from diffblend_astra.methods import DIFFUSION, PAPER_ETA
from ct_quality import SLICES, STEPS, TEST, VALIDATION, WEIGHTS, case_for
from quality import PLANES, _machine, _read, digest_of
from results_file import update_section
from train_ct_weights import total_steps

RECORDS = Path(__file__).with_name("ct_settings_records.jsonl")
LEVERS = Path(__file__).with_name("ct_levers_records.jsonl")
SCAN = "parallel-8"
WARM = 500
"""The warm start tried: DB++'s own (:data:`~diffblend_astra.methods.
CGLS_WARM_START`)."""
_ETAS = (PAPER_ETA, 0.5, 0.0)
CANDIDATES = {
    "dds-iscs": [(eta, warm) for warm in (None, WARM) for eta in _ETAS],
    "dbpp": [(eta, warm) for warm in (WARM, None) for eta in (_ETAS if warm else _ETAS[:2])],
    "dds": [(eta, warm) for warm in (None, WARM) for eta in _ETAS],
    "db": [(eta, None) for eta in _ETAS[:2]],
    "dds2d": [(eta, None) for eta in _ETAS[:2]],
}
"""``(η, warm start)`` tried per method (``None``: from pure noise at T − 1); DB and DDS-2D,
not the methods the comparison is about, only at two η."""


def base_definition(method: str) -> str:
    """What ``method`` is apart from the settings chosen here, digested: records stay valid
    when the registry takes one of the candidates."""
    spec = replace(DIFFUSION[method], eta=PAPER_ETA, warm_start=None)
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:12]


def _key(record: dict) -> tuple:
    return (record["method"], record["eta"], record["warm_start"], record["weights"],
            record["definition"])


def run(records: Path, methods) -> None:
    """Evaluate the missing candidates of ``methods`` and append their records."""
    done = {_key(r) for r in _read(records)}
    case = None
    for method in methods:
        for eta, warm in CANDIDATES[method]:
            record = {"scan": f"{SCAN}@{VALIDATION}", "method": method, "eta": eta,
                      "warm_start": warm, "nfe": len(VPSchedule().timesteps(STEPS, warm)),
                      "weights": digest_of(WEIGHTS[method]),
                      "definition": base_definition(method)}
            if _key(record) in done:
                continue
            case = case or case_for(VALIDATION)(0, SCAN)
            spec = replace(DIFFUSION[method], eta=eta, warm_start=warm)
            result = evaluate_method(case, spec, steps=STEPS, seed=0)
            record.update(psnr={p: round(result["metrics"][p]["psnr"], 3)
                                for p in (*PLANES, "volume")},
                          seconds=round(result["seconds"], 1),
                          date=str(datetime.date.today()), machine=_machine())
            with open(records, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


def run_lever(records: Path, methods, checkpoint: Path, patient: str = VALIDATION) -> None:
    """Each of ``methods`` at its registry setting with the prior ``checkpoint``, on the
    central slab of ``patient``; appends a record per method."""
    from diffblend_astra.checkpoint import load_checkpoint

    steps = total_steps(load_checkpoint(checkpoint).training)
    case = case_for(patient)(0, SCAN)
    for method in methods:
        result = evaluate_method(case, method, steps=STEPS, seed=0, checkpoint=checkpoint)
        record = {"scan": f"{SCAN}@{patient}", "method": method, "checkpoint": str(checkpoint),
                  "prior_steps": steps, "eta": DIFFUSION[method].eta,
                  "warm_start": DIFFUSION[method].warm_start,
                  "psnr": {p: round(result["metrics"][p]["psnr"], 3) for p in (*PLANES, "volume")},
                  "seconds": round(result["seconds"], 1), "date": str(datetime.date.today())}
        with open(records, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def current(records: list[dict]) -> list[dict]:
    """The records of today's weights and method definitions."""
    return [r for r in records if r["method"] in CANDIDATES
            and r["weights"] == digest_of(WEIGHTS[r["method"]])
            and r["definition"] == base_definition(r["method"])]


def chosen(records: list[dict]) -> dict[str, tuple[float, int | None]]:
    """Per method whose every candidate is measured: the ``(η, warm start)`` of the best
    volume PSNR."""
    best = {}
    for method, candidates in CANDIDATES.items():
        scores = {(r["eta"], r["warm_start"]): r["psnr"]["volume"]
                  for r in current(records) if r["method"] == method}
        if all(c in scores for c in candidates):
            best[method] = max(candidates, key=scores.get)
    return best


def report(records: list[dict]) -> str:
    rows = current(records)
    choice = chosen(records)
    dates = sorted({r["date"] for r in rows}) or [str(datetime.date.today())]
    lines = [f"## Sampler settings chosen on the validation patient ({', '.join(dates)})", "",
             f"Command: `python benchmarks/ct_settings.py` (records in "
             f"`benchmarks/ct_settings_records.jsonl`). Validation patient `{VALIDATION}`, its "
             f"central {SLICES} slices on the working grid, {SCAN.replace('-', ', ')} views, "
             f"{STEPS} steps, bundled real-CT priors. Warm start {WARM}: CGLS noised to "
             f"t = {WARM}, then the steps at or below it. PSNR [dB] over the planes that "
             f"contain the object and of the whole volume; **chosen** marks each method's "
             f"best volume PSNR, the setting the registry runs it at (`methods.DIFFUSION`). "
             f"Times: wall-clock seconds on a shared 2-core machine.", "",
             "| method | η | warm start | NFE | axial | coronal | sagittal | volume | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method in CANDIDATES:
        for r in sorted((r for r in rows if r["method"] == method),
                        key=lambda r: (r["warm_start"] or 0, -r["eta"])):
            mark = " **chosen**" if choice.get(method) == (r["eta"], r["warm_start"]) else ""
            lines.append(f"| {method} | {r['eta']:g}{mark} | {r['warm_start'] or '–'} | "
                         f"{r['nfe']} | " + " | ".join(f"{r['psnr'][p]:.2f}" for p in
                                                       (*PLANES, "volume"))
                         + f" | {r['seconds']:.0f} |")
    differ = [m for m, (eta, warm) in choice.items()
              if (DIFFUSION[m].eta, DIFFUSION[m].warm_start) != (eta, warm)]
    if differ:
        lines += ["", f"The registry does not yet hold the chosen setting of "
                      f"{', '.join(differ)}."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", choices=list(CANDIDATES),
                        default=list(CANDIDATES))
    parser.add_argument("--report", action="store_true", help="only rebuild the table")
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--checkpoint", type=Path,
                        help="measure this prior at the registry's settings instead")
    parser.add_argument("--test-patient", action="store_true",
                        help="with --checkpoint: report the lever on the test patient (once "
                             "it is chosen on validation)")
    args = parser.parse_args(argv)
    if args.checkpoint is not None:
        run_lever(LEVERS, args.methods, args.checkpoint,
                  TEST if args.test_patient else VALIDATION)
        return 0
    if not args.report:
        run(args.records, args.methods)
    text = report(_read(args.records))
    print(text)
    update_section("ct-settings", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
