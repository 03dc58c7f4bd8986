"""``pareto(report=...)``: report metrics are read only after the search, for the front only;
unknown ones fail before any label. Exact costs: the de-duplication key keeps equivalent cells
of different cost apart, and the cost-conditioned OP-GFN samples within its cost level."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nagen.benchmarks
from nagen.generators.opgfn import OPGFNGenerator, opgfn_search, search_key
from nagen.multiobjective import UnknownObjectiveError, pareto
from nagen.predictors.cost import ExactCostPredictor

OBJ = ["cifar10_test:max", "params:min"]
FAST = dict(gfn_steps=20, reward_steps=20, refit_gfn_steps=10, refit_reward_steps=10, trajectories=16, hidden=32)


@pytest.mark.parametrize("method,opts", [("random", {}), ("opgfn", dict(batch_size=6, n_init=6, **FAST))])
def test_report_metrics_are_read_only_after_the_search(queried, method, opts) -> None:
    res = pareto("nb201", OBJ, budget=18, seed=0, method=method, report=["cifar100_test", "cifar10_valid_12ep"], **opts)
    first = queried.index("cifar100_test")
    # nothing of the search reads a report column, and the report reads them once, at the end
    assert set(queried[:first]) <= {"cifar10_test", "params"}
    assert queried[first:] == ["cifar100_test", "cifar10_valid_12ep"]
    table = nagen.benchmarks.load("nb201")
    assert len(res.history) == 18 and res.front and set(res.report) == {f["arch"] for f in res.front}
    for entry in res.front:
        arch = table.space.parse(entry["arch"])
        want = {m: table.query(arch, m) for m in ("cifar100_test", "cifar10_valid_12ep")}
        assert entry["report"] == pytest.approx(want) and res.report[entry["arch"]] == entry["report"]
    out = json.loads(res.to_json())
    assert all(set(f["report"]) == {"cifar100_test", "cifar10_valid_12ep"} for f in out["front"])
    assert all("report" not in h for h in out["history"])  # only the front is reported


def test_without_report_nothing_else_is_read_and_entries_are_unchanged(queried) -> None:
    res = pareto("nb201", OBJ, budget=12, seed=1, method="random")
    assert set(queried) == {"cifar10_test", "params"} and res.report == {}
    assert all(set(f) == {"arch", "values"} for f in res.to_dict()["front"])


def test_unknown_report_metric_fails_before_any_label(queried) -> None:
    with pytest.raises(UnknownObjectiveError, match="report metric 'cifar10_tset'"):
        pareto("nb201", OBJ, budget=12, seed=0, method="random", report="cifar10_tset")
    assert queried == []  # not one lookup: no label spent, not even the reference point


def test_equivalent_cells_of_different_cost_get_different_keys() -> None:
    table = nagen.benchmarks.load("nb201")
    sp = table.space
    cheap = sp.parse("|none~0|+|none~0|skip_connect~1|+|skip_connect~0|skip_connect~1|none~2|")
    # the conv on edge 0->2 feeds node 2, whose only way out (2->3) is 'none': a dead path that still has weights
    dear = sp.parse("|none~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|skip_connect~1|none~2|")
    assert cheap.canonical_hash() == dear.canonical_hash()
    exact = {1: ExactCostPredictor(sp, "params").exact}
    assert exact[1]([dear])[0] > exact[1]([cheap])[0]
    assert search_key(cheap) == search_key(dear)
    assert search_key(cheap, exact) != search_key(dear, exact)
    same_cost_twin = sp.parse("|none~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|skip_connect~1|none~2|")
    assert search_key(same_cost_twin, exact) == search_key(cheap, exact)  # identical in every objective: once


def test_cost_conditioned_search_labels_each_key_once_and_uses_paid_labels_only() -> None:
    table = nagen.benchmarks.load("nb201")
    sp = table.space
    exact = {1: ExactCostPredictor(sp, "params").exact}
    paid: list = []

    def label(archs):
        paid.extend(archs)
        return np.stack([table.query_many(archs, "cifar10_test"), table.query_many(archs, "params")], 1)

    hist = opgfn_search(sp, label, 24, seed=3, batch_size=7, n_init=6, directions=["max", "min"],
                        exact_objectives=exact, **FAST)
    assert [a for a, _ in hist] == paid and len(hist) == 24
    keys = [search_key(a, exact) for a, _ in hist]
    assert len(set(keys)) == 24
    again = opgfn_search(sp, label, 24, seed=3, batch_size=7, n_init=6, directions=["max", "min"],
                         exact_objectives=exact, **FAST)
    assert [sp.format(a) for a, _ in again] == [sp.format(a) for a, _ in hist]  # seeded


@pytest.mark.parametrize("mode", ["upto", "band"])
def test_cost_conditioned_samples_stay_in_their_level(mode) -> None:
    table = nagen.benchmarks.load("nb201")
    sp = table.space
    cost = ExactCostPredictor(sp, "params").exact
    archs = sp.sample(40, 0)
    Y = np.stack([table.query_many(archs, "cifar10_test"), table.query_many(archs, "params")], 1)
    gen = OPGFNGenerator(sp, seed=0, budget_cost=cost, budget_column=1, budget_mode=mode, gfn_steps=30,
                         reward_steps=30, trajectories=16, hidden=32).fit(archs, Y, ["max", "min"])
    levels = gen.budget_levels
    assert np.isinf(levels[-1]) and (np.diff(levels) > 0).all()
    for k in (0, 3, len(levels) // 2):
        c = cost(gen.sample(30, seed=k, budget=float(levels[k])))
        lo = -np.inf if (mode == "upto" or k == 0) else levels[k - 1]
        assert ((c <= levels[k]) & (c > lo)).all()  # exact cost masks: never outside the level
    # log P(x | level) is a distribution over the cells of that level
    cells = [a for a in sp.enumerate() if cost([a])[0] <= levels[0]]
    p = np.exp(gen.log_probs(cells, budget=float(levels[0])))
    assert p.sum() == pytest.approx(1.0, abs=1e-4)


def test_order_within_a_budget_ignores_the_cost_scale() -> None:
    """The reward is learned from orders only: rescaling accuracy monotonically changes nothing."""
    table = nagen.benchmarks.load("nb201")
    sp = table.space
    cost = ExactCostPredictor(sp, "params").exact
    archs = sp.sample(30, 1)
    acc, par = table.query_many(archs, "cifar10_test"), table.query_many(archs, "params")
    scores = []
    for a in (acc, np.exp(acc / 10.0)):
        gen = OPGFNGenerator(sp, seed=0, budget_cost=cost, budget_column=1, gfn_steps=5, reward_steps=40,
                             trajectories=8, hidden=16)
        gen.fit(archs, np.stack([a, par], 1), ["max", "min"])
        scores.append(gen.score(archs))
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5, atol=1e-6)
