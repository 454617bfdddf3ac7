import math

import numpy as np
import pytest
import torch

from diffblend_astra.metrics import metrics_table, plane_metrics, tv_z

PLANE_NAMES = ("axial", "coronal", "sagittal")


@pytest.fixture
def truth():
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(8, 9, 10))


def test_constant_error_gives_the_analytic_psnr_on_every_plane(truth):
    # MSE = 0.1² = 0.01 with a peak of 1 → 10·log10(1 / 0.01) = 20 dB
    metrics = plane_metrics(truth + 0.1, truth, data_range=1.0)
    assert list(metrics) == [*PLANE_NAMES, "volume"]
    assert metrics["volume"]["psnr"] == pytest.approx(20.0)
    for plane in PLANE_NAMES:
        assert metrics[plane]["psnr"] == pytest.approx(20.0)


def test_data_range_is_the_callers_not_the_volumes(truth):
    # same images, tenfold peak → +20 dB; scaling both volumes leaves PSNR unchanged only if
    # the range is taken from the caller rather than from the data
    base = plane_metrics(truth + 0.1, truth, data_range=1.0)["axial"]["psnr"]
    wide = plane_metrics(truth + 0.1, truth, data_range=10.0)["axial"]["psnr"]
    assert wide == pytest.approx(base + 20)
    shifted = plane_metrics(truth + 5.1, truth + 5.0, data_range=1.0)["axial"]["psnr"]
    assert shifted == pytest.approx(base)


def test_error_in_one_axial_slice_separates_the_planes(truth):
    recon = truth.copy()
    recon[3] += 0.1  # 1 of 8 axial slices; 1/8 of every coronal and sagittal slice
    metrics = plane_metrics(recon, truth, data_range=1.0)
    # coronal and sagittal slices all have MSE 0.01 / 8 → 20 + 10·log10(8) dB
    for plane in ("coronal", "sagittal"):
        assert metrics[plane]["psnr"] == pytest.approx(20 + 10 * math.log10(8))
    # axial: one slice at 20 dB, seven exact slices at +inf → the plane mean is inf
    assert metrics["axial"]["psnr"] == math.inf
    assert metrics["axial"]["ssim"] < 1.0 and metrics["coronal"]["ssim"] < 1.0


def test_identical_volumes(truth):
    metrics = plane_metrics(torch.from_numpy(truth), torch.from_numpy(truth), data_range=1.0)
    for plane in (*PLANE_NAMES, "volume"):
        assert metrics[plane]["psnr"] == math.inf
        assert metrics[plane]["ssim"] == pytest.approx(1.0)


def test_ssim_falls_with_noise_and_rises_with_data_range(truth):
    noise = np.random.default_rng(1).normal(size=truth.shape)

    def axial_ssim(scale, data_range):
        return plane_metrics(truth + scale * noise, truth, data_range=data_range,
                             slices="all")["axial"]["ssim"]

    assert axial_ssim(0.2, 1.0) < axial_ssim(0.05, 1.0) < 1.0
    assert axial_ssim(0.05, 1.0) < axial_ssim(0.05, 100.0)


def test_small_volumes_use_a_smaller_ssim_window():
    truth = np.random.default_rng(2).random((3, 5, 6))
    assert plane_metrics(truth, truth, data_range=1.0)["coronal"]["ssim"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 3"):
        plane_metrics(truth[:2], truth[:2], data_range=1.0)


def test_bad_input(truth):
    with pytest.raises(ValueError, match="one \\(Z, Y, X\\) shape"):
        plane_metrics(truth[:-1], truth, data_range=1.0)
    with pytest.raises(ValueError, match="3D"):
        plane_metrics(truth[0], truth[0], data_range=1.0)
    with pytest.raises(ValueError, match="data_range"):
        plane_metrics(truth, truth, data_range=0.0)
    with pytest.raises(TypeError):
        plane_metrics(truth, truth)  # data_range is required


def test_tv_z_of_a_ramp():
    # x[z] = 0.5·z: every forward difference is 0.5; (Z−1)·Y·X of them over Z·Y·X voxels
    volume = 0.5 * np.arange(4.0)[:, None, None] * np.ones((4, 3, 2))
    assert tv_z(volume) == pytest.approx(0.5 * 3 / 4)
    assert tv_z(torch.from_numpy(volume).permute(1, 0, 2).contiguous()) == 0.0  # constant along z


def test_tv_z_counts_absolute_differences():
    volume = np.zeros((3, 2, 2))
    volume[1] = 1.0  # up by 1 then down by 1 at each of 4 pixels: ‖D_z x‖₁ = 8 over 12 voxels
    assert tv_z(volume) == pytest.approx(8 / 12)


def test_table_has_one_row_per_method_and_the_values():
    results = {
        "FBP": {p: {"psnr": 17.5, "ssim": 0.41} for p in PLANE_NAMES},
        "DiffusionBlend++": {p: {"psnr": math.inf, "ssim": 1.0} for p in PLANE_NAMES},
    }
    table = metrics_table(results, seconds={"FBP": 0.25})
    lines = table.splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines[1:]}) == 1
    assert all(plane in lines[0] for plane in PLANE_NAMES) and "time [s]" in lines[1]
    assert lines[2].split() == ["FBP"] + ["17.50", "0.4100"] * 3 + ["0.2"]
    assert lines[3].split() == ["DiffusionBlend++"] + ["inf", "1.0000"] * 3 + ["-"]
    assert "time" not in metrics_table(results)


def test_table_refuses_incomplete_results():
    with pytest.raises(ValueError, match="'FBP'"):
        metrics_table({"FBP": {"axial": {"psnr": 1.0, "ssim": 0.5}}})
    with pytest.raises(ValueError, match="empty"):
        metrics_table({})
    with pytest.raises(ValueError, match="SIRT"):
        fbp = {p: {"psnr": 1.0, "ssim": 0.5} for p in PLANE_NAMES}
        metrics_table({"FBP": fbp}, seconds={"SIRT": 1.0})


def test_object_planes_skip_air_and_match_scikit_image_on_the_rest():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    truth = np.zeros((12, 10, 9))
    truth[3:9, 2:8, 1:7] = rng.uniform(0.2, 1.0, (6, 6, 6))          # the object
    recon = truth + 0.05 * rng.standard_normal(truth.shape)
    recon[:3] = 0.0                                                   # exact zeros in air
    metrics = plane_metrics(recon, truth, data_range=1.0)
    assert metrics["axial"]["slices"] == 6 and metrics["coronal"]["slices"] == 6
    expected = np.mean([peak_signal_noise_ratio(truth[z], recon[z], data_range=1.0)
                        for z in range(3, 9)])
    assert metrics["axial"]["psnr"] == pytest.approx(expected)
    ssim = np.mean([structural_similarity(truth[z], recon[z], data_range=1.0, win_size=7)
                    for z in range(3, 9)])
    assert metrics["axial"]["ssim"] == pytest.approx(ssim)
    everything = plane_metrics(recon, truth, data_range=1.0, slices="all")
    assert everything["axial"]["psnr"] == np.inf          # air slices matched exactly
    assert metrics["volume"]["psnr"] == pytest.approx(
        peak_signal_noise_ratio(truth, recon, data_range=1.0))
    assert metrics["volume"]["ssim"] == pytest.approx(
        structural_similarity(truth, recon, data_range=1.0, win_size=7))
    with pytest.raises(ValueError, match="slices"):
        plane_metrics(recon, truth, data_range=1.0, slices="some")
    flat = plane_metrics(recon, np.zeros_like(truth), data_range=1.0)   # no object at all
    assert flat["axial"]["slices"] == truth.shape[0]
