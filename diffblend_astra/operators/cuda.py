"""Is a CUDA GPU usable by both torch and ASTRA? Ask before any ASTRA CUDA call.

Without a usable GPU, ASTRA's CUDA and 3D routines kill the process (SIGFPE) instead of
raising, so every CUDA path of this package calls :func:`require_cuda` first.
"""

import contextlib
import functools

import torch

CPU_KINDS = ("parallel", "parallel_vec", "fanflat", "fanflat_vec")
"""ASTRA geometry types that run on CPU (2D, slice by slice)."""


@functools.cache
def cuda_usable() -> bool:
    """True when torch sees a CUDA device and ASTRA can use it (``astra.use_cuda()``)."""
    if not torch.cuda.is_available():
        return False
    import astra

    return bool(astra.use_cuda())


def require_cuda(what: str) -> None:
    """Raise ``RuntimeError`` naming ``what`` and the CPU alternatives unless CUDA is usable."""
    if cuda_usable():
        return
    raise RuntimeError(
        f"{what} requires a usable CUDA GPU (torch.cuda.is_available() and astra.use_cuda()), "
        f"and none was found. ASTRA has no CPU projector for 3D geometries; cone beams ('cone', "
        f"'cone_vec') run on CPU through RTK (as_operator picks it). On CPU, use a 2D "
        f"geometry ({', '.join(repr(k) for k in CPU_KINDS)}): "
        f"as_operator(proj_geom, vol_geom, slices=Z) projects a (Z, Y, X) volume slice by slice; "
        f"a circular 'parallel3d' geometry converts to one with "
        f"diffblend_astra.operators.parallel3d_to_stack(proj_geom, vol_geom).")


@contextlib.contextmanager
def synchronized(device: torch.device):
    """Around an ASTRA call on ``device``: finish queued torch work first, ASTRA's work after.

    ASTRA does not use torch's CUDA stream, so a kernel still writing its input, or one
    reading its output too early, would race with it. No-op for CPU devices.
    """
    if device.type != "cuda":
        yield
        return
    torch.cuda.current_stream(device).synchronize()
    try:
        yield
    finally:
        torch.cuda.synchronize(device)
