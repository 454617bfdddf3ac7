"""Sampler settings chosen on validation: the choice rule, the registry holding it, and the
committed records still building every table."""

import importlib
import sys
from pathlib import Path

import pytest

from diffblend_astra.methods import DIFFUSION

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def benchmarks(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    names = ("ct_settings", "ct_quality", "quality")
    yield tuple(importlib.import_module(name) for name in names)
    for name in names:
        sys.modules.pop(name, None)


def record(settings, method, eta, warm, volume_psnr, weights=None):
    return {"method": method, "eta": eta, "warm_start": warm, "date": "2026-12-04",
            "weights": weights or settings.digest_of(settings.WEIGHTS[method]),
            "definition": settings.base_definition(method), "nfe": 50, "seconds": 1.0,
            "psnr": {p: volume_psnr for p in ("axial", "coronal", "sagittal", "volume")}}


def test_a_method_is_chosen_only_once_all_its_candidates_are_measured(benchmarks):
    settings = benchmarks[0]
    candidates = settings.CANDIDATES["db"]
    records = [record(settings, "db", eta, warm, 20.0 + k)
               for k, (eta, warm) in enumerate(candidates)]
    assert settings.chosen(records[:-1]).get("db") is None
    assert settings.chosen(records)["db"] == candidates[-1]
    better_elsewhere = record(settings, "db", *candidates[0], 99.0, weights="other")
    assert settings.chosen([*records, better_elsewhere])["db"] == candidates[-1]


def test_the_registry_runs_every_method_at_its_setting_chosen_on_validation(benchmarks):
    settings = benchmarks[0]
    choice = settings.chosen(settings._read(settings.RECORDS))
    for method, (eta, warm) in choice.items():
        assert (DIFFUSION[method].eta, DIFFUSION[method].warm_start) == (eta, warm), method


def test_the_committed_records_still_build_every_table(benchmarks):
    _, ct_quality, quality = benchmarks
    phantom = quality.report(quality._read(quality.RECORDS), 4, 50)
    ct = ct_quality.report(ct_quality._read(ct_quality.RECORDS), 50)
    for text, scans in ((phantom, 5), (ct, 5)):
        for method in ("fbp", "admm-tv", "dds", "dbpp"):
            rows = [line for line in text.splitlines() if line.startswith(f"| {method} |")
                    or line.startswith(f"| {method}/lam-")]
            assert len(rows) >= scans, (method, len(rows))
