"""Shared setup of the generator tests."""

from __future__ import annotations

import pytest

import nagen.spaces


def _chain_space(name: str):
    return nagen.spaces.from_spec({"name": name, "ops": ["a", "b", "c"], "num_nodes": 5, "topology": "fixed",
                                   "edges": [[0, 1], [1, 2], [2, 3], [3, 4]], "buildable": False})


@pytest.fixture(scope="session")
def chain_space():
    """``chain_space(name)``: a 27-cell toy space, a chain of 3 slots between input and output,
    each op 'a', 'b' or 'c' (no network builder). Each test module names its own, so that
    per-space caches stay apart."""
    return _chain_space


@pytest.fixture(scope="module")
def tiny(request):
    """The chain space, named after the test module (a module may define its own ``tiny``)."""
    return _chain_space(request.module.__name__.rsplit(".", 1)[-1])
