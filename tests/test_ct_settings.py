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


def record(settings, method, setting, volume_psnr, weights=None):
    return {"method": method, **setting._asdict(), "date": "2026-12-04",
            "weights": weights or settings.digest_of(settings.WEIGHTS[method]),
            "definition": settings.base_definition(method), "nfe": 50, "seconds": 1.0,
            "psnr": {p: volume_psnr for p in ("axial", "coronal", "sagittal", "volume")}}


def test_a_method_is_chosen_only_once_all_its_candidates_are_measured(benchmarks):
    settings = benchmarks[0]
    candidates = settings.CANDIDATES["db"]
    records = [record(settings, "db", setting, 20.0 + k)
               for k, setting in enumerate(candidates)]
    assert settings.chosen(records[:-1]).get("db") is None
    assert settings.chosen(records)["db"] == candidates[-1]
    better_elsewhere = record(settings, "db", candidates[0], 99.0, weights="other")
    assert settings.chosen([*records, better_elsewhere])["db"] == candidates[-1]


def test_the_registry_runs_every_method_at_its_setting_chosen_on_validation(benchmarks):
    settings = benchmarks[0]
    choice = settings.chosen(settings._read(settings.RECORDS))
    for method, setting in choice.items():
        assert settings.registry_setting(method) == setting, method


def test_a_method_is_run_at_the_cross_schedule_and_tv_z_weight_of_its_setting(benchmarks):
    settings = benchmarks[0]
    never = settings.Setting(0.5, None, 0)
    spec = settings.spec_of("dbpp", never)
    assert (spec.eta, spec.warm_start, spec.partitions.cross_every) == (0.5, None, 0)
    assert spec.tv_z == DIFFUSION["dbpp"].tv_z
    weaker = settings.spec_of("dds", settings.Setting(0.5, None, None, 0.5))
    assert weaker.tv_z == (settings.DDS_TV_Z[0], settings.DDS_TV_Z[1] / 2)
    assert settings.spec_of("dds", settings.Setting(0.5)).partitions == \
        DIFFUSION["dds"].partitions
    old = {"method": "dbpp", "eta": 0.85, "warm_start": None}   # before these were tried
    assert settings.setting_of(old) == settings.Setting(0.85, None, 2, 1.0)


def test_the_committed_records_still_build_every_table(benchmarks):
    _, ct_quality, quality = benchmarks
    phantom = quality.report(quality._read(quality.RECORDS), 4, 50)
    ct = ct_quality.report(ct_quality._read(ct_quality.RECORDS), 50)
    for text, scans in ((phantom, 5), (ct, 5)):
        for method in ("fbp", "admm-tv", "dds", "dbpp"):
            rows = [line for line in text.splitlines() if line.startswith(f"| {method} |")
                    or line.startswith(f"| {method}/lam-")]
            assert len(rows) >= scans, (method, len(rows))


def test_the_slab_table_gives_db_pp_s_difference_to_dds_on_each_slab(benchmarks):
    _, ct_quality, _ = benchmarks

    def record(method, volume, psnr):
        planes = ("axial", "coronal", "sagittal", "volume")
        return {"scan": ct_quality.TARGET_SCAN, "method": method, "volume": volume,
                "metrics": {p: {"psnr": psnr, "ssim": 0.5} for p in planes}}

    records = [record("dds", k, 25.0 + k) for k in range(3)]
    assert ct_quality.slab_table(records[:2]) == ""
    table = ct_quality.slab_table(records + [record("dbpp", k, 25.5 - k) for k in range(3)])
    assert "| DB++ − DDS | volume | +0.50 | -1.50 | -3.50 | -1.50 |" in table
    assert "| dds | coronal | 25.00 | 26.00 | 27.00 | 26.00 |" in table
