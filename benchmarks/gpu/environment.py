"""The environment of the stages: carried wheels, tomosipo, the cuFFT shim, CUDA 12's runtime.

The kit's folder (:data:`STAGING`, ignored by git, made by ``prepare.py``) holds
``wheels/`` (installed into :data:`SITE` with pip, no index, no dependencies), optionally
``tomosipo/`` (a folder holding the ``tomosipo`` package) and ``lib/libcufft.so.11`` (the shim
built where the kit was prepared). Without that folder, the packages already installed are
used as they are: this is the case of a GPU machine set up with ``pip install -e .[all]``.

ASTRA's wheel links ``libcudart.so.12`` and ``libcufft.so.11``. The first comes from the
``nvidia-cuda-runtime-cu12`` wheel (its folder goes on ``LD_LIBRARY_PATH``). The second comes
from ``nvidia-cufft-cu12`` or any other CUDA 12 install; only when ``import astra`` fails for
want of it does the shim of ``cufft_shim/`` stand in (built here with gcc when gcc is there,
else the prebuilt copy), first on ``LD_LIBRARY_PATH``, forwarding ASTRA's five cuFFT calls to
the machine's ``libcufft.so.12`` (``CUFFT_SHIM_TARGET``).
"""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from stages import KIT, REPO

STAGING = REPO / ".gpu"
WHEELS = STAGING / "wheels"
PREBUILT_SHIM = STAGING / "lib" / "libcufft.so.11"
TOMOSIPO = STAGING / "tomosipo"
SITE = Path("/tmp/site")
SHIM_DIR = Path("/tmp/cufft_shim")


def tomosipo_available() -> bool:
    """Whether the stages will import tomosipo: carried, or installed."""
    return (TOMOSIPO / "tomosipo" / "__init__.py").is_file() or \
        importlib.util.find_spec("tomosipo") is not None


def prepare(say, wheel_folder: Path = WHEELS) -> tuple[dict, dict]:
    """Install, build and find what the stages need; return ``(environment, summary)``.

    ``say`` prints one line of progress; ``wheel_folder`` holds the wheels to install.
    Nothing here raises for a missing piece: the summary names it, and the stages show what
    it breaks.
    """
    summary, paths = {}, [str(REPO)]
    wheels = sorted(Path(wheel_folder).glob("*.whl"))
    if wheels:
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                   "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(SITE),
                   *map(str, wheels)]
        done = subprocess.run(command, capture_output=True, text=True)
        summary["wheels"] = [w.name for w in wheels] if done.returncode == 0 else \
            f"pip install failed: {done.stderr.strip()[-2000:]}"
        say(f"installed {len(wheels)} wheels into {SITE}" if done.returncode == 0
            else summary["wheels"])
        paths.insert(0, str(SITE))
        sys.path.insert(0, str(SITE))
        importlib.invalidate_caches()
    else:
        summary["wheels"] = f"no wheels in {wheel_folder}: the installed packages are used"
        say(summary["wheels"])
    if (TOMOSIPO / "tomosipo").is_dir():
        paths.append(str(TOMOSIPO))
    summary["tomosipo"] = tomosipo_available()

    env = {"PYTHONPATH": _join(paths, "PYTHONPATH"), "PYTHONUNBUFFERED": "1"}
    cudart = _find("nvidia/cuda_runtime/lib/libcudart.so.12")
    summary["libcudart.so.12"] = cudart or "not found"
    libraries = [str(Path(cudart).parent)] if cudart else []
    env["LD_LIBRARY_PATH"] = _join(libraries, "LD_LIBRARY_PATH")
    error = _astra_import_error(env)
    if error and "libcufft.so.11" in error:
        say(f"import astra: {error}; the cuFFT shim stands in")
        shim, target = _shim(say), _cufft_target()
        summary["cufft shim"], summary["CUFFT_SHIM_TARGET"] = shim or "none", target or "none"
        if target:
            env["CUFFT_SHIM_TARGET"] = target
        libraries = [str(Path(path).parent) for path in (shim, target) if path] + libraries
        env["LD_LIBRARY_PATH"] = _join(libraries, "LD_LIBRARY_PATH")
        error = _astra_import_error(env)
    summary["import astra"] = error or "ok"
    for name in ("PYTHONPATH", "LD_LIBRARY_PATH", "CUFFT_SHIM_TARGET"):
        if name in env:
            say(f"{name}={env[name]}")
    say(f"import astra: {summary['import astra']}")
    return {**os.environ, **env}, summary


def _join(first: list, variable: str) -> str:
    """``first``, then the entries the variable already has, as one search path."""
    rest = [part for part in os.environ.get(variable, "").split(os.pathsep) if part]
    return os.pathsep.join(first + rest)


def _astra_import_error(env: dict) -> str | None:
    """The last line of what ``import astra`` prints when it fails in ``env``, else None."""
    done = subprocess.run([sys.executable, "-c", "import astra"], env={**os.environ, **env},
                          capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    return None if done.returncode == 0 else (lines[-1] if lines else f"exit {done.returncode}")


def _find(relative: str) -> str | None:
    """The first ``relative`` path under an entry of ``sys.path`` (site-packages included)."""
    for entry in sys.path:
        candidate = Path(entry or ".") / relative
        if candidate.exists():
            return str(candidate)
    return None


def _shim(say) -> str | None:
    """Build the shim with gcc into :data:`SHIM_DIR`, else use the prebuilt copy."""
    if shutil.which("gcc"):
        done = subprocess.run(["bash", str(KIT / "cufft_shim" / "build.sh"), str(SHIM_DIR)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            say(done.stdout.strip())
            return str(SHIM_DIR / "libcufft.so.11")
        say(f"building the cuFFT shim failed: {done.stderr.strip()[-500:]}")
    if PREBUILT_SHIM.is_file():
        say(f"using the prebuilt cuFFT shim {PREBUILT_SHIM}")
        return str(PREBUILT_SHIM)
    say("no cuFFT shim: no gcc here and no prebuilt copy; FDK will fail")
    return None


def _cufft_target() -> str | None:
    """The machine's ``libcufft.so.12``: in a site-packages ``nvidia`` folder, else known to
    the loader (``ldconfig -p``), else in a CUDA toolkit folder."""
    for entry in sys.path:
        for pattern in ("nvidia/cu*/lib/libcufft.so.12", "nvidia/cufft/lib/libcufft.so.12"):
            found = sorted(glob.glob(str(Path(entry or ".") / pattern)))
            if found:
                return found[-1]
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    except OSError:
        listing = ""
    for line in listing.splitlines():
        if line.strip().startswith("libcufft.so.12 ") and "=>" in line:
            return line.split("=>")[1].strip()
    found = sorted(glob.glob("/usr/local/cuda*/**/libcufft.so.12", recursive=True))
    return found[-1] if found else None
