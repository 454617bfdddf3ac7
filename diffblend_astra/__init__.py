"""diffblend_astra — learned 3D diffusion priors for sparse-view and limited-angle CT.

Public names are imported lazily so that ``import diffblend_astra`` stays fast and never
fails because an optional library (tomosipo, nibabel, pydicom, tifffile) is missing.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "as_operator": "diffblend_astra.operators",
    "LinearOperator": "diffblend_astra.operators",
    "DiffusionBlendSolver": "diffblend_astra.solver",
    "BlendPrior": "diffblend_astra.priors",
    "ConditionalPrior": "diffblend_astra.priors",
    "SlicePrior": "diffblend_astra.priors",
    "PatchPrior": "diffblend_astra.priors",
    "load_checkpoint": "diffblend_astra.checkpoint",
    "save_checkpoint": "diffblend_astra.checkpoint",
    "load_bundled": "diffblend_astra.checkpoint",
    "load_prior": "diffblend_astra.checkpoint",
}

# Subpackages and modules reachable as attributes right after ``import diffblend_astra``
# (``dba.operators.sparse_view(...)``), imported on first use.
_MODULES = ("operators", "baselines", "metrics", "noise", "phantoms", "datasets", "io", "methods",
            "experiment", "figures", "train", "networks", "diffusion", "partition")

__all__ = sorted([*_PUBLIC, *_MODULES])


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    if name in _MODULES:
        return import_module(f"diffblend_astra.{name}")
    raise AttributeError(f"module 'diffblend_astra' has no attribute {name!r}")
