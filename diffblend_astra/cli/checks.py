"""Checks the commands run before any work: devices, output paths, numbers and arrays.

Each raises ``ValueError`` with one line that names the option and what was expected, so
that a command fails in a second rather than after a long computation.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..noise import POISSON_MAX_RATE

MAX_PROJECTION = 1e12
"""The largest projection magnitude ``reconstruct`` accepts: beyond it the squared norms of
the float32 solvers overflow (line integrals in CT are of order 1–10)."""


def check_device(name: str):
    """The torch device ``name``, refused when this torch cannot use it."""
    from ..devices import usable_device

    return usable_device(name, "--device")


def check_output_file(path: Path, *, inputs=(), suffixes=None, option: str = "--out") -> Path:
    """Refuse an output file path that cannot or must not be written.

    ``suffixes`` (lower-case) defaults to the volume formats of :mod:`diffblend_astra.io`.
    The path must not be a folder nor one of ``inputs``, and its folder must be writable.
    """
    from ..io import suffix_of

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; expected a file name")
    if suffixes is None:
        try:
            suffix_of(path)
        except ValueError as err:
            raise ValueError(f"{option} {path}: {err}") from None
    elif not path.name.lower().endswith(tuple(suffixes)):
        raise ValueError(f"{option} {path}: expected a file name ending in "
                         f"{', '.join(suffixes)}")
    _check_not_an_input(path, inputs, option)
    _check_writable(path.parent, option, path)
    return path


def check_output_folder(path: Path, *, inputs=(), option: str = "--out") -> Path:
    """Refuse an output folder that is a file, one of ``inputs``, or cannot be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; expected a folder")
    _check_not_an_input(path, inputs, option)
    _check_writable(path, option, path)
    return path


def check_photons(photons: float) -> float:
    """Incident photons per ray: finite, positive, within :data:`POISSON_MAX_RATE`."""
    if not (math.isfinite(photons) and photons > 0):
        raise ValueError(f"--photons must be a finite number > 0, got {photons}")
    if photons > POISSON_MAX_RATE:
        raise ValueError(f"--photons {photons:g} is past the Poisson sampler's range "
                         f"({POISSON_MAX_RATE:.4g} counts per ray, int64)")
    return photons


def check_expected_counts(photons: float, y) -> None:
    """Refuse projections whose expected counts ``I0·exp(−y)`` exceed the sampler's range."""
    largest = photons * math.exp(-float(y.min()))
    if not largest <= POISSON_MAX_RATE:
        raise ValueError(f"--photons {photons:g} gives up to {largest:.3g} expected counts on "
                         f"rays with negative line integrals (min {float(y.min()):.3g}), past "
                         f"the Poisson sampler's range ({POISSON_MAX_RATE:.4g})")


def check_gaussian(sigma: float) -> float:
    """Gaussian noise standard deviation: finite and >= 0."""
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"--gaussian must be a finite number >= 0, got {sigma}")
    return sigma


def check_finite(array, name) -> None:
    """Refuse an array holding NaN or infinite values, naming how many."""
    array = np.asarray(array)
    bad = ~np.isfinite(array)
    if bad.any():
        kinds = " and ".join(k for k, m in (("NaN", np.isnan(array)), ("Inf", np.isinf(array)))
                             if m.any())
        raise ValueError(f"{name} contains {kinds} values ({int(bad.sum())} of {array.size}); "
                         "expected finite numbers")


def check_magnitude(array, name, limit: float = MAX_PROJECTION) -> None:
    """Refuse an array whose largest magnitude exceeds ``limit`` (see :data:`MAX_PROJECTION`)."""
    largest = float(np.abs(array).max())
    if largest > limit:
        raise ValueError(f"{name} holds values up to {largest:.3g}, more than {limit:g}: the "
                         "float32 solvers would overflow; rescale the data (line integrals "
                         "are of order 1-10)")


def _check_not_an_input(path, inputs, option):
    if not path.exists():
        return
    for given in inputs:
        if given is not None and Path(given).exists() and os.path.samefile(path, given):
            raise ValueError(f"{option} {path} is the input {given}; choose another name so "
                             "that the input is not overwritten")


def _check_writable(folder, option, path):
    """The nearest existing ancestor of ``folder`` must be a writable folder."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: the folder {existing} is not writable")
