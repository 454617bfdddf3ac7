"""Make the kit's folder ``.gpu/`` for a GPU machine that has no package index.

Run where pip can download (any OS and processor; pip fetches the target's wheels):

* ``.gpu/wheels/``: exactly the pins of ``wheels.txt``, for CPython 3.12 on x86-64 Linux
  (``pip download --no-deps --only-binary=:all: --python-version 3.12 --platform ...``);
  other wheels in the folder are removed, so that one version of each is carried;
* ``.gpu/lib/libcufft.so.11``: the cuFFT shim of ``cufft_shim/``, built here when gcc is here
  and this is x86-64 Linux (the GPU machine rebuilds it if it has gcc);
* ``.gpu/tomosipo/``: with ``--tomosipo PATH``, a copy of the ``tomosipo`` package found at
  ``PATH`` (tomosipo is not on PyPI; GPL-3.0, about 0.4 MB), and its LICENSE.

``.gpu/`` is added to ``.git/info/exclude`` when git does not ignore it yet. Prints each
wheel, the folder's size and what would travel (at most 64 MiB with the working tree); exits
1 when a download fails (naming the wheels still missing) or the total is over.

    python benchmarks/gpu/prepare.py
    python benchmarks/gpu/prepare.py --tomosipo ~/src/tomosipo
"""

import argparse
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from environment import PREBUILT_SHIM, STAGING, TOMOSIPO, WHEELS
from stages import KIT, REPO
from travel import TRAVEL_LIMIT, folder_bytes, tree_bytes

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


def pins() -> list[str]:
    """``NAME==VERSION`` lines of ``wheels.txt`` (its unindented lines)."""
    lines = (KIT / "wheels.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines
            if line.strip() and not line[0].isspace() and not line.startswith("#")]


def ignore_staging() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", str(STAGING / "x")], cwd=REPO)
    exclude = REPO / ".git" / "info" / "exclude"
    if ignored.returncode == 1 and exclude.parent.is_dir():
        with exclude.open("a") as file:
            file.write(f"/{STAGING.name}/\n")
        print(f"added /{STAGING.name}/ to {exclude}")


def download() -> list[str]:
    """Download the pins into :data:`WHEELS`; return the pins still missing."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "--dest", str(WHEELS)]
    command += [word for name in PLATFORMS for word in ("--platform", name)]
    missing = []
    for pin in pins():
        done = subprocess.run(command + [pin], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"could not download {pin}: {done.stderr.strip().splitlines()[-1:]}")
            missing.append(pin)
    wanted = {pin.split("==")[0].lower().replace("-", "_") + "-" + pin.split("==")[1]
              for pin in pins()}
    for wheel in WHEELS.glob("*.whl"):
        if "-".join(wheel.name.split("-")[:2]).lower() not in wanted:
            wheel.unlink()
            print(f"removed {wheel.name}: not in wheels.txt")
    return missing


def build_shim() -> None:
    if not shutil.which("gcc") or (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        print("cuFFT shim not built here (needs gcc on x86-64 Linux); the GPU machine builds it")
        return
    subprocess.run(["bash", str(KIT / "cufft_shim" / "build.sh"), str(PREBUILT_SHIM.parent)],
                   check=True)


def copy_tomosipo(source: Path) -> None:
    package = source if (source / "__init__.py").is_file() else source / "tomosipo"
    if not (package / "__init__.py").is_file():
        sys.exit(f"error: no tomosipo package at {source} (nor at {source / 'tomosipo'})")
    if TOMOSIPO.exists():
        shutil.rmtree(TOMOSIPO)
    shutil.copytree(package, TOMOSIPO / "tomosipo", copy_function=shutil.copyfile,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in (TOMOSIPO / "tomosipo", *(TOMOSIPO / "tomosipo").rglob("*/")):
        folder.chmod(0o755)                  # copytree keeps a read-only source's modes
    for licence in (package.parent / "LICENSE", package / "LICENSE"):
        if licence.is_file():
            shutil.copyfile(licence, TOMOSIPO / "LICENSE")
    print(f"copied tomosipo from {package} into {TOMOSIPO}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tomosipo", type=Path,
                        help="a folder holding the tomosipo package, to carry a copy of it")
    args = parser.parse_args()
    ignore_staging()
    missing = download()
    build_shim()
    if args.tomosipo:
        copy_tomosipo(args.tomosipo.expanduser())
    for wheel in sorted(WHEELS.glob("*.whl")):
        print(f"{wheel.stat().st_size / 2**20:7.2f} MiB  {wheel.name}")
    wheels, staging, tree = folder_bytes(WHEELS), folder_bytes(STAGING), tree_bytes()
    print(f"wheels {wheels / 2**20:.1f} MiB; {STAGING.name}/ {staging / 2**20:.1f} MiB; with the "
          f"working tree {(staging + tree) / 2**20:.1f} MiB of {TRAVEL_LIMIT // 2**20} MiB")
    if missing:
        print(f"missing wheels (download them elsewhere into {WHEELS}): {', '.join(missing)}")
    if staging + tree > TRAVEL_LIMIT:
        print("over the limit: carry less")
    return 1 if missing or staging + tree > TRAVEL_LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
