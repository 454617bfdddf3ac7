"""Entry point: parse the sub-command, run it, turn expected failures into one-line errors."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings

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
    """Run one command; return its exit status (0, 2 for an error, 130 when interrupted,
    143 when terminated).

    ``SIGTERM`` is turned into an exception while the command runs, so that a write in
    progress removes its temporary file (:mod:`diffblend_astra.io_atomic`) as it does on
    Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:      # --help, or a usage error already printed in one line
        return exit.code
    try:
        with _terminate_as_exception(), warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            args.run(args)
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except EXPECTED_FAILURES as err:
        if args.debug:
            raise
        print(f"diffblend-astra {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _one_line_warning(command):
    """A ``warnings.showwarning`` that prints ``diffblend-astra COMMAND: warning: ...`` in
    one line, like the commands' errors."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"diffblend-astra {command}: warning: {one_line(message)}", file=sys.stderr)
    return show


class Terminated(BaseException):
    """``SIGTERM`` arrived: like ``KeyboardInterrupt``, not an ``Exception``, so that only
    clean-up code (``finally``, ``except BaseException``) sees it."""


@contextlib.contextmanager
def _terminate_as_exception():
    """Raise :class:`Terminated` on ``SIGTERM`` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def one_line(err: BaseException) -> str:
    """The first non-empty line of an error's message (or its type when it has none)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
