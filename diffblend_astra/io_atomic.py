"""Atomic writes: a file or folder appears complete under its final name, or not at all."""

import contextlib
import os
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
    except BaseException:
        _remove(tmp)
        raise


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
