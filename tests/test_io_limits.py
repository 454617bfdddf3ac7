"""Readers allocate no more than the array a file's header describes, and refuse headers that
claim more than the file holds or than the stated limit, before allocating."""

import gzip
import io
import tracemalloc

import numpy as np
import pytest

from diffblend_astra.io import read_volume, write_volume
from diffblend_astra.io_limits import DEFLATE_MAX_RATIO, check_described_size, described_bytes

VOLUME = np.random.default_rng(1).random((9, 32, 32)).astype(np.float32)


def nifti_bytes(array, shape=None):
    """A NIfTI-1 image of ``array`` (``(Z, Y, X)``), its header's shape replaced by ``shape``."""
    nibabel = pytest.importorskip("nibabel")
    data = bytearray(nibabel.Nifti1Image(array.T, np.eye(4)).to_bytes())
    if shape is not None:
        header = nibabel.Nifti1Header.from_fileobj(io.BytesIO(bytes(data)))
        header.set_data_shape(shape)
        data[:348] = header.binaryblock
    return bytes(data)


def npy_with_shape(array, shape):
    """``.npy`` bytes of ``array`` whose header claims ``shape``."""
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + array.tobytes()


def test_a_gzip_stream_is_read_only_as_far_as_its_header_describes(tmp_path):
    path = tmp_path / "bomb.nii.gz"
    with gzip.open(path, "wb", compresslevel=9) as file:
        file.write(nifti_bytes(VOLUME))
        for _ in range(16):                       # 256 MiB of zeros after the image
            file.write(bytes(2**24))
    tracemalloc.start()
    try:
        volume = read_volume(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(volume, VOLUME)
    assert peak < 20 * VOLUME.nbytes, f"{peak} bytes allocated for a {VOLUME.nbytes}-byte array"


@pytest.mark.parametrize("name, make", [
    ("lie.npy", lambda: npy_with_shape(VOLUME, (9, 32, 32_000))),
    ("lie.nii", lambda: nifti_bytes(VOLUME, (32, 32, 9_000))),
    ("lie.nii.gz", lambda: gzip.compress(nifti_bytes(VOLUME, (32_000, 32_000, 32_000)))),
])
def test_a_header_that_claims_more_than_the_file_holds_is_refused(tmp_path, name, make):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(ValueError, match="header describes an array") as err:
        read_volume(path, max_bytes=2**62)
    assert "truncated or corrupt" in str(err.value)


@pytest.mark.parametrize("suffix", [".npy", ".nii", ".nii.gz", ".tif"])
def test_max_bytes_is_the_stated_limit(tmp_path, suffix):
    path = write_volume(tmp_path / f"v{suffix}", VOLUME)
    with pytest.raises(ValueError, match="more than the limit of 36 KiB"):
        read_volume(path, max_bytes=VOLUME.nbytes - 1)
    np.testing.assert_array_equal(read_volume(path, max_bytes=VOLUME.nbytes), VOLUME)


def test_a_dicom_series_over_the_limit_is_refused_before_decoding(tmp_path):
    pytest.importorskip("pydicom")
    from diffblend_astra.io import write_dicom_series

    write_dicom_series(tmp_path / "ct", VOLUME)
    with pytest.raises(ValueError, match="more than the limit"):
        read_volume(tmp_path / "ct", max_bytes=VOLUME.nbytes - 1)


def test_sizes_never_overflow_and_negative_shapes_are_corrupt():
    assert described_bytes((2**40, 2**40), np.float64) == 2**83
    with pytest.raises(ValueError, match="corrupt"):
        check_described_size("f", (-1, 4), np.float32, 100, 100)
    assert check_described_size("f", (5, 5), np.float32, 100, 100) == 100
    assert DEFLATE_MAX_RATIO * len(gzip.compress(bytes(10**6), 9)) >= 10**6
