"""The README's Python snippet runs as written (with fewer diffusion steps, to stay quick)."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match, "README.md has no ```python block"
    return match.group(1)


def test_readme_snippet_runs():
    code = first_python_block()
    assert "steps=50" in code and "samples=4" in code
    cheap = code.replace("steps=50", "steps=2").replace("samples=4", "samples=2")
    namespace = {}
    exec(compile(cheap, str(README), "exec"), namespace)
    x, mean, std = namespace["x"], namespace["mean"], namespace["std"]
    assert x.shape == mean.shape == std.shape == (16, 256, 256)
    assert x.dtype == torch.float32 and torch.isfinite(x).all() and (std >= 0).all()
