"""NB201 space: strings, encoding, validity, and exact params/FLOPs against published figures."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import nagen.spaces
from nagen.errors import EncodingError, InvalidArchitectureError, UnknownOpError
from nagen.graph import ArchGraph
from nagen.spaces.base import SearchSpace

DATA = Path(__file__).resolve().parents[1] / "data"
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def space():
    return nagen.spaces.get("nb201")


@pytest.fixture(scope="module")
def all_cells(space):
    return list(space.enumerate())


def test_registry_and_size(space, all_cells) -> None:
    assert "nb201" in nagen.spaces.names()
    assert space.size == 15625 == len(all_cells) == len(set(all_cells))
    assert space.vocab == ("input", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "output")


def test_string_round_trip_for_every_cell(space, all_cells) -> None:
    for a in all_cells:
        assert space.parse(space.format(a)) == a
        assert space.parse(a.to_string()) == a
    assert space.op_ids(BEST_C10) == (3, 3, 3, 1, 3, 2)
    assert space.from_op_ids((3, 3, 3, 1, 3, 2)) == space.parse(BEST_C10)


@pytest.mark.parametrize(
    "text, error, fragment",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", InvalidArchitectureError, "not an NB201 cell string"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", UnknownOpError, "not an NB201 op"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", InvalidArchitectureError, "malformed"),
        # right sources, wrong grouping: node 1 given two inputs and node 2 one (was a different cell)
        ("|nor_conv_3x3~0|avg_pool_3x3~0|+|skip_connect~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|",
         InvalidArchitectureError, "not an NB201 cell string"),
        ("input;nor_conv_3x3<0;output<1", InvalidArchitectureError, "fixed DAG"),
        ("input;conv<0;none<0;none<1;none<0;none<1;none<2,3;output<4,5,6", UnknownOpError, "allowed ops"),
    ],
)
def test_bad_strings_raise_named_errors(space, text, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        space.parse(text)
    assert not space.is_valid(text)


def test_sample_is_seeded(space) -> None:
    a, b = space.sample(50, 7), space.sample(50, np.random.default_rng(7))
    assert a == b and a != space.sample(50, 8)
    assert all(space.is_valid(x) for x in a)
    with pytest.raises(ValueError):
        space.sample(-1)


def test_encode_decode_round_trip(space, all_cells) -> None:
    X, A = space.encode(all_cells)
    assert X.shape == (15625, 8, 7) and A.shape == (15625, 8, 8)
    assert torch.all(X.sum(-1) == 1) and torch.all(torch.triu(A, 1) == A)
    assert space.decode(X, A) == all_cells
    # soft, noisy inputs decode to the same cells (argmax per node)
    noisy = 0.6 * X + 0.4 * torch.rand(X.shape, generator=torch.Generator().manual_seed(0)) / 7
    assert space.decode(noisy, A) == all_cells


def test_decode_reports_why(space) -> None:
    X, A = space.encode(space.sample(3, 0))
    X[1, 3] = 0
    X[1, 3, 0] = 1.0  # a middle node decoded as 'input'
    out = space.try_decode(X, A)
    assert isinstance(out[0], ArchGraph) and isinstance(out[2], ArchGraph)
    assert isinstance(out[1], InvalidArchitectureError) and "sample 1" in str(out[1])
    with pytest.raises(InvalidArchitectureError, match="sample 1"):
        space.decode(X, A)
    A2 = A.clone()
    A2[0, 0, 7] = 1.0  # an edge the fixed topology does not have
    assert "fixed DAG" in str(space.try_decode(X[:1], A2[:1])[0])


@pytest.mark.parametrize(
    "X, A, fragment",
    [
        (torch.zeros(2, 8, 6), torch.zeros(2, 8, 8), "X must be batch x 8 x 7"),
        (torch.zeros(2, 8, 7), torch.zeros(2, 7, 7), "A must be batch x 8 x 8"),
        (torch.zeros(2, 8, 7), torch.zeros(3, 8, 8), "batch sizes differ"),
        (torch.full((1, 8, 7), float("nan")), torch.zeros(1, 8, 8), "finite"),
    ],
)
def test_decode_shape_errors(space, X, A, fragment) -> None:
    with pytest.raises(EncodingError, match=fragment):
        space.decode(X, A)


def test_encode_rejects_single_arch(space) -> None:
    with pytest.raises(EncodingError, match="sequence"):
        space.encode(space.sample(1, 0)[0])


def test_neighbours_are_one_edit_away(space) -> None:
    a = space.parse(BEST_C10)
    nbrs = space.neighbours(a)
    assert len(nbrs) == 6 * 4 == len(set(nbrs))
    for b in nbrs:
        assert sum(x != y for x, y in zip(a.ops, b.ops)) == 1 and b.edges == a.edges


def test_canonical_classes(space, all_cells) -> None:
    """Equivalence classes of the whole space, and the disconnected cells as one class.

    The count is nagen's (pruning + DAG isomorphism); NB201's 6,466 also treats skip_connect
    as the identity and expands shared nodes into expression trees (see benchmarks/spaces.py).
    """
    hashes = [a.canonical_hash() for a in all_cells]
    assert len(set(hashes)) == 8765
    zero = ArchGraph.from_string("input;output").canonical_hash()
    dead = [a for a, h in zip(all_cells, hashes) if h == zero]
    assert len(dead) == 341  # the data README's count of disconnected cells
    import nagen.benchmarks

    nb = nagen.benchmarks.load("nb201")
    assert np.allclose(nb.query_many(dead, "cifar10_test"), 10.0)  # chance: they compute nothing


# ---------------------------------------------------------------------- networks and costs
def _anchors():
    with open(DATA / "nb201_anchors.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _anchors(), ids=lambda r: f"cell{r['index']}")
@pytest.mark.parametrize(
    "dataset, classes, shape", [("cifar10", 10, (3, 32, 32)), ("cifar100", 100, (3, 32, 32)), ("imagenet16", 120, (3, 16, 16))]
)
def test_cost_matches_official_records(space, row, dataset, classes, shape) -> None:
    """Official NB201/NATS-Bench records of cells 0, 11 and 284 (tests/data/nb201_anchors.csv):
    params and FLOPs (in millions, 6 decimals) for CIFAR-10, CIFAR-100 and ImageNet16-120."""
    arch = space.parse(row["arch"])
    full = SearchSpace.cost(space, arch, classes, shape)  # build + count, no shortcut
    assert full == space.cost(arch, classes, shape)  # the additive fast path agrees
    assert full["params"] == round(float(row[f"{dataset}_params_m"]) * 1e6)
    assert full["flops"] == round(float(row[f"{dataset}_flops_m"]) * 1e6)


def test_params_match_naslib_subset(space) -> None:
    """Params of all 725 cells of nb201_naslib_subset.csv (NB201's own params) on the three datasets."""
    with open(DATA / "nb201_naslib_subset.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 725
    ids = np.array([space.op_ids(r["arch"]) for r in rows])
    for ds, classes, shape in [("cifar10", 10, (3, 32, 32)), ("cifar100", 100, (3, 32, 32)), ("imagenet16", 120, (3, 16, 16))]:
        known = [k for k, r in enumerate(rows) if r[f"{ds}_params_m"]]  # one ImageNet16 value is missing
        assert len(known) >= 724
        params = space.cost_table(ids[known], classes, shape)[:, 0]
        expected = np.array([round(float(rows[k][f"{ds}_params_m"]) * 1e6) for k in known])
        assert np.array_equal(params, expected), ds


def test_fast_cost_equals_full_build(space) -> None:
    for a in space.sample(4, 3):
        assert space.cost(a) == SearchSpace.cost(space, a)


def test_build_forward_and_options(space) -> None:
    net = space.build(BEST_C10, num_classes=7)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    small = space.build(BEST_C10, 5, C=8, N=1)
    assert small(torch.randn(1, 3, 16, 16)).shape == (1, 5)
    c = space.cost(BEST_C10, 5, (3, 16, 16), C=8, N=1)
    assert c["params"] == sum(p.numel() for p in small.parameters())
    zero = space.build("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert torch.isfinite(zero(torch.randn(1, 3, 32, 32))).all()
    with pytest.raises(ValueError, match="num_classes"):
        space.build(BEST_C10, num_classes=0)
