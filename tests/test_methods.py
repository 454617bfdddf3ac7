"""The method registry: every diffusion variant is the solver with its prior and data step."""

import torch

from diffblend_astra.experiment import SCANS, make_case
from diffblend_astra.methods import DDS_TV_Z, METHODS, load_prior, run_method
from diffblend_astra.metrics import tv_z
from diffblend_astra.solver import DiffusionBlendSolver


def test_dbpp_is_the_blend_prior_with_a_tv_z_data_step():
    case = make_case(index=0, slices=9, **SCANS["parallel-8"])
    assert {"dbpp", "dbpp-cg"} <= set(METHODS)
    x = run_method("dbpp", case.operator, case.y, steps=4, seed=3)
    solver = DiffusionBlendSolver(case.operator, load_prior("blend"), steps=4, tv_z=DDS_TV_Z)
    assert torch.equal(x, solver.reconstruct(case.y, seed=3, progress=False))
    plain = run_method("dbpp-cg", case.operator, case.y, steps=4, seed=3)
    assert tv_z(x) < tv_z(plain)
