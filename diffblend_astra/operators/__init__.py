"""Linear operators: one protocol and adapters for ASTRA, ODL and tomosipo.

``as_operator(...)`` builds a :class:`LinearOperator` from ASTRA geometry dicts, an ASTRA
projector id or ``astra.OpTomo``, a SciPy sparse matrix, an ODL operator or a tomosipo
operator; the geometry helpers build ASTRA dicts for common set-ups, and
``parallel3d_to_stack`` turns a circular ``parallel3d`` geometry into 2D slices for CPU use.
Adapters import their library only when used.
"""

from .adapt import as_operator
from .base import LinearOperator
from .geometry import cone_beam, fan_beam, limited_angle, parallel_beam, sparse_view
from .geometry_io import load_geometry, save_geometry
from .parallel3d import parallel3d_to_stack
from .stack import SliceStack, stack_slices

__all__ = ["LinearOperator", "as_operator", "cone_beam", "fan_beam", "limited_angle",
           "load_geometry", "parallel3d_to_stack", "parallel_beam", "save_geometry",
           "SliceStack", "sparse_view", "stack_slices"]
