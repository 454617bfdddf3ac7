"""Side-by-side orthogonal views of several reconstructions of one volume, as a PNG."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .conventions import PLANES, VOLUME_AXES
from .io_atomic import atomic_write
from .io_volumes import as_volume_array

PANEL_INCHES = 2.5
"""Width and height of one panel (one plane of one method)."""
DPI = 100
"""Pixels per inch of the PNG: each panel is ``PANEL_INCHES · DPI`` pixels square."""


def save_orthogonal_views(path, volumes, *, vmin, vmax, index=None, z_aspect=1.0):
    """Draw one axial, coronal and sagittal slice of each volume into one PNG; return ``path``.

    Rows are the planes (axial ``volume[z]`` as ``(Y, X)``, coronal ``volume[:, y]`` as
    ``(Z, X)``, sagittal ``volume[:, :, x]`` as ``(Z, Y)``; first array axis downwards; pixels
    ``z_aspect`` times as tall as wide along z, e.g. slice spacing / pixel size), columns the
    volumes, titled by name. Every panel shares one grey scale. The image
    is ``3 · PANEL_INCHES · DPI`` pixels high and ``len(volumes) · PANEL_INCHES · DPI`` wide and
    is written atomically.

    Args:
        path: output file; must end in ``.png``.
        volumes: ``{name: (Z, Y, X) array or tensor}``, all of one shape, columns in dict order.
        vmin, vmax: grey-scale window in the volumes' units (black at ``vmin``, white at
            ``vmax``), ``vmin < vmax``.
        index: slice indices ``(z, y, x)``; default the central slices ``(Z//2, Y//2, X//2)``.
        z_aspect: height of a voxel along z over its width in-plane (> 0; 1: square pixels).

    Raises:
        ValueError: no volumes, shapes that differ, a bad window, index or suffix.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_orthogonal_views writes PNG; expected a .png path, got {path}")
    if not volumes:
        raise ValueError("volumes is empty; expected {name: (Z, Y, X) volume}")
    arrays = {name: as_volume_array(v, name=f"volumes[{name!r}]") for name, v in volumes.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) > 1:
        raise ValueError(f"all volumes must have one (Z, Y, X) shape, got {sorted(shapes)}")
    shape = shapes.pop()
    if not (np.isfinite(z_aspect) and z_aspect > 0):
        raise ValueError(f"z_aspect must be a finite number > 0, got {z_aspect}")
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax):
        raise ValueError(f"need finite vmin < vmax, got vmin={vmin}, vmax={vmax}")
    index = tuple(n // 2 for n in shape) if index is None else tuple(index)
    if len(index) != 3 or not all(
        isinstance(i, (int, np.integer)) and 0 <= i < n for i, n in zip(index, shape)
    ):
        raise ValueError(f"index must be (z, y, x) slice indices within {shape}, got {index}")

    figure = Figure(figsize=(PANEL_INCHES * len(arrays), PANEL_INCHES * len(PLANES)),
                    dpi=DPI, layout="constrained")
    axes = figure.subplots(len(PLANES), len(arrays), squeeze=False)
    for column, (name, array) in enumerate(arrays.items()):
        axes[0, column].set_title(str(name))
        for row, (plane, axis) in enumerate(PLANES.items()):
            ax = axes[row, column]
            ax.imshow(np.take(array, index[axis], axis=axis), cmap="gray", vmin=vmin,
                      vmax=vmax, interpolation="nearest", aspect=1.0 if axis == 0 else z_aspect)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(f"{plane} ({VOLUME_AXES[axis]} = {index[axis]})")
    with atomic_write(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
