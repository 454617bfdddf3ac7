"""Cone beams on the command line without a GPU: an ASTRA ``cone`` geometry file and an RTK
set-up (RTK's XML geometry and the two grids), simulated and reconstructed with DB++ and FDK."""

import json
import subprocess
import sys

import numpy as np
import pytest

from diffblend_astra.operators import as_operator, cone_beam, save_geometry
from diffblend_astra.operators.cuda import cuda_usable
from diffblend_astra.operators.rtk_io import load_rtk_setup, save_rtk_setup
from diffblend_astra.phantoms import held_out_seeds, phantom_volume

from test_commands import assert_one_line_failure, cli

pytestmark = pytest.mark.skipif(cuda_usable(), reason="checks the CPU path (ASTRA takes cone "
                                                      "beams itself on a GPU)")


@pytest.fixture
def cone_scan(tmp_path):
    """A held-out 9 × 64 × 64 phantom and an ASTRA ``cone`` geometry file of 8 views."""
    np.save(tmp_path / "volume.npy", phantom_volume(held_out_seeds(1)[0], (9, 64, 64)))
    save_geometry(tmp_path / "cone.json", *cone_beam(shape=(9, 64, 64), views=8))
    return tmp_path


def volume_psnr(scan, recon):
    done = cli("evaluate", scan / "volume.npy", recon, "--data-range", 0, 1,
               "--json", scan / "m.json")
    assert done.returncode == 0, done.stderr
    return json.loads((scan / "m.json").read_text())[str(recon)]["volume"]["psnr"]


@pytest.mark.slow
def test_astra_cone_geometry_simulates_and_reconstructs_with_dbpp(cone_scan):
    done = cli("simulate", cone_scan / "volume.npy", cone_scan / "cone.json",
               "--out", cone_scan / "sino.npy")
    assert done.returncode == 0, done.stderr
    assert np.load(cone_scan / "sino.npy").shape == (14, 8, 96)
    for method in ("fbp", "dbpp"):
        done = cli("reconstruct", cone_scan / "sino.npy", cone_scan / "cone.json", "--out",
                   cone_scan / f"{method}.npy", "--method", method, "--steps", "6")
        assert done.returncode == 0, done.stderr
        assert np.load(cone_scan / f"{method}.npy").shape == (9, 64, 64)
    assert volume_psnr(cone_scan, cone_scan / "dbpp.npy") > \
        volume_psnr(cone_scan, cone_scan / "fbp.npy") + 3


@pytest.mark.slow
def test_rtk_setup_reconstructs_with_dbpp(cone_scan):
    op = as_operator(*cone_beam(shape=(9, 64, 64), views=8))
    saved = save_rtk_setup(cone_scan / "rtk.json", op.rtk_geometry, op.volume_grid,
                           op.detector_grid)
    assert (cone_scan / "rtk.xml").is_file()
    geometry, volume, detector = load_rtk_setup(saved)
    assert (volume, detector) == (op.volume_grid, op.detector_grid)
    np.testing.assert_allclose(geometry.GetGantryAngles(), op.rtk_geometry.GetGantryAngles())
    np.save(cone_scan / "sino.npy", op(np.load(cone_scan / "volume.npy")).numpy())
    done = cli("reconstruct", cone_scan / "sino.npy", saved, "--out", cone_scan / "dbpp.npy",
               "--steps", "6")
    assert done.returncode == 0, done.stderr
    assert volume_psnr(cone_scan, cone_scan / "dbpp.npy") > 20


def test_rtk_setup_errors_are_one_line(cone_scan):
    (cone_scan / "no_xml.json").write_text(json.dumps(
        {"rtk_geometry": "absent.xml", "volume": {"size": [64, 9, 64]},
         "detector": {"size": [96, 14]}}))
    (cone_scan / "bad_grid.json").write_text(json.dumps(
        {"rtk_geometry": "absent.xml", "volume": {"size": [64, 9]}, "detector": {"size": [96]}}))
    np.save(cone_scan / "sino.npy", np.zeros((14, 8, 96), np.float32))
    for name, words in (("no_xml.json", ["absent.xml does not exist"]),
                        ("bad_grid.json", ["'volume' is not a 3D image grid"])):
        done = cli("reconstruct", cone_scan / "sino.npy", cone_scan / name, "--out",
                   cone_scan / "r.npy", "--method", "fbp")
        assert_one_line_failure(done, name, *words)


def test_missing_rtk_is_a_one_line_error_naming_the_extra(cone_scan):
    np.save(cone_scan / "sino.npy", np.zeros((14, 8, 96), np.float32))
    code = ("import sys; sys.modules['itk'] = None\n"
            "from diffblend_astra.cli import main\n"
            f"sys.exit(main(['reconstruct', {str(cone_scan / 'sino.npy')!r}, "
            f"{str(cone_scan / 'cone.json')!r}, '--out', {str(cone_scan / 'r.npy')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert_one_line_failure(done, "needs RTK", "pip install 'diffblend_astra[rtk]'")
