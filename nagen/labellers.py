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

import inspect
import math
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nagen.errors import InvalidArgumentError, NagenError, UnknownMetricError, check_int, check_real, choices_hint, is_real
from nagen.graph import ArchGraph

__all__ = ["Labeller", "TableLabeller", "TrainingLabeller", "CallableLabeller", "LabelOutcome", "run_labeller"]


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

    def check(self, space: Any) -> None:
        """Raise a named error if this labeller cannot label architectures of ``space`` (default: no check).

        Executors call it once before labelling, so a misconfigured labeller stops the run
        up front instead of failing every trial of the budget.
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
        f = float(v)
        if not math.isfinite(f):
            return None, f"labeller returned {f} for {k!r}"
        out[k] = f
    return out, ""


def run_labeller(labeller: Labeller, arch_text: str, space_name: str, objectives: Sequence[str]) -> LabelOutcome:
    """Label one architecture, turning every failure into a reason (runs in worker processes).

    Args:
        labeller: the labeller.
        arch_text: the architecture as ``space.format`` writes it.
        space_name: the registered space name (resolved in the worker).
        objectives: the objective names the study expects.
    """
    import nagen.spaces

    start = time.perf_counter()
    try:
        space = nagen.spaces.get(space_name)
        raw = labeller.label(space.parse(arch_text), space)
    # SystemExit too: a labeller's sys.exit() fails its trial; Ctrl-C (KeyboardInterrupt) still stops the study
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a failing labeller must not stop the study
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        return LabelOutcome(None, f"labeller raised {last}", time.perf_counter() - start)
    values, reason = _normalise(raw, objectives)
    return LabelOutcome(values, reason, time.perf_counter() - start)


# ---------------------------------------------------------------------------------- table
class TableLabeller(Labeller):
    """Values looked up in a benchmark table.

    Args:
        benchmark: a table name for ``nagen.benchmarks.load`` (e.g. ``"nb201"``) or a ``Benchmark``.
        metric: one column name or several (multi-objective).

    Raises:
        UnknownMetricError: a metric is not a column of the table (the message lists them).
    """

    def __init__(self, benchmark: Any = "nb201", metric: str | Sequence[str] = "cifar10_test") -> None:
        import nagen.benchmarks

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
                raise UnknownMetricError(
                    f"table {self._table.name!r} has no metric {m!r}; available metrics are {choices_hint(self._table.metrics, 60)}"
                )
        self.objectives = metrics

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

    def spec(self) -> dict[str, Any] | None:
        """``{"kind": "table", ...}`` when the table is a loadable name (a custom table cannot be rebuilt)."""
        return None if self._name is None else {"kind": "table", "benchmark": self._name, "metric": list(self.objectives)}

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
        objectives: the names it returns (optional; a float is given the study's single objective).
        directions: optional ``{objective: "max" | "min"}``.
    """

    def __init__(
        self, fn: Callable[[ArchGraph], Any], objectives: Sequence[str] = (), directions: Mapping[str, str] | None = None
    ) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"CallableLabeller needs a callable fn(arch) -> value, got {type(fn).__name__}")
        self.fn = fn
        self.objectives = tuple(objectives)
        self._directions = dict(directions or {})

    def label(self, arch: ArchGraph, space: Any) -> Any:
        """``fn(arch)``."""
        return self.fn(arch)

    def directions(self) -> dict[str, str]:
        """The directions given at construction."""
        return dict(self._directions)

    def __repr__(self) -> str:
        return f"CallableLabeller({getattr(self.fn, '__name__', self.fn)!r})"


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
        InvalidArgumentError: with ``space``: an option ``space.build`` does not take, or a
            network that cannot take a training example (e.g. 1-channel images without
            ``in_channels=1``).
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
        if len(train) == 0 or len(valid) == 0:
            raise NagenError("TrainingLabeller needs non-empty train and valid datasets")
        self.train, self.valid = train, valid
        self.num_classes = check_int(num_classes, "num_classes", 2)
        self.epochs, self.batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
        self.lr = check_real(lr, "lr", 0.0, low_open=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", 0.0)
        self.build_options = dict(build_options or {})
        self.metric = metric
        self.objectives = (metric,)
        self.seed, self.device, self.threads = int(seed), device, threads
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
                loader = DataLoader(self.train, batch_size=self.batch_size, shuffle=True, generator=gen)
                opt = torch.optim.SGD(
                    net.parameters(), lr=self.lr, momentum=0.9, nesterov=True, weight_decay=self.weight_decay
                )
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * len(loader))
                loss_fn = torch.nn.CrossEntropyLoss()
                net.train()
                for _ in range(self.epochs):
                    for x, y in loader:
                        loss = loss_fn(net(x.to(self.device)), y.to(self.device))
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
                        correct += int((net(x.to(self.device)).argmax(1).cpu() == y).sum())
                        total += len(y)
        finally:
            torch.set_num_threads(old_threads)
        return {self.metric: 100.0 * correct / total}

    def __repr__(self) -> str:
        return f"TrainingLabeller(train={len(self.train)}, valid={len(self.valid)}, epochs={self.epochs}, metric={self.metric!r})"


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
