"""The size a file's header describes, checked before anything of that size is allocated.

Readers parse a file's header first (``.npy``, NIfTI, TIFF, DICOM), then call
:func:`check_described_size` with the array the header describes and the number of data bytes
the file can hold; only then do they read, and they read no more than described. A header
that claims more than the file holds (a lie, or a truncated file) or more than
:data:`MAX_ARRAY_BYTES` is refused with a one-line ``ValueError``, so that memory stays bounded
by the data a file really describes.
"""

import math

import numpy as np

MAX_ARRAY_BYTES = 64 * 2**30
"""Largest array a reader allocates by default, in bytes (64 GiB, a 2560³ float32 volume);
pass ``max_bytes=`` to :func:`diffblend_astra.io.read_volume` for more."""

DEFLATE_MAX_RATIO = 1032
"""DEFLATE (gzip) expands at most 1032-fold (RFC 1951's longest match per shortest code):
a gzip file of ``n`` bytes cannot hold more than ``1032 · n`` bytes of data."""


class RefusedHeader(ValueError):
    """A file refused for what its header describes (too large, more than the file holds, or
    more than one array); readers let it through their own error translation."""


def described_bytes(shape, dtype) -> int:
    """Bytes of an array of ``shape`` (any integers) and ``dtype``, as a Python integer (no
    overflow, whatever the header claims)."""
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize


def check_described_size(path, shape, dtype, available: int, max_bytes: int) -> int:
    """Refuse an array the header of ``path`` describes as ``shape`` × ``dtype`` when it needs
    more than ``available`` bytes (what the file can hold) or more than ``max_bytes``; return
    its size in bytes.

    Raises :class:`RefusedHeader` (a ``ValueError``) naming the shape, both sizes and the
    likely cause.
    """
    if any(int(n) < 0 for n in shape):
        raise RefusedHeader(f"{path} is corrupt: its header describes the shape {tuple(shape)}")
    needed = described_bytes(shape, dtype)
    described = f"{tuple(int(n) for n in shape)} {np.dtype(dtype)} ({_size(needed)})"
    if needed > max_bytes:
        raise RefusedHeader(f"{path}: its header describes an array {described}, more than the "
                         f"limit of {_size(max_bytes)} (pass max_bytes= to read larger arrays)")
    if needed > available:
        raise RefusedHeader(f"{path} is truncated or corrupt: its header describes an array "
                         f"{described} but the file can hold at most {_size(available)}")
    return needed


def _size(n: int) -> str:
    for unit, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20),
                        ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"
