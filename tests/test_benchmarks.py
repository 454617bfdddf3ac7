"""The benchmark scripts run end to end in their quick modes, so they cannot rot."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
@pytest.mark.parametrize("script, expected", [
    ("quality.py", "| dbpp |"),
    ("operators.py", "speed-up"),
    ("priors.py", "gain adj (dB)"),
    ("method_time.py", "CPU time / DDS"),
    ("eta.py", "| parallel-8 | dbpp | 0.85 **best** |"),
    ("cone.py", "| 8 | dbpp |"),
])
def test_quick_mode_runs(script, expected):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"],
                          capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
