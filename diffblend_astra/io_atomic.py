"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Files are created with ``open`` (their mode follows the umask). A write that fails for the
disk or the file system (disk full, no permission) is one ``OSError`` line naming the final
path, and leaves nothing behind; a process killed outright (``SIGKILL``) can leave a hidden
temporary beside the final name, which :func:`remove_stale_temporaries` removes.
"""

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds.

    The temporary path lies in the same folder (so the final move is one ``os.replace`` on one
    file system), is hidden, ends with ``path``'s full name (so writers that pick a format from
    the suffix, such as ``nibabel`` or ``numpy.save``, behave as they would for ``path``) and
    does not exist yet: the block creates a file *or* a folder there.

    * On success a file is flushed to disk and replaces ``path``; a folder replaces ``path``
      too, an existing folder there being moved aside first and removed afterwards.
    * If the block raises, whatever it left at the temporary path is removed, ``path`` keeps its
      old content (or stays absent) and the exception propagates.

    Missing parent folders of ``path`` are created. Example::

        with atomic_write("out/recon.npy") as tmp:
            np.save(tmp, volume)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary path {tmp} for {path}")
        _commit(tmp, path)
    except OSError as err:
        _remove(tmp)
        if err.errno is None:
            raise
        raise type(err)(err.errno, f"cannot write {path}: {err.strerror}") from err
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as tmp:
        Path(tmp).write_bytes(data)


def remove_stale_temporaries(path) -> list[Path]:
    """Remove what a killed :func:`atomic_write` of ``path`` left beside it (its hidden
    temporary or set-aside siblings); return the paths removed."""
    path = Path(path)
    pattern = re.compile(r"\.[0-9a-f]{12}\.(tmp|old)\." + re.escape(path.name) + "$")
    stale = [p for p in path.parent.glob(f".*.{path.name}") if pattern.fullmatch(p.name)]
    for p in stale:
        _remove(p)
    return stale


def _sibling(path, label):
    return path.with_name(f".{secrets.token_hex(6)}.{label}.{path.name}")


def _commit(tmp, path):
    if not tmp.is_dir():
        _fsync(tmp)
        os.replace(tmp, path)
        return
    if not path.is_dir():
        os.replace(tmp, path)
        return
    old = _sibling(path, "old")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    shutil.rmtree(old)


def _fsync(file):
    descriptor = os.open(file, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
