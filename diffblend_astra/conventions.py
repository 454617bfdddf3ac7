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
      with detector rows in place of slices. A circular ``parallel3d`` scan whose rows match
      the slices is such a stack without any transpose
      (:func:`diffblend_astra.operators.parallel3d_to_stack`).

Network batches
    ``(B, C, H, W)`` with ``H = Y`` and ``W = X``. For DiffusionBlend++ the ``C = 3`` channels
    are three axial slices of one group, in increasing ``z``.

Input arrays
    Public entry points (operators, the solver, the baselines) accept ``torch.Tensor`` or
    ``numpy.ndarray`` input of any real floating-point dtype (float16, bfloat16, float32,
    float64) and any strides (``vol[::-1]`` included), convert it once to float32 (NumPy input
    lands on the CPU) and return float32 torch tensors. Integer, boolean and complex input is
    refused with a ``TypeError``, never cast silently; the command line applies the same rule
    to the ``.npy`` and TIFF files it reads. The helper is :func:`diffblend_astra.operators.inputs.as_input`.

Units
    Angles are radians (ASTRA); ASTRA ``ProjectionAngles`` beyond two full turns
    (``|θ| > 4π``) look like degrees and give a ``UserWarning`` that names the fix,
    ``np.deg2rad`` (:data:`diffblend_astra.operators.astra_geometry.DEGREES_THRESHOLD`). The solver works in the operator's physical units (for
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
