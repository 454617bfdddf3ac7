"""Axis orders, dtypes and units, written down once.

Every module of the package follows these conventions; docstrings refer here instead of
repeating them.

Volumes
    ``torch.float32`` tensors of shape ``(Z, Y, X)`` — ASTRA's 3D volume order. Axial slices
    are ``volume[z]``; coronal slices ``volume[:, y]``; sagittal slices ``volume[:, :, x]``.
    A single 2D image is ``(Y, X)``.

Projections (ASTRA order)
    * 2D sinogram: ``(angles, det)``.
    * stack of 2D sinograms, one per axial slice: ``(Z, angles, det)``.
    * 3D projections: ``(det_rows, angles, det_cols)`` — the same layout as the 2D stack,
      with detector rows in place of slices.

Network batches
    ``(B, C, H, W)`` with ``H = Y`` and ``W = X``. For DiffusionBlend++ the ``C = 3`` channels
    are three axial slices of one group, in increasing ``z``.

Units
    Angles are radians (ASTRA). The solver works in the operator's physical units (for
    example attenuation per unit length). Networks see volumes mapped to ``[-1, 1]`` by an
    :class:`~diffblend_astra.normalization.IntensityWindow` stored in the checkpoint.

Randomness
    Only through an explicit ``torch.Generator`` or integer seed; nothing seeds globally.
"""

import torch

DTYPE = torch.float32
"""The one floating-point type of volumes, projections and network inputs."""

VOLUME_AXES = ("z", "y", "x")
PROJECTION_AXES_3D = ("det_rows", "angles", "det_cols")
SINOGRAM_AXES_2D = ("angles", "det")
SINOGRAM_STACK_AXES = ("z", "angles", "det")
BATCH_AXES = ("batch", "channel", "y", "x")

PLANES = {"axial": 0, "coronal": 1, "sagittal": 2}
"""Plane name → the volume axis that indexes its slices."""
