import numpy as np
import pytest
import torch

from diffblend_astra.baselines import admm_tv, cgls, sirt
from helpers_operators import MatrixOperator, random_operator


def _rel_error(x, truth):
    return (torch.linalg.vector_norm(x - truth) / torch.linalg.vector_norm(truth)).item()


def _blocks(shape):
    """Piecewise-constant volume in [0, 1]: a box inside a box, with a bright bar."""
    z, y, x = shape
    volume = torch.zeros(shape)
    volume[:, y // 6: y - y // 6, x // 6: x - x // 6] = 0.5
    volume[z // 3: z - z // 3, y // 3: y - y // 3, x // 4: x // 2] = 1.0
    return volume


def _full_rank_problem():
    op = random_operator((2, 3, 4), (5, 12), seed=1)
    generator = torch.Generator().manual_seed(2)
    y = torch.randn(op.range_shape, generator=generator)
    least_squares = torch.linalg.lstsq(op.matrix.double(), y.double().reshape(-1, 1)).solution
    return op, y, least_squares.float().reshape(op.domain_shape)


def test_cgls_residual_decreases_to_least_squares_solution():
    op, y, least_squares = _full_rank_problem()
    residuals = []
    x = cgls(op, y, iterations=40,
             callback=lambda x, _: residuals.append(torch.linalg.vector_norm(op(x) - y).item()))
    assert x.shape == op.domain_shape and x.dtype == torch.float32
    assert all(b <= a * (1 + 1e-5) for a, b in zip(residuals, residuals[1:]))
    assert torch.allclose(x, least_squares, atol=1e-4)


def test_cgls_callback_stops_early_and_x0_is_used():
    op, y, least_squares = _full_rank_problem()
    calls = []
    cgls(op, y, iterations=40, callback=lambda x, it: calls.append(it) or it == 2)
    assert calls == [0, 1, 2]
    x = cgls(op, y, iterations=0, x0=least_squares)
    assert torch.equal(x, least_squares)


def test_sirt_converges_toward_solution():
    generator = torch.Generator().manual_seed(3)
    sparsity = torch.rand(60, 24, generator=generator) < 0.3
    matrix = torch.rand(60, 24, generator=generator) * sparsity    # non-negative, like a projector
    op = MatrixOperator(matrix, (2, 3, 4), (60,))
    truth = torch.rand(op.domain_shape, generator=generator)
    y = op(truth)
    errors = [_rel_error(sirt(op, y, iterations=n), truth) for n in (10, 100, 1000)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2
    clamped = sirt(op, y - 5.0, iterations=20, min_constraint=0.0, progress=True)
    assert clamped.min() >= 0


def test_admm_tv_beats_cgls_on_underdetermined_blocky_volume():
    op = random_operator((6, 8, 8), (200,), seed=4)
    truth = _blocks(op.domain_shape)
    y = op(truth)
    error_cgls = _rel_error(cgls(op, y, iterations=100), truth)
    x_tv = admm_tv(op, y, iterations=100)
    assert x_tv.shape == op.domain_shape and x_tv.dtype == torch.float32
    assert _rel_error(x_tv, truth) < 0.5 * error_cgls
    assert admm_tv(op, y, iterations=20, nonneg=True).min() >= 0


@pytest.mark.parametrize("method", [cgls, sirt, admm_tv])
def test_baselines_validate_measurement(method):
    op = random_operator((2, 3, 4), (5, 12), seed=5)
    with pytest.raises(ValueError, match=r"\(5, 12\)"):
        method(op, torch.zeros(5, 11), iterations=1)
    bad = torch.zeros(5, 12)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        method(op, bad, iterations=1)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        method(op, torch.zeros(5, 12), iterations=1, x0=torch.zeros(2, 3))


def _astra_operator(shape, views):
    operators = pytest.importorskip("diffblend_astra.operators")
    if not hasattr(operators, "as_operator"):
        pytest.skip("diffblend_astra.operators.as_operator is not available")
    import astra

    z, n, _ = shape
    angles = np.linspace(0, np.pi, views, endpoint=False)
    proj_geom = astra.create_proj_geom("parallel", 1.0, 3 * n // 2, angles)
    return operators.as_operator(proj_geom, astra.create_vol_geom(n, n), slices=z)


def test_admm_tv_beats_cgls_with_astra_sparse_view():
    op = _astra_operator((9, 32, 32), views=8)
    assert op.domain_shape == (9, 32, 32) and op.range_shape == (9, 8, 48)
    truth = _blocks(op.domain_shape)
    y = op(truth)
    error_cgls = _rel_error(cgls(op, y, iterations=30), truth)
    error_tv = _rel_error(admm_tv(op, y, iterations=20), truth)
    assert error_tv < 0.5 * error_cgls


def _astra_sirt(proj_geom, vol_geom, sinogram, iterations, options):
    """ASTRA's own CPU SIRT with ``options`` (``ReconstructionMask`` given as an array)."""
    import astra

    projector = astra.create_projector("linear", proj_geom, vol_geom)
    sino_id = astra.data2d.create("-sino", proj_geom, sinogram)
    vol_id = astra.data2d.create("-vol", vol_geom, 0)
    made = [sino_id, vol_id]
    options = dict(options)
    if "ReconstructionMask" in options:
        made.append(astra.data2d.create("-vol", vol_geom, options.pop("ReconstructionMask")))
        options["ReconstructionMaskId"] = made[-1]
    config = astra.astra_dict("SIRT")
    config.update(ProjectorId=projector, ProjectionDataId=sino_id, ReconstructionDataId=vol_id,
                  option=options)
    algorithm = astra.algorithm.create(config)
    astra.algorithm.run(algorithm, iterations)
    result = astra.data2d.get(vol_id)
    astra.algorithm.delete(algorithm)
    astra.data2d.delete(made)
    astra.projector.delete(projector)
    return torch.from_numpy(result)


@pytest.mark.parametrize("options", [
    {},
    {"MinConstraint": 0.0, "MaxConstraint": 0.8, "Relaxation": 1.5},
    {"ReconstructionMask": "disc", "MinConstraint": 0.1},
])
def test_sirt_matches_astra_sirt_with_its_options(options):
    import astra

    op = _astra_operator((1, 32, 32), views=20)
    proj_geom, vol_geom = op.astra_geometry
    truth = _blocks(op.domain_shape)
    y = op(truth) - 0.05                 # inconsistent data, so the constraints matter
    options = dict(options)
    kwargs = {"min_constraint": options.get("MinConstraint"),
              "max_constraint": options.get("MaxConstraint"),
              "relaxation": options.get("Relaxation", 1.0)}
    if options.get("ReconstructionMask") == "disc":
        c = np.arange(32) - 15.5
        disc = (c[:, None] ** 2 + c[None, :] ** 2 < 12.0**2).astype(np.float32)
        options["ReconstructionMask"] = disc
        kwargs["mask"] = disc[None]
    expected = _astra_sirt(proj_geom, vol_geom, y[0].numpy(), 15, options)
    x = sirt(op, y, iterations=15, **kwargs)
    assert _rel_error(x[0], expected) < 1e-4
    if "mask" in kwargs:
        assert torch.all(x[0][torch.from_numpy(kwargs["mask"][0]) == 0] == 0.1)
    with pytest.raises(ValueError, match="relaxation must be positive"):
        sirt(op, y, iterations=1, relaxation=0)


@pytest.mark.parametrize("method", [cgls, sirt, admm_tv])
def test_baselines_show_progress_on_request(method, capsys):
    op = random_operator((2, 3, 4), (5, 12), seed=6)
    y = torch.rand(5, 12, generator=torch.Generator().manual_seed(7))
    method(op, y, iterations=3, progress=True)
    assert "3/3" in capsys.readouterr().err
    method(op, y, iterations=3)
    assert capsys.readouterr().err == ""
