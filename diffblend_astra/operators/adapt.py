"""``as_operator``: turn what a tomography user already has into a :class:`LinearOperator`."""

import numbers
import sys

from .base import LinearOperator
from .cuda import cuda_usable
from .rtk_geometry import CONE_KINDS


def as_operator(source, vol_geom=None, *, projector=None, slices=None, workers=None,
                use_matrix=None, domain_shape=None, range_shape=None) -> LinearOperator:
    """Adapt ``source`` to the :class:`LinearOperator` protocol.

    Accepted forms:

    * ``as_operator(proj_geom, vol_geom, projector=None, slices=None, workers=2,
      use_matrix=None)`` — an ASTRA
      geometry pair (see :func:`~.astra.astra_operator`): 2D geometries on CPU or CUDA,
      ``slices=Z`` for a ``(Z, Y, X)`` stack; 3D geometries on CUDA, and without a usable
      CUDA GPU the cone beams (``cone``, ``cone_vec``) on CPU through RTK
      (:func:`~.rtk.rtk_cone_operator`; the optional extra ``rtk``).
    * an ASTRA projector id (``astra.create_projector(...)``) or an ``astra.OpTomo``, with
      ``slices`` and ``workers`` as above: the operator of that projector's geometry and type
      (:mod:`.astra_projector`).
    * a SciPy sparse matrix ``W`` ``(rays, pixels)``, such as ASTRA's
      ``astra.matrix.get(astra.projector.matrix(pid))``, with optional ``domain_shape`` and
      ``range_shape`` of one image and projection (default flat) and ``slices``
      (:class:`~.scipy_interop.SparseMatrixOperator`).
    * an ``odl.Operator`` with an adjoint (e.g. ``odl.applications.tomo.RayTransform``),
      with ODL's own shapes and the adjoint rescaled to a plain transpose (:mod:`.odl`).
    * a tomosipo operator, or anything with ``domain_shape``, ``range_shape``, ``op(x)`` and
      ``op.T(y)`` on torch tensors (:mod:`.tomosipo`).
    * a :class:`LinearOperator`, returned as is.

    Raises ``TypeError`` for anything else or for options the form does not take, and
    ``ValueError`` for an invalid ASTRA geometry or projector.
    """
    options = {k: v for k, v in (("projector", projector), ("slices", slices),
                                 ("workers", workers), ("use_matrix", use_matrix),
                                 ("domain_shape", domain_shape), ("range_shape", range_shape))
               if v is not None}
    if isinstance(source, dict) and source.get("type") in CONE_KINDS and not cuda_usable():
        from .rtk import rtk_cone_operator

        _only(options, (), "ASTRA cone-beam geometries projected by RTK (no usable CUDA GPU)")
        return rtk_cone_operator(source, vol_geom)
    if isinstance(source, dict) or vol_geom is not None:
        from .astra import astra_operator

        _only(options, ("projector", "slices", "workers", "use_matrix"), "ASTRA geometries")
        return astra_operator(source, vol_geom, **options)
    astra = sys.modules.get("astra")     # an ASTRA object implies ASTRA is already imported
    if astra is not None and isinstance(source, astra.OpTomo):
        source = source.proj_id
    if isinstance(source, numbers.Integral) and not isinstance(source, bool):
        from .astra_projector import projector_operator

        _only(options, ("slices", "workers"), "ASTRA projector ids")
        return projector_operator(int(source), **options)
    scipy_sparse = sys.modules.get("scipy.sparse")
    if scipy_sparse is not None and scipy_sparse.issparse(source):
        from .scipy_interop import SparseMatrixOperator

        _only(options, ("slices", "domain_shape", "range_shape"), "sparse matrices")
        return SparseMatrixOperator(source, **options)
    _only(options, (), type(source).__name__)
    if isinstance(source, LinearOperator):
        return source
    odl = sys.modules.get("odl")        # an ODL operator implies ODL is already imported
    if odl is not None and isinstance(source, odl.Operator):
        from .odl import OdlOperator

        return OdlOperator(source)
    if callable(source) and all(hasattr(source, name)
                                for name in ("domain_shape", "range_shape", "T")):
        from .tomosipo import TomosipoOperator

        return TomosipoOperator(source)
    raise TypeError(f"cannot make a linear operator from {type(source).__name__}: expected an "
                    f"ASTRA (proj_geom, vol_geom) pair of dicts, an ASTRA projector id or "
                    f"astra.OpTomo, a SciPy sparse matrix, an odl.Operator, a tomosipo "
                    f"operator or a diffblend_astra LinearOperator")


def _only(options, allowed, form):
    """Raise ``TypeError`` if ``options`` holds a keyword that ``form`` does not take."""
    extra = [name for name in options if name not in allowed]
    if extra:
        raise TypeError(f"{', '.join(extra)} apply only to ASTRA geometries, projector ids or "
                        f"sparse matrices that take them, not to {form} (which takes "
                        f"{', '.join(allowed) or 'no options'})")
