"""Entry point: parse the sub-command, run it, turn expected failures into one-line errors."""

from __future__ import annotations

import sys

from . import (commands_data, commands_demo, commands_evaluate, commands_reconstruct,
               commands_simulate, commands_train)
from .common import Parser

COMMANDS = (commands_demo, commands_simulate, commands_reconstruct, commands_train,
            commands_evaluate, commands_data)
EXPECTED_FAILURES = (ValueError, TypeError, RuntimeError, ImportError, OSError)
"""What bad input raises (``OSError`` covers missing files and permissions); anything else is
a bug and keeps its traceback."""


def build_parser() -> Parser:
    import argparse

    parser = Parser(
        prog="diffblend-astra",
        description="Learned 3D diffusion priors (DiffusionBlend++) for sparse-view and "
                    "limited-angle CT with ASTRA, ODL and tomosipo.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (0, 2 for an error, 130 when interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:      # --help, or a usage error already printed in one line
        return exit.code
    try:
        args.run(args)
    except EXPECTED_FAILURES as err:
        if args.debug:
            raise
        print(f"diffblend-astra {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def one_line(err: BaseException) -> str:
    """The first non-empty line of an error's message (or its type when it has none)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
