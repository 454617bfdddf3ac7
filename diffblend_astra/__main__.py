"""``python -m diffblend_astra`` is the ``diffblend-astra`` command."""

import sys

from .cli import main

sys.exit(main())
