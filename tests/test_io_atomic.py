"""Atomic writes: modes follow the umask, a full disk is one line naming the file, and a
write leaves nothing half-written behind."""

import errno
import os

import pytest
import torch

from diffblend_astra.checkpoint import sidecar_path, write_state, write_tensors
from diffblend_astra.io_atomic import atomic_write, remove_stale_temporaries, write_bytes


@pytest.fixture
def umask():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_weights_state_and_sidecar_modes_follow_the_umask(tmp_path, umask):
    write_tensors(tmp_path / "m.safetensors", {"w": torch.ones(2)}, {"k": 1})
    write_state(tmp_path / "state.safetensors", {"w": torch.ones(2)}, {"step": 1})
    for path in (tmp_path / "m.safetensors", sidecar_path(tmp_path / "m.safetensors"),
                 tmp_path / "state.safetensors"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


@pytest.mark.parametrize("call, code, kind, phrase", [
    ("fsync", errno.ENOSPC, OSError, "No space left on device"),
    ("replace", errno.EACCES, PermissionError, "Permission denied"),
])
def test_a_failing_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch,
                                                                        call, code, kind,
                                                                        phrase):
    def fail(*args):
        raise kind(code, os.strerror(code))

    monkeypatch.setattr(os, call, fail)
    with pytest.raises(kind, match=rf"cannot write .*m.safetensors: {phrase}") as err:
        write_tensors(tmp_path / "m.safetensors", {"w": torch.ones(2)}, {})
    assert err.value.errno == code and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_removes_its_temporary(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "a.npy") as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    write_bytes(tmp_path / "a.json", b"{}")
    stale = [tmp_path / ".0123456789ab.tmp.a.json", tmp_path / ".ba9876543210.old.a.json"]
    for path in stale:
        path.write_bytes(b"x")
    others = [tmp_path / ".0123456789ab.tmp.b.json", tmp_path / ".x.tmp.a.json"]
    for path in others:
        path.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(tmp_path / "a.json")) == sorted(stale)
    assert all(p.exists() for p in others) and (tmp_path / "a.json").exists()
