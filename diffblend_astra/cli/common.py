"""Arguments and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like the commands' own errors."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_common(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """``--device`` and (unless ``seed=False``) ``--seed``."""
    parser.add_argument("--device", default="cpu",
                        help="torch device, e.g. cpu or cuda (default: cpu)")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def add_geometry(parser: argparse.ArgumentParser) -> None:
    """The positional ``geometry`` argument: a JSON file of ASTRA geometry dicts."""
    parser.add_argument("geometry", type=Path,
                        help='JSON file {"proj_geom": {...}, "vol_geom": {...}} of ASTRA dicts, '
                             'or an RTK set-up {"rtk_geometry": "geometry.xml", "volume": '
                             '{...}, "detector": {...}} (cone beams, CPU)')


def add_projector(parser: argparse.ArgumentParser) -> None:
    """``--projector``: ASTRA's 2D CPU projector type, overriding the geometry file's."""
    parser.add_argument("--projector",
                        help="ASTRA 2D CPU projector: line, strip, linear, distance_driven "
                             "(parallel), line_fanflat, strip_fanflat (fanflat); default: the "
                             "geometry file's \"projector\", else the geometry's default")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def subparser(sub, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help,
                          epilog="examples:\n" + examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def load_operator(geometry_path, slices: int, projector: str | None = None):
    """The operator of a geometry JSON file: a 2D geometry applied to ``slices`` axial slices
    (``(Z, Y, X) → (Z, angles, det)``), a 3D one as it is (CUDA; cone beams without CUDA
    through RTK), an RTK set-up (:mod:`~diffblend_astra.operators.rtk_io`) through RTK.
    ``projector`` (a name, or ``None`` for the file's ``"projector"``, else the geometry's
    default) must suit the geometry."""
    from ..operators import as_operator
    from ..operators.geometry_io import check_projector, load_geometry_file
    from ..operators.rtk_io import is_rtk_file, load_rtk_setup

    if is_rtk_file(geometry_path):
        if projector is not None:
            raise ValueError(f"projector {projector!r} given for the RTK set-up "
                             f"{geometry_path}; RTK projects with its Joseph projector")
        from ..operators.rtk import RtkConeOperator

        return RtkConeOperator(*load_rtk_setup(geometry_path))
    proj_geom, vol_geom, file_projector = load_geometry_file(geometry_path)
    if projector is not None:
        check_projector(projector, proj_geom)
    projector = projector or file_projector
    is_3d = "GridSliceCount" in vol_geom
    return as_operator(proj_geom, vol_geom, projector=projector,
                       slices=None if is_3d else slices)
