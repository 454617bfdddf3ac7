"""Linear operators: one protocol and adapters for ASTRA, ODL, tomosipo and RTK.

``as_operator(...)`` builds a :class:`LinearOperator` from ASTRA geometry dicts, an ASTRA
projector id or ``astra.OpTomo``, a SciPy sparse matrix, an ODL operator or a tomosipo
operator; the geometry helpers build ASTRA dicts for common set-ups, and
``parallel3d_to_stack`` turns a circular ``parallel3d`` geometry into 2D slices for CPU use.
Cone beams run on the CPU through RTK: ``as_operator`` of a ``cone`` / ``cone_vec`` geometry
without CUDA, or :class:`RtkConeOperator` of an RTK geometry and two :class:`ImageGrid`
(``load_rtk_setup`` / ``save_rtk_setup`` for its files). Adapters import their library only
when used.
"""

from .adapt import as_operator
from .base import LinearOperator
from .geometry import cone_beam, fan_beam, limited_angle, parallel_beam, sparse_view
from .geometry_io import load_geometry, save_geometry
from .parallel3d import parallel3d_to_stack
from .rtk import RtkConeOperator, rtk_cone_operator
from .rtk_geometry import ImageGrid
from .rtk_io import load_rtk_setup, save_rtk_setup
from .stack import SliceStack, stack_slices

__all__ = ["ImageGrid", "LinearOperator", "RtkConeOperator", "as_operator", "cone_beam",
           "fan_beam", "limited_angle", "load_geometry", "load_rtk_setup", "parallel3d_to_stack",
           "parallel_beam", "rtk_cone_operator", "save_geometry", "save_rtk_setup", "SliceStack",
           "sparse_view", "stack_slices"]
