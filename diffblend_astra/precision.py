"""Mixed precision: bf16 autocast where the hardware computes bf16 natively, fp32 elsewhere.

``precision`` is one of ``"auto"`` (bf16 on a CUDA device that supports it and on CPUs with
native bf16 instructions — AVX512-BF16 or AMX — fp32 otherwise), ``"bf16"`` or ``"fp32"``.
Networks run under :func:`autocast`; their outputs are cast back to float32 by the callers,
so the solver's arithmetic stays in float32 whatever the network used.
"""

from __future__ import annotations

import functools

import torch

PRECISIONS = ("auto", "bf16", "fp32")


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (Linux ``/proc/cpuinfo`` flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check(precision: str) -> str:
    """``precision`` itself, or ``ValueError`` unless it is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def resolve(precision: str, device: str | torch.device) -> str:
    """``"bf16"`` or ``"fp32"`` for ``precision`` on ``device``."""
    if check(precision) != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def autocast(precision: str, device: str | torch.device):
    """The autocast context of ``precision`` (``auto`` resolved) on ``device``."""
    device = torch.device(device)
    enabled = resolve(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
