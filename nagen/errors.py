"""nagen's exceptions.

Every public entry point validates its input and raises one of these, with a message that says
what was wrong, what was received and what is allowed. Each class also derives from the builtin
exception a caller would otherwise expect (``ValueError``, ``KeyError``, ...), so generic
``except ValueError`` code keeps working.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "NagenError",
    "NoUncertaintyError",
    "InvalidArchitectureError",
    "UnknownOpError",
    "UnknownSpaceError",
    "UnknownMetricError",
    "MissingSourceDevicesError",
    "UnknownBenchmarkError",
    "UnknownPredictorError",
    "UnknownGeneratorError",
    "UnknownProxyError",
    "InvalidGuidanceError",
    "ArchitectureNotInTableError",
    "InvalidSpecError",
    "InvalidTableError",
    "EncodingError",
    "NotEnumerableError",
    "DuplicateRegistrationError",
    "MissingDependencyError",
    "NotFittedError",
    "InvalidTrainingDataError",
    "NotDifferentiableError",
    "InvalidArgumentError",
    "UnknownOptionError",
    "IgnoredSettingWarning",
    "choices_hint",
    "check_int",
    "check_real",
    "is_real",
    "check_options",
    "keyword_parameters",
]


def choices_hint(choices: Iterable[str], limit: int = 30) -> str:
    """Format valid choices for an error message, e.g. ``{'a', 'b'}`` (truncated past ``limit``)."""
    items = sorted(str(c) for c in choices)
    shown = ", ".join(repr(c) for c in items[:limit])
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return "{" + shown + more + "}"


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the choices closest to ``name`` (case and blanks ignored), else ``""``."""
    if not isinstance(name, str):
        return ""
    import difflib

    by_key = {str(k).lower(): str(k) for k in choices}
    key = name.strip().lower()
    close = [by_key[key]] if key in by_key else [by_key[k] for k in difflib.get_close_matches(key, by_key, n=3, cutoff=0.6)]
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def unknown_metric_message(
    table: str, metric: object, metrics: Iterable[str], skipped: Mapping[str, str] | None = None
) -> str:
    """The message of an ``UnknownMetricError``: why ``metric`` is not one when the table's file
    has such a column (``skipped``: column -> reason; default the ``skipped`` attribute that
    ``Benchmark.metrics`` carries), else the closest metrics; then all of them."""
    if skipped is None:
        skipped = getattr(metrics, "skipped", None) or {}
    metrics = list(metrics)
    hint = did_you_mean(metric, metrics)
    if isinstance(metric, str) and ":" in metric and metric.rsplit(":", 1)[0] in metrics:
        # "cifar10_test:max" is pareto's and Study's objective syntax; a single metric's direction is the table's
        hint = f"; give the metric alone ({metric.rsplit(':', 1)[0]!r}): its direction comes from the table"
    elif isinstance(metric, str) and metric in skipped:
        # the user sees the column in the file: "did you mean" or the list alone would not say what went wrong
        hint = f"; column {metric!r} was not read as a metric: {skipped[metric]}"
    return f"table {table!r} has no metric {metric!r}{hint}; available metrics are {choices_hint(metrics, 60)}"


class NagenError(Exception):
    """Base class of every error nagen raises on purpose."""


class InvalidArchitectureError(NagenError, ValueError):
    """An architecture is not a valid member of the space (or not a well-formed DAG)."""


class UnknownOpError(InvalidArchitectureError):
    """An operation name is not in the space's op vocabulary."""


class UnknownSpaceError(NagenError, KeyError):
    """A search-space name is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else ""


class UnknownMetricError(NagenError, KeyError):
    """A metric name is not a column of the benchmark table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""



class MissingSourceDevicesError(UnknownMetricError):
    """A few-shot latency constraint on a table that lacks the source devices' latencies the
    latency model is meta-trained on (and whose space ships no table that has them)."""


class UnknownBenchmarkError(NagenError, KeyError):
    """A benchmark-table name is not known to ``nagen.benchmarks.load``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownPredictorError(NagenError, KeyError):
    """A predictor name is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownGeneratorError(NagenError, KeyError):
    """A generator (method) name is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownProxyError(NagenError, KeyError):
    """A zero-cost proxy name is not one of the known training-free metrics."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidGuidanceError(NagenError, ValueError):
    """A guidance or constraint spec is malformed (unknown metric, negative weight, wrong space)."""


class ArchitectureNotInTableError(NagenError, KeyError):
    """A valid architecture has no row in the benchmark table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidSpecError(NagenError, ValueError):
    """A user-defined space spec (dict or JSON file) is malformed."""


class InvalidTableError(NagenError, ValueError):
    """A benchmark table (e.g. a user's CSV) is malformed: missing columns, duplicates, bad numbers."""


class EncodingError(NagenError, ValueError):
    """Tensors given to ``encode``/``decode`` have the wrong shape, dtype or values."""


class NotEnumerableError(NagenError, ValueError):
    """``enumerate()`` was called on a space too large (or infinite) to list."""


class DuplicateRegistrationError(NagenError, ValueError):
    """A name is registered twice in one registry."""


class MissingDependencyError(NagenError, ImportError):
    """An optional dependency (an extra such as ``dgl`` or ``ray``) is not installed."""


class NotFittedError(NagenError, RuntimeError):
    """A model was asked to predict before ``fit`` was called."""


class InvalidTrainingDataError(NagenError, ValueError):
    """Training data is empty, mismatched in length, or holds NaN/inf values."""


class NotDifferentiableError(NagenError, TypeError):
    """``score`` was called on a predictor that has no differentiable form."""


class NoUncertaintyError(NagenError, TypeError):
    """A prediction without a standard deviation (a point model's) was asked for an interval."""


class InvalidArgumentError(NagenError, ValueError):
    """A plain argument (a count, budget, seed or size) has the wrong type or is out of range."""


class UnknownOptionError(InvalidArgumentError, TypeError):
    """A keyword option the function does not take (also a ``TypeError``, as Python's own call check)."""


def check_int(value: object, name: str, low: int = 0, error: type[NagenError] = InvalidArgumentError) -> int:
    """``value`` as an ``int`` if it is an integer ``>= low`` (NumPy integers too; never a bool,
    which is an ``int`` subclass but a mistake for a count); else ``error`` naming ``name``.

    The message says "a positive integer" for ``low = 1``, "a non-negative integer" for 0,
    else "an integer >= low".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        need = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        raise error(f"{name} must be {need}, got {value!r}")
    return int(value)


def is_real(value: object) -> bool:
    """An int, float or NumPy number; never a bool (``True`` as a weight or a measurement is a slip)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # NumPy's bool_ is no numbers.Real


def check_real(
    value: object,
    name: str,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    error: type[NagenError] = InvalidArgumentError,
) -> float:
    """``value`` as a float if it is a finite real (:func:`is_real`) in ``[low, high]``
    (``(low, high]`` with ``low_open``); else ``error`` naming ``name``."""
    ok = is_real(value)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if low_open else v >= low) and v <= high
    if not ok:
        rng = f"{'(' if low_open else '['}{low:g}, {high:g}]" if math.isfinite(high) else f"{'>' if low_open else '>='} {low:g}"
        raise error(f"{name} must be a finite number {'in ' if math.isfinite(high) else ''}{rng}, got {value!r}")
    return float(value)


def keyword_parameters(fn: Any) -> tuple[set[str], bool]:
    """The names ``fn`` (a class or function) takes by keyword, and whether it also takes ``**kwargs``.

    Raises:
        TypeError, ValueError: ``fn`` has no introspectable signature (``inspect.signature``'s errors).
    """
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def check_options(fn: Any, options: Mapping[str, Any], what: str, exclude: Sequence[str] = (), *, own_call: bool = False) -> None:
    """Refuse keywords ``fn`` (a class or function) does not take, or any in ``exclude``.

    ``space`` and ``self`` count as not taken: most callers pass the space themselves and
    ``options`` are the rest (``P.get(name, space, **options)``). ``own_call=True``: ``options``
    are every keyword of a call of ``fn`` itself, so ``space=`` is one of them.

    Raises:
        UnknownOptionError: naming the unknown keywords and the ones ``fn`` takes (so a typo is
            caught before any work, not as a bare ``TypeError`` deep inside a fit).
    """
    try:
        names, var_keyword = keyword_parameters(fn)
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return
    if var_keyword:
        return
    allowed = sorted(names - {"self", *exclude, *(() if own_call else ("space",))})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        hint = did_you_mean(unknown[0], allowed) if len(unknown) == 1 else ""
        raise UnknownOptionError(f"{what} takes no option(s) {unknown}{hint}; its options are {allowed}")


def named_options(what: str) -> Any:
    """Decorator: an unknown keyword of the decorated function is an ``UnknownOptionError``
    listing the ones it takes (Python's own check raises a bare ``TypeError`` naming only the
    wrong one). The signature stays the function's (``help``, ``inspect.signature``)."""

    def deco(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_options(fn, kwargs, what, own_call=True)
            return fn(*args, **kwargs)

        return wrapper

    return deco


class IgnoredSettingWarning(UserWarning):
    """A setting the chosen method or backend does not use (e.g. ``surrogate=`` for ``"re"``, or
    ``num_cpus=`` for a Ray instance that already runs)."""
