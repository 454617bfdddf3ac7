"""What travels to a GPU machine that has no package index: the working tree and the kit's
folder, together at most :data:`TRAVEL_LIMIT` bytes."""

import subprocess
from pathlib import Path

from stages import REPO

TRAVEL_LIMIT = 64 * 2**20


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist)."""
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def tree_bytes() -> int:
    """Bytes of the working tree as it travels: tracked files and untracked, unignored ones."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO, capture_output=True, text=True)
    if listing.returncode != 0:
        return folder_bytes(REPO)
    paths = {REPO / name for name in listing.stdout.split("\0") if name}
    return sum(path.stat().st_size for path in paths if path.is_file())
