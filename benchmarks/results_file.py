"""Keep ``benchmarks/RESULTS.md`` as named sections that each benchmark rewrites in place."""

from __future__ import annotations

import re
from pathlib import Path

from diffblend_astra.io_atomic import atomic_write

RESULTS = Path(__file__).with_name("RESULTS.md")


def update_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace the section ``name`` (between its markers) by ``text``, or append it."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else f"{old.rstrip()}\n\n{block}\n"
    with atomic_write(path) as tmp:
        Path(tmp).write_text(new)
