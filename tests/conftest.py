"""Shared test set-up.

Tests marked ``@pytest.mark.cuda`` are skipped unless a CUDA GPU is usable by both torch and
ASTRA (:func:`diffblend_astra.operators.cuda.cuda_usable`); the check never calls an ASTRA
CUDA routine, so it is safe on machines without a GPU.
"""

import contextlib
import io

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    from diffblend_astra.operators.cuda import cuda_usable

    if cuda_usable():
        return
    skip = pytest.mark.skip(reason="needs a usable CUDA GPU (torch.cuda.is_available() and "
                                   "astra.use_cuda())")
    for item in marked:
        item.add_marker(skip)


@pytest.fixture
def generator():
    """A seeded CPU ``torch.Generator``: the one source of randomness of a test."""
    return torch.Generator().manual_seed(0)


@pytest.fixture
def astra_object_counts():
    """A function returning how many ASTRA 2D data, projector and algorithm objects exist,
    read from ASTRA's own ``info()`` tables (rows between the two dashed lines)."""
    import astra

    def count(module):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            module.info()
        lines = buffer.getvalue().splitlines()
        rules = [i for i, line in enumerate(lines) if line.startswith("---")]
        return rules[1] - rules[0] - 1

    return lambda: {name: count(getattr(astra, name))
                    for name in ("data2d", "projector", "algorithm")}
