"""Shared fixtures: a small labelled NB201 split (train/held-out) with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

import nagen.benchmarks


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
