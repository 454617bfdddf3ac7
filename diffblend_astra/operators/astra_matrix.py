"""ASTRA's 2D CPU projector as a sparse system matrix: a whole stack in one multiply.

ASTRA's direct 2D calls cost a few milliseconds each, whatever the slice size, so projecting a
``(Z, Y, X)`` stack slice by slice is dominated by per-call overhead (about 1 s for 64 slices
of 64² at 8 views). ASTRA can also hand out the projector's own sparse matrix ``W``
(``astra.projector.matrix``); with it the forward of a whole stack is one sparse × dense
product ``W X`` and the adjoint is the exact transpose ``Wᵀ Y`` — the same numbers as
``astra.create_sino`` to float32 rounding, hundreds of times faster on small slices.

The matrix is built once per geometry and projector (cached); :func:`matrix_fits` says
whether it is small enough to hold in memory.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import torch

from .astra_geometry import projection_shape, volume_shape

MAX_NONZEROS = 20_000_000
"""Largest estimated number of non-zeros of a cached matrix (about 250 MB with its
transpose); larger geometries are projected slice by slice instead."""


WRONG_MATRIX = {("parallel_vec", "distance_driven")}
"""(geometry, projector) pairs whose exported matrix does not match ASTRA's own forward
projection (ASTRA 2.5); they are always projected slice by slice."""


def matrix_fits(proj_geom: dict, vol_geom: dict, projector: str) -> bool:
    """Whether the system matrix of this 2D geometry and projector can stand in for the
    direct calls: it matches them and stays under :data:`MAX_NONZEROS` (a ray crosses at
    most ``2·max(Y, X)`` pixels)."""
    if (proj_geom["type"], projector) in WRONG_MATRIX:
        return False
    rays = math.prod(projection_shape(proj_geom))
    return rays * 2 * max(vol_geom["GridRowCount"], vol_geom["GridColCount"]) <= MAX_NONZEROS


class SystemMatrix:
    """``W`` ``(rays, pixels)`` and ``Wᵀ`` as float32 SciPy CSR matrices (CPU).

    SciPy's CSR × dense product is used rather than torch's sparse CSR one, which was about
    ten times slower for these shapes on CPU (torch 2.13).
    """

    def __init__(self, matrix, range_shape: tuple[int, int], image_shape: tuple[int, int]):
        self.range_shape = range_shape
        self.image_shape = image_shape
        self.forward_matrix = matrix
        self.adjoint_matrix = matrix.T.tocsr()

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """``(Z, Y, X)`` → ``(Z, angles, det)``."""
        return _apply(self.forward_matrix, volume, self.range_shape)

    def adjoint(self, sinograms: torch.Tensor) -> torch.Tensor:
        """``(Z, angles, det)`` → ``(Z, Y, X)``."""
        return _apply(self.adjoint_matrix, sinograms, self.image_shape)


def system_matrix(proj_geom: dict, vol_geom: dict, projector: str) -> SystemMatrix:
    """The (cached) system matrix of ASTRA's CPU ``projector`` for a 2D geometry pair."""
    return _cached(_key(proj_geom), _key(vol_geom), projector)


@functools.lru_cache(maxsize=8)
def _cached(proj_key: str, vol_key: str, projector: str) -> SystemMatrix:
    import astra

    proj_geom, vol_geom = _from_key(proj_key), _from_key(vol_key)
    pid = astra.create_projector(projector, proj_geom, vol_geom)
    try:
        mid = astra.projector.matrix(pid)
        try:
            matrix = astra.matrix.get(mid).astype(np.float32).tocsr()
        finally:
            astra.matrix.delete(mid)
    finally:
        astra.projector.delete(pid)
    return SystemMatrix(matrix, projection_shape(proj_geom), volume_shape(vol_geom))


def _apply(matrix, stack: torch.Tensor, out_shape: tuple[int, int]) -> torch.Tensor:
    """``matrix`` applied to every slice of ``stack`` ``(Z, ...)``: ``(Z,) + out_shape``."""
    flat = stack.detach().reshape(stack.shape[0], -1).numpy()
    out = np.ascontiguousarray((matrix @ flat.T).T, dtype=np.float32)
    return torch.from_numpy(out).reshape((stack.shape[0],) + out_shape)


def _key(geom: dict) -> str:
    """A hashable, exact text form of an ASTRA geometry dict (arrays as lists)."""
    return json.dumps(geom, sort_keys=True, default=lambda a: np.asarray(a).tolist())


def _from_key(key: str) -> dict:
    geom = json.loads(key)
    for name in ("ProjectionAngles", "Vectors"):
        if name in geom:
            geom[name] = np.asarray(geom[name], dtype=np.float64)
    return geom
