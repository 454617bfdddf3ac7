"""The one rule for arrays handed to the package: what is accepted and how it is converted.

Public entry points (operators, the solver, the baselines) take a ``torch.Tensor`` or a
``numpy.ndarray`` of any real floating-point dtype (float16, bfloat16, float32, float64).
Each converts its input once, with :func:`as_input`, to a float32 torch tensor (a NumPy array
lands on the CPU; a tensor keeps its device and, through the cast, its autograd graph), and
returns float32 torch tensors. Integer, boolean and complex data are refused, never cast: an
integer sinogram is usually a raw detector count that needs a log transform first, and a
complex one a bug. NumPy views of any strides are accepted (``vol[::-1]`` is copied once).
See :mod:`diffblend_astra.conventions`. :func:`as_measurement` and :func:`as_volume` apply
the rule to an operator's range and domain; :func:`as_float32_array` is the rule for NumPy
arrays, which :func:`diffblend_astra.io.read_volume` applies to the files it reads, so that
the command line follows it too.
"""

import numpy as np
import torch

from ..conventions import DTYPE


def as_input(t, shape: tuple, name: str, where: str) -> torch.Tensor:
    """``t`` as a finite float32 tensor of ``shape`` (see the module for the rule).

    ``name`` is the argument's name and ``where`` says whose shape it must have; both appear
    in the messages. Raises ``TypeError`` for anything but a real floating-point tensor or
    array and ``ValueError`` for a wrong shape or NaN/Inf values.
    """
    shape = tuple(shape)
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(as_float32_array(t, name, f"shape {shape} ({where})"))
    elif isinstance(t, torch.Tensor):
        if not t.dtype.is_floating_point:
            raise _dtype_error(name, f"shape {shape} ({where})", t.dtype, ".float()")
        t = t.to(DTYPE)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray of shape {shape} with "
                        f"real floating-point values ({where}), got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape} ({where}), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or Inf values ({where})")
    return t


def as_float32_array(array: np.ndarray, name: str, expected: str = "",
                     fix: str = ".astype(np.float32)") -> np.ndarray:
    """A real floating-point NumPy ``array`` as a C-contiguous float32 array (no copy when it
    is one already; any strides, negative ones included); ``TypeError`` for integer, boolean
    and complex data, naming ``name``, what was ``expected`` and the ``fix``."""
    if not np.issubdtype(array.dtype, np.floating):
        raise _dtype_error(name, expected, array.dtype, fix)
    return np.ascontiguousarray(array, dtype=np.float32)


def as_measurement(operator, y, name="y"):
    """``y`` as a float32 tensor of ``operator.range_shape``; ``ValueError`` if the shape differs
    or a value is NaN/inf."""
    return as_input(y, operator.range_shape, name, "the operator's range")


def as_volume(operator, x, name="x0"):
    """``x`` as a float32 tensor of ``operator.domain_shape``; ``ValueError`` if the shape differs
    or a value is NaN/inf."""
    return as_input(x, operator.domain_shape, name, "the operator's domain")


def _dtype_error(name, expected, dtype, fix):
    expected = f", {expected}" if expected else ""
    return TypeError(f"{name} must hold real floating-point values{expected}, got dtype "
                     f"{dtype}; integer, boolean and complex data are not cast silently: "
                     f"convert explicitly, e.g. with {fix}")
