"""The ``diffblend-astra`` command line: ``demo | simulate | reconstruct | train | evaluate``."""

from .main import main

__all__ = ["main"]
