"""Scoring reconstructions against a ground truth: timing, per-plane metrics, the table."""

import math

import numpy as np

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



def test_a_ct_case_is_the_central_slab_or_one_moved_along_z(monkeypatch):
    from diffblend_astra import datasets
    from diffblend_astra.experiment import ct_slab, make_ct_case

    volume = np.arange(20, dtype=np.float32)[:, None, None] * np.ones((1, 32, 32), np.float32)
    monkeypatch.setattr(datasets, "working_volume", lambda scan, grid: volume)
    central = make_ct_case(slices=6, views=4)
    assert central.truth[:, 0, 0].tolist() == list(range(7, 13))
    assert make_ct_case(slices=6, views=4, shift=7).truth[:, 0, 0].tolist() == \
        list(range(14, 20))
    first, truth = ct_slab(slices=6, shift=-7)
    assert first == 0 and truth[:, 0, 0].tolist() == list(range(0, 6))
    with pytest.raises(ValueError, match=r"shift must lie in \[-7, 7\]"):
        make_ct_case(slices=6, views=4, shift=8)
