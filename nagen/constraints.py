"""Constraints on a search: parsing, feasibility models, and the few-shot latency model they use.

>>> from nagen.constraints import parse_constraint
>>> parse_constraint("lat_pixel2_ms<=18")
Constraint(metric='lat_pixel2_ms', op='<=', bound=18.0)
>>> parse_constraint("lat_pixel2_ms <= 0.018 s").bound   # units are converted to the column's
18.0

A constraint is ``METRIC<=VALUE`` or ``METRIC>=VALUE`` on a column of the space's benchmark
table. Two kinds are supported inside a :class:`~nagen.study.Study`:

* **exact costs** (``params``, ``flops``): computed from the architecture itself, free, so
  every candidate is filtered exactly and no measurement is needed;
* **device latencies** (``lat_<device>_ms``) with ``device_samples=k``: the few-shot
  :class:`~nagen.predictors.latency.LatencyPredictor`, meta-trained on HELP's source devices
  (never on the constrained one), is adapted from measurements on the target device; a study
  spends at most ``k`` of them (see :class:`DeviceFeasibility`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nagen.errors import InvalidSpecError, NagenError, UnknownMetricError, check_int, choices_hint, did_you_mean
from nagen.graph import ArchGraph
from nagen.storage import cache_dir, save_atomic

__all__ = [
    "Constraint",
    "ConstraintError",
    "UnknownDeviceError",
    "parse_constraint",
    "parse_constraints",
    "EXACT_COSTS",
    "ExactFeasibility",
    "DeviceFeasibility",
    "meta_latency_model",
    "split_measurements",
    "MAX_ADAPT",
    "calibrated_sigma",
    "SAFE",
]

#: constraint metrics computed exactly from the architecture (no measurement, no label)
EXACT_COSTS = ("params", "flops")

#: unit suffix -> factor to milliseconds (latency columns are ``*_ms``)
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "sec": 1000.0, "us": 1e-3, "µs": 1e-3}
#: unit suffix -> factor for count-like columns (params, flops)
_COUNT_UNITS = {"k": 1e3, "m": 1e6, "g": 1e9}

_SPEC = re.compile(
    r"^\s*([A-Za-z0-9_.\-]+)\s*(<=|>=|≤|≥|⩽|⩾|<|>|==|=)\s*([-+]?(?:[Nn][Aa][Nn]|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?)|[-+0-9.eE]+)"
    r"\s*([A-Za-zµμ]*)\s*$"
)
#: typographic comparison signs read as the ASCII operators they stand for
_UNICODE_OPS = {"≤": "<=", "⩽": "<=", "≥": ">=", "⩾": ">="}


class ConstraintError(InvalidSpecError):
    """A constraint is malformed: bad syntax, operator, number or unit."""


class UnknownDeviceError(UnknownMetricError):
    """A latency constraint names a device the benchmark table has no column for."""


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``: ``op`` is ``"<="`` (an upper bound) or ``">="`` (a lower bound)."""

    metric: str
    op: str
    bound: float

    def ok(self, value: float | np.ndarray) -> Any:
        """Whether ``value`` (a float or an array) satisfies the constraint (NaN never does)."""
        try:
            v = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConstraintError(f"constraint {self.metric}{self.op}{self.bound}: values must be numbers, got {value!r}") from None
        if self.op not in ("<=", ">="):  # never read an unknown operator as one of them
            raise ConstraintError(f"constraint {self.metric}{self.op}{self.bound}: operator must be '<=' or '>=', got {self.op!r}")
        out = v <= self.bound if self.op == "<=" else v >= self.bound
        return bool(out) if out.ndim == 0 else out

    @property
    def device(self) -> str | None:
        """The device of a latency column ``lat_<device>_ms``, else None."""
        return device_of(self.metric)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def device_of(metric: str) -> str | None:
    """The device of a latency column ``lat_<device>_ms``, else None (``lat_ms`` names no device)."""
    if metric.startswith("lat_") and metric.endswith("_ms") and len(metric) > len("lat__ms"):
        return metric[4:-3]
    return None


def _devices(metrics: Sequence[str]) -> list[str]:
    return [d for d in map(device_of, metrics) if d is not None]


def parse_constraint(spec: str | Constraint | tuple, metrics: Sequence[str] | None = None) -> Constraint:
    """Parse ``"METRIC<=VALUE[unit]"`` / ``"METRIC>=VALUE[unit]"`` (or a ``(metric, op, bound)`` tuple).

    Units: latency columns (``*_ms``) accept ``ms`` (default), ``s`` and ``us``; ``params`` and
    ``flops`` accept ``k``, ``M``, ``G``. With ``metrics`` (the table's columns) the metric is
    checked.

    Raises:
        ConstraintError: bad syntax, ``<``/``>``/``=`` instead of ``<=``/``>=``, a non-finite
            bound, an upper bound <= 0 on a cost or latency, or a unit the metric does not take.
        UnknownDeviceError: ``lat_<device>_ms`` names a device without a column (lists the devices).
        UnknownMetricError: another metric that is not a column (lists the metrics).
    """
    if isinstance(spec, Constraint):
        # a ready-made object gets the checks a string gets
        return parse_constraint((spec.metric, spec.op, spec.bound), metrics)
    else:
        if isinstance(spec, tuple):
            if len(spec) != 3:
                raise ConstraintError(f"a constraint tuple is (metric, '<=' or '>=', bound), got {spec!r}")
            if not isinstance(spec[0], str) or not isinstance(spec[1], str):
                raise ConstraintError(f"a constraint tuple is (metric name, '<=' or '>=', bound), got {spec!r}")
            metric, op, number, unit = spec[0].strip(), spec[1].strip(), spec[2], ""
            if isinstance(number, bool):
                raise ConstraintError(f"constraint {spec!r}: bound {number!r} is not a number")
            if isinstance(number, str):
                # a bound written as text ("0.5M", "18 ms") takes the units a string spec takes
                m = _SPEC.match(f"{metric}<={number}")
                if m is None:
                    raise ConstraintError(f"constraint {spec!r}: bound {number!r} is not a number (with an optional unit)")
                number, unit = m.group(3), m.group(4)
        elif isinstance(spec, str):
            m = _SPEC.match(spec)
            if m is None:
                raise ConstraintError(
                    f"cannot parse constraint {spec!r}; write METRIC<=VALUE or METRIC>=VALUE, e.g. 'lat_pixel2_ms<=18'"
                )
            metric, op, number, unit = m.groups()
        else:
            raise ConstraintError(f"a constraint is a string like 'lat_pixel2_ms<=18', got {type(spec).__name__}")
        # a tuple (or a CLI flag made into one) is shown as the string it stands for, not as a tuple
        shown = spec if isinstance(spec, str) else f"{spec[0]}{spec[1]}{spec[2]}"
        op = _UNICODE_OPS.get(op, op)
        unit = unit.replace("μ", "µ")  # Greek mu (U+03BC) and the micro sign (U+00B5) look the same
        if op not in ("<=", ">="):
            raise ConstraintError(
                f"constraint {shown!r}: operator {op!r} is not allowed; write METRIC<=VALUE or METRIC>=VALUE"
            )
        try:
            bound = float(number)
        except (TypeError, ValueError):
            raise ConstraintError(f"constraint {shown!r}: bound {number!r} is not a number") from None
        if unit:
            if metric.endswith("_ms"):
                table = _TIME_UNITS
            elif metric in EXACT_COSTS:
                table = _COUNT_UNITS
            else:
                raise ConstraintError(f"constraint {shown!r}: metric {metric!r} takes no unit, got {unit!r}")
            factor = table.get(unit.lower() if unit != "µs" else unit)
            if factor is None:
                raise ConstraintError(f"constraint {shown!r}: unknown unit {unit!r} for {metric!r}; use one of {choices_hint(table)}")
            bound *= factor
        if not math.isfinite(bound):
            raise ConstraintError(f"constraint {shown!r} needs a finite bound")
        if op == "<=" and bound <= 0 and (metric in EXACT_COSTS or metric.endswith("_ms")):
            # costs and latencies are positive: nothing could meet the bound
            raise ConstraintError(f"constraint {shown!r}: {metric} is positive, so an upper bound must be > 0")
        c = Constraint(metric, op, bound)
    if metrics is not None and c.metric not in metrics:
        if c.device is not None:
            raise UnknownDeviceError(
                f"no latency column for device {c.device!r} ({c.metric!r}); devices are {choices_hint(_devices(metrics), 40)}"
            )
        raise UnknownMetricError(
            f"cannot constrain {c.metric!r}{did_you_mean(c.metric, metrics)}; metrics are {choices_hint(metrics, 60)}"
        )
    return c


#: an operator inside a string: that string is a whole constraint, not the metric name of a tuple
_OPERATOR = re.compile(r"[<>=≤≥]")


def parse_constraints(specs: Any, metrics: Sequence[str] | None = None) -> list[Constraint]:
    """Constraints from None, one spec, a list of specs, or ``{metric: bound}`` (an upper bound,
    or a lower bound for a maximised metric when given as ``{metric: (">=", bound)}``).

    Raises:
        ConstraintError: as :func:`parse_constraint`, or two constraints on one metric.
    """
    if specs is None:
        return []
    if isinstance(specs, str) and "," in specs:
        items: list[Any] = [s.strip() for s in specs.split(",")]  # as objectives: "params<=1M,lat_pixel2_ms<=18"
    elif isinstance(specs, tuple) and specs and all(isinstance(s, (str, Constraint)) for s in specs) and (
        # a (metric, op, bound) tuple starts with a bare metric name; a tuple of specs starts with a whole one
        len(specs) != 3 or isinstance(specs[0], Constraint) or _OPERATOR.search(specs[0])
    ):
        items = list(specs)  # a tuple of specs ("params<=1e6",), not one (metric, op, bound) tuple
    elif isinstance(specs, (str, Constraint, tuple)):
        items = [specs]
    elif isinstance(specs, Mapping):
        items = []
        for k, v in specs.items():
            if isinstance(v, tuple) and len(v) == 2:
                items.append((str(k), v[0], v[1]))
            else:
                items.append((str(k), "<=", v))
    elif isinstance(specs, (list, set, frozenset)) or (isinstance(specs, Sequence) and not isinstance(specs, (str, bytes))):
        items = list(specs)
    else:
        raise ConstraintError(
            f"constraints are a 'METRIC<=VALUE' string, a list of them or {{metric: bound}}, got {type(specs).__name__}"
        )
    out = [parse_constraint(s, metrics) for s in items]
    names = [c.metric for c in out]
    if len(set(names)) != len(names):
        raise ConstraintError(f"one constraint per metric, got {[str(c) for c in out]}")
    return out


def split_measurements(k: int) -> tuple[int, int]:
    """``(adaptation, verification)`` measurements out of a device budget ``k >= 2``.

    Half (at least 2, at most :data:`MAX_ADAPT`) adapt the latency predictor on its reference
    design; the rest are kept for the end, where they are spent on the best labelled candidates
    (see ``Study``): a study must return an architecture whose *true* latency meets the bound,
    and the best candidates sit near the bound, where predictions are coin flips. Why not more
    for adaptation: the predictor's rank correlation hardly moves beyond 5 reference cells
    (HELP's test devices: mean 0.968 at 5 and at 10), while every verification can turn a
    coin-flip candidate into a verified answer.
    """
    k = check_int(k, "k (device measurements)", 2)
    adapt = min(k, max(2, min(MAX_ADAPT, (k + 1) // 2)))
    return adapt, k - adapt


#: most device measurements spent on adaptation (:func:`split_measurements`). Chosen on HELP's
#: *validation* devices (titanx_32, titanx_256, gold_6240; bounds at their 30/50/70/90% latency
#: quantiles; 2 seeds; constrained CIFAR-100 search with k = 10): mean gap to the constrained
#: optimum -0.55 with 7 adaptation + 3 verification, -0.48 with 4 + 6, -0.18 with 5 + 5.
MAX_ADAPT = 5
#: a prediction this likely to meet the bound is "safe": the last measurement goes to one
SAFE = 0.9
#: candidates at least this likely to meet a device bound are labelled (0.5 would be "the point
#: prediction meets it", which loses every optimum predicted a few percent over its bound). Chosen
#: on HELP's *validation* devices (bounds at the 30/50/70/90% latency quantiles, CIFAR-10/100):
#: the largest value whose best truly feasible labelable cell is within 0.01 points of labelling
#: everything, so as few infeasible cells as possible compete for labels (0.5: -0.023, 0.35: -0.002).
LABEL_PROB = 0.35
#: floor of the latency predictor's log-error sigma (few measurements can make LOO look perfect)
_MIN_SIGMA = 0.03


# ---------------------------------------------------------------------------------- models
class ExactFeasibility:
    """An exact-cost constraint (``params``, ``flops``): predicted = true value, nothing to measure."""

    measurements_left = 0

    def __init__(self, constraint: Constraint, space: Any) -> None:
        import nagen.predictors as P

        self.constraint = constraint
        self.predictor = P.get("exact_cost", space, metric=constraint.metric)

    def predict(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Exact values: ``n``."""
        return np.asarray(self.predictor.predict(list(archs)).mean, dtype=np.float64) if archs else np.zeros(0)

    def known(self, arch: ArchGraph) -> float | None:
        """The true value (exact)."""
        return float(self.predict([arch])[0])


class DeviceFeasibility:
    """A device-latency constraint, predicted by a few-shot latency model adapted on measurements.

    The measurements live in the study's storage (``measurements`` table), so a resumed study
    re-adapts from the same ones and never pays twice. At most ``budget`` are spent: the first
    ``split_measurements(budget)[0]`` on the meta-model's reference architectures (a design
    known before any label), the rest on the best labelled candidates at the end of the search.
    The predictor's log error (``calibration``, else leave-one-out over the measurements) gives
    each prediction a probability of meeting the bound (:meth:`prob_ok`), which decides which
    candidates are labelled and where the final measurements go; only measured values are
    trusted for the answer.

    Args:
        constraint: the latency constraint.
        meta: a meta-trained, unadapted ``LatencyPredictor`` (copied, never changed).
        budget: ``k``, the device measurements the study may spend.
        measured: ``{arch string: latency}`` already stored.
        calibration: the log-error sigma, when known (:func:`calibrated_sigma`).
        candidates: the architectures the device can be measured on, when not all of the space
            (a user's table of some cells): the adaptation design is chosen among them.
    """

    def __init__(
        self,
        constraint: Constraint,
        meta: Any,
        budget: int,
        measured: Mapping[str, float],
        calibration: float | None = None,
        candidates: Sequence[ArchGraph] | None = None,
    ) -> None:
        self.constraint = constraint
        self.candidates = None if candidates is None else list(candidates)
        self.meta = meta
        self.budget = check_int(budget, "budget (device measurements)", 2)
        self.measured = dict(measured)
        self.calibration = None if calibration is None else float(calibration)
        self._model: Any = None
        self._fitted_on: tuple[str, ...] = ()

    @property
    def measurements_left(self) -> int:
        """Device measurements the study may still spend on this constraint."""
        return self.budget - len(self.measured)

    def reference(self) -> list[ArchGraph]:
        """The adaptation design: the meta-model's reference architectures (deterministic)."""
        if getattr(self, "_reference", None) is None:  # deterministic and costly (a design over the whole table)
            self._reference = self.meta.reference_archs(split_measurements(self.budget)[0], candidates=self.candidates)
        return self._reference

    def model(self) -> Any:
        """The latency predictor adapted on every measurement so far (re-fitted when they change)."""
        key = tuple(sorted(self.measured))
        if self._model is None or key != self._fitted_on:
            if len(self.measured) < 2:
                raise NagenError(f"constraint {self.constraint}: fewer than 2 device measurements to adapt on")
            # the meta-model is shared (cached per process): adapt a copy, keep the space object
            m = copy.deepcopy(self.meta, memo={id(self.meta.space): self.meta.space})
            self._model = m.adapt(dict(self.measured))
            self._fitted_on = key
        return self._model

    def predict(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Predicted latency (ms): ``n``."""
        if not archs:
            return np.zeros(0)
        return np.asarray(self.model().predict(list(archs)).mean, dtype=np.float64)

    def _loo(self) -> np.ndarray:
        """Leave-one-out ``log(predicted / measured)`` over the measurements (empty with fewer than 3)."""
        if len(self.measured) < 3:
            return np.zeros(0)
        key = tuple(sorted(self.measured.items()))
        if getattr(self, "_loo_key", None) != key:
            space = self.meta.space
            errs = []
            for held in self.measured:
                rest = {a: v for a, v in self.measured.items() if a != held}
                m = copy.deepcopy(self.meta, memo={id(space): space}).adapt(rest)
                p = float(m.predict([space.parse(held)]).mean[0])
                errs.append(math.log(max(p, 1e-9) / max(self.measured[held], 1e-9)))
            self._loo_key, self._loo_errs = key, np.asarray(errs)
        return self._loo_errs

    def sigma(self) -> float:
        """The spread of ``log(true / predicted)``: the ``calibration`` when one was given (the
        adapted model's error on held-out devices, see :func:`calibrated_sigma`), else the
        root-mean-square leave-one-out log error of the adapted predictor (at least 0.03; 0.5
        with fewer than 3 measurements)."""
        if self.calibration is not None:
            return max(self.calibration, _MIN_SIGMA)
        errs = self._loo()
        return max(float(np.sqrt(np.mean(errs**2))), _MIN_SIGMA) if len(errs) else 0.5

    def prob_ok(self, predicted: np.ndarray | float) -> np.ndarray:
        """Probability that the true value meets the bound, for predictions ``predicted``
        (``log(true) ~ N(log(predicted), sigma^2)``): same shape."""
        from scipy.stats import norm

        z = (math.log(max(self.constraint.bound, 1e-12)) - np.log(np.maximum(np.asarray(predicted, dtype=float), 1e-12))) / self.sigma()
        return norm.cdf(z if self.constraint.op == "<=" else -z)

    def known(self, arch_text: str) -> float | None:
        """The measured latency of ``arch_text``, if it was measured."""
        return self.measured.get(arch_text)


# ---------------------------------------------------------------------------------- calibration
#: meta-model -> table -> {(columns, k): sigma}; weak keys, so a freed model's id is never reused for another
_CALIBRATION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def calibrated_sigma(meta: Any, table: Any, k: int) -> float | None:
    """Root-mean-square ``log(true / predicted)`` latency error of ``meta`` adapted on ``k``
    reference measurements, pooled over every cell of ``table`` on the meta-model's
    *validation* devices (never trained on, never the constrained device); None when the
    table has none of them.

    Why not the leave-one-out error of the target's own measurements: the reference design is
    a handful of extreme cells, and predicting one extreme from the others overstates the
    error on ordinary cells 2-15x (HELP's validation devices: 0.14-0.36 leave-one-out vs
    0.04-0.10 over the table), which made every near-bound cell look like a coin flip.
    """
    from nagen.predictors.latency import device_metric

    columns = []
    for d in getattr(meta, "validation_devices", ()):
        try:
            columns.append(device_metric(table, d))
        except UnknownMetricError:
            continue  # not measured in this table
    if not columns or k < 2:
        return None
    cache = _CALIBRATION.setdefault(meta, weakref.WeakKeyDictionary()).setdefault(table, {})
    key = (tuple(columns), int(k))
    if key not in cache:
        cache[key] = _validation_rms(meta, table, columns, int(k))
    return cache[key]


def _validation_rms(meta: Any, table: Any, columns: list[str], k: int) -> float | None:
    """:func:`calibrated_sigma` for the table ``columns``, uncached."""
    space = meta.space
    archs = list(table.archs)
    index = {space.format(a): i for i, a in enumerate(archs)}
    ref = [space.format(a) for a in meta.reference_archs(k)]
    if not all(t in index for t in ref):
        return None  # the design is not in this table: nothing to measure it on
    errs = []
    for column in columns:
        col = np.asarray(table.values(column), dtype=np.float64)
        meas = {t: float(col[index[t]]) for t in ref}
        if not all(math.isfinite(v) and v > 0 for v in meas.values()):
            continue
        m = copy.deepcopy(meta, memo={id(space): space}).adapt(meas)
        pred = np.asarray(m.predict(archs).mean, dtype=np.float64)
        e = np.log(col / np.maximum(pred, 1e-12))
        errs.append(e[np.isfinite(e)])
    return float(np.sqrt(np.mean(np.concatenate(errs) ** 2))) if errs else None


# ---------------------------------------------------------------------------------- meta model
_META_LATENCY: dict[tuple[str, str, int], Any] = {}
#: bump when the meta-training recipe changes (invalidates disk caches)
_CACHE_VERSION = 2  # 2: the additive per-op model and its design


def meta_latency_model(table: Any, metric: str, seed: int = 0, progress: bool = False) -> Any:
    """A ``LatencyPredictor`` meta-trained on HELP's source devices other than ``metric``'s device,
    with HELP's validation devices (minus it) for model selection. Unadapted; do not change it.

    Cached in memory and on disk (``$NAGEN_CACHE``, default ``~/.cache/nagen``): meta-training
    takes about a minute of one CPU core, and a cached model is the same model (same seed).
    Only the shipped tables are cached on disk (a user's table may change under the same name).
    """
    import torch

    from nagen.predictors.latency import HELP_META_TRAIN, HELP_VALIDATION, LatencyPredictor

    key = (table.name, metric, int(seed))
    if key in _META_LATENCY:
        return _META_LATENCY[key]
    device = device_of(metric) or metric
    sources = [d for d in HELP_META_TRAIN if d != device]
    validation = [d for d in HELP_VALIDATION if d != device]
    import inspect

    # the default weight of the additive model is part of a cached predictor's state
    additive = inspect.signature(LatencyPredictor).parameters["additive"].default
    info = {"table": table.name, "rows": len(table), "device": device, "seed": int(seed), "v": _CACHE_VERSION, "additive": additive}
    digest = hashlib.sha1(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"latency-{table.name}-{device}-{digest}.pt"
    shipped = _is_shipped(table)
    model = None
    if shipped and path.is_file():
        try:
            model = torch.load(path, map_location="cpu", weights_only=False)  # our own pickled predictor
            model.space = table.space  # guides compare space identity
        except Exception:  # noqa: BLE001 - a corrupt or stale cache is retrained
            model = None
    if model is None:
        model = LatencyPredictor(table.space, seed=seed).meta_fit(
            table, sources, validation=validation, held_out=(device,), progress=progress
        )
        if shipped:
            save_atomic(model, path)
    _META_LATENCY[key] = model
    return model


def _is_shipped(table: Any) -> bool:
    try:
        import nagen.benchmarks

        return table.name in nagen.benchmarks.names() and nagen.benchmarks.load(table.name) is table
    except Exception:  # noqa: BLE001 - unknown: do not cache on disk
        return False
