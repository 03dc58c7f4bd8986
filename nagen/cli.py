"""The ``nagen`` command line (``_DESCRIPTION`` below is what ``nagen --help`` prints)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: the top-level ``nagen --help`` text (plain text: argparse prints it as written)
_DESCRIPTION = """nagen: generative neural-architecture design.

Every command that returns data takes --json; bad input exits with code 2 and one line on stderr
saying what was wrong. The *_test columns of the NB201 table are 200-epoch test accuracies: search a
*_valid_12ep column and --report the test one for an honest result. Examples:

  nagen spaces
  nagen info --space nb201 --json
  nagen sample --space nb201 --n 5 --seed 0 --metric cifar10_valid_12ep
  nagen generate --space nb201 --guide cifar10_valid_12ep --max-params 1e6 --n 10 --json
  nagen search --space nb201 --objective cifar10_valid_12ep --report cifar10_test --budget 50 --seed 0 --json
  nagen pareto --space nb201 --objectives cifar10_valid_12ep:max,params:min --budget 200 --json > pareto.json
  nagen plot pareto --input pareto.json --out front.png

Your own spaces, generators and predictors: import the module that registers them with --plugin
(a dotted module name or a .py file; repeatable) or NAGEN_PLUGINS (comma-separated), e.g.

  nagen --plugin my_spaces.py info --space chain4
  NAGEN_PLUGINS=my_pkg.spaces nagen generate --space chain4 --method random --n 10 --json
"""

from nagen.errors import InvalidArgumentError, NagenError, check_int, check_real

__all__ = ["main", "build_parser"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (like NagenError)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"nagen: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_BAD_INPUT)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        """As argparse, but an unrecognised argument of a subcommand points to that subcommand's ``--help``."""
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            # argparse reports a subcommand's leftovers from the top-level parser ("see 'nagen --help'"),
            # whose help does not list the subcommand's flags
            self._owner(ns, list(sys.argv[1:] if args is None else args), extras[0]).error(
                f"unrecognized arguments: {' '.join(extras)}"
            )
        return ns

    def _owner(self, ns: argparse.Namespace, argv: list[str], first_extra: str) -> argparse.ArgumentParser:
        """The subparser the leftover ``first_extra`` was given to (``self`` if it came before the subcommand)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(ns, action.dest, None)
                sub = action.choices.get(name) if name is not None else None
                if sub is None or name not in argv or first_extra in argv[: argv.index(name)]:
                    return self
                return sub
        return self


class _CommaList(argparse.Action):
    """A single-value flag that accumulates: ``--report a --report b`` is ``--report a,b``.

    argparse's default keeps only the last occurrence, silently dropping the others; the value
    stays one comma-separated string, the form the library functions already parse (so empty
    names are still refused there). The flag's default must be None.
    """

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, values if current is None else f"{current},{values}")


def _check_ints(args: argparse.Namespace, lows: dict[str, int]) -> None:
    """Check integer flags here, so a message names the flag (``--guide-labels``), not the Python argument."""
    for dest, low in lows.items():
        value = getattr(args, dest)
        if value is not None:
            check_int(value, "--" + dest.replace("_", "-"), low)


def _check_reals(args: argparse.Namespace, lows: dict[str, float]) -> None:
    """Finite-number flags ``>= low`` (argparse's ``type=float`` takes 'nan' and 'inf')."""
    for dest, low in lows.items():
        value = getattr(args, dest)
        if value is not None:
            check_real(value, "--" + dest.replace("_", "-"), low)


def _latency_flag_check(constraints: Sequence[str] | None, device_samples: int | None) -> None:
    """``--device-samples`` spends device measurements on a latency constraint; without one it would do nothing."""
    if device_samples is None:
        return
    from nagen.constraints import parse_constraints

    if not any(c.metric.startswith("lat_") for c in parse_constraints(list(constraints or []))):
        raise InvalidArgumentError(
            "--device-samples needs a device latency --constraint (e.g. --constraint 'lat_pixel2_ms<=18'); "
            f"got constraints {list(constraints or [])}"
        )


def _emit(obj: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    print(json.dumps(obj) if as_json else text(obj))


def _cmd_spaces(args: argparse.Namespace) -> None:
    import nagen.spaces

    rows = []
    for name in nagen.spaces.names():
        s = nagen.spaces.get(name)
        rows.append({"name": name, "size": s.size, "max_nodes": s.max_nodes, "description": s.description})
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    for r in rows:
        size = "unknown" if r["size"] is None else f"{r['size']:.4g}" if r["size"] > 1e9 else f"{r['size']:,}"
        print(f"{r['name']:<10} size {size:<12} {r['description']}")


def _cmd_info(args: argparse.Namespace) -> None:
    import nagen.benchmarks
    import nagen.spaces

    space = nagen.spaces.get(args.space)
    info = space.describe()
    example = space.sample(1, 0)[0]
    info["example"] = space.format(example)
    info["example_cost"] = space.cost(example)
    given = _benchmark_arg(args.benchmark, args.space)
    if given is not None:  # a user's CSV: its metric names (and why a column is not one) are what to look up
        table = nagen.benchmarks.load(given)
        if not nagen.spaces.same_space(table.space, space):
            raise InvalidArgumentError(
                f"benchmark {table.name!r} labels space {table.space.name!r}, not {space.name!r}"
                + nagen.spaces.same_name_note(table.space, space)
            )
        tables = [table]
    else:
        tables = [t for t in map(nagen.benchmarks.load, nagen.benchmarks.names()) if t.space is space]
    info["benchmarks"] = [t.name for t in tables]
    # the names --guide/--objective/--constraint take: otherwise found only by typing a wrong one
    info["metrics"] = {t.name: {m: t.direction(m) for m in t.metrics} for t in tables}
    skipped = {f"{t.name}: {c}": why for t in tables for c, why in t.skipped_columns.items()}
    if skipped:
        info["not_metrics"] = skipped

    def text(d: dict[str, Any]) -> str:
        lines = [f"{k:<20} {v}" for k, v in d.items() if k not in ("metrics", "not_metrics")]
        for table, metrics in d["metrics"].items():
            for k, line in enumerate(_metric_lines(metrics)):
                lines.append(f"{'metrics ' + table if k == 0 else '':<20} {line}")
        if not d["metrics"]:
            lines.append(f"{'metrics':<20} none: no benchmark table (params and flops are computed exactly, as example_cost)")
        for k, (col, why) in enumerate(d.get("not_metrics", {}).items()):
            lines.append(f"{'not metrics' if k == 0 else '':<20} {col}: {why}")
        return "\n".join(lines)

    _emit(info, args.json, text)


def _metric_lines(metrics: Mapping[str, str], width: int = 100) -> list[str]:
    """``{metric: direction}`` as wrapped ``max: a, b`` / ``min: ...`` lines; the many device
    latency columns ``lat_<device>_ms`` are listed once, by device."""
    import re
    import textwrap

    lines = []
    for direction in ("max", "min"):
        names = [m for m, d in metrics.items() if d == direction]
        devices = [mt.group(1) for mt in map(re.compile(r"lat_(.+)_ms").fullmatch, names) if mt]
        items = [m for m in names if not re.fullmatch(r"lat_.+_ms", m)]
        if len(devices) > 1:
            items.append(f"lat_<device>_ms for {len(devices)} devices: {', '.join(devices)}")
        else:
            items += [f"lat_{d}_ms" for d in devices]
        if items:
            lines += textwrap.wrap(f"{direction}: {', '.join(items)}", width, subsequent_indent="     ", break_on_hyphens=False)
    return lines


def _cmd_sample(args: argparse.Namespace) -> None:
    import nagen.benchmarks
    import nagen.spaces

    space = nagen.spaces.get(args.space)
    if args.n < 0:
        raise InvalidArgumentError(f"--n must be >= 0, got {args.n}")
    _check_ints(args, {"seed": 0})
    table = None
    metrics = list(args.metric or [])
    # params/FLOPs are counted on the built network (as `nagen info` says): no table needed for them
    from nagen.constraints import EXACT_COSTS

    counted = {m for m in metrics if m in EXACT_COSTS}
    if counted:
        try:
            space.cost(space.sample(1, 0)[0])
        except NagenError as e:
            raise InvalidArgumentError(f"space {space.name!r} cannot count {sorted(counted)}: {e}") from None
    # a table given by --benchmark is read even without a table --metric: a partial one decides what is drawn
    if set(metrics) - counted or args.benchmark is not None:
        given = _benchmark_arg(args.benchmark, args.space)
        table = nagen.benchmarks.load(given if given is not None else args.space)
        if table.space is not space:  # else the first lookup fails with a confusing op or size error
            raise InvalidArgumentError(
                f"benchmark {table.name!r} labels space {table.space.name!r}, not {space.name!r}; "
                f"pass --space {table.space.name} or a benchmark of space {space.name!r}"
            )
        for m in metrics:
            if m not in counted:
                table.metric(m)  # validate before printing anything
    if table is not None and (space.size is None or len(table) < space.size):
        # a table of only some cells (a user's CSV) restricts sampling to its rows, as it restricts a
        # search (README): drawn from the whole space, nearly every sample would have no row. Same
        # rule as Study's domain: a space too large to count has no complete table. Uniform over the
        # rows with replacement, as space.sample is over the space; a complete table keeps
        # space.sample, so its output for a seed is unchanged.
        import numpy as np

        if args.n and not len(table):
            raise InvalidArgumentError(f"benchmark {table.name!r} has no rows to sample --n {args.n} architectures from")
        picks = np.random.default_rng(args.seed).integers(len(table), size=args.n) if args.n else []
        archs = [table.archs[int(k)] for k in picks]
    else:
        archs = space.sample(args.n, args.seed)
    for arch in archs:
        rec: dict[str, Any] = {"arch": space.format(arch), "hash": arch.canonical_hash()}
        cost = space.cost(arch) if counted else {}
        rec.update({m: cost[m] if m in counted else table.query(arch, m) for m in metrics})
        if args.json:
            print(json.dumps(rec))
        else:
            print("  ".join(f"{k}={v}" for k, v in rec.items()))


#: help of ``--benchmark`` in search, pareto and generate (read by :func:`_benchmark_arg`)
_BENCHMARK_HELP = (
    "table that labels the metrics: a table name (default: the space's own) or the path of a CSV of your "
    "measurements (an 'arch' column, one numeric column per metric)"
)


def _benchmark_arg(value: str | None, space: Any) -> Any:
    """``--benchmark``: None, a registered table name, or the path of a CSV of the user's own
    measurements (read with ``Benchmark.from_csv`` against ``space``: a name or a spec path)."""
    if value is None:
        return None
    import nagen.benchmarks

    if value in nagen.benchmarks.names():  # a registered name wins over a file of that name in the folder
        return value
    if value.lower().endswith((".csv", ".csv.gz")) or os.path.isfile(value):
        import nagen.spaces

        if not os.path.isfile(value):
            raise InvalidArgumentError(f"--benchmark {value!r}: no such file (a table name, or the path of a CSV with an 'arch' column)")
        return nagen.benchmarks.Benchmark.from_csv(value, nagen.spaces.get(space))
    return value


def _cmd_generate(args: argparse.Namespace) -> None:
    import nagen.api

    _check_ints(args, {"n": 0, "seed": 0, "guide_labels": 2, "steps": 1, "device_samples": 2})
    _check_reals(args, {"scale": 0, "constraint_scale": 0})
    for dest in ("max_params", "max_flops"):  # a cost is positive: a bound of 0 admits nothing
        if getattr(args, dest) is not None:
            check_real(getattr(args, dest), "--" + dest.replace("_", "-"), 0, low_open=True)
    _latency_flag_check(args.constraint, args.device_samples)
    if args.steps is not None and args.method != "diffusion":
        raise InvalidArgumentError(f"--steps sets reverse-diffusion steps; --method {args.method} does not diffuse")
    _refuse_unused_generate_flags(args)
    if args.max_params is not None or args.max_flops is not None:
        from nagen.constraints import parse_constraints

        for c in parse_constraints(list(args.constraint or [])):
            flag = {"params": "--max-params", "flops": "--max-flops"}.get(c.metric)
            if flag and getattr(args, flag[2:].replace("-", "_")) is not None:
                raise InvalidArgumentError(f"{flag} and --constraint '{c}' both bound {c.metric}; give one of them")
    constraints: list = []  # the bound's side as written ('<=' or '>=')
    if args.max_params is not None:
        constraints.append(("params", "<=", args.max_params))
    if args.max_flops is not None:
        constraints.append(("flops", "<=", args.max_flops))
    constraints += list(args.constraint or [])
    generator = None
    if args.checkpoint:
        if args.method != "diffusion":
            raise InvalidArgumentError(f"--checkpoint loads a diffusion generator; it does not go with --method {args.method}")
        generator = _load_checkpoint(args.checkpoint, args.space)
    result = nagen.api.generate(
        space=args.space,
        benchmark=_benchmark_arg(args.benchmark, args.space),
        n=args.n,
        method=args.method,
        guide=args.guide,
        constraints=constraints,
        seed=args.seed,
        scale=args.scale,
        device_samples=args.device_samples,
        steps=args.steps,
        generator=generator,
        unique=args.unique,
        transfer_from=args.transfer_from,
        progress=not args.quiet,
        # unset: the library's defaults (the flags default to None only to tell "given" from "not given")
        **{k: v for k, v in (("constraint_scale", args.constraint_scale), ("guide_labels", args.guide_labels)) if v is not None},
    )
    for g in result:
        rec = {"arch": g.string, **{f"pred_{k}": v for k, v in g.predicted.items()}}
        print(json.dumps(rec) if args.json else "  ".join(f"{k}={v}" for k, v in rec.items()))
    st = result.stats
    if st is not None and not args.quiet:
        # nothing drawn (--n 0) has no validity rate, not a NaN one
        validity = f"{st.validity:.3f}" if math.isfinite(st.validity) else "–"
        sys.stderr.write(
            f"nagen: {len(result)} architectures, validity {validity}, {st.filtered} filtered, "
            + (f"{st.duplicates} duplicates redrawn, " if args.unique else "")
            + f"{result.labels_used} labels used, {result.device_measurements} device measurements, {st.seconds:.1f} s\n"
        )


def _refuse_unused_generate_flags(args: argparse.Namespace) -> None:
    """Refuse generate flags the run would ignore (as ``--steps`` without diffusion), so that
    ``--method opgfn --scale 50`` does not look like it changed anything.

    Only a generator that ``supports_guidance`` (diffusion) is steered: the others apply
    constraints as filters, whatever their weight, and OP-GFN learns its reward from the labels'
    order, which no guide weight scales. Whether a weight is used is the library's decision
    (``nagen.api._check_method``, which ``generate`` runs too); this asks it per flag, before
    any work, and says the refusal in flag terms. ``--constraint-scale`` needs a constraint to
    weight. ``--guide-labels`` is used by every method, but only when something is fitted on
    labelled cells: a ``--guide`` (not with ``--transfer-from``, whose guide is meta-trained on
    the sources) or a table-metric constraint.
    """
    from nagen.api import _check_method
    from nagen.constraints import EXACT_COSTS, parse_constraints
    from nagen.errors import InvalidGuidanceError, UnknownGeneratorError

    constraints = parse_constraints(list(args.constraint or []))
    messages = {
        "scale": f"--scale weights the metric guides of --method diffusion; --method {args.method} is not steered by it "
        "(drop --scale, or use --method diffusion)",
        "constraint_scale": f"--constraint-scale weights the constraint guidance of --method diffusion; --method {args.method} "
        "applies constraints as filters only (drop --constraint-scale, or use --method diffusion)",
    }
    for weight, message in messages.items():
        if getattr(args, weight) is None:
            continue
        try:
            # no guide, no generator, no steps: the only thing left for it to refuse is the weight
            _check_method(args.space, args.method, None, [], None, [weight])
        except UnknownGeneratorError:
            return  # nagen.api.generate names the valid methods
        except InvalidGuidanceError:
            raise InvalidArgumentError(message) from None
    # a method that takes the weights, but nothing for them to weigh (after the method's own refusal, which says more)
    if args.scale is not None and not args.guide and args.transfer_from is None:
        raise InvalidArgumentError("--scale weights the metric guides; no --guide was given (add --guide METRIC or drop --scale)")
    if args.constraint_scale is not None and not constraints and args.max_params is None and args.max_flops is None:
        raise InvalidArgumentError(
            "--constraint-scale weights the guidance of constraints; none was given (add --max-params, --max-flops or "
            "--constraint, or drop --constraint-scale)"
        )
    if args.guide_labels is None:
        return
    # as nagen.api.generate decides: a table-metric bound is fitted on labelled cells, except a latency
    # bound given --device-samples (adapted from device measurements) and params/flops (counted exactly)
    fitted = [
        c for c in constraints
        if c.metric not in EXACT_COSTS and not (c.metric.startswith("lat_") and args.device_samples is not None)
    ]
    if fitted:
        return
    if args.transfer_from is not None:
        # the transfer guide is the meta-predictor trained on the source metrics: nagen.transfer.TransferTask.generate
        # passes it as a Guide object, so nagen.api.generate labels no cell for it
        raise InvalidArgumentError(
            "--guide-labels sets the labelled cells a --guide is fitted on; --transfer-from generation pays no guide "
            "labels (it is guided zero-shot by the meta-predictor trained on the source metrics), so it would do "
            "nothing (drop --guide-labels; it applies here only to a table-metric --constraint)"
        )
    if not args.guide:
        raise InvalidArgumentError(
            "--guide-labels sets the labelled cells a --guide (or a table-metric --constraint) is fitted on; "
            "with neither, nothing is fitted (params/flops bounds are counted exactly; a latency bound with "
            "--device-samples is adapted from device measurements)"
        )
    if args.method != "opgfn" and all(g in EXACT_COSTS for g in args.guide):
        # the exact count guides diffusion directly; only OP-GFN learns an order from that many counted cells
        raise InvalidArgumentError(
            f"--guide-labels sets the labelled cells a --guide is fitted on; {sorted(set(args.guide))} are counted "
            f"exactly and fitted on nothing with --method {args.method} (drop --guide-labels)"
        )


def _load_checkpoint(path: str, space: str) -> Any:
    """The diffusion generator saved at ``path`` by 'nagen train', for ``space``; one-line errors.

    ``DiffusionGenerator.load`` quotes the reader's whole message, and torch's for a file that is
    not a checkpoint runs to several lines on ``weights_only``, which means nothing to a user who
    passed the wrong file.
    """
    if not Path(path).is_file():
        raise InvalidArgumentError(f"no such checkpoint file: {path!r} (write one with 'nagen train --out FILE')")
    import nagen.spaces
    from nagen.generators.diffusion import DiffusionGenerator

    sp = nagen.spaces.get(space)
    try:
        return DiffusionGenerator.load(path, sp)
    except Exception as e:
        # the loader wraps a reader's error in its own (raised "from None": the original is the context)
        cause = e.__context__ if isinstance(e, NagenError) else e
        if cause is None or isinstance(cause, NagenError):
            raise  # already one line of ours: no such file, another space, an old format
        first = _first_line(cause)
        if isinstance(e, NagenError) and "does not fit" in str(e):  # a checkpoint, but of another vocabulary or size
            raise InvalidArgumentError(
                f"{path} does not fit a diffusion generator of space {sp.name!r} ({type(cause).__name__}: {first})"
            ) from None
        raise InvalidArgumentError(f"{path} is not a nagen generator checkpoint ({type(cause).__name__}: {first})") from None


def _first_line(error: BaseException) -> str:
    """The first line of an exception's message, at most ~200 characters (a paragraph is cut after a sentence)."""
    text = (str(error).strip().splitlines() or [""])[0].strip()
    if len(text) > 200:
        cut = text.find(". ", 0, 200)
        text = text[: cut + 1] if cut > 0 else text[:199] + "…"
    return text


def _cmd_search(args: argparse.Namespace) -> None:
    import nagen.search_api

    _check_ints(args, {"budget": 1, "batch_size": 1, "seed": 0, "device_samples": 2})
    if args.study is not None and (not (args.storage or "").strip() or nagen.search_api._in_memory(args.storage)):
        raise InvalidArgumentError("--study needs a --storage file (e.g. --storage sqlite:///nagen.db) to be resumable, not one in memory")
    _latency_flag_check(args.constraint, args.device_samples)
    model: dict[str, Any] = {}
    if args.surrogate is not None or args.surrogate_options is not None:
        if args.method in ("re", "random", "evolution") or args.transfer_from:
            # Python warns (IgnoredSettingWarning); a script's flag that changes nothing is an error here
            raise InvalidArgumentError(
                "--surrogate/--surrogate-options apply to --method bo, opgfn or diffusion (not re, random or a transfer search)"
            )
        if args.surrogate is not None:
            model["surrogate"] = args.surrogate
        if args.surrogate_options is not None:
            try:
                opts = json.loads(args.surrogate_options)
            except json.JSONDecodeError as e:
                raise InvalidArgumentError(f"--surrogate-options must be a JSON object, e.g. '{{\"epochs\": 100}}': {e}") from None
            if not isinstance(opts, dict):
                raise InvalidArgumentError(f"--surrogate-options must be a JSON object, e.g. '{{\"epochs\": 100}}', got {args.surrogate_options!r}")
            model["surrogate_options"] = opts
    result = nagen.search_api.search(
        space=args.space,
        benchmark=_benchmark_arg(args.benchmark, args.space),
        objective=args.objective,
        budget=args.budget,
        seed=args.seed,
        method=args.method,
        transfer_from=args.transfer_from,
        batch_size=args.batch_size,
        storage=args.storage,
        study=args.study,
        progress=not args.quiet,
        constraints=args.constraint or None,
        device_samples=args.device_samples,
        report=args.report,
        **({"checkpoint": args.checkpoint} if args.checkpoint is not None else {}),
        **model,
    )
    out = result.to_dict()
    failed = out.get("failed", [])
    if failed and not args.quiet or failed and not out["history"]:
        # failed labels are spent budget: say so on stderr even with --json (stdout stays one object)
        sys.stderr.write(f"nagen: {len(failed)} of {len(failed) + len(out['history'])} labels failed; first: {failed[0]['reason']}\n")
    if args.json:
        print(json.dumps(out))
    if failed and not out["history"]:
        from nagen.study import StudyError

        raise StudyError(f"every label of study {result.study!r} failed, so the search found nothing (see \"failed\")")
    if args.json:
        return
    for k, rec in enumerate(out["history"], 1):
        print(f"{k:>4}  {rec['value']:10.4f}  {rec['arch']}")
    if out["best"] is not None:
        print(_best_line(out["best"]))
    if "device_measurements" in out and args.device_samples is not None:
        # only a latency constraint spends device measurements: "0 spent" after a params bound says nothing
        print(f"device measurements spent: {out['device_measurements']}")


def _best_line(best: Mapping[str, Any]) -> str:
    """The ``best:`` line of ``nagen search``: value, architecture, reported metrics, constraint verdicts."""
    extra = "".join(f"  {m}={v:.4f} (reported)" for m, v in best.get("report", {}).items())

    def verdict(c: Mapping[str, Any]) -> str:
        # a predicted value that meets the bound is a forecast, not a check
        return ("ok" if c["source"] != "predicted" else "unverified") if c["ok"] else "VIOLATED"

    extra += "".join(f"  {m}={c['value']:.4g} ({c['source']}, {verdict(c)})" for m, c in best.get("constraints", {}).items())
    return f"best: {best['value']:.4f}  {best['arch']}{extra}"


def _cmd_pareto(args: argparse.Namespace) -> None:
    import nagen.multiobjective

    _check_ints(args, {"budget": 1, "batch_size": 1, "seed": 0})  # --batch-size None: the method's default
    ref = None
    if args.ref_point is not None:  # "" is a malformed point, not "use the default"
        from nagen.multiobjective import parse_objectives

        try:
            ref = [float(v) for v in args.ref_point.split(",")]
        except ValueError:
            raise InvalidArgumentError(f"--ref-point must be comma-separated numbers, got {args.ref_point!r}") from None
        n_obj = len(parse_objectives(args.objectives))
        if len(ref) != n_obj or not all(map(math.isfinite, ref)):
            raise InvalidArgumentError(
                f"--ref-point needs {n_obj} finite numbers, one per objective of --objectives {args.objectives!r}; "
                f"got {args.ref_point!r}"
            )
    result = nagen.multiobjective.pareto(
        space=args.space,
        benchmark=_benchmark_arg(args.benchmark, args.space),
        objectives=args.objectives,
        budget=args.budget,
        seed=args.seed,
        method=args.method,
        ref_point=ref,
        batch_size=args.batch_size,
        progress=not args.quiet,
        report=_report_names(args.report),
    )
    out = result.to_dict()  # with space, method, seed and objectives: what 'nagen plot pareto' reads
    # the CLI contract keeps the reference point as a list in --objectives order
    out["ref_point"] = [float(result.ref_point[o.metric]) for o in result.objectives]
    if args.json:
        print(json.dumps(out))
        return
    print(f"{len(out['history'])} labelled, {len(out['front'])} on the front, hypervolume {out['hypervolume']:.6g}")
    for rec in out["front"]:
        reported = "".join(f"  {m}={v:.6g} (reported)" for m, v in rec.get("report", {}).items())
        print("  ".join(f"{k}={v:.6g}" for k, v in rec["values"].items()) + reported + f"  {rec['arch']}")


def _report_names(text: str | None) -> list[str] | None:
    """``--report`` as metric names (None: not given); an empty name is refused, not dropped."""
    if text is None:
        return None
    names = [r.strip() for r in text.split(",")]
    if not all(names):
        raise InvalidArgumentError(f"--report names an empty metric (got {text!r}); give table metrics, e.g. 'cifar10_test'")
    return names


def _cmd_train(args: argparse.Namespace) -> None:
    from nagen.generators.diffusion import DiffusionGenerator

    _check_ints(args, {"steps": 1, "hidden": 1, "layers": 1, "seed": 0})
    folder = Path(args.out).resolve().parent
    if not folder.is_dir():  # checked before training, not after minutes of it
        raise InvalidArgumentError(f"cannot write {args.out!r}: folder {str(folder)!r} does not exist")
    gen = DiffusionGenerator(args.space, hidden=args.hidden, layers=args.layers, seed=args.seed)
    gen.fit(steps=args.steps, progress=not args.quiet)
    out = gen.save(args.out)
    rec = {"out": str(out), "space": gen.space.name, "trained_on": gen.trained_on,
           "final_loss": float(sum(gen.loss_history[-100:]) / max(len(gen.loss_history[-100:]), 1))}
    _emit(rec, args.json, lambda d: "  ".join(f"{k}={v}" for k, v in d.items()))


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise InvalidArgumentError(f"cannot read {path!r}: {e.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:  # JSON lines (e.g. the output of 'nagen generate --json')
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"{path!r} is neither JSON nor JSON lines: {e}") from None


#: the options each ``nagen plot`` kind uses (dests; --out, --quiet and --plugin go with every kind):
#: any other one given is refused, not silently ignored
_PLOT_OPTIONS: dict[str, tuple[str, ...]] = {
    "arch": ("space", "arch", "pruned"),
    "ops": ("space", "input", "n", "seed", "checkpoint"),
    "trace": ("input", "minimize"),
    "pareto": ("input", "objectives"),
}
#: the options of 'plot ops' that only its generation reads: with --input the architectures come from the files
_PLOT_OPS_GENERATION = ("n", "seed", "checkpoint")


def _refuse_unused_plot_options(args: argparse.Namespace) -> None:
    """Refuse a ``nagen plot`` option the chosen kind does not read (``plot arch --n 5`` drew the
    same cell as without it); the plot options default to None or False, so any other value was given."""
    for dest in dict.fromkeys(d for dests in _PLOT_OPTIONS.values() for d in dests):
        value = getattr(args, dest)
        if value is None or value is False:  # not `in (None, False)`: 0 == False, and --seed 0 is given
            continue
        flag = "--" + dest.replace("_", "-")
        if dest not in _PLOT_OPTIONS[args.kind]:
            takers = [f"'plot {k}'" for k, dests in _PLOT_OPTIONS.items() if dest in dests]
            takers_text = takers[0] if len(takers) == 1 else ", ".join(takers[:-1]) + " and " + takers[-1]
            raise InvalidArgumentError(
                f"{flag} does nothing with 'plot {args.kind}'; it is an option of {takers_text} only (drop {flag})"
            )
        if args.kind == "ops" and args.input and dest in _PLOT_OPS_GENERATION:
            raise InvalidArgumentError(
                f"{flag} sets the generation of 'nagen plot ops' without --input; it does nothing with --input "
                f"(the architectures come from the files; drop {flag} or --input)"
            )


def _cmd_plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: the CLI never opens a window
    import numpy as np

    import nagen.plot as NP
    import nagen.spaces

    kind = args.kind
    _refuse_unused_plot_options(args)
    _check_ints(args, {"n": 0, "seed": 0})
    if args.n == 0:  # refused here, not by op_distribution after the generation ("sample group is empty")
        raise InvalidArgumentError("--n must be >= 1: 'plot ops' draws the op distribution of --n generated samples, got 0")
    space = "nb201" if args.space is None else args.space
    if kind == "arch":
        if not args.arch:
            raise InvalidArgumentError("'nagen plot arch' needs --arch STRING")
        ax = NP.draw_arch(args.arch, space, pruned=args.pruned)
    elif kind == "ops":
        sp = nagen.spaces.get(space)
        groups: dict[str, list] = {}
        for path in args.input or []:
            data = _read_json(path)
            rows = data.get("history") if isinstance(data, dict) else data
            if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and "arch" in r for r in rows):
                raise InvalidArgumentError(
                    f"{path!r} holds no architectures: give the output of 'nagen search/pareto --json' (a \"history\") "
                    "or of 'nagen generate --json' (JSON lines with \"arch\")"
                )
            groups[path] = [sp.parse(r["arch"]) for r in rows]
        if not groups:
            import nagen.api

            # the same checkpoint loading as 'nagen generate': spaces without a shipped model
            # (nb101, mbv3) otherwise train one on every call
            generator = _load_checkpoint(args.checkpoint, space) if args.checkpoint else None
            n, seed = 1000 if args.n is None else args.n, 0 if args.seed is None else args.seed
            result = nagen.api.generate(space=sp, n=n, seed=seed, generator=generator, progress=not args.quiet)
            groups["diffusion"] = [g.arch for g in result]
        ax = NP.op_distribution(sp, groups)
    elif kind == "trace":
        if not args.input:
            raise InvalidArgumentError("'nagen plot trace' needs --input FILE (outputs of 'nagen search --json'), repeatable")
        # one line per method (median over its seeds, with a band); the files' "direction" decides
        # max/min unless --minimize overrides an old file that does not say
        ax = NP.search_runs(args.input, maximize=False if args.minimize else None)
    else:  # pareto
        if not args.input or len(args.input) != 1:
            raise InvalidArgumentError("'nagen plot pareto' needs exactly one --input FILE (output of 'nagen pareto --json')")
        data = _read_json(args.input[0])
        if not isinstance(data, dict) or "history" not in data:
            raise InvalidArgumentError(f"{args.input[0]!r} is not the output of 'nagen pareto --json' (no \"history\")")
        pts, dirs, names, ref = NP._result_points(data, args.objectives, repr(args.input[0]), "--objectives ")
        ax = NP.pareto_front(pts, directions=dirs, names=names, ref_point=ref)
    out = NP.save(ax.figure, args.out)
    if not args.quiet:
        sys.stderr.write(f"nagen: wrote {out}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nagen`` command (subcommands documented with examples)."""
    p = _Parser(prog="nagen", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"nagen {__import__('nagen').__version__}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help=_PLUGIN_HELP)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sp = sub.add_parser("spaces", help="list registered search spaces", epilog="example: nagen spaces --json")
    sp.add_argument("--json", action="store_true", help="one JSON object per line")
    sp.set_defaults(func=_cmd_spaces)

    sp = sub.add_parser("info", help="describe one search space", epilog="example: nagen info --space nb201")
    sp.add_argument("--space", required=True, help="space name (see 'nagen spaces')")
    sp.add_argument("--benchmark", help="list the metrics of this table (a table name or the path of a CSV of your measurements: an 'arch' column, one numeric column per metric) instead of the space's own tables")
    sp.add_argument("--json", action="store_true", help="one JSON object")
    sp.set_defaults(func=_cmd_info)

    sp = sub.add_parser(
        "sample",
        help="sample architectures uniformly from a space (or from the rows of a partial --benchmark table)",
        epilog="example: nagen sample --space nb201 --n 5 --seed 0 --metric cifar10_test --json",
    )
    sp.add_argument("--space", required=True, help="space name (see 'nagen spaces')")
    sp.add_argument("--n", type=int, default=10, help="how many (default 10)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--metric", action="append", help="add this benchmark metric (repeatable); params/flops are counted, no table needed")
    sp.add_argument(
        "--benchmark",
        help="table to read --metric from: a table name (default: the space's own) or the path of a CSV of your measurements; "
        "a table of only some cells restricts sampling to its rows (uniformly, with replacement)",
    )
    sp.add_argument("--json", action="store_true", help="JSON lines: {\"arch\": ..., \"hash\": ..., metric: value}")
    sp.set_defaults(func=_cmd_sample)

    sp = sub.add_parser(
        "generate",
        help="generate architectures (optionally guided toward a metric, under cost limits)",
        epilog="examples:\n  nagen generate --space nb201 --n 100 --seed 0 --json\n"
        "  nagen generate --space nb201 --guide cifar10_valid_12ep --scale 2 --max-params 1e6 --json\n"
        "  nagen generate --space nb201 --method opgfn --guide cifar10_valid_12ep --n 20 --json\n"
        "  nagen generate --space nb201 --guide cifar10_test --transfer-from cifar100_test,imagenet16_test --unique --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--space", default="nb201", help="space name (default nb201; see 'nagen spaces')")
    sp.add_argument("--method", default="diffusion", help="generator: diffusion (default), opgfn, random")
    sp.add_argument("--n", type=int, default=100, help="how many architectures (default 100)")
    sp.add_argument("--seed", type=int, default=0, help="random seed; same seed, same output (default 0)")
    sp.add_argument(
        "--guide", action="append",
        help="benchmark metric to steer toward (repeatable). diffusion: guided by a predictor fitted on the labels; "
        "opgfn: a reward learned from the labels' order alone (several metrics: their Pareto order)",
    )
    sp.add_argument("--scale", type=float, default=None, help="guidance weight per metric, diffusion only (default 10; 2 with --transfer-from)")
    sp.add_argument("--constraint-scale", type=float, default=None, help="guidance weight per constraint, diffusion only (default 1)")
    sp.add_argument("--max-params", type=float, help="upper bound on parameters (exact filter)")
    sp.add_argument("--max-flops", type=float, help="upper bound on FLOPs (exact filter)")
    sp.add_argument(
        "--constraint", action="append",
        help="METRIC<=VALUE or METRIC>=VALUE on a table metric (repeatable). Exact costs (params, flops) filter exactly; any "
        "other metric (accuracy, a device latency) is predicted by a model fitted on --guide-labels measured cells, or for a "
        "latency on --device-samples device measurements, and the filter uses the prediction, so a few samples may miss the bound",
    )
    sp.add_argument(
        "--transfer-from", action=_CommaList,
        help="source metrics, comma-separated or repeated: generate for the --guide metric without its labels, guided by the "
        "meta-predictor trained on the sources (zero-shot transfer; no target label is paid)",
    )
    sp.add_argument("--guide-labels", type=int, default=None, help="labelled cells to fit each guiding predictor, or the OP-GFN reward (default 100 per metric; reported as labels used)")
    sp.add_argument("--device-samples", type=int, help="latency constraint: adapt the few-shot latency predictor from this many device measurements")
    sp.add_argument("--steps", type=int, default=None, help="reverse-diffusion steps (default: the generator's, 20 DDIM steps on NB201)")
    sp.add_argument(
        "--checkpoint",
        help="a diffusion generator saved by 'nagen train' (default: the shipped one; spaces without one train it first: about 1.5 min for nb101, 3 min for mbv3)",
    )
    sp.add_argument(
        "--unique", action="store_true",
        help="no two equivalent architectures in the output (duplicates are redrawn; a peaked model may return fewer, with a warning)",
    )
    sp.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    sp.add_argument(
        "--json", action="store_true",
        help='JSON lines: {"arch": ..., "pred_<metric>": ...}; --method opgfn with --guide adds "pred_order_score" (the learned order score, unitless); --transfer-from gives '
        '"pred_transfer_score" (the meta-predictor\'s standardised score, higher is better, not a value of the --guide metric) '
        'in place of "pred_<guide metric>"',
    )
    sp.add_argument("--benchmark", help=_BENCHMARK_HELP)
    sp.set_defaults(func=_cmd_generate)

    sp = sub.add_parser(
        "search",
        help="search a space for the best value of a benchmark metric with a label budget",
        epilog="examples (the *_test columns are the 200-epoch test accuracy: search a *_valid_12ep column and\n"
        "--report the test one for an honest result):\n"
        "  nagen search --space nb201 --objective cifar10_valid_12ep --budget 50 --seed 0 --json\n"
        "  nagen search --objective cifar10_valid_12ep --method re --budget 100 --report cifar10_test\n"
        "  nagen search --objective cifar10_valid_12ep --transfer-from cifar100_valid_12ep,imagenet16_valid_12ep --budget 10\n"
        "  nagen search --objective cifar10_valid_12ep --budget 50 --storage sqlite:///nagen.db --study c10  # resumable\n"
        "  nagen search --objective cifar100_valid_12ep --report cifar100_test --budget 50  # honest: search valid, report test\n"
        "  nagen search --objective cifar100_valid_12ep --constraint 'lat_pixel2_ms<=18' --device-samples 10 --report cifar100_test",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--space", default="nb201", help="space name (default nb201)")
    sp.add_argument("--objective", required=True, help="table metric to optimise (its direction decides max/min)")
    sp.add_argument("--budget", type=int, default=50, help="labels to pay (default 50)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--method", default="bo", help="bo (default), opgfn, diffusion, re, random")
    sp.add_argument(
        "--checkpoint",
        help="with --method diffusion: the proposer's diffusion checkpoint of the space (from 'nagen train'), "
        "instead of the shipped one or training one first",
    )
    sp.add_argument("--transfer-from", action=_CommaList, help="source metrics, comma-separated or repeated: a transferable-NAS task")
    sp.add_argument("--batch-size", type=int, default=1, help="labels per round (default 1)")
    sp.add_argument(
        "--surrogate",
        help="BO surrogate: auto (default), gp, gp+zc, gp_wl, gp_wl+zc, or a registered predictor (e.g. gnn: an "
        "ensemble of seeded copies, BANANAS-style; a --plugin's own)",
    )
    sp.add_argument(
        "--surrogate-options", metavar="JSON",
        help='the surrogate predictor\'s arguments as a JSON object, plus "members" (ensemble size, default 5), '
        'e.g. \'{"epochs": 100, "members": 5}\'',
    )
    sp.add_argument("--storage", help="study storage: a URL such as sqlite:///nagen.db, or a file path (default: ':memory:', kept in memory, lost at exit)")
    sp.add_argument("--study", help="study name in --storage; re-running with the same name resumes it (--budget is the total, not extra labels)")
    sp.add_argument(
        "--constraint", action="append",
        help="METRIC<=VALUE the returned architecture must meet (repeatable): params/flops exactly, or a device "
        "latency lat_<device>_ms (units ms, s, us) with --device-samples",
    )
    sp.add_argument(
        "--device-samples", type=int,
        help="latency measurements the search may spend per constrained device (half, at most 5, adapt the latency "
        "predictor; the rest verify the best candidates)",
    )
    sp.add_argument(
        "--report", action=_CommaList,
        help="table metrics, comma-separated or repeated, read for the best architecture only after the search",
    )
    sp.add_argument("--quiet", action="store_true", help="no progress bar (the results are still printed)")
    sp.add_argument("--json", action="store_true", help='one JSON object: {"history": [{"arch", "value"}], "best", "space", "objective", "direction", "method", "seed", "setup"}; with --report, best has "report": {metric: value}')
    sp.add_argument("--benchmark", help=_BENCHMARK_HELP)
    sp.set_defaults(func=_cmd_search)

    sp = sub.add_parser(
        "pareto",
        help="sample the Pareto front of several objectives with a label budget",
        epilog="examples:\n  nagen pareto --space nb201 --objectives cifar10_test:max,params:min --budget 200 --seed 0 --json\n"
        "  nagen pareto --objectives cifar10_valid_12ep:max,params:min --report cifar10_test --budget 200  # honest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--space", default="nb201", help="space name (default nb201)")
    sp.add_argument("--objectives", required=True, action=_CommaList, help="METRIC:max|min, comma-separated or repeated, at least two")
    sp.add_argument("--budget", type=int, default=200, help="labels to pay (default 200)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--method", default="opgfn", help="opgfn (default), bo, evolution, random")
    sp.add_argument(
        "--batch-size", type=int, default=None,
        help="labels per round (default: 10 for opgfn and two-objective bo, 2 for level-wise bo, 1 for evolution; not for random, which has no rounds)",
    )
    sp.add_argument("--ref-point", help="hypervolume reference, comma-separated, one number per objective in --objectives order (default: the table's median of each max objective, 1.1 x its maximum of each min objective)")
    sp.add_argument("--report", action=_CommaList, help="table metrics, comma-separated or repeated, read for the front only after the search")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--json", action="store_true", help='one JSON object: {"history", "front", "hypervolume", "objectives", "ref_point", "space", "method", "seed"}; input of \'nagen plot pareto\'')
    sp.add_argument("--benchmark", help=_BENCHMARK_HELP)
    sp.set_defaults(func=_cmd_pareto)

    sp = sub.add_parser(
        "train",
        help="train a diffusion generator on a whole space and save the checkpoint",
        epilog="example:\n  nagen train --space nb201 --steps 3000 --out nb201.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--space", default="nb201", help="space name (default nb201)")
    sp.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000)")
    sp.add_argument("--hidden", type=int, default=32, help="score-network width (default 32)")
    sp.add_argument("--layers", type=int, default=2, help="transformer blocks (default 2)")
    sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sp.add_argument("--out", required=True, help="checkpoint path (.pt); use it with 'nagen generate --checkpoint'")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--json", action="store_true", help='one JSON object: {"out", "space", "trained_on", "final_loss"}')
    sp.set_defaults(func=_cmd_train)

    sp = sub.add_parser(
        "plot",
        help="draw an architecture, op distributions, search traces or a Pareto front to PNG/SVG",
        epilog="examples:\n"
        "  nagen plot arch --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|' --out cell.png\n"
        "  nagen plot ops --space nb201 --n 1000 --out ops.svg\n"
        "  nagen plot ops --space nb101 --checkpoint nb101.pt --out ops.svg  # a model from 'nagen train'\n"
        "  nagen plot trace --input bo0.json --input bo1.json --input re0.json --input re1.json --out trace.png"
        "  # one line per method: median over seeds, 25-75% band\n"
        "  nagen plot pareto --input pareto.json --out front.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # options a kind does not use are refused (_PLOT_OPTIONS): defaults are None (False for switches), so "given" is any other value
    sp.add_argument("kind", choices=tuple(_PLOT_OPTIONS), help="what to draw")
    sp.add_argument("--out", required=True, help="output file: .png, .svg or .pdf")
    sp.add_argument("--space", default=None, help="space name, for 'arch' and 'ops' (default nb201)")
    sp.add_argument("--arch", help="architecture string (kind 'arch')")
    sp.add_argument("--pruned", action="store_true", help="'arch': draw the pruned, computationally equivalent graph")
    sp.add_argument("--input", action="append", help="JSON output of search/pareto/generate (repeatable)")
    sp.add_argument(
        "--objectives", action=_CommaList,
        help="'pareto': the two METRIC:max|min to draw, comma-separated or repeated (default: the pareto file's \"objectives\")",
    )
    sp.add_argument(
        "--minimize", action="store_true",
        help="'trace' of a minimised objective (only needed for files without a \"direction\", written by older versions)",
    )
    sp.add_argument("--n", type=int, default=None, help="samples to generate for 'ops' without --input (default 1000)")
    sp.add_argument("--seed", type=int, default=None, help="random seed for 'ops' without --input (default 0)")
    sp.add_argument(
        "--checkpoint",
        help="'ops' without --input: a diffusion generator saved by 'nagen train' (default: the shipped one; "
        "spaces without one train it first, on every call)",
    )
    sp.add_argument("--quiet", action="store_true", help="no progress bar and no 'wrote FILE' line on stderr")
    sp.set_defaults(func=_cmd_plot)
    for sp in sub.choices.values():
        # also after the command (`nagen generate --plugin m.py ...`); its own dest, since argparse copies every
        # attribute of the subcommand's namespace over the top level's (a default [] would erase `nagen --plugin m`)
        sp.add_argument(
            "--plugin", action="append", dest="plugin_after", default=argparse.SUPPRESS, metavar="MODULE",
            help="import MODULE (a dotted module name or a .py file) before the command; repeatable (see 'nagen --help')",
        )
    return p


_PLUGIN_HELP = (
    "import MODULE before the command, so the spaces, generators and predictors it registers can be named: a dotted "
    "module name importable from sys.path, or a .py file (imported by its file name; its folder is added to sys.path and "
    "PYTHONPATH). Repeatable; NAGEN_PLUGINS (comma-separated) adds more. Labelling worker processes (none by default: "
    "the CLI labels from tables in-process) do not run --plugin: they import a plugin only to unpickle something defined "
    "in it, and only if it is importable by name"
)


def _load_plugins(specs: Sequence[str]) -> None:
    """Import each plugin once, in order: a dotted module name, or the path of a ``.py`` file.

    A file is executed as the top-level module named by its file name (that exact file, not another
    module of that name earlier on ``sys.path``); its folder goes first on ``sys.path`` and on the
    ``PYTHONPATH`` of child processes, so that a worker unpickling one of its classes can import it
    by that name. Naming the same plugin twice (flag and ``NAGEN_PLUGINS``) imports it once.

    Raises:
        InvalidArgumentError: a plugin cannot be found or raised while importing (one line, with the cause).
    """
    import importlib

    done: set[str] = set()
    for spec in (s.strip() for s in specs):
        if not spec or spec in done:
            continue
        done.add(spec)
        try:
            if spec.endswith(".py") or any(sep and sep in spec for sep in (os.sep, os.altsep)):
                _import_file(spec)
            else:
                importlib.import_module(spec)
        except Exception as e:  # noqa: BLE001 - any failure of a user's module is reported as one line
            cause = " ".join(str(e).split())  # a user's multi-line message, still one line
            raise InvalidArgumentError(
                f"plugin {spec!r} could not be imported: {type(e).__name__}" + (f": {cause}" if cause else "") + _plugin_path_hint(spec, e)
            ) from None


def _plugin_path_hint(spec: str, error: Exception) -> str:
    """A hint for a module name whose top-level package is not on ``sys.path``, else "".

    The ``nagen`` console script, unlike ``python -m``, does not put the working directory on
    ``sys.path``, so ``--plugin my_pkg.spaces`` run beside ``my_pkg/`` fails although the package
    is right there; that is a setup to explain, not a reason to change where imports look. A
    ModuleNotFoundError from inside the plugin (a dependency it lacks) or for a submodule of a
    package that was found gets no hint: the path is not the problem then.
    """
    top = spec.split(".")[0]
    if not isinstance(error, ModuleNotFoundError) or error.name != top or spec.endswith(".py"):
        return ""
    return (
        f" (no package {top!r} on sys.path; the nagen command does not look in the current folder: run from a folder "
        f"on sys.path, set PYTHONPATH=. (or the folder holding {top!r}), run 'python -m nagen ...', or give the "
        "plugin's .py file path)"
    )


def _import_file(spec: str) -> None:
    """Import the ``.py`` file ``spec`` as the module named by its file name (see ``_load_plugins``)."""
    import importlib.util

    path = os.path.realpath(os.path.expanduser(spec))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file {path}")
    folder, filename = os.path.split(path)
    name, ext = os.path.splitext(filename)
    if ext != ".py" or not name.isidentifier():
        raise ImportError(f"a plugin file must be NAME.py with NAME a Python identifier, got {filename!r}")
    loaded = sys.modules.get(name)
    if loaded is not None:
        where = getattr(loaded, "__file__", None)
        if where and os.path.realpath(where) == path:
            return  # already imported, e.g. by another plugin
        # importing it under that name would replace (or silently be) another module, e.g. a file named json.py
        raise ImportError(f"a module named {name!r} is already imported (from {where or 'built-in'}); rename the file")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    pythonpath = os.environ.get("PYTHONPATH", "")
    if folder not in pythonpath.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(x for x in (folder, pythonpath) if x)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # as an import does: the module may import itself, dataclasses look it up
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nagen`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    import warnings

    def one_line(message: Any, category: Any, *rest: Any, **kw: Any) -> None:
        # a command-line user needs the message, not the library line that raised it
        sys.stderr.write(f"nagen: warning: {message}\n")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            # GPyTorch's jitter on a nearly singular covariance is its intended fix, not news for a CLI user
            warnings.filterwarnings("ignore", message=r"A not p\.d\., added jitter")
            _load_plugins([*os.environ.get("NAGEN_PLUGINS", "").split(","), *args.plugin, *getattr(args, "plugin_after", [])])
            args.func(args)
    except NagenError as e:
        from nagen.errors import UnknownGeneratorError, UnknownSpaceError

        hint = " (load your own module with --plugin MODULE or NAGEN_PLUGINS)" if isinstance(e, (UnknownSpaceError, UnknownGeneratorError)) else ""
        sys.stderr.write(f"nagen: error: {e}{hint}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. `nagen sample ... | head`
        return 0
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback from deep inside a fit
        sys.stderr.write("nagen: interrupted\n")
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
