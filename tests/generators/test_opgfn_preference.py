"""Preference-conditioned OP-GFN: a preference w steers sampling along the Pareto front, the
reward is learned from orders only and respects Pareto dominance under every w, bad
preferences raise named errors, and the default (unconditioned) mode is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.spaces
from nagen.errors import InvalidArgumentError, InvalidTrainingDataError, NagenError
from nagen.generators.opgfn import (
    OPGFNGenerator,
    chebyshev_scalarize,
    dominance_matrix,
    opgfn_search,
    preference_ranks,
)

FAST = dict(gfn_steps=150, reward_steps=150, trajectories=32, hidden=32, reward_hidden=32, beta=3.0)


@pytest.fixture(scope="module")
def toy(chain_space):
    """27 cells, two conflicting objectives: 'a' pays objective 0, 'c' objective 1, 'b' a little of both."""
    space = chain_space("opgfn_pref_tiny")
    archs = list(space.enumerate())
    pos = np.array([1.0, 1.1, 1.2])  # slot weights: fewer ties
    Y = np.array([[sum(p * (op == "a") + 0.3 * (op == "b") for p, op in zip(pos, x.ops[1:-1])),
                   sum(p * (op == "c") + 0.3 * (op == "b") for p, op in zip(pos, x.ops[1:-1]))] for x in archs])
    return space, archs, Y


@pytest.fixture(scope="module")
def fitted(toy):
    space, archs, Y = toy
    # trained on half the cells: the rest are never labelled
    return OPGFNGenerator(space, seed=0, preference_conditioned=True, **FAST).fit(archs[::2], Y[::2])


def test_preference_steers_sampling_along_the_front(toy, fitted) -> None:
    _, archs, Y = toy
    U = preference_ranks(Y, ["max", "max"])  # [27, 2] normalised ranks over all cells

    def mean_ranks(w):
        out = fitted.sample(200, seed=0, preference=w)
        assert len(out) == 200
        return U[[archs.index(a) for a in out]].mean(0)

    first, second = mean_ranks([0.9, 0.1]), mean_ranks([0.1, 0.9])
    assert first[0] > second[0] + 0.3  # favouring objective 0 gives much better objective-0 ranks
    assert second[1] > first[1] + 0.3  # and vice versa
    # {column: weight} and unnormalised weights name the same preference
    assert fitted.sample(30, seed=3, preference={0: 9.0, 1: 1.0}) == fitted.sample(30, seed=3, preference=[0.9, 0.1])
    assert fitted.sample(30, seed=3, preference=np.array([0.0, 2.0])) == fitted.sample(30, seed=3, preference={1: 1})
    # no preference: a random w per sample, seeded
    assert fitted.sample(30, seed=4) == fitted.sample(30, seed=4)
    # P(. | w) is a distribution over the 27 cells, and puts more mass where the w-order is higher
    for w in ([0.9, 0.1], [0.1, 0.9]):
        p = np.exp(fitted.log_probs(archs, preference=w))
        assert p.sum() == pytest.approx(1.0, abs=1e-4)
        target = chebyshev_scalarize(torch.as_tensor(U), torch.tensor(w, dtype=torch.float64)).numpy()
        assert np.corrcoef(np.log(p), target)[0, 1] > 0.6


def test_dominance_beats_under_every_preference() -> None:
    """The target order: if x Pareto-dominates y, x scores strictly higher for every w (vertices too)."""
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 4, size=(60, 3)).astype(float)  # many ties and dominated pairs
    dirs = ["max", "min", "max"]
    U = torch.as_tensor(preference_ranks(Y, dirs))
    dom = dominance_matrix(Y, dirs)
    assert dom.sum() > 100
    i, j = np.nonzero(dom)
    ws = np.concatenate([rng.dirichlet([0.3] * 3, size=200), np.eye(3)])
    for w in torch.as_tensor(ws):
        s = chebyshev_scalarize(U, w[None, :]).numpy()
        assert (s[i] > s[j] + 1e-12).all()
    # ranks see only the order: any increasing transform of a column gives the same ranks
    Y2 = Y.copy()
    Y2[:, 0] = np.exp(Y2[:, 0]) - 7.0
    np.testing.assert_array_equal(preference_ranks(Y2, dirs), U.numpy())
    assert preference_ranks(Y, dirs).min() >= 0.0 and preference_ranks(Y, dirs).max() <= 1.0


def test_learned_reward_follows_dominance_and_ignores_scale(toy, fitted) -> None:
    space, archs, Y = toy
    lab, Yl = archs[::2], Y[::2]
    i, j = np.nonzero(dominance_matrix(Yl, ["max", "max"]))
    assert len(i) > 20
    rng = np.random.default_rng(1)
    agree = [np.mean((s := fitted.score(lab, preference=w))[i] > s[j]) for w in rng.dirichlet([1.0, 1.0], size=20)]
    assert np.mean(agree) > 0.85 and min(agree) > 0.7  # chance: 0.5
    # orders only: monotone transforms of the columns give the very same reward model
    fast = {**FAST, "gfn_steps": 0, "reward_steps": 40}
    a = OPGFNGenerator(space, seed=0, preference_conditioned=True, **fast).fit(lab, Yl)
    b = OPGFNGenerator(space, seed=0, preference_conditioned=True, **fast).fit(
        lab, np.stack([Yl[:, 0] ** 3 + 5.0, -np.exp(Yl[:, 1])], 1), directions=["max", "min"]
    )
    for w in ([0.7, 0.3], [0.0, 1.0]):
        np.testing.assert_allclose(a.score(archs, preference=w), b.score(archs, preference=w))


def test_bad_preferences_and_combinations_raise_named_errors(toy, fitted) -> None:
    space, archs, Y = toy
    for bad in ([1.0], [0.5, 0.3, 0.2], [-0.1, 1.1], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0],
                ["x", 1.0], "ab", 0.5, {2: 1.0}, {0: -1.0}, {"acc": 1.0}, {}):
        with pytest.raises(InvalidArgumentError, match="preference"):
            fitted.sample(3, preference=bad)
    with pytest.raises(InvalidArgumentError, match="preference"):
        fitted.log_probs(archs[:2], preference=[1.0, 2.0, 3.0])
    # a generator trained without preferences takes none
    plain = OPGFNGenerator(space, seed=0, gfn_steps=1, reward_steps=1).fit(archs[:4], Y[:4])
    for call in (lambda: plain.sample(3, preference=[0.5, 0.5]), lambda: plain.score(archs[:2], preference=[1, 0])):
        with pytest.raises(InvalidArgumentError, match="preference_conditioned"):
            call()
    # one objective: nothing to weigh
    single = OPGFNGenerator(space, seed=0, preference_conditioned=True, gfn_steps=1, reward_steps=1)
    with pytest.raises(InvalidTrainingDataError, match="k >= 2"):
        single.fit(archs[:4], Y[:4, 0])
    with pytest.raises(InvalidTrainingDataError, match="first fit"):
        single.fit()  # the number of objectives is not known yet
    # combinations that are not supported, and bad settings
    for bad in ({"budget_cost": lambda xs: np.ones(len(xs))}, {"engine": "torchgfn"}, {"reward": "raw"},
                {"reward": "uniform"}, {"pareto_order": "rank"}):
        with pytest.raises(InvalidArgumentError, match="preference_conditioned"):
            OPGFNGenerator(space, preference_conditioned=True, **bad)
    for bad in ({"preference_alpha": 0.0}, {"preference_alpha": float("nan")}, {"preference_conditioned": "yes"}):
        with pytest.raises(InvalidArgumentError, match="preference"):
            OPGFNGenerator(space, **bad)
    assert issubclass(InvalidArgumentError, NagenError)


def test_active_search_reaches_the_preference_mode(toy) -> None:
    space, archs, Y = toy
    table = {a: y for a, y in zip(archs, Y)}
    hist = opgfn_search(space, lambda xs: np.stack([table[x] for x in xs]), 12, seed=0, n_init=6, batch_size=3,
                        directions=["max", "max"], preference_conditioned=True, gfn_steps=10, reward_steps=10,
                        refit_gfn_steps=5, refit_reward_steps=5, trajectories=16, hidden=16, reward_hidden=16)
    assert len(hist) == 12 and len({a.canonical_hash() for a, _ in hist}) == 12
    # an exact, minimised column (as nagen.pareto passes for params/flops) would default to cost
    # levels, which a preference-conditioned generator does not take: the default is then "no levels"
    cost = lambda xs: -np.stack([table[x] for x in xs])[:, 1]  # noqa: E731
    hist = opgfn_search(space, lambda xs: np.stack([table[x] * [1, -1] for x in xs]), 9, seed=0, n_init=6, batch_size=3,
                        directions=["max", "min"], exact_objectives={1: cost}, preference_conditioned=True,
                        gfn_steps=10, reward_steps=10, trajectories=16, hidden=16, reward_hidden=16)
    assert len(hist) == 9


def test_default_mode_is_unchanged(toy) -> None:
    """The preference code paths are opt-in: a fixed-seed default fit samples exactly what it did before them."""
    space, archs, Y = toy
    gen = OPGFNGenerator(space, seed=3, gfn_steps=20, reward_steps=30, trajectories=16, hidden=16, reward_hidden=16)
    gen.fit(archs, Y, ["max", "max"])
    got = ["".join(op for op in a.ops[1:-1]) for a in gen.sample(16, seed=1)]
    assert got == EXPECTED_DEFAULT_SAMPLES


#: recorded from the code before preference conditioning existed (same torch build)
EXPECTED_DEFAULT_SAMPLES = ['aba', 'cac', 'aba', 'ccb', 'ccb', 'aac', 'abb', 'bbb', 'bab', 'cca', 'bca', 'cab', 'bcb', 'bca',
                            'acb', 'aca']
