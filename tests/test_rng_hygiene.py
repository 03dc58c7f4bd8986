"""Library calls that are not asked for randomness leave the caller's global torch RNG alone.

A seeded script (``torch.manual_seed(0)`` then its own draws) must draw the same numbers whether
or not it asked nagen for a cost or fitted a predictor in between; these calls once moved it
(building networks to count their cost, building an acquisition).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.predictors as P
import nagen.spaces


def _moves_rng(fn) -> bool:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    fn()
    return not torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", ["nb201", "mbv3", "nb101"])
def test_cost_on_a_cold_cache(name) -> None:
    from nagen.spaces import mbv3, nb201

    nb201._cost_terms.cache_clear()
    mbv3._cost_terms.cache_clear()
    space = nagen.spaces.get(name)
    arch = space.sample(1, 0)[0]
    # an unusual class count: a cost table not built by an earlier test
    assert not _moves_rng(lambda: space.cost(arch, 13))


def test_generic_cost_build() -> None:
    space = nagen.spaces.from_spec({"name": "rng_c", "ops": ["conv3x3", "conv1x1"], "num_nodes": 4, "topology": "variable", "max_edges": 5})
    assert not _moves_rng(lambda: space.cost(space.sample(1, 0)[0], 3))


def test_zero_cost_features_and_fit() -> None:
    from nagen.spaces import nb201

    nb201._cost_terms.cache_clear()
    space = nagen.spaces.get("nb201")
    archs = space.sample(20, 0)
    zc = P.get("zero_cost", space)
    assert not _moves_rng(lambda: zc.fit(archs, np.arange(20.0)))


def test_acquisition_fit_and_empty_score() -> None:
    space = nagen.spaces.get("nb201")
    archs = space.sample(12, 0)
    acq = P.get("acquisition", space)
    assert not _moves_rng(lambda: acq.fit(archs, np.arange(12.0)))
    X, A = space.encode(archs[:2])
    assert acq.score(X[:0], A[:0]).shape == (0,)  # an empty batch once failed in a reshape
    assert acq.score(X, A).shape == (2,)
