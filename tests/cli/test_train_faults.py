"""``train`` killed at random points: the run folder always resumes (to the weights of an
uninterrupted run) or refuses cleanly, and nothing half-written is ever read.

Each round starts ``diffblend-astra train ... --resume`` in a child process, waits until it
has written a checkpoint, lets it run for a random moment (checkpoints are written every
step, so many kills land inside a write) and kills it with ``SIGKILL`` or ``SIGTERM``.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from diffblend_astra.checkpoint import load_checkpoint, read_state
from diffblend_astra.cli import main

ROOT = Path(__file__).resolve().parents[2]
STEPS = 16
TRAIN = ["train", "--phantoms", "1", "--steps", str(STEPS), "--batch-size", "1",
         "--checkpoint-every", "1", "--precision", "fp32"]


def start(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "diffblend_astra", *TRAIN, "--out",
                             str(folder), "--resume"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def modified(path: Path):
    return path.stat().st_mtime_ns if path.exists() else None


def wait_for_new(path: Path, before, process: subprocess.Popen, timeout=300.0) -> bool:
    """Wait until ``process`` has replaced (or created) ``path``, last modified ``before``;
    ``False`` if it finished the run first."""
    deadline = time.monotonic() + timeout
    while modified(path) == before:
        if process.poll() is not None:
            assert process.returncode == 0, process.stderr.read()
            return False
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.05)
    return True


def check_readable(folder: Path) -> None:
    """What the folder holds under its final names is complete."""
    if (folder / "state.safetensors").exists():
        read_state(folder / "state.safetensors")
    if (folder / "model.safetensors").exists():
        load_checkpoint(folder / "model.safetensors")


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
def test_train_killed_at_random_points_resumes_or_refuses_cleanly(tmp_path, capsys):
    rng = random.Random(21)
    run = tmp_path / "run"
    kills = 0
    for kill in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        before = modified(run / "state.safetensors")
        process = start(run)
        if not wait_for_new(run / "state.safetensors", before, process):
            break
        time.sleep(rng.uniform(0.0, 1.0))
        process.send_signal(kill)
        kills += 1
        code = process.wait(timeout=120)
        expected = -signal.SIGKILL if kill == signal.SIGKILL else 128 + signal.SIGTERM
        assert code in (0, expected), process.stderr.read()
        check_readable(run)
        if kill == signal.SIGTERM:
            assert hidden(run) == [], "a terminated write left its temporary"
        assert main([*TRAIN, "--out", str(run)]) == 2                   # refuses cleanly
        assert "already holds a training run" in capsys.readouterr().err

    assert kills >= 1, "every run finished before it could be killed"
    process = start(run)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    assert hidden(run) == []
    resumed = load_checkpoint(run / "model.safetensors")
    assert resumed.training["steps_done"] == STEPS

    process = start(tmp_path / "straight")        # the same threads as every resumed run
    assert process.wait(timeout=600) == 0, process.stderr.read()
    straight = load_checkpoint(tmp_path / "straight" / "model.safetensors")
    for (name, a), b in zip(straight.network.state_dict().items(),
                            resumed.network.state_dict().values()):
        assert torch.equal(a, b), name
