"""The GPU acceptance kit (benchmarks/gpu): its dry run on CPU, and its run without a GPU.

The dry run needs no GPU, no network and no wheels: without a wheel folder it checks the plan
of wheels.txt and exits 3; with one (here, fake wheels holding only their METADATA) it exits
0; whatever is missing makes it exit 1 and name it.
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

KIT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu"
ACCEPTANCE = KIT / "acceptance.py"
STAGES = ("probe", "pytest-cuda", "operators", "example-cone", "example-tomosipo", "speed",
          "train")

sys.path.insert(0, str(KIT))
from requirements import read_plan, read_wheels  # noqa: E402


def acceptance(*args, cwd=None):
    return subprocess.run([sys.executable, str(ACCEPTANCE), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def fake_wheel(folder, name, version, requires=()):
    """A wheel file holding only its METADATA: what the dry run reads."""
    stem = f"{name.replace('-', '_')}-{version}"
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                        *(f"Requires-Dist: {r}\n" for r in requires)])
    with zipfile.ZipFile(folder / f"{stem}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{stem}.dist-info/METADATA", metadata + "\n")


@pytest.fixture
def wheels(tmp_path):
    """A folder with one fake wheel for every pin of wheels.txt."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for name, (version, requires) in read_plan(KIT / "wheels.txt").items():
        fake_wheel(folder, name, version, requires)
    return folder


def test_dry_run_without_wheels_checks_the_plan_and_says_the_folder_is_absent(tmp_path):
    result = acceptance("--dry-run", "--wheels", tmp_path / "absent")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "wheel folder" in result.stdout and "is absent" in result.stdout
    assert "PROBLEM" not in result.stdout
    for words in STAGES + ("python -m pytest -m cuda", "python benchmarks/speed.py --gpu",
                           "python examples/astra_cone.py --quick"):
        assert words in result.stdout, words


def test_dry_run_with_every_wheel_is_ready(wheels):
    result = acceptance("--dry-run", "--wheels", wheels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready to run" in result.stdout
    assert "nvidia-cufft-cu12 stood in for by cufft_shim/" in result.stdout


@pytest.mark.parametrize("edit, message", [
    (lambda lines: [l for l in lines if l.split()[:1] != ["scipy"]],
     "nothing provides scipy"),
    (lambda lines: [l for l in lines if l.split()[:1] != ["numpy"]] + ["numpy 2.0.0"],
     "version conflict: numpy>=2.3 (needed by odl): 2.0.0"),
])
def test_dry_run_names_what_the_machine_lacks(tmp_path, wheels, edit, message):
    packages = tmp_path / "packages.txt"
    packages.write_text("\n".join(edit((KIT / "machine_packages.txt").read_text().splitlines())))
    result = acceptance("--dry-run", "--wheels", wheels, "--packages", packages)
    assert result.returncode == 1, result.stdout
    assert message in result.stdout


def test_dry_run_refuses_two_versions_of_a_wheel_and_an_unpinned_one(wheels):
    fake_wheel(wheels, "odl", "0.9.0")
    (next(wheels.glob("diffusers-*.whl"))).unlink()
    result = acceptance("--dry-run", "--wheels", wheels)
    assert result.returncode == 1, result.stdout
    assert "two wheels of odl" in result.stdout
    assert "wheel diffusers==0.42.1 of wheels.txt is not in" in result.stdout


def test_unknown_stage_is_a_usage_error():
    result = acceptance("--dry-run", "--stages", "probe,nonsense")
    assert result.returncode == 2 and "unknown stage(s) nonsense" in result.stderr


def test_downloaded_wheels_match_the_plan():
    folder = Path(__file__).resolve().parents[1] / ".gpu" / "wheels"
    if not any(folder.glob("*.whl")):
        pytest.skip("no downloaded wheels (benchmarks/gpu/prepare.py)")
    carried, problems = read_wheels(folder)
    assert not problems
    for name, (version, requires) in read_plan(KIT / "wheels.txt").items():
        assert carried[name][0] == version
        assert [r for r in carried[name][1] if "extra ==" not in r] == requires, name


@pytest.mark.skipif(torch.cuda.is_available(), reason="the probe passes on a GPU")
def test_run_without_a_gpu_records_the_failed_probe(tmp_path):
    out = tmp_path / "out"
    result = acceptance("--stages", "probe", "--wheels", tmp_path / "absent", "--out", out,
                        cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["finished"] and [s["name"] for s in results["stages"]] == ["probe"]
    assert results["stages"][0]["status"] == "failed"
    assert "sees no CUDA device" in (out / "log.txt").read_text()
