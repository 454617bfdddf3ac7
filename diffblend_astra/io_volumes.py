"""Array files — NumPy ``.npy``, NIfTI ``.nii``/``.nii.gz``, multi-page TIFF — and array checks.

The format functions read and write 3D arrays in this package's axis order (see
:mod:`diffblend_astra.conventions`) at exactly the path they are given; :mod:`diffblend_astra.io`
chooses among them by suffix and makes every write atomic.
"""

import importlib

import numpy as np
import torch


def import_optional(name):
    """Import the optional I/O library ``name``, or raise an ImportError that says how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"reading or writing this format needs {name!r}, which is not installed; "
            'install the optional I/O dependencies with: pip install "diffblend_astra[io]"'
        ) from err


def as_volume_array(volume, *, name="volume", dtype=np.float32):
    """Return ``volume`` (NumPy array, torch tensor on any device, nested sequence) as a 3D array.

    Args:
        volume: real-valued data of 3 dimensions, e.g. a ``(Z, Y, X)`` volume.
        name: how error messages call the argument.
        dtype: NumPy dtype of the result (no copy when it already has it).

    Raises:
        TypeError: the data are not real numbers (bool, complex, object).
        ValueError: the data do not have 3 dimensions.
    """
    if isinstance(volume, torch.Tensor):
        volume = volume.detach().cpu().numpy()
    array = np.asarray(volume)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 3:
        raise ValueError(
            f"{name} must be a 3D array such as a (Z, Y, X) volume, got shape {array.shape}"
        )
    return array.astype(dtype, copy=False)


def read_npy(path):
    """The array stored in a ``.npy`` file (pickled objects are refused)."""
    return np.load(path, allow_pickle=False)


def write_npy(path, array):
    """Store ``array`` as a ``.npy`` file."""
    np.save(path, array, allow_pickle=False)


def read_nifti(path):
    """A NIfTI image as an array in reversed axis order: NIfTI ``(X, Y, Z)`` becomes ``(Z, Y, X)``.

    The header's intensity scaling (``scl_slope``, ``scl_inter``) is applied.
    """
    nibabel = import_optional("nibabel")
    return nibabel.load(path).get_fdata(dtype=np.float32).T


def write_nifti(path, array):
    """Store a ``(Z, Y, X)`` array as a NIfTI-1 image ``(X, Y, Z)`` with an identity affine.

    The data keep their dtype and are not rescaled, so :func:`read_nifti` returns them exactly.
    """
    nibabel = import_optional("nibabel")
    nibabel.save(nibabel.Nifti1Image(array.T, affine=np.eye(4)), path)


def read_tiff(path):
    """A multi-page TIFF as an array ``(pages, rows, columns)``: one page per axial slice."""
    tifffile = import_optional("tifffile")
    return tifffile.imread(path)


def write_tiff(path, array):
    """Store a ``(Z, Y, X)`` array as a TIFF of ``Z`` greyscale pages (BigTIFF when over 4 GB)."""
    tifffile = import_optional("tifffile")
    tifffile.imwrite(path, array, photometric="minisblack")
