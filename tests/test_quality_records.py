"""The quality benchmark's records: resumable runs and tables built from current weights only."""

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def quality(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("quality")
    yield module
    sys.modules.pop("quality", None)


def fake_result(psnr):
    metrics = {p: {"psnr": psnr, "ssim": 0.5} for p in ("axial", "coronal", "sagittal", "volume")}
    return {"metrics": metrics, "tv_z": 0.01, "seconds": 1.0, "truth_tv_z": 0.02}


def test_a_resumed_run_computes_only_what_is_missing(quality, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(quality, "make_case", lambda **kwargs: "case")
    monkeypatch.setattr(quality, "_evaluate",
                        lambda case, method, index, steps: calls.append((method, index))
                        or fake_result(20.0 + index))
    records = tmp_path / "records.jsonl"
    quality._run(records, "parallel-8", ["fbp", "cgls"], range(2), 50)
    assert calls == [("fbp", 0), ("cgls", 0), ("fbp", 1), ("cgls", 1)]
    quality._run(records, "parallel-8", ["fbp", "cgls"], range(3), 50)
    assert calls[4:] == [("fbp", 2), ("cgls", 2)]
    quality._run(records, "parallel-8", ["fbp"], range(3), 25)      # another NFE: new runs
    assert len(calls) == 9
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(lines) == 9 and {r["weights"] for r in lines} == {""}


def test_the_report_ignores_records_of_other_weights_and_volumes(quality):
    base = {"scan": "parallel-8", "nfe": 50, "date": "2026-01-01", "machine": "m",
            "protocol": quality.PROTOCOL}
    fbp = {"method": "fbp", "definition": quality._definition("fbp"), "weights": ""}
    dds = {"method": "dds", "weights": quality._weights_digest("dds", "parallel-8")}
    records = [
        {**base, **fbp, "volume": 0, **fake_result(20.0)},
        {**base, **fbp, "volume": 1, **fake_result(22.0)},
        {**base, **fbp, "volume": 7, **fake_result(99.0)},
        {**base, **fbp, "volume": 2, "protocol": 1, **fake_result(50.0)},   # older metrics
        {**base, "method": "dbpp", "volume": 0, "weights": "stale",
         "definition": quality._definition("dbpp"), **fake_result(30.0)},
        {**base, **dds, "volume": 0, "definition": "redefined", **fake_result(40.0)},
    ]
    text = quality.report(records, volumes=4, steps=50)
    assert "### parallel-8" in text
    assert "| fbp | - | 2 | 21.00 ± 1.00 |" in text          # volume 7 lies outside the 4
    assert "| dbpp |" not in text                         # trained with other weights
    assert "| dds |" not in text                          # recorded for another definition


def test_network_evaluations_of_a_warm_started_method(quality):
    assert quality.evaluations("fbp", 50) is None
    assert quality.evaluations("dds", 50) == 50
    assert quality.evaluations("dbpp/no-warm", 50) == 50
    assert quality.evaluations("dds/warm-500", 50) == 26         # 500, 480, …, 0
