"""Shared test setup: one torch thread, and a small labelled NB201 split with fixed seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import nagen.benchmarks
from nagen.benchmarks import Benchmark

# Tests use tiny models: one intra-op thread avoids oversubscription when pytest shares the
# two cores with other processes (two threads were 10-50x slower under load on these machines).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def nb201():
    return nagen.benchmarks.load("nb201")


@pytest.fixture(scope="session")
def split(nb201):
    """60 training and 300 held-out random cells with their CIFAR-10 test accuracies."""
    idx = np.random.default_rng(0).permutation(len(nb201))
    train = [nb201.archs[i] for i in idx[:60]]
    test = [nb201.archs[i] for i in idx[60:360]]
    return train, nb201.query_many(train, "cifar10_test"), test, nb201.query_many(test, "cifar10_test")


@pytest.fixture
def queried(monkeypatch):
    """Every metric the table is asked for, in order (the real lookups still run)."""
    log: list[str] = []
    for name in ("query", "query_many", "values"):
        real = getattr(Benchmark, name)

        def wrapped(self, *args, _real=real, **kwargs):
            metric = kwargs.get("metric", args[-1] if args else None)
            log.append(metric)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Benchmark, name, wrapped)
    return log


@pytest.fixture(scope="session")
def benchmark_script():
    """``load(name)``: the module of ``benchmarks/<name>.py`` (the scripts are not a package)."""

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture
def generate_calls(monkeypatch):
    """Record ``nagen.api.generate``'s keywords; return uniform samples instead of running it."""
    calls: list[dict] = []

    def fake(**kwargs):
        import nagen.spaces

        calls.append(kwargs)
        sp = nagen.spaces.get(kwargs["space"])
        out = nagen.api.GenerationResult(nagen.api.Generated(a, sp.format(a)) for a in sp.sample(kwargs["n"], 0))
        out.stats = None
        return out

    import nagen.api

    monkeypatch.setattr(nagen.api, "generate", fake)
    return calls


@pytest.fixture
def unique_name():
    """A fresh space registry name, unregistered (and its instance dropped) after the test."""
    import uuid

    import nagen.spaces

    name = f"custom_{uuid.uuid4().hex[:10]}"
    yield name
    if name in nagen.spaces.registry:
        nagen.spaces.registry.remove(name)
    nagen.spaces._instances.pop(name, None)
