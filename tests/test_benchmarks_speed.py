"""The speed benchmark runs end to end in quick mode and prints its table."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


@pytest.mark.slow
def test_speed_quick_prints_the_table():
    # Passive OpenMP waiting keeps the run short when other processes share the cores.
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "| Z | max_batch | images/NFE | s/NFE | network | operator | rest |" in result.stdout
    assert "| 48² | unbounded |" in result.stdout
