"""Multi-objective search: objective specs, Pareto dominance, fronts, hypervolume, ``pareto``.

>>> import nagen
>>> res = nagen.pareto("nb201", ["cifar10_valid_12ep:max", "params:min"], budget=200, seed=0,
...                    report="cifar10_test")                                                 # doctest: +SKIP
>>> res.hypervolume, len(res.front), res.to_dict()["history"][0]                              # doctest: +SKIP

Hypervolume is only meaningful with a stated reference point. Unless one is given, a maximised
objective's reference is the median of its column over the whole table and a minimised one's is
1.1 x the column's maximum, both in the objectives' own units. (With accuracy 0 as reference,
200 random NB201 cells already reach 99.4% of the true hypervolume of CIFAR-10 accuracy vs
params, so that choice measures nothing; with the median it is 84.6%.)

The numpy helpers (``pareto_ranks``, ``crowding_distance``, ``non_dominated``) import nothing
heavy; hypervolume uses BoTorch, imported on first use.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nagen.errors import (
    InvalidArgumentError,
    NagenError,
    UnknownMetricError,
    UnknownOptionError,
    check_int,
    choices_hint,
    is_real,
    keyword_parameters,
)
from nagen._threads import single_threaded

__all__ = [
    "pareto",
    "ParetoResult",
    "Objective",
    "parse_objectives",
    "hypervolume",
    "default_ref_point",
    "InvalidObjectiveError",
    "UnknownObjectiveError",
    "MissingDirectionError",
    "TooFewObjectivesError",
    "InvalidDirectionError",
    "check_directions",
    "to_maximize",
    "dominates",
    "non_dominated",
    "pareto_ranks",
    "crowding_distance",
]

_DIRECTIONS = ("max", "min")


class InvalidObjectiveError(NagenError, ValueError):
    """An objective spec is malformed (base of the objective-spec errors below)."""


class InvalidDirectionError(InvalidObjectiveError):
    """An objective direction is not ``"max"``/``"min"``."""


class MissingDirectionError(InvalidObjectiveError):
    """An objective spec has no ``:max``/``:min`` suffix."""


class TooFewObjectivesError(InvalidObjectiveError):
    """``pareto`` was given fewer than two objectives."""


class UnknownObjectiveError(UnknownMetricError):
    """An objective names a metric the benchmark table does not have."""


#: methods ``pareto`` can search with
METHODS = ("opgfn", "bo", "evolution", "random")


def check_directions(directions: Sequence[str]) -> list[str]:
    """Validate a list of ``"max"``/``"min"`` (one per objective) and return it as a list."""
    if isinstance(directions, (str, bytes)) or not isinstance(directions, (Sequence, np.ndarray)) or not len(directions):
        raise InvalidDirectionError(f"directions must be a non-empty list of 'max'/'min', got {directions!r}")
    out = [str(d).lower() for d in directions]
    for k, d in enumerate(out):
        if d not in _DIRECTIONS:
            raise InvalidDirectionError(f"direction {k} is {directions[k]!r}; allowed: 'max', 'min'")
    return out


def _as_floats(Y: Any, what: str = "objective values", shape: str = "an n x k array") -> np.ndarray:
    """``Y`` as a float array, else ``InvalidArgumentError`` saying what was given and what is allowed.

    numpy's own ``ValueError``/``TypeError`` ("could not convert string to float") names neither
    the argument nor nagen's error class, so callers catching ``NagenError`` would miss it.
    """
    try:
        return np.asarray(Y, dtype=float)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"{what} must be {shape} of real numbers (int or float; NaN marks a failed point), "
            f"got {reprlib.repr(Y)} ({e})"
        ) from None


def to_maximize(Y: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """``Y`` (``n x k``) with minimised columns negated, so larger is better everywhere.

    Raises:
        InvalidDirectionError: bad ``directions``.
        InvalidArgumentError: ``Y`` is not an ``n x k`` array of numbers (one column per direction).
    """
    Y = _as_floats(Y)
    sign = np.array([1.0 if d == "max" else -1.0 for d in check_directions(directions)])
    if Y.ndim != 2 or Y.shape[1] != len(sign):
        raise InvalidArgumentError(f"expected an n x {len(sign)} array of objective values, got shape {Y.shape}")
    return Y * sign


def dominates(a: np.ndarray, b: np.ndarray, directions: Sequence[str]) -> bool:
    """Whether point ``a`` Pareto-dominates ``b`` (no worse in every objective, better in one).

    Raises:
        InvalidDirectionError: bad ``directions``.
        InvalidArgumentError: ``a`` or ``b`` is not one number per direction.
    """
    A = to_maximize(_as_floats(a, "point a", "a sequence (one value per objective)")[None], directions)[0]
    B = to_maximize(_as_floats(b, "point b", "a sequence (one value per objective)")[None], directions)[0]
    return bool(np.all(A >= B) and np.any(A > B))


def _dominance_matrix(Y: np.ndarray) -> np.ndarray:
    """``D[i, j]``: row ``i`` dominates row ``j`` (all columns maximised). ``n x n`` bool."""
    ge = (Y[:, None, :] >= Y[None, :, :]).all(-1)  # [n, n]
    gt = (Y[:, None, :] > Y[None, :, :]).any(-1)  # [n, n]
    return ge & gt


def non_dominated(Y: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``Y`` (``n x k``); duplicates all stay.

    Raises:
        InvalidDirectionError: bad ``directions``.
        InvalidArgumentError: ``Y`` is not an ``n x k`` array of numbers (one column per direction).
    """
    Z = to_maximize(Y, directions)
    keep = np.ones(len(Z), dtype=bool)
    # A row with NaN neither dominates nor is dominated (every comparison with NaN is false): it stays.
    rows = np.flatnonzero(~np.isnan(Z).any(1))
    if len(rows) < 2:
        return keep
    # Sorted lexicographically from the best, a row's dominators all come before it (a dominator is
    # >= everywhere and differs, so it is lexicographically larger), and by transitivity a dominated
    # row is dominated by a non-dominated one. So each block of rows is compared only with itself
    # and with the front of the rows before it: O(n (front + block) k) instead of O(n^2 k).
    rows = rows[np.lexsort(-Z[rows].T[::-1])]
    front = np.zeros((0, Z.shape[1]))
    for s in range(0, len(rows), 512):
        idx = rows[s : s + 512]
        blk = Z[idx]  # [b, k]
        by = np.concatenate([front, blk])  # [f + b, k]
        dom = ((by[:, None, :] >= blk[None]).all(-1) & (by[:, None, :] > blk[None]).any(-1)).any(0)  # [b]
        keep[idx[dom]] = False
        front = np.concatenate([front, blk[~dom]])
    return keep


def pareto_ranks(Y: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Non-dominated sorting rank of each row (0 = the front, 1 = the front once 0 is removed, ...).

    Raises:
        InvalidDirectionError: bad ``directions``.
        InvalidArgumentError: ``Y`` is not an ``n x k`` array of numbers (one column per direction).
    """
    Z = to_maximize(Y, directions)
    n = len(Z)
    D = _dominance_matrix(Z)  # [n, n]
    count = D.sum(0)  # [n] how many dominate each row
    ranks = np.full(n, -1, dtype=int)
    r = 0
    current = np.flatnonzero(count == 0)
    while len(current):
        ranks[current] = r
        count = count - D[current].sum(0)
        count[ranks >= 0] = -1
        current = np.flatnonzero(count == 0)
        r += 1
    return ranks


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of ``Y`` (``n x k``); boundary points get ``inf``.

    Raises:
        InvalidArgumentError: ``Y`` is not an ``n x k`` array of numbers, or holds NaN.
    """
    Y = _as_floats(Y)
    if Y.size == 0:
        return np.zeros(0)
    if Y.ndim != 2:
        raise InvalidArgumentError(f"expected an n x k array of objective values, got shape {Y.shape}")
    if np.isnan(Y).any():
        # a NaN sorts last and would pose as a boundary point with infinite distance
        raise InvalidArgumentError(f"objective values contain NaN in rows {np.flatnonzero(np.isnan(Y).any(1)).tolist()}; drop failed points first")
    n = len(Y)
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(Y.shape[1]):
        order = np.argsort(Y[:, k], kind="stable")
        span = Y[order[-1], k] - Y[order[0], k]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (Y[order[2:], k] - Y[order[:-2], k]) / span
    return d


# ---------------------------------------------------------------------- hypervolume
def hypervolume(Y: np.ndarray, directions: Sequence[str], ref_point: Sequence[float]) -> float:
    """Hypervolume dominated by the points ``Y`` (``n x k``, objectives' own units) and bounded
    by ``ref_point`` (``k``); points not better than the reference in every objective add nothing
    (nor do rows with NaN, i.e. failed labels).

    Raises:
        InvalidDirectionError: bad ``directions``.
        InvalidArgumentError: ``Y`` not ``n x k`` numbers, or ``ref_point`` not ``k`` finite numbers.
    """
    dirs = check_directions(directions)
    k = len(dirs)
    try:
        Y = np.asarray(Y, dtype=float)
        r = np.asarray(ref_point, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"objective values and ref_point must be numbers, got {Y!r} and {ref_point!r}") from None
    if r.shape != (k,):
        raise InvalidArgumentError(f"ref_point must hold one number per objective ({k}), got {ref_point!r}")
    if not np.isfinite(r).all():
        # every comparison with NaN is False (hypervolume 0) and an infinite bound gives an infinite volume
        raise InvalidArgumentError(f"ref_point must be finite, got {r.tolist()}")
    if Y.size == 0:
        Y = Y.reshape(0, k)
    elif Y.ndim == 1 and len(Y) == k:
        Y = Y[None]  # one point
    if Y.ndim != 2 or Y.shape[1] != k:
        raise InvalidArgumentError(f"expected an n x {k} array of objective values (one column per direction), got shape {Y.shape}")
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    Z = to_maximize(Y, dirs)  # [n, k]
    ref = to_maximize(r[None], dirs)[0]  # [k]
    Z = Z[(Z > ref).all(1)]  # NaN rows (failed points) fail the comparison and add nothing
    if len(Z) == 0:
        return 0.0
    Z = Z[non_dominated(Z, ["max"] * Z.shape[1])]
    return float(Hypervolume(torch.as_tensor(ref)).compute(torch.as_tensor(Z)))


# ---------------------------------------------------------------------- objective specs
@dataclass(frozen=True)
class Objective:
    """One objective: a metric (table column) and whether to maximise or minimise it."""

    metric: str
    direction: str

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"


def parse_objectives(objectives: str | Sequence[str | Objective], metrics: Sequence[str] | None = None) -> list[Objective]:
    """Parse ``"metric:max|min"`` specs (a list, or one comma-separated string).

    Args:
        objectives: e.g. ``["cifar10_test:max", "params:min"]`` or ``"cifar10_test:max,params:min"``.
        metrics: the metrics allowed (a table's columns); ``None`` skips that check.

    Raises:
        MissingDirectionError: a spec has no ``:max``/``:min``.
        InvalidDirectionError: the direction is something else.
        UnknownObjectiveError: the metric is not in ``metrics``.
        InvalidObjectiveError: empty or repeated specs.
    """
    if isinstance(objectives, Objective):
        objectives = [objectives]
    if isinstance(objectives, str):
        items: list[Any] = [o.strip() for o in objectives.split(",")]
    elif isinstance(objectives, Sequence) and not isinstance(objectives, bytes):
        items = list(objectives)
    else:
        raise InvalidObjectiveError(
            f"objectives are 'metric:max|min' specs (a list or one comma-separated string), got {type(objectives).__name__}"
        )
    if not items or items == [""]:
        raise InvalidObjectiveError("no objectives given; expected specs like 'cifar10_test:max'")
    out: list[Objective] = []
    for item in items:
        if isinstance(item, Objective):
            metric, direction = item.metric, item.direction
            if not isinstance(metric, str) or not isinstance(direction, str):
                raise InvalidObjectiveError(f"an Objective's metric and direction are strings, got {item!r}")
        elif isinstance(item, str):
            if not item.strip():
                raise InvalidObjectiveError(f"empty objective in {objectives!r}; expected specs like 'cifar10_test:max'")
            if "," in item:
                raise InvalidObjectiveError(
                    f"objective {item!r} holds a comma: give one 'metric:max|min' per list item, or one comma-separated string"
                )
            metric, sep, direction = item.strip().rpartition(":")
            if not sep:
                raise MissingDirectionError(
                    f"objective {item!r} has no direction; write '{item.strip()}:max' or '{item.strip()}:min'"
                )
        else:
            raise InvalidObjectiveError(f"an objective is a 'metric:max|min' string, got {type(item).__name__}")
        metric, direction = metric.strip(), direction.strip().lower()
        if not metric:
            raise InvalidObjectiveError(f"objective {item!r} has no metric name; expected 'metric:max|min'")
        if direction not in _DIRECTIONS:
            raise InvalidDirectionError(f"objective {item!r}: direction {direction!r} is not 'max' or 'min'")
        if metrics is not None and metric not in metrics:
            raise UnknownObjectiveError(f"objective {item!r}: unknown metric {metric!r}; choices are {choices_hint(metrics, 60)}")
        out.append(Objective(metric, direction))
    names = [o.metric for o in out]
    if len(set(names)) < len(names):
        raise InvalidObjectiveError(f"an objective is repeated in {[str(o) for o in out]}")
    return out


def default_ref_point(table: Any, objectives: Sequence[Objective]) -> list[float]:
    """The issue's reference point: median over the table for maximised objectives, 1.1 x the
    maximum for minimised ones (one float per objective, in its own units).

    1.1 x the maximum is worse than every cell only for a positive maximum (costs, latencies):
    for a minimised column whose maximum is 0 or negative (a log-loss, a negated score) it
    would equal the best value or lie inside the data, and front members would add nothing to
    the hypervolume. Such a column's reference is its maximum plus 10% of its range (plus 0.1
    when every value is the same).
    """
    ref = []
    for o in parse_objectives(objectives, table.metrics):
        col = np.asarray(table.values(o.metric), dtype=float)
        if not np.isfinite(col).any():
            raise InvalidObjectiveError(f"column {o.metric!r} has no finite value to put a reference point on")
        if o.direction == "max":
            ref.append(float(np.nanmedian(col)))
            continue
        hi, lo = float(np.nanmax(col)), float(np.nanmin(col))
        ref.append(1.1 * hi if hi > 0 else hi + (0.1 * (hi - lo) or 0.1))
    return ref


# ---------------------------------------------------------------------- pareto
@dataclass
class ParetoResult:
    """What ``pareto`` labelled and found.

    Attributes:
        history: every labelled architecture in label order, ``{"arch": str, "values": {metric: float}}``.
        front: the non-dominated entries of ``history`` (same form, label order); with
            ``report`` metrics each entry also has ``"report": {metric: float}``.
        hypervolume: of ``front`` w.r.t. ``ref_point`` (objectives' own units).
        ref_point: ``{metric: value}``.
        objectives: the parsed objectives.
        space, method, seed: how it was run.
        report: ``{arch string: {metric: float}}`` for every front member: the ``report``
            metrics of ``pareto``, looked up only after the search ended (empty without them).
    """

    history: list[dict[str, Any]]
    front: list[dict[str, Any]]
    hypervolume: float
    ref_point: dict[str, float]
    objectives: list[Objective] = field(default_factory=list)
    space: str = ""
    method: str = ""
    seed: int = 0
    report: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"history": [...], "front": [...], "hypervolume": float, "ref_point": {...},
        "objectives": ["metric:dir", ...], "space", "method", "seed"}`` (JSON-serialisable; the run's
        description keys only when known, so a saved result re-plots and says what it measured);
        front entries carry their ``"report"`` values when ``pareto`` was given ``report``."""
        out: dict[str, Any] = {"history": self.history, "front": self.front, "hypervolume": float(self.hypervolume)}
        # a hypervolume without its reference point measures nothing (see the module docstring)
        out["ref_point"] = {k: float(v) for k, v in self.ref_point.items()}
        if self.objectives:
            out["objectives"] = [str(o) for o in self.objectives]
        for key in ("space", "method"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out["seed"] = int(self.seed)
        return out

    def to_json(self, **dumps_options: Any) -> str:
        """``to_dict()`` as a JSON string (``json.dumps`` options pass through)."""
        return json.dumps(self.to_dict(), **dumps_options)


@single_threaded
def pareto(
    space: Any = "nb201",
    objectives: str | Sequence[str | Objective] = ("cifar10_valid_12ep:max", "params:min"),
    budget: int = 200,
    seed: int = 0,
    method: str = "opgfn",
    ref_point: Sequence[float] | Mapping[str, float] | None = None,
    *,
    batch_size: int | None = None,
    benchmark: Any = None,
    progress: bool = False,
    report: str | Sequence[str] | None = None,
    exact_costs: bool | None = None,
    **method_options: Any,
) -> ParetoResult:
    """Search a space for the Pareto front of several benchmark-table objectives.

    Each label is one table lookup of every objective for one new architecture; equivalent
    architectures (same ``canonical_hash``) are labelled once, except that with exact costs
    (below) equivalent cells of different cost are different points and each can be labelled.

    Args:
        space: a space name or ``SearchSpace``.
        objectives: at least two ``"metric:max|min"`` specs (list or comma-separated string).
            The default searches NB201's cheap 12-epoch CIFAR-10 validation accuracy against
            params; report the 200-epoch ``cifar10_test`` with ``report=``.
        budget: number of labels.
        seed: same seed, same result.
        method: ``"opgfn"`` (order-preserving GFlowNet on the Pareto order), ``"bo"`` (Bayesian
            optimisation: with one labelled objective against one exact cost,
            :func:`nagen.levels_bo.levelwise_bo`, expected improvement of the front's staircase
            level by level; otherwise a multi-objective :class:`nagen.study.Study` with
            ``qLogNoisyExpectedHypervolumeImprovement``, in memory), ``"evolution"``
            (multi-objective regularised evolution; ``"re"`` is accepted too, as in ``search``)
            or ``"random"``.
        ref_point: hypervolume reference, a ``{metric: value}`` dict or one value per objective
            (default: see the module docstring).
        batch_size: labels per round (``None``: 10 for ``opgfn`` and for the study behind ``bo``,
            2 for level-wise ``bo``, whose rounds are cheap; 1 for evolution; ``random`` has no rounds
            and refuses it).
        benchmark: table giving the labels: a name or a ``nagen.benchmarks.Benchmark`` (e.g.
            ``Benchmark.from_csv(path, space)``; default: the space's own table).
        progress: show a progress bar.
        report: metric(s) of the table to report for each front member, looked up only after
            the search has ended (never seen by the search, never counted as labels); e.g.
            search ``cifar10_valid_12ep`` and report ``cifar10_test``. In ``front[i]["report"]``
            and ``ParetoResult.report``.
        exact_costs: treat ``params``/``flops`` objectives as exact costs computed from the
            architecture (``ExactCostPredictor``, no label) where the search can use them:
            ``opgfn`` de-duplicates by (canonical hash, exact costs) and conditions its
            GFlowNet on cost levels (``opgfn_search(exact_objectives=...)``); ``bo`` searches
            the levels of the one exact cost with a GP on the other objective only. ``None``: yes when
            the labels come from the space's own table (whose params/FLOPs are exactly the
            built network's); a user table's cost columns may count differently. A ``params``
            or ``flops`` objective that the table has no column of is counted by the space on
            its default network (``space.cost``, no label; so a table of accuracies is enough
            for accuracy vs params) and is exact, unless ``exact_costs=False``.
        method_options: passed to the method (``OPGFNGenerator`` options, e.g.
            ``preference_conditioned=True`` for a policy conditioned on a preference over the
            objectives, whose samples then spread along the whole front; ``levelwise_bo`` or
            ``Study`` options for ``bo``; ``population``, ``tournament`` of evolution).

    Raises:
        TooFewObjectivesError, MissingDirectionError, InvalidDirectionError,
        UnknownObjectiveError: bad objective specs (also an unknown ``report`` metric), all
            raised before any label is spent.
        UnknownGeneratorError: unknown ``method``.
        UnknownOptionError: a ``method_options`` key the method does not take.
        InvalidArgumentError: a bad ``budget``, ``seed``, ``batch_size``, ``exact_costs`` or ``report``;
            ``opgfn`` or ``evolution`` on a table that labels only part of the space (``bo``
            and ``random`` propose only its rows).
        InvalidObjectiveError: a ``ref_point`` that is not one finite number per objective.
    """
    import nagen.benchmarks
    import nagen.spaces
    from nagen.errors import UnknownGeneratorError

    sp = nagen.spaces.get(space)
    table = nagen.benchmarks.load(benchmark if benchmark is not None else sp.name)
    if not nagen.spaces.same_space(table.space, sp):  # every lookup would fail, each label paid for nothing
        raise InvalidArgumentError(
            f"benchmark {table.name!r} labels space {table.space.name!r}, not space {sp.name!r}"
            + nagen.spaces.same_name_note(table.space, sp)
        )
    if exact_costs is not None and not isinstance(exact_costs, (bool, np.bool_)):
        # a string such as "no" would be truthy and silently mean yes
        raise InvalidArgumentError(f"exact_costs must be True, False or None, got {exact_costs!r}")
    table, counted = _with_counted_costs(sp, table, objectives, exact_costs)
    objs = parse_objectives(objectives, table.metrics)
    if len(objs) < 2:
        raise TooFewObjectivesError(
            f"pareto needs at least two objectives, got {[str(o) for o in objs]}; for one objective use "
            f"nagen.generate or a single-objective search"
        )
    if method == "re":  # nagen search's name of the same regularised evolution
        method = "evolution"
    if method not in METHODS:
        raise UnknownGeneratorError(f"unknown pareto method {method!r}; choices are {choices_hint(METHODS)} ('re' = 'evolution')")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise InvalidArgumentError(f"budget must be a positive integer, got {budget!r}")
    if sp.size is not None and budget > sp.size:
        raise InvalidArgumentError(f"budget {budget} exceeds the {sp.size:,} architectures of space {sp.name!r}")
    seed = check_int(seed, "seed")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise InvalidArgumentError(f"batch_size must be a positive integer or None (the method's default), got {batch_size!r}")
    if batch_size is not None and method == "random":
        # every label is an independent draw: there are no rounds, and a silently ignored option misleads
        raise InvalidArgumentError("batch_size does not apply to method 'random' (independent uniform draws, no rounds); drop it")
    if report is not None and (isinstance(report, (bytes, bytearray)) or not isinstance(report, (str, Sequence))):
        raise InvalidArgumentError(f"report must be a metric name, a comma-separated string or a list of names, got {report!r}")
    # "a,b" is two metrics, as in nagen.search and the CLI
    reports = [r.strip() for r in report.split(",")] if isinstance(report, str) else list(report or [])
    for m in reports:
        if not isinstance(m, str) or m not in table.metrics:
            raise UnknownObjectiveError(
                f"report metric {m!r} is not a column of table {table.name!r}; choices are {choices_hint(table.metrics, 60)}"
            )
    metrics = [o.metric for o in objs]
    dirs = [o.direction for o in objs]
    if ref_point is None:
        ref = default_ref_point(table, objs)
    elif isinstance(ref_point, Mapping):
        missing = [m for m in metrics if m not in ref_point]
        if missing:
            raise InvalidObjectiveError(f"ref_point has no value for {missing}; give one per objective {metrics}")
        extra = [m for m in ref_point if m not in metrics]
        if extra:
            # most likely a misspelt objective whose intended value would otherwise be lost
            raise InvalidObjectiveError(f"ref_point names {extra}, which are not objectives; give one value per objective {metrics}")
        ref = [ref_point[m] for m in metrics]
    else:
        if isinstance(ref_point, (str, bytes)) or not isinstance(ref_point, (Sequence, np.ndarray)):
            raise InvalidObjectiveError(
                f"ref_point is one number per objective {metrics} (a list or a {{metric: value}} dict), got {ref_point!r}"
            )
        ref = list(ref_point)
        if len(ref) != len(objs):
            raise InvalidObjectiveError(f"ref_point has {len(ref)} values for {len(objs)} objectives {metrics}")
    if ref_point is not None:
        if not all(is_real(v) for v in ref):  # True would be 1.0, and "80" a number only by accident
            raise InvalidObjectiveError(f"ref_point values must be numbers, got {ref!r}")
        ref = [float(v) for v in ref]
        if not all(np.isfinite(ref)):
            raise InvalidObjectiveError(f"ref_point values must be finite (a NaN reference measures nothing), got {ref}")

    def label(archs: list[Any]) -> np.ndarray:
        return np.stack([table.query_many(archs, m) for m in metrics], 1)  # [n, k]

    if exact_costs is None:
        # the space's own table counts params/FLOPs on the built network, as the space does; a
        # user's cost columns may count otherwise, but the ones counted here are exact by construction
        own = benchmark is None or benchmark == sp.name
        exact_metrics = {"params", "flops"} if own else counted
    else:
        exact_metrics = {"params", "flops"} if exact_costs else set()
    _check_method_options(method, method_options)
    rows = _table_rows(sp, table, metrics)
    if rows is not None and method in ("opgfn", "evolution"):
        raise InvalidArgumentError(
            f"table {table.name!r} labels {len(table):,} of the "
            f"{'unknown number of' if sp.size is None else f'{sp.size:,}'} architectures of space {sp.name!r}; "
            f"method {method!r} proposes from the whole space, where nearly every proposal would have no row. "
            "Use method='bo' or 'random', which propose only the table's rows"
        )
    if rows is not None:
        exact_metrics = set()  # level-wise BO walks the whole space's cost levels; the study keeps to the rows
    if method == "opgfn":
        from nagen.generators.opgfn import opgfn_search

        if exact_metrics and "exact_objectives" not in method_options:
            exact = _exact_cost_fns(sp, metrics, exact_metrics)
            from nagen.generators.opgfn import _ENGINES, _REWARDS

            # an unknown value is its own error (below, from opgfn_search), not a clash with exact costs
            if method_options.get("engine", "torch") not in _ENGINES or method_options.get("reward", "order") not in _REWARDS:
                exact = {}
            if exact and (method_options.get("engine", "torch") != "torch" or method_options.get("reward") == "raw"):
                # the cost-level conditioning behind exact costs exists only in the torch engine's order reward;
                # without this check opgfn_search fails on "budget_cost", which the caller never passed
                raise InvalidArgumentError(
                    f"method_options {dict((k, method_options[k]) for k in ('engine', 'reward') if k in method_options)} "
                    "cannot condition on the exact cost levels pareto uses for params/flops objectives (engine='torch' "
                    "with an order reward only); pass exact_costs=False to treat the cost as a labelled objective"
                )
            if exact:
                method_options["exact_objectives"] = exact
        # None: opgfn_search's own default round size
        rounds = {} if batch_size is None else {"batch_size": batch_size}
        hist = opgfn_search(sp, label, budget, seed, directions=dirs, progress=progress, **rounds, **method_options)
    elif method == "bo":
        hist = _bo(sp, table, metrics, dirs, label, budget, seed, batch_size, progress, exact_metrics, method_options)
    elif method == "evolution":
        from nagen.generators.evolution import mo_regularized_evolution

        rounds = {} if batch_size is None else {"batch_size": batch_size}  # None: one label at a time
        hist = mo_regularized_evolution(sp, label, budget, dirs, seed, **rounds, **method_options)
    else:
        hist = random_search(sp, label, budget, seed, candidates=rows)
    if len(hist) < budget:
        import warnings

        warnings.warn(
            f"pareto(method={method!r}) labelled {len(hist)} architectures of the budget {budget}: it found no more "
            f"unlabelled ones in space {sp.name!r} (equivalent cells count once)",
            stacklevel=2,
        )
    archs = [a for a, _ in hist]
    Y = np.stack([np.asarray(v, dtype=float) for _, v in hist]) if hist else np.zeros((0, len(objs)))
    history = [{"arch": sp.format(a), "values": {m: float(v) for m, v in zip(metrics, y)}} for a, y in zip(archs, Y)]
    ok = ~np.isnan(Y).any(1)
    nd = np.zeros(len(Y), dtype=bool)
    nd[ok] = non_dominated(Y[ok], dirs)
    front = [dict(h) for h, keep in zip(history, nd) if keep]
    reported: dict[str, dict[str, float]] = {}
    if reports and front:
        # the search is over: only now are the report columns read, for the front members only
        front_archs = [a for a, keep in zip(archs, nd) if keep]
        cols = {m: table.query_many(front_archs, m) for m in reports}
        for k, entry in enumerate(front):
            entry["report"] = {m: float(cols[m][k]) for m in reports}
            reported[entry["arch"]] = entry["report"]
    return ParetoResult(
        history=history,
        front=front,
        hypervolume=hypervolume(Y[ok], dirs, ref),
        ref_point=dict(zip(metrics, ref)),
        objectives=objs,
        space=sp.name,
        method=method,
        seed=int(seed),
        report=reported,
    )


def _bo(
    sp: Any, table: Any, metrics: list[str], dirs: list[str], label: Any, budget: int, seed: int, batch_size: int | None,
    progress: bool, exact_metrics: set[str], options: dict[str, Any],
) -> list[tuple[Any, np.ndarray]]:
    """``pareto(method="bo")``: level-wise BO when exactly one objective needs labels and the
    other is an exact, minimised cost; otherwise a multi-objective study (qLogNEHVI) in memory."""
    exact = _exact_cost_fns(sp, metrics, exact_metrics)
    exact = {j: f for j, f in exact.items() if dirs[j] == "min"}
    if len(metrics) == 2 and len(exact) == 1:
        from nagen.levels_bo import levelwise_bo

        _check_options("bo", options, levelwise_bo, _PASSED["bo_levels"])
        (j,) = exact
        v = 1 - j
        rounds = {} if batch_size is None else {"batch_size": batch_size}  # None: levelwise_bo's own default
        return levelwise_bo(
            sp, label, budget, seed, cost=exact[j], value_column=v, direction=dirs[v], progress=progress, **rounds, **options
        )
    from nagen.labellers import TableLabeller
    from nagen.study import SpaceExhaustedError, Study

    _check_options("bo", options, Study, _PASSED["bo_study"])
    st = Study(
        sp, list(zip(metrics, dirs)), TableLabeller(table, metrics), proposer="bo", storage="sqlite:///:memory:",
        seed=seed, executor="inline", **options,
    )
    try:
        st.optimize(budget, batch_size=batch_size or 10, progress=progress)
    except SpaceExhaustedError:
        pass  # every distinct architecture is labelled: pareto returns them and says so
    out = []
    for t in st.trials:
        vals = np.array([float(t.values.get(m, float("nan"))) for m in metrics])  # failed trials: NaN
        out.append((sp.parse(t.arch), vals))
    return out


#: arguments ``pareto`` sets itself for each callee (not options a caller may pass)
_PASSED = {
    "opgfn": {"space", "objective", "budget", "seed", "directions", "progress", "batch_size"},
    "evolution": {"space", "objective", "budget", "directions", "seed", "batch_size"},
    "bo_levels": {"space", "objective", "budget", "seed", "cost", "value_column", "direction", "progress", "batch_size"},
    "bo_study": {"self", "space", "objectives", "labeller", "proposer", "storage", "seed", "executor"},
}


def _check_options(method: str, options: Mapping[str, Any], fn: Any, passed: set[str], extra: set[str] = frozenset()) -> None:
    """Raise ``UnknownOptionError`` for options ``fn`` does not take (checked before any label is spent,
    where the callee's own ``TypeError`` would come after an expensive start, or never for ``random``)."""
    allowed = ((keyword_parameters(fn)[0] if fn is not None else set()) | set(extra)) - passed
    unknown = sorted(set(options) - allowed)
    if unknown:
        what = choices_hint(allowed) if allowed else "none"
        raise UnknownOptionError(f"pareto(method={method!r}) got unknown option(s) {unknown}; options of this method: {what}")


def _check_method_options(method: str, options: Mapping[str, Any]) -> None:
    """``_check_options`` for the methods whose callee is known before the search starts."""
    if method == "random":
        _check_options(method, options, None, set())
    elif method == "evolution":
        from nagen.generators.evolution import mo_regularized_evolution

        _check_options(method, options, mo_regularized_evolution, _PASSED["evolution"])
    elif method == "opgfn":
        from nagen.generators.opgfn import OPGFNGenerator, opgfn_search

        # opgfn_search hands its **generator_options to OPGFNGenerator
        _check_options(method, options, opgfn_search, _PASSED["opgfn"], keyword_parameters(OPGFNGenerator.__init__)[0] - {"self", "space", "seed"})


def _with_counted_costs(space: Any, table: Any, objectives: Any, exact_costs: bool | None) -> tuple[Any, set[str]]:
    """``table`` plus a ``params``/``flops`` column counted by the space, for each such objective
    the table has no column of (and the set of metrics so added).

    A user's accuracy table rarely holds parameter counts, yet the space counts them exactly
    from the architecture, without a label. ``exact_costs=False`` asks for costs from the table
    only, so nothing is added then (and the objective is unknown, as before).
    """
    from nagen.benchmarks import Benchmark

    if exact_costs is False:
        return table, set()
    try:
        objs = parse_objectives(objectives)
    except NagenError:
        return table, set()  # parse_objectives(objectives, table.metrics) reports it with the table's columns
    missing = [o.metric for o in objs if o.metric in ("params", "flops") and o.metric not in table.metrics]
    fns = _exact_cost_fns(space, missing, set(missing))
    if not fns:
        return table, set()
    added = {missing[j]: np.asarray(f(list(table.archs)), dtype=np.float64) for j, f in fns.items()}
    columns = {m: table.values(m) for m in table.metrics} | added
    described = {m: table.metric(m) for m in table.metrics} | {m: "min" for m in added}
    note = f"; {', '.join(added)} counted by space {space.name!r} on the built network (nagen.profile)"
    return Benchmark(table.name, table.space, table.archs, columns, described, (table.provenance or "") + note), set(added)


def _exact_cost_fns(space: Any, metrics: Sequence[str], exact_metrics: set[str] | frozenset[str] = frozenset({"params", "flops"})) -> dict[int, Any]:
    """``{column: archs -> exact values}`` for the ``params``/``flops`` objectives among
    ``exact_metrics`` the space can count itself (``ExactCostPredictor``; empty when the space
    cannot build networks)."""
    from nagen.predictors.cost import ExactCostPredictor

    out: dict[int, Any] = {}
    for j, m in enumerate(metrics):
        if m in ("params", "flops") and m in exact_metrics:
            pred = ExactCostPredictor(space, m)
            try:
                pred.exact(space.sample(1, 0))
            except Exception:  # e.g. a JSON space without a network builder: no exact cost
                continue
            out[j] = pred.exact
    return out


def _table_rows(space: Any, table: Any, metrics: Sequence[str]) -> list[Any] | None:
    """The rows a search may propose when ``table`` labels only part of ``space`` (one per
    equivalence class, every objective finite, table order); ``None`` for a complete table."""
    if space.size is not None and len(table) >= space.size:
        return None
    return list(table.measured_classes(metrics).values())


def random_search(
    space: Any, objective: Any, budget: int, seed: int = 0, candidates: Sequence[Any] | None = None
) -> list[tuple[Any, np.ndarray]]:
    """Label ``budget`` uniformly random, pairwise non-equivalent architectures (the baseline).

    ``candidates``: draw from these instead of the space (a partial table's rows), without
    replacement and one per equivalence class. Returns ``[(arch, values), ...]`` in label order.
    """
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    archs = []
    if candidates is not None:
        for i in rng.permutation(len(candidates)):
            h = candidates[i].canonical_hash()
            if h not in seen and len(archs) < budget:
                seen.add(h)
                archs.append(candidates[i])
    for _ in range(0 if candidates is not None else 100):
        if len(archs) >= budget:
            break
        for a in space.sample(max(2 * (budget - len(archs)), 16), rng):
            h = a.canonical_hash()
            if h not in seen:
                seen.add(h)
                archs.append(a)
                if len(archs) == budget:
                    break
    vals = np.asarray(objective(archs), dtype=float).reshape(len(archs), -1) if archs else np.zeros((0, 1))
    return list(zip(archs, vals))
