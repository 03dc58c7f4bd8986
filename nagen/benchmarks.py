"""Tabular benchmarks: labels looked up instead of trained.

>>> import nagen.benchmarks
>>> nb = nagen.benchmarks.load("nb201")
>>> nb.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "cifar10_test")
94.373333
>>> nb.optimum("cifar10_test").value
94.373333

The NB201 table ships inside the package (``nagen/data/nb201.csv.gz``, provenance in
``nagen/data/PROVENANCE.md``); a user's own table for any space loads with
:meth:`Benchmark.from_csv`. A table is keyed by exact architecture identity (``ArchGraph``
equality), not by equivalence class: equivalent NB201 cells were trained separately and
have their own numbers.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from nagen.errors import (
    ArchitectureNotInTableError,
    InvalidArchitectureError,
    InvalidArgumentError,
    InvalidTableError,
    NagenError,
    UnknownBenchmarkError,
    UnknownMetricError,
    choices_hint,
    is_real,
    unknown_metric_message,
)
from nagen.graph import ArchGraph
from nagen.registry import Registry
from nagen.spaces.base import SearchSpace

__all__ = ["Benchmark", "Metric", "Optimum", "load", "names", "register_loader"]

Direction = Literal["max", "min"]


@dataclass(frozen=True)
class Metric:
    """One column of a benchmark table.

    Attributes:
        name: column name, e.g. ``"cifar10_test"``.
        direction: ``"max"`` for accuracies, ``"min"`` for costs (latency, params, FLOPs).
        unit: e.g. ``"%"``, ``"ms"``, ``"count"``.
        description: one line on what was measured.
    """

    name: str
    direction: Direction = "max"
    unit: str = ""
    description: str = ""


class Optimum(NamedTuple):
    """The best architecture of a table for one metric and its value."""

    arch: ArchGraph
    value: float


#: name tokens (split at non-alphanumerics) that mark a cost, i.e. a minimised metric
_COST_TOKENS = frozenset(
    {"lat", "latency", "ms", "params", "param", "flops", "macs", "energy", "size", "memory", "mem", "time", "seconds", "bytes"}
)
#: name tokens that mark an error or a loss, also minimised ("test_error", "top1_err", "val_loss")
_ERROR_TOKENS = frozenset({"err", "error", "errors", "loss", "losses", "regret", "nll", "mse", "rmse"})


def _guess_direction(name: str) -> Direction:
    """``"min"`` when a whole token of ``name`` names a cost or an error/loss, else ``"max"``."""
    # whole tokens, not substrings: "top1_latest", "relative_accuracy" or "terror" are not costs
    tokens = set(re.split(r"[^a-z0-9]+", name.lower()))
    return "min" if tokens & (_COST_TOKENS | _ERROR_TOKENS) else "max"


class _MetricNames(list):
    """A table's metric names: a plain list to every caller, carrying ``skipped`` (CSV column ->
    why :meth:`Benchmark.from_csv` did not read it as a metric). Callers across nagen build their
    unknown-metric message from ``table.metrics``; this way each of them can say why a column the
    user sees in the file is not a metric instead of only listing the others."""

    def __init__(self, names: Iterable[str] = (), skipped: Mapping[str, str] | None = None) -> None:
        super().__init__(names)
        self.skipped: Mapping[str, str] = skipped or {}


class Benchmark:
    """A table of measured metrics for architectures of one space.

    Args:
        name: table name.
        space: the space the architectures belong to (or its registered name).
        archs: one architecture per row (distinct; ``ArchGraph`` or strings the space parses).
        columns: metric name (a string) -> ``len(archs)`` float array (NaN = not measured).
        metrics: optional metric name -> ``Metric`` description, or just its direction
            ``"max"``/``"min"``; this is how to override a guessed direction. A metric not
            described gets a direction guessed from its name: minimised when a whole word of it
            (words split at non-alphanumerics, case ignored) names a cost (``lat``, ``latency``,
            ``ms``, ``params``, ``flops``, ``macs``, ``energy``, ``size``, ``memory``, ``time``,
            ...) or an error or loss (``err``, ``error``, ``loss``, ``regret``, ``nll``, ``mse``,
            ``rmse``), else maximised. So ``lat_pixel3_ms``, ``top1_err`` and ``val_loss`` are
            minimised; ``cifar10_test``, ``top1_latest`` and ``terror_score`` are maximised.
        provenance: where the numbers come from.

    Raises:
        InvalidTableError: ``archs`` not a sequence of architectures, an architecture not valid
            in ``space``, a repeated architecture, no column, a column name that is not a string, a
            column of the wrong length or not numbers (text such as ``"1.5"`` included: parse it
            first, or load the file with :meth:`from_csv`), booleans or an infinite value (NaN
            marks a missing measurement), ``metrics`` not a mapping, a
            ``metrics`` entry for no column, a description that is not a ``Metric`` (or
            ``"max"``/``"min"``) or names another metric, or a direction not ``"max"``/``"min"``.
    """

    def __init__(
        self,
        name: str,
        space: SearchSpace,
        archs: Sequence[ArchGraph],
        columns: Mapping[str, np.ndarray],
        metrics: Mapping[str, Metric] | None = None,
        provenance: str = "",
    ) -> None:
        import nagen.spaces

        self.name = name
        self.space = nagen.spaces.get(space)
        if isinstance(archs, (str, ArchGraph)) or not isinstance(archs, Iterable):  # enumerate(None): a bare TypeError
            raise InvalidTableError(
                f"table {name!r}: archs must be a sequence of architectures (one per row), got {type(archs).__name__} {archs!r}"
            )
        valid = []
        for k, a in enumerate(archs):
            # a row the space does not read (a string, another space's cell) could never be queried
            try:
                valid.append(self.space.validate(a))
            except InvalidArchitectureError as e:
                raise InvalidTableError(f"table {name!r} row {k}: {e}") from e
        self._archs = tuple(valid)
        self._row: dict[ArchGraph, int] = {}
        for k, a in enumerate(self._archs):
            if a in self._row:
                raise InvalidTableError(
                    f"table {name!r}: rows {self._row[a]} and {k} hold the same architecture {self.space.format(a)!r}"
                )
            self._row[a] = k
        if not isinstance(columns, Mapping):
            raise InvalidTableError(
                f"table {name!r}: columns must map metric names to value arrays, got {type(columns).__name__}"
            )
        if not columns:
            raise InvalidTableError(f"table {name!r} has no metric columns")
        self._cols: dict[str, np.ndarray] = {}
        for m, v in columns.items():
            if not isinstance(m, str):  # metrics are looked up by name; any other key could never be queried
                raise InvalidTableError(f"table {name!r}: a metric (column) name must be a string, got {type(m).__name__} {m!r}")
            try:
                raw = np.asarray(v)
                # NumPy parses text as Python's float() does: "1_000", "inf", " nan" would pass as numbers
                if raw.dtype.kind in "SU" or (raw.dtype.kind == "O" and any(isinstance(x, (str, bytes)) for x in raw.flat)):
                    raise TypeError("text (parse it to numbers first, or load a CSV file with Benchmark.from_csv)")
                arr = np.array(raw, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise InvalidTableError(f"column {m!r} of table {name!r} holds values that are not numbers: {e}") from e
            if arr.shape != (len(self._archs),):
                raise InvalidTableError(f"column {m!r} has shape {arr.shape}, expected ({len(self._archs)},)")
            if raw.dtype.kind == "b":  # True/False would be read as 1/0: a flag, not a measurement
                raise InvalidTableError(f"column {m!r} of table {name!r} holds booleans, not measurements")
            inf = np.flatnonzero(np.isinf(arr))
            if len(inf):  # an infinite value would be every search's optimum (NaN marks a missing one)
                raise InvalidTableError(
                    f"column {m!r} of table {name!r} holds {arr[inf[0]]} in row {int(inf[0])} "
                    f"({self.space.format(self._archs[inf[0]])!r}); values are finite, or NaN where not measured"
                )
            arr.setflags(write=False)
            self._cols[m] = arr
        self._metrics = {m: Metric(m, _guess_direction(m)) for m in self._cols}
        self._metrics.update(self._described(metrics))
        bad = {m: d.direction for m, d in self._metrics.items() if d.direction not in ("max", "min")}
        if bad:  # any other word would silently count as "min" in optimum and percentile
            raise InvalidTableError(f"table {name!r}: a metric direction is 'max' or 'min', got {bad}")
        self.provenance = provenance
        self._skipped: dict[str, str] = {}  # filled by from_csv

    def _described(self, metrics: object) -> dict[str, Metric]:
        """The checked ``metrics`` argument: column name -> ``Metric`` (a ``None`` value keeps the guess)."""
        if metrics is None:
            return {}
        if not isinstance(metrics, Mapping):
            raise InvalidTableError(
                f"table {self.name!r}: metrics must map metric names to Metric descriptions or 'max'/'min', "
                f"got {type(metrics).__name__}"
            )
        out: dict[str, Metric] = {}
        for m, d in metrics.items():
            if not isinstance(m, str) or m not in self._cols:  # a typo would silently keep the guessed direction
                raise InvalidTableError(
                    f"table {self.name!r}: metrics describes {m!r}, which is not a column; columns are {list(self._cols)}"
                )
            if d is None:
                continue
            if isinstance(d, str):
                d = Metric(m, d)  # type: ignore[arg-type]  # the direction check below names a bad word
            elif not isinstance(d, Metric):
                raise InvalidTableError(
                    f"table {self.name!r}: metrics[{m!r}] must be a Metric or 'max'/'min', got {type(d).__name__} {d!r}"
                )
            elif d.name != m:
                raise InvalidTableError(f"table {self.name!r}: metrics[{m!r}] describes another metric, {d.name!r}")
            out[m] = d
        return out

    # ------------------------------------------------------------------ shape
    @property
    def metrics(self) -> list[str]:
        """Metric (column) names in table order."""
        return _MetricNames(self._cols, self.skipped_columns)

    @property
    def skipped_columns(self) -> dict[str, str]:
        """Columns of the CSV file that :meth:`from_csv` did not read as metrics -> why (the
        first cell that is not a number, empty in every row, or not among ``metric_columns``);
        empty for a table not read from a file."""
        # getattr: a table pickled before this attribute existed has none
        return dict(getattr(self, "_skipped", {}))

    def metric(self, name: str) -> Metric:
        """The ``Metric`` description of ``name``."""
        self._check_metric(name)
        return self._metrics[name]

    def direction(self, metric: str) -> Direction:
        """``"max"`` or ``"min"``: which way is better for ``metric``."""
        return self.metric(metric).direction

    @property
    def archs(self) -> tuple[ArchGraph, ...]:
        """The table's architectures, in row order."""
        return self._archs

    def __len__(self) -> int:
        return len(self._archs)

    def __contains__(self, arch: object) -> bool:
        try:
            self.row(arch)  # type: ignore[arg-type]
        except NagenError:
            return False
        return True

    def __repr__(self) -> str:
        return f"Benchmark({self.name!r}, space={self.space.name!r}, rows={len(self)}, metrics={len(self._cols)})"

    # ------------------------------------------------------------------ lookups
    def _check_metric(self, metric: str) -> None:
        if not isinstance(metric, str) or metric not in self._cols:  # a list would be unhashable: TypeError
            raise UnknownMetricError(unknown_metric_message(self.name, metric, self._cols, self.skipped_columns))

    def row(self, arch: ArchGraph | str) -> int:
        """Row index of ``arch`` (an ``ArchGraph`` or a string the space parses).

        Raises:
            InvalidArchitectureError: the architecture is not valid in the table's space.
            ArchitectureNotInTableError: it is valid but the table has no row for it.
        """
        a = self.space.validate(arch)
        try:
            return self._row[a]
        except KeyError:
            raise ArchitectureNotInTableError(
                f"architecture {self.space.format(a)!r} is valid in space {self.space.name!r} "
                f"but has no row in table {self.name!r} ({len(self)} rows)"
            ) from None

    def query(self, arch: ArchGraph | str, metric: str) -> float:
        """The table's value of ``metric`` for ``arch`` (NaN where the table has no measurement)."""
        self._check_metric(metric)
        return float(self._cols[metric][self.row(arch)])

    def query_many(self, archs: Iterable[ArchGraph | str], metric: str) -> np.ndarray:
        """Values of ``metric`` for several architectures, as a float array.

        Raises:
            InvalidArgumentError: ``archs`` is one architecture (a string would be read character
                by character) or not an iterable.
        """
        self._check_metric(metric)
        if isinstance(archs, (str, ArchGraph)) or not isinstance(archs, Iterable):
            raise InvalidArgumentError(
                f"query_many takes an iterable of architectures, got {type(archs).__name__} {archs!r}; use query() for one"
            )
        rows = [self.row(a) for a in archs]
        return self._cols[metric][rows].copy()

    def values(self, metric: str) -> np.ndarray:
        """The whole column of ``metric`` (read-only), aligned with :attr:`archs`."""
        self._check_metric(metric)
        return self._cols[metric]

    def measured_classes(self, metrics: Sequence[str]) -> dict[str, ArchGraph]:
        """Canonical hash -> the first row of that equivalence class whose ``metrics`` are all
        measured (finite), in row order: what a search confined to this table may propose
        (equivalent rows are one architecture, labelled once)."""
        ok = np.ones(len(self._archs), dtype=bool)
        for m in metrics:
            ok &= np.isfinite(self.values(m))
        rows: dict[str, ArchGraph] = {}
        for a, keep in zip(self._archs, ok):
            if keep:
                rows.setdefault(a.canonical_hash(), a)
        return rows

    # ------------------------------------------------------------------ summaries
    def optimum(self, metric: str) -> Optimum:
        """The best architecture for ``metric`` (max or min by the metric's direction), ties to the first row."""
        col = self.values(metric)
        if np.isnan(col).all():
            raise InvalidTableError(f"metric {metric!r} of table {self.name!r} has no values")
        k = int(np.nanargmax(col) if self.direction(metric) == "max" else np.nanargmin(col))
        return Optimum(self._archs[k], float(col[k]))

    def percentile(self, metric: str, value: float) -> float:
        """Share (in %, 0-100) of the table's architectures that ``value`` is at least as good as.

        For a maximised metric, the share with a value ``<= value``; for a minimised one, the
        share with a value ``>= value``. The optimum has percentile 100; "top 1%" means
        ``percentile >= 99``. Unmeasured (NaN) rows are ignored.

        Raises:
            InvalidArgumentError: ``value`` is not a number (or is NaN).
            InvalidTableError: the column has no measured value.
        """
        if not is_real(value) or math.isnan(float(value)):
            raise InvalidArgumentError(f"value must be a number, got {value!r}")
        col = self.values(metric)
        col = col[~np.isnan(col)]
        if not len(col):  # the share of nothing: NaN and a RuntimeWarning
            raise InvalidTableError(f"metric {metric!r} of table {self.name!r} has no values")
        value = float(value)
        beaten = (col <= value) if self.direction(metric) == "max" else (col >= value)
        return 100.0 * float(beaten.mean())

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        space: SearchSpace | str,
        arch_column: str = "arch",
        metric_columns: Sequence[str] | None = None,
        *,
        directions: Mapping[str, Direction] | None = None,
        name: str | None = None,
    ) -> Benchmark:
        """Load a user's table (plain or ``.gz`` CSV with a header row) for any space.

        Args:
            path: the CSV file.
            space: the space (or its registered name) whose ``parse`` reads ``arch_column``.
            arch_column: column with architecture strings (space format or generic ``ArchGraph``).
            metric_columns: columns to load as metrics (any iterable of names, read once);
                default every column except ``arch_column`` whose values are all numbers (empty
                cells become NaN; a column whose every cell Python's ``float`` reads, such as one
                holding ``inf`` or ``1_000``, counts as numeric, so its bad cell is reported
                rather than the column silently dropped), skipping a column whose cells are all
                empty (a blank notes column, a trailing comma): it holds no measurement. Name such
                a column here to load it anyway, as an unmeasured metric. A column left out is
                listed in :attr:`skipped_columns` with the reason (its first cell that is not a
                number, e.g. ``N/A`` on line 7, or empty in every row), and asking the table for it
                as a metric raises an ``UnknownMetricError`` that gives that reason.
            directions: ``"max"``/``"min"`` per metric, to override the guess; unspecified ones
                are guessed from the name as :class:`Benchmark` describes (costs such as
                ``lat_*``, ``*_ms``, ``params``, ``flops`` and errors or losses such as
                ``*_err``, ``*_error``, ``*_loss`` are minimised, everything else maximised).
            name: table name (default: the file stem).

        A metric cell (blanks around it ignored) holds a finite decimal number: ASCII digits with
        an optional sign, decimal point and exponent (``91.5``, ``-3``, ``.5``, ``1.2e-3``), or,
        for a missing measurement, nothing or ``nan`` (any case). Anything else is refused,
        including what Python's ``float`` would also read: digit separators (``1_000``),
        ``inf``/``infinity``, a number too large for a float (``1e400``) and non-ASCII digits.

        Raises:
            InvalidTableError: ``path`` not a path, missing or unreadable file (a directory, not
                UTF-8, a bad ``.gz``), missing column, a duplicated header name, no data rows, a row
                with more or fewer fields than the header, a metric cell that is not a finite
                decimal number (as above; the message names the file, line, column and cell),
                a duplicate architecture, an architecture string that is not valid in ``space``
                (the physical file line where the record starts is named, counting blank lines
                and quoted line breaks), or bad ``metric_columns`` or ``directions``.
        """
        import nagen.spaces

        space = nagen.spaces.get(space)
        if not isinstance(path, (str, os.PathLike)):  # Path(None): a bare TypeError
            raise InvalidTableError(f"path must be a file path (a str or Path), got {type(path).__name__} {path!r}")
        p = Path(path)
        if p.is_dir():  # "no such CSV file" would be wrong: it exists
            raise InvalidTableError(f"{str(p)!r} is a directory, not a CSV file")
        if not p.is_file():
            raise InvalidTableError(f"no such CSV file: {str(p)!r}")
        gz = p.suffix.lower() == ".gz"  # "T.CSV.GZ" is gzip too
        opener: Callable[..., io.TextIOBase] = gzip.open if gz else open  # type: ignore[assignment]
        try:
            # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") would otherwise glue onto the first column's name
            with opener(p, "rt", encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f)
                # the header is the first non-blank line (a blank one above it read as a header of
                # no columns, then every row had "more fields than the header's 0")
                header: list[str] = next((rec for rec in reader if rec), [])
                # header cells are names: "arch, acc" names 'acc', not ' acc'
                header = [c.strip() for c in header]
                records: list[list[str]] = []
                lines: list[int] = []  # physical file line where each record starts
                last = reader.line_num
                for rec in reader:
                    # a record starts on the line after the previous one ended: blank lines
                    # (skipped, as DictReader does) and quoted line breaks shift it from row + 2
                    if rec:
                        records.append(rec)
                        lines.append(last + 1)
                    last = reader.line_num
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as e:  # not UTF-8 text, a bad .gz, a malformed CSV
            raise InvalidTableError(f"{p.name}: cannot read it as a UTF-8 CSV{' (gzip)' if gz else ''} file: {e}") from e
        dup = sorted({c for c in header if header.count(c) > 1})
        if dup:  # a dict per row would keep only the last of them, silently
            raise InvalidTableError(f"{p.name}: the header names column(s) {dup} more than once")
        if not records:
            raise InvalidTableError(f"{p.name}: no data rows below the header")
        for rec, line in zip(records, lines):
            if len(rec) > len(header):
                raise InvalidTableError(f"{p.name} line {line}: more fields than the header's {len(header)}")
            if len(rec) < len(header):
                raise InvalidTableError(f"{p.name} line {line}: fewer fields than the header's {len(header)} (use an empty field for a missing value)")
        rows = [dict(zip(header, rec)) for rec in records]
        if arch_column not in header:
            raise InvalidTableError(f"{p.name}: no column {arch_column!r}; columns are {header}")
        if isinstance(metric_columns, str):  # one name, not its characters
            metric_columns = [metric_columns]
        elif metric_columns is not None:
            # read a one-shot iterable (a generator) once: the checks below go over it several times
            if not isinstance(metric_columns, Iterable):
                raise InvalidTableError(f"{p.name}: metric_columns must be column names, got {type(metric_columns).__name__} {metric_columns!r}")
            metric_columns = list(metric_columns)
        blank: list[str] = []
        # column -> why it is not a metric: a typo'd cell ("N/A") leaves its column out as a text
        # column would be, and the user then asks for that metric; the answer must name the cell
        skipped: dict[str, str] = {}
        if metric_columns is None:
            # an all-empty column (blank notes, a trailing comma) holds no measurement: not a metric,
            # unless a direction is given for it (a metric declared, not yet measured)
            declared = set(directions) if isinstance(directions, Mapping) else set()
            blank = [c for c in header if c != arch_column and c not in declared and not any(r[c].strip() for r in rows)]
            for c in blank:
                skipped[c] = (
                    f"it is empty in every row of {p.name}, so it holds no measurement "
                    "(name it in metric_columns, or give it a direction, to load it as an unmeasured metric)"
                )
            metric_columns = []
            for c in header:
                if c == arch_column or c in blank:
                    continue
                bad = [(line, r[c].strip()) for r, line in zip(rows, lines) if not _looks_numeric(r[c])]
                if not bad:
                    metric_columns.append(c)
                    continue
                more = f", and {len(bad) - 1} more of its {len(rows)} cells are not numbers either" if len(bad) > 1 else ""
                skipped[c] = (
                    f"{p.name} line {bad[0][0]} has {bad[0][1]!r}, not a number{more} (a column is read as a metric "
                    "only if every cell is a number, or empty or nan where not measured)"
                )
        else:
            missing = [c for c in metric_columns if c not in header]
            if missing:
                raise InvalidTableError(f"{p.name}: metric columns {missing} not in the header {header}")
            if arch_column in metric_columns:
                raise InvalidTableError(f"{p.name}: the architecture column {arch_column!r} cannot also be a metric column")
            metric_columns = list(dict.fromkeys(metric_columns))
            for c in header:
                if c != arch_column and c not in metric_columns:
                    skipped[c] = f"it is not one of the metric_columns {metric_columns} given to from_csv"
        if not metric_columns:
            why = f" (skipped {blank}, empty in every row: name them in metric_columns to load them)" if blank else ""
            text = [f"column {c!r}: {r}" for c, r in skipped.items() if c not in blank]
            raise InvalidTableError(
                f"{p.name}: no numeric metric columns found; columns are {header}{why}{'; ' if text else ''}{'; '.join(text)}"
            )
        archs: list[ArchGraph] = []
        cols = {c: np.empty(len(rows)) for c in metric_columns}
        seen: dict[ArchGraph, int] = {}  # architecture -> file line
        for k, (r, line) in enumerate(zip(rows, lines)):
            try:
                archs.append(space.parse(r[arch_column]))
            except InvalidArchitectureError as e:
                raise InvalidTableError(f"{p.name} line {line}: {e}") from e
            for c in metric_columns:
                try:
                    cols[c][k] = _cell_value(r[c])
                except ValueError as e:
                    raise InvalidTableError(f"{p.name} line {line}: column {c!r} holds {r[c].strip()!r}, {e}") from None
            if archs[-1] in seen:
                raise InvalidTableError(
                    f"{p.name} lines {seen[archs[-1]]} and {line} hold the same architecture {space.format(archs[-1])!r}"
                )
            seen[archs[-1]] = line
        if directions is not None and not isinstance(directions, Mapping):
            raise InvalidTableError(f"directions must map metric names to 'max' or 'min', got {directions!r}")
        dirs = dict(directions or {})
        unknown = set(dirs) - set(metric_columns)
        if unknown:
            raise InvalidTableError(f"directions given for {sorted(unknown)}, which are not metric columns {list(metric_columns)}")
        bad = {m: d for m, d in dirs.items() if d not in ("max", "min")}
        if bad:
            raise InvalidTableError(f"directions must be 'max' or 'min', got {bad}")
        metrics = {c: Metric(c, dirs.get(c, _guess_direction(c))) for c in metric_columns}
        # the stem, as documented: "runs.v2.csv.gz" is table "runs.v2"
        stem = Path(p.stem).stem if gz else p.stem
        table = cls(name or stem, space, archs, cols, metrics, provenance=f"user table {p}")
        table._skipped = skipped
        return table


#: a metric cell's number: ASCII digits, optional sign, decimal point and exponent (Python's float()
#: also reads "1_000", "inf", "infinity" and non-ASCII digits such as "\u0661\u0662")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: a metric cell's missing measurement besides an empty one (as NumPy, pandas or C's printf write NaN)
_MISSING = re.compile(r"[+-]?nan", re.IGNORECASE)
_ALLOWED = (
    "A metric cell holds a finite decimal number such as 91.5, -3 or 1.2e-3 (ASCII digits with an optional sign, "
    "decimal point and exponent; no digit separators, no inf), or is empty or nan if not measured"
)


def _looks_numeric(text: str) -> bool:
    """Whether Python's ``float`` reads ``text`` (or it is blank): how :meth:`Benchmark.from_csv` picks
    metric columns, so that a column with one bad number (``inf``, ``1_000``) is reported by
    :func:`_cell_value` rather than silently left out."""
    if not text.strip():
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell_value(text: str) -> float:
    """The value of a metric cell (blanks around it ignored): NaN for an empty cell or ``nan``, else
    a finite decimal number.

    Raises:
        ValueError: anything else, the message saying why and what a cell may hold.
    """
    text = text.strip()
    if not text or _MISSING.fullmatch(text):
        return math.nan
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"not a number (a finite one). {_ALLOWED}")
    v = float(text)
    if math.isinf(v):  # "1e400": a float cannot hold it, float() returns inf
        raise ValueError(f"a number too large for a float (it would be read as {v}). {_ALLOWED}")
    return v


# ---------------------------------------------------------------------- shipped tables
_loaders: Registry[Callable[[], Benchmark]] = Registry("benchmark table", UnknownBenchmarkError)


def register_loader(name: str, loader: Callable[[], Benchmark], *, overwrite: bool = False) -> None:
    """Make ``load(name)`` return ``loader()`` (called once, then cached).

    Args:
        name: the table's name.
        loader: called with no argument, returns the :class:`Benchmark`.
        overwrite: replace a loader already registered under ``name`` (and forget its loaded table).

    Raises:
        InvalidArgumentError: ``loader`` is not callable.
        DuplicateRegistrationError: ``name`` is taken (and not ``overwrite``) or not a name.
    """
    if not callable(loader):  # else load(name) failed later with "'int' object is not callable"
        raise InvalidArgumentError(f"a benchmark table loader must be callable, got {type(loader).__name__} {loader!r}")
    _loaders.add(name, loader, overwrite=overwrite)
    _tables.pop(name, None)  # a replaced loader's table must not be served again


def names() -> list[str]:
    """Names of the tables ``load`` knows."""
    return _loaders.names()


def load(name: str | Benchmark = "nb201") -> Benchmark:
    """A shipped or registered benchmark table (loaded once per process); a ``Benchmark`` given
    instead of a name is returned as it is, so every ``benchmark=`` takes either.

    Raises:
        UnknownBenchmarkError: no table of that name (the message lists the available ones).
    """
    if isinstance(name, Benchmark):
        return name
    if not isinstance(name, str):
        raise UnknownBenchmarkError(
            f"a benchmark table is a name, e.g. 'nb201', or a nagen.benchmarks.Benchmark; got {type(name).__name__} {name!r:.80}"
        )
    if name not in _tables and name not in _loaders.names():
        import nagen.spaces

        if name in nagen.spaces.names():
            # callers look a space's table up by the space's name: "no table 'nb101', did you mean
            # 'nb201'?" would name a table the user never typed
            raise UnknownBenchmarkError(
                f"space {name!r} has no benchmark table (tables: {', '.join(_loaders.names())}), so nothing can label its "
                "architectures by lookup; label them with a Study and TrainingLabeller or CallableLabeller, or give a table "
                f"(Benchmark.from_csv) as benchmark= (search, pareto, generate; CLI: --benchmark FILE.csv) or register it under the space's name: "
                f"register_loader({name!r}, ...)"
            )
    return _load(name)


#: tables loaded so far, by name (each loader runs once per process)
_tables: dict[str, Benchmark] = {}


def _load(name: str) -> Benchmark:
    if name not in _tables:
        table = _loaders.resolve(name)()
        if not isinstance(table, Benchmark):  # a wrong loader would otherwise fail far from here
            raise InvalidTableError(f"the loader of benchmark table {name!r} returned {type(table).__name__}, not a Benchmark")
        _tables[name] = table
    return _tables[name]


_NB201_METRICS = {
    "cifar10_test": Metric("cifar10_test", "max", "%", "CIFAR-10 test accuracy after 200 epochs (train on 50k)"),
    "cifar100_test": Metric("cifar100_test", "max", "%", "CIFAR-100 x-test accuracy after 200 epochs"),
    "imagenet16_test": Metric("imagenet16_test", "max", "%", "ImageNet16-120 x-test accuracy after 200 epochs"),
    "params": Metric("params", "min", "count", "parameters of the CIFAR-10 network (C=16, N=5)"),
    "flops": Metric("flops", "min", "multiply-adds", "FLOPs of the CIFAR-10 network on one 3x32x32 input"),
}


def _load_nb201() -> Benchmark:
    import nagen.spaces

    space = nagen.spaces.get("nb201")
    raw = resources.files("nagen.data").joinpath("nb201.csv.gz").read_bytes()
    text = gzip.decompress(raw).decode()
    lines = text.splitlines()
    header = lines[0].split(",")
    # "arch" strings contain no commas, so a plain split is exact and ~5x faster than csv
    body = [ln.split(",") for ln in lines[1:]]
    i_ops = header.index("ops")
    metric_names = header[3:]
    values = np.array([r[3:] for r in body], dtype=np.float64)
    archs = [space.from_op_ids([int(v) for v in r[i_ops].split("-")]) for r in body]
    metrics = {}
    for m in metric_names:
        if m in _NB201_METRICS:
            metrics[m] = _NB201_METRICS[m]
        elif m.endswith("_12ep"):
            ds, split = m.split("_")[0], m.split("_")[1]
            metrics[m] = Metric(m, "max", "%", f"{ds} {split} accuracy of the 12-epoch schedule (hp=12)")
        elif m.startswith("lat_"):
            metrics[m] = Metric(m, "min", "ms", f"latency on {m[4:-3]} (HW-NAS-Bench / HELP)")
    cols = {m: values[:, k] for k, m in enumerate(metric_names)}
    provenance = resources.files("nagen.data").joinpath("PROVENANCE.md").read_text()
    return Benchmark("nb201", space, archs, cols, metrics, provenance)


register_loader("nb201", _load_nb201)
