"""The package's top level: what a user reaches right after ``import diffblend_astra``."""

import subprocess
import sys

import pytest

import diffblend_astra


@pytest.mark.parametrize("name", ["operators", "baselines", "metrics", "noise", "phantoms"])
def test_subpackages_are_attributes_in_a_fresh_interpreter(name):
    # a fresh interpreter: nothing else has imported the subpackage before
    code = f"import diffblend_astra as dba; print(dba.{name}.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"diffblend_astra.{name}"


def test_top_level_names_resolve():
    for name in diffblend_astra.__all__:
        assert getattr(diffblend_astra, name) is not None
    with pytest.raises(AttributeError, match="no attribute"):
        diffblend_astra.not_a_name
