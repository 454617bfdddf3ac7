"""ASTRA adapters: 2D geometries slice by slice on CPU or CUDA; 3D geometries on CUDA.

On CPU, a 2D geometry whose sparse system matrix is small enough
(:func:`~.astra_matrix.matrix_fits`) projects a whole stack with one sparse product through
ASTRA's own matrix of the same projector (:mod:`.astra_matrix`): the same numbers, without
ASTRA's per-slice call overhead. Otherwise, and on CUDA, both use ASTRA's direct, zero-copy
calls on torch tensors (``astra.experimental.direct_FP2D`` and friends), which write into a
pre-allocated output and release the GIL. Projector objects
are created once per operator and device, and deleted when the operator is garbage-collected;
no ASTRA data objects are created, so repeated calls allocate nothing inside ASTRA.

Adjointness: the CPU projectors of :data:`~.astra_geometry.CPU_PROJECTORS` back-project with
the exact transpose. ASTRA's CUDA back-projectors (2D ``cuda``, 3D ``cuda3d``) are
voxel-driven and only approximately the transpose of their forward projectors.
"""

import copy
import functools
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import astra
import torch
from astra.experimental import direct_BP2D, direct_BP3D, direct_FP2D, direct_FP3D

from .astra_geometry import (CPU_PROJECTORS, check_geometry_pair, default_projector,
                             projection_shape, volume_shape, voxel_size, warn_if_degrees)
from .astra_matrix import matrix_fits, system_matrix
from .base import LinearOperator
from .cuda import cuda_usable, require_cuda, synchronized


def astra_operator(proj_geom, vol_geom, *, projector=None, slices=None, workers=2,
                   use_matrix=None):
    """A :class:`LinearOperator` for an ASTRA geometry pair.

    Args:
        proj_geom: ASTRA projection geometry (``astra.create_proj_geom``); 2D types
            ``parallel``, ``parallel_vec``, ``fanflat``, ``fanflat_vec`` or 3D types
            ``parallel3d``, ``parallel3d_vec``, ``cone``, ``cone_vec``.
        vol_geom: matching 2D or 3D ASTRA volume geometry; its window sets the voxel size.
        projector: 2D only, the CPU projector type (see
            :data:`~.astra_geometry.CPU_PROJECTORS`; default ``linear`` for parallel beams,
            ``line_fanflat`` for fan beams). CUDA tensors always use ASTRA's ``cuda``
            projector.
        slices: 2D only. ``None``: the operator maps one slice ``(Y, X) → (angles, det)``.
            An int ``Z``: it maps a stack ``(Z, Y, X) → (Z, angles, det)``, each axial slice
            projected with the same 2D geometry.
        workers: 2D only, threads that project the slices of a stack on CPU (when the
            system matrix is too large to be used).
        use_matrix: 2D only; ``None`` (default) uses the sparse system matrix on CPU when it
            fits in memory, ``False`` always projects slice by slice with direct calls.

    3D geometries map ``(Z, Y, X) → (det_rows, angles, det_cols)`` and need a usable CUDA
    GPU (checked here, so a CPU-only machine gets a ``RuntimeError``, not a crash).
    Angles that look like degrees give a ``UserWarning``
    (:data:`~.astra_geometry.DEGREES_THRESHOLD`).
    """
    dim = check_geometry_pair(proj_geom, vol_geom)
    warn_if_degrees(proj_geom, stacklevel=3)
    if dim == 2:
        return AstraOperator2D(proj_geom, vol_geom, projector=projector, slices=slices,
                               workers=workers, use_matrix=use_matrix)
    for name, value in (("projector", projector), ("slices", slices)):
        if value is not None:
            raise ValueError(f"{name}= applies to 2D geometries only; {proj_geom['type']!r} is "
                             f"3D (its vol_geom already sets the slices), got {name}={value!r}")
    return AstraOperator3D(proj_geom, vol_geom)


class _AstraOperator(LinearOperator):
    """Shared machinery: the geometry, one projector per device (made on first use, deleted
    with the operator), output buffers. Copies and pickles rebuild the operator from its
    geometry (``__reduce__``), so each owns its projectors: an ASTRA id is valid only in the
    process that made it, and only until its owner deletes it."""

    _fp = _bp = None        # ASTRA direct call (projector_id, volume, projection)

    def __init__(self, proj_geom, vol_geom, domain_shape, range_shape):
        super().__init__(domain_shape, range_shape)
        self.astra_geometry = (copy.deepcopy(proj_geom), copy.deepcopy(vol_geom))
        self._projectors = {}

    def _forward(self, x):
        out = x.new_empty(self.range_shape)
        self._project(self._fp, x, out)
        return out

    def _adjoint(self, y):
        out = y.new_empty(self.domain_shape)
        self._project(self._bp, out, y)
        return out

    def _projector(self, device: torch.device) -> int:
        key = (device.type, device.index)
        if key not in self._projectors:
            pid, delete = self._create_projector(device)
            weakref.finalize(self, delete, pid).atexit = False
            self._projectors[key] = pid
        return self._projectors[key]


class AstraOperator2D(_AstraOperator):
    """2D ASTRA geometry applied to one slice or, slice by slice, to a stack (see
    :func:`astra_operator`). CPU tensors use the CPU projector; a stack is split into
    ``workers`` contiguous chunks projected in parallel threads. The threads share one
    projector: each direct call builds its own ASTRA algorithm around it and only reads it,
    so results are bitwise identical to a serial loop."""

    _fp, _bp = staticmethod(direct_FP2D), staticmethod(direct_BP2D)

    def __init__(self, proj_geom, vol_geom, *, projector=None, slices=None, workers=2,
                 use_matrix=None):
        _check_dimension(proj_geom, vol_geom, 2)
        kind = proj_geom["type"]
        self.projector = default_projector(kind) if projector is None else projector
        if self.projector not in CPU_PROJECTORS[kind]:
            raise ValueError(f"projector {self.projector!r} does not support {kind!r} geometries; "
                             f"choose one of {CPU_PROJECTORS[kind]}")
        pixel_y, pixel_x = voxel_size(vol_geom)
        if abs(pixel_y - pixel_x) > 1e-6 * pixel_x:
            raise ValueError(f"ASTRA's 2D projectors need square pixels; the vol_geom window gives "
                             f"{pixel_y} (Y) x {pixel_x} (X)")
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        stack = () if slices is None else (_slice_count(slices),)
        super().__init__(proj_geom, vol_geom, stack + volume_shape(vol_geom),
                         stack + projection_shape(proj_geom))
        self.workers = workers
        self.use_matrix = (matrix_fits(proj_geom, vol_geom, self.projector) if use_matrix is None
                           else use_matrix)
        self._projector(torch.device("cpu"))

    def _forward(self, x):
        if self.use_matrix and not x.is_cuda:
            return self._matrix().forward(x.reshape((-1,) + x.shape[-2:])).reshape(
                self.range_shape)
        return super()._forward(x)

    def _adjoint(self, y):
        if self.use_matrix and not y.is_cuda:
            return self._matrix().adjoint(y.reshape((-1,) + y.shape[-2:])).reshape(
                self.domain_shape)
        return super()._adjoint(y)

    def _matrix(self):
        return system_matrix(*self.astra_geometry, self.projector)

    def device_ok(self, device) -> bool:
        return torch.device(device).type == "cpu" or cuda_usable()

    def __reduce__(self):
        slices = self.domain_shape[0] if len(self.domain_shape) == 3 else None
        rebuild = functools.partial(AstraOperator2D, projector=self.projector, slices=slices,
                                    workers=self.workers, use_matrix=self.use_matrix)
        return rebuild, self.astra_geometry

    def _create_projector(self, device):
        proj_geom, vol_geom = self.astra_geometry
        if device.type == "cuda":
            require_cuda(f"projecting CUDA tensors with the {proj_geom['type']!r} geometry")
            return (astra.create_projector("cuda", proj_geom, vol_geom, {"GPUIndex": device.index}),
                    astra.projector.delete)
        try:
            pid = astra.create_projector(self.projector, proj_geom, vol_geom)
        except astra.log.AstraError as error:
            raise ValueError(f"ASTRA rejected projector {self.projector!r} for this "
                             f"{proj_geom['type']!r} geometry: {error}") from None
        return pid, astra.projector.delete

    def _project(self, call, vol, proj):
        pid = self._projector(vol.device)
        if vol.dim() == 2:
            vol, proj = vol[None], proj[None]

        def run(zs):
            for z in zs:
                call(pid, vol[z], proj[z])

        if vol.is_cuda or self.workers == 1 or len(vol) == 1:
            with synchronized(vol.device):
                run(range(len(vol)))
        else:
            chunks = [c.tolist() for c in torch.arange(len(vol)).tensor_split(self.workers)]
            list(_pool(self.workers, os.getpid()).map(run, chunks))

    def __repr__(self):
        return (f"AstraOperator2D(kind={self.astra_geometry[0]['type']!r}, "
                f"projector={self.projector!r}, domain_shape={self.domain_shape}, "
                f"range_shape={self.range_shape})")


class AstraOperator3D(_AstraOperator):
    """3D ASTRA geometry on CUDA: ``(Z, Y, X) → (det_rows, angles, det_cols)``. Tensors may
    live on a CUDA device (zero-copy) or on the CPU (ASTRA copies them to the GPU)."""

    _fp, _bp = staticmethod(direct_FP3D), staticmethod(direct_BP3D)

    def __init__(self, proj_geom, vol_geom):
        _check_dimension(proj_geom, vol_geom, 3)
        require_cuda(f"the 3D ASTRA geometry {proj_geom['type']!r}")
        super().__init__(proj_geom, vol_geom, volume_shape(vol_geom), projection_shape(proj_geom))

    def __reduce__(self):
        return AstraOperator3D, self.astra_geometry

    def _create_projector(self, device):
        proj_geom, vol_geom = self.astra_geometry
        index = device.index if device.type == "cuda" else torch.cuda.current_device()
        return (astra.create_projector("cuda3d", proj_geom, vol_geom, {"GPUIndex": index}),
                astra.projector3d.delete)

    def _project(self, call, vol, proj):
        pid = self._projector(vol.device)
        with synchronized(vol.device):
            call(pid, vol, proj)

    def __repr__(self):
        return (f"AstraOperator3D(kind={self.astra_geometry[0]['type']!r}, "
                f"domain_shape={self.domain_shape}, range_shape={self.range_shape})")


@functools.cache
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """A thread pool per worker count and process: a forked child (e.g. a DataLoader worker)
    inherits the parent's pool object but not its threads, so it gets a pool of its own."""
    return ThreadPoolExecutor(workers, thread_name_prefix="astra2d")


def _check_dimension(proj_geom, vol_geom, dim):
    if check_geometry_pair(proj_geom, vol_geom) != dim:
        raise ValueError(f"{proj_geom['type']!r} is not a {dim}D geometry; use astra_operator()")


def _slice_count(slices):
    if not isinstance(slices, int) or isinstance(slices, bool) or slices < 1:
        raise ValueError(f"slices must be None (one 2D slice) or a positive int Z (a (Z, Y, X) "
                         f"stack), got {slices!r}")
    return slices
