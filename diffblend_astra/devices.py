"""The torch device a caller asks for, checked once: honoured, or refused in one line."""

from __future__ import annotations

import torch


def usable_device(device: str | torch.device, name: str = "device=") -> torch.device:
    """``device`` as a ``torch.device`` this torch can compute on: the CPU, or a CUDA GPU
    that is present.

    ``name`` is how messages call the argument (``device=`` in the API, ``--device`` on the
    command line). Raises ``ValueError`` for a string that is no device, a CUDA device without
    a usable GPU (or past the last one) and any other device type.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} {device!r} is not a torch device; expected cpu, cuda or "
                         "cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {device}: this torch ({torch.__version__}) has no usable "
                             "CUDA GPU (torch.cuda.is_available() is False); use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{name} {device}: there are {torch.cuda.device_count()} CUDA "
                             "devices")
    elif device.type != "cpu":
        raise ValueError(f"{name} {device}: only cpu and cuda devices are supported")
    return device
