"""Labellers: what a study pays to learn an architecture's objective values.

A ``Labeller`` maps one architecture to ``{objective: value}``. Three come built in:

* :class:`TableLabeller` looks the values up in a benchmark table (``nagen.benchmarks``);
* :class:`TrainingLabeller` builds the network with ``space.build`` and really trains and
  evaluates it on a user's ``torch.utils.data.Dataset``;
* :class:`CallableLabeller` wraps any function.

The study never trusts a labeller: one that raises, returns NaN/inf, misses an objective or
exceeds its timeout produces a *failed* trial with the reason, and the study goes on
(:func:`run_labeller` is that contract, used by every executor). Labellers are pickled to
worker processes, so they hold plain data; heavy objects (tables, datasets) load lazily.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import numbers
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nagen.errors import InvalidArgumentError, NagenError, UnknownMetricError, check_int, check_real, choices_hint, is_real, unknown_metric_message
from nagen.graph import ArchGraph

__all__ = ["Labeller", "TableLabeller", "TrainingLabeller", "CallableLabeller", "LabelOutcome", "run_labeller", "data_digest"]


class Labeller(ABC):
    """Labels architectures of one space with the values of one or more objectives.

    Subclasses implement :meth:`label`. ``objectives`` (the names ``label`` returns) and
    ``directions`` are optional metadata a study uses to check its objectives.
    """

    #: objective names this labeller returns (empty: unknown until called)
    objectives: tuple[str, ...] = ()

    @abstractmethod
    def label(self, arch: ArchGraph, space: Any) -> float | Mapping[str, float]:
        """The measured value(s) of ``arch``: a float (single objective) or ``{objective: value}``."""

    def directions(self) -> dict[str, str]:
        """``{objective: "max" | "min"}`` when the labeller knows them (default: none)."""
        return {}

    def spec(self) -> dict[str, Any] | None:
        """A JSON description from which :func:`from_spec` rebuilds the labeller, or None."""
        return None

    def identity(self) -> dict[str, Any] | None:
        """A JSON description of *what* this labeller measures, stored with a study that has no
        :meth:`spec`, so that a study labelled by another labeller is never resumed with this one.

        Default: the labeller's class (module and qualified name). Subclasses whose labels depend
        on their settings should add them.
        """
        cls = type(self)
        return {"kind": "class", "class": f"{cls.__module__}.{cls.__qualname__}"}

    def check(self, space: Any) -> None:
        """Raise a named error if this labeller cannot label architectures of ``space`` (default: no check).

        Executors call it once before labelling (and ``Study`` before storing a new study), so a
        misconfigured labeller stops the run up front instead of failing every trial of the budget.
        """

    def warm_up(self) -> None:
        """Load what ``label`` needs (tables, datasets) once per worker, before any label's clock starts."""


@dataclass(frozen=True)
class LabelOutcome:
    """What came of labelling one architecture.

    Attributes:
        values: ``{objective: finite value}`` when it succeeded, else None.
        reason: why it failed ("" on success).
        seconds: wall time spent in the labeller.
    """

    values: dict[str, float] | None
    reason: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the label succeeded."""
        return self.values is not None


def _normalise(raw: Any, objectives: Sequence[str]) -> tuple[dict[str, float] | None, str]:
    """Turn a labeller's return value into ``{objective: finite float}`` or a failure reason."""
    if isinstance(raw, Mapping):
        missing = [o for o in objectives if o not in raw]
        if missing:
            return None, f"labeller returned {sorted(raw)} but the study needs {list(objectives)} (missing {missing})"
        items = {o: raw[o] for o in objectives}
    elif len(objectives) == 1:
        items = {objectives[0]: raw}
    else:
        return None, f"labeller returned {type(raw).__name__}; a study with objectives {list(objectives)} needs a dict"
    out: dict[str, float] = {}
    for k, v in items.items():
        # float() would also turn True, "85.3" or a 1-element tensor into a label without a word
        if not is_real(v):
            hint = "; use .item() for a tensor or array" if hasattr(v, "item") and not isinstance(v, np.bool_) else ""
            return None, (
                f"labeller returned {type(v).__name__} {v!r:.80} for {k!r}; a label must be a real number "
                f"(int, float or a NumPy number, not bool or str){hint}"
            )
        try:
            f = float(v)
        except (OverflowError, ValueError, TypeError) as e:  # 10**400, a Fraction too large for a float
            # no str(v): a huge int's str() raises too (Python's 4300-digit limit)
            return None, f"labeller returned {type(v).__name__} for {k!r}, which does not fit a float ({e})"
        if not math.isfinite(f):
            return None, f"labeller returned {f} for {k!r}"
        out[k] = f
    return out, ""


def run_labeller(labeller: Labeller, arch_text: str, space_name: Any, objectives: Sequence[str]) -> LabelOutcome:
    """Label one architecture, turning every failure into a reason (runs in worker processes).

    Args:
        labeller: the labeller.
        arch_text: the architecture as ``space.format`` writes it.
        space_name: the registered space name (resolved in the worker), or an unregistered
            ``SearchSpace`` itself (see ``nagen.spaces.reference``).
        objectives: the objective names the study expects.
    """
    import nagen.spaces

    start = time.perf_counter()
    try:
        space = nagen.spaces.get(space_name)
        raw = labeller.label(space.parse(arch_text), space)
    except KeyboardInterrupt:  # Ctrl-C still stops the study
        raise
    # every other BaseException too (sys.exit(), asyncio.CancelledError, GeneratorExit, a custom one):
    # escaping, it would stop the study and leave the trial to be proposed, and raise, again
    except BaseException as e:  # noqa: BLE001 - a failing labeller must not stop the study
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        return LabelOutcome(None, f"labeller raised {last}", time.perf_counter() - start)
    try:
        values, reason = _normalise(raw, objectives)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - e.g. a Mapping whose lookups raise: the trial fails, the study goes on
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        values, reason = None, f"labeller's return value could not be read: {last}"
    return LabelOutcome(values, reason, time.perf_counter() - start)


# ---------------------------------------------------------------------------------- table
class TableLabeller(Labeller):
    """Values looked up in a benchmark table.

    Args:
        benchmark: a table name for ``nagen.benchmarks.load`` (e.g. ``"nb201"``) or a ``Benchmark``.
        metric: one column name or several (multi-objective).

    Raises:
        UnknownMetricError: a metric is not a column of the table (the message lists them).
        InvalidArgumentError: ``benchmark`` is neither a name nor a ``Benchmark``, or a metric
            is listed twice.
    """

    def __init__(self, benchmark: Any = "nb201", metric: str | Sequence[str] = "cifar10_test") -> None:
        import nagen.benchmarks

        if not isinstance(benchmark, (str, nagen.benchmarks.Benchmark)):
            raise InvalidArgumentError(
                f"TableLabeller needs a table name (one of {choices_hint(nagen.benchmarks.names())}) or a "
                f"nagen.benchmarks.Benchmark, got {type(benchmark).__name__} {benchmark!r:.80}"
            )
        self._table = nagen.benchmarks.load(benchmark) if isinstance(benchmark, str) else benchmark
        # a loadable name is pickled instead of the table (workers reload it once, from cache)
        self._name = benchmark if isinstance(benchmark, str) else None
        if not isinstance(metric, str) and not (
            isinstance(metric, Sequence) and all(isinstance(m, str) for m in metric)
        ):
            raise UnknownMetricError(
                f"TableLabeller needs a metric name or a list of them, got {metric!r}; "
                f"available metrics are {choices_hint(self._table.metrics, 60)}"
            )
        metrics = (metric,) if isinstance(metric, str) else tuple(metric)
        if not metrics:
            raise UnknownMetricError("TableLabeller needs at least one metric")
        for m in metrics:
            if m not in self._table.metrics:
                raise UnknownMetricError(unknown_metric_message(self._table.name, m, self._table.metrics))
        twice = sorted({m for m in metrics if metrics.count(m) > 1})
        if twice:  # the study would refuse the duplicate later, with less context
            raise InvalidArgumentError(f"TableLabeller: metrics {twice} are listed more than once in {list(metrics)}")
        self.objectives = metrics
        self._space_name = self._table.space.name  # kept: check() must not load a table in a worker

    @property
    def table(self) -> Any:
        """The ``Benchmark`` (loaded on first use in a worker)."""
        if self._table is None:
            import nagen.benchmarks

            self._table = nagen.benchmarks.load(self._name)
        return self._table

    def warm_up(self) -> None:
        """Load the table (about a second for nb201), so that no label's timeout pays for it."""
        _ = self.table

    def label(self, arch: ArchGraph, space: Any) -> dict[str, float]:
        """``{metric: table value}`` (a missing row raises, which fails the trial)."""
        return {m: self.table.query(arch, m) for m in self.objectives}

    def directions(self) -> dict[str, str]:
        """The table's direction of each metric."""
        return {m: self.table.direction(m) for m in self.objectives}

    def check(self, space: Any) -> None:
        """Refuse a space the table does not label (every lookup would fail).

        Raises:
            InvalidArgumentError: the table labels another space.
        """
        name = getattr(space, "name", space)
        if name == self._space_name and self._table is not None and not isinstance(space, str):
            import nagen.spaces

            if not nagen.spaces.same_space(self._table.space, space):
                raise InvalidArgumentError(
                    f"TableLabeller: table {self._name or self.table.name!r} labels architectures of space {name!r}, and "
                    f"the study's space {name!r} is another space of that name (its ops or wiring differ); "
                    "give a table of the study's space (Benchmark.from_csv(path, space)) or name your space differently"
                )
        if name != self._space_name:
            raise InvalidArgumentError(
                f"TableLabeller: table {self._name or self.table.name!r} labels architectures of space "
                f"{self._space_name!r}, not of space {name!r}; use a table of {name!r} or a study on {self._space_name!r}"
            )

    def spec(self) -> dict[str, Any] | None:
        """``{"kind": "table", ...}`` when the table is a loadable name (a custom table cannot be rebuilt)."""
        return None if self._name is None else {"kind": "table", "benchmark": self._name, "metric": list(self.objectives)}

    def identity(self) -> dict[str, Any] | None:
        """None for a loadable table (its :meth:`spec` identifies it); for a custom table
        (``Benchmark.from_csv``) its name and a digest of its rows and labelled columns, so a study
        of another table with the same column name is never resumed with these labels (it was:
        two CSVs with an ``acc`` column shared one study name and mixed their labels)."""
        if self._name is not None:
            return None
        import hashlib

        import numpy as np

        t = self.table
        h = hashlib.sha1()
        for a in t.archs:
            h.update(t.space.format(a).encode())
        for m in self.objectives:
            h.update(m.encode())
            h.update(np.ascontiguousarray(t.values(m), dtype=np.float64).tobytes())
        return {"kind": "table", "table": t.name, "digest": h.hexdigest()[:16]}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._name is not None:
            state["_table"] = None
        return state

    def __repr__(self) -> str:
        return f"TableLabeller({self._name or self.table.name!r}, {list(self.objectives)!r})"


# ---------------------------------------------------------------------------------- callable
class CallableLabeller(Labeller):
    """Labels with ``fn(arch) -> float | {objective: value}``.

    Args:
        fn: a picklable function (module-level) when labels run in a process pool or on Ray.
        objectives: the name, or names, it returns (optional; a float is given the study's
            single objective).
        directions: optional ``{objective: "max" | "min"}``, or ``"max"``/``"min"`` for one objective
            (named in ``objectives`` or not: then it is the direction of the study's single objective).

    Raises:
        InvalidArgumentError: ``fn`` is not callable, ``objectives`` is not a name or a list of
            distinct names, or ``directions`` is not one of the forms above.
    """

    def __init__(
        self,
        fn: Callable[[ArchGraph], Any],
        objectives: str | Sequence[str] = (),
        directions: Mapping[str, str] | str | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"CallableLabeller needs a callable fn(arch) -> value, got {type(fn).__name__}")
        self.fn = fn
        self.objectives = _names_of(objectives)
        self._directions = _directions_of(directions, self.objectives)

    def label(self, arch: ArchGraph, space: Any) -> Any:
        """``fn(arch)``."""
        return self.fn(arch)

    def directions(self) -> dict[str, str]:
        """The directions given at construction (key ``SINGLE``, ``""``: of an unnamed single objective)."""
        return dict(self._directions)

    def identity(self) -> dict[str, Any]:
        """The function's module and qualified name (for a callable object or a ``functools.partial``:
        its class's or wrapped function's), its objectives and directions, and a digest of the plain
        data bound to it: a ``partial``'s arguments, a callable object's attributes, a closure's
        captured values (``partial(f, k=1)`` and ``partial(f, k=100)``, or ``make(1.0)`` and
        ``make(-1000.0)``, label differently, so they must not share a study). Not the code:
        editing the function keeps its studies resumable; only a lambda's bytecode and plain
        constants are digested (two lambdas of one module share a name).

        Plain data is numbers, strings, booleans, None and lists, tuples, sets and dicts of them,
        written in a canonical order; anything else (functions, modules, arrays, datasets, objects)
        is left out, since its text can change from run to run (addresses, hash-seeded set order,
        install paths) and a resumed study must get the same name in every process.
        """
        fn = self.fn
        bound: list[Any] = []
        while isinstance(fn, functools.partial):
            bound.append([_plain_items(fn.args), _plain_dict(fn.keywords)])
            fn = fn.func
        if not inspect.isroutine(fn) and hasattr(fn, "__dict__"):
            bound.append(_plain_dict(vars(fn)))
        cells = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _has_contents(c)]
        captured = [v for v in map(_plain, cells) if v is not _SKIP]
        if captured:  # only plain captures: a decorator's wrapper (it captures a function) keeps its old name
            bound.append({"closure": captured})
        code = getattr(fn, "__code__", None)
        if code is not None and getattr(fn, "__name__", "") == "<lambda>":
            bound.append({"lambda": [code.co_code.hex(), _plain_items(code.co_consts), list(code.co_names)]})
        qual = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        module = getattr(fn, "__module__", None) or type(fn).__module__
        out: dict[str, Any] = {
            "kind": "callable",
            "fn": f"{module}.{qual}",
            "objectives": list(self.objectives),
            "directions": dict(sorted(self._directions.items())),
        }
        # only when something is bound, so a plain function's studies keep their names
        text = json.dumps(bound, sort_keys=True) if any(bound) else ""
        if text:
            out["bound"] = hashlib.sha1(text.encode()).hexdigest()[:16]
        return out

    def __repr__(self) -> str:
        return f"CallableLabeller({getattr(self.fn, '__name__', self.fn)!r})"


#: a value left out of a labeller's identity (see ``CallableLabeller.identity``)
_SKIP = object()


def _plain(value: Any) -> Any:
    """``value`` as canonical JSON data if it is plain data (numbers, strings, booleans, None, and
    lists, tuples, sets and dicts of them), else ``_SKIP``. Sets are sorted and dicts with keys
    other than strings become sorted ``[key, value]`` pairs, so the text is the same in every run."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        if any(v is _SKIP for v in items):
            return _SKIP
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True)) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Mapping):
        pairs = [(_plain(k), _plain(v)) for k, v in value.items()]
        if any(k is _SKIP or v is _SKIP for k, v in pairs):
            return _SKIP
        if all(isinstance(k, str) for k, _ in pairs):
            return dict(pairs)
        return sorted(([k, v] for k, v in pairs), key=lambda kv: json.dumps(kv, sort_keys=True))
    return _SKIP


def _plain_items(values: Sequence[Any]) -> list[Any]:
    """Plain items of a sequence, each unplain one as None (positions keep their meaning)."""
    return [None if (v := _plain(x)) is _SKIP else v for x in values]


def _plain_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    """The plain entries of an attribute or keyword dict (the others left out)."""
    return {str(k): v for k, x in values.items() if (v := _plain(x)) is not _SKIP}


def _has_contents(cell: Any) -> bool:
    """Whether a closure cell is filled (a name bound after the inner function was made is not yet)."""
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _names_of(objectives: Any) -> tuple[str, ...]:
    """Objective names from one name or a sequence of distinct names (``"acc"`` is one name, not three)."""
    if isinstance(objectives, str):
        objectives = (objectives,)
    elif isinstance(objectives, (bytes, bytearray, Mapping)) or not isinstance(objectives, Sequence):
        raise InvalidArgumentError(
            f"CallableLabeller: objectives must be a name or a list of names, got {type(objectives).__name__} {objectives!r:.80}"
        )
    bad = [o for o in objectives if not isinstance(o, str) or not o]
    if bad:
        raise InvalidArgumentError(f"CallableLabeller: objective names must be non-empty strings, got {bad!r:.80}")
    twice = sorted({o for o in objectives if list(objectives).count(o) > 1})
    if twice:
        raise InvalidArgumentError(f"CallableLabeller: objectives {twice} are listed more than once in {list(objectives)}")
    return tuple(objectives)


#: key of ``Labeller.directions()`` for the direction of an unnamed single objective
SINGLE = ""


def _directions_of(directions: Any, objectives: tuple[str, ...]) -> dict[str, str]:
    """``{objective: "max" | "min"}`` from None, a dict, or one direction for a single objective."""
    if directions is None:
        return {}
    if isinstance(directions, str):
        if len(objectives) > 1:
            raise InvalidArgumentError(
                f"CallableLabeller: directions={directions!r} is for one objective (got objectives={list(objectives)}); "
                "for several, pass {objective: 'max' | 'min'}"
            )
        # no name: the direction of whatever single objective the study gives the returned float
        directions = {objectives[0] if objectives else SINGLE: directions}
    if not isinstance(directions, Mapping):
        raise InvalidArgumentError(
            f"CallableLabeller: directions must be {{objective: 'max' | 'min'}} (or one direction for one objective), "
            f"got {type(directions).__name__} {directions!r:.80}"
        )
    bad = {k: v for k, v in directions.items() if not isinstance(k, str) or v not in ("max", "min")}
    bad = {("directions" if k == SINGLE else k): v for k, v in bad.items()}
    if bad:
        raise InvalidArgumentError(f"CallableLabeller: a direction is 'max' or 'min' for an objective name, got {bad!r:.80}")
    extra = sorted(set(directions) - set(objectives))
    if objectives and extra:
        raise InvalidArgumentError(f"CallableLabeller: directions name {extra}, which are not among the objectives {list(objectives)}")
    return dict(directions)


# ---------------------------------------------------------------------------------- training
class TrainingLabeller(Labeller):
    """Trains the network of an architecture and reports its held-out accuracy (%).

    ``space.build(arch, num_classes, **build_options)`` gives the network; it is trained with
    SGD (momentum 0.9, Nesterov, cosine schedule, cross-entropy) on ``train``, as NAS-Bench-201
    trains its cells, and evaluated on ``valid``. Everything is seeded (weights, shuffling),
    so a label is reproducible.

    Args:
        train: a ``torch.utils.data.Dataset`` of ``(image tensor, int label)`` pairs.
        valid: the held-out ``Dataset`` the label is measured on.
        num_classes: classifier outputs.
        epochs: training epochs.
        batch_size: minibatch size.
        lr: initial learning rate. weight_decay: L2 strength.
        build_options: passed to ``space.build`` (e.g. ``{"C": 4, "N": 1, "in_channels": 1}``
            for small single-channel images on ``nb201``).
        metric: the objective name returned.
        seed: seeds initialisation and shuffling.
        device: torch device (default CPU).
        threads: ``torch.set_num_threads`` while training (None: leave it).
        space: the space (name or ``SearchSpace``) it will label, to check ``build_options``
            and the data's shape here; without it, executors run the same :meth:`check`
            before labelling anything.

    Returns (from ``label``): ``{metric: accuracy in %}`` on ``valid``.

    Raises:
        InvalidArgumentError: a dataset that is empty or not map-style (no ``len``, or an
            ``IterableDataset``), a bad count, rate, ``seed``, ``metric``, ``device`` or
            ``threads``, labels outside ``[0, num_classes)`` (checked where the labels are an
            attribute: ``TensorDataset``, torchvision's ``targets``); with ``space``: an option
            ``space.build`` does not take, a network that cannot take a training example (e.g.
            1-channel images without ``in_channels=1``), or a device this torch cannot use.
    """

    def __init__(
        self,
        train: Any,
        valid: Any,
        num_classes: int,
        *,
        epochs: int = 5,
        batch_size: int = 64,
        lr: float = 0.1,
        weight_decay: float = 5e-4,
        build_options: Mapping[str, Any] | None = None,
        metric: str = "valid_acc",
        seed: int = 0,
        device: str = "cpu",
        threads: int | None = 1,
        space: Any = None,
    ) -> None:
        import torch

        for what, data in (("train", train), ("valid", valid)):
            # a DataLoader would refuse these in every trial (shuffle, len for the schedule)
            if isinstance(data, torch.utils.data.IterableDataset) or not hasattr(data, "__len__"):
                raise InvalidArgumentError(
                    f"TrainingLabeller: {what} must be a map-style Dataset (with len() and indexing, e.g. a "
                    f"TensorDataset), got {type(data).__name__}; an IterableDataset cannot be shuffled per epoch"
                )
        if len(train) == 0 or len(valid) == 0:
            raise InvalidArgumentError("TrainingLabeller needs non-empty train and valid datasets")
        self.train, self.valid = train, valid
        self.num_classes = check_int(num_classes, "num_classes", 2)
        self.epochs, self.batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
        self.lr = check_real(lr, "lr", 0.0, low_open=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        if build_options is not None and not isinstance(build_options, Mapping):
            raise InvalidArgumentError(f"TrainingLabeller: build_options must be a dict, got {build_options!r:.80}")
        self.build_options = dict(build_options or {})
        if not isinstance(metric, str) or not metric:
            raise InvalidArgumentError(f"TrainingLabeller: metric (the objective's name) must be a non-empty string, got {metric!r}")
        self.metric = metric
        self.objectives = (metric,)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise InvalidArgumentError(f"TrainingLabeller: seed must be an integer, got {seed!r}")  # 1.7 used to become 1
        try:
            torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise InvalidArgumentError(f"TrainingLabeller: device {device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1'): {e}") from e
        self.seed, self.device = int(seed), device
        self.threads = None if threads is None else check_int(threads, "threads (torch threads per label, or None)", 1)
        for what, data in (("train", train), ("valid", valid)):
            _check_label_range(data, self.num_classes, what)
        self._identity: dict[str, Any] | None = None
        self._checked_space: str | None = None
        if space is not None:
            self.check(space)

    def check(self, space: Any) -> None:
        """Build one network of ``space`` with ``build_options`` and pass it one training example.

        Raises:
            InvalidArgumentError: ``space.build`` does not take an option (the message lists
                those it takes), or the network cannot take the data (e.g. its channels).
        """
        import torch

        import nagen.spaces

        space = nagen.spaces.get(space)
        if self._checked_space == space.name:
            return
        _check_device(self.device)
        for what, data in (("train", self.train), ("valid", self.valid)):
            try:
                y = torch.as_tensor(data[0][1])
            except Exception:  # noqa: BLE001 - an item that cannot be read here: the trial will tell
                continue
            if y.numel() != 1:  # e.g. one-hot rows: accuracy would compare every prediction with every label
                raise InvalidArgumentError(_label_shape_message(what, f"each item's label has shape {tuple(y.shape)}"))
        takes, open_ended = _build_options_of(space)
        unknown = sorted(set(self.build_options) - takes)
        if unknown and not open_ended:
            raise InvalidArgumentError(
                f"TrainingLabeller: build_options {unknown} are not options of space {space.name!r}; "
                f"its builder takes {choices_hint(takes)}"
            )
        try:
            x = torch.as_tensor(self.train[0][0])
        except Exception:  # noqa: BLE001 - a dataset without indexing: the trial build still runs
            x = None
        shown = f"space.build(arch, num_classes={self.num_classes}, **{self.build_options!r})"
        # one real build and forward pass, untrained and seeded: the cheap way to find what
        # would otherwise fail every trial (a typo under **options, a bad value, the wrong channels)
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(0)
                net = space.build(space.sample(1, 0)[0], num_classes=self.num_classes, **self.build_options)
                if x is not None:
                    net.eval()(x.unsqueeze(0).float())
        except NagenError:
            raise
        except TypeError as e:
            raise InvalidArgumentError(f"TrainingLabeller: {shown} refused its options: {e}") from e
        except Exception as e:  # noqa: BLE001 - any failure here would be every trial's failure
            hint = ""
            if x is not None and x.dim() == 3 and x.shape[0] != self.build_options.get("in_channels", 3):
                n = int(x.shape[0])
                hint = f"; the training images have {n} channel{'s' if n != 1 else ''}: pass build_options={{..., 'in_channels': {n}}}"
            raise InvalidArgumentError(
                f"TrainingLabeller: the network of {shown} cannot take a training example of shape "
                f"{tuple(x.shape) if x is not None else '?'}: {type(e).__name__}: {e}{hint}"
            ) from e
        self._checked_space = space.name

    def directions(self) -> dict[str, str]:
        """Accuracy is maximised."""
        return {self.metric: "max"}

    def identity(self) -> dict[str, Any]:
        """Every setting a label depends on (not ``device`` or ``threads``) and a digest of each
        dataset (see :func:`data_digest`: its type, length and a hash of its tensors or of a
        few items), computed once."""
        if self._identity is None:
            self._identity = {
                "kind": "training",
                "metric": self.metric,
                "num_classes": self.num_classes,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "weight_decay": self.weight_decay,
                "build_options": json.loads(json.dumps(self.build_options, sort_keys=True, default=repr)),
                "seed": self.seed,
                "train": data_digest(self.train),
                "valid": data_digest(self.valid),
            }
        return dict(self._identity)

    def label(self, arch: ArchGraph, space: Any) -> dict[str, float]:
        """Train ``space.build(arch)`` on ``train`` and return ``{metric: accuracy %}`` on ``valid``."""
        import torch
        from torch.utils.data import DataLoader

        old_threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.random.fork_rng(devices=[]):  # seeded training must not move the caller's RNG
                torch.manual_seed(self.seed)
                net = space.build(arch, num_classes=self.num_classes, **self.build_options).to(self.device)
                gen = torch.Generator().manual_seed(self.seed)
                # a last batch of one image fails BatchNorm in training mode wherever the network pools
                # to 1x1 (mbv3 on small images), which would fail every trial; drop just that batch
                single_last = len(self.train) > self.batch_size and len(self.train) % self.batch_size == 1
                loader = DataLoader(
                    self.train, batch_size=self.batch_size, shuffle=True, generator=gen, drop_last=single_last
                )
                # the network is float32; datasets often hold float64 (numpy) or uint8 images
                dtype = next(net.parameters()).dtype
                opt = torch.optim.SGD(
                    net.parameters(), lr=self.lr, momentum=0.9, nesterov=True, weight_decay=self.weight_decay
                )
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * len(loader))
                loss_fn = torch.nn.CrossEntropyLoss()
                net.train()
                for _ in range(self.epochs):
                    for x, y in loader:
                        y = _class_indices(y, "train")
                        loss = loss_fn(net(x.to(self.device, dtype)), y.to(self.device, torch.long))
                        if not torch.isfinite(loss):
                            raise FloatingPointError(f"training loss became {float(loss)}")
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                        sched.step()
                net.eval()
                correct = total = 0
                with torch.no_grad():
                    for x, y in DataLoader(self.valid, batch_size=256):
                        # (B, 1) would broadcast against the (B,) predictions: B*B pairs, accuracy far over 100 %
                        y = _class_indices(y, "valid")
                        correct += int((net(x.to(self.device, dtype)).argmax(1).cpu() == y).sum())
                        total += len(y)
        finally:
            torch.set_num_threads(old_threads)
        return {self.metric: 100.0 * correct / total}

    def __repr__(self) -> str:
        return f"TrainingLabeller(train={len(self.train)}, valid={len(self.valid)}, epochs={self.epochs}, metric={self.metric!r})"


def _check_device(device: Any) -> None:
    """Refuse a device this torch cannot use (every label would fail on it)."""
    import torch

    kind = torch.device(device).type
    if kind == "meta":  # tensors without data: building passes, and every label fails reading its accuracy
        raise InvalidArgumentError(
            f"TrainingLabeller: device {str(device)!r} holds no data, so nothing can be trained on it; "
            "use a device that computes, e.g. 'cpu' or 'cuda'"
        )
    ok = {"cpu": True, "cuda": torch.cuda.is_available()}.get(kind)
    if kind == "mps":
        ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if ok is None:  # xpu, hpu, ...: ask the backend module when it has one
        mod = getattr(torch, kind, None)
        ok = bool(mod is not None and callable(getattr(mod, "is_available", None)) and mod.is_available())
    if not ok:
        raise InvalidArgumentError(
            f"TrainingLabeller: device {str(device)!r} is not available to this torch "
            f"({torch.__version__}, CUDA available: {torch.cuda.is_available()}); use device='cpu'"
        )


def _labels_of(data: Any) -> Any:
    """The class labels of a dataset when they are an attribute (no item is loaded), else None."""
    import torch

    if isinstance(data, torch.utils.data.TensorDataset) and len(data.tensors) >= 2:
        return data.tensors[1]
    if isinstance(data, torch.utils.data.Subset):
        inner = _labels_of(data.dataset)
        return None if inner is None else torch.as_tensor(inner)[torch.as_tensor(list(data.indices), dtype=torch.long)]
    targets = getattr(data, "targets", None)  # torchvision's classification datasets
    return targets if targets is not None and hasattr(targets, "__len__") else None


def _label_shape_message(what: str, found: str) -> str:
    return (
        f"TrainingLabeller: {what} needs one class index per example (labels of shape (N,) or (N, 1)), but {found}; "
        "give class indices, e.g. labels.argmax(1) for one-hot rows"
    )


def _class_indices(y: Any, what: str, whose: str = "a batch's labels") -> Any:
    """Labels as shape (B,): a (B, 1) column, as pandas or scikit-learn often give, is flattened;
    any other shape refused."""
    if y.dim() == 2 and y.shape[1] == 1:
        return y.reshape(-1)
    if y.dim() != 1:
        raise InvalidArgumentError(_label_shape_message(what, f"{whose} have shape {tuple(y.shape)}"))
    return y


def _check_label_range(data: Any, num_classes: int, what: str) -> None:
    """Refuse integer labels outside ``[0, num_classes)`` where reading them is free; datasets
    whose labels come only from loading items are not checked (that could cost an epoch)."""
    import torch

    labels = _labels_of(data)
    if labels is None:
        return
    try:
        y = torch.as_tensor(labels)
    except Exception:  # noqa: BLE001 - labels of an unusual kind: the trial will tell
        return
    y = _class_indices(y, what, "its labels")
    if y.numel() == 0 or y.is_floating_point() or y.dtype == torch.bool:
        return
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise InvalidArgumentError(
            f"TrainingLabeller: {what} labels run from {low} to {high}, but num_classes={num_classes} allows 0 to "
            f"{num_classes - 1}; pass num_classes={max(high + 1, 2)}"
        )


def data_digest(data: Any) -> dict[str, Any]:
    """A cheap fingerprint of a dataset, for a study's labeller identity.

    What counts: the dataset's type and length, and a SHA-1 of its tensors when it is a
    ``TensorDataset`` of at most 64 MB (else of its first, middle and last 4 rows), of the rows
    of ``data``/``targets`` attributes (torchvision) at 8 spread indices, or else of 8 spread
    items. Items that differ between two reads (random augmentation) are not hashed: only type
    and length count then.
    """
    import torch

    n = len(data)
    h = hashlib.sha1()
    idx = sorted({int(i) for i in np.linspace(0, n - 1, num=min(n, 8))})

    def feed(x: Any) -> None:
        if isinstance(x, (tuple, list)):
            for v in x:
                feed(v)
            return
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        try:
            arr = np.asarray(x)
            h.update(str(arr.dtype).encode() + str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes() if arr.dtype != object else repr(x).encode())
        except Exception:  # noqa: BLE001 - something numpy cannot hold: its repr
            h.update(repr(x).encode())

    how = "items"
    if isinstance(data, torch.utils.data.TensorDataset):
        small = sum(t.numel() * t.element_size() for t in data.tensors) <= 64 << 20
        how = "tensors" if small else "rows"
        for t in data.tensors:
            feed(t if small else [t[:4], t[len(t) // 2 : len(t) // 2 + 4], t[-4:]])
    elif getattr(data, "data", None) is not None and getattr(data, "targets", None) is not None:
        how = "data rows"
        for i in idx:
            feed([data.data[i], data.targets[i]])
    else:
        try:
            first = h.copy()
            feed(data[0])
            once = h.hexdigest()
            h = first
            feed(data[0])
            if h.hexdigest() != once:
                how, h = "length only (items differ between reads)", hashlib.sha1()
            else:
                for i in idx:
                    feed(data[i])
        except Exception:  # noqa: BLE001 - items that cannot be read here: type and length only
            how, h = "length only (items unreadable)", hashlib.sha1()
    cls = type(data)
    return {"type": f"{cls.__module__}.{cls.__qualname__}", "len": n, "hashed": how, "sha1": h.hexdigest()[:16]}


def _build_options_of(space: Any) -> tuple[set[str], bool]:
    """The option names ``space.build`` takes, and whether it also takes others (``**options``)."""
    params = list(inspect.signature(space._build).parameters.values())[2:]  # after arch, num_classes
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def from_spec(spec: Mapping[str, Any]) -> Labeller:
    """Rebuild a labeller from :meth:`Labeller.spec` (only table labellers have one).

    Raises:
        NagenError: the spec names an unknown kind.
    """
    if spec.get("kind") == "table":
        return TableLabeller(spec["benchmark"], spec["metric"])
    raise NagenError(f"cannot rebuild a labeller from {dict(spec)!r}; pass labeller=... explicitly")
