"""The scripts in ``examples/``, each run as a user runs it, in quick mode (STYLE.md, 12).

CPU examples must exit 0 and print their results (the cone-beam one projects through RTK
without a GPU). The CUDA-only examples must, without a usable GPU, exit with status 3 and say
"needs CUDA" before touching ASTRA's 3D code; with a GPU they run in quick mode and must
succeed (the tomosipo one says "needs tomosipo" and exits 3 when tomosipo is missing). Every
script runs in a subprocess with ``sys.executable``, from an empty folder that it must leave
empty, with one torch thread (``OMP_NUM_THREADS=1``): the quick modes are small, and two
threads spin against each other on a busy machine.
"""

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT_S = 600
"""Per script; a quick mode takes seconds on 2 free cores, this only guards against a hang."""
NEEDS_CUDA = 3
"""Exit status of a CUDA-only example without a usable GPU (see their docstrings)."""

RESULT_ROW = r"^DiffusionBlend\+\+.*\d+\.\d+ +\d\.\d{4}"
"""A table row of DiffusionBlend++ with a PSNR and an SSIM."""

CPU_EXAMPLES = {
    "astra_2d.py --beam parallel": ["sparse-view: 8 views over 180", "limited-angle: 90 views",
                                    r"\(9, 8, 96\)", RESULT_ROW],
    "astra_2d.py --beam fan": ["sparse-view: 8 views over 360", "limited-angle: 90 views",
                               r"\(9, 8, 96\)", RESULT_ROW],
    "odl_operator.py": [r"domain_shape \(64, 64\) \(x, y\)", r"domain_shape \(9, 64, 64\)",
                        RESULT_ROW],
    "train_on_your_volumes.py": [r"read patient_\d+_dicom: \(12, 64, 64\)",
                                 r"trained 4 steps", r"^DiffusionBlend\+\+ \(your checkpoint\)"],
    "astra_cone.py": ["cone, sparse-view", "cone_vec, limited-angle", r"\(14, 90, 96\)",
                      RESULT_ROW],
}
CUDA_EXAMPLES = {
    "tomosipo_operator.py": ["sparse-view: 8 views", "limited-angle: 90 views", RESULT_ROW],
}


def run_example(run, folder):
    """Run ``run`` (a script's name, then its options) in quick mode."""
    name, *options = run.split()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *options, "--quick"],
                          cwd=folder, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def assert_printed(result, patterns):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-4000:]}"
    for pattern in patterns:
        assert re.search(pattern, result.stdout, re.MULTILINE), \
            f"{pattern!r} not in the output:\n{result.stdout}"


def test_every_example_is_tested_and_says_how_to_run_it():
    scripts = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert scripts == sorted({run.split()[0] for run in {**CPU_EXAMPLES, **CUDA_EXAMPLES}})
    for name in scripts:
        doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text()))
        assert doc and f"python examples/{name} --quick" in doc, name
    for run in {**CPU_EXAMPLES, **CUDA_EXAMPLES}:
        name, *options = run.split()
        if options:
            doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text()))
            assert all(option in doc for option in options), run


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CPU_EXAMPLES))
def test_cpu_example_runs_in_quick_mode(name, tmp_path):
    result = run_example(name, tmp_path)
    assert_printed(result, CPU_EXAMPLES[name])
    assert not any(tmp_path.iterdir()), "the example left files in its working folder"


@pytest.mark.parametrize("name", sorted(CUDA_EXAMPLES))
def test_cuda_example_needs_cuda_or_runs(name, tmp_path):
    from diffblend_astra.operators.cuda import cuda_usable

    result = run_example(name, tmp_path)
    if not cuda_usable():
        assert result.returncode == NEEDS_CUDA, result.stderr[-4000:]
        assert "needs CUDA" in result.stderr
    elif name == "tomosipo_operator.py" and importlib.util.find_spec("tomosipo") is None:
        assert result.returncode == NEEDS_CUDA, result.stderr[-4000:]
        assert "needs tomosipo" in result.stderr
    else:
        assert_printed(result, CUDA_EXAMPLES[name])


def test_cone_example_geometries_are_valid_astra_geometries():
    """The cone example's geometry code, checked on CPU without any ASTRA 3D call."""
    from diffblend_astra.operators.astra_geometry import (check_geometry_pair,
                                                          projection_shape, volume_shape)

    spec = importlib.util.spec_from_file_location("astra_cone", EXAMPLES / "astra_cone.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scans, vol_geom = module.your_geometries(9)
    assert volume_shape(vol_geom) == (9, 64, 64)
    kinds = {}
    for proj_geom, _ in scans.values():
        assert check_geometry_pair(proj_geom, vol_geom) == 3
        kinds[proj_geom["type"]] = projection_shape(proj_geom)
    assert kinds == {"cone": (14, 8, 96), "cone_vec": (14, 90, 96)}
