"""OP-GFN robustness: cost levels that hold no cell never give NaN (training skips them, a
sampling request that cannot be met raises a named error), and generators survive pickling
(fitted or not, both engines, cost- and preference-conditioned)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import nagen.spaces
from nagen.errors import InvalidArgumentError
from nagen.generators.opgfn import OPGFNGenerator, opgfn_search

FAST = dict(gfn_steps=20, reward_steps=20, trajectories=16, hidden=16, reward_hidden=16)
OP_COST = {"a": 1.0, "b": 2.0, "c": 4.0}


def op_cost(archs) -> np.ndarray:
    """An exact, additive cost of the tiny space: 3 (aaa) .. 12 (ccc). Module level: picklable."""
    return np.array([sum(OP_COST[op] for op in a.ops[1:-1]) for a in archs], dtype=float)


@pytest.fixture(scope="module")
def tiny_data(tiny):
    archs = list(tiny.enumerate())
    values = np.array([x.ops.count("a") + 0.1 * x.ops.count("b") for x in archs])  # 'a' is good
    return archs, values


def assert_no_nan(x) -> None:
    assert not np.isnan(np.asarray(x, dtype=float)).any()


# ---------------------------------------------------------------------- empty cost levels
def test_an_empty_upto_level_is_skipped_in_training_and_named_when_sampled(tiny, tiny_data) -> None:
    archs, values = tiny_data
    # level 0 (cost <= 1) holds no cell: the cheapest is 3. Its all-False cost mask once gave
    # log_softmax(all -inf) = NaN, so fit() crashed in torch.multinomial and log_probs were NaN
    gen = OPGFNGenerator(tiny, seed=0, budget_cost=op_cost, budget_levels=[1.0, 5.0, 8.0, 12.0], **FAST)
    gen.fit(archs[::2], values[::2])
    assert np.isfinite(gen.losses["tb"]).all() and np.isfinite(gen.losses["reward"]).all()
    with pytest.raises(InvalidArgumentError, match=r"budget 2: the cheapest possible cost is 3"):
        gen.sample(5, seed=0, budget=2.0)
    with pytest.raises(InvalidArgumentError, match="cheapest possible cost is 3"):
        gen.log_probs(archs, budget=0.5)
    # a budget that cells fit, but whose level (cost <= 1) is empty: drawn from the next level
    # (cost <= 5) and filtered by exact cost, so every sample still fits
    out = gen.sample(20, seed=0, budget=4.0)
    assert len(out) == 20 and (op_cost(out) <= 4.0).all()
    for budget in (None, 4.0, 5.0, 7.0, 100.0):
        lp = gen.log_probs(archs, budget=budget)
        assert_no_nan(lp)
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-4)  # a distribution over the 27 cells
        assert_no_nan(gen.log_reward(archs, budget=budget))
    # the exact masks put no mass outside the level: cells dearer than 5 are unreachable at budget 5
    lp5 = gen.log_probs(archs, budget=5.0)
    assert np.isneginf(lp5[op_cost(archs) > 5]).all() and np.isfinite(lp5[op_cost(archs) <= 5]).all()
    # a warm-started refit keeps skipping the empty level
    gen.fit(archs, values, gfn_steps=5)
    assert np.isfinite(gen.losses["tb"]).all()


def test_an_empty_band_is_skipped_in_training_and_named_when_sampled(tiny, tiny_data) -> None:
    archs, values = tiny_data
    # bands (-inf, 3], (3, 3.5], (3.5, 9], (9, inf): the second holds no cell (costs are integers)
    gen = OPGFNGenerator(tiny, seed=0, budget_cost=op_cost, budget_mode="band", budget_levels=[3.0, 3.5, 9.0, 12.0],
                         **FAST).fit(archs[::2], values[::2])
    assert np.isfinite(gen.losses["tb"]).all()
    with pytest.raises(InvalidArgumentError, match=r"band \(3, 3\.5\] .*holds no cell"):
        gen.sample(5, seed=0, budget=3.2)
    # no budget: each sample draws a random band, never the empty one (that crashed sampling)
    out = gen.sample(50, seed=0)
    assert len(out) == 50
    # band mode without a budget: log P(x) = log P(x | band of x) - log(number of non-empty bands)
    lp = gen.log_probs(archs)
    assert np.isfinite(lp).all() and np.exp(lp).sum() == pytest.approx(1.0, abs=1e-4)
    for budget in (3.0, 6.0, 10.0):
        lpb = gen.log_probs(archs, budget=budget)
        assert_no_nan(lpb)  # cells outside the band: -inf (unreachable), was NaN
        inside = gen.fits_level(archs, gen.budget_level(budget))
        assert np.isneginf(lpb[~inside]).all() and np.exp(lpb).sum() == pytest.approx(1.0, abs=1e-4)
        assert all(gen.fits_level(gen.sample(10, seed=1, budget=budget), gen.budget_level(budget)))


def test_nb201_budget_levels_below_every_cell() -> None:
    """The reviewer's case: user levels whose cheapest edge (10k params) is below every NB201 cell (73k)."""
    from nagen.predictors.cost import ExactCostPredictor

    sp = nagen.spaces.get("nb201")
    cost = ExactCostPredictor(sp, "params").exact
    gen = OPGFNGenerator(sp, seed=0, gfn_steps=10, trajectories=8, hidden=16, budget_cost=cost,
                         budget_levels=[0.01e6, 0.3e6, 0.5e6]).fit()
    assert np.isfinite(gen.losses["tb"]).all()
    with pytest.raises(InvalidArgumentError, match="cheapest possible cost is 73306"):
        gen.sample(5, seed=0, budget=0.05e6)
    out = gen.sample(10, seed=0, budget=0.2e6)
    assert len(out) == 10 and (cost(out) <= 0.2e6).all()
    assert_no_nan(gen.log_probs(sp.sample(20, 1), budget=0.2e6))


def test_search_skips_empty_levels(tiny) -> None:
    def objective(xs):
        return np.stack([[x.ops.count("a") for x in xs], op_cost(xs)], 1).astype(float)

    hist = opgfn_search(tiny, objective, 16, seed=0, n_init=6, batch_size=5, directions=["max", "min"],
                        exact_objectives={1: op_cost}, refit_gfn_steps=3, refit_reward_steps=3,
                        budget_levels=[1.0, 5.0, 8.0, 12.0], **FAST)
    assert len(hist) == 16 and len({a for a, _ in hist}) == 16


# ---------------------------------------------------------------------- pickling
def roundtrip(gen: OPGFNGenerator) -> OPGFNGenerator:
    return pickle.loads(pickle.dumps(gen))


@pytest.mark.parametrize("engine", ["torch", "torchgfn"])
def test_nb201_generators_pickle_fitted_and_unfitted(engine) -> None:
    sp = nagen.spaces.get("nb201")
    tiny = dict(gfn_steps=5, reward_steps=5, trajectories=8, hidden=8, reward_hidden=8, engine=engine)
    unfitted = roundtrip(OPGFNGenerator(sp, seed=0, **tiny))
    assert not unfitted.fitted
    archs = sp.sample(12, 0)
    values = np.arange(12.0)
    # an unpickled unfitted generator trains exactly as a fresh one
    fresh = OPGFNGenerator(sp, seed=0, **tiny).fit(archs, values)
    unfitted.fit(archs, values)
    assert unfitted.sample(5, seed=0) == fresh.sample(5, seed=0)
    gen = fresh
    copy = roundtrip(gen)
    assert copy.sample(5, seed=0) == gen.sample(5, seed=0)
    np.testing.assert_array_equal(copy.log_probs(archs), gen.log_probs(archs))
    np.testing.assert_array_equal(copy.log_reward(archs), gen.log_reward(archs))
    np.testing.assert_array_equal(copy.score(archs), gen.score(archs))
    # the copy is independent and keeps training (warm start) as the original does
    copy.fit(archs, values, gfn_steps=3)
    gen.fit(archs, values, gfn_steps=3)
    assert copy.sample(5, seed=1) == gen.sample(5, seed=1)
    assert copy.losses == gen.losses


def test_cost_and_preference_conditioned_generators_pickle(tiny, tiny_data) -> None:
    archs, values = tiny_data
    budgeted = OPGFNGenerator(tiny, seed=0, budget_cost=op_cost, **FAST).fit(archs[::2], values[::2])
    copy = roundtrip(budgeted)
    assert copy.sample(10, seed=0, budget=6.0) == budgeted.sample(10, seed=0, budget=6.0)
    np.testing.assert_array_equal(copy.log_reward(archs, budget=6.0), budgeted.log_reward(archs, budget=6.0))
    Y = np.stack([values, -op_cost(archs)], 1)
    pref = OPGFNGenerator(tiny, seed=0, preference_conditioned=True, **FAST).fit(archs, Y)
    copy = roundtrip(pref)
    assert copy.sample(10, seed=0, preference=[0.3, 0.7]) == pref.sample(10, seed=0, preference=[0.3, 0.7])
    np.testing.assert_array_equal(copy.log_reward(archs, preference=[1, 0]), pref.log_reward(archs, preference=[1, 0]))
    copy.fit(archs, Y, gfn_steps=3)
    pref.fit(archs, Y, gfn_steps=3)
    assert copy.sample(10, seed=2) == pref.sample(10, seed=2)


def test_band_mode_search_samples_the_top_band_from_the_gflownet(monkeypatch) -> None:
    """In band mode ``budget=None`` means a random band per sample, so the top level's pool held
    almost no cell of the top band and its labels came from the random fallback."""
    from nagen.generators import opgfn as M

    space = nagen.spaces.from_spec({"name": "opgfn_band_top", "ops": ["conv3x3", "skip", "zero", "conv1x1"], "num_nodes": 5,
                                    "topology": "fixed", "edges": [[i, j] for i in range(5) for j in range(i + 1, 5)]})
    w = {"conv3x3": 9.0, "conv1x1": 1.0, "skip": 0.0, "zero": 0.0, "input": 0.0, "output": 0.0}

    def cost(archs):
        return np.array([sum(w[o] for o in a.ops) for a in archs], dtype=float)

    def objectives(archs):
        return np.c_[[(sum(map(ord, a.to_string())) * 7919 % 1000) / 1000 for a in archs], cost(archs)]

    shares: list[float] = []
    real = M.OPGFNGenerator.sample

    def logged(self, n, **kw):
        out = real(self, n, **kw)
        top = len(self.budget_levels) - 1
        if out and (kw.get("budget") is None or kw.get("budget") == float("inf")):
            shares.append(float(self.fits_level(out, top).mean()))
        return out

    monkeypatch.setattr(M.OPGFNGenerator, "sample", logged)
    M.opgfn_search(space, objectives, 40, 0, directions=["max", "min"], exact_objectives={1: cost}, budget_mode="band",
                   gfn_steps=10, reward_steps=10, refit_gfn_steps=3, refit_reward_steps=3, hidden=16, trajectories=16)
    assert shares and min(shares) == 1.0


def test_search_exclude_takes_plain_canonical_hashes_with_exact_objectives(tiny) -> None:
    """With exact objectives the keys are 'hash|costs': a plain hash in exclude matched nothing."""
    def objective(xs):
        return np.stack([[x.ops.count("a") for x in xs], op_cost(xs)], 1).astype(float)

    banned = {a.canonical_hash() for a in list(tiny.enumerate())[:9]}
    hist = opgfn_search(tiny, objective, 12, seed=0, n_init=4, batch_size=4, directions=["max", "min"],
                        exact_objectives={1: op_cost}, exclude=banned, refit_gfn_steps=3, refit_reward_steps=3, **FAST)
    assert len(hist) == 12 and not {a.canonical_hash() for a, _ in hist} & banned


def test_a_cost_level_without_labels_ranks_its_cells_above_those_outside_a_non_additive_cost() -> None:
    """nb101's params are not additive over slots, so no mask keeps a sample in its level: a level no labelled
    cell fitted was measured against the best (dearer) labelled cell, its own cells fell below the
    out-of-level penalty, and its GFlowNet target lay entirely outside the level."""
    import nagen.spaces
    from nagen.generators.opgfn import OPGFNGenerator
    from nagen.predictors.cost import ExactCostPredictor

    sp = nagen.spaces.get("nb101")
    cost = ExactCostPredictor(sp, "params").exact
    archs = sp.sample(120, 0)
    c = cost(archs)
    acc = np.log(c) + np.random.default_rng(0).normal(0, 0.1, len(c))
    g = OPGFNGenerator(sp, seed=0, budget_cost=cost, budget_column=1, gfn_steps=0, reward_steps=100)
    g.fit(archs, np.column_stack([acc, c]), ["max", "min"])
    assert g._additive() is None
    U = g.slots(sp.sample(3000, 5))
    cu, cl = g._costs(U), g._costs(g.slots(archs))
    unlabelled = 0
    for lv in range(len(g.budget_levels) - 1):
        L = torch.full((len(U),), lv)
        inside = g._fits(cu, L)
        if not inside.any() or inside.all():
            continue
        unlabelled += int(not g._fits(cl, torch.full((len(cl),), lv)).any())
        r = g._log_reward(U, L)
        assert r[inside].min() > r[~inside].max(), lv
        # all the cells outside weigh less than the best one inside: the level's target lies within it
        assert float(r[~inside].max()) + len(g.slots(archs)[0]) * np.log(g.n_tokens) < float(r[inside].max())
    assert unlabelled >= 1  # the case of the bug is exercised


def test_a_rare_cost_level_of_a_non_additive_cost_is_learned_by_replaying_its_known_cells(monkeypatch) -> None:
    """A product cost has no masks; its cheapest level holds 8 of 16,384 cells, so on-policy rollouts
    conditioned on it almost never ended inside it and its policy never learned where its reward lies
    (nb101: 0 of 1,000 samples in a level of 0.18%). Known in-level cells (the labelled and the free
    probed ones) are now replayed beside the rollouts."""
    import nagen.generators.opgfn as opgfn

    weight = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}

    def cost(archs) -> np.ndarray:
        return np.array([np.prod([weight[o] for o in a.ops[1:-1]]) for a in archs])

    sp = nagen.spaces.from_spec({"name": "chain7_replay", "ops": list("abcd"), "num_nodes": 9, "topology": "fixed",
                                 "edges": [[i, i + 1] for i in range(8)], "buildable": False})
    cheap = [a for a in sp.sample(5000, 3) if cost([a])[0] <= 2.0]
    archs = sp.sample(60, 0) + cheap[:1]  # one labelled cell in the rare level
    values = np.array([a.ops.count("d") for a in archs], dtype=float)  # dear ops are good: rollouts drift away
    level0 = torch.zeros(400, dtype=torch.long)

    def in_level_share() -> float:
        g = OPGFNGenerator(sp, seed=0, budget_cost=cost, budget_levels=[2.0, 100.0, 5000.0, 20000.0], gfn_steps=400,
                           reward_steps=50, trajectories=16, hidden=16, reward_hidden=16).fit(archs, values)
        assert g._additive() is None and g._replay is not None
        x = g._rollout(400, torch.Generator().manual_seed(0), 0.0, level0)
        return float(g._fits(g._costs(x), level0).float().mean())

    replayed = in_level_share()
    monkeypatch.setattr(opgfn, "_REPLAY_SHARE", 0.0)
    assert in_level_share() < 0.1 < 0.5 < replayed  # without replay the level is (almost) never reached
