"""``as_operator``: turn what a tomography user already has into a :class:`LinearOperator`."""

import sys

from .base import LinearOperator


def as_operator(source, vol_geom=None, *, projector=None, slices=None, workers=None,
                use_matrix=None) -> LinearOperator:
    """Adapt ``source`` to the :class:`LinearOperator` protocol.

    Accepted forms:

    * ``as_operator(proj_geom, vol_geom, projector=None, slices=None, workers=2,
      use_matrix=None)`` — an ASTRA
      geometry pair (see :func:`~.astra.astra_operator`): 2D geometries on CPU or CUDA,
      ``slices=Z`` for a ``(Z, Y, X)`` stack; 3D geometries on CUDA only.
    * an ``odl.Operator`` with an adjoint (e.g. ``odl.applications.tomo.RayTransform``),
      with ODL's own shapes and the adjoint rescaled to a plain transpose (:mod:`.odl`).
    * a tomosipo operator, or anything with ``domain_shape``, ``range_shape``, ``op(x)`` and
      ``op.T(y)`` on torch tensors (:mod:`.tomosipo`).
    * a :class:`LinearOperator`, returned as is.

    ``projector``, ``slices`` and ``workers`` apply to ASTRA geometries only. Raises
    ``TypeError`` for anything else and ``ValueError`` for an invalid ASTRA geometry.
    """
    if isinstance(source, dict) or vol_geom is not None:
        from .astra import astra_operator

        options = {} if workers is None else {"workers": workers}
        if use_matrix is not None:
            options["use_matrix"] = use_matrix
        return astra_operator(source, vol_geom, projector=projector, slices=slices, **options)
    given = {k: v for k, v in (("projector", projector), ("slices", slices), ("workers", workers),
                               ("use_matrix", use_matrix))
             if v is not None}
    if given:
        raise TypeError(f"{', '.join(given)} apply only to ASTRA geometries "
                        f"(as_operator(proj_geom, vol_geom, ...)), not to {type(source).__name__}")
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
                    f"ASTRA (proj_geom, vol_geom) pair of dicts, an odl.Operator, a tomosipo "
                    f"operator or a diffblend_astra LinearOperator")
