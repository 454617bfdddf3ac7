"""Scoring reconstructions against a ground truth: timing, per-plane metrics, the table."""

import math

import pytest
import torch

from diffblend_astra.experiment import compare, evaluate


def test_evaluate_times_and_scores_a_reconstruction():
    truth = torch.rand(5, 8, 8, generator=torch.Generator().manual_seed(0))
    exact = evaluate(truth, lambda: truth.clone())
    noisy = evaluate(truth, lambda: truth + 0.1)
    assert math.isinf(exact["metrics"]["coronal"]["psnr"]) and exact["seconds"] >= 0
    assert noisy["metrics"]["axial"]["psnr"] == pytest.approx(20.0, abs=1e-3)
    assert exact["tv_z"] == pytest.approx(noisy["tv_z"])    # an offset keeps z-differences


def test_compare_runs_every_reconstruction_in_order_with_its_time():
    truth = torch.zeros(4, 6, 6)
    calls = []
    table = compare(truth, {"second": lambda: calls.append(2) or truth + 0.5,
                            "first": lambda: calls.append(1) or truth + 0.1})
    assert calls == [2, 1]
    lines = table.splitlines()
    assert "time [s]" in lines[1]
    assert lines[2].startswith("second") and lines[3].startswith("first")

