"""Pareto utilities on hand-made points, hypervolume, objective specs and ``pareto`` itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nagen.errors import NagenError, UnknownGeneratorError, UnknownMetricError
from nagen.multiobjective import (
    InvalidDirectionError,
    MissingDirectionError,
    Objective,
    TooFewObjectivesError,
    UnknownObjectiveError,
    crowding_distance,
    default_ref_point,
    dominates,
    hypervolume,
    non_dominated,
    pareto,
    pareto_ranks,
    parse_objectives,
)

# accuracy (max), params (min)
POINTS = np.array([
    [90.0, 3.0],  # 0 front
    [80.0, 1.0],  # 1 front
    [85.0, 2.0],  # 2 front
    [84.0, 2.0],  # 3 dominated by 2
    [80.0, 3.0],  # 4 dominated by 0, 1, 2, 3
    [90.0, 3.0],  # 5 duplicate of 0: front too
])
DIRS = ["max", "min"]


def test_pareto_order_on_hand_made_points() -> None:
    assert non_dominated(POINTS, DIRS).tolist() == [True, True, True, False, False, True]
    assert pareto_ranks(POINTS, DIRS).tolist() == [0, 0, 0, 1, 2, 0]
    assert dominates(POINTS[2], POINTS[3], DIRS) and not dominates(POINTS[3], POINTS[2], DIRS)
    assert not dominates(POINTS[0], POINTS[5], DIRS)  # equal points do not dominate each other
    assert not non_dominated(POINTS, ["max", "max"])[1]  # direction matters: (80, 1) is dominated when params is maximised
    d = crowding_distance(POINTS[[0, 1, 2]])
    assert np.isinf(d[0]) and np.isinf(d[1]) and d[2] == pytest.approx(2.0)


def test_hypervolume_of_hand_made_points() -> None:
    # ref (70, 4): rectangles [70,90]x[3,4] + [70,85]x[2,3] + [70,80]x[1,2] = 20 + 15 + 10
    assert hypervolume(POINTS, DIRS, [70.0, 4.0]) == pytest.approx(45.0)
    assert hypervolume(POINTS[[4]], DIRS, [80.0, 4.0]) == 0.0  # on the reference: adds nothing
    assert hypervolume(np.zeros((0, 2)), DIRS, [0.0, 0.0]) == 0.0


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (["cifar10_test:max", "not_a_metric:min"], UnknownObjectiveError, "choices are"),
        (["cifar10_test", "params:min"], MissingDirectionError, "cifar10_test:max"),
        (["cifar10_test:up", "params:min"], InvalidDirectionError, "'up'"),
        (["cifar10_test:max"], TooFewObjectivesError, "at least two"),
        ("cifar10_test:max", TooFewObjectivesError, "at least two"),
    ],
)
def test_bad_objective_specs_raise_named_errors(spec, error, match) -> None:
    with pytest.raises(error, match=match) as info:
        pareto("nb201", spec, budget=5, method="random")
    assert isinstance(info.value, NagenError)
    assert isinstance(info.value, KeyError if error is UnknownObjectiveError else ValueError)


def test_unknown_metric_is_an_unknown_metric_error_and_method_is_checked() -> None:
    with pytest.raises(UnknownMetricError):
        parse_objectives("cifar10_test:max,nope:min", ["cifar10_test", "params"])
    with pytest.raises(UnknownGeneratorError, match="opgfn"):
        pareto("nb201", ["cifar10_test:max", "params:min"], budget=5, method="nope")
    assert parse_objectives(" cifar10_test:MAX , params:min") == [Objective("cifar10_test", "max"), Objective("params", "min")]


def test_default_reference_point(nb201) -> None:
    objs = parse_objectives(["cifar10_test:max", "params:min"])
    ref = default_ref_point(nb201, objs)
    assert ref == [pytest.approx(np.median(nb201.values("cifar10_test"))), pytest.approx(1.1 * nb201.values("params").max())]


class _Columns:
    def __init__(self, **cols) -> None:
        self.cols = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
        self.metrics = list(cols)

    def values(self, metric):
        return self.cols[metric]


def test_default_reference_point_of_a_non_positive_minimised_column_is_worse_than_every_value() -> None:
    """1.1 x max of a log-loss in [-3, -1] is -1.1, inside the data: a front member added nothing."""
    objs = parse_objectives(["acc:max", "loss:min"])
    acc = [0.5, 0.6, 0.7, 0.8]
    ref = default_ref_point(_Columns(acc=acc, loss=[-3.0, -2.0, -1.5, -1.0]), objs)
    assert ref[1] == pytest.approx(-1.0 + 0.2)
    assert default_ref_point(_Columns(acc=acc, loss=[0.0] * 4), objs)[1] == pytest.approx(0.1)
    Y = np.c_[acc, [-3.0, -2.0, -1.5, -1.0]]
    # every point on this front counts: dropping the last (0.8, -1.0) lowers the hypervolume
    assert hypervolume(Y, ["max", "min"], ref) > hypervolume(Y[:3], ["max", "min"], ref)


def test_pareto_random_result_is_consistent(nb201) -> None:
    res = pareto("nb201", "cifar10_test:max,params:min", budget=30, seed=1, method="random")
    out = json.loads(res.to_json())
    assert set(out) == {"history", "front", "hypervolume", "ref_point", "objectives", "space", "method", "seed"}
    assert out["objectives"] == ["cifar10_test:max", "params:min"] and out["ref_point"] == res.ref_point
    assert (out["space"], out["method"], out["seed"]) == ("nb201", "random", 1) and len(out["history"]) == 30
    archs = [nb201.space.parse(h["arch"]) for h in out["history"]]
    assert len({a.canonical_hash() for a in archs}) == 30  # each label paid once
    assert out["history"][0]["values"]["params"] == nb201.query(archs[0], "params")
    Y = np.array([[h["values"]["cifar10_test"], h["values"]["params"]] for h in out["history"]])
    assert [h for h, keep in zip(out["history"], non_dominated(Y, DIRS)) if keep] == out["front"]
    assert out["hypervolume"] == pytest.approx(hypervolume(Y, DIRS, list(res.ref_point.values())))
    assert pareto("nb201", "cifar10_test:max,params:min", budget=30, seed=1, method="random").to_dict() == out


def test_pareto_opgfn_and_evolution_run(nb201) -> None:
    kw = dict(space="nb201", objectives=["cifar10_test:max", "flops:min"], budget=24, seed=0)
    res = pareto(**kw, method="opgfn", batch_size=7, n_init=10, gfn_steps=20, reward_steps=20)
    assert len(res.history) == 24 and res.front and res.hypervolume > 0
    evo = pareto(**kw, method="evolution", population=8)
    assert len(evo.history) == 24 and evo.hypervolume > 0


# ---------------------------------------------------------------------- malformed input
@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "no objectives"),
        ("cifar10_test:max,", "empty objective"),
        (None, "got NoneType"),
        (5, "got int"),
        (["cifar10_test:max,params:min"], "holds a comma"),
        ([Objective(3, "max")], "are strings"),
    ],
)
def test_malformed_objective_specs_raise_invalid_objective_error(spec, match) -> None:
    from nagen.multiobjective import InvalidObjectiveError

    with pytest.raises(InvalidObjectiveError, match=match):
        parse_objectives(spec)


def test_hypervolume_checks_its_reference_point_and_shapes() -> None:
    from nagen.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="finite"):
        hypervolume(POINTS, DIRS, [np.nan, 4.0])  # was 0.0: every comparison with NaN fails
    with pytest.raises(InvalidArgumentError, match="finite"):
        hypervolume(POINTS, DIRS, [-np.inf, 4.0])  # was inf
    with pytest.raises(InvalidArgumentError, match=r"one number per objective \(2\), got \[70.0\]"):
        hypervolume(POINTS, DIRS, [70.0])
    with pytest.raises(InvalidArgumentError, match=r"n x 2 array .* shape \(2, 3\)"):
        hypervolume(np.ones((2, 3)), DIRS, [0.0, 4.0])  # was silently read as 3 points of 2 values
    with pytest.raises(InvalidDirectionError, match="non-empty list"):
        hypervolume(POINTS, "max", [70.0])
    with pytest.raises(InvalidArgumentError, match="numbers"):
        hypervolume(POINTS, DIRS, ["a", "b"])
    assert hypervolume([90.0, 3.0], DIRS, [70.0, 4.0]) == pytest.approx(20.0)  # one point as a flat list
    assert hypervolume(np.array([[np.nan, 1.0], [90.0, 3.0]]), DIRS, [70.0, 4.0]) == pytest.approx(20.0)  # NaN rows add nothing


def test_crowding_distance_and_directions_reject_malformed_input() -> None:
    from nagen.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="n x k"):
        crowding_distance(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(InvalidArgumentError, match=r"NaN in rows \[0\]"):
        crowding_distance(np.array([[np.nan, 1.0], [2.0, 1.0], [3.0, 0.0]]))  # NaN posed as an infinite-distance boundary
    from nagen.multiobjective import check_directions

    with pytest.raises(InvalidDirectionError):
        check_directions(None)
    assert check_directions(np.array(["MAX", "min"])) == ["max", "min"]


def test_default_reference_point_takes_spec_strings(nb201) -> None:
    assert default_ref_point(nb201, ["cifar10_test:max", "params:min"]) == default_ref_point(
        nb201, parse_objectives(["cifar10_test:max", "params:min"])
    )
    with pytest.raises(UnknownObjectiveError):
        default_ref_point(nb201, ["nope:max"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(seed=-1), "InvalidArgumentError", "seed must be a non-negative integer, got -1"),
        (dict(seed="a"), "InvalidArgumentError", "seed must be"),
        (dict(foo=1), "UnknownOptionError", r"unknown option\(s\) \['foo'\]; options of this method: none"),
        (dict(method="evolution", foo=1), "UnknownOptionError", "'population'"),
        (dict(method="opgfn", foo=1), "UnknownOptionError", "'gfn_steps'"),
        (dict(method="opgfn", directions=["max", "max"]), "UnknownOptionError", "directions"),
        # the exact-cost conditioning pareto adds for params exists only in the torch engine: say how to opt out
        (dict(method="opgfn", engine="torchgfn"), "InvalidArgumentError", "exact_costs=False"),
        (dict(method="opgfn", reward="raw"), "InvalidArgumentError", "exact_costs=False"),
        (dict(method="bo", foo=1), "UnknownOptionError", "'n_initial'"),
        (dict(exact_costs="no"), "InvalidArgumentError", "exact_costs must be True, False or None"),
        (dict(report=5), "InvalidArgumentError", "report must be"),
        (dict(ref_point=1.0), "InvalidObjectiveError", "one number per objective"),
        (dict(ref_point="90,1e6"), "InvalidObjectiveError", "one number per objective"),
        (dict(ref_point={"cifar10_test": 90.0, "params": 1e6, "parms": 2e6}), "InvalidObjectiveError", r"\['parms'\]"),
    ],
)
def test_pareto_checks_its_arguments_before_any_label(kwargs, error, match) -> None:
    import nagen.errors
    import nagen.multiobjective

    exc = getattr(nagen.errors, error, None) or getattr(nagen.multiobjective, error)
    kw = {"method": "random", **kwargs}
    with pytest.raises(exc, match=match):
        pareto("nb201", ["cifar10_test:max", "params:min"], budget=5, **kw)


def test_pareto_passes_batch_size_to_evolution(monkeypatch) -> None:
    import functools

    import nagen.generators.evolution as E

    seen = {}
    real = E.mo_regularized_evolution

    @functools.wraps(real)
    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "mo_regularized_evolution", spy)
    res = pareto("nb201", ["cifar10_test:max", "params:min"], budget=10, method="evolution", batch_size=3, population=6)
    assert seen["batch_size"] == 3 and len(res.history) == 10  # was silently ignored


def test_pareto_helpers_reject_non_numeric_values_with_a_named_error() -> None:
    """Non-numbers raise InvalidArgumentError saying what is allowed (was numpy's bare ValueError/TypeError)."""
    from nagen.errors import InvalidArgumentError

    allowed = r"must be .*real numbers \(int or float"
    for bad in ([["a"]], [["a", 1.0], [2.0, 3.0]], [[1j, 1.0]], [[1.0, 2.0], [3.0]], [[{"x": 1}, 2.0]]):
        k = 1 if bad == [["a"]] else 2
        with pytest.raises(InvalidArgumentError, match="objective values " + allowed):
            non_dominated(bad, ["max"] * k)
        with pytest.raises(InvalidArgumentError, match="objective values " + allowed):
            pareto_ranks(bad, ["max", "min"][:k])
        with pytest.raises(InvalidArgumentError, match="objective values " + allowed):
            crowding_distance(bad)
    with pytest.raises(InvalidArgumentError, match="point a " + allowed + r".*'a'"):
        dominates(["a", 1], [1, 1], ["max", "max"])
    with pytest.raises(InvalidArgumentError, match="point b " + allowed):
        dominates([1, 1], [None, object()], ["max", "max"])
    # still a ValueError for generic callers, and numbers (with NaN for a failed point) still work
    with pytest.raises(ValueError):
        non_dominated([["a"]], ["max"])
    assert non_dominated([[1, 2], [2, 1], [0, 0]], ["max", "max"]).tolist() == [True, True, False]
    assert dominates([2, 2], [1, np.nan], ["max", "min"]) is False  # NaN compares as nothing, as before


def test_pareto_budget_beyond_the_space_and_report_lists():
    from nagen.errors import InvalidArgumentError
    from nagen.multiobjective import pareto

    with pytest.raises(InvalidArgumentError, match="budget 20000 exceeds the 15,625 architectures"):
        pareto("nb201", ["cifar10_test:max", "params:min"], budget=20000, method="random")
    with pytest.raises(InvalidArgumentError, match="report must be"):
        pareto("nb201", ["cifar10_valid_12ep:max", "params:min"], budget=4, method="random", report=b"cifar10_test")
    # a comma-separated report is several metrics, as in nagen.search
    out = pareto("nb201", ["cifar10_valid_12ep:max", "params:min"], budget=4, method="random", report="cifar10_test, cifar100_test")
    assert all(set(f["report"]) == {"cifar10_test", "cifar100_test"} for f in out.front)


def test_non_dominated_equals_the_definition_on_ties_duplicates_nan_and_inf() -> None:
    """The sorted sweep (compares each block with the front before it) keeps exactly the rows no
    other row dominates: checked against the pairwise definition on 300 random tables."""
    from nagen.multiobjective import non_dominated, to_maximize

    rng = np.random.default_rng(7)
    for _ in range(300):
        n, k = int(rng.integers(0, 1200)), int(rng.integers(1, 5))
        Y = rng.integers(0, int(rng.integers(1, 20)), size=(n, k)).astype(float)  # many ties and duplicates
        for value, p in ((np.nan, 0.03), (np.inf, 0.01), (-np.inf, 0.01)):
            Y[rng.random((n, k)) < p] = value
        directions = [("max", "min")[int(b)] for b in rng.integers(0, 2, k)]
        Z = to_maximize(Y, directions)
        expected = np.array([not ((Z >= z).all(1) & (Z > z).any(1)).any() for z in Z], dtype=bool)
        assert np.array_equal(non_dominated(Y, directions), expected)


def test_pareto_refuses_a_bool_or_text_reference_and_batch_size_for_random() -> None:
    # True was read as 1.0 and "80" as 80; random silently ignored batch_size
    import nagen
    from nagen.errors import InvalidArgumentError
    from nagen.multiobjective import InvalidObjectiveError

    for ref in ([True, 1e6], {"cifar10_valid_12ep": "80", "params": 1e6}):
        with pytest.raises(InvalidObjectiveError, match="ref_point values must be numbers"):
            nagen.pareto(budget=5, ref_point=ref)
    with pytest.raises(InvalidArgumentError, match="batch_size does not apply to method 'random'"):
        nagen.pareto(budget=5, method="random", batch_size=3)
    # an unknown engine is named as such, not blamed on the exact params cost
    with pytest.raises(InvalidArgumentError, match="engine must be 'torch' or 'torchgfn', got 'zz'"):
        nagen.pareto(budget=5, engine="zz")
