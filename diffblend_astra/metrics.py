"""Image quality of a reconstructed volume against the truth, per plane, and TV along z.

PSNR and SSIM are computed on the 2D slices of a plane
(:data:`~diffblend_astra.conventions.PLANES`: axial slices along Z, coronal along Y, sagittal
along X) and averaged over that plane's slices, as in the DiffusionBlend paper's tables —
by default over the slices **that contain the object** only: a slice of pure air, which a
method that returns zeros there matches exactly, would otherwise add an unbounded PSNR to
the average and flatter that method. ``slices="all"`` gives the paper's average over every
slice. Every result also holds the PSNR and SSIM of the **whole volume** (3D SSIM), which no
choice of slices can flatter. The data range is always the caller's — a fixed property of
the data set (e.g. the intensity window's width) — never the min/max of either volume, so
numbers are comparable between methods and volumes.

A slice that the reconstruction matches exactly has PSNR ``inf``; a plane's mean PSNR is then
``inf`` too (no cap) and :func:`metrics_table` prints ``inf``.
"""

import math

import numpy as np
from skimage.metrics import structural_similarity

from .conventions import PLANES
from .io_volumes import as_volume_array

OBJECT_THRESHOLD = 0.01
"""A slice contains the object when some voxel of the truth lies more than this fraction of
the data range above the truth's minimum (air)."""

SSIM_WINDOW = 7
"""Side of SSIM's uniform window (scikit-image's default); smaller volumes use the largest odd
side that fits their smallest dimension."""


def plane_metrics(recon, truth, *, data_range, slices="object"):
    """Mean PSNR (dB) and SSIM over the slices of each plane, and of the whole volume.

    Args:
        recon, truth: ``(Z, Y, X)`` NumPy arrays or torch tensors of one shape, same units.
        data_range: the intensity range of the data in those units (positive, finite), used as
            the PSNR peak and SSIM's ``data_range``.
        slices: ``"object"`` (the slices that contain the object, :func:`object_slices`;
            every slice when the truth is flat) or ``"all"``.

    Returns:
        ``{"axial": {"psnr": float, "ssim": float, "slices": int}, "coronal": {...},
        "sagittal": {...}, "volume": {"psnr": float, "ssim": float}}`` (``slices``: how many
        slices were averaged).

    Raises:
        ValueError: shapes differ or are not 3D, a dimension is below 3 (SSIM), or a bad
            ``data_range``.
    """
    recon = as_volume_array(recon, name="recon", dtype=np.float64)
    truth = as_volume_array(truth, name="truth", dtype=np.float64)
    if recon.shape != truth.shape:
        raise ValueError(
            f"recon {recon.shape} and truth {truth.shape} must have one (Z, Y, X) shape"
        )
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be positive and finite, got {data_range}")
    if slices not in ("object", "all"):
        raise ValueError(f"slices must be 'object' or 'all', got {slices!r}")
    window = _ssim_window(truth.shape)
    results = {}
    for plane, axis in PLANES.items():
        keep = (object_slices(truth, axis, data_range) if slices == "object"
                else np.ones(truth.shape[axis], dtype=bool))
        if not keep.any():          # a flat truth has no object: every slice counts
            keep = np.ones(truth.shape[axis], dtype=bool)
        r, t = np.compress(keep, recon, axis=axis), np.compress(keep, truth, axis=axis)
        results[plane] = {"psnr": float(np.mean(_slice_psnr(r, t, axis, data_range))),
                          "ssim": _mean_ssim(r, t, axis, data_range, window),
                          "slices": int(keep.sum())}
    mse = float(np.mean((recon - truth) ** 2))
    results["volume"] = {
        "psnr": math.inf if mse == 0 else 10 * math.log10(data_range ** 2 / mse),
        "ssim": float(structural_similarity(recon, truth, data_range=data_range,
                                            win_size=window)),
    }
    return results


def object_slices(truth, axis: int, data_range: float) -> np.ndarray:
    """Boolean mask ``(truth.shape[axis],)`` of the slices along ``axis`` that contain the
    object (:data:`OBJECT_THRESHOLD`)."""
    truth = np.asarray(truth)
    above = truth - truth.min() > OBJECT_THRESHOLD * data_range
    return above.any(axis=tuple(a for a in range(truth.ndim) if a != axis))


def tv_z(volume):
    """Total variation along z per voxel, ``‖D_z x‖₁ / (Z·Y·X)`` (DiffusionBlend, Table 3).

    ``D_z`` is the forward difference ``x[z+1] - x[z]`` with a zero difference after the last
    slice, so this is the mean of ``|D_z x|`` over all ``Z·Y·X`` voxels, in the volume's units.

    Args:
        volume: ``(Z, Y, X)`` NumPy array or torch tensor.
    """
    x = as_volume_array(volume, dtype=np.float64)
    return float(np.abs(np.diff(x, axis=0)).sum() / x.size)


def metrics_table(results, seconds=None):
    """A fixed-width text table: one row per method, PSNR (dB) and SSIM per plane (and of the
    whole volume when every result has it).

    Args:
        results: ``{method name: plane_metrics(...)}``, rows in this order.
        seconds: optional ``{method name: run time in seconds}``; adds a ``time [s]`` column
            (``-`` for methods it does not list).
    """
    if not results:
        raise ValueError("results is empty; expected {method: plane_metrics(...)}")
    unknown = set(seconds or ()) - set(results)
    if unknown:
        raise ValueError(f"seconds names methods that results lacks: {sorted(unknown)}")
    width = max(len("method"), *(len(str(method)) for method in results))
    columns = [*PLANES, *(["volume"] if all("volume" in r for r in results.values()) else [])]
    header = [" " * width + "".join(f"  {plane:^15}" for plane in columns),
              f"{'method':<{width}}" + f"  {'PSNR':>7} {'SSIM':>7}" * len(columns)]
    if seconds is not None:
        header[1] += f"  {'time [s]':>9}"
    lines = list(header)
    for method, planes in results.items():
        try:
            cells = [(planes[plane]["psnr"], planes[plane]["ssim"]) for plane in columns]
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"results[{method!r}] must map each of {list(PLANES)} "
                "to {'psnr': ..., 'ssim': ...}"
            ) from err
        line = f"{str(method):<{width}}" + "".join(f"  {p:7.2f} {s:7.4f}" for p, s in cells)
        if seconds is not None:
            line += f"  {seconds[method]:9.1f}" if method in seconds else f"  {'-':>9}"
        lines.append(line)
    return "\n".join(lines)


def _slice_psnr(recon, truth, axis, data_range):
    """PSNR (dB) of each slice along ``axis``; ``inf`` where the slice is exact."""
    within_slice = tuple(a for a in range(3) if a != axis)
    mse = np.mean((recon - truth) ** 2, axis=within_slice)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(data_range**2 / mse)


def _mean_ssim(recon, truth, axis, data_range, window):
    pairs = zip(np.moveaxis(recon, axis, 0), np.moveaxis(truth, axis, 0))
    return float(np.mean([structural_similarity(r, t, data_range=data_range, win_size=window)
                          for r, t in pairs]))


def _ssim_window(shape):
    side = min(SSIM_WINDOW, *shape)
    if side % 2 == 0:
        side -= 1
    if side < 3:
        raise ValueError(f"SSIM needs every dimension of the volume to be at least 3, got {shape}")
    return side
