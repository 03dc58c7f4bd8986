"""``CustomSpace.sample`` is uniform over the distinct architectures of countable variable spaces.

Variable-topology spaces of at most ``EXACT_SIZE_MAX_NODES`` nodes draw one integer in
``0 .. size - 1`` and decode it (``_arch_at``); larger ones keep the (non-uniform)
ear-decomposition sampler (``_sample_ear``).
"""

from __future__ import annotations

import collections
import pickle
import time
from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare

from nagen.errors import InvalidArgumentError
from nagen.spaces.custom import EXACT_SIZE_MAX_NODES, CustomSpace, _uniform_below


def var_space(ops: list[str], num_nodes: int, max_edges: int | None = None, **extra: Any) -> CustomSpace:
    spec: dict[str, Any] = {
        "name": "uniform_test",
        "ops": ops,
        "num_nodes": num_nodes,
        "topology": "variable",
        "buildable": False,
        **extra,
    }
    if max_edges is not None:
        spec["max_edges"] = max_edges
    return CustomSpace.from_spec(spec)


# the first: 2 ops, 3..4 nodes, no edge limit (44 architectures); the second: 1 op, 3..5 nodes,
# at most 5 edges (23 architectures, the limit removes most 5-node DAGs)
TINY = [(["a", "b"], 4, 6, 44), (["a"], 5, 5, 23)]


@pytest.mark.parametrize(("ops", "num_nodes", "max_edges", "size"), TINY)
def test_samples_are_uniform_over_the_tiny_space(ops: list[str], num_nodes: int, max_edges: int, size: int) -> None:
    s = var_space(ops, num_nodes, max_edges)
    everything = list(s.enumerate())
    assert s.size == size == len(everything) == len(set(everything))
    per_cell = 300
    draws = s.sample(per_cell * size, rng=20240601)
    counts = collections.Counter(draws)
    assert set(counts) == set(everything)  # every architecture drawn, nothing outside the space
    assert all(s.is_valid(a) for a in counts)
    observed = [counts[a] for a in everything]
    assert chisquare(observed).pvalue > 1e-3
    # the node count follows the number of architectures of each size, not a uniform node count
    by_n = collections.Counter(a.num_nodes for a in draws)
    cells_by_n = collections.Counter(a.num_nodes for a in everything)
    ns = sorted(cells_by_n)
    assert chisquare([by_n[n] for n in ns], [per_cell * cells_by_n[n] for n in ns]).pvalue > 1e-3


@pytest.mark.parametrize(("ops", "num_nodes", "max_edges", "size"), TINY)
def test_the_ear_sampler_fails_the_same_test(ops: list[str], num_nodes: int, max_edges: int, size: int) -> None:
    """The old sampler (still used above EXACT_SIZE_MAX_NODES nodes) is far from uniform."""
    s = var_space(ops, num_nodes, max_edges)
    everything = list(s.enumerate())
    rng = np.random.default_rng(20240601)
    counts = collections.Counter(s._sample_ear(rng) for _ in range(300 * size))
    assert set(counts) <= set(everything)
    assert chisquare([counts[a] for a in everything]).pvalue < 1e-12
    # small cells get a whole node count's mass: the 3-node ones are drawn far too often
    three = [a for a in everything if a.num_nodes == 3]
    assert sum(counts[a] for a in three) > 3 * 300 * len(three)  # ~3.8x and ~5.5x here


def test_the_ear_sampler_is_not_uniform_within_a_node_count() -> None:
    s = var_space(["a"], 5, 6)  # 45 five-node edge sets
    rng = np.random.default_rng(7)
    five = [a for a in s.enumerate() if a.num_nodes == 5]
    counts = collections.Counter(a for a in (s._sample_ear(rng) for _ in range(30_000)) if a.num_nodes == 5)
    assert chisquare([counts[a] for a in five]).pvalue < 1e-12


def test_the_ear_sampler_keeps_full_support() -> None:
    """Every valid architecture can still be constructed by the sampler of large spaces."""
    s = var_space(["skip"], 5, 6)
    rng = np.random.default_rng(0)
    assert {s._sample_ear(rng) for _ in range(5000)} == set(s.enumerate())


@pytest.mark.parametrize(
    ("ops", "num_nodes", "max_edges", "extra"),
    [
        (["a", "b"], 4, 6, {}),
        (["a", "b", "c"], 5, 6, {"min_nodes": 4}),
        (["a", "b"], 6, 3, {}),  # 5- and 6-node cells need more than 3 edges: empty node counts
        (["a", "b"], 3, 2, {}),
    ],
)
def test_arch_at_decodes_the_enumeration_order(ops: list[str], num_nodes: int, max_edges: int, extra: Any) -> None:
    s = var_space(ops, num_nodes, max_edges, **extra)
    assert [s._arch_at(i) for i in range(s.size)] == list(s.enumerate())


def test_node_counts_of_a_seven_node_space_follow_the_exact_sizes() -> None:
    s = var_space(["conv3x3", "conv1x1", "maxpool3x3"], EXACT_SIZE_MAX_NODES)
    blocks, size = s._strata()
    assert size == s.size
    p = {n: len(codes) * labellings / size for _, n, labellings, codes in blocks}
    draws = s.sample(4000, rng=3)
    assert all(s.is_valid(a) for a in draws[:200])
    freq = collections.Counter(a.num_nodes for a in draws)
    for n in (6, 7):  # 7 nodes hold ~99.5% of the space; the ear sampler gave each count 1/5
        sd = np.sqrt(p[n] * (1 - p[n]) / len(draws))
        assert abs(freq[n] / len(draws) - p[n]) < 5 * sd + 1e-3
    assert sum(freq[n] for n in (3, 4, 5)) <= 5


def test_uniform_sampling_is_deterministic_and_keeps_the_base_validation() -> None:
    s = var_space(["a", "b", "c"], 6, 9)
    a = s.sample(200, rng=11)
    assert a == s.sample(200, rng=11) == s.sample(200, seed=11)
    assert a == s.sample(200, rng=np.random.default_rng(11))
    assert a != s.sample(200, rng=12)
    # one generator carries on where it stopped: two halves make the whole
    g = np.random.default_rng(11)
    assert s.sample(120, rng=g) + s.sample(80, rng=g) == a
    # a fresh copy (caches empty) and a pickled one draw the same
    assert var_space(["a", "b", "c"], 6, 9).sample(200, rng=11) == a
    assert pickle.loads(pickle.dumps(s)).sample(200, rng=11) == a
    assert s.sample(0, rng=0) == []
    for bad in ({"n": -1}, {"n": 2.5}, {"n": 2, "rng": -1}, {"n": 2, "rng": "seed"}, {"n": 2, "rng": 1, "seed": 1}):
        with pytest.raises(InvalidArgumentError):
            s.sample(**bad)


@pytest.mark.parametrize(("num_nodes", "max_edges"), [(EXACT_SIZE_MAX_NODES + 1, 12), (12, 20), (20, None)])
def test_spaces_too_large_to_count_still_sample_valid_architectures(num_nodes: int, max_edges: int | None) -> None:
    s = var_space(["conv3x3", "conv1x1", "maxpool3x3"], num_nodes, max_edges, min_nodes=3)
    assert s.size is None
    archs = s.sample(200, rng=5)
    assert archs == s.sample(200, rng=5)
    assert all(s.is_valid(a) for a in archs)
    limit = s.max_edges
    assert all(3 <= a.num_nodes <= num_nodes and len(a.edges) <= limit for a in archs)
    assert len({a.num_nodes for a in archs}) > 1


def test_sizes_beyond_int64_are_sampled_exactly() -> None:
    ops = [f"op{k}" for k in range(700)]  # 700 ** 5 labellings x ~2e5 DAGs > 2 ** 63
    s = var_space(ops, EXACT_SIZE_MAX_NODES)
    assert s.size > 2**63
    archs = s.sample(50, rng=1)
    assert archs == s.sample(50, rng=1)
    assert all(s.is_valid(a) for a in archs)
    first, last = s._arch_at(0), s._arch_at(s.size - 1)  # the ends of the order, decoded exactly
    assert first.num_nodes == 3 and first.ops[1] == "op0" and s.is_valid(first)
    assert last.num_nodes == 7 and set(last.ops[1:-1]) == {"op699"} and s.is_valid(last)
    # the big-integer draw itself: uniform top digit, never out of range
    rng = np.random.default_rng(0)
    bound = 3 * 2**64
    values = [_uniform_below(rng, bound) for _ in range(3000)]
    assert all(0 <= v < bound for v in values)
    assert chisquare(list(collections.Counter(v // 2**64 for v in values).values())).pvalue > 1e-3
    assert _uniform_below(rng, 1) == 0


def test_uniform_sampling_is_fast() -> None:
    s = var_space(["conv3x3", "conv1x1", "maxpool3x3"], EXACT_SIZE_MAX_NODES)
    t = time.perf_counter()
    s.sample(2000, rng=0)  # includes counting the space (all 2 ** 21 seven-node adjacency codes)
    assert 2000 / (time.perf_counter() - t) > 1000
