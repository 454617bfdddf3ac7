"""Entry point: parse the sub-command, run it, turn expected failures into one-line errors."""

from __future__ import annotations

import argparse
import sys

from . import (commands_demo, commands_evaluate, commands_reconstruct, commands_simulate,
               commands_train)

COMMANDS = (commands_demo, commands_simulate, commands_reconstruct, commands_train,
            commands_evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, ImportError,
            OSError) as err:
        if args.debug:
            raise
        print(f"diffblend-astra {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
