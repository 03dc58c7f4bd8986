"""Regularised evolution: ask/tell contract (new cells only, aging, NaN), seeding, MO selection."""

from __future__ import annotations

import numpy as np
import pytest

import nagen.spaces
from nagen.errors import InvalidArgumentError
from nagen.generators.evolution import (
    MORegularizedEvolution,
    RegularizedEvolution,
    mo_regularized_evolution,
    regularized_evolution,
)

CHAIN = {"name": "evo_chain", "ops": ["a", "b", "c"], "num_nodes": 5, "topology": "fixed",
         "edges": [[0, 1], [1, 2], [2, 3], [3, 4]], "buildable": False}


@pytest.fixture(scope="module")
def chain():
    return nagen.spaces.from_spec(dict(CHAIN))  # 27 cells, all pairwise non-equivalent


def n_a(archs) -> np.ndarray:
    """Toy objective: how many slots hold op 'a'."""
    return np.array([sum(op == "a" for op in x.ops) for x in archs], dtype=float)


def test_ask_fills_population_then_mutates_neighbours(nb201) -> None:
    space = nb201.space
    re_ = RegularizedEvolution(space, population=8, tournament=3, seed=0)
    first = re_.ask(8)
    assert len({a.canonical_hash() for a in first}) == 8
    re_.tell(first, nb201.query_many(first, "cifar10_test"))
    members = set(first)
    for _ in range(10):
        (child,) = re_.ask(1)
        assert any(child in space.neighbours(m) for m in members)  # one edit from a living member
        re_.tell([child], nb201.query_many([child], "cifar10_test"))
        members = {a for a, _ in re_.population}
    assert len(re_.population) == 8  # aging keeps the size fixed


def test_never_proposes_excluded_or_told(chain) -> None:
    told = chain.sample(5, 0)
    exclude = {a.canonical_hash() for a in chain.sample(10, 1)}
    re_ = RegularizedEvolution(chain, population=4, tournament=2, seed=0)
    re_.tell(told, n_a(told))
    out = re_.ask(100, exclude=exclude)
    hashes = [a.canonical_hash() for a in out]
    assert len(hashes) == len(set(hashes))
    assert not set(hashes) & (exclude | {a.canonical_hash() for a in told})
    assert len(out) == 27 - len(exclude | {a.canonical_hash() for a in told})  # the rest of the space, then none
    assert re_.ask(3, exclude=exclude) == []


def test_failed_labels_stay_out_of_the_population(chain) -> None:
    re_ = RegularizedEvolution(chain, population=4, seed=0)
    archs = re_.ask(3)
    re_.tell(archs, [1.0, float("nan"), 2.0])
    assert [a for a, _ in re_.population] == [archs[0], archs[2]]
    assert len(re_.history) == 3 and re_.best() == (archs[2], 2.0)


def test_seeded_and_improves(chain) -> None:
    h1 = regularized_evolution(chain, n_a, 15, seed=3, population=5, tournament=3)
    h2 = regularized_evolution(chain, n_a, 15, seed=3, population=5, tournament=3)
    assert h1 == h2 and len(h1) == 15
    assert max(v for _, v in h1) == 3.0  # 'a;a;a' found within 15 of 27 labels
    low = regularized_evolution(chain, lambda a: -n_a(a), 15, seed=3, population=5, tournament=3, maximize=True)
    assert min(n_a([a for a, _ in low])) == 0.0


def test_mo_tournament_prefers_the_front(chain) -> None:
    mo = MORegularizedEvolution(chain, ["max", "min"], population=4, tournament=4, seed=0)
    archs = chain.sample(4, 2)
    # 0 and 1 are non-dominated, 2 and 3 dominated: a full tournament must pick 0 or 1
    mo.tell(archs, [[3.0, 1.0], [1.0, 0.0], [1.0, 2.0], [0.0, 3.0]])
    assert mo._select([0, 1, 2, 3]) in (0, 1) and mo._select([2, 3]) == 2
    hist = mo_regularized_evolution(chain, lambda a: np.stack([n_a(a), 3 - n_a(a) + 0.5 * np.arange(len(a))], 1), 12,
                                    ["max", "min"], seed=0, population=4)
    assert len(hist) == 12 and hist[0][1].shape == (2,)
    with pytest.raises(ValueError, match="n x 2"):
        mo.tell(archs[:1], [1.0])


@pytest.mark.parametrize("bad", [{"population": 2.5}, {"population": True}, {"tournament": "3"}, {"seed": -1}, {"seed": 1.5}])
def test_constructor_arguments_are_checked(chain, bad) -> None:
    # int() once truncated 2.5 and took True as 1; a negative seed was numpy's bare ValueError
    with pytest.raises(InvalidArgumentError, match=next(iter(bad))):
        RegularizedEvolution(chain, **bad)


def test_tell_refuses_values_of_the_wrong_shape_or_type(chain) -> None:
    opt = RegularizedEvolution(chain, population=3, tournament=2, seed=0)
    archs = opt.ask(2)
    with pytest.raises(InvalidArgumentError, match="one objective"):
        opt.tell(archs, [[0.5, 0.7]])  # one row of two objectives was flattened into two labels
    with pytest.raises(InvalidArgumentError, match="numbers"):
        opt.tell(archs, ["good", "bad"])
    assert not opt.history
    opt.tell(archs, [[0.5], [0.7]])  # n x 1 is n labels
    assert [v for _, v in opt.history] == [0.5, 0.7]


def test_run_arguments_are_checked(chain) -> None:
    for fn, extra in ((regularized_evolution, ()), (mo_regularized_evolution, (["max", "min"],))):
        obj = (lambda xs: n_a(xs)) if fn is regularized_evolution else (lambda xs: np.stack([n_a(xs), -n_a(xs)], 1))
        with pytest.raises(InvalidArgumentError, match="batch_size"):
            fn(chain, obj, 5, *extra, batch_size=0)  # once returned [] at once
        with pytest.raises(InvalidArgumentError, match="budget"):
            fn(chain, obj, 2.5, *extra)
    with pytest.raises(InvalidArgumentError, match="3 values for 2 architectures"):
        mo_regularized_evolution(chain, lambda xs: np.ones(3), 2, ["max", "min"], batch_size=2)  # was a reshape error


def test_mutation_picks_the_kind_of_edit_first_on_variable_topologies() -> None:
    # on a small NB101 cell most one-edit neighbours are node insertions; a uniform pick over them
    # would almost always grow the cell, so the kind (fewer / as many / more nodes) is drawn first
    space = nagen.spaces.get("nb101")
    parent = space.parse("input;conv3x3-bn-relu<0;conv1x1-bn-relu<1;output<2")
    nbrs = space.neighbours(parent)
    grow = sum(c.num_nodes > parent.num_nodes for c in nbrs) / len(nbrs)
    assert grow > 0.7  # what a uniform pick would do
    evo = RegularizedEvolution(space, seed=0)
    kids = [evo._mutate(parent, ()) for _ in range(300)]
    share = {k: np.mean([np.sign(c.num_nodes - parent.num_nodes) == k for c in kids]) for k in (-1, 0, 1)}
    kinds_present = {int(np.sign(c.num_nodes - parent.num_nodes)) for c in nbrs}
    for k in kinds_present:
        assert abs(share[k] - 1 / len(kinds_present)) < 0.1


def test_non_sequence_archs_and_exclude(chain) -> None:
    opt = RegularizedEvolution(chain, population=2, seed=0)
    # tell(5, ...) was a bare TypeError from iterating the int
    with pytest.raises(InvalidArgumentError, match="sequence of architectures .*got int 5"):
        opt.tell(5, [1.0])
    first = opt.ask(1)[0]
    with pytest.raises(InvalidArgumentError, match="got one ArchGraph; wrap it in a list"):
        opt.tell(first, [1.0])
    mo = MORegularizedEvolution(chain, ["max", "min"], population=2)
    with pytest.raises(InvalidArgumentError, match="sequence of architectures .*got NoneType"):
        mo.tell(None, np.zeros((1, 2)))
    assert opt.history == [] and mo.history == []
    # exclude=None means "nothing excluded" (it was a TypeError); a non-container is refused
    again = RegularizedEvolution(chain, population=2, seed=0)
    assert again.ask(3, exclude=None) == RegularizedEvolution(chain, population=2, seed=0).ask(3)
    for bad in (5, iter(["x"])):
        with pytest.raises(InvalidArgumentError, match="exclude must be a container"):
            again.ask(1, exclude=bad)
