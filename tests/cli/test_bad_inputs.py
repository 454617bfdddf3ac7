"""Bad inputs to the command line, one row each: the files a user has, the command they type,
the exit status and the phrase of the one-line error, and no file left behind.

Commands run in-process through :func:`diffblend_astra.cli.main` in a temporary folder that
holds a small valid scan (``vol.npy`` of 3 slices of 16², ``geo.json`` with 4 parallel views,
``sino.npy``); each row adds its own files.
"""

import json
import shutil
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from diffblend_astra.checkpoint import bundled_path, sidecar_path, write_tensors
from diffblend_astra.cli import main
from diffblend_astra.operators import save_geometry, sparse_view

CUDA = torch.cuda.is_available()
VOLUME = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
SINOGRAM_SHAPE = (3, 4, 24)


def npy(array):
    return lambda path: np.save(path, np.asarray(array))


def raw(data: bytes):
    return lambda path: path.write_bytes(data)


def geometry(**top):
    """``geo.json`` edited: top-level keys replaced; ``proj_geom``/``vol_geom`` updated."""
    def make(path):
        data = json.loads((path.parent / "geo.json").read_text())
        for key, value in top.items():
            if key in ("proj_geom", "vol_geom"):
                data[key].update(value)
            else:
                data[key] = value
        path.write_text(json.dumps(data))
    return make


def truncated_nifti(path):
    from diffblend_astra.io import write_volume
    write_volume(path, VOLUME)
    path.write_bytes(path.read_bytes()[:100])


def dicom_with_gap(path):
    from diffblend_astra.io import write_dicom_series
    pytest.importorskip("pydicom")
    write_dicom_series(path, np.zeros((5, 16, 16)))
    sorted(path.iterdir())[2].unlink()


def npy_claiming(shape):
    """``VOLUME``'s bytes under a ``.npy`` header that claims ``shape``."""
    def make(path):
        import io
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
        path.write_bytes(buffer.getvalue() + VOLUME.tobytes())
    return make


def nifti_claiming(shape):
    """A gzip-compressed NIfTI image of ``VOLUME`` whose header claims ``shape``."""
    def make(path):
        import gzip
        import io
        nibabel = pytest.importorskip("nibabel")
        data = bytearray(nibabel.Nifti1Image(VOLUME.T, np.eye(4)).to_bytes())
        header = nibabel.Nifti1Header.from_fileobj(io.BytesIO(bytes(data)))
        header.set_data_shape(shape)
        data[:348] = header.binaryblock
        path.write_bytes(gzip.compress(bytes(data)))
    return make


def tiff_of_two_series(path):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(path, VOLUME, photometric="minisblack")
    tifffile.imwrite(path, VOLUME[:, :8, :8], photometric="minisblack", append=True)


def checkpoint(edit):
    """The bundled blend weights with their sidecar edited by ``edit(meta)``."""
    def make(path):
        shutil.copy(bundled_path("blend"), path)
        meta = json.loads(sidecar_path(bundled_path("blend")).read_text())
        edit(meta)
        sidecar_path(path).write_text(json.dumps(meta))
    return make


def recorded_run(window=(0.0, 1.0), phantoms=1):
    """A run folder whose ``run.json`` records ``train --phantoms N`` (64³, tiny blend) with
    ``window``."""
    def make(path):
        from diffblend_astra.diffusion import VPSchedule
        from diffblend_astra.normalization import IntensityWindow
        from diffblend_astra.phantoms import phantom_volumes, training_seeds
        from diffblend_astra.prior_kinds import named_config
        from diffblend_astra.run_identity import begin_run, run_identity

        volumes = list(phantom_volumes(training_seeds(phantoms), (64,) * 3))
        begin_run(path, run_identity(volumes, IntensityWindow(*window), "blend",
                                     named_config("tiny", "blend"), VPSchedule()),
                  resume=False, overwrite=False)
    return make


def training_state(meta):
    def make(path):
        path.mkdir()
        write_tensors(path / "state.safetensors", {"net.w": torch.zeros(1)}, meta)
    return make


@dataclass(frozen=True)
class Case:
    argv: str
    phrase: str
    files: dict = field(default_factory=dict)
    code: int = 2
    skip: str = ""


SIM = "simulate vol.npy geo.json --out out.npy"
REC = "reconstruct sino.npy geo.json --out out.npy --method fbp"
EVAL = "evaluate vol.npy"
NO_CUDA = "a CUDA GPU is present" if CUDA else ""

CASES = {
    # --- unreadable volumes ---
    "empty npy": Case("simulate in.npy geo.json --out out.npy", "in.npy is empty",
                      {"in.npy": raw(b"")}),
    "text file as npy": Case("simulate in.npy geo.json --out out.npy", "not a NumPy .npy file",
                             {"in.npy": raw(b"1 2 3\n4 5 6\n")}),
    "truncated npy": Case("simulate in.npy geo.json --out out.npy", "truncated or corrupt",
                          {"in.npy": lambda p: p.write_bytes(_npy_bytes(VOLUME)[:200])}),
    "object npy": Case("simulate in.npy geo.json --out out.npy", "Python objects",
                       {"in.npy": lambda p: np.save(p, np.empty((2, 2, 2), object))}),
    "truncated nii.gz": Case("simulate in.nii.gz geo.json --out out.npy",
                             "not a readable NIfTI", {"in.nii.gz": truncated_nifti}),
    "2D volume": Case("simulate in.npy geo.json --out out.npy", "must be a 3D array",
                      {"in.npy": npy(np.zeros((16, 16)))}),
    "empty volume": Case("simulate in.npy geo.json --out out.npy", "is empty (shape",
                         {"in.npy": npy(np.zeros((0, 16, 16)))}),
    "missing volume": Case("simulate absent.npy geo.json --out out.npy", "no volume at absent"),
    "unknown volume suffix": Case("simulate vol.dat geo.json --out out.npy",
                                  "cannot tell the format", {"vol.dat": raw(b"x")}),
    "DICOM gap": Case("simulate ct geo.json --out out.npy", "1 slice missing",
                      {"ct": dicom_with_gap}),
    "NaN volume": Case("simulate in.npy geo.json --out out.npy", "contains NaN",
                       {"in.npy": npy(np.where(VOLUME > 0.5, np.nan, VOLUME))}),
    "Inf volume": Case("simulate in.npy geo.json --out out.npy", "contains Inf",
                       {"in.npy": npy(np.where(VOLUME > 0.5, np.inf, VOLUME))}),
    # --- the input rule: no silent casts ---
    "integer sinogram": Case("reconstruct s.npy geo.json --out out.npy --method fbp",
                             "not cast silently",
                             {"s.npy": npy(np.ones(SINOGRAM_SHAPE, np.uint16))}),
    "integer volume": Case("simulate in.npy geo.json --out out.npy", "dtype int32",
                           {"in.npy": npy(np.ones(VOLUME.shape, np.int32))}),
    "boolean volume": Case("simulate in.npy geo.json --out out.npy", "dtype bool",
                           {"in.npy": npy(VOLUME > 0.5)}),
    "integer TIFF sinogram": Case("reconstruct s.tif geo.json --out out.npy --method fbp",
                                  "-log(I / I0)",
                                  {"s.tif": lambda p: __import__("tifffile").imwrite(
                                      p, np.ones(SINOGRAM_SHAPE, np.uint16), photometric="minisblack")}),
    # --- headers that lie, memory without bound ---
    "npy header claims petabytes": Case("simulate in.npy geo.json --out out.npy",
                                        "more than the limit of 64 GiB",
                                        {"in.npy": npy_claiming((2**20, 2**20, 2**20))}),
    "npy header claims more than the file": Case("simulate in.npy geo.json --out out.npy",
                                                 "truncated or corrupt: its header describes",
                                                 {"in.npy": npy_claiming((3, 16, 1600))}),
    "nii.gz header claims 98 TiB": Case("simulate in.nii.gz geo.json --out out.npy",
                                           "more than the limit of 64 GiB",
                                           {"in.nii.gz": nifti_claiming((30000,) * 3)}),
    "nii.gz header claims more than gzip can hold": Case(
        "simulate in.nii.gz geo.json --out out.npy", "file can hold at most",
        {"in.nii.gz": nifti_claiming((4096, 4096, 64))}),
    "TIFF of two series": Case("simulate in.tif geo.json --out out.npy", "holds 2 image series",
                               {"in.tif": tiff_of_two_series}),
    "volume of another shape": Case("simulate in.npy geo.json --out out.npy",
                                    "describes volumes of shape",
                                    {"in.npy": npy(np.zeros((3, 16, 17)))}),
    # --- noise parameters ---
    "gaussian nan": Case(SIM + " --gaussian nan", "--gaussian must be a finite number"),
    "gaussian inf": Case(SIM + " --gaussian inf", "--gaussian must be a finite number"),
    "gaussian negative": Case(SIM + " --gaussian -1", ">= 0"),
    "gaussian overflows float32": Case(SIM + " --gaussian 1e39", "simulated projections"),
    "photons inf": Case(SIM + " --photons inf", "--photons must be a finite number"),
    "photons nan": Case(SIM + " --photons nan", "--photons must be a finite number"),
    "photons zero": Case(SIM + " --photons 0", "> 0"),
    "photons past int64": Case(SIM + " --photons 1e30", "past the Poisson sampler's range"),
    "expected counts past int64": Case("simulate neg.npy geo.json --out out.npy --photons 1e18",
                                       "expected counts", {"neg.npy": npy(-VOLUME)}),
    "photons and gaussian": Case(SIM + " --photons 10 --gaussian 1", "not allowed with"),
    # --- output paths ---
    "unknown out suffix": Case("simulate vol.npy geo.json --out out.txt",
                               "cannot tell the format"),
    "out is a folder": Case("simulate vol.npy geo.json --out outdir", "is a folder",
                            {"outdir": lambda p: p.mkdir()}),
    "out is the input": Case("simulate vol.npy geo.json --out vol.npy", "is the input"),
    "out is the input, other case": Case(REC.replace("out.npy", "./sino.npy"), "is the input"),
    "out under a file": Case("simulate vol.npy geo.json --out vol.npy/out.npy",
                             "is a file, not a folder"),
    "std path is a folder": Case("reconstruct sino.npy geo.json --out out.npy --samples 2",
                                 "out_std.npy is a folder", {"out_std.npy": lambda p: p.mkdir()}),
    # --- devices ---
    "simulate on cuda without CUDA": Case(SIM + " --device cuda", "no usable CUDA",
                                          skip=NO_CUDA),
    "reconstruct on cuda without CUDA": Case(REC + " --device cuda", "no usable CUDA",
                                             skip=NO_CUDA),
    "evaluate on cuda without CUDA": Case(EVAL + " vol2.npy --data-range 0 1 --device cuda",
                                          "no usable CUDA", {"vol2.npy": npy(VOLUME)},
                                          skip=NO_CUDA),
    "train on cuda without CUDA": Case("train --phantoms 1 --size 16 --out run --device cuda",
                                       "no usable CUDA", skip=NO_CUDA),
    "demo on cuda without CUDA": Case("demo --quick --out d --device cuda", "no usable CUDA",
                                      skip=NO_CUDA),
    "not a device": Case(SIM + " --device gpu0", "not a torch device"),
    "unsupported device": Case(SIM + " --device meta", "only cpu and cuda"),
    # --- geometry files and projectors ---
    "unknown projector": Case(SIM + " --projector nonsense",
                              "unknown projector 'nonsense' for a 'parallel' geometry; valid: "
                              "linear, line, strip, distance_driven"),
    "fan projector for parallel": Case(REC + " --projector line_fanflat", "valid: linear"),
    "unknown projector in file": Case("simulate vol.npy g.json --out out.npy",
                                      "unknown projector 'strips'",
                                      {"g.json": geometry(projector="strips")}),
    "null option": Case("simulate vol.npy g.json --out out.npy", "'option' is null",
                        {"g.json": geometry(proj_geom={"option": None})}),
    "null vol_geom value": Case("simulate vol.npy g.json --out out.npy", "'GridColCount' is null",
                                {"g.json": geometry(vol_geom={"GridColCount": None})}),
    "unknown key in geometry": Case("simulate vol.npy g.json --out out.npy",
                                    "unknown key 'projecter'",
                                    {"g.json": geometry(projecter="strip")}),
    "geometry not JSON": Case("simulate vol.npy g.json --out out.npy", "not valid JSON",
                              {"g.json": raw(b"proj_geom: parallel")}),
    "geometry binary": Case("simulate vol.npy g.json --out out.npy", "not a JSON text file",
                            {"g.json": raw(b"\xff\xfe\x00\x93")}),
    "missing geometry": Case("simulate vol.npy nogeo.json --out out.npy", "nogeo.json"),
    # --- projections ---
    "NaN sinogram": Case("reconstruct s.npy geo.json --out out.npy --method fbp", "contains NaN",
                         {"s.npy": npy(np.full(SINOGRAM_SHAPE, np.nan, np.float32))}),
    "huge sinogram": Case("reconstruct s.npy geo.json --out out.npy --method cgls",
                          "float32 solvers would overflow",
                          {"s.npy": npy(np.full(SINOGRAM_SHAPE, 1e30, np.float32))}),
    "sinogram of another shape": Case("reconstruct s.npy geo.json --out out.npy --method fbp",
                                      "(3, 5, 24)", {"s.npy": npy(np.zeros((3, 5, 24)))}),
    "steps 0": Case(REC + " --steps 0", "--steps: expected a positive integer"),
    "samples 0": Case(REC + " --samples 0", "--samples: expected a positive integer"),
    "samples for fbp": Case(REC + " --samples 2", "--samples applies to diffusion methods"),
    "unknown method": Case(REC + "x", "invalid choice: 'fbpx'"),
    "missing --out": Case("reconstruct sino.npy geo.json", "required: --out"),
    # --- checkpoints ---
    "missing checkpoint": Case(REC.replace("fbp", "dbpp") + " --checkpoint none.safetensors",
                               "none.safetensors is not a file"),
    "sidecar norm_num_groups 7": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors", "cannot be built",
        {"c.safetensors": checkpoint(lambda m: m["network"].update(norm_num_groups=7))}),
    "sidecar layers_per_block huge": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors",
        "network.layers_per_block = 1000000 is out of range",
        {"c.safetensors": checkpoint(lambda m: m["network"].update(layers_per_block=10**6))}),
    "sidecar block_out_channels huge": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors",
        "network.block_out_channels = [100000000] is out of range",
        {"c.safetensors": checkpoint(
            lambda m: m["network"].update(block_out_channels=[10**8]))}),
    "sidecar num_timesteps huge": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors",
        "schedule.num_timesteps = 10000000000 is out of range",
        {"c.safetensors": checkpoint(lambda m: m["schedule"].update(num_timesteps=10**10))}),
    "sidecar disagrees with the weights": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors",
        "but the weights in c.safetensors hold",
        {"c.safetensors": checkpoint(lambda m: m["network"].update(
            layers_per_block=m["network"]["layers_per_block"] + 1))}),
    "sidecar without network": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors", "is incomplete: 'network'",
        {"c.safetensors": checkpoint(lambda m: m.pop("network"))}),
    "sidecar not JSON": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors", "not valid JSON",
        {"c.safetensors": lambda p: (shutil.copy(bundled_path("blend"), p),
                                     sidecar_path(p).write_text("{"))}),
    "weights not safetensors": Case(
        REC.replace("fbp", "dbpp") + " --checkpoint c.safetensors", "not a valid safetensors",
        {"c.safetensors": lambda p: (p.write_text("text"), sidecar_path(p).write_text("{}"))}),
    # --- evaluate ---
    "evaluate NaN reconstruction": Case(EVAL + " r.npy --data-range 0 1 --json m.json",
                                        "r.npy contains NaN",
                                        {"r.npy": npy(np.full(VOLUME.shape, np.nan))}),
    "evaluate Inf truth": Case("evaluate t.npy vol.npy --data-range 0 1", "contains Inf",
                               {"t.npy": npy(np.full(VOLUME.shape, np.inf))}),
    "evaluate path twice": Case(EVAL + " a/r.npy a/r.npy --data-range 0 1", "given twice",
                                {"a": lambda p: (p.mkdir(), np.save(p / "r.npy", VOLUME))}),
    "evaluate json suffix": Case(EVAL + " vol.npy --data-range 0 1 --json m.txt",
                                 "ending in .json"),
    "evaluate json is an input": Case(EVAL + " r.json --data-range 0 1 --json r.json",
                                      "is the input", {"r.json": raw(b"{}")}),
    "evaluate infinite range": Case(EVAL + " vol.npy --data-range 0 inf", "finite LOW < HIGH"),
    "evaluate shapes differ": Case(EVAL + " r.npy --data-range 0 1", "has shape",
                                   {"r.npy": npy(np.zeros((3, 16, 15)))}),
    # --- demo and train ---
    "demo steps 0": Case("demo --quick --steps 0 --out d", "--steps: expected a positive integer"),
    "demo views 0": Case("demo --quick --views 0 --out d", "--views: expected a positive integer"),
    "demo out is a file": Case("demo --quick --out vol.npy", "is a file; expected a folder"),
    "train out is a file": Case("train --phantoms 1 --size 16 --out vol.npy",
                                "is a file; expected a folder"),
    "train steps 0": Case("train --phantoms 1 --steps 0 --out run",
                          "--steps: expected a positive integer"),
    "train lr nan": Case("train --phantoms 1 --size 16 --lr nan --out run",
                         "--lr must be a finite number"),
    "train NaN volume": Case("train --volumes n.npy --out run", "contains NaN",
                             {"n.npy": npy(np.full((3, 16, 16), np.nan))}),
    "resume without step": Case("train --phantoms 1 --size 16 --out run --resume",
                                "has no valid 'step'",
                                {"run": training_state({"config": {}, "param_groups": []})}),
    "resume with text state": Case("train --phantoms 1 --size 16 --out run --resume",
                                   "not a valid safetensors",
                                   {"run": lambda p: (p.mkdir(),
                                                      (p / "state.safetensors").write_text("x"),
                                                      (p / "state.json").write_text("{}"))}),
    # --- runs that cannot be mixed up ---
    "train into an existing run": Case("train --phantoms 1 --size 16 --out run",
                                       "already holds a training run (model.safetensors); "
                                       "pass --resume to continue it or --overwrite",
                                       {"run": lambda p: (p.mkdir(),
                                                          (p / "model.safetensors").write_text(
                                                              "x"))}),
    "resume and overwrite": Case("train --phantoms 1 --out run --resume --overwrite",
                                 "give one"),
    "resume with another window": Case("train --phantoms 1 --out run --resume --window -1 2",
                                       'its window is {"high":1.0,"low":0.0}, now '
                                       '{"high":2.0,"low":-1.0}', {"run": recorded_run()}),
    "resume on other volumes": Case("train --phantoms 2 --out run --resume",
                                    "it trains on 1 volume, now on 2 volumes",
                                    {"run": recorded_run()}),
    "resume as another prior": Case("train --phantoms 1 --out run --resume --prior slice",
                                    'its prior kind is "blend", now "slice"',
                                    {"run": recorded_run()}),
    "unknown command": Case("reconstrut sino.npy", "invalid choice: 'reconstrut'"),
}


def _npy_bytes(array):
    import io
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def snapshot(folder):
    """Every path under ``folder`` with its bytes (folders as None)."""
    return {p: (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def scan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("vol.npy", VOLUME)
    save_geometry("geo.json", *sparse_view(beam="parallel", views=4, shape=16))
    np.save("sino.npy", np.ones(SINOGRAM_SHAPE, np.float32))
    return tmp_path


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_error_and_leaves_nothing(name, scan, capsys):
    case = CASES[name]
    if case.skip:
        pytest.skip(case.skip)
    for file, make in case.files.items():
        make(scan / file)
    before = snapshot(scan)
    code = main(case.argv.split())
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == case.code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert case.phrase in lines[0], lines[0]
    assert lines[0].startswith("diffblend-astra"), lines[0]
    assert snapshot(scan) == before, "the command left or changed files"


def test_debug_shows_the_traceback(scan):
    with pytest.raises(ValueError, match="--gaussian"):
        main(["--debug", *SIM.split(), "--gaussian", "nan"])


@pytest.mark.parametrize("argv", [SIM, "train --phantoms 1 --steps 1 --batch-size 1 --out run",
                                  REC + " --samples 1"])
def test_a_full_disk_is_one_line_and_leaves_no_file(argv, scan, capsys, monkeypatch):
    import errno
    import os

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    files = {p: b for p, b in snapshot(scan).items() if b is not None}
    monkeypatch.setattr(os, "fsync", full)
    assert main(argv.split()) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("diffblend-astra") and "\n" not in err, err
    assert "cannot write" in err and "No space left on device" in err, err
    assert {p: b for p, b in snapshot(scan).items() if b is not None} == files


def test_an_ambiguous_layout_is_warned_about_in_one_line(scan, capsys):
    """4 slices of 4 views: a stack saved (angles, Z, det) has the shape of (Z, angles, det)."""
    from diffblend_astra.cli.common import load_operator

    volume = np.random.default_rng(2).random((4, 16, 16)).astype(np.float32)
    y = load_operator("geo.json", 4)(torch.from_numpy(volume)).numpy()
    np.save("swapped.npy", y.transpose(1, 0, 2))
    np.save("right.npy", y)
    assert main("reconstruct swapped.npy geo.json --out a.npy --method fbp".split()) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("diffblend-astra reconstruct: warning: the projections' per-view")
    assert "(angles, Z, det) with Z = angles = 4" in lines[0]
    assert main("reconstruct right.npy geo.json --out b.npy --method fbp".split()) == 0
    assert capsys.readouterr().err.strip() == ""
