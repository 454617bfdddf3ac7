"""Sampler settings of each diffusion method, chosen on the real-CT validation patient.

    python benchmarks/ct_settings.py                     # the whole grid, then the table
    python benchmarks/ct_settings.py --methods dds-iscs  # one method's candidates
    python benchmarks/ct_settings.py --report            # rebuild the table from the records
    python benchmarks/ct_settings.py --methods dbpp --checkpoint runs/ct-blend-more/model.safetensors

Every diffusion method of the real-CT table runs on the validation patient ``lung-2`` (its
central 16 slices on the working grid, the case of ``ct_quality.py``), 8 parallel views,
50 steps, with the bundled real-CT priors, at each of its candidate settings
(:data:`CANDIDATES`): DDIM η; for DB++, DDS and DDS + ISCS, with or without a warm start
(CGLS noised to t = 500, then the 26 steps at or below it); for DB++, how often its
partitions cross (:data:`CROSS_EVERY`); for DB++ and DDS, the TV-z weight
(:data:`TV_Z_SCALES`). The candidate with the best
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
from typing import NamedTuple

from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.experiment import evaluate_method
from diffblend_astra.methods import DDS_TV_Z, DIFFUSION, PAPER_ETA, DiffusionMethod
from diffblend_astra.partition import PartitionSchedule
from ct_quality import SLICES, STEPS, TEST, VALIDATION, WEIGHTS, case_for, prior_budget
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
CROSS_EVERY = (PartitionSchedule().cross_every, 0, 4)
"""Cross-partition schedules tried for DB++ (``PartitionSchedule.cross_every``): the paper's
every second step (the default, tried with every η and start), never (adjacent triples
only), every fourth. A cross triple spans 3 slices, 15 mm on the working grid."""


TV_Z_SCALES = (1.0, 0.5, 2.0)
"""Weights of the TV-z term tried for DDS and DB++: multiples of DDS's λ
(:data:`~diffblend_astra.methods.DDS_TV_Z`, ρ kept)."""


class Setting(NamedTuple):
    """One candidate: DDIM η, warm start (``None``: from pure noise at T − 1), for a
    ``blend`` prior the cross-partition schedule, for a method with a TV-z term the multiple
    of DDS's λ (``None``: not such a method)."""

    eta: float
    warm_start: int | None = None
    cross_every: int | None = None
    tv_z_scale: float | None = None


CANDIDATES = {
    "dds-iscs": [Setting(eta, warm) for warm in (None, WARM) for eta in _ETAS],
    "dbpp": ([Setting(eta, warm, CROSS_EVERY[0], 1.0) for warm in (WARM, None)
              for eta in (_ETAS if warm else _ETAS[:2])]
             + [Setting(PAPER_ETA, None, cross, 1.0) for cross in CROSS_EVERY[1:]]
             + [Setting(PAPER_ETA, None, CROSS_EVERY[0], k) for k in TV_Z_SCALES[1:]]),
    "dds": ([Setting(eta, warm, None, 1.0) for warm in (None, WARM) for eta in _ETAS]
            + [Setting(eta, None, None, k) for eta in _ETAS[:2] for k in TV_Z_SCALES[1:]]),
    "dbpp-cg": [Setting(eta, None, CROSS_EVERY[0]) for eta in _ETAS[:2]],
    "db": [Setting(eta) for eta in _ETAS[:2]],
    "dds2d": [Setting(eta) for eta in _ETAS[:2]],
}
"""The settings tried per method. DB, DDS-2D and DB++ with plain CG (an ablation: DB++'s
prior without the TV-z term), not the methods the comparison is about, only at two η from
noise; DB++'s cross schedules and TV-z weights at the paper's η from noise, DDS's TV-z
weights from noise at two η."""


def spec_of(method: str, setting: Setting) -> DiffusionMethod:
    """The registry's ``method`` at ``setting``."""
    spec = replace(DIFFUSION[method], eta=setting.eta, warm_start=setting.warm_start)
    if setting.cross_every is not None:
        spec = replace(spec, partitions=replace(spec.partitions,
                                                cross_every=setting.cross_every))
    if setting.tv_z_scale is not None:
        rho, lam = DDS_TV_Z
        spec = replace(spec, tv_z=(rho, lam * setting.tv_z_scale))
    return spec


def registry_setting(method: str) -> Setting:
    """The setting the registry runs ``method`` at."""
    spec = DIFFUSION[method]
    return Setting(spec.eta, spec.warm_start,
                   spec.partitions.cross_every if spec.prior_kind == "blend" else None,
                   None if spec.tv_z is None else round(spec.tv_z[1] / DDS_TV_Z[1], 6))


def _defaults(method: str) -> dict:
    """The cross schedule and TV-z weight that ``method``'s records from before they were
    tried ran with (``None`` where the method has none)."""
    spec = DIFFUSION[method]
    return {"cross_every": CROSS_EVERY[0] if spec.prior_kind == "blend" else None,
            "tv_z_scale": TV_Z_SCALES[0] if spec.tv_z is not None else None}


def base_definition(method: str) -> str:
    """What ``method`` is apart from the settings chosen here, digested: records stay valid
    when the registry takes one of the candidates."""
    spec = spec_of(method, Setting(PAPER_ETA, None, **_defaults(method)))
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:12]


def setting_of(record: dict) -> Setting:
    """A record's setting (a field it lacks: the default it ran with)."""
    defaults = _defaults(record["method"])
    return Setting(record["eta"], record["warm_start"],
                   *(record.get(field, value) for field, value in defaults.items()))


def _key(record: dict) -> tuple:
    return (record["method"], setting_of(record), record["weights"], record["definition"])


def run(records: Path, methods) -> None:
    """Evaluate the missing candidates of ``methods`` and append their records."""
    done = {_key(r) for r in _read(records)}
    case = None
    for method in methods:
        for setting in CANDIDATES[method]:
            record = {"scan": f"{SCAN}@{VALIDATION}", "method": method, **setting._asdict(),
                      "nfe": len(VPSchedule().timesteps(STEPS, setting.warm_start)),
                      "weights": digest_of(WEIGHTS[method]),
                      "definition": base_definition(method)}
            if _key(record) in done:
                continue
            case = case or case_for(VALIDATION)(0, SCAN)
            result = evaluate_method(case, spec_of(method, setting), steps=STEPS, seed=0)
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


def chosen(records: list[dict]) -> dict[str, Setting]:
    """Per method whose every candidate is measured: the setting of the best volume PSNR."""
    best = {}
    for method, candidates in CANDIDATES.items():
        scores = {setting_of(r): r["psnr"]["volume"]
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
             f"{STEPS} steps, bundled real-CT priors (training steps {prior_budget()}). Warm "
             f"start {WARM}: CGLS noised to t = {WARM}, then the steps at or below it. Cross "
             f"every: DB++'s cross partitions (triples 3 slices apart) every that many steps "
             f"(0: never). TV-z λ: the weight of the TV-z term, a multiple of DDS's "
             f"(ρ, λ) = ({DDS_TV_Z[0]:g}, {DDS_TV_Z[1]:g}) × ‖A‖². PSNR [dB] over the "
             f"planes that contain the object and of the whole volume; **chosen** marks each "
             f"method's best volume PSNR, the setting the registry runs it at "
             f"(`methods.DIFFUSION`). Times: wall-clock seconds on a shared 2-core machine.",
             "",
             "| method | η | warm start | cross every | TV-z λ | NFE | axial | coronal | "
             "sagittal | volume | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, candidates in CANDIDATES.items():
        for setting, r in ((c, r) for c in candidates for r in rows
                           if r["method"] == method and setting_of(r) == c):
            mark = " **chosen**" if choice.get(method) == setting else ""
            cross = "–" if setting.cross_every is None else setting.cross_every
            tv = "–" if setting.tv_z_scale is None else f"{setting.tv_z_scale:g}×"
            lines.append(f"| {method} | {r['eta']:g}{mark} | {r['warm_start'] or '–'} | "
                         f"{cross} | {tv} | {r['nfe']} | "
                         + " | ".join(f"{r['psnr'][p]:.2f}" for p in (*PLANES, "volume"))
                         + f" | {r['seconds']:.0f} |")
    differ = [m for m, setting in choice.items() if registry_setting(m) != setting]
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
