"""Arguments and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--seed``, which every command accepts."""
    parser.add_argument("--device", default="cpu",
                        help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def subparser(sub, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help,
                          epilog="examples:\n" + examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def load_operator(geometry_path, slices: int):
    """The operator of a geometry JSON file: a 2D geometry applied to ``slices`` axial slices
    (``(Z, Y, X) → (Z, angles, det)``), a 3D one as it is (CUDA)."""
    from ..operators import as_operator, load_geometry

    proj_geom, vol_geom = load_geometry(geometry_path)
    is_3d = "GridSliceCount" in vol_geom
    return as_operator(proj_geom, vol_geom, slices=None if is_3d else slices)
