"""The method registry: every diffusion variant is the solver with its prior and data step."""

import inspect

import pytest
import torch

from diffblend_astra import baselines
from diffblend_astra.experiment import SCANS, make_case
from diffblend_astra.baselines.iterative import CGLS_ITERATIONS
from diffblend_astra.methods import DDS_TV_Z, METHODS, load_prior, run_method
from diffblend_astra.metrics import tv_z
from diffblend_astra.solver import DiffusionBlendSolver


def test_dbpp_is_the_blend_prior_with_a_tv_z_data_step_at_its_registry_settings():
    from diffblend_astra.methods import DIFFUSION

    spec = DIFFUSION["dbpp"]
    case = make_case(index=0, slices=9, **SCANS["parallel-8"])
    assert {"dbpp", "dbpp-cg"} <= set(METHODS)
    x = run_method("dbpp", case.operator, case.y, steps=4, seed=3)
    prior = load_prior("blend", partitions=spec.partitions)
    solver = DiffusionBlendSolver(case.operator, prior, steps=4, tv_z=DDS_TV_Z,
                                  start_timestep=spec.warm_start, eta=spec.eta)
    start = baselines.cgls(case.operator, case.y) if spec.warm_start else None
    assert torch.equal(x, solver.reconstruct(case.y, x_init=start, seed=3, progress=False))
    plain = run_method("dbpp-cg", case.operator, case.y, steps=4, seed=3)
    assert tv_z(x) < tv_z(plain)


def test_classical_methods_run_their_functions_defaults():
    case = make_case(index=0, slices=3, **SCANS["parallel-8"])
    for name, function in (("cgls", baselines.cgls), ("sirt", baselines.sirt)):
        assert torch.equal(run_method(name, case.operator, case.y), function(case.operator, case.y))
    assert inspect.signature(baselines.cgls).parameters["iterations"].default == CGLS_ITERATIONS


def test_misused_arguments_are_named_as_arguments():
    case = make_case(index=0, slices=3, **SCANS["parallel-8"])
    with pytest.raises(ValueError, match=r"^samples= applies to diffusion methods, not to 'cgls'"):
        run_method("cgls", case.operator, case.y, samples=2)
    with pytest.raises(ValueError, match=r"^'fbp-unet' takes no samples= or solver options"):
        run_method("fbp-unet", case.operator, case.y, samples=2)


def test_dds_iscs_is_the_slice_prior_with_cg_and_iscs_noise():
    from diffblend_astra.methods import DIFFUSION

    assert "dds-iscs" in METHODS and DIFFUSION["dds-iscs"].tv_z is None
    case = make_case(index=0, slices=9, **SCANS["parallel-8"])
    x = run_method("dds-iscs", case.operator, case.y, steps=3, seed=2)
    assert x.shape == (9, 64, 64) and torch.isfinite(x).all()
    spec = DIFFUSION["dds-iscs"]
    solver = DiffusionBlendSolver(case.operator, load_prior("slice"), steps=3, iscs=True,
                                  eta=spec.eta, start_timestep=spec.warm_start)
    start = baselines.cgls(case.operator, case.y) if spec.warm_start else None
    assert torch.equal(x, solver.reconstruct(case.y, x_init=start, seed=2, progress=False))
    assert not torch.allclose(x, run_method("dds2d", case.operator, case.y, steps=3, seed=2))
    with pytest.raises(ValueError, match="noise_correlation=0"):
        run_method("dds-iscs", case.operator, case.y, steps=3, noise_correlation=0.5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
@pytest.mark.parametrize("name", METHODS)
def test_every_method_refuses_a_device_it_cannot_use(name):
    case = make_case(index=0, slices=3, **SCANS["parallel-8"])
    with pytest.raises(ValueError, match=r"^device= cuda: .* no usable CUDA GPU"):
        run_method(name, case.operator, case.y, device="cuda")
    with pytest.raises(ValueError, match=r"^device= 'tpu' is not a torch device"):
        run_method(name, case.operator, case.y, device="tpu")


@pytest.mark.parametrize("name", ["fbp", "cgls", "dds2d"])
def test_a_result_never_carries_the_callers_graph(name):
    case = make_case(index=0, slices=3, **SCANS["parallel-8"])
    y = case.y.clone().requires_grad_(True)
    x = run_method(name, case.operator, y, steps=2)
    assert not x.requires_grad and x.grad_fn is None
    assert torch.equal(x, run_method(name, case.operator, case.y, steps=2))


def test_the_solver_detaches_its_inputs():
    case = make_case(index=0, slices=3, **SCANS["parallel-8"])
    solver = DiffusionBlendSolver(case.operator, load_prior("slice"), steps=2)
    y = case.y.clone().requires_grad_(True)
    x = solver.reconstruct(y, x_init=baselines.cgls(case.operator, y), seed=0, progress=False)
    assert x.grad_fn is None and not x.requires_grad
