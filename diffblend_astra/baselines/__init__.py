"""Classical reconstructions in the same harness as the diffusion solver.

Each takes ``(operator, y, …)`` and returns a float32 volume of ``operator.domain_shape``.
"""

from .admm_tv import admm_tv
from .fbp import fbp
from .iterative import cgls, sirt

__all__ = ["admm_tv", "cgls", "fbp", "sirt"]
