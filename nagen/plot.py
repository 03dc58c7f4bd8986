"""Figures: architecture drawings, search traces, Pareto fronts, op distributions (matplotlib).

>>> import nagen.plot as NP
>>> ax = NP.draw_arch("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|")  # doctest: +SKIP
>>> NP.save(ax.figure, "cell.png")                                                                      # doctest: +SKIP

Every function draws into ``ax`` when given (so figures compose) and otherwise makes a new
figure; each returns the ``Axes``. matplotlib is imported on first use, so ``import nagen``
stays light.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nagen.errors import InvalidArgumentError, NagenError, check_int, choices_hint, is_real
from nagen.graph import ZERO_OPS, ArchGraph

__all__ = ["draw_arch", "op_distribution", "search_traces", "search_runs", "pareto_front", "save", "best_so_far"]

#: what the band around each median trace spans (said in the legend, so a reader need not guess)
_BAND = (0.25, 0.75)

#: a fixed colour per common op, so the same op looks the same in every figure
_OP_COLOURS = {
    "input": "#d9d9d9",
    "output": "#d9d9d9",
    "none": "#ffffff",
    "zero": "#ffffff",
    "skip_connect": "#8dd3c7",
    "nor_conv_1x1": "#80b1d3",
    "nor_conv_3x3": "#fb8072",
    "avg_pool_3x3": "#fdb462",
    "conv1x1-bn-relu": "#80b1d3",
    "conv3x3-bn-relu": "#fb8072",
    "maxpool3x3": "#fdb462",
}
_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def _plt() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower().startswith("qt") and not _has_display():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - matplotlib is in the notebooks/dev extras
        from nagen.errors import MissingDependencyError

        raise MissingDependencyError("plotting needs matplotlib: pip install 'nagen[notebooks]'") from e
    return plt


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _plt().subplots(figsize=figsize)
    return ax


def _check_ax(ax: Any, fn: str) -> None:
    """Refuse an ``ax`` that is neither None nor a matplotlib ``Axes`` before anything is drawn
    (else it fails deep inside the drawing with an ``AttributeError``)."""
    if ax is None:
        return
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        hint = " (a Figure: pass fig.add_subplot() or fig.gca())" if hasattr(ax, "add_subplot") else ""
        raise InvalidArgumentError(
            f"{fn}: ax must be a matplotlib Axes or None (a new figure), got {type(ax).__name__}{hint}"
        )


def _arch(arch: ArchGraph | str, space: Any) -> tuple[ArchGraph, str]:
    """The graph and its display string (the space's own format when the space is known)."""
    import nagen.spaces

    if space is not None:
        sp = nagen.spaces.get(space)
        g = sp.validate(arch)
        return g, sp.format(g)
    if isinstance(arch, ArchGraph):
        nb = nagen.spaces.get("nb201")
        return arch, nb.format(arch) if nb.is_valid(arch) else arch.to_string()
    try:
        nb = nagen.spaces.get("nb201")
        g = nb.parse(arch)
        return g, nb.format(g)
    except NagenError:
        g = ArchGraph.from_string(arch)
        return g, g.to_string()


def _layers(g: ArchGraph) -> list[int]:
    """Longest-path depth of each node: a layered drawing where every edge points right."""
    depth = [0] * g.num_nodes
    for j in range(g.num_nodes):
        preds = g.predecessors(j)
        depth[j] = max((depth[i] + 1 for i in preds), default=0)
    return depth


def draw_arch(
    arch: ArchGraph | str, space: Any = None, *, ax: Any = None, title: str | None = None, pruned: bool = False
) -> Any:
    """Draw an architecture DAG left to right, one box per node labelled with its op.

    Args:
        arch: an ``ArchGraph`` or a string of ``space`` (NB201 strings are recognised by default).
        space: the space that parses ``arch`` when it is a string.
        ax: draw into these axes (default: a new figure).
        title: axes title (default: the architecture's string), wrapped at 80 characters; its
            newlines are not kept, so to put text on separate lines call ``ax.set_title`` afterwards.
        pruned: draw the computationally equivalent pruned graph (dead nodes removed).

    Nodes with a zero op (``graph.ZERO_OPS``) are drawn dashed: they add nothing to the output.

    Raises:
        InvalidArgumentError: ``ax`` not an ``Axes`` or None, ``title`` not a string or None.
    """
    _check_ax(ax, "draw_arch")
    if title is not None and not isinstance(title, str):
        raise InvalidArgumentError(
            f"draw_arch: title must be a string or None (the architecture's string), got {type(title).__name__} {title!r}"
        )
    g, text = _arch(arch, space)
    if pruned:
        g = g.pruned()
    depth = _layers(g)
    ax = _axes(ax, (1.6 + 1.5 * (max(depth) + 1), 3.2))
    by_layer: dict[int, list[int]] = {}
    for node, d in enumerate(depth):
        by_layer.setdefault(d, []).append(node)
    pos = {}
    for d, nodes in by_layer.items():
        for k, node in enumerate(nodes):
            pos[node] = (d, (len(nodes) - 1) / 2 - k)
    for i, j in g.edges:
        (x0, y0), (x1, y1) = pos[i], pos[j]
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 1.0, "shrinkA": 18, "shrinkB": 18,
                        "connectionstyle": "arc3,rad=0.08"},
        )
    for node, (x, y) in pos.items():
        op = g.ops[node]
        dead = op in ZERO_OPS
        ax.text(
            x, y, op.replace("_", "\n", 1) if len(op) > 10 else op, ha="center", va="center", fontsize=7.5,
            bbox={"boxstyle": "round,pad=0.35", "fc": _OP_COLOURS.get(op, "#e5e5e5"), "ec": "#999999" if dead else "#333333",
                  "ls": "--" if dead else "-"},
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_axis_off()
    text = title if title is not None else text
    import textwrap

    ax.set_title("\n".join(textwrap.wrap(text, 80, break_on_hyphens=False)), fontsize=8)
    return ax


def op_distribution(
    space: Any, samples: Mapping[str, Sequence[ArchGraph]] | Sequence[ArchGraph], *, ax: Any = None, reference: bool = True
) -> Any:
    """Grouped bars of op frequencies over the non-input/output nodes of each sample set.

    Args:
        space: the space (name or object); its ``ops`` are the bars.
        samples: ``{label: archs}`` (or one list, labelled "generated").
        ax: draw into these axes (default: a new figure).
        reference: add the whole space's frequencies (enumerated when the space is finite,
            otherwise 5,000 uniform samples) as the first group.

    Raises:
        InvalidArgumentError: no group and no ``reference``, an empty group (named), an item that
            is no architecture, or architectures with ops that are not ``space``'s (the message
            names those ops and the space's).
        InvalidArchitectureError: an architecture string that does not parse in ``space``.
    """
    import nagen.spaces

    _check_ax(ax, "op_distribution")
    sp = nagen.spaces.get(space)
    if isinstance(samples, Mapping):
        for label, archs in samples.items():
            _check_arch_list(archs, f"sample group {label!r}")
        groups = dict(samples)
    else:
        _check_arch_list(samples, "samples")
        groups = {"generated": list(samples)}
    # architecture strings (e.g. a search's history) count like the graphs they parse to
    groups = {k: [sp.parse(a) if isinstance(a, str) else a for a in v] for k, v in groups.items()}
    if not groups and not reference:
        raise InvalidArgumentError("op_distribution got no sample set to draw: give {label: archs} or reference=True")
    for label, archs in groups.items():
        _check_op_group(sp, label, archs)
    if reference:
        ref = list(sp.enumerate()) if sp.size is not None and sp.size <= 50_000 else sp.sample(5000, 0)
        groups = {"space": ref, **groups}
    ops = list(sp.ops)
    ax = _axes(ax, (1.2 + 1.1 * len(ops), 3.2))
    width = 0.8 / len(groups)
    for k, (label, archs) in enumerate(groups.items()):
        counts = np.zeros(len(ops))
        index = {op: i for i, op in enumerate(ops)}
        for a in archs:
            for op in a.ops[1:-1]:  # every op is the space's: _check_op_group refused the others
                counts[index[op]] += 1
        freq = counts / max(counts.sum(), 1)
        ax.bar(np.arange(len(ops)) + (k - (len(groups) - 1) / 2) * width, freq, width, label=f"{label} ({len(archs):,})",
               color=_PALETTE[k % len(_PALETTE)])
    ax.set_xticks(np.arange(len(ops)), [o.replace("_", " ") for o in ops], fontsize=8)
    ax.set_ylabel("share of op nodes")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(f"op distribution in {sp.name}", fontsize=9)
    return ax


def _check_arch_list(archs: Any, what: str) -> None:
    """Refuse ``archs`` that is no collection of architectures: a string or a single
    ``ArchGraph`` would be iterated as characters or fail, None or a number is no list at all."""
    if isinstance(archs, (str, bytes, ArchGraph)) or not isinstance(archs, Iterable):
        hint = "; for one architecture wrap it: [arch]" if isinstance(archs, (str, ArchGraph)) else ""
        raise InvalidArgumentError(
            f"op_distribution: {what} must be a list of architectures (ArchGraphs or strings), or samples a "
            f"{{label: list of architectures}} dict; got {type(archs).__name__}{hint}"
        )


def _check_op_group(sp: Any, label: str, archs: Sequence[Any]) -> None:
    """Refuse a sample group ``op_distribution`` cannot count against ``sp``'s ops: an empty one,
    one holding something other than architectures, or architectures of another space (their
    ops would fall outside every bar and be drawn as all-zero bars, as if the space's ops never occurred)."""
    if not archs:
        raise InvalidArgumentError(
            f"op_distribution: sample group {label!r} is empty; give at least one architecture per group (or drop the group)"
        )
    bad = next((a for a in archs if not isinstance(a, ArchGraph)), None)
    if bad is not None:
        hint = " (a generated result: pass [g.arch for g in result])" if isinstance(getattr(bad, "arch", None), ArchGraph) else ""
        raise InvalidArgumentError(
            f"op_distribution: sample group {label!r} holds a {type(bad).__name__}, not an ArchGraph or an "
            f"architecture string{hint}"
        )
    known = set(sp.ops)
    foreign = sorted({op for a in archs for op in a.ops[1:-1] if op not in known})
    if foreign:
        n_bad = sum(1 for a in archs if any(op not in known for op in a.ops[1:-1]))
        raise InvalidArgumentError(
            f"op_distribution: {n_bad} of the {len(archs)} architectures in sample group {label!r} use ops "
            f"{foreign} that are not ops of space {sp.name!r} {choices_hint(sp.ops)}; "
            "were they drawn from another space? Pass the space they belong to"
        )


def best_so_far(values: Sequence[float], maximize: bool = True) -> np.ndarray:
    """Running best of ``values`` in label order (NaN, i.e. failed trials, are skipped)."""
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"values must be numbers in label order, got {values!r}") from None
    if v.ndim != 1:
        raise InvalidArgumentError(f"values must be a flat list (one number per label), got shape {v.shape}")
    failed = np.isnan(v)
    v = np.where(failed, -np.inf if maximize else np.inf, v)
    out = np.maximum.accumulate(v) if maximize else np.minimum.accumulate(v)
    # NaN only before the first real value: an infinite value is still a value
    return np.where(np.cumsum(~failed) == 0, np.nan, out)


def search_traces(
    traces: Mapping[str, Sequence[Sequence[float]]],
    *,
    ax: Any = None,
    maximize: bool = True,
    optimum: float | None = None,
    ylabel: str = "best value found",
    regret: bool = False,
) -> Any:
    """Best-so-far curves of several methods over labels: per method one line, the median over
    its seeds, with a band from the 25% to the 75% quantile of the seeds (the legend says so).

    Seeds may have different lengths: a seed shorter than the longest of its method (one that
    stopped early, e.g. because it found the optimum or labelled every distinct architecture) is
    carried forward at its last best value, so it stays in the median instead of cutting every
    seed's curve short. That reads a shorter run as "nothing better would have been found", which
    is wrong for a run that simply had a smaller budget: compare runs of equal budgets.

    Args:
        traces: ``{method: [values of seed 0 in label order, values of seed 1, ...]}``.
        ax: draw into these axes (default: a new figure).
        maximize: direction of the objective (False: best = running minimum).
        optimum: the table's optimum, drawn as a dashed line (or subtracted with ``regret``).
        ylabel: the y-axis label (without ``regret``).
        regret: plot ``|optimum - best so far|`` on a log axis instead (needs ``optimum``).

    Raises:
        InvalidArgumentError: ``traces`` not ``{method: [seeds' value lists]}``, a seed with no
            value, no seed at all, ``regret`` without ``optimum`` or a non-finite ``optimum``.
    """
    _check_ax(ax, "search_traces")
    if regret and optimum is None:
        raise InvalidArgumentError("regret=True needs the optimum")
    if optimum is not None and not (isinstance(optimum, (int, float, np.number)) and np.isfinite(optimum)):
        raise InvalidArgumentError(f"optimum must be a finite number or None, got {optimum!r}")
    if not isinstance(traces, Mapping):
        raise InvalidArgumentError(f"traces are {{method: [values of each seed]}}, got {type(traces).__name__}")
    curves_of: dict[str, list[np.ndarray]] = {}
    for method, seeds in traces.items():
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
            raise InvalidArgumentError(f"traces[{method!r}] must be a list of seeds' value lists, got {type(seeds).__name__}")
        if any(np.ndim(s) == 0 for s in seeds):
            raise InvalidArgumentError(
                f"traces[{method!r}] must be a list of seeds, each a list of values; for one seed write [values]"
            )
        curves = [best_so_far(s, maximize) for s in seeds]
        empty = [k for k, c in enumerate(curves) if not len(c)]
        if empty:
            # an empty seed has no last value to carry forward; dropping it would silently shrink
            # the seed count the legend reports
            raise InvalidArgumentError(f"no trace to plot for traces[{method!r}]: seed(s) {empty} have no value")
        if curves:
            curves_of[method] = curves
    if not curves_of:
        raise InvalidArgumentError(f"no trace to plot: every method has no seed ({list(traces)})")
    ax = _axes(ax, (5.5, 3.6))
    for k, method in enumerate(traces):
        if method not in curves_of:
            continue
        curves = curves_of[method]
        n = max(len(c) for c in curves)
        # an early-stopped seed keeps its last best (see the docstring): seeds x labels
        m = np.stack([np.concatenate([c, np.full(n - len(c), c[-1])]) for c in curves])
        if regret:
            m = np.abs(optimum - m)  # type: ignore[operator]
        x = np.arange(1, n + 1)
        colour = _PALETTE[k % len(_PALETTE)]
        ax.plot(x, np.nanmedian(m, 0), color=colour, label=f"{method} ({len(curves)} seed{'s' if len(curves) != 1 else ''})")
        ax.fill_between(x, np.nanquantile(m, _BAND[0], 0), np.nanquantile(m, _BAND[1], 0), color=colour, alpha=0.2, lw=0)
    if optimum is not None and not regret:
        ax.axhline(optimum, ls="--", color="k", lw=0.8, label="table optimum")
    if regret:
        ax.set_yscale("log")
    ax.set_xlabel("labels paid")
    ax.set_ylabel("regret" if regret else ylabel)
    ax.legend(fontsize=8, frameon=False, title=f"median over seeds, band {_BAND[0]:.0%}-{_BAND[1]:.0%} quantiles",
              title_fontsize=8)
    ax.grid(alpha=0.3)
    return ax


#: the keys of a search JSON that say what was searched; runs in one plot must agree on them
_RUN_OBJECTIVE_KEYS = ("space", "objective", "direction")


def search_runs(
    runs: Sequence[Any],
    *,
    sources: Sequence[str] | None = None,
    ax: Any = None,
    maximize: bool | None = None,
    optimum: float | None = None,
    ylabel: str | None = None,
    regret: bool = False,
) -> Any:
    """Best-so-far traces of search runs (``nagen search --json`` output), one line per method.

    The runs are grouped by their ``"method"`` and ``"setup"`` (surrogate, initial design, batch
    size, constraints): runs of one method whose setups differ are separate lines, labelled with
    what differs (``bo [surrogate=gnn]``); a run without a method (a file written before the key
    existed) is its own group, named after its source (the file name). Each group is drawn by
    :func:`search_traces`: the median best-so-far over its seeds against labels paid, with the
    25-75% quantile band; a seed shorter than the longest of its method is carried forward at its
    last best value. The direction comes from the runs' ``"direction"`` (``"min"``: best = running
    minimum). The x axis counts the labels in ``"history"``: failed labels are not in the JSON, so
    a run with failures paid more labels than it shows.

    Args:
        runs: search results: dicts as printed by ``nagen search --json`` (``SearchResult.to_dict()``),
            ``SearchResult`` objects, or paths of such JSON files.
        sources: a name per run, for messages and as the group name of a run without a method
            (default: the path, or ``runs[k]``).
        ax: draw into these axes (default: a new figure).
        maximize: None (default) follows the runs' ``"direction"`` (max when none has one, e.g.
            old files); True/False must agree with it.
        optimum, regret: as in :func:`search_traces`.
        ylabel: the y-axis label (default: ``best <objective> found``).

    Raises:
        InvalidArgumentError: no run, a run that is not search JSON (unreadable, not JSON, no
            ``"history"``, a history without one number ``"value"`` per label, a ``"seed"`` that
            is no integer, a ``"direction"`` other than ``"max"``/``"min"``), an empty
            history, runs of different spaces, objectives or directions, a ``maximize``
            the runs contradict, or one configuration's seed given twice.
    """
    if isinstance(runs, (str, bytes, os.PathLike, Mapping)) or not isinstance(runs, Sequence):
        raise InvalidArgumentError(f"runs must be a list of search results (dicts, SearchResults or JSON paths), got {type(runs).__name__}")
    if not runs:
        raise InvalidArgumentError("no run to plot: give the outputs of 'nagen search --json'")
    if sources is None:
        sources = [os.fspath(r) if isinstance(r, (str, os.PathLike)) else f"runs[{k}]" for k, r in enumerate(runs)]
    elif isinstance(sources, str) or len(sources) != len(runs):
        raise InvalidArgumentError(f"sources must name each of the {len(runs)} runs, got {sources!r}")
    datas = [_search_run(run, str(src)) for run, src in zip(runs, sources)]
    described = _one_objective(datas, [str(s) for s in sources])
    direction = described.get("direction")
    if maximize is None:
        maximize = direction != "min"
    elif direction is not None and bool(maximize) != (direction == "max"):
        asked = "maximise" if maximize else "minimise"
        raise InvalidArgumentError(
            f"asked to {asked}, but the runs say their objective {described.get('objective', '')!r} is "
            f"{'maximised' if direction == 'max' else 'minimised'} (\"direction\": {direction!r}); "
            "drop the override (--minimize, maximize=) to follow the files"
        )
    traces: dict[str, list[list[float]]] = {}
    for label, data in zip(_run_labels(datas, [str(s) for s in sources]), datas):
        traces.setdefault(label, []).append([float(r["value"]) for r in data["history"]])
    if ylabel is None:
        ylabel = f"best {described['objective']} found" if "objective" in described else "best value found"
    return search_traces(traces, ax=ax, maximize=bool(maximize), optimum=optimum, ylabel=ylabel, regret=regret)


def _run_labels(datas: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> list[str]:
    """The line each run belongs to: its method, plus what differs in its ``"setup"`` from the
    same method's other runs (``bo [surrogate=gnn]`` beside ``bo [surrogate=auto]``), so runs of
    different configurations are not pooled as seeds; a run without a method (an old file) is
    its own line, named after its source.

    Raises:
        InvalidArgumentError: a method that is not a name, or one configuration's seed given
            twice (the same file twice: the median would count it as two seeds).
    """
    keys = []
    for data, src in zip(datas, sources):
        method = data.get("method")
        if method is not None and not isinstance(method, str):
            raise InvalidArgumentError(f"{src!r} is not the output of 'nagen search --json' (method {method!r} is not a name)")
        setup = data.get("setup") or {}
        if not isinstance(setup, Mapping):
            raise InvalidArgumentError(f"{src!r} is not the output of 'nagen search --json' (its \"setup\" is not an object)")
        # a setting left unset (absent, null or empty, as "surrogate_options" of a run given none) is
        # one configuration, not a value to print: without this a run lacking it was labelled "k=?"
        given = {k: v for k, v in setup.items() if v is not None and v != {} and v != []}
        keys.append((method, {str(k): json.dumps(v, sort_keys=True) for k, v in given.items()}))
    seen: dict[tuple[str, str, Any], str] = {}
    for (method, setup), data, src in zip(keys, datas, sources):
        if method and data.get("seed") is not None:
            key = (method, json.dumps(setup, sort_keys=True), data["seed"])
            if key in seen:
                raise InvalidArgumentError(
                    f"{seen[key]!r} and {src!r} are the same run (method {method!r}, seed {data['seed']}, same setup): "
                    "a median over seeds would count it twice; give each seed once"
                )
            seen[key] = src
    labels = []
    for (method, setup), src in zip(keys, sources):
        if not method:
            labels.append(src)
            continue
        others = [s for m, s in keys if m == method]
        differ = sorted(k for k in {k for s in others for k in s} if len({s.get(k) for s in others}) > 1)
        # only the settings this run has: the others' extra ones are on their own lines
        shown = ", ".join(f"{k}={json.loads(setup[k])}" for k in differ if k in setup)
        labels.append(f"{method} [{shown}]" if shown else method)
    return labels


def _search_run(run: Any, source: str) -> dict[str, Any]:
    """``run`` (a dict, a ``SearchResult`` or a JSON file's path) as checked search JSON (one
    number ``"value"`` per label, an integer ``"seed"`` or none), else ``InvalidArgumentError``
    naming ``source``."""
    what = "is not the output of 'nagen search --json'"
    if isinstance(run, (str, os.PathLike)):
        try:
            text = Path(run).read_text()
        except OSError as e:
            raise InvalidArgumentError(f"cannot read {source!r}: {e.strerror or e}") from None
        try:
            run = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"{source!r} {what} (not one JSON object: {e})") from None
    elif not isinstance(run, Mapping) and callable(getattr(run, "to_dict", None)):
        run = run.to_dict()  # a SearchResult
    if not isinstance(run, Mapping) or "history" not in run:
        raise InvalidArgumentError(f"{source!r} {what} (no \"history\")")
    rows = run["history"]
    if not isinstance(rows, list):
        raise InvalidArgumentError(f"{source!r} {what} (its \"history\" is a {type(rows).__name__}, not a list)")
    if not all(isinstance(r, Mapping) and "value" in r for r in rows):
        # pareto JSON has a "history" too, with a dict of "values" per label: name the right command
        hint = " (this looks like 'nagen pareto --json' output: use 'nagen plot pareto')" if any(
            isinstance(r, Mapping) and "values" in r for r in rows
        ) else ""
        raise InvalidArgumentError(f"{source!r}: its history has no single \"value\" per label{hint}")
    bad = next((k for k, r in enumerate(rows) if not is_real(r["value"])), None)
    if bad is not None:
        raise InvalidArgumentError(f"{source!r}: history[{bad}] has value {rows[bad]['value']!r}, not a number")
    if not rows:
        raise InvalidArgumentError(f"{source!r} has an empty history (no label to trace)")
    seed = run.get("seed")
    # the seed keys the duplicate-run check: a list cannot be hashed there, and a string "0"
    # beside an int 0 would pass as another seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InvalidArgumentError(f"{source!r} {what} (seed {seed!r} is not an integer; leave it out if unknown)")
    return dict(run)


def _run_direction(value: str, source: str) -> str:
    """A run's ``"direction"`` as ``"max"`` or ``"min"``, read as objective specs are (case and
    blanks ignored, see ``parse_objectives``); anything else is refused, since drawing an
    unknown direction either way could show the wrong running best."""
    d = value.strip().lower()
    if d not in ("max", "min"):
        raise InvalidArgumentError(
            f"{source!r} is not the output of 'nagen search --json' (direction {value!r} is not 'max' or 'min')"
        )
    return d


def _one_objective(datas: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> dict[str, str]:
    """The space, objective and direction (``"max"``/``"min"``) the runs share (only the keys some
    run states), else ``InvalidArgumentError`` naming a run of each kind: best values of different
    objectives (or of one objective in different directions) are no trace to compare, and a
    direction other than max/min (in any case) is no direction."""
    shared: dict[str, str] = {}
    for key in _RUN_OBJECTIVE_KEYS:
        first: dict[Any, str] = {}  # value -> the first run that has it
        for data, src in zip(datas, sources):
            value = data.get(key)
            if value is None:  # old files do not say: they cannot contradict the others
                continue
            if not isinstance(value, str):
                raise InvalidArgumentError(f"{src!r} is not the output of 'nagen search --json' ({key} {value!r} is not a name)")
            if key == "direction":
                value = _run_direction(value, src)
            first.setdefault(value, src)
        if len(first) > 1:
            runs = ", ".join(f"{src!r} has {v!r}" for v, src in first.items())
            raise InvalidArgumentError(f"cannot plot runs of different objectives in one figure: {key} differs ({runs})")
        if first:
            shared[key] = str(next(iter(first)))
    return shared


def pareto_front(
    points: Any,
    *,
    directions: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    ref_point: Sequence[float] | None = None,
    true_front: Any = None,
    ax: Any = None,
    label: str = "labelled",
    objectives: Any = None,
) -> Any:
    """Two objectives: labelled points (dominated faded), their non-dominated front as a staircase,
    the reference point and, if given, the true front.

    >>> r = nagen.pareto("nb201", ["cifar10_valid_12ep:max", "params:min"], budget=50)  # doctest: +SKIP
    >>> NP.pareto_front(r)                       # axes, directions and reference point from r  # doctest: +SKIP

    Args:
        points: ``n x 2`` values in the objectives' own units (rows with NaN, e.g. failed
            trials, are skipped), or a ``ParetoResult`` / its ``to_dict()`` / the JSON of
            ``nagen pareto --json``: then its history is drawn, and directions, names and
            reference point default to the result's.
        directions: ``"max"``/``"min"`` per objective (default ``("max", "min")``).
        names: axis labels (default ``("objective 1", "objective 2")``).
        ref_point: the hypervolume reference point (drawn as a cross, with the dominated region shaded).
        true_front: ``m x 2`` values of the space's true front, for comparison.
        ax: draw into these axes (default: a new figure).
        label: legend prefix of the drawn points (``"<label>: front (k)"``, ``"<label>: dominated (k)"``).
        objectives: with a result only: the two of its objectives to draw (``"acc:max,params:min"``
            or a list of specs); needed when it has more than two.

    Raises:
        InvalidArgumentError: bad ``directions`` or ``names``, ``points`` or ``true_front`` not
            ``n x 2`` numbers, a ``ref_point`` that is not two finite numbers, no row with two
            finite values, a result with other than two objectives and no ``objectives``, or
            ``objectives`` without a result.
    """
    _check_ax(ax, "pareto_front")
    if _is_result(points):
        data = points.to_dict() if hasattr(points, "to_dict") else points
        pts, dirs, labels, ref = _result_points(data, objectives, "the result", "objectives=")
        points = pts
        directions = dirs if directions is None else directions
        names = labels if names is None else names
        ref_point = ref if ref_point is None else ref_point
    elif objectives is not None:
        raise InvalidArgumentError("objectives= picks two objectives of a pareto result; with an n x 2 array give directions= and names=")
    directions = ("max", "min") if directions is None else directions
    names = ("objective 1", "objective 2") if names is None else names
    if isinstance(directions, str) or len(directions) != 2 or any(str(d).lower() not in ("max", "min") for d in directions):
        raise InvalidArgumentError(f"directions must be two of 'max'/'min', got {directions!r}")
    directions = [str(d).lower() for d in directions]
    if isinstance(names, str) or len(names) != 2:
        raise InvalidArgumentError(f"names must be two axis labels (one per objective), got {names!r}")
    P = _n_by_2(points, "points")
    P = P[np.isfinite(P).all(axis=1)]  # failed trials (NaN values) have no place on the plane
    if not len(P):
        raise InvalidArgumentError("no point with two finite values to plot")
    if ref_point is not None:
        try:
            r = np.asarray(ref_point, dtype=float)
        except (TypeError, ValueError):
            r = np.array([np.nan])
        if r.shape != (2,) or not np.isfinite(r).all():
            raise InvalidArgumentError(f"ref_point must be two finite numbers (one per objective), got {ref_point!r}")
    sign = np.array([1.0 if d == "max" else -1.0 for d in directions])
    front = _non_dominated(P * sign)
    ax = _axes(ax, (5.2, 3.8))
    # plot with the cost on x and the accuracy on y when the first objective is maximised
    xi, yi = (1, 0) if directions[0] == "max" else (0, 1)
    # the staircase and the shaded region are built where both plotted axes are maximised
    # (multiply by s) and mapped back, so one construction serves every max/min combination
    s = sign[[xi, yi]]
    ax.scatter(P[~front, xi], P[~front, yi], s=10, color="#bbbbbb", label=f"{label}: dominated ({int((~front).sum())})")
    F = P[front][:, [xi, yi]]  # plot coordinates (x, y)
    ax.scatter(F[:, 0], F[:, 1], s=22, color=_PALETTE[0], zorder=3, label=f"{label}: front ({len(F)})")
    ax.plot(*_staircase(F, s), color=_PALETTE[0], lw=1)
    if true_front is not None:
        T = _n_by_2(true_front, "true_front")
        T = T[np.isfinite(T).all(axis=1)]
        ax.plot(*_staircase(T[:, [xi, yi]], s), color="k", lw=0.8, ls="--", label=f"true front ({len(T)})")
    if ref_point is not None:
        # the region the front dominates up to the reference point: its area is the hypervolume
        rxy = r[[xi, yi]]
        region = _dominated_region(F, s, rxy)
        if region is not None:
            xs, ys = region
            ax.fill_between(xs, ys, rxy[1], color=_PALETTE[0], alpha=0.12, lw=0, label="dominated region (hypervolume)")
        # zoom on the part of the plane that counts: points far worse than the reference point
        # only squash it. Worked out with y maximised (q = s_y * y), so a minimised y hides the
        # points far *above* the reference instead of below it.
        qy, qr = P[:, yi] * s[1], rxy[1] * s[1]
        lo = min(qr, (F[:, 1] * s[1]).min())
        hi = max(qy.max(), qr)
        pad = 0.08 * (hi - lo or 1.0)
        hidden = int((qy < lo - pad).sum())
        ax.set_ylim(*sorted(((lo - pad) * s[1], (hi + pad) * s[1])))
        if hidden:
            where = "below" if s[1] > 0 else "above"
            ax.text(0.99, 0.01, f"{hidden} points {where} the axis", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
        ax.scatter([rxy[0]], [rxy[1]], marker="x", color="r", s=40, zorder=4, label="reference point")
        ax.axhline(rxy[1], color="r", lw=0.5, ls=":")
        ax.axvline(rxy[0], color="r", lw=0.5, ls=":")
    ax.set_xlabel(f"{names[xi]} ({directions[xi]})")
    ax.set_ylabel(f"{names[yi]} ({directions[yi]})")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return ax


def _is_result(value: Any) -> bool:
    """``value`` is a pareto result: a ``ParetoResult`` or a mapping with a ``"history"``."""
    from nagen.multiobjective import ParetoResult

    return isinstance(value, ParetoResult) or (isinstance(value, Mapping) and "history" in value)


def _result_points(
    data: Mapping[str, Any], objectives: Any, source: str, option: str
) -> tuple[np.ndarray, list[str], list[str], list[float] | None]:
    """``(points [n, 2], directions, names, ref_point or None)`` of a pareto result's history.

    ``data`` is ``ParetoResult.to_dict()`` or the JSON of ``nagen pareto --json``; ``objectives``
    (the caller's ``option``) picks two of its objectives, else the result's own are used.

    Raises:
        InvalidArgumentError: the history has no per-label ``"values"`` (a search trace), no
            objectives are known, other than two are asked, some are not in the values, a
            drawn value is no number, or the ``"ref_point"`` is malformed (see
            :func:`_result_ref_point`).
    """
    from nagen.multiobjective import parse_objectives

    rows = data["history"]
    # the kind of data first: asking for objectives of a search trace would only mislead
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("values"), dict) for r in rows):
        hint = " (this looks like 'nagen search --json' output: use 'nagen plot trace' / search_runs)" if isinstance(rows, list) and any(
            isinstance(r, dict) and "value" in r for r in rows
        ) else ""
        raise InvalidArgumentError(f"{source}: its history has no \"values\" per label{hint}")
    # explicit objectives win (e.g. two of a three-objective result); the result's own are the default
    specs = objectives or data.get("objectives")
    if not specs:
        raise InvalidArgumentError(f"name the objectives: {option}METRIC:max,METRIC:min ({source} does not list them)")
    # the shared parser: spaces after commas, and a missing direction is an error, never a silent "max"
    objs = parse_objectives(specs)
    names, dirs = [o.metric for o in objs], [o.direction for o in objs]
    if len(names) != 2:
        hint = f" ({source} lists them: pick two with {option})" if not objectives else ""
        raise InvalidArgumentError(f"a Pareto plot draws two objectives, got {len(names)}: {names}{hint}")
    absent = sorted({n for r in rows for n in names if n not in r["values"]})
    if absent:
        raise InvalidArgumentError(f"{source}: objectives {absent} are not in its values {sorted(rows[0]['values']) if rows else []}")
    # NaN is how a result stores a failed label (pareto_front skips it); anything else that is no
    # number would be a NumPy ValueError/TypeError, or silently read ("1" and true as 1.0)
    for k, r in enumerate(rows):
        bad = next((n for n in names if not is_real(r["values"][n])), None)
        if bad is not None:
            raise InvalidArgumentError(
                f"{source}: history[{k}] has value {r['values'][bad]!r} for {bad!r}, not a number "
                "(each label's \"values\" are numbers; a failed label is NaN)"
            )
    pts = np.array([[r["values"][n] for n in names] for r in rows], dtype=float).reshape(len(rows), 2)
    return pts, dirs, names, _result_ref_point(data, names, source)


def _result_ref_point(data: Mapping[str, Any], names: Sequence[str], source: str = "the pareto file") -> list[float] | None:
    """A pareto result's reference point for the drawn objectives ``names``, in their order.

    The result holds it as a list in its ``objectives`` order ('nagen pareto --json') or as
    ``{metric: value}`` (``ParetoResult.to_dict``); None when it has none (no ``"ref_point"``
    or null) or none for these objectives (a point of other objectives, drawn against these
    axes, would be misplaced); a result without ``objectives`` gives its list in the order of
    ``names``. Its objective specs are read by ``parse_objectives``, as the caller's are.

    Raises:
        InvalidArgumentError: the result's ``objectives`` (named as ``source``) do not parse, or
            its ``"ref_point"`` is neither a list of one value per objective nor a mapping, or a
            drawn objective's value in it is not a finite number.
    """
    from nagen.multiobjective import parse_objectives

    ref = data.get("ref_point")
    if ref is None:
        return None
    objectives = data.get("objectives")
    # refused, not dropped: without it the front is drawn as if the file had no reference point
    if isinstance(ref, list):
        want = len(objectives) if isinstance(objectives, list) else len(names)
        if len(ref) != want:
            of = f"its {want} objectives {objectives!r}" if isinstance(objectives, list) else f"the {want} drawn objectives {list(names)}"
            raise InvalidArgumentError(
                f"{source}: its ref_point {ref!r} has {len(ref)} value(s); it needs one per objective ({of}), "
                "or {metric: value}"
            )
        if isinstance(objectives, list):
            # the shared parser, as for the caller's objectives: a metric name may hold a ':' ("a:b:max" is metric "a:b")
            try:
                metrics = [o.metric for o in parse_objectives(objectives)]
            except NagenError as e:
                raise InvalidArgumentError(f"{source}: its objectives {objectives!r} are not 'metric:max|min' specs ({e})") from None
        else:
            metrics = list(names)  # names no objectives: in the caller's order
        ref = dict(zip(metrics, ref))
    elif not isinstance(ref, Mapping):
        raise InvalidArgumentError(
            f"{source}: its ref_point must be a list (one number per objective) or {{metric: number}}, "
            f"got {type(ref).__name__} {ref!r}"
        )
    if not all(n in ref for n in names):
        return None
    bad = next((n for n in names if not (is_real(ref[n]) and np.isfinite(float(ref[n])))), None)
    if bad is not None:
        raise InvalidArgumentError(f"{source}: its ref_point has {ref[bad]!r} for {bad!r}, not a finite number")
    return [float(ref[n]) for n in names]


def _n_by_2(values: Any, name: str) -> np.ndarray:
    """``values`` as an ``n x 2`` float array, else ``InvalidArgumentError`` naming ``name``."""
    try:
        V = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        shown = repr(values) if len(repr(values)) <= 200 else f"a {type(values).__name__}"
        raise InvalidArgumentError(f"{name} must be an n x 2 array of numbers, got {shown}") from None
    if V.size == 0:
        V = V.reshape(0, 2)
    if V.ndim != 2 or V.shape[1] != 2:
        raise InvalidArgumentError(f"{name} must be an n x 2 array (one column per objective), got shape {V.shape}")
    return V


def _staircase(F: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(xs, ys)`` of the attainment staircase through the non-dominated rows of ``F``.

    ``F`` holds ``(x, y)`` plot coordinates and ``s`` is ``+1``/``-1`` per axis for max/min. In
    the frame ``F * s`` (both maximised) the front sorted by x ascending has y descending, and
    the corner between neighbours ``i`` and ``i + 1`` is ``(x_i, y_{i+1})``, which point
    ``i + 1`` weakly dominates: the line never crosses a region no point reaches. Rows some
    other row dominates are dropped first, since they would add a corner the front does not have.
    """
    Q = np.asarray(F, dtype=float).reshape(-1, 2) * s
    Q = np.unique(Q[_non_dominated(Q)], axis=0)  # sorted by x ascending (hence y descending); duplicates once
    if not len(Q):
        return np.zeros(0), np.zeros(0)
    # x1, x1, x2, x2, ..., xn  against  y1, y2, y2, y3, ..., yn: point, corner, point, ...
    xs = np.repeat(Q[:, 0], 2)[:-1]
    ys = np.repeat(Q[:, 1], 2)[1:]
    return xs * s[0], ys * s[1]


def _dominated_region(F: np.ndarray, s: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Upper edge ``(xs, ys)`` of the region ``F`` dominates up to the reference point ``r``, to
    fill down (or up) to ``r``'s y; ``None`` when no point is better than ``r`` in both axes.

    Same frame as ``_staircase``: with both axes maximised the region is the union of the boxes
    ``[r_x, x_i] x [r_y, y_i]``, whose edge runs from ``(r_x, y_1)`` through the staircase to
    ``(x_n, y_n)``; filling it down to ``r_y`` gives an area equal to the hypervolume. Only
    points strictly better than ``r`` in both axes count, as in ``multiobjective.hypervolume``.
    """
    Q = np.asarray(F, dtype=float).reshape(-1, 2) * s
    q_r = r * s
    Q = Q[(Q > q_r).all(axis=1)]
    if not len(Q):
        return None
    Q = np.unique(Q[_non_dominated(Q)], axis=0)
    xs = np.r_[q_r[0], np.repeat(Q[:, 0], 2)[:-1]]
    ys = np.repeat(Q[:, 1], 2)
    return xs * s[0], ys * s[1]


def _non_dominated(V: np.ndarray) -> np.ndarray:
    """Mask of rows of ``V`` (maximised in every column) that no other row dominates."""
    from nagen.multiobjective import non_dominated

    return non_dominated(V, ["max"] * np.shape(V)[1])


def save(fig: Any, path: str | Path, dpi: int = 150) -> Path:
    """Write ``fig`` (a figure, or the ``Axes`` every function here returns) to ``path`` (format
    from the suffix: .png, .svg, .pdf) with a tight layout.

    Raises:
        InvalidArgumentError: ``fig`` no figure or axes, a ``path`` that is no str/Path, has
            another suffix or lies in no folder, a bad ``dpi``, or the file cannot be written.
    """
    if hasattr(fig, "figure") and not hasattr(fig, "savefig"):
        fig = fig.figure  # an Axes
    if not hasattr(fig, "savefig"):
        raise InvalidArgumentError(f"save needs a matplotlib figure or axes, got {type(fig).__name__}")
    dpi = check_int(dpi, "dpi", 1)
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise InvalidArgumentError(
            f"save: path must be a file path (str or Path) ending in .png, .svg or .pdf, got {type(path).__name__} {path!r}"
        )
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InvalidArgumentError(f"plot path must end in .png, .svg or .pdf, got {str(p)!r}")
    folder = p.resolve().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InvalidArgumentError(f"cannot write {str(p)!r}: folder {str(folder)!r} {what}")
    if p.is_dir():
        raise InvalidArgumentError(f"cannot write {str(p)!r}: it is a folder")
    fig.tight_layout()
    try:
        fig.savefig(p, dpi=dpi)
    except OSError as e:
        raise InvalidArgumentError(f"cannot write {str(p)!r}: {e.strerror or e}") from None
    return p
