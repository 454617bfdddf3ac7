import sys

import numpy as np
import pytest
import torch

from diffblend_astra.io import (
    SUPPORTED_SUFFIXES,
    atomic_write,
    read_dicom_series,
    read_sinogram,
    read_volume,
    write_dicom_series,
    write_sinogram,
    write_volume,
)

SHAPE = (3, 4, 5)  # (Z, Y, X), all different so a swapped axis cannot pass


@pytest.fixture
def volume():
    return np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


# --- file formats ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_round_trip_is_exact(tmp_path, volume, suffix):
    path = write_volume(tmp_path / f"v{suffix}", volume)
    back = read_volume(path)
    assert back.dtype == np.float32 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, volume)
    assert leftovers(tmp_path) == [f"v{suffix}"]


def test_torch_and_integer_input_are_written_as_float32(tmp_path, volume):
    write_volume(tmp_path / "t.npy", torch.from_numpy(volume))
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), volume)
    write_volume(tmp_path / "i.npy", np.arange(60, dtype=np.int64).reshape(SHAPE))
    assert np.load(tmp_path / "i.npy").dtype == np.float32


def test_nifti_file_is_stored_x_y_z(tmp_path, volume):
    nibabel = pytest.importorskip("nibabel")
    write_volume(tmp_path / "v.nii.gz", volume)
    stored = nibabel.load(tmp_path / "v.nii.gz").get_fdata()
    assert stored.shape == SHAPE[::-1]
    assert stored[4, 3, 2] == volume[2, 3, 4]


def test_nifti_intensity_scaling_is_applied(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    stored = np.arange(60, dtype=np.int16).reshape(SHAPE[::-1])
    image = nibabel.Nifti1Image(stored, np.eye(4))
    image.header.set_slope_inter(0.5, -10.0)
    nibabel.save(image, tmp_path / "scaled.nii")
    np.testing.assert_array_equal(read_volume(tmp_path / "scaled.nii"), stored.T * 0.5 - 10.0)


def test_tiff_has_one_page_per_slice(tmp_path, volume):
    tifffile = pytest.importorskip("tifffile")
    write_volume(tmp_path / "v.tif", volume)
    with tifffile.TiffFile(tmp_path / "v.tif") as tif:
        assert len(tif.pages) == SHAPE[0]
        np.testing.assert_array_equal(tif.pages[1].asarray(), volume[1])
    write_volume(tmp_path / "one.tif", volume[:1])
    assert read_volume(tmp_path / "one.tif").shape == (1, *SHAPE[1:])


def test_sinogram_functions_are_the_volume_functions(tmp_path):
    sinogram = np.random.default_rng(1).random((2, 7, 5)).astype(np.float32)  # (Z, angles, det)
    write_sinogram(tmp_path / "s.npy", sinogram)
    np.testing.assert_array_equal(read_sinogram(tmp_path / "s.npy"), sinogram)


# --- bad input --------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="DICOM series folder"):
        read_volume(tmp_path / "absent.npy")


def test_unknown_suffix_lists_the_supported_ones(tmp_path, volume):
    (tmp_path / "v.mha").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.npy.*\.nii\.gz.*\.tiff"):
        read_volume(tmp_path / "v.mha")
    with pytest.raises(ValueError, match=r"\.npy.*\.nii\.gz.*\.tiff"):
        write_volume(tmp_path / "w.mha", volume)
    assert leftovers(tmp_path) == ["v.mha"]


def test_arrays_must_be_3d_and_real(tmp_path):
    with pytest.raises(ValueError, match="3D"):
        write_volume(tmp_path / "v.npy", np.zeros((4, 5)))
    with pytest.raises(TypeError, match="real numbers"):
        write_volume(tmp_path / "v.npy", np.zeros(SHAPE, dtype=complex))
    np.save(tmp_path / "flat.npy", np.zeros((4, 5, 6, 7)))
    with pytest.raises(ValueError, match=r"flat\.npy.*\(4, 5, 6, 7\)"):
        read_volume(tmp_path / "flat.npy")
    assert leftovers(tmp_path) == ["flat.npy"]


@pytest.mark.parametrize("suffix, module", [(".nii.gz", "nibabel"), (".tif", "tifffile")])
def test_missing_optional_library_says_how_to_install(tmp_path, monkeypatch, volume, suffix,
                                                      module):
    write_volume(tmp_path / f"v{suffix}", volume)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=r"diffblend_astra\[io\]"):
        read_volume(tmp_path / f"v{suffix}")
    with pytest.raises(ImportError, match=module):
        write_volume(tmp_path / f"w{suffix}", volume)
    assert leftovers(tmp_path) == [f"v{suffix}"]


def test_missing_pydicom_says_how_to_install(tmp_path, monkeypatch, volume):
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImportError, match=r"pydicom.*diffblend_astra\[io\]"):
        read_volume(tmp_path)
    with pytest.raises(ImportError, match=r"diffblend_astra\[io\]"):
        write_dicom_series(tmp_path / "series", volume)


# --- atomic writes ----------------------------------------------------------------------------

def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith("out.json") and not tmp.exists()
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert leftovers(tmp_path) == ["out.json"] and target.read_text() == "old"
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert leftovers(tmp_path) == ["out.json"] and target.read_text() == "new"


def test_failed_format_writer_leaves_nothing(tmp_path, monkeypatch, volume):
    def half_write(file, array, allow_pickle):
        file.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_volume(tmp_path / "sub" / "v.npy", volume)
    assert leftovers(tmp_path / "sub") == []


def test_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "series"
    with atomic_write(target) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.mkdir()
            (tmp / "b").write_text("second")
            raise RuntimeError
    assert leftovers(tmp_path) == ["series"] and leftovers(target) == ["a"]
    with atomic_write(target) as tmp:
        tmp.mkdir()
        (tmp / "b").write_text("second")
    assert leftovers(tmp_path) == ["series"] and leftovers(target) == ["b"]


def test_block_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_write(tmp_path / "out.npy"):
            pass
    assert leftovers(tmp_path) == []


# --- DICOM series -----------------------------------------------------------------------------

def hounsfield_volume():
    """Integer multiples of 0.5 HU from -1024: exactly representable with slope 0.5."""
    stored = np.random.default_rng(2).integers(0, 4000, size=(6, 4, 5))
    return stored * 0.5 - 1024.0


def shuffle_file_names(folder, seed):
    """Rename the slices so that their sorted names list them in a random order."""
    files = sorted(folder.iterdir())
    permutation = np.random.default_rng(seed).permutation(len(files))
    assert not np.array_equal(permutation, np.arange(len(files)))
    for file, rank in zip(files, permutation):
        file.rename(folder / f"img_{rank:02d}.dcm")


@pytest.mark.parametrize("dtype", ["uint16", "int16"])
def test_shuffled_series_reads_back_in_slice_order_with_rescale(tmp_path, dtype):
    pydicom = pytest.importorskip("pydicom")
    volume = hounsfield_volume()
    write_dicom_series(tmp_path / "ct", volume, dtype=dtype, slope=0.5, intercept=-1024.0)
    shuffle_file_names(tmp_path / "ct", seed=3)
    (tmp_path / "ct" / "README.txt").write_text("not a slice")
    back = read_volume(tmp_path / "ct")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, volume)
    first = pydicom.dcmread(next((tmp_path / "ct").glob("*.dcm")))
    assert (first.RescaleSlope, first.RescaleIntercept) == (0.5, -1024.0)
    assert first.pixel_array.dtype == np.dtype(dtype)


def test_instance_number_orders_slices_without_positions(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    volume = hounsfield_volume()
    write_dicom_series(tmp_path / "ct", volume, slope=0.5, intercept=-1024.0)
    shuffle_file_names(tmp_path / "ct", seed=4)
    for file in (tmp_path / "ct").iterdir():
        ds = pydicom.dcmread(file)
        del ds.ImagePositionPatient
        ds.save_as(file)
    np.testing.assert_array_equal(read_dicom_series(tmp_path / "ct"), volume)


def test_position_along_the_normal_beats_instance_number(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    volume = hounsfield_volume()
    write_dicom_series(tmp_path / "ct", volume, spacing=(2.5, 1.0, 1.0), slope=0.5,
                       intercept=-1024.0)
    for file in (tmp_path / "ct").iterdir():  # flip the slice normal to -z: order must reverse
        ds = pydicom.dcmread(file)
        ds.ImageOrientationPatient = [0, 1, 0, 1, 0, 0]
        ds.save_as(file)
    np.testing.assert_array_equal(read_volume(tmp_path / "ct"), volume[::-1])


def test_chosen_rescale_quantises_to_half_a_step(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    volume = np.random.default_rng(5).normal(scale=300.0, size=(3, 6, 7))
    write_dicom_series(tmp_path / "ct", volume, dtype="int16")
    slope = float(pydicom.dcmread(next((tmp_path / "ct").iterdir())).RescaleSlope)
    assert slope == pytest.approx(np.ptp(volume) / 65535, rel=1e-6)
    np.testing.assert_allclose(read_volume(tmp_path / "ct"), volume, rtol=0, atol=0.51 * slope)


def test_values_that_do_not_fit_the_rescale_are_refused(tmp_path):
    pytest.importorskip("pydicom")
    with pytest.raises(ValueError, match="does not fit uint16"):
        write_dicom_series(tmp_path / "ct", np.full(SHAPE, -2000.0), slope=1.0, intercept=-1024.0)
    with pytest.raises(ValueError, match="both slope and intercept"):
        write_dicom_series(tmp_path / "ct", np.zeros(SHAPE), slope=1.0)
    assert leftovers(tmp_path) == []


def test_folder_without_slices(tmp_path):
    pytest.importorskip("pydicom")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no DICOM slices"):
        read_volume(tmp_path)


def test_slices_of_different_shapes_are_refused(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    write_dicom_series(tmp_path / "ct", np.zeros(SHAPE))
    odd = next((tmp_path / "ct").iterdir())
    ds = pydicom.dcmread(odd)
    ds.Columns = SHAPE[2] - 1
    ds.PixelData = np.zeros(SHAPE[1:2] + (SHAPE[2] - 1,), np.uint16).tobytes()
    ds.save_as(odd)
    with pytest.raises(ValueError, match=r"different \(Rows, Columns\)"):
        read_volume(tmp_path / "ct")


def test_two_series_in_one_folder_are_refused(tmp_path):
    pytest.importorskip("pydicom")
    write_dicom_series(tmp_path / "a", np.zeros(SHAPE))
    write_dicom_series(tmp_path / "b", np.zeros(SHAPE))
    (tmp_path / "b" / "slice_0.dcm").rename(tmp_path / "a" / "other.dcm")
    with pytest.raises(ValueError, match="2 DICOM series"):
        read_volume(tmp_path / "a")


# --- files that are not what their name says ----------------------------------------------------

@pytest.mark.parametrize("content, phrase", [
    (b"", "is empty"),
    (b"hello world\n", "not a NumPy .npy file"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4, 4), }",
     "truncated or corrupt"),
])
def test_bad_npy_files_say_what_is_wrong(tmp_path, content, phrase):
    (tmp_path / "v.npy").write_bytes(content)
    with pytest.raises(ValueError, match=phrase):
        read_volume(tmp_path / "v.npy")


def test_object_arrays_are_refused_as_such(tmp_path):
    np.save(tmp_path / "v.npy", np.empty((2, 2, 2), dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        read_volume(tmp_path / "v.npy")


def test_empty_array_is_refused(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((0, 4, 4), np.float32))
    with pytest.raises(ValueError, match="is empty"):
        read_volume(tmp_path / "v.npy")


@pytest.mark.parametrize("suffix", [".nii.gz", ".tif"])
def test_truncated_files_say_so(tmp_path, volume, suffix):
    path = write_volume(tmp_path / f"v{suffix}", volume)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_volume(path)


@pytest.mark.parametrize("name", ["v.NPY", "v.Nii.Gz", "v.TIF"])
def test_upper_case_suffix_writes_exactly_that_file(tmp_path, volume, name):
    write_volume(tmp_path / name, volume)
    assert leftovers(tmp_path) == [name]
    np.testing.assert_array_equal(read_volume(tmp_path / name), volume)


def dicom_series(tmp_path):
    pytest.importorskip("pydicom")
    folder = write_dicom_series(tmp_path / "ct", hounsfield_volume(), slope=0.5,
                                intercept=-1024.0)
    return sorted(folder.iterdir())


def test_missing_dicom_slice_is_named(tmp_path):
    files = dicom_series(tmp_path)
    files[2].unlink()
    with pytest.raises(ValueError, match="1 slice missing between the slices at 1 and 3"):
        read_volume(tmp_path / "ct")


def test_uneven_dicom_spacing_is_refused(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    files = dicom_series(tmp_path)
    ds = pydicom.dcmread(files[4])
    ds.ImagePositionPatient = [0, 0, 4.5]
    ds.save_as(files[4])
    with pytest.raises(ValueError, match="uneven spacing between the slices at 3 and 4.5"):
        read_volume(tmp_path / "ct")


def test_missing_instance_number_is_named(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    files = dicom_series(tmp_path)
    for file in files:
        ds = pydicom.dcmread(file)
        del ds.ImagePositionPatient
        ds.save_as(file)
    files[3].unlink()
    with pytest.raises(ValueError, match="missing between the slices at 3 and 5"):
        read_volume(tmp_path / "ct")


@pytest.mark.parametrize("cut, phrase", [
    (300, "without pixel data"),
    (-20, "pixel data of .* cannot be read"),
])
def test_truncated_dicom_slice_is_refused(tmp_path, cut, phrase):
    files = dicom_series(tmp_path)
    files[3].write_bytes(files[3].read_bytes()[:cut])
    with pytest.raises(ValueError, match=phrase):
        read_volume(tmp_path / "ct")


def test_unreadable_dcm_file_is_refused(tmp_path):
    files = dicom_series(tmp_path)
    files[3].write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="slice_3.dcm is not a readable DICOM file"):
        read_volume(tmp_path / "ct")
