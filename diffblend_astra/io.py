"""Reading and writing volumes and sinograms, chosen by file suffix; every write is atomic.

* ``.npy`` — NumPy array.
* ``.nii``, ``.nii.gz`` — NIfTI-1 (``nibabel``); the file's ``(X, Y, Z)`` is our ``(Z, Y, X)``.
* ``.tif``, ``.tiff`` — multi-page TIFF (``tifffile``), one page per axial slice.
* a folder — DICOM series (``pydicom``); read here, written with :func:`write_dicom_series`.

Arrays follow :mod:`diffblend_astra.conventions`: volumes are ``(Z, Y, X)``, sinograms are
in ASTRA order (``(Z, angles, det)`` stacks or ``(det_rows, angles, det_cols)``). A sinogram is
just a 3D array, so :func:`read_sinogram`/:func:`write_sinogram` are the same functions as
:func:`read_volume`/:func:`write_volume`; a single 2D sinogram is stored as a stack of one,
``(1, angles, det)``. The optional libraries are imported only when their format is used;
without them an ImportError says ``pip install "diffblend_astra[io]"``.

:func:`atomic_write` is the one way this package writes files (checkpoints, JSON, figures).
"""

from pathlib import Path

import numpy as np

from .io_atomic import atomic_write
from .io_dicom import read_dicom_series, write_dicom_series
from .io_limits import MAX_ARRAY_BYTES
from .io_volumes import (
    as_volume_array,
    read_nifti,
    read_npy,
    read_tiff,
    write_nifti,
    write_npy,
    write_tiff,
)

__all__ = [
    "MAX_ARRAY_BYTES",
    "SUPPORTED_SUFFIXES",
    "UNSCALED_SUFFIXES",
    "as_volume_array",
    "atomic_write",
    "read_dicom_series",
    "read_sinogram",
    "read_volume",
    "suffix_of",
    "write_dicom_series",
    "write_sinogram",
    "write_volume",
]

_FORMATS = {
    ".npy": (read_npy, write_npy),
    ".nii": (read_nifti, write_nifti),
    ".nii.gz": (read_nifti, write_nifti),
    ".tif": (read_tiff, write_tiff),
    ".tiff": (read_tiff, write_tiff),
}
SUPPORTED_SUFFIXES = tuple(_FORMATS)
"""File suffixes :func:`read_volume` and :func:`write_volume` understand (case-insensitive)."""

UNSCALED_SUFFIXES = (".npy", ".tif", ".tiff")
"""Formats whose stored numbers are the values (no rescale in the header): they follow the
package's input rule (:mod:`.operators.inputs`), so integer, boolean and complex arrays are
refused, never cast. NIfTI and DICOM define their own rescale to physical units, which is
applied."""

_FLOAT_FIX = ("array.astype(numpy.float32) after any rescaling (raw detector counts need "
              "-log(I / I0) first)")


def read_volume(path, *, max_bytes: int = MAX_ARRAY_BYTES):
    """Read a volume from a file or a DICOM series folder.

    Memory stays bounded by the array the file describes: every reader checks the size its
    header describes against the file and ``max_bytes`` before it allocates
    (:mod:`.io_limits`), and compressed files are streamed.

    Args:
        path: a file with one of :data:`SUPPORTED_SUFFIXES`, or a folder of DICOM slices
            (see :func:`read_dicom_series`).
        max_bytes: the largest array (as stored) to read, in bytes.

    Returns:
        C-contiguous float32 NumPy array ``(Z, Y, X)``, in the file's units (NIfTI, DICOM:
        rescaled).

    Raises:
        FileNotFoundError: nothing at ``path``.
        TypeError: a ``.npy`` or TIFF file of integer, boolean or complex data
            (:data:`UNSCALED_SUFFIXES`).
        ValueError: unknown suffix, a file that is empty, truncated or not of its format, whose
            header describes more than the file holds or than ``max_bytes``, or that does not
            hold a non-empty 3D array.
        ImportError: the format's optional library is missing.
    """
    from .operators.inputs import as_float32_array

    path = Path(path)
    if path.is_dir():
        array = read_dicom_series(path, max_bytes=max_bytes)
    elif path.exists():
        array = _format(path)[0](path, max_bytes)
        if suffix_of(path) in UNSCALED_SUFFIXES:
            array = as_float32_array(array, f"the array in {path}", fix=_FLOAT_FIX)
    else:
        raise FileNotFoundError(
            f"no volume at {path}: expected a file ending in {', '.join(SUPPORTED_SUFFIXES)} "
            "or a DICOM series folder"
        )
    array = as_volume_array(array, name=f"the array in {path}")
    if array.size == 0:
        raise ValueError(f"the array in {path} is empty (shape {array.shape}); expected a "
                         "3D array with at least one voxel")
    return np.ascontiguousarray(array)


def write_volume(path, volume):
    """Write a 3D array (NumPy or torch) as float32 to ``path``, atomically; return ``path``.

    The format follows the suffix (:data:`SUPPORTED_SUFFIXES`); :func:`read_volume` returns
    exactly the values written. An existing file is replaced only once the new one is
    complete; on any error nothing is left at ``path`` that was not there before.

    Raises:
        ValueError: unknown suffix, or ``volume`` is not 3D.
        TypeError: ``volume`` does not hold real numbers.
        ImportError: the format's optional library is missing.
    """
    path = Path(path)
    writer = _format(path)[1]
    array = np.ascontiguousarray(as_volume_array(volume))
    with atomic_write(path) as tmp:
        writer(tmp, array)
    return path


read_sinogram = read_volume
write_sinogram = write_volume


def suffix_of(path) -> str:
    """The format suffix of ``path`` among :data:`SUPPORTED_SUFFIXES`, lower-case.

    Raises ``ValueError`` naming the supported suffixes when there is none.
    """
    name = Path(path).name.lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ValueError(
        f"cannot tell the format of {path}: expected a suffix among "
        f"{', '.join(SUPPORTED_SUFFIXES)} (DICOM: read a series folder, "
        "write with write_dicom_series)"
    )


def _format(path):
    return _FORMATS[suffix_of(path)]
