"""OP-GFN: the learned reward preserves the order (and only uses the order), sampling moves
toward higher-ranked states, Pareto orders, valid seeded samples on nb201/mbv3, variable DAGs
(nb101, custom specs) built node by node with exact masks, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.generators as G
import nagen.spaces
from nagen.errors import InvalidArchitectureError, InvalidArgumentError, InvalidTrainingDataError, NotFittedError
from nagen.spaces.custom import CustomSpace
from nagen.generators.opgfn import OPGFNGenerator, UnsupportedSpaceError, opgfn_search, order_preserving_loss

FAST = dict(gfn_steps=80, reward_steps=150, trajectories=32, hidden=32, reward_hidden=32)


@pytest.fixture(scope="module")
def tiny_data(tiny):
    archs = list(tiny.enumerate())
    # a hidden additive score: distinct for every cell (a total order), 'a' good, 'c' bad
    w = {"a": 9.0, "b": 3.0, "c": 1.0}
    values = np.array([sum(w[op] * 10.0**k for k, op in enumerate(x.ops[1:-1])) for x in archs])
    assert len(set(values)) == 27
    return archs, values


def concordance(score: np.ndarray, values: np.ndarray) -> float:
    i, j = np.triu_indices(len(values), 1)
    return float(np.mean(np.sign(score[i] - score[j]) == np.sign(values[i] - values[j])))


def test_learned_reward_preserves_order_and_ignores_scale(tiny, tiny_data) -> None:
    archs, values = tiny_data
    fast = {**FAST, "gfn_steps": 1}  # only the reward model matters here
    gen = OPGFNGenerator(tiny, seed=0, **fast).fit(archs, values)
    assert concordance(gen.score(archs), values) >= 0.97
    # only comparisons enter: a monotone transform of the values gives the very same model
    other = OPGFNGenerator(tiny, seed=0, **fast).fit(archs, np.exp(values / 100.0) - 5.0)
    np.testing.assert_allclose(other.score(archs), gen.score(archs))
    # minimising the negated values is the same order too
    neg = OPGFNGenerator(tiny, seed=0, **fast).fit(archs, -values, directions=["min"])
    np.testing.assert_allclose(neg.score(archs), gen.score(archs))


def test_sampling_moves_toward_higher_ranked_states(tiny, tiny_data) -> None:
    archs, values = tiny_data
    plain = OPGFNGenerator(tiny, seed=0, **FAST).fit()  # no values: uniform reward
    lp0 = plain.log_probs(archs)
    assert np.exp(lp0).sum() == pytest.approx(1.0, abs=1e-4)
    assert np.abs(lp0 - np.log(1 / 27)).max() < 0.35  # close to uniform
    labelled = [archs[k] for k in range(0, 27, 2)]  # train on half; the rest is unseen
    gen = OPGFNGenerator(tiny, seed=0, beta=3.0, **FAST).fit(labelled, values[::2])
    lp = gen.log_probs(archs)
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-4)
    order = np.argsort(-values)
    top5, bottom5 = order[:5], order[-5:]
    assert np.exp(lp[top5]).sum() > 0.5 > np.exp(lp0[top5]).sum()  # 5 of 27 cells hold most of the mass
    assert lp[top5].min() > lp[bottom5].max()
    assert np.corrcoef(lp, np.argsort(np.argsort(values)))[0, 1] > 0.7
    samples = gen.sample(200, seed=0)
    assert np.mean([values[archs.index(a)] for a in samples]) > values.mean() + values.std()


def test_pareto_order_concentrates_on_the_non_dominated(tiny, tiny_data) -> None:
    archs, _ = tiny_data
    n_a = np.array([x.ops.count("a") for x in archs], dtype=float)
    n_c = np.array([x.ops.count("c") for x in archs], dtype=float)
    # maximise #a, minimise #c; cells with no 'c' are the non-dominated ones (b's never hurt)
    Y = np.stack([n_a, n_c], 1)
    gen = OPGFNGenerator(tiny, seed=0, beta=3.0, **FAST).fit(archs, Y, directions=["max", "min"])
    front = n_c == 0
    p = np.exp(gen.log_probs(archs))
    assert p[front].sum() > 0.6 > front.mean()
    s = gen.score(archs)
    assert s[front].mean() > s[~front].mean()


def test_order_preserving_loss_is_smaller_for_consistent_scores() -> None:
    beats = torch.tensor([[[False, True, True], [False, False, True], [False, False, False]]])
    good = order_preserving_loss(torch.tensor([[3.0, 1.0, 0.0]]), beats)
    bad = order_preserving_loss(torch.tensor([[0.0, 1.0, 3.0]]), beats)
    assert good < bad


def test_nb201_and_mbv3_samples_are_valid_and_seeded() -> None:
    gen = G.get("opgfn", "nb201", seed=0, gfn_steps=5, trajectories=8)
    with pytest.raises(NotFittedError):
        gen.sample(3)
    gen.fit()
    a, b, c = gen.sample(20, seed=1), gen.sample(20, seed=1), gen.sample(20, seed=2)
    assert a == b and a != c and all(gen.space.is_valid(x) for x in a)
    mbv3 = OPGFNGenerator("mbv3", seed=0, gfn_steps=5, trajectories=8).fit()
    out = mbv3.sample(30, seed=0)
    assert len(out) == 30 and mbv3.last_stats.invalid == 0  # masks make every sample valid
    depths = {sum(op != "skip" for op in x.ops[1 + 4 * s : 5 + 4 * s]) for x in out for s in range(5)}
    assert depths == {2, 3, 4}


def test_errors() -> None:
    with pytest.raises(UnsupportedSpaceError, match="variable topology"):
        OPGFNGenerator("nb101", engine="torchgfn")
    gen = OPGFNGenerator("nb201", gfn_steps=2)
    archs = gen.space.sample(3, 0)
    with pytest.raises(InvalidTrainingDataError, match="3 architectures"):
        gen.fit(archs, [1.0, 2.0])
    with pytest.raises(InvalidTrainingDataError, match="at least 2"):
        gen.fit(archs, [1.0, np.nan, np.nan])
    with pytest.raises(InvalidTrainingDataError, match="one objective"):
        OPGFNGenerator("nb201", reward="raw").fit(archs, np.ones((3, 2)))


def test_active_search_labels_new_cells_in_order(nb201) -> None:
    f = lambda archs: nb201.query_many(archs, "cifar10_test")  # noqa: E731
    kw = dict(batch_size=10, n_init=10, gfn_steps=30, reward_steps=60, refit_gfn_steps=20, trajectories=32)
    hist = opgfn_search("nb201", f, 30, seed=0, **kw)
    assert len(hist) == 30 and len({a.canonical_hash() for a, _ in hist}) == 30
    assert [v[0] for _, v in hist] == list(f([a for a, _ in hist]))
    vals = np.array([v[0] for _, v in hist])
    assert vals[10:].mean() > vals[:10].mean()  # proposals after the random start are better
    again = opgfn_search("nb201", f, 20, seed=0, **kw)
    assert [a for a, _ in again] == [a for a, _ in hist[:20]]  # seeded; a shorter budget is a prefix
    raw = opgfn_search("nb201", f, 20, seed=0, reward="raw", beta=64.0, **kw)
    assert len(raw) == 20


def test_torchgfn_engine_matches_the_hand_written_tree_tb() -> None:
    gen = OPGFNGenerator("mbv3", seed=0, engine="torchgfn", gfn_steps=3, trajectories=8).fit()
    archs = gen.sample(6, seed=0)
    assert len(archs) == 6 and gen.last_stats.invalid == 0  # torchgfn's forward masks keep mbv3 valid
    # the loss's log Z is the one trained (torchgfn once swapped in an untrained one of its own)
    assert gen._gfn.logZ is gen._logZ and float(gen._logZ) != 0.0
    slots = gen.slots(archs)  # [6, 20]
    # torchgfn's forward policy along each trajectory (exit included) = the hand-written log P_F
    total = torch.zeros(len(slots))
    with torch.no_grad():
        for t in range(gen.n_slots + 1):
            prefix = slots.clone()
            prefix[:, t:] = -1
            states = gen._env.states_from_tensor(prefix)
            dist = gen._gfn.pf.to_probability_distribution(states, gen._gfn.pf(states))
            action = slots[:, t] if t < gen.n_slots else torch.full((len(slots),), gen.n_ops)
            total += dist.log_prob(action[:, None]).reshape(-1)
    np.testing.assert_allclose(total.numpy(), gen.log_probs(archs), rtol=1e-5, atol=1e-5)
    # and its TB loss on its own trajectories is ours
    gen._log_reward = lambda s: -0.1 * s.sum(-1).float()
    traj = gen._gfn.sample_trajectories(gen._env, n=8)
    x = traj.terminating_states.tensor
    with torch.no_grad():
        ours = (gen._logZ + gen._trajectory_log_pf(x) - gen._log_reward(x)).pow(2).mean()
        theirs = gen._gfn.loss(gen._env, traj, recalculate_all_logprobs=True)
    assert float(theirs) == pytest.approx(float(ours), rel=1e-4)


# ---------------------------------------------------------------------- variable DAGs
C3 = "conv3x3-bn-relu"
VAR = {"name": "opgfn_var", "ops": ["a", "b"], "num_nodes": 5, "topology": "variable", "max_edges": 5,
       "buildable": False}


def conv3_share(archs) -> float:
    return float(np.mean([op == C3 for a in archs for op in a.ops[1:-1]]))


def test_nb101_samples_are_valid_distinct_and_seeded() -> None:
    sp = nagen.spaces.get("nb101")
    gen = OPGFNGenerator(sp, seed=0, **FAST).fit()  # uniform reward
    out = gen.sample(200, seed=0)
    assert len(out) == 200 and gen.last_stats.invalid == 0 and all(sp.is_valid(a) for a in out)
    assert len(set(out)) >= 170  # 1.3M cells: near-uniform sampling rarely repeats
    assert max(len(a.edges) for a in out) <= 9 and {a.num_nodes for a in out} >= {6, 7}
    assert gen.sample(20, seed=3) == gen.sample(20, seed=3) != gen.sample(20, seed=4)
    # every cell of the space has its one trajectory: decisions round-trip, log P is finite
    cells = sp.sample(50, 1)
    assert [gen._to_arch(row.tolist()) for row in gen.slots(cells)] == cells
    assert np.isfinite(gen.log_probs(cells)).all()


def test_nb101_training_raises_the_share_of_favoured_ops() -> None:
    sp = nagen.spaces.get("nb101")
    archs = sp.sample(200, 0)
    values = np.array([a.ops.count(C3) for a in archs], dtype=float)  # more conv3x3 nodes = better
    plain = OPGFNGenerator(sp, seed=0, **FAST).fit()
    gen = OPGFNGenerator(sp, seed=0, beta=3.0, **FAST).fit(archs, values)
    base, trained = gen.sample(300, seed=0), plain.sample(300, seed=0)
    assert gen.last_stats.invalid == 0 and all(sp.is_valid(a) for a in base)
    assert conv3_share(base) > max(conv3_share(trained), conv3_share(archs)) + 0.25
    assert len(set(base)) >= 200  # concentrates on an op, not on a handful of cells


def test_custom_variable_space_masks_are_exact() -> None:
    sp = nagen.spaces.from_spec(dict(VAR))
    archs = list(sp.enumerate())
    gen = OPGFNGenerator(sp, seed=0, **{**FAST, "gfn_steps": 60}).fit()
    lp = gen.log_probs(archs)
    # every valid cell is reachable and the masks leave no mass on invalid terminals
    assert np.isfinite(lp).all() and np.exp(lp).sum() == pytest.approx(1.0, abs=1e-4)
    out = gen.sample(300, seed=0)
    assert len(out) == 300 and gen.last_stats.invalid == 0 and all(sp.is_valid(a) for a in out)
    assert max(len(a.edges) for a in out) <= 5
    # min_nodes is respected too (and trained toward an order on n_a)
    sp4 = nagen.spaces.from_spec({**VAR, "name": "opgfn_var4", "min_nodes": 4, "max_edges": 10})
    archs4 = list(sp4.enumerate())
    n_a = np.array([a.ops.count("a") for a in archs4], dtype=float)
    gen4 = OPGFNGenerator(sp4, seed=0, beta=3.0, **FAST).fit(archs4[::3], n_a[::3])
    assert np.exp(gen4.log_probs(archs4)).sum() == pytest.approx(1.0, abs=1e-4)
    s4 = gen4.sample(200, seed=0)
    assert min(a.num_nodes for a in s4) >= 4
    assert np.mean([a.ops.count("a") for a in s4]) > n_a.mean() + 0.5


class _NoDoubleB(CustomSpace):
    """A variable space with a rule the masks do not know: at most one 'b' node."""

    def _check(self, arch) -> None:
        super()._check(arch)
        if arch.ops.count("b") > 1:
            raise InvalidArchitectureError("at most one 'b' node")


def test_rules_beyond_the_masks_get_zero_reward_and_are_never_returned() -> None:
    sp = _NoDoubleB(dict(VAR, name="opgfn_nodoubleb"))
    gen = OPGFNGenerator(sp, seed=0, **{**FAST, "gfn_steps": 1}).fit()
    out = gen.sample(200, seed=0)  # an almost untrained policy: many draws break the rule
    assert all(sp.is_valid(a) for a in out) and gen.last_stats.invalid > 0
    assert sum(gen.last_stats.reasons.values()) == gen.last_stats.invalid
    bad = [a for a in nagen.spaces.from_spec(dict(VAR)).enumerate() if a.ops.count("b") > 1][:3]
    assert (gen._log_reward(torch.tensor([gen._dag.encode(a, gen._op_index) for a in bad])) <= -25).all()


# ---------------------------------------------------------------------- argument checks and degenerate labels
TINY_FAST = dict(gfn_steps=3, reward_steps=3, trajectories=8, hidden=8, reward_hidden=8)


@pytest.mark.parametrize(
    "bad",
    [
        {"beta": float("nan")}, {"beta": -1.0}, {"epsilon": -0.1}, {"epsilon": 1.5}, {"lr": 0.0},
        {"hidden": 0}, {"reward_hidden": -1}, {"trajectories": 0}, {"gfn_steps": -1}, {"subset_size": 2.5},
        {"max_budget_levels": 0}, {"budget_column": -1},
    ],
)
def test_constructor_arguments_are_checked(tiny, bad) -> None:
    # each was accepted and then failed inside training, or (beta < 0) silently inverted the reward
    with pytest.raises(InvalidArgumentError, match=next(iter(bad))):
        OPGFNGenerator(tiny, **{**TINY_FAST, **bad})


def test_a_bad_refit_option_leaves_the_warm_started_model_usable(tiny, tiny_data) -> None:
    archs, values = tiny_data
    gen = OPGFNGenerator(tiny, seed=0, **TINY_FAST).fit(archs, values)
    # a NaN beta once reached training: NaN losses turned the policy into NaNs for good
    with pytest.raises(InvalidArgumentError, match="beta"):
        gen.fit(archs, values, beta=float("nan"))
    for bad in ({"gfn_steps": -1}, {"reward_steps": 1.5}, {"steps": 3}):
        with pytest.raises(InvalidArgumentError):
            gen.fit(archs, values, **bad)
    assert len(gen.fit(archs, values).sample(5, seed=0)) == 5
    with pytest.raises(InvalidArgumentError, match="unknown sampling options"):
        gen.sample(2, temperature=2.0)
    with pytest.raises(InvalidArgumentError, match="epsilon"):
        gen.sample(2, epsilon=2.0)
    with pytest.raises(InvalidTrainingDataError, match="numbers"):
        gen.fit(archs[:2], ["a", "b"])


def test_labels_without_any_comparison_give_the_uniform_reward(tiny, tiny_data) -> None:
    archs, _ = tiny_data
    fast = {**FAST, "gfn_steps": 80}
    tied = OPGFNGenerator(tiny, seed=0, **fast).fit(archs[:6], np.ones(6))
    # mutually non-dominated points are no comparison either
    front = OPGFNGenerator(tiny, seed=0, **fast).fit(archs[:6], np.stack([np.arange(6.0), -np.arange(6.0)], 1))
    for gen in (tied, front):
        # the labelled spread of f is ~0 here: scaling by it once gave log R down to -28 and
        # put 84% of the samples on one arbitrary cell
        assert np.all(gen.log_reward(archs) == 0.0)
        assert np.exp(gen.log_probs(archs)).max() < 0.1  # uniform is 1/27


def test_raw_reward_needs_finite_positive_values(tiny, tiny_data) -> None:
    archs, _ = tiny_data
    raw = OPGFNGenerator(tiny, reward="raw", **TINY_FAST)
    with pytest.raises(InvalidTrainingDataError, match="finite"):
        raw.fit(archs[:3], [1.0, np.inf, 2.0])  # NaN mean and spread, then a crash in sampling
    with pytest.raises(InvalidTrainingDataError, match="positive"):
        raw.fit(archs[:3], [-1.0, -2.0, -3.0])  # value^beta of no positive value: an all-flat reward


def test_search_arguments_are_checked(tiny) -> None:
    f = lambda xs: np.array([float(x.ops[1] == "a") for x in xs])  # noqa: E731
    # each of these once ended the search after the first round (or at once) without a word
    for bad in ({"n_init": 0}, {"batch_size": 0}, {"pool_factor": 0}):
        with pytest.raises(InvalidArgumentError, match=next(iter(bad))):
            opgfn_search(tiny, f, 10, **bad, **TINY_FAST)
    with pytest.raises(InvalidArgumentError, match="budget"):
        opgfn_search(tiny, f, -1, **TINY_FAST)
    with pytest.raises(InvalidArgumentError, match="objective must return 3 values"):
        opgfn_search(tiny, lambda xs: [1.0], 6, n_init=3, **TINY_FAST)


def test_upto_budget_sampling_never_exceeds_the_budget() -> None:
    """``sample(n, budget=c)`` promises cost <= c. A budget at/above the largest level edge maps
    to the unconstrained top level, and one below the cheapest edge to level 0: both once
    returned dearer cells (71 of 200 over 0.5e6 here); now they are dropped and redrawn."""
    from nagen.predictors.cost import ExactCostPredictor

    sp = nagen.spaces.get("nb201")
    cost = ExactCostPredictor(sp, "params").exact
    gen = OPGFNGenerator(sp, seed=0, gfn_steps=5, trajectories=8, hidden=16, budget_cost=cost,
                         budget_levels=[0.11e6, 0.3e6, 0.5e6]).fit()
    assert gen.budget_level(0.5e6) == len(gen.budget_levels) - 1  # the +inf level
    for budget in (0.5e6, 0.7e6, 0.09e6):
        out = gen.sample(100, seed=1, budget=budget)
        assert len(out) == 100 and (cost(out) <= budget).all()
        assert all(sp.is_valid(a) for a in out)
    # what was dropped is reported (the last call: a budget below the cheapest edge)
    assert any("costs more than the budget" in k for k in gen.last_stats.reasons)
    # no budget, no filter: the top level still samples the dear cells
    assert (cost(gen.sample(100, seed=1)) > 0.5e6).any()


def test_upto_budget_holds_on_nb101_without_cost_masks() -> None:
    """Variable DAGs have no exact cost masks (the level only shapes the reward), so the
    budget is kept by the exact-cost filter."""
    from nagen.predictors.cost import ExactCostPredictor

    sp = nagen.spaces.get("nb101")
    cost = ExactCostPredictor(sp, "params").exact
    gen = OPGFNGenerator(sp, seed=0, gfn_steps=3, trajectories=8, hidden=16, budget_cost=cost, max_budget_levels=4).fit()
    assert gen._additive() is None
    budget = float(np.median(cost(sp.sample(64, 2))))
    out = gen.sample(40, seed=0, budget=budget)
    assert len(out) == 40 and (cost(out) <= budget).all()
    assert gen.last_stats.drawn > 40  # some dearer cells were drawn and dropped


def test_non_sequence_archs_are_training_data_errors(tiny) -> None:
    gen = OPGFNGenerator(tiny, seed=0, gfn_steps=0, reward_steps=0)
    # fit(5, values) was a bare TypeError from list(5)
    for bad in (5, None):
        with pytest.raises(InvalidTrainingDataError):
            gen.fit(bad, [1.0, 2.0])
    with pytest.raises(InvalidTrainingDataError, match="archs must be a sequence of architectures .*got int 5"):
        gen._check_data(5, [1.0, 2.0], None)
    assert not gen.fitted
