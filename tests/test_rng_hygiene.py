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


def test_generate_and_fits_do_not_depend_on_the_torch_thread_count() -> None:
    """A noise-aware GNN guide fitted with two threads differed by up to 0.28 points from one fitted with
    one, so `nagen generate` gave other architectures on a machine with more cores (and the guide cache
    kept whichever came first). Fits and sampling now run with one thread, restoring the caller's."""
    import numpy as np
    import torch

    import nagen
    import nagen.api
    import nagen.predictors as P

    before = torch.get_num_threads()
    sp = nagen.spaces.get("nb201")
    archs = sp.sample(20, rng=0)
    values = np.array([nagen.benchmarks.load("nb201").query(a, "cifar10_valid_12ep") for a in archs])
    outs, preds = [], []
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            nagen.api._GUIDE_FITS.clear()
            out = nagen.generate(space="nb201", n=8, method="diffusion", guide="cifar10_valid_12ep", seed=0, guide_labels=20)
            outs.append([(r.string, r.predicted) for r in out])
            assert torch.get_num_threads() == threads  # the caller's count is restored
            gnn = P.get("gnn", sp, seed=0, epochs=30).fit(archs, values)
            preds.append(gnn.predict(archs).mean)
    finally:
        torch.set_num_threads(before)
    assert outs[0] == outs[1]
    assert np.array_equal(preds[0], preds[1])
