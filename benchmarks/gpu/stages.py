"""The stages of the GPU acceptance run, in order, each a command with its own time limit.

Every stage runs in a subprocess of its own (a crash in ASTRA's CUDA code kills only that
stage) from the repository root, with the environment that :mod:`environment` prepares. A
stage passes when it exits 0 and its output matches ``expect``. The limits add up to
:data:`BUDGET_S`; the run also clips each limit to the time left, so it ends within its budget
whatever happens.
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KIT = Path(__file__).resolve().parent
BUDGET_S = 470
"""Seconds for the whole run, set-up included: under 8 minutes."""
SETUP_S = 45
"""Seconds reserved for the set-up (wheel install, cuFFT shim) before the first stage."""

RESULT_ROW = r"(?m)^DiffusionBlend\+\+.*\d+\.\d+ +\d\.\d{4}"
"""A row of the examples' tables: DiffusionBlend++ with a PSNR and an SSIM."""


@dataclass(frozen=True)
class Stage:
    """One command of the run: ``argv`` (``python`` = this interpreter), seconds allowed,
    a regular expression its output must match, extra environment variables, and the reason
    it is skipped (``None``: it runs)."""

    name: str
    argv: tuple
    timeout_s: int
    expect: str
    env: dict = field(default_factory=dict)
    skip: str | None = None

    def command(self) -> str:
        """The command line, as it would be typed from the repository root."""
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        words = ["python" if word == sys.executable else word for word in self.argv]
        return " ".join(([env] if env else []) + words)


def plan(tomosipo: bool) -> list[Stage]:
    """The stages in order; ``tomosipo``: whether tomosipo will be importable."""
    python = sys.executable
    kit = "benchmarks/gpu"
    tomosipo_stage = Stage(
        "example-tomosipo", (python, "examples/tomosipo_operator.py", "--quick"), 40,
        RESULT_ROW, skip=None if tomosipo else
        "tomosipo is neither installed nor carried (prepare.py --tomosipo PATH carries a copy)")
    return [
        Stage("probe", (python, f"{kit}/probe.py"), 30, r"(?m)^FDK ok"),
        Stage("pytest-cuda", (python, "-m", "pytest", "-m", "cuda", "-q", "-rs",
                              "-p", "no:cacheprovider", "--continue-on-collection-errors",
                              "tests"), 60, r"\d+ passed",
              env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
        Stage("operators", (python, f"{kit}/operators_check.py"), 35,
              r"(?m)^all \d+ checks passed"),
        Stage("example-cone", (python, "examples/astra_cone.py", "--quick"), 40, RESULT_ROW),
        tomosipo_stage,
        Stage("speed", (python, "benchmarks/speed.py", "--gpu"), 175, r"200 NFE at Z = 500"),
        Stage("train", (python, f"{kit}/train_speed.py"), 45, r"(?m)^paper: [\d.]+ steps/s"),
    ]


def scripts(stages) -> list[Path]:
    """The repository files the stages run (for the dry run to check they exist)."""
    return [REPO / word for stage in stages for word in stage.argv if word.endswith(".py")]
