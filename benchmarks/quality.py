"""Reconstruction quality on held-out phantoms: the paper's comparison, per plane.

    python benchmarks/quality.py            # full run: 4 volumes, 5 scans, ablations
    python benchmarks/quality.py --quick    # one small volume, few steps: a smoke test
    python benchmarks/quality.py --scans parallel-6 fan-8 --methods db dbpp   # a part
    python benchmarks/quality.py --report   # rebuild the tables from the stored records

For each scan — 4, 6 and 8 parallel views, a 90° limited-angle parallel scan, 8 fan-beam
views (:data:`~diffblend_astra.experiment.SCANS`) — every method reconstructs the same
held-out phantoms (never used in training). All diffusion methods get the same number of
network evaluations (NFE) and priors of the same size trained for the same number of steps
(``benchmarks/train_weights.py``). Reported: PSNR/SSIM per plane over the planes that
contain the object and of the whole volume (mean ± std over volumes, fixed data range
[0, 1]; :func:`~diffblend_astra.metrics.plane_metrics`), TV-z against the ground truth's,
seconds per volume. Networks run in the solver's default precision (bf16 autocast where the
CPU has it). Ablations of DiffusionBlend++ on 8 views (:data:`ABLATIONS`): partition
schedules, partition averaging, CG strength, TV-z weight, correlated re-noising, a CGLS warm
start, η; and every method at other NFE for the comparison at equal wall time.

Every (scan, method, volume, NFE) result is appended to ``quality_records.jsonl`` with a
digest of the weights and of the method's definition, so a run can be split over
processes, stopped and resumed: results already recorded for the same weights and
definition are not recomputed. Records of an older protocol (metrics over all slices, no
volume metrics) stay in the file and are ignored. The tables are printed and written into
the "quality" section of ``benchmarks/RESULTS.md`` from all matching records.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from diffblend_astra.checkpoint import bundled_path
from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.experiment import SCANS, evaluate_method, make_case
from diffblend_astra.methods import CLASSICAL, CGLS_WARM_START, DDS_TV_Z, DIFFUSION, PAPER_ETA
from diffblend_astra.metrics import tv_z
from diffblend_astra.partition import PartitionSchedule
from results_file import update_section

RECORDS = Path(__file__).with_name("quality_records.jsonl")
PROTOCOL = 2
"""2: object-plane and whole-volume metrics, networks in the solver's default precision."""
PLANES = ("axial", "coronal", "sagittal")
COLUMNS = (*PLANES, "volume")
CORE = ("fbp", "cgls", "admm-tv", "dds2d", "dds", "db", "dbpp")
EXTRA = ("fbp-unet", "mbir", "tpdm", "padis")
EXTRA_SCANS = ("parallel-8",)
"""The costly comparison systems (mbir, tpdm, padis) run on these scans only (CPU budget);
fbp-unet runs on every scan it has bundled weights for."""
ABLATION_SCAN, ABLATION_VOLUMES, ABLATION_NFE = "parallel-8", 2, (25, 100)


def phantom_spec(name: str):
    """The registry's diffusion method ``name`` at the settings of the phantom tables: the
    paper's η and partition schedule for every method, DB++ alone warm-started (the
    registry's own settings are chosen on real CT, ``ct_settings.py``)."""
    return replace(DIFFUSION[name], eta=PAPER_ETA, partitions=PartitionSchedule(),
                   warm_start=CGLS_WARM_START if name == "dbpp" else None)


_DBPP = phantom_spec("dbpp")
ABLATIONS = {
    "dbpp/no-tv-z": replace(_DBPP, tv_z=None),
    "dbpp/weak-tv-z": replace(_DBPP, tv_z=(DDS_TV_Z[0], DDS_TV_Z[1] / 4)),
    "dbpp/adjacency-only": replace(_DBPP, partitions=replace(_DBPP.partitions, cross_every=0)),
    "dbpp/avg-3": replace(_DBPP, partitions=replace(_DBPP.partitions, averaged=3)),
    "dbpp/corr-0.5": replace(_DBPP, noise_correlation=0.5),
    "dbpp/warm-600": replace(_DBPP, warm_start=600),
    "dbpp/no-warm": replace(_DBPP, warm_start=None),
    "dds/warm-500": replace(phantom_spec("dds"), warm_start=500),
    "dbpp/eta-0": (_DBPP, dict(eta=0.0)),
    "dbpp/eta-0.5": (_DBPP, dict(eta=0.5)),
    "dds/eta-0": (phantom_spec("dds"), dict(eta=0.0)),
    "dds/eta-0.5": (phantom_spec("dds"), dict(eta=0.5)),
    "dbpp/fp32": (_DBPP, dict(precision="fp32")),
}
"""Variants of the phantom tables' DiffusionBlend++ (:func:`phantom_spec`), and
DDS with DiffusionBlend++'s warm start (a sampler trick open to every method): each changes
one option — a :class:`~diffblend_astra.methods.DiffusionMethod` field, or
(method, solver options). A variant equal to the default measures nothing new but costs
nothing either: its records are its own."""
NFE_METHODS = ("dbpp", "dds", "dds2d")
"""Run at every NFE of ``ABLATION_NFE`` too: the comparison at equal wall time."""
WEIGHTS = {"dds2d": ("slice-phantom",), "dds": ("slice-phantom",), "mbir": ("slice-phantom",),
           "db": ("conditional-phantom",), "dbpp": ("blend-phantom",),
           "tpdm": ("slice-phantom", "slice-coronal"), "padis": ("patch-phantom",)}
"""The bundled phantom priors each method reads here (its checkpoint; tpdm's default pair)."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 volume, 9 slices")
    parser.add_argument("--volumes", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50, help="NFE of every diffusion method")
    parser.add_argument("--scans", nargs="+", choices=list(SCANS), default=list(SCANS))
    parser.add_argument("--methods", nargs="+", choices=CORE + EXTRA, default=CORE + EXTRA)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--report", action="store_true", help="only rebuild the tables")
    parser.add_argument("--records", type=Path, default=RECORDS)
    args = parser.parse_args(argv)
    if args.quick:
        return _quick(args.methods)

    if not args.report:
        for scan in args.scans:
            methods = [m for m in args.methods
                       if m in CORE + ("fbp-unet",) or scan in EXTRA_SCANS]
            _run(args.records, scan, methods, range(args.volumes), args.steps)
        if not args.no_ablations and ABLATION_SCAN in args.scans:
            volumes = range(min(args.volumes, ABLATION_VOLUMES))
            _run(args.records, ABLATION_SCAN, list(ABLATIONS), volumes, args.steps)
            for nfe in ABLATION_NFE:
                _run(args.records, ABLATION_SCAN, list(NFE_METHODS), volumes, nfe)
    text = report(_read(args.records), args.volumes, args.steps)
    print(text)
    update_section("quality", text)
    return 0


def _quick(methods) -> int:
    """One 9-slice volume, 4 NFE, the core methods: prints a table, writes nothing."""
    case = make_case(index=0, slices=9, **SCANS["parallel-8"])
    rows = {m: [{**_evaluate(case, m, 0, 4), "nfe": 4}] for m in methods if m in CORE}
    print(_scan_table("parallel-8 (quick)", rows, float(tv_z(case.truth))))
    return 0


def _phantom_case(index: int, scan: str):
    return make_case(index=index, **SCANS[scan])


def _run(path: Path, scan: str, methods, volumes, steps: int, *, case_for=_phantom_case,
         evaluate=None, digest=None, definition=None) -> None:
    """Reconstruct the missing (method, volume) pairs of ``scan`` and append their records:
    ``case_for(index, scan)`` makes the case, ``evaluate(case, method, index, steps)``
    scores a method on it, ``digest(method, scan)`` names the weights it reads,
    ``definition(method)`` what the method is (defaults: the phantom benchmark's)."""
    evaluate, digest = evaluate or _evaluate, digest or _weights_digest
    definition = definition or _definition
    done = {_key(r) for r in _read(path)}
    for index in volumes:
        case = None
        for method in methods:
            try:
                weights = digest(method, scan)
            except FileNotFoundError as missing:
                print(f"skipped {scan} {method}: {missing}", flush=True)
                continue
            record = {"scan": scan, "method": method, "volume": index, "nfe": steps,
                      "weights": weights, "protocol": PROTOCOL,
                      "definition": definition(method)}
            if _key(record) in done:
                continue
            case = case or case_for(index, scan)
            result = evaluate(case, method, index, steps)
            record.update(result, date=str(datetime.date.today()), machine=_machine())
            with open(path, "a") as f:          # one short line per write: safe to share
                f.write(json.dumps(record) + "\n")
            print(f"{scan} {method} nfe {steps} volume {index}: " + ", ".join(
                f"{p} {result['metrics'][p]['psnr']:.2f} dB" for p in COLUMNS)
                  + f" ({result['seconds']:.0f} s)", flush=True)


def _evaluate(case, method: str, index: int, steps: int, *, phantom=True) -> dict:
    """Metrics of one reconstruction (``method`` may name an ablation); the diffusion
    methods read the phantom priors (:data:`WEIGHTS`) at the phantom tables' settings
    (:func:`phantom_spec`) unless ``phantom=False`` (the bundled priors, the registry's
    settings)."""
    name, options = method, {}
    if phantom and method in DIFFUSION:
        method = phantom_spec(method)
    elif method in ABLATIONS:
        method, options = (ABLATIONS[method] if isinstance(ABLATIONS[method], tuple)
                           else (ABLATIONS[method], {}))
    elif method == "mbir":  # DiffusionMBIR's predictor–corrector steps: 2 evaluations each
        steps = steps // 2
    if method not in CLASSICAL:
        options["steps"], options["seed"] = steps, index
        if phantom and name.split("/")[0] not in ("tpdm", "fbp-unet"):
            options["checkpoint"] = WEIGHTS[name.split("/")[0]][0]
    result = evaluate_method(case, method, **options)
    return {"metrics": result["metrics"], "tv_z": float(result["tv_z"]),
            "seconds": result["seconds"], "truth_tv_z": float(tv_z(case.truth))}


def evaluations(method: str, steps: int, *, phantom=True) -> int | None:
    """Network evaluations of ``method`` at ``steps`` (the schedule's grid): a warm-started
    method runs only the grid's steps at or below its start; ``None`` for classical ones.
    ``phantom``: as in :func:`_definition`."""
    if method in DIFFUSION:
        spec = phantom_spec(method) if phantom else DIFFUSION[method]
    else:
        spec = ABLATIONS.get(method)
    spec = spec[0] if isinstance(spec, tuple) else spec
    if spec is None:
        return steps if method in EXTRA and method != "fbp-unet" else None
    return len(VPSchedule().timesteps(steps, spec.warm_start))


def _definition(method: str, *, phantom=True) -> str:
    """What the method name stands for today (its entry in the phantom tables, or with
    ``phantom=False`` in the registry, or its ablation), digested."""
    if method in DIFFUSION:
        spec = phantom_spec(method) if phantom else DIFFUSION[method]
    else:
        spec = ABLATIONS.get(method, method)
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:12]


def _key(record: dict) -> tuple:
    return (record["scan"], record["method"], record["volume"], record["nfe"],
            record["weights"], record.get("protocol", 1), record.get("definition"))


@lru_cache(maxsize=None)
def _weights_digest(method: str, scan: str) -> str:
    """A short digest of the bundled weight files ``method`` reads ("" for none)."""
    names = (WEIGHTS.get(method.split("/")[0], ()) if method != "fbp-unet"
             else (f"fbp-unet-{scan}",))
    return digest_of(names)


def digest_of(names) -> str:
    """A short digest of the bundled weight files ``names`` ("" for none)."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(bundled_path(name, must_exist=True).read_bytes())
    return digest.hexdigest()[:12] if names else ""


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(records: list[dict], volumes: int, steps: int) -> str:
    """The markdown of the "quality" section from the records of the current weights."""
    current = [r for r in records if r.get("protocol") == PROTOCOL
               and r["weights"] == _current_digest(r) and r["definition"] == _definition(
                   r["method"])]
    sections = [_header(current, volumes, steps)]
    for scan in SCANS:
        rows = {}
        for method in CORE + EXTRA:
            runs = [r for r in current if r["scan"] == scan and r["method"] == method
                    and r["nfe"] == steps and r["volume"] < volumes]
            runs = list({r["volume"]: r for r in runs}.values())
            if runs:
                rows[method] = runs
        if rows:
            truth = np.mean([r["truth_tv_z"] for runs in rows.values() for r in runs])
            sections.append(_scan_table(scan, rows, truth))
    sections.append(_ablation_table(current, steps))
    return "\n\n".join(s for s in sections if s)


def _current_digest(record: dict) -> str:
    try:
        return _weights_digest(record["method"], record["scan"])
    except (FileNotFoundError, ValueError):
        return "missing"


def _header(records, volumes, steps) -> str:
    dates = sorted({r["date"] for r in records}) or [str(datetime.date.today())]
    machines = sorted({r["machine"] for r in records}) or [_machine()]
    return (f"## Quality ({', '.join(dates)}; {'; '.join(machines)})\n\n"
            f"Command: `python benchmarks/quality.py` (records in "
            f"`benchmarks/quality_records.jsonl`; `--report` rebuilds this section). Up to "
            f"{volumes} held-out phantoms of 64×64×64 (`phantoms.held_out_seeds`, never used "
            f"in training), noiseless projections, {steps} network evaluations for every "
            f"diffusion method (mbir: half as many predictor–corrector steps), networks in "
            f"bf16 autocast where the CPU has it, bundled weights (`benchmarks/train_weights.py`"
            f": every score prior 6,500 steps, 4,000 and then 2,500 of fine-tuning; the "
            f"1.1 M-parameter 2D, conditional and comparison priors run both stages, the "
            f"3-slice `blend` prior is the 2D one after stage 1, inflated to 9.8 M parameters, "
            f"then fine-tuned). PSNR [dB] / SSIM per plane averaged "
            f"over the slices of that plane **that contain the object**, and of the whole "
            f"volume; mean ± std over volumes (n), fixed data range [0, 1]. Times are "
            f"wall-clock seconds per volume on a machine shared with other jobs: compare "
            f"within a table only. The comparison systems mbir, tpdm and padis run on "
            f"{', '.join(EXTRA_SCANS)} only, fbp-unet on the scans it was trained for.")


def _machine() -> str:
    return f"{platform.node() or 'machine'}, {os.cpu_count()} CPU cores"


def _scan_table(scan: str, rows: dict, truth_tv: float, *, phantom=True) -> str:
    """One scan's table of ``rows`` ``{method: records}``; ``phantom``: as in
    :func:`_definition`."""
    lines = [f"### {scan}", "",
             "| method | evaluations | n | "
             + " | ".join(f"{p} PSNR | {p} SSIM" for p in COLUMNS)
             + " | TV-z (truth {:.4f}) | s / volume |".format(truth_tv),
             "|---" * (4 + 2 * len(COLUMNS)) + "|---|"]
    for method, runs in rows.items():
        cells = []
        for plane in COLUMNS:
            for metric in ("psnr", "ssim"):
                values = [r["metrics"][plane][metric] for r in runs]
                digits = 2 if metric == "psnr" else 3
                cells.append(f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}")
        tv = np.mean([r["tv_z"] for r in runs])
        seconds = np.mean([r["seconds"] for r in runs])
        count = evaluations(method, runs[0]["nfe"], phantom=phantom)
        lines.append(f"| {method} | {'-' if count is None else count} | {len(runs)} | "
                     + " | ".join(cells)
                     + f" | {tv:.4f} | {seconds:.1f} |")
    return "\n".join(lines)


def _ablation_table(records, steps) -> str:
    """DB++ on the ablation scan: the variants at ``steps`` NFE, then PSNR versus NFE."""
    runs = ([(m, steps) for m in ("dbpp", "dds", *ABLATIONS)]
            + [(m, n) for m in NFE_METHODS for n in ABLATION_NFE])
    lines = []
    for method, nfe in runs:
        found = {r["volume"]: r for r in records if r["scan"] == ABLATION_SCAN
                 and r["method"] == method and r["nfe"] == nfe
                 and r["volume"] < ABLATION_VOLUMES}
        if found:
            psnr = {p: np.mean([r["metrics"][p]["psnr"] for r in found.values()])
                    for p in COLUMNS}
            seconds = np.mean([r["seconds"] for r in found.values()])
            lines.append(f"| {method} | {nfe} | {evaluations(method, nfe)} | {len(found)} | "
                         + " | ".join(f"{psnr[p]:.2f}" for p in COLUMNS)
                         + f" | {seconds:.1f} |")
    if not lines:
        return ""
    return "\n".join([f"### Ablations and NFE ({ABLATION_SCAN}, volumes 0–"
                      f"{ABLATION_VOLUMES - 1})", "",
                      "| variant | steps | network evaluations | n | axial PSNR | coronal PSNR "
                      "| sagittal PSNR | volume PSNR | s / volume |",
                      "|---|---|---|---|---|---|---|---|---|",
                      *lines])


if __name__ == "__main__":
    sys.exit(main())
