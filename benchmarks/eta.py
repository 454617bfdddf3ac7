"""DDIM η for each method, chosen on validation volumes: DB++ against DDS at their best η.

    python benchmarks/eta.py            # 3 scans × 2 validation volumes × 2 methods × 3 η
    python benchmarks/eta.py --quick    # 9 slices, 4 steps, one η: a smoke test

The tables of ``quality.py`` run every method at the paper's η = 0.85. A lower η helps both
DB++ and DDS, by different amounts, so a comparison at one η may favour either. Here each
method runs at η ∈ {0.85, 0.5, 0} on held-out phantoms 4 and 5 — validation volumes, not the
volumes 0–3 of the quality tables — on 8 views, 4 views and the 90° limited angle, 50 steps
(DB++: the 26 of them at t ≤ 500, from CGLS). Reported: volume PSNR and the mean PSNR over
the three planes (object planes, :func:`~diffblend_astra.metrics.plane_metrics`) per
(scan, method, η), averaged over the volumes, and each method's best η per scan.

Results are appended to ``eta_records.jsonl`` keyed by the weights' digest, so a stopped run
resumes and changed weights are measured anew. Written into the "eta" section of
``benchmarks/RESULTS.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from diffblend_astra.experiment import SCANS, evaluate_method, make_case
from quality import WEIGHTS, _weights_digest, phantom_spec
from results_file import update_section

RECORDS = Path(__file__).with_name("eta_records.jsonl")
SCAN_NAMES = ("parallel-8", "parallel-4", "parallel-la90")
VALIDATION = (4, 5)
"""Held-out phantom indices used for choosing η (the quality tables use 0–3)."""
METHODS = ("dbpp", "dds")
ETAS = (0.85, 0.5, 0.0)
PLANES = ("axial", "coronal", "sagittal")


def run(records: Path | None, scans, indices, etas, steps: int, slices: int = 64) -> list[dict]:
    """Evaluate the missing (scan, volume, method, η) entries; return every matching record.
    ``records=None``: neither read nor write records (a smoke test)."""
    done = [json.loads(line) for line in records.read_text().splitlines()] \
        if records is not None and records.exists() else []
    digests = {m: _weights_digest(m, "") for m in METHODS}
    have = {(r["scan"], r["index"], r["method"], r["eta"], r["weights"]) for r in done}
    for scan in scans:
        for index in indices:
            case = None
            for method in METHODS:
                for eta in etas:
                    key = (scan, index, method, eta, digests[method])
                    if key in have:
                        continue
                    case = case or make_case(index=index, slices=slices, **SCANS[scan])
                    result = evaluate_method(case, phantom_spec(method), steps=steps, seed=index,
                                             eta=eta, checkpoint=WEIGHTS[method][0])
                    record = dict(zip(("scan", "index", "method", "eta", "weights"), key))
                    record["psnr"] = {p: round(result["metrics"][p]["psnr"], 3)
                                      for p in (*PLANES, "volume")}
                    print(json.dumps(record), flush=True)
                    if records is not None:
                        with open(records, "a") as f:
                            f.write(json.dumps(record) + "\n")
                    done.append(record)
    return [r for r in done if r["weights"] == digests[r["method"]] and r["scan"] in scans
            and r["index"] in indices and r["eta"] in etas]


def report(rows: list[dict]) -> str:
    """Per scan: each method's PSNR at every η (mean over volumes) and its best η."""
    lines = [f"## DDIM η per method, on validation volumes ({datetime.date.today()})", "",
             "Command: `python benchmarks/eta.py`. Held-out phantoms 4 and 5 (not those of the "
             "quality tables), 50 steps, bundled weights; PSNR [dB] over the object planes "
             "(mean of axial, coronal, sagittal) and of the whole volume, mean over the "
             "volumes. **best** marks each method's best η per scan by volume PSNR.", "",
             "| scan | method | η | n | plane-mean PSNR | volume PSNR |", "|---|---|---|---|---|---|"]
    for scan in SCAN_NAMES:
        for method in METHODS:
            means = {}
            for eta in ETAS:
                found = [r for r in rows if (r["scan"], r["method"], r["eta"]) ==
                         (scan, method, eta)]
                if found:
                    plane = sum(sum(r["psnr"][p] for p in PLANES) / 3 for r in found)
                    volume = sum(r["psnr"]["volume"] for r in found)
                    means[eta] = (len(found), plane / len(found), volume / len(found))
            best = max(means, key=lambda e: means[e][2]) if means else None
            for eta, (n, plane, volume) in means.items():
                mark = " **best**" if eta == best else ""
                lines.append(f"| {scan} | {method} | {eta:g}{mark} | {n} | {plane:.2f} | "
                             f"{volume:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="9 slices, 4 steps, η = 0.85")
    parser.add_argument("--records", type=Path, default=RECORDS)
    args = parser.parse_args(argv)
    if args.quick:
        rows = run(None, SCAN_NAMES[:1], VALIDATION[:1], ETAS[:1], 4, slices=9)
        print(report(rows))
        return 0
    text = report(run(args.records, SCAN_NAMES, VALIDATION, ETAS, 50))
    print(text)
    update_section("eta", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
