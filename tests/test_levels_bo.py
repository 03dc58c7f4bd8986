"""nagen.levels_bo: level-wise BO of one labelled objective against an exact cost."""

from __future__ import annotations

import numpy as np
import pytest

import nagen.spaces
from nagen.levels_bo import levelwise_bo
from nagen.multiobjective import pareto, random_search
from nagen.predictors.cost import ExactCostPredictor

@pytest.fixture(scope="module")
def setup(nb201):
    space = nb201.space
    exact = ExactCostPredictor(space, "params").exact

    def label(archs):
        return np.stack([nb201.query_many(archs, "cifar10_test"), nb201.query_many(archs, "params")], 1)

    return space, exact, label


def test_labels_are_new_cells_and_table_values_and_seeded(nb201, setup) -> None:
    space, exact, label = setup
    h = levelwise_bo(space, label, 30, seed=3, cost=exact, batch_size=10)
    assert len(h) == 30
    keys = {(a.canonical_hash(), float(v[1])) for a, v in h}
    assert len(keys) == 30  # never the same (network, cost) twice
    a, v = h[-1]
    assert v[0] == nb201.query(a, "cifar10_test") and v[1] == nb201.query(a, "params") == float(exact([a])[0])
    again = levelwise_bo(space, label, 30, seed=3, cost=exact, batch_size=10)
    assert [space.format(a) for a, _ in again] == [space.format(a) for a, _ in h]


def _mean_regret(Y: np.ndarray, table) -> float:
    """Mean over the table's distinct params values c of (best accuracy with params <= c) minus the labelled best."""
    T = np.stack([table.values("cifar10_test"), table.values("params")], 1)
    levels = np.unique(T[:, 1])

    def stair(Z):
        o = np.argsort(Z[:, 1])
        run, at = np.maximum.accumulate(Z[o, 0]), np.searchsorted(Z[o, 1], levels, side="right") - 1
        return np.where(at >= 0, run[np.maximum(at, 0)], T[:, 0].min())

    return float(np.mean(stair(T) - stair(Y)))


def test_staircase_regret_beats_random_search_with_the_same_labels(nb201, setup) -> None:
    space, exact, label = setup
    for seed in (0, 1):
        bo = np.stack([v for _, v in levelwise_bo(space, label, 40, seed=seed, cost=exact, batch_size=5)])
        rnd = np.stack([v for _, v in random_search(space, label, 40, seed)])
        assert _mean_regret(bo, nb201) < _mean_regret(rnd, nb201)


def test_raw_values_and_rank_transform_differ_but_both_pay_once(setup) -> None:
    space, exact, label = setup
    raw = levelwise_bo(space, label, 25, seed=0, cost=exact, transform="none")  # the values themselves
    cop = levelwise_bo(space, label, 25, seed=0, cost=exact, transform="copula")
    assert [space.format(a) for a, _ in raw[:10]] == [space.format(a) for a, _ in cop[:10]]  # same data-free start
    assert [space.format(a) for a, _ in raw] != [space.format(a) for a, _ in cop]
    assert len({(a.canonical_hash(), float(v[1])) for a, v in raw}) == 25
    both = levelwise_bo(space, label, 25, seed=0, cost=exact, transform="both")
    fmt = lambda h: [space.format(a) for a, _ in h]  # noqa: E731
    # the first pick of each round is the raw model's, the second the rank model's: the first model-chosen label is raw's
    assert fmt(both)[:11] == fmt(raw)[:11] and fmt(both) not in (fmt(raw), fmt(cop))
    assert len({(a.canonical_hash(), float(v[1])) for a, v in both}) == 25


def test_cycle_rule_visits_cheap_levels(setup) -> None:
    space, exact, label = setup
    h = levelwise_bo(space, label, 40, seed=0, cost=exact, level="cycle", batch_size=20)
    costs = np.array([v[1] for _, v in h[10:]])
    levels = np.unique(exact(space.sample(2048, 0)))
    # one pick per level in turn: the first 20 model-chosen labels include cells within each of the cheapest budgets
    assert all((costs <= c).any() for c in levels[:5])


def test_bad_arguments_are_named(setup) -> None:
    space, exact, label = setup
    with pytest.raises(ValueError, match="level must be one of"):
        levelwise_bo(space, label, 10, cost=exact, level="best")
    with pytest.raises(ValueError, match="direction"):
        levelwise_bo(space, label, 10, cost=exact, direction="up")
    with pytest.raises(ValueError, match="transform must be one of"):
        levelwise_bo(space, label, 10, cost=exact, transform="log")
    with pytest.raises(ValueError, match="budget"):
        levelwise_bo(space, label, 0, cost=exact)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="explore_every must be a non-negative integer"):
            levelwise_bo(space, label, 10, cost=exact, explore_every=bad)
    from nagen.errors import InvalidArgumentError

    for options, name in [({"budget": "10"}, "budget"), ({"n_initial": 2.5}, "n_initial"), ({"max_levels": None}, "max_levels")]:
        with pytest.raises(InvalidArgumentError, match=name):
            levelwise_bo(space, label, **{"budget": 10, "cost": exact, **options})
    with pytest.raises(InvalidArgumentError, match="value_column=5, but the objective returns 2"):
        levelwise_bo(space, label, 10, cost=exact, value_column=5)


_CHAIN = {"name": "chain5_levels_test", "ops": ["conv3x3", "conv1x1", "skip"], "num_nodes": 5, "topology": "fixed",
          "edges": [[0, 1], [1, 2], [2, 3], [3, 4]]}


def _chain():
    from nagen.spaces.custom import CustomSpace

    return nagen.spaces.register_space(CustomSpace.from_spec(_CHAIN), overwrite=True)


def _chain_cost(archs):
    # the all-skip cell alone in the cheapest level; otherwise 1 + the number of conv3x3
    return np.array([0.0 if all(o == "skip" for o in a.ops[1:-1]) else 1.0 + sum(o == "conv3x3" for o in a.ops) for a in archs])


def test_a_space_whose_labels_all_fail_ends_with_what_it_labelled() -> None:
    sp = _chain()
    calls = []

    def failing(archs):
        calls.append(len(archs))
        return np.full((len(archs), 2), np.nan)

    h = levelwise_bo(sp, failing, budget=40, cost=_chain_cost, n_initial=2)
    assert len(h) == 27 and min(calls) >= 1  # every cell once, never an empty batch


def test_cycle_rule_skips_levels_with_nothing_left_to_pick(monkeypatch) -> None:
    import nagen.levels_bo as L

    sp = _chain()
    obj = lambda archs: np.array([[sum({"conv3x3": 3, "conv1x1": 2, "skip": 1}.get(o, 0) * (k + 1) for k, o in enumerate(a.ops)), 0]
                                  for a in archs], float)
    picks = []
    argmax = np.argmax

    class Spy:  # records the acquisition value of every pick the model makes
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def argmax(a, *args, **kw):
            i = int(argmax(a, *args, **kw))
            if getattr(a, "ndim", 0) == 1 and len(a) == 27:
                picks.append(float(a[i]))
            return i

    monkeypatch.setattr(L, "np", Spy())
    h = levelwise_bo(sp, obj, budget=14, cost=_chain_cost, n_initial=2, batch_size=1, level="cycle", explore_every=0,
                     max_level_share=0)
    assert len(h) == 14 and picks and all(p > -1.0 for p in picks)  # never the "outside the level" filler


def test_every_kth_round_starts_with_the_proxy_choice_not_the_model(setup, monkeypatch) -> None:
    import nagen.study as S

    space, exact, label = setup
    # record which cells the exploration rule ranks: the proxy is asked about exactly 20 random cells
    ranked: list[str] = []  # the proxy's best of each 20-cell call
    real = S._proxy_features

    def spy(sp, archs):
        out = real(sp, archs)
        if len(archs) == 20:  # the exploration rule's sample (the GP's features may also come 20 at a time)
            ranked.append(archs[int(np.argmax(out[:, 0]))].to_string())
        return out

    monkeypatch.setattr(S, "_proxy_features", spy)
    n_initial, batch = 4, 2
    h = levelwise_bo(space, label, n_initial + 4 * batch, seed=1, cost=exact, batch_size=batch, n_initial=n_initial, explore_every=2)
    order = [a.to_string() for a, _ in h]
    # rounds 2 and 4 each began with the proxy's best of 20 random cells
    for k in (2, 4):
        assert order[n_initial + (k - 1) * batch] in ranked
    off = levelwise_bo(space, label, n_initial + 2 * batch, seed=1, cost=exact, batch_size=batch, n_initial=n_initial, explore_every=0)
    first_round = slice(0, n_initial + batch)
    assert [a for a, _ in off][first_round] == [a for a, _ in h][first_round]  # the same until round 2
    assert [a for a, _ in off][n_initial + batch] != h[n_initial + batch][0]  # where the model's pick was replaced


def test_sampled_pool_for_spaces_too_large_to_enumerate() -> None:
    space = nagen.spaces.get("nb101")
    ops = lambda a: [o for o in a.ops if o not in ("input", "output")]  # noqa: E731
    cost = lambda archs: np.array([float(len(ops(a))) for a in archs])  # noqa: E731

    def label(archs):  # a cheap deterministic stand-in for accuracy: 3x3 convolutions help, more nodes cost
        return np.array([[sum(o == "conv3x3-bn-relu" for o in ops(a)) - 0.1 * len(ops(a)), len(ops(a))] for a in archs], float)

    h = levelwise_bo(space, label, 16, seed=0, cost=cost, batch_size=8, n_initial=4, pool_size=300, surrogate="gp")
    assert len(h) == 16 and len({a.canonical_hash() for a, _ in h}) == 16


def test_pareto_bo_uses_levels_for_an_exact_cost_and_a_study_otherwise(nb201) -> None:
    res = pareto("nb201", ["cifar10_test:max", "params:min"], budget=20, seed=0, method="bo")
    assert len(res.history) == 20 and res.front and res.method == "bo"
    two = pareto("nb201", ["cifar10_test:max", "lat_pixel2_ms:min"], budget=8, seed=0, method="bo", batch_size=4)
    assert len(two.history) == 8 and two.front
    assert all(h["values"]["lat_pixel2_ms"] == nb201.query(h["arch"], "lat_pixel2_ms") for h in two.history)


def test_default_clip_transform_fits_the_labels_raised_to_their_lower_quartile(setup, monkeypatch) -> None:
    import nagen.study
    from nagen.levels_bo import CLIP_QUANTILE

    space, exact, label = setup
    fitted = []
    real = nagen.study._make_surrogate

    def spy(kind, sp, seed):
        model = real(kind, sp, seed)
        fit = model.fit

        def record(archs, y):
            fitted.append(np.asarray(y, dtype=float).copy())
            return fit(archs, y)

        model.fit = record
        return model

    monkeypatch.setattr(nagen.study, "_make_surrogate", spy)
    h = levelwise_bo(space, label, 16, seed=0, cost=exact)  # the default transform: "clip"
    assert len(h) == 16 and len({(a.canonical_hash(), float(v[1])) for a, v in h}) == 16
    y = np.array([v[0] for _, v in h])
    for f in fitted:  # each fit sees the first len(f) labels, the worst quarter raised to the lower quartile
        raw = y[: len(f)]
        assert np.allclose(f, np.maximum(raw, np.quantile(raw, CLIP_QUANTILE)))
        assert f.min() > raw.min() or np.ptp(raw) == 0


def test_level_cap_bounds_the_model_labels_of_each_level(setup) -> None:
    from nagen.levels_bo import LEVEL_CAP_MIN

    space, exact, label = setup
    n_initial = 4

    def per_level(share):
        h = levelwise_bo(space, label, 30, seed=0, cost=exact, batch_size=5, n_initial=n_initial, explore_every=0, max_level_share=share)
        assert len(h) == 30
        counts = np.unique(np.array([v[1] for _, v in h]), return_counts=True)[1]
        initial = np.unique(np.array([v[1] for _, v in h[:n_initial]]), return_counts=True)[1]
        return h, counts, initial

    capped, counts, initial = per_level(0.1)
    # 30 labels: the cap is max(5, 0.1 * labels) = 5, reached only by the initial labels if they already exceed it
    assert counts.max() <= max(LEVEL_CAP_MIN, initial.max())
    free, free_counts, _ = per_level(0.0)
    assert free_counts.max() > LEVEL_CAP_MIN  # without the cap one level takes more, so the cap changed the run
    assert [a for a, _ in capped] != [a for a, _ in free]


def test_level_cap_lifts_when_every_level_is_full(setup) -> None:
    space, _, label = setup

    def two_levels(archs):  # any convolution or none: 2 levels, so both are full after 10 labels
        return np.array([float(any(o.startswith("nor_conv") for o in a.ops)) for a in archs])

    h = levelwise_bo(space, label, 16, seed=0, cost=two_levels, batch_size=4, n_initial=4)
    assert len(h) == 16  # the search does not stop when the cap excludes every cell
    assert max(sum(two_levels([a])[0] == c for a, _ in h) for c in (0.0, 1.0)) > 5


def test_bad_level_cap_is_named(setup) -> None:
    space, exact, label = setup
    for bad in (-0.1, 1.5, float("nan"), "0.1", None):
        with pytest.raises(ValueError, match="max_level_share"):
            levelwise_bo(space, label, 10, cost=exact, max_level_share=bad)


def test_a_predictor_surrogate_is_pointed_to_the_study_path() -> None:
    import nagen
    from nagen.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=r"'gnn' is a registered predictor.*exact_costs=False"):
        nagen.pareto("nb201", ["cifar10_valid_12ep:max", "params:min"], budget=14, method="bo", surrogate="gnn")
