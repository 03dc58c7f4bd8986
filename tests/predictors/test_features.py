"""Fixed encodings: one-hot (and its torch twin), BANANAS paths, Weisfeiler-Lehman histograms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nagen.spaces
from nagen.errors import EncodingError, InvalidArchitectureError
from nagen.graph import ArchGraph
from nagen.predictors import features as F

# |o1~0|+|o2~0|o3~1|+|o4~0|o5~1|o6~2|: cell edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# nothing reaches cell node 3: every edge into it is `none`
DISCONNECTED = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
C3, C1, SKIP = "nor_conv_3x3", "nor_conv_1x1", "skip_connect"


@pytest.fixture(scope="module")
def nb201():
    return nagen.spaces.get("nb201")


@pytest.fixture(scope="module")
def variable_space():
    """NB101 if it is registered, else an equivalent user-defined variable-topology space."""
    try:
        return nagen.spaces.get("nb101")
    except KeyError:
        return nagen.spaces.from_spec(
            {"name": "t", "ops": ["conv3x3", "conv1x1", "maxpool3x3"], "num_nodes": 6, "topology": "variable", "max_edges": 8}
        )


def _counts(space, arch) -> dict[tuple[str, ...], float]:
    vocab = F.path_vocabulary(space)
    row = F.path(space, [arch])[0]
    return {vocab[k]: row[k] for k in np.flatnonzero(row)}


# ---------------------------------------------------------------------- one-hot
def test_onehot_nb201_layout(nb201) -> None:
    feats = F.onehot(nb201, [BEST_C10, ALL_CONV3])
    assert feats.shape == (2, 6 * 5) and feats.dtype == np.float64
    per_node = feats.reshape(2, 6, 5)
    assert (per_node.sum(-1) == 1).all()
    ops = [nb201.ops[i] for i in per_node[0].argmax(-1)]
    assert ops == [C3, C3, C3, SKIP, C3, C1]
    assert F.onehot(nb201, []).shape == (0, 30)


def test_onehot_from_state_matches_and_is_differentiable(nb201) -> None:
    X, A = nb201.encode(nb201.sample(4, rng=0))
    assert torch.equal(F.onehot_from_state(nb201, X, A).double(), torch.from_numpy(F.onehot(nb201, nb201.sample(4, rng=0))))
    soft = torch.softmax(torch.randn(3, 8, 7, dtype=torch.float64), -1).requires_grad_(True)
    out = F.onehot_from_state(nb201, soft, A[:3])
    assert out.dtype == torch.float64 and out.shape == (3, 30)
    (out * torch.arange(30.0, dtype=torch.float64)).sum().backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0
    with pytest.raises(EncodingError):
        F.onehot_from_state(nb201, X[:, :5], A)


def test_onehot_variable_topology_adds_adjacency(variable_space) -> None:
    n, ops = variable_space.max_nodes, len(variable_space.ops)
    archs = variable_space.sample(5, rng=1)
    feats = F.onehot(variable_space, archs)
    assert feats.shape == (5, (n - 2) * ops + n * (n - 1) // 2) == (5, F.onehot_dim(variable_space))
    _, A = variable_space.encode(archs)
    rows, cols = np.triu_indices(n, 1)
    assert np.array_equal(feats[:, (n - 2) * ops :], A.numpy()[:, rows, cols])
    assert feats[:, (n - 2) * ops :].sum(1).tolist() == [len(a.edges) for a in archs]


# ---------------------------------------------------------------------- paths
def test_path_vocabulary_sizes(nb201, variable_space) -> None:
    vocab = F.path_vocabulary(nb201)
    # 4 non-zero ops, paths of 1, 2 or 3 middle nodes in the NB201 DAG
    assert len(vocab) == 4 + 16 + 64 and vocab[0] == (SKIP,) and all(1 <= len(s) <= 3 for s in vocab)
    assert F.path(nb201, [BEST_C10]).shape == (1, 84)
    k, n = len(variable_space.ops), variable_space.max_nodes
    assert len(F.path_vocabulary(variable_space)) == sum(k**m for m in range(n - 1))  # NB101: 364


def test_path_counts_counted_by_hand(nb201) -> None:
    # cell paths 0->3, 0->1->3, 0->2->3, 0->1->2->3 read off the edge ops
    assert _counts(nb201, BEST_C10) == {(SKIP,): 1, (C3, C3): 1, (C3, C1): 1, (C3, C3, C1): 1}
    # two different length-2 paths with the same op sequence count twice
    assert _counts(nb201, ALL_CONV3) == {(C3,): 1, (C3, C3): 2, (C3, C3, C3): 1}
    # `none` on 0->1 removes both paths through cell node 1
    no_01 = BEST_C10.replace("|nor_conv_3x3~0|+", "|none~0|+", 1)
    assert _counts(nb201, no_01) == {(SKIP,): 1, (C3, C1): 1}


def test_disconnected_cell_has_no_paths(nb201) -> None:
    assert F.path(nb201, [DISCONNECTED]).sum() == 0
    assert F.path(nb201, ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]).sum() == 0


def test_path_variable_topology_counts_the_direct_edge(variable_space) -> None:
    a, b = variable_space.ops[0], variable_space.ops[2]
    cell = ArchGraph(["input", a, b, "output"], [(0, 1), (1, 2), (2, 3), (0, 3), (1, 3)])
    assert _counts(variable_space, cell) == {(): 1, (a,): 1, (a, b): 1}


def test_path_hashes_large_vocabularies_stably() -> None:
    big = nagen.spaces.from_spec(
        {"name": "big", "ops": [f"op{i}" for i in range(6)], "num_nodes": 9, "topology": "variable", "buildable": False}
    )
    assert F.path_vocabulary(big) is None  # 6 ops, up to 7 middle nodes: far above 4096 sequences
    archs = big.sample(4, rng=0)
    feats = F.path(big, archs)
    assert feats.shape == (4, F.PATH_HASH_DIMS)
    assert feats.sum(1).tolist() == [sum(F._path_counts(a).values()) for a in archs]
    # blake2b, not Python's per-process randomised hash()
    assert F.stable_hash("nagen") == 17531442886862843356


# ---------------------------------------------------------------------- Weisfeiler-Lehman
def test_wl_shapes_and_iteration_zero_counts_ops(nb201) -> None:
    feats = F.wl(nb201, [BEST_C10, DISCONNECTED], iterations=2, dims=64)
    assert feats.shape == (2, 3 * 64)
    # the best cell has no dead parts: 8 nodes in every block
    assert feats[0].reshape(3, 64).sum(1).tolist() == [8, 8, 8]
    # the disconnected cell prunes to the bare input -> output graph
    assert feats[1].reshape(3, 64).sum(1).tolist() == [2, 2, 2]
    assert F.wl(nb201, [DISCONNECTED], prune=False).reshape(3, -1).sum(1).tolist() == [8, 8, 8]
    labels = F.wl_labels(nb201, [BEST_C10], iterations=1)[0]
    assert len(labels) == 2 and len(set(labels[0])) == 5  # input, output, conv3, skip, conv1


def test_wl_invariant_to_relabelling(variable_space) -> None:
    a, b, c = variable_space.ops
    g = ArchGraph(["input", a, c, b, "output"], [(0, 1), (0, 2), (1, 3), (2, 4), (3, 4)])
    h = g.permute([0, 2, 1, 3, 4])  # swap the two independent branches' first nodes
    assert g != h and variable_space.is_valid(h)
    assert np.array_equal(F.wl(variable_space, [g]), F.wl(variable_space, [h]))
    assert not np.array_equal(F.onehot(variable_space, [g]), F.onehot(variable_space, [h]))
    # a different graph (the branches swap their ops' positions) differs after one refinement
    k = ArchGraph(["input", c, a, b, "output"], [(0, 1), (0, 2), (1, 3), (2, 4), (3, 4)])
    assert not np.array_equal(F.wl(variable_space, [g]), F.wl(variable_space, [k]))


def test_wl_equal_for_equivalent_cells_only_when_pruned(nb201) -> None:
    # the two cells differ only on edge 0->2, whose node feeds nothing live (2->3 and 1->2 are none)
    x = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    y = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    assert np.array_equal(F.wl(nb201, [x]), F.wl(nb201, [y]))
    assert not np.array_equal(F.wl(nb201, [x], prune=False), F.wl(nb201, [y], prune=False))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_encodings_are_deterministic_functions_of_the_architecture(seed: int) -> None:
    space = nagen.spaces.get("nb201")
    archs = space.sample(3, rng=seed)
    for fn in (F.onehot, F.path, F.wl):
        one_by_one = np.concatenate([fn(space, [a]) for a in archs])
        assert np.array_equal(fn(space, archs), one_by_one)


def test_bad_input_is_rejected(nb201) -> None:
    with pytest.raises(EncodingError, match="sequence"):
        F.path(nb201, BEST_C10)
    with pytest.raises(InvalidArchitectureError):
        F.wl(nb201, ["|bogus~0|"])
    with pytest.raises(ValueError, match="dims"):
        F.wl(nb201, [BEST_C10], dims=0)
    with pytest.raises(ValueError, match="iterations"):
        F.wl(nb201, [BEST_C10], iterations=-1)


def test_the_path_encoding_of_a_chain_is_refused_and_the_mlp_defaults_to_onehot_there() -> None:
    """On mbv3 (a chain of 20 slots) every architecture is one path, hashed into one of 1,024 columns:
    the encoding was a random one-hot (500 cells gave 399 distinct rows) and the default MLP reached
    a held-out Spearman of -0.06 on the cells' own parameter counts (onehot: 0.92)."""
    import pytest

    import nagen.predictors as P
    from nagen.errors import InvalidArgumentError, InvalidSpecError
    from nagen.predictors.features import path, path_is_degenerate

    mbv3, nb201, nb101 = (nagen.spaces.get(n) for n in ("mbv3", "nb201", "nb101"))
    assert path_is_degenerate(mbv3) and not path_is_degenerate(nb201) and not path_is_degenerate(nb101)
    with pytest.raises(InvalidArgumentError, match="path encoding is meaningless on space 'mbv3'.*onehot"):
        path(mbv3, mbv3.sample(3, rng=0))
    with pytest.raises(InvalidSpecError, match="meaningless"):
        P.get("gp", "mbv3", encoding="path")
    with pytest.raises(InvalidArgumentError, match="meaningless"):
        P.get("mlp", "mbv3", encoding="path")
    assert P.get("mlp", "mbv3").encoding == "onehot" and P.get("mlp", "nb201").encoding == "path"
