"""Array files — NumPy ``.npy``, NIfTI ``.nii``/``.nii.gz``, multi-page TIFF — and array checks.

The format functions read and write 3D arrays in this package's axis order (see
:mod:`diffblend_astra.conventions`) at exactly the path they are given; :mod:`diffblend_astra.io`
chooses among them by suffix and makes every write atomic.
"""

import gzip
import importlib
import zlib

import numpy as np
import torch

NPY_MAGIC = b"\x93NUMPY"
"""The first bytes of every ``.npy`` file."""
_NIFTI2_HEADER_SIZE = 540


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
    """The array stored in a ``.npy`` file (pickled objects are refused).

    Raises ``ValueError`` naming what is wrong: an empty file, a file that is not ``.npy``
    (no magic bytes), a truncated or corrupt one, or an array of Python objects.
    """
    with open(path, "rb") as file:
        head = file.read(len(NPY_MAGIC))
    if not head:
        raise ValueError(f"{path} is empty; expected a NumPy .npy file")
    if head != NPY_MAGIC:
        raise ValueError(f"{path} is not a NumPy .npy file (it does not start with the .npy "
                         "magic bytes); save arrays with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except (EOFError, OSError, ValueError) as err:
        if "pickle" in str(err):
            raise ValueError(f"{path} holds an array of Python objects (pickled data), which "
                             "is refused; expected a numeric array") from None
        raise ValueError(f"{path} is truncated or corrupt: {err}") from None


def write_npy(path, array):
    """Store ``array`` as a ``.npy`` file at exactly ``path`` (whatever the suffix's case)."""
    with open(path, "wb") as file:
        np.save(file, array, allow_pickle=False)


def read_nifti(path):
    """A NIfTI image as an array in reversed axis order: NIfTI ``(X, Y, Z)`` becomes ``(Z, Y, X)``.

    The header's intensity scaling (``scl_slope``, ``scl_inter``) is applied; NIfTI-1 and -2,
    gzip-compressed or not (told by content, not by the suffix's case).
    """
    nibabel = import_optional("nibabel")
    with open(path, "rb") as file:
        raw = file.read()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        nifti2 = raw[:4] in (_NIFTI2_HEADER_SIZE.to_bytes(4, "little"),
                             _NIFTI2_HEADER_SIZE.to_bytes(4, "big"))
        image_class = nibabel.Nifti2Image if nifti2 else nibabel.Nifti1Image
        return image_class.from_bytes(raw).get_fdata(dtype=np.float32).T
    except (EOFError, OSError, ValueError, zlib.error, nibabel.filebasedimages.ImageFileError) \
            as err:
        raise ValueError(f"{path} is not a readable NIfTI image (truncated or corrupt?): "
                         f"{_first_line(err)}") from None


def write_nifti(path, array):
    """Store a ``(Z, Y, X)`` array as a NIfTI-1 image ``(X, Y, Z)`` with an identity affine at
    exactly ``path`` (gzip-compressed when it ends in ``.gz``, whatever the case).

    The data keep their dtype and are not rescaled, so :func:`read_nifti` returns them exactly.
    """
    nibabel = import_optional("nibabel")
    data = nibabel.Nifti1Image(array.T, affine=np.eye(4)).to_bytes()
    if str(path).lower().endswith(".gz"):
        data = gzip.compress(data, compresslevel=1, mtime=0)
    with open(path, "wb") as file:
        file.write(data)


def read_tiff(path):
    """A multi-page TIFF as an array ``(pages, rows, columns)``: one page per axial slice."""
    tifffile = import_optional("tifffile")
    try:
        return tifffile.imread(path)
    except (EOFError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable TIFF file (truncated or corrupt?): "
                         f"{_first_line(err)}") from None


def write_tiff(path, array):
    """Store a ``(Z, Y, X)`` array as a TIFF of ``Z`` greyscale pages (BigTIFF when over 4 GB)."""
    tifffile = import_optional("tifffile")
    tifffile.imwrite(path, array, photometric="minisblack")


def _first_line(err):
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
