"""One call to search a space's benchmark table: the engine of ``nagen search``.

>>> from nagen.search_api import search
>>> result = search(space="nb201", objective="cifar10_valid_12ep", budget=50, seed=0, method="bo",
...                 report="cifar10_test")  # doctest: +SKIP
>>> result.to_dict()["best"]                                                                   # doctest: +SKIP
{'arch': '|nor_conv_3x3~0|+...', 'value': ...}  (a 12-epoch validation accuracy)

The JSON contract (stable, used by scripts): ``{"history": [{"arch": "<string>", "value": <float>},
...], "best": {"arch": ..., "value": ...}}``, the labelled architectures in label order, plus what
was searched: ``"space"``, ``"objective"``, ``"direction"`` (``"max"``/``"min"``), ``"method"``
(the study's proposer name, e.g. ``"re"``, ``"transfer"``) and ``"seed"``, so that files of
several runs can be told apart and grouped (``nagen plot trace``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nagen.errors import InvalidArgumentError, InvalidSpecError, check_int, check_options, choices_hint
from nagen.study import METHODS, SpaceExhaustedError, Study, StudyError

__all__ = ["search", "SearchResult"]


@dataclass(frozen=True)
class SearchResult:
    """What a search labelled.

    Attributes:
        history: ``[(arch string, value), ...]`` of the successful labels, in label order.
        best: the best ``(arch string, value)`` (by the objective's direction), or None.
        failed: ``[(arch string, reason), ...]`` of failed labels.
        study: the study name; storage: its storage URL.
        space, objective, direction, method, seed: what was searched (the study's space name,
            objective column, ``"max"``/``"min"``, proposer name and seed); empty (or None)
            when unknown, e.g. a result built by hand.
        setup: how else the run was configured, where it differs between runs of one method
            (``surrogate`` and its options, ``initial`` design, ``batch_size``, ``constraints``);
            ``nagen plot trace`` keeps runs of different setups apart. Empty when unknown.
    """

    history: list[tuple[str, float]]
    best: tuple[str, float] | None
    failed: list[tuple[str, str]] = field(default_factory=list)
    study: str = ""
    storage: str = ""
    report: dict[str, float] = field(default_factory=dict)
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)
    device_measurements: int = 0
    space: str = ""
    objective: str = ""
    direction: str = ""
    method: str = ""
    seed: int | None = None
    setup: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"history": [{"arch", "value"}, ...], "best": {"arch", "value"[, "report", "constraints"]} or None,
        "space", "objective", "direction", "method", "seed"}`` (plus ``"device_measurements"`` when
        the search had device constraints, ``"failed": [{"arch", "reason"}, ...]`` when labels failed;
        the run's description keys only when known)."""
        best = None
        if self.best is not None:
            best = {"arch": self.best[0], "value": float(self.best[1])}
            if self.report:
                best["report"] = {k: float(v) for k, v in self.report.items()}
            if self.constraints:
                best["constraints"] = self.constraints
        out: dict[str, Any] = {"history": [{"arch": a, "value": float(v)} for a, v in self.history], "best": best}
        if self.constraints:
            out["device_measurements"] = self.device_measurements
        # what was searched: without it, files of several runs cannot be grouped by method or
        # checked to plot one objective (a hand-built result may not know it: no key, not a blank)
        meta = {"space": self.space, "objective": self.objective, "direction": self.direction, "method": self.method}
        out.update({k: v for k, v in meta.items() if v})
        if self.seed is not None:
            out["seed"] = int(self.seed)
        if self.setup:
            out["setup"] = dict(self.setup)
        if self.failed:  # paid for and recorded: a run whose labels all failed must not look like an empty success
            out["failed"] = [{"arch": a, "reason": r} for a, r in self.failed]
        return out

    def to_json(self, **dumps_options: Any) -> str:
        """``to_dict()`` as a JSON string (what ``nagen search --json`` prints; ``json.dumps``
        options pass through), as ``ParetoResult.to_json``."""
        import json

        return json.dumps(self.to_dict(), **dumps_options)


def _in_memory(storage: Any) -> bool:
    """True when ``storage`` names an in-memory database (a bad URL is left to ``get_storage`` to name)."""
    from nagen.storage import SQLiteStorage, StorageError, _parse_url

    if isinstance(storage, SQLiteStorage):
        return storage.in_memory
    try:
        return _parse_url(storage) == ":memory:"
    except StorageError:
        return False


def search(
    space: Any = "nb201",
    objective: str = "cifar10_valid_12ep",
    budget: int = 50,
    seed: int = 0,
    method: str = "bo",
    transfer_from: str | list[str] | None = None,
    batch_size: int = 1,
    storage: str | None = None,
    study: str | None = None,
    progress: bool = False,
    constraints: Any = None,
    device_samples: int | None = None,
    report: str | list[str] | None = None,
    benchmark: Any = None,
    checkpoint: Any = None,
    **options: Any,
) -> SearchResult:
    """Search ``space`` for the best ``objective`` of its benchmark table with ``budget`` labels.

    Args:
        space: space name (its table labels, e.g. ``nb201``).
        objective: the table column to optimise (its direction decides max or min). The default
            is NB201's cheap proxy a real search could afford (CIFAR-10 validation accuracy
            after 12 epochs); the 200-epoch ``cifar10_test`` is for ``report=``, read only
            after the search.
        budget: total labels.
        seed: same seed, same search.
        method: ``"bo"``, ``"opgfn"``, ``"diffusion"``, ``"re"`` (regularised evolution; also
            ``"evolution"``, ``pareto``'s name for it) or ``"random"``.
        transfer_from: source metrics (a list or comma-separated string); when given, the
            search is a :class:`~nagen.transfer.TransferTask` with its own proposer (``method``
            must then stay ``"bo"``, the default: any other is refused rather than ignored).
        batch_size: labels per round.
        storage: study storage URL; None keeps the study in memory (not resumable).
        study: study name (with ``storage``: re-using it resumes the search).
        progress: show progress bars.
        constraints: ``"METRIC<=VALUE"`` strings the returned architecture must meet (exact costs,
            or device latencies with ``device_samples``; see ``Study``). ``best`` is then the best
            architecture whose true (measured or exact) value meets them.
        device_samples: latency measurements the search may spend per constrained device.
        report: table metric(s) looked up for the best architecture only *after* the search
            ended (e.g. search ``cifar100_valid_12ep``, report ``cifar100_test``): the search never
            sees them.
        benchmark: the table that labels (and reports): a registered table name or a
            ``Benchmark`` (e.g. ``Benchmark.from_csv`` of a user's measurements); default: the
            space's own table. A table of part of the space restricts the search to its rows.
        checkpoint: with ``method="diffusion"``, a diffusion checkpoint of the space (``nagen
            train``) for the proposer, instead of the shipped one or training one first.
        options: other ``Study`` arguments (``surrogate=``, ``initial=``, ``n_initial=``, ...).

    Raises:
        InvalidArgumentError: a budget or batch size that is not a count, a budget larger than
            the space, an objective or study name that is not a (non-empty) string, a report or
            source list that is not strings, a blank ``storage``, a ``study`` name without
            ``storage`` (an in-memory study cannot be resumed).
        UnknownOptionError: an option ``Study`` does not take.
        InvalidSpecError: unknown method, or a method other than "bo" with a transfer search.
        UnknownMetricError: the objective, a source or a report metric is not a table column.
        ConstraintError, UnknownDeviceError: a malformed constraint or an unknown device.

    A budget above the space's number of distinct (non-equivalent) architectures labels them
    all and returns them, with a warning.
    """
    from nagen.labellers import TableLabeller

    # checked before anything is built: a study (its storage file) or a transfer prior's
    # leave-one-source-out choice would otherwise be paid for before ``optimize`` refused them
    budget = check_int(budget, "budget", 1)  # as the CLI and pareto: a search of 0 labels is a mistake
    batch_size = check_int(batch_size, "batch_size", 1)
    if not isinstance(objective, str):
        raise InvalidArgumentError(f"objective must be a metric name (a string), got {type(objective).__name__} {objective!r}")
    if study is not None and (not isinstance(study, str) or not study.strip()):
        # Study would store any value as the name (5, or "" meaning "derive one")
        raise InvalidArgumentError(f"study must be None or a non-empty name, got {study!r}")
    if isinstance(storage, str) and not storage.strip():
        # "" would silently mean "in memory": a user who passed it meant a file
        raise InvalidArgumentError(f"storage must be None (in memory) or a URL such as 'sqlite:///nagen.db', got {storage!r}")
    if study is not None and (storage is None or _in_memory(storage)):
        # an in-memory study is gone when the call returns: naming it promises a resume that cannot happen
        raise InvalidArgumentError(
            f"study={study!r} needs a storage file (e.g. storage='sqlite:///nagen.db') to be resumable, got "
            f"{'none' if storage is None else repr(storage) + ' (in memory)'}"
        )
    if method == "evolution":  # nagen pareto's name of the same regularised evolution
        method = "re"
    if method not in METHODS:
        raise InvalidSpecError(f"could not resolve method {method!r} among choices {choices_hint(METHODS)} ('evolution' = 're')")
    # the arguments search() itself passes to Study may not come in again through options
    check_options(Study, options, "nagen.search", exclude=("objectives", "labeller", "proposer", "name", "constraints", "device_samples"))
    reports = list(dict.fromkeys(_names(report, "report")))
    if not all(reports):
        raise InvalidSpecError(f"report names an empty metric (got {report!r}); give table metrics, e.g. 'cifar100_test'")
    import nagen.benchmarks
    import nagen.spaces

    sp = nagen.spaces.get(space)
    if sp.size is not None and budget > sp.size:
        raise InvalidArgumentError(f"budget {budget} exceeds the {sp.size:,} architectures of space {sp.name!r}")
    source: Any = sp.name if benchmark is None else benchmark  # what the labellers below load
    table = source
    if not isinstance(table, (str, nagen.benchmarks.Benchmark)):
        raise InvalidArgumentError(f"benchmark must be a table name or a nagen.benchmarks.Benchmark, got {type(benchmark).__name__} {benchmark!r:.80}")
    if isinstance(table, str):
        from nagen.errors import UnknownBenchmarkError

        try:
            table = nagen.benchmarks.load(table)
        except UnknownBenchmarkError as e:
            if benchmark is not None or "benchmark=" in str(e):  # the loader's message may say it already (nb101)
                raise
            raise UnknownBenchmarkError(
                f"space {sp.name!r} has no benchmark table of its own ({e}); pass the table that labels it as "
                "benchmark= (a name, or a Benchmark such as Benchmark.from_csv(...); CLI: --benchmark FILE.csv)"
            ) from None
    if not nagen.spaces.same_space(table.space, sp):
        raise InvalidArgumentError(
            f"benchmark {table.name!r} labels space {table.space.name!r}, not the searched space {sp.name!r}"
            + nagen.spaces.same_name_note(table.space, sp)
            + "; give a table of this space as benchmark= (Benchmark.from_csv(path, space); CLI: --benchmark FILE.csv)"
        )
    # built (and so checked) before any label is spent; used only after the search
    reporter = TableLabeller(source, reports) if reports else None
    sources: list[str] = []
    if transfer_from is not None:
        sources = _names(transfer_from, "transfer_from")
        if not sources or not all(sources):
            raise InvalidSpecError(f"transfer_from names no source metric (got {transfer_from!r}); pass None for a plain search")
        if method != "bo":
            raise InvalidSpecError(
                f"method {method!r} does not apply to a transfer search (it ranks by the sources' consensus, then a GP); "
                "drop the method or the transfer sources"
            )
        leaked = sorted(set(sources) & set(reports))
        if leaked:
            # a source's whole column is the search's prior: a reported metric must stay unseen until the end
            raise InvalidSpecError(f"report metrics {leaked} are also transfer sources; a reported metric must be one the search never sees")
    if constraints:
        options["constraints"] = constraints
        options["device_samples"] = device_samples
        if benchmark is not None:
            # the given table measures the device latencies too: the study's default measurer is the
            # space's own table, which would have judged the bound on another table's latencies
            from nagen.constraints import device_of, parse_constraints
            from nagen.errors import UnknownMetricError

            measurers = dict(options.get("measurers") or {})
            for c in parse_constraints(constraints):
                if c.device is None or c.metric in measurers:
                    continue
                if c.metric not in table.metrics:
                    devices = [m for m in table.metrics if device_of(m)]
                    raise UnknownMetricError(
                        f"constraint {c}: benchmark {table.name!r} has no column {c.metric!r} to measure it; its device "
                        f"latencies are {choices_hint(devices) if devices else 'none'}"
                    )
                measurers[c.metric] = TableLabeller(source, c.metric)
            if measurers:
                options["measurers"] = measurers
    elif device_samples is not None:
        raise InvalidSpecError("device_samples needs a device latency constraint, e.g. constraints=['lat_pixel2_ms<=18']")
    if checkpoint is not None:
        if method != "diffusion" or sources:
            # silently unused otherwise: the search would train or load another generator
            raise InvalidSpecError(f"checkpoint is the diffusion proposer's generator; it goes with method='diffusion', not {method!r}"
                                   + (" with transfer sources" if sources else ""))
        from nagen.study import DiffusionProposer

        method = DiffusionProposer(checkpoint=checkpoint)
    url = storage or "sqlite:///:memory:"
    options.setdefault("executor", "inline")  # table lookups: worker processes would only add start-up time
    if sources:
        from nagen.transfer import TransferTask

        task = TransferTask(sources, objective, space, seed=seed, benchmark=benchmark)
        st = task.study(storage=url, name=study, **options)
    else:
        labeller = TableLabeller(source, objective)
        st = Study(sp, objective, labeller, proposer=method, storage=url, name=study, seed=seed, **options)
    if len(st.history) > budget:
        import warnings

        # resuming: the budget is the study's total; a smaller one labels nothing, but returning
        # more labels than asked for without a word looks like a bug
        warnings.warn(
            f"study {st.name!r} already holds {len(st.history)} labels, more than the budget {budget} (the total, not "
            f"extra labels): nothing new is labelled and the result holds all {len(st.history)}",
            stacklevel=2,
        )
    try:
        st.optimize(budget, batch_size=batch_size, progress=progress)
    except SpaceExhaustedError as e:
        # fewer distinct architectures than the budget (equivalent cells count once): the labels
        # paid for are the result, not lost to an error
        import warnings

        warnings.warn(f"{e}; returning the {len(st.history)} labels made", stacklevel=2)
    res = _result(st, batch_size)
    if res.best is not None and reporter is not None:  # the search has ended: now the report may be read
        res.report.update(reporter.label(sp.parse(res.best[0]), sp))
    return res


def _names(value: Any, what: str) -> list[str]:
    """Metric names from None, a comma-separated string or a list of strings (each stripped)."""
    if value is None:
        return []
    if isinstance(value, str):  # "" is one empty name (refused by the caller), not "no names"
        return [x.strip() for x in value.split(",")]
    try:
        items = list(value)
    except TypeError:
        items = [value]
    if not all(isinstance(x, str) for x in items):
        raise InvalidArgumentError(f"{what} must be a metric name, a comma-separated string or a list of names, got {value!r}")
    return [x.strip() for x in items]


#: proposers that pick with the study's surrogate (regularised evolution and random search do not)
_SURROGATE_METHODS = ("bo", "opgfn", "diffusion", "transfer")


def _result(st: Study, batch_size: int = 1) -> SearchResult:
    obj = st.objectives[0]
    sign = 1.0 if st.directions[0] == "max" else -1.0
    history, failed = [], []
    for t in st.history:
        if t.state == "complete":
            history.append((t.arch, t.values[obj]))
        else:
            failed.append((t.arch, t.reason))
    best = None
    constraints: dict[str, dict[str, Any]] = {}
    measurements = 0
    if st.constraints:
        done = [t for t in st.history if t.state == "complete"]
        if done:
            try:
                b = st.best
            except StudyError as e:  # nothing labelled meets the bounds: no best, said once, not an error after paying
                import warnings

                warnings.warn(str(e), stacklevel=3)
            else:
                best = (b.arch, b.values[obj])
                constraints = st.constraint_values(b)
        measurements = len(st.storage.measurements(st.name))
    else:
        for a, v in history:
            if best is None or sign * v > sign * best[1] or (math.isnan(best[1]) and not math.isnan(v)):
                best = (a, v)
    method = st.proposer.name or type(st.proposer).__name__
    setup: dict[str, Any] = {"batch_size": int(batch_size)}
    if method in _SURROGATE_METHODS:
        setup.update(surrogate=st.surrogate, initial=st.initial)
        if st._surrogate_options:
            setup["surrogate_options"] = dict(st._surrogate_options)
    if st.constraints:
        setup["constraints"] = [str(c) for c in st.constraints]
    return SearchResult(
        history, best, failed, st.name, st.storage.url, constraints=constraints, device_measurements=measurements,
        space=st.space.name, objective=obj, direction=st.directions[0],
        # the name the study records in its config (a transfer search's proposer is "transfer", not "bo")
        method=method, seed=st.seed, setup=setup,
    )
