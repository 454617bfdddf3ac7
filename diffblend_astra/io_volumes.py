"""Array files — NumPy ``.npy``, NIfTI ``.nii``/``.nii.gz``, multi-page TIFF — and array checks.

The format functions read and write 3D arrays in this package's axis order (see
:mod:`diffblend_astra.conventions`) at exactly the path they are given; :mod:`diffblend_astra.io`
chooses among them by suffix and makes every write atomic.
"""

import gzip
import importlib
import os
import zlib

import numpy as np
import torch

from .io_limits import (DEFLATE_MAX_RATIO, MAX_ARRAY_BYTES, RefusedHeader,
                        check_described_size)

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


def read_npy(path, max_bytes=MAX_ARRAY_BYTES):
    """The array stored in a ``.npy`` file (pickled objects are refused).

    The header is checked before the array is allocated (:mod:`.io_limits`): its shape and
    dtype must fit in the file and in ``max_bytes``. Raises ``ValueError`` naming what is
    wrong: an empty file, a file that is not ``.npy`` (no magic bytes), a truncated or corrupt
    one (a header that claims more than the file holds), an array over ``max_bytes``, or an
    array of Python objects.
    """
    with open(path, "rb") as file:
        head = file.read(len(NPY_MAGIC))
        if not head:
            raise ValueError(f"{path} is empty; expected a NumPy .npy file")
        if head != NPY_MAGIC:
            raise ValueError(f"{path} is not a NumPy .npy file (it does not start with the "
                             ".npy magic bytes); save arrays with numpy.save")
        shape, dtype = _npy_header(file, path)
        available = os.fstat(file.fileno()).st_size - file.tell()
    if dtype.hasobject:
        raise ValueError(f"{path} holds an array of Python objects (pickled data), which "
                         "is refused; expected a numeric array")
    check_described_size(path, shape, dtype, available, max_bytes)
    try:
        return np.load(path, allow_pickle=False)
    except (EOFError, OSError, ValueError) as err:
        raise ValueError(f"{path} is truncated or corrupt: {_first_line(err)}") from None


def _npy_header(file, path):
    """``(shape, dtype)`` from the header of an open ``.npy`` file, past its magic bytes."""
    file.seek(0)
    try:
        version = np.lib.format.read_magic(file)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(file)
    except (EOFError, OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"{path} is truncated or corrupt: {_first_line(err)}") from None
    return shape, dtype


def write_npy(path, array):
    """Store ``array`` as a ``.npy`` file at exactly ``path`` (whatever the suffix's case)."""
    with open(path, "wb") as file:
        np.save(file, array, allow_pickle=False)


def read_nifti(path, max_bytes=MAX_ARRAY_BYTES):
    """A NIfTI image as an array in reversed axis order: NIfTI ``(X, Y, Z)`` becomes ``(Z, Y, X)``.

    The header's intensity scaling (``scl_slope``, ``scl_inter``) is applied; NIfTI-1 and -2,
    gzip-compressed or not (told by content, not by the suffix's case). The file is streamed:
    the header is read and checked first (:mod:`.io_limits`; a gzip stream holds at most
    :data:`~.io_limits.DEFLATE_MAX_RATIO` times its file size), then only the bytes of the
    array it describes; anything after them is never inflated.
    """
    nibabel = import_optional("nibabel")
    with open(path, "rb") as file:
        magic = file.read(4)
        size = os.fstat(file.fileno()).st_size
    compressed = magic[:2] == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            nifti2 = stream.read(4) in (_NIFTI2_HEADER_SIZE.to_bytes(4, "little"),
                                        _NIFTI2_HEADER_SIZE.to_bytes(4, "big"))
            stream.seek(0)
            image_class = nibabel.Nifti2Image if nifti2 else nibabel.Nifti1Image
            image = image_class.from_file_map(image_class.make_file_map({"image": stream}))
            offset = image.dataobj.offset
            available = DEFLATE_MAX_RATIO * size - offset if compressed else size - offset
            check_described_size(path, image.shape, image.get_data_dtype(), available,
                                 max_bytes)
            return image.get_fdata(dtype=np.float32).T
    except RefusedHeader:
        raise
    except (EOFError, OSError, ValueError, zlib.error,
            nibabel.filebasedimages.ImageFileError) as err:
        raise _unreadable(path, "NIfTI image", err) from None


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


def read_tiff(path, max_bytes=MAX_ARRAY_BYTES):
    """A multi-page TIFF as an array ``(pages, rows, columns)``: one page per axial slice.

    The file must hold exactly one image series (a TIFF of several series, or of pages of
    different shapes, is refused rather than read in part); its size is checked against the
    file (uncompressed pages) and ``max_bytes`` before it is read (:mod:`.io_limits`).
    """
    tifffile = import_optional("tifffile")
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series
            if len(series) != 1:
                shapes = ", ".join(str(tuple(s.shape)) for s in series[:4])
                raise RefusedHeader(f"{path} holds {len(series)} image series ({shapes}); "
                                    "expected one (Z, Y, X) stack: save each volume in its "
                                    "own file")
            stack = series[0]
            uncompressed = stack.keyframe.compression == 1
            available = os.path.getsize(path) if uncompressed else max_bytes
            check_described_size(path, stack.shape, stack.dtype, available, max_bytes)
            return stack.asarray()
    except RefusedHeader:
        raise
    except (EOFError, OSError, ValueError) as err:
        raise _unreadable(path, "TIFF file", err) from None


def write_tiff(path, array):
    """Store a ``(Z, Y, X)`` array as a TIFF of ``Z`` greyscale pages (BigTIFF when over 4 GB)."""
    tifffile = import_optional("tifffile")
    tifffile.imwrite(path, array, photometric="minisblack")


def _unreadable(path, what, err):
    return ValueError(f"{path} is not a readable {what} (truncated or corrupt?): "
                      f"{_first_line(err)}")


def _first_line(err):
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
