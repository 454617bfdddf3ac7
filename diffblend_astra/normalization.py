"""The affine map between physical intensities and the network's ``[-1, 1]`` range."""

import math
import numbers
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .io_volumes import as_volume_array


@dataclass(frozen=True)
class IntensityWindow:
    """Physical units ``[low, high]`` ↔ network units ``[-1, 1]``, stored with a checkpoint.

    ``to_network(x) = (x - centre) / scale`` and ``to_physical(u) = u · scale + centre`` with
    ``centre = (low + high) / 2`` and ``scale = (high - low) / 2``. Both accept NumPy arrays,
    torch tensors or numbers of any shape and return the same kind (dtype kept for floating
    inputs). Values outside the window map outside ``[-1, 1]``; nothing is clipped unless asked.

    Attributes:
        low: physical value that maps to -1 (e.g. 0 for attenuation, -1000 for HU).
        high: physical value that maps to +1; finite and greater than ``low``.
    """

    low: float
    high: float

    def __post_init__(self):
        for field in ("low", "high"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"IntensityWindow.{field} must be a real number, got {value!r}")
            object.__setattr__(self, field, float(value))
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.high > self.low):
            raise ValueError(
                f"IntensityWindow needs finite low < high, got low={self.low}, high={self.high}"
            )

    @property
    def scale(self):
        """Physical units per network unit, ``(high - low) / 2``: a network-space noise level σ
        is ``σ · scale`` in physical units."""
        return (self.high - self.low) / 2

    @property
    def centre(self):
        """The physical value that maps to 0, ``(low + high) / 2``."""
        return (self.low + self.high) / 2

    def to_network(self, x, *, clip=False):
        """Physical units → network units; ``clip=True`` clamps the result to ``[-1, 1]``
        (for training data with outliers, never for a reconstruction)."""
        u = (x - self.centre) / self.scale
        if not clip:
            return u
        return u.clamp(-1.0, 1.0) if isinstance(u, torch.Tensor) else np.clip(u, -1.0, 1.0)

    def to_physical(self, u):
        """Network units → physical units (the inverse of :meth:`to_network` without clipping)."""
        return u * self.scale + self.centre

    def to_dict(self):
        """``{"low": float, "high": float}``, JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The window stored by :meth:`to_dict`; other keys are an error."""
        if set(data) != {"low", "high"}:
            raise ValueError(
                f"an IntensityWindow dict has exactly the keys 'low' and 'high', got {sorted(data)}"
            )
        return cls(low=data["low"], high=data["high"])

    @classmethod
    def from_percentiles(cls, volumes, lo=0.5, hi=99.5):
        """The window between the ``lo``-th and ``hi``-th percentiles of all voxels pooled.

        Args:
            volumes: one ``(Z, Y, X)`` volume or an iterable of them (NumPy arrays or torch
                tensors, shapes may differ) in physical units.
            lo, hi: percentiles in ``[0, 100]``, ``lo < hi``.

        Raises:
            ValueError: bad percentiles, no voxels, or a window of zero width (constant data).
        """
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"percentiles need 0 <= lo < hi <= 100, got lo={lo}, hi={hi}")
        if isinstance(volumes, (np.ndarray, torch.Tensor)):
            volumes = [volumes]
        voxels = [as_volume_array(v, name="each volume", dtype=np.float64).ravel() for v in volumes]
        if sum(v.size for v in voxels) == 0:
            raise ValueError("from_percentiles needs at least one voxel")
        low, high = np.percentile(np.concatenate(voxels), [lo, hi])
        if not high > low:
            raise ValueError(
                f"the {lo}th and {hi}th percentiles are both {low}: the data are (nearly) constant"
            )
        return cls(low=float(low), high=float(high))

