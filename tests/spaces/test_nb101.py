"""NAS-Bench-101 space: validity, sampling, size, encoding, channel arithmetic and exact costs.

Published values checked here: the 423,624 unique modules of the NB101 paper/README (counted
up to isomorphism from this space's cells), the ``trainable_parameters`` of the Inception-like
cell queried in the official ``NASBench.ipynb`` (2,694,282), and the expected channel counts
of ``nasbench/tests/model_builder_test.py``.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch

import nagen.spaces as spaces
from nagen.errors import InvalidArchitectureError, NotEnumerableError, UnknownOpError
from nagen.graph import ArchGraph
from nagen.profile import count_params
from nagen.spaces.base import ENUMERATE_LIMIT, SearchSpace
from nagen.spaces.nb101 import NB101_OPS, NB101Space, valid_topologies, vertex_channels

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny convs gain nothing from threads, and on small VMs OpenMP spinning makes single
    # forward passes of fresh networks take seconds now and then; restore afterwards.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def space() -> NB101Space:
    return spaces.get("nb101")


def cell(ops, edges) -> ArchGraph:
    return ArchGraph(["input", *ops, "output"], edges)


#: NB101's README Inception-like cell, as written there and as the dataset stores it
INCEPTION_README = (
    [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
     [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", C1, C3, C3, C3, MP, "output"],
)  # fmt: skip
INCEPTION_DATASET = (
    [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", C3, C1, MP, C3, C3, "output"],
)  # fmt: skip


# ---------------------------------------------------------------------- registry and basics
def test_registered(space):
    assert isinstance(space, NB101Space)
    assert space.name == "nb101" and space.ops == (C3, C1, MP)
    assert space.max_nodes == 7 and space.fixed_topology is False
    assert space.vocab == ("input", C3, C1, MP, "output")


# ---------------------------------------------------------------------- validity
@pytest.mark.parametrize(
    ("arch", "reason"),
    [
        # a 7-node cell with 10 edges: chain plus four input shortcuts
        (cell([C3] * 5, [(k, k + 1) for k in range(6)] + [(0, 2), (0, 3), (0, 4), (0, 5)]), "at most 9 edges"),
        (cell([], []), "output is not reachable"),
        (cell([C3], [(0, 1)]), "output is not reachable"),
        (cell([C3, C1], [(0, 1), (1, 3), (0, 2)]), "node 2 .* dangling"),
        (cell([C3, C1], [(0, 1), (1, 3), (2, 3)]), "node 2 .* not reachable from the input"),
        (cell([C3, C1, MP], [(0, 1), (1, 2), (1, 4), (3, 4)]), "node 2 .* dangling"),
    ],
)
def test_invalid_reasons(space, arch, reason):
    with pytest.raises(InvalidArchitectureError, match=reason):
        space.validate(arch)
    assert not space.is_valid(arch)


def test_unknown_op_and_too_many_nodes(space):
    with pytest.raises(UnknownOpError, match="avg_pool"):
        space.validate(cell(["avg_pool_3x3"], [(0, 1), (1, 2)]))
    chain8 = cell([C3] * 6, [(k, k + 1) for k in range(7)])
    with pytest.raises(InvalidArchitectureError, match="at most 7 nodes"):
        space.validate(chain8)


def test_valid_edge_cases(space):
    assert space.is_valid(cell([], [(0, 1)]))  # input -> output only
    nine = cell([C3] * 5, [(k, k + 1) for k in range(6)] + [(0, 2), (0, 3), (0, 6)])
    assert len(nine.edges) == 9 and space.is_valid(nine)


# ---------------------------------------------------------------------- sampling
def test_sample_valid_pruned_and_deterministic(space):
    a = space.sample(300, 0)
    assert all(space.is_valid(x) for x in a)
    assert all(x.pruned() == x for x in a)  # only pruned cells are drawn
    assert a == space.sample(300, 0)
    assert a != space.sample(300, 1)
    assert space.sample(50, np.random.default_rng(3)) == space.sample(50, 3)
    # uniform over cells: 7-node cells are 1,164,699 / 1,293,208 = 90% of the space
    frac7 = np.mean([x.num_nodes == 7 for x in a])
    assert 0.8 < frac7 < 0.97


def test_sample_speed(space):
    space.sample(10, 0)  # warm the topology cache
    t = time.perf_counter()
    space.sample(2000, 1)
    assert time.perf_counter() - t < 2.0  # > 1,000 samples/s with a wide margin


def test_cell_at_is_an_ordered_bijection(space):
    small = [space.cell_at(i) for i in range(1 + 6 + 90)]  # every cell with <= 4 nodes
    assert len(set(small)) == len(small)
    assert [x.num_nodes for x in small] == sorted(x.num_nodes for x in small)
    assert set(small) == set(_brute_force_cells(space, 2)) | set(_brute_force_cells(space, 3)) | set(
        _brute_force_cells(space, 4)
    )
    assert space.is_valid(space.cell_at(space.size - 1))
    with pytest.raises(IndexError):
        space.cell_at(space.size)


# ---------------------------------------------------------------------- size
def _brute_force_cells(space, n):
    """Every valid n-node cell, found by trying every adjacency and op labelling."""
    pairs = list(itertools.combinations(range(n), 2))
    out = []
    for bits in itertools.product((0, 1), repeat=len(pairs)):
        edges = [p for p, b in zip(pairs, bits) if b]
        for ops in itertools.product(NB101_OPS, repeat=n - 2):
            arch = cell(ops, edges)
            if space.is_valid(arch):
                out.append(arch)
    return out


def test_topologies_match_brute_force(space):
    # the vectorised mask test against the space's own validity check, one op labelling
    for n in range(2, 7):
        pairs = list(itertools.combinations(range(n), 2))
        expected = []
        for code in range(1 << len(pairs)):
            edges = [p for k, p in enumerate(pairs) if code >> k & 1]
            if space.is_valid(cell([MP] * (n - 2), edges)):
                expected.append(code)
        assert valid_topologies(n).tolist() == expected, n


def test_size(space):
    for n in (2, 3, 4):  # ops included
        assert len(_brute_force_cells(space, n)) == len(valid_topologies(n)) * 3 ** (n - 2)
    assert [len(valid_topologies(n)) for n in range(2, 8)] == [1, 2, 10, 121, 1545, 4793]
    assert space.size == sum(len(valid_topologies(n)) * 3 ** (n - 2) for n in range(2, 8)) == 1_293_208
    assert space.size > ENUMERATE_LIMIT
    with pytest.raises(NotEnumerableError):
        space.enumerate()


def test_unique_cells_up_to_isomorphism_is_423624():
    """NB101's published count of unique modules, from this space's topologies by Burnside's lemma.

    Topologies are grouped into isomorphism classes (relabellings of the intermediate nodes);
    for each class, the op labellings up to its automorphism group number
    ``mean over automorphisms g of 3 ** (cycles of g on the intermediate nodes)``.
    """
    total = 0
    for n in range(2, 8):
        codes = valid_topologies(n)
        rows, cols = np.triu_indices(n, 1)
        adj = np.zeros((len(codes), n, n), dtype=np.int64)
        adj[:, rows, cols] = (codes[:, None] >> np.arange(len(rows))) & 1
        weights = np.int64(1) << np.arange(n * n, dtype=np.int64).reshape(n, n)
        perms = [(0, *p, n - 1) for p in itertools.permutations(range(1, n - 1))]
        keys = np.stack([(adj[:, p][:, :, p] * weights).sum((1, 2)) for p in perms])  # perm x topology
        own = (adj * weights).sum((1, 2))
        _, reps = np.unique(keys.min(0), return_index=True)  # one topology per class
        for r in reps:
            autos = [p for k, p in enumerate(perms) if keys[k, r] == own[r]]
            fixed = 0
            for p in autos:
                seen: set[int] = set()
                cycles = 0
                for v in range(1, n - 1):
                    if v not in seen:
                        cycles += 1
                        while v not in seen:
                            seen.add(v)
                            v = p[v]
                fixed += 3**cycles
            assert fixed % len(autos) == 0
            total += fixed // len(autos)
    assert total == 423_624


# ---------------------------------------------------------------------- strings and tensors
def test_encode_decode_round_trip(space):
    archs = space.sample(64, 5) + [cell([], [(0, 1)])]
    X, A = space.encode(archs)
    assert X.shape == (65, 7, 5) and A.shape == (65, 7, 7)
    assert torch.all(X[:, -1, -1] == 1)  # the output always sits in the last row
    assert torch.all(X[-1, 1:-1] == 0)  # a 2-node cell pads rows 1..5
    assert space.decode(X, A) == archs
    assert [space.parse(space.format(a)) for a in archs] == archs


def test_from_and_to_matrix(space):
    arch = space.from_matrix(*INCEPTION_README)
    assert space.to_matrix(arch) == (INCEPTION_README[0], INCEPTION_README[1])
    # an NB101 7x7 matrix with a dangling vertex is pruned like ModelSpec does
    m = [[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0], [0] * 7, [0] * 7, [0] * 7, [0] * 7]
    pruned = space.from_matrix(m, ["input", C3, C1, MP, C3, C3, "output"])
    assert pruned == cell([C3], [(0, 1), (1, 2)])
    with pytest.raises(InvalidArchitectureError, match="dangling"):
        space.from_matrix(m, ["input", C3, C1, MP, C3, C3, "output"], prune=False)


# ---------------------------------------------------------------------- neighbours and hashing
def test_neighbours(space):
    for arch in space.sample(5, 11) + [space.from_matrix(*INCEPTION_README)]:
        nbrs = space.neighbours(arch)
        assert nbrs and len(set(nbrs)) == len(nbrs)
        assert nbrs == sorted(nbrs, key=ArchGraph.to_string)
        for b in nbrs:
            assert space.is_valid(b) and b != arch
            if b.num_nodes == arch.num_nodes:  # one op or one edge changed
                op_changes = sum(x != y for x, y in zip(arch.ops, b.ops))
                edge_changes = len(set(arch.edges) ^ set(b.edges))
                assert op_changes + edge_changes == 1
            elif b.num_nodes == arch.num_nodes + 1:  # one node inserted: its two edges are the only new ones
                assert len(b.edges) == len(arch.edges) + 2
            else:  # an edge removed stranded nodes, which were pruned
                assert b.num_nodes < arch.num_nodes and len(b.edges) < len(arch.edges)
    simple = cell([C3], [(0, 1), (1, 2)])
    inserted = [
        space.parse(text.format(op=op))
        for op in (C1, C3, MP)
        for text in (
            "input;{op}<0;conv3x3-bn-relu<0,1;output<2",  # the new node feeds the conv
            "input;{op}<0;conv3x3-bn-relu<0;output<1,2",  # a parallel branch, inserted before ...
            "input;conv3x3-bn-relu<0;{op}<0;output<1,2",  # ... or after the conv (same network, other order)
            "input;conv3x3-bn-relu<0;{op}<1;output<1,2",  # fed by the conv
        )
    ]
    assert space.neighbours(simple) == sorted(  # a set: two conv3x3 branches are one graph either way
        {cell([C1], simple.edges), cell([MP], simple.edges), cell([C3], [(0, 1), (0, 2), (1, 2)]), *inserted},
        key=ArchGraph.to_string,
    )
    # sizes change in both directions, so mutation can reach every node count
    assert {b.num_nodes for b in space.neighbours(space.parse("input;output<0"))} == {3}
    seven = space.sample(20, 3)
    assert any(b.num_nodes < a.num_nodes for a in seven for b in space.neighbours(a))


def test_canonical_hash(space):
    # input -> {1: conv3x3, 2: conv1x1} -> 3: maxpool -> output; swap the parallel nodes 1 and 2
    a = cell([C3, C1, MP], [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)])
    b = a.permute([0, 2, 1, 3, 4])
    assert b != a and space.is_valid(b)
    assert b.ops == ("input", C1, C3, MP, "output")
    assert a.canonical_hash() == b.canonical_hash()
    c = cell([C3, C1, MP], [(0, 1), (1, 2), (2, 3), (3, 4)])  # same ops, a chain: not isomorphic
    assert a.canonical_hash() != c.canonical_hash()
    # the README's Inception cell and the dataset's stored form of it are one module
    assert space.from_matrix(*INCEPTION_README).is_equivalent(space.from_matrix(*INCEPTION_DATASET))


# ---------------------------------------------------------------------- channels
def _m(rows):
    return ArchGraph.from_adjacency(["input"] + [MP] * (len(rows) - 2) + ["output"], rows)


def test_vertex_channels_match_nasbench_unit_tests():
    # expected values copied from nasbench/tests/model_builder_test.py
    linear = _m([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert vertex_channels(linear, 8, 8) == [8, 8, 8, 8]
    assert vertex_channels(linear, 8, 16) == [8, 16, 16, 16]
    assert vertex_channels(linear, 16, 8) == [16, 8, 8, 8]
    bare = _m([[0, 1], [0, 0]])
    assert vertex_channels(bare, 1, 5) == [1, 5] and vertex_channels(bare, 5, 1) == [5, 1]
    no_out_branch = _m([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert vertex_channels(no_out_branch, 8, 16) == [8, 16, 16, 16, 16]
    assert vertex_channels(no_out_branch, 16, 8) == [16, 8, 8, 8, 8]
    out_branch = _m([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert vertex_channels(out_branch, 8, 8) == [8, 4, 4, 8]
    assert vertex_channels(out_branch, 16, 8) == [16, 4, 4, 8]
    assert vertex_channels(out_branch, 8, 15) == [8, 8, 7, 15]
    three = _m([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert vertex_channels(three, 8, 8) == [8, 3, 3, 2, 8]
    assert vertex_channels(three, 8, 15) == [8, 5, 5, 5, 15]
    fan = _m([[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert vertex_channels(fan, 8, 8) == [8, 4, 4, 4, 8]
    assert vertex_channels(fan, 8, 9) == [8, 5, 5, 4, 9]
    skip = _m([[0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert vertex_channels(skip, 8, 8) == [8, 4, 4, 4, 8]
    assert vertex_channels(skip, 8, 15) == [8, 8, 7, 7, 15]


# ---------------------------------------------------------------------- networks and costs
def test_forward_shapes(space):
    for arch in space.sample(3, 2) + [cell([], [(0, 1)]), space.from_matrix(*INCEPTION_README)]:
        net = space.build(arch, stem_channels=8)
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    net = space.build(cell([C3, MP], [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]), 5, stem_channels=7, in_channels=1)
    assert net(torch.randn(2, 1, 9, 9)).shape == (2, 5)  # odd sizes pool with ceil, like TF's 'same'


def test_truncation_and_concat_channels(space):
    # 3 nodes feed the output: 8 channels split 3, 3, 2; node 1 (3 ch) feeds node 3 (2 ch), truncated
    arch = cell([C3, C1, MP], [(0, 1), (0, 2), (1, 3), (0, 3), (1, 4), (2, 4), (3, 4)])
    net = space.build(arch, stem_channels=8, num_stacks=1, cells_per_stack=1)
    c = net.cells[0]
    assert c.channels == [8, 3, 3, 2, 8]
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def _conv(k, c_in, c_out):
    return k * k * c_in * c_out + 2 * c_out  # conv weights + BatchNorm weight and bias


def _network_params(cell_params, c=128, num_classes=10):
    """Stem + 3 stacks of 3 cells (the first of stacks 2 and 3 doubles channels) + classifier."""
    total = _conv(3, 3, c)
    for stack in range(3):
        c_in = c
        if stack:
            c *= 2
        for _ in range(3):
            total += cell_params(c_in, c)
            c_in = c
    return total + c * num_classes + num_classes


def test_exact_params_by_hand(space):
    # input -> conv3x3 -> output: projection to c, then a c -> c conv
    simple = cell([C3], [(0, 1), (1, 2)])
    by_hand = _network_params(lambda ci, co: _conv(1, ci, co) + _conv(3, co, co))
    assert by_hand == 10_177_674
    # input -> output only: one projection per cell
    bare = cell([], [(0, 1)])
    assert _network_params(lambda ci, co: _conv(1, ci, co)) == 882_570
    # Inception-like cell: four c/4 projections, three 3x3 and one 1x1 conv at c/4 channels
    inception_by_hand = _network_params(
        lambda ci, co: 4 * _conv(1, ci, co // 4) + 3 * _conv(3, co // 4, co // 4) + _conv(1, co // 4, co // 4)
    )
    assert inception_by_hand == 2_694_282  # NASBench.ipynb's trainable_parameters for this cell
    for arch, expected in [
        (simple, 10_177_674),
        (bare, 882_570),
        (space.from_matrix(*INCEPTION_README), 2_694_282),
        (space.from_matrix(*INCEPTION_DATASET), 2_694_282),
    ]:
        assert count_params(space.build(arch)) == expected
        assert space.cost(arch)["params"] == expected


def test_closed_form_cost_equals_counting(space):
    archs = space.sample(6, 7) + [cell([], [(0, 1)]), cell([C3] * 5, [(k, k + 1) for k in range(6)] + [(0, 6)])]
    for arch in archs:
        for shape, opts in [
            ((3, 32, 32), {"stem_channels": 8}),
            ((1, 9, 7), {"stem_channels": 5, "num_stacks": 4, "cells_per_stack": 2, "in_channels": 1}),
        ]:
            assert space.cost(arch, 7, shape, **opts) == SearchSpace.cost(space, arch, 7, shape, **opts)
    inception = space.from_matrix(*INCEPTION_README)
    assert space.cost(inception) == SearchSpace.cost(space, inception)  # the full-size network once


def test_cost_is_fast_for_the_largest_cells(space):
    chain = cell([C3] * 5, [(k, k + 1) for k in range(6)] + [(0, 6)])  # ~48M params, ~7 GFLOPs
    t = time.perf_counter()
    c = space.cost(chain)
    assert time.perf_counter() - t < 0.5
    assert c["params"] == _network_params(lambda ci, co: 2 * _conv(1, ci, co) + 5 * _conv(3, co, co))


def test_cost_refuses_what_build_refuses(space):
    from nagen.errors import InvalidArgumentError

    # three nodes feed the output: 2 output channels cannot give each one a channel
    arch = ArchGraph(
        ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"],
        [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)],
    )
    for call in (space.build, space.cost):
        with pytest.raises(InvalidArgumentError, match="2 output channels cannot be split among the 3 nodes"):
            call(arch, stem_channels=2, num_stacks=1)
    assert space.cost(arch, stem_channels=3, num_stacks=1) == SearchSpace.cost(space, arch, stem_channels=3, num_stacks=1)


def test_build_options(space):
    arch = space.from_matrix(*INCEPTION_README)
    with pytest.raises(ValueError, match="stem_channels"):
        space.build(arch, stem_channels=0)
    with pytest.raises(TypeError):
        space.build(arch, stem_chanels=8)
    with pytest.raises(ValueError, match="cannot be split"):
        space.build(arch, stem_channels=3)  # 4 nodes feed the output
    with pytest.raises(ValueError, match="input_shape"):
        space.cost(arch, input_shape=(1, 32, 32))
    # without an input_shape, in_channels changes the default (3, 32, 32) to (1, 32, 32)
    assert space.cost(arch, in_channels=1) == space.cost(arch, input_shape=(1, 32, 32), in_channels=1)
    net = space.build(arch, stem_channels=8, bn_momentum=0.003)
    assert {m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.003}
