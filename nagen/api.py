"""The public one-call API: ``nagen.generate``.

>>> import nagen
>>> out = nagen.generate(space="nb201", n=10, method="diffusion",
...                      guide="cifar10_valid_12ep", constraints={"params": 1.0e6}, seed=0)  # doctest: +SKIP
>>> out[0].arch, out[0].predicted                                                          # doctest: +SKIP

Guidance by a metric name pays ``guide_labels`` random cells labelled from the space's
benchmark table (reported as ``labels_used``): ``method="diffusion"`` fits a noise-aware GNN
predictor on them and steers sampling with it; ``method="opgfn"`` learns an order-preserving
GFlowNet reward from their order alone. ``params``/``flops`` are counted, never labelled: as
guides (the exact count, its linear surrogate steering diffusion; the counted values ordered for
OP-GFN) and as constraints (a linear surrogate guides sampling and the exact count filters the
result), with no label paid.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nagen.errors import (
    InvalidArgumentError,
    InvalidGuidanceError,
    MissingSourceDevicesError,
    UnknownBenchmarkError,
    UnknownMetricError,
    check_int,
    check_real,
    choices_hint,
    did_you_mean,
    named_options,
    unknown_metric_message,
)
from nagen.constraints import EXACT_COSTS as _EXACT_COSTS  # counted on the built network, never labelled
from nagen.graph import ArchGraph
from nagen._threads import single_threaded

__all__ = ["generate", "Generated", "GenerationResult", "MissingSourceDevicesError"]

#: the ``predicted`` key of an OP-GFN-guided result: the learned order score, not a metric value
ORDER_SCORE = "order_score"


@dataclass(frozen=True)
class Generated:
    """One generated architecture with the values its guides predict for it.

    ``predicted`` maps each guide or constraint name to its predictor's value; an OP-GFN guide
    has no value predictor, so its entry is ``"order_score"``: the learned order score (higher =
    ranked better under the guide metrics, unitless, comparable only within one result).
    """

    arch: ArchGraph
    string: str
    predicted: dict[str, float] = field(default_factory=dict)


class GenerationResult(list):
    """A list of ``Generated`` plus how it was made (``labels_used``, ``device_measurements``, ``stats``, ``method``).

    ``labels_used`` counts the table values of guide metrics read to fit predictors;
    ``device_measurements`` the latencies of constrained devices read (few-shot adaptation, or
    the cells a latency predictor was fitted on).
    """

    labels_used: int = 0
    device_measurements: int = 0
    method: str = ""
    stats: Any = None


#: fitted guide predictors of earlier ``generate`` calls, by (space, kind, seed, schedule, labelled data)
_GUIDE_FITS: dict[tuple[Any, ...], Any] = {}
_GUIDE_FITS_LIMIT = 8


def _resolve_generator(space: Any, method: str, seed: int, progress: bool, generator: Any) -> Any:
    import nagen.generators as G

    if isinstance(generator, (str, os.PathLike)):
        # a checkpoint file saved by `nagen train` / DiffusionGenerator.save: load it for this space
        from nagen.generators.diffusion import DiffusionGenerator

        generator = DiffusionGenerator.load(generator, space)
    if generator is not None:  # a Generator: _check_method refused anything else
        if generator.space != space:  # custom spaces compare by spec
            raise InvalidGuidanceError(f"generator samples space {generator.space.name!r}, not {space.name!r}")
        return generator
    if method == "diffusion":
        from nagen.generators.diffusion import DiffusionGenerator

        if DiffusionGenerator.has_pretrained(space):
            # a shipped checkpoint that fails to load is a broken install: say so, never retrain silently
            return DiffusionGenerator.pretrained(space.name)
        else:
            import warnings

            # minutes of silent work otherwise: say what is happening and how to do it only once
            warnings.warn(
                f"no shipped diffusion checkpoint for space {space.name!r}: training one now (3,000 steps, "
                "about 1.5 min for nb101, 3 min for mbv3 on one CPU core). To train the same model once and reuse it: "
                f"'nagen train --space {space.name} --hidden 64 --layers 3 --out {space.name}.pt' (plus --plugin for your own space), "
                f"then pass --checkpoint {space.name}.pt "
                f"(Python: generator='{space.name}.pt')",
                stacklevel=3,
            )
            return DiffusionGenerator(space, seed=seed).fit(progress=progress)
    return G.get(method, space, seed=seed).fit()


def _check_method(space: Any, method: str, generator: Any, guide_items: Sequence[Any], steps: int | None, weights: Sequence[str] = ()) -> str:
    """Refuse a method that cannot do what was asked before any predictor is fitted or label paid
    (``weights``: the guidance weights the caller set, refused where nothing is steered by them).
    Returns the method that will sample: with ``generator=``, the registered name of its class."""
    if generator is not None and not isinstance(generator, (str, os.PathLike)):
        from nagen.generators.base import Generator

        if not isinstance(generator, Generator):
            raise InvalidArgumentError(
                f"generator must be a nagen Generator (e.g. DiffusionGenerator.load('my.pt')) or a checkpoint path, "
                f"got {type(generator).__name__}"
            )
        cls, what = type(generator), f"generator {type(generator).__name__}"
    elif generator is not None:
        from nagen.generators.diffusion import DiffusionGenerator

        cls, what = DiffusionGenerator, "a diffusion checkpoint"
    else:
        import nagen.generators as G

        cls, what = G.registry.resolve(method), f"method {method!r}"
    soft = [g if isinstance(g, str) else g.name or type(g.predictor).__name__ for g in guide_items if not getattr(g, "hard", False)]
    if _order_guided(cls, generator):
        # the OP-GFN reward is learned from labelled cells' order: a predictor gives no labels to order
        objects = [g.name or type(g.predictor).__name__ for g in guide_items if not isinstance(g, str) and not g.hard]
        if objects:
            raise InvalidGuidanceError(
                f"{what} learns its reward from the order of labelled cells, so it is guided by metric names of the "
                f"benchmark table, not by Guide objects (got {objects}); use method 'diffusion' for your own predictors"
            )
    elif soft and not getattr(cls, "supports_guidance", True):
        hint = "use method 'diffusion'"
        if _order_guided(cls, None):  # a fitted OP-GFN passed as generator= samples the reward it was fitted on
            hint = "fit it on your labels (OPGFNGenerator.fit(archs, values)) and pass no guide, or use method 'opgfn' without generator="
        raise InvalidGuidanceError(
            f"{what} cannot be guided (got guides {soft}); {hint}, "
            "or pass only constraints, which every method applies as filters"
        )
    if weights and not getattr(cls, "supports_guidance", True):
        # silently ignored before: method="opgfn", scale=50 gave exactly the samples of scale=1
        raise InvalidGuidanceError(
            f"{' and '.join(weights)} weight the guidance of method 'diffusion'; {what} is not steered by them "
            "(it applies constraints as filters only): drop them or use method 'diffusion'"
        )
    if steps is not None and not hasattr(cls, "sample_state"):
        raise InvalidArgumentError(f"steps sets reverse-diffusion steps, but {what} does not diffuse; drop steps or use method 'diffusion'")
    if generator is None:
        return method
    import nagen.generators as G

    G.registry.resolve(method)  # an unknown method is an error with or without a generator
    # the nearest registered ancestor names a user's subclass; an unrelated Generator goes by its class name
    names = {G.registry.resolve(n): n for n in G.names()}
    kind = next((names[c] for c in cls.__mro__ if c in names), cls.__name__)
    if method not in ("diffusion", kind):
        # the generator samples, whatever method says: method='opgfn' with a diffusion checkpoint
        # silently did diffusion guidance and reported method 'opgfn'
        raise InvalidArgumentError(
            f"generator= is {what} ({kind!r}); it does not go with method={method!r}: leave method at its default or "
            f"pass method={kind!r}, or drop generator= to use method {method!r}"
        )
    return kind


def _method_class(method: str) -> type:
    import nagen.generators as G

    return G.registry.resolve(method)


def _order_guided(cls: type, generator: Any) -> bool:
    """Whether ``generate`` fits ``cls`` itself on labelled cells ordered by the guide metrics (OP-GFN)."""
    from nagen.generators.opgfn import OPGFNGenerator

    return generator is None and isinstance(cls, type) and issubclass(cls, OPGFNGenerator)


def _latency_meta_table(table: Any, metric: str) -> Any:
    """The table whose source devices meta-train the few-shot latency model for ``metric``:
    ``table`` when it has them, else the space's shipped table (a user's own device column on
    NB201), else :class:`MissingSourceDevicesError`."""
    import nagen.benchmarks
    from nagen.predictors.latency import HELP_META_TRAIN, HELP_VALIDATION

    device = metric[4:-3]
    # meta_latency_model trains on these and selects its epoch on those: it reads every one of them
    needed = [d for d in (*HELP_META_TRAIN, *HELP_VALIDATION) if d != device]

    def missing(t: Any) -> list[str]:
        return [d for d in needed if d not in t.metrics and f"lat_{d}_ms" not in t.metrics]

    if not missing(table):
        return table
    name = table.space.name
    shipped = nagen.benchmarks.load(name) if name in nagen.benchmarks.names() else None
    if shipped is not None and shipped is not table and shipped.space is table.space and not missing(shipped):
        return shipped  # the measurements still come from `table`: only the meta-training reads this one
    raise MissingSourceDevicesError(
        f"constraint {metric!r} with device_samples: the few-shot latency model is meta-trained on HELP's source "
        f"devices' latencies ({', '.join(needed)}), and table {table.name!r} lacks {choices_hint(missing(table), 20)} "
        f"(space {name!r} ships no table that has them). Add those latency columns to the table, or drop "
        f"device_samples: a latency constraint without it fits a cost predictor on guide_labels measured cells of {metric!r}"
    )


def _meta_latency(table: Any, metric: str, progress: bool) -> Any:
    """A copy of the few-shot latency model meta-trained for ``metric``'s device on ``table``
    (:func:`nagen.constraints.meta_latency_model`, cached per process and on disk)."""
    from nagen.constraints import meta_latency_model

    # one model per device, whatever the generate seed, as Study does: it is meta-trained on other
    # devices only, and a model per seed meant a minute of meta-training for every new seed
    cached = meta_latency_model(table, metric, seed=0, progress=progress)
    # adapt() changes the model, so hand out copies; the space is shared, not copied (guides check identity)
    return copy.deepcopy(cached, memo={id(cached.space): cached.space})


def _transfer_generate(sp: Any, n: int, method: str, guide: Any, transfer_from: Any, benchmark: str | None, options: dict[str, Any]) -> GenerationResult:
    """``generate(transfer_from=...)``: check the pieces, then ``TransferTask.generate`` (zero-shot)."""
    from nagen.transfer import TransferTask

    if method != "diffusion":
        raise InvalidGuidanceError(
            f"transfer_from guides the diffusion generator by the meta-predictor; method {method!r} cannot take it (use method='diffusion')"
        )
    if isinstance(transfer_from, TransferTask):
        task = transfer_from
        if task.space != sp:  # custom spaces compare by spec, as generators do
            raise InvalidGuidanceError(f"the TransferTask is for space {task.space.name!r}, not {sp.name!r}")
        named_target = guide == task.target or (isinstance(guide, (list, tuple)) and list(guide) == [task.target])
        if guide is not None and not named_target:
            raise InvalidGuidanceError(f"guide {guide!r} differs from the TransferTask's target {task.target!r}; omit guide")
        if benchmark is not None:
            raise InvalidGuidanceError("benchmark comes from the TransferTask; do not pass both")
    else:
        from nagen.search_api import _names

        sources = _names(transfer_from, "transfer_from")
        if not sources or not all(sources):
            raise InvalidGuidanceError(f"transfer_from names no source metric (got {transfer_from!r}); pass None to generate without transfer")
        targets = [guide] if isinstance(guide, str) else list(guide) if isinstance(guide, (list, tuple)) else None
        if not targets or len(targets) != 1 or not isinstance(targets[0], str):
            raise InvalidGuidanceError(
                f"with transfer_from, guide must name the one target metric (e.g. guide='cifar10_test'), got {guide!r}"
            )
        task = TransferTask(sources, targets[0], sp, benchmark=benchmark)
    return task.generate(n, **options)


@named_options("nagen.generate")
@single_threaded
def generate(
    space: Any = "nb201",
    n: int = 100,
    method: str = "diffusion",
    guide: str | Sequence[str] | Any = None,
    constraints: Mapping[str, float] | Sequence[Any] | None = None,
    seed: int = 0,
    *,
    scale: float | None = None,
    constraint_scale: float | None = None,
    benchmark: Any = None,
    guide_labels: int = 100,
    device_samples: int | None = None,
    steps: int | None = None,
    generator: Any = None,
    unique: bool = False,
    transfer_from: str | Sequence[str] | Any = None,
    progress: bool = False,
) -> GenerationResult:
    """Generate ``n`` architectures of ``space``, optionally steered toward metrics and under constraints.

    Args:
        space: a space name or ``SearchSpace``.
        n: number of architectures.
        method: a registered generator. ``"diffusion"``: the shipped (or trained) diffusion
            model, steered by predictors fitted on ``guide_labels`` labelled cells. ``"opgfn"``:
            with a metric ``guide``, an order-preserving GFlowNet (``OPGFNGenerator``) fitted
            on ``guide_labels`` labelled cells whose reward is learned from their order alone
            (several metrics: their Pareto order); without a guide, a plain GFlowNet uniform
            over the space (a slow random sampler). ``"random"``: uniform, never guided.
        guide: what to steer toward: a metric name of the space's benchmark table (maximised or
            minimised by its direction), a list of names, or ``nagen.generators.guidance.Guide``
            objects built from your own predictors (``"diffusion"`` only: OP-GFN needs labels).
        constraints: ``{metric: bound}`` (an upper bound for minimised metrics: ``params``,
            ``flops``, a latency column; a lower bound for maximised ones), or a list of
            ``"METRIC<=VALUE"`` / ``"METRIC>=VALUE"`` strings, whose side is as written (see
            :func:`nagen.constraints.parse_constraint`); both forms get its checks before
            anything is paid. Diffusion is guided by them; every method filters by them.
        seed: same seed, same output.
        scale: weight of each metric guide of ``"diffusion"`` (default 10, which trades mean
            accuracy against diversity well on NB201; larger values concentrate the samples on the
            predictor's favourite cells; with ``transfer_from`` the default is 2). OP-GFN ignores
            it (its sharpness is ``OPGFNGenerator(beta=...)``), so it and ``constraint_scale`` are
            refused for methods that are not steered (``opgfn``, ``random``, ...).
        constraint_scale: guidance weight of each constraint, diffusion only (default 1; the hard
            filter applies regardless). Not in the units of ``scale``: a counted cost (params, FLOPs)
            guides through the denoised estimate, whose gradient is much larger than a noise-aware
            predictor's early in sampling and smaller at the end, so the two weights are tuned apart.
            It matters for tight bounds: NB201, guide ``cifar10_test``, 200 samples, seeds 0-1,
            ``params <= 0.3M``: weight 1 returns all 200 from 216 draws, filter-only (0) only
            143-160 from ~4,200 draws (mean test accuracy 82.1 / 88.9 vs 88.7 / 88.8). For a loose
            bound (``params <= 0.8M``) it saves less (~1.4x fewer draws) and costs accuracy
            (91.1 vs 91.9 mean); pass 0 there. See ``benchmarks/results/generation.md``.
        benchmark: table that labels metric guides: a table name or a ``nagen.benchmarks.Benchmark``
            (e.g. ``Benchmark.from_csv(path, space)``; default: the space's own table).
        guide_labels: random cells labelled to fit each metric predictor, or the OP-GFN reward
            (labels paid per metric; drawn from the space, duplicates dropped, so a few fewer
            distinct cells can be paid; from the table's rows when the table covers only part of
            the space, e.g. a user's CSV).
        device_samples: for a latency constraint (a ``lat_<device>_ms`` column): adapt the
            few-shot ``LatencyPredictor`` (meta-trained on HELP's source devices, never on the
            constrained one; one model per device, whatever the seed, as in ``Study``) from
            this many measurements on the device, chosen by its ``reference_archs`` among the
            table's measured cells; they are paid and reported as ``device_measurements``. A
            user's table without the source devices' columns borrows them from the space's
            shipped table (NB201) for meta-training only. Without ``device_samples``, a latency
            constraint fits a cost GNN on ``guide_labels`` cells measured on the device (counted
            in ``device_measurements``). Either way the filter keeps cells whose *predicted*
            latency meets the bound, so a returned cell can exceed it on the device; ``search``
            verifies with measurements instead.
        steps: reverse-diffusion steps (default: the generator's own, 20 DDIM steps on fixed topologies).
        generator: an already fitted generator to use instead of the default for ``method``, or the
            path of a diffusion checkpoint saved by ``nagen train`` / ``DiffusionGenerator.save``.
        unique: return no two equivalent architectures (canonical hash); duplicates are redrawn,
            so a sharply peaked model (an OP-GFN fitted on a clear order) may return fewer than ``n``,
            with a warning; ``n`` above the space's size is refused. Default False: the samples as
            drawn, repeats and all.
        transfer_from: source metrics (a list or a comma-separated string) of the benchmark
            table, or a :class:`~nagen.transfer.TransferTask`: conditional generation for a task
            *without its labels* (DiffusionNAG's transferable generation). ``guide`` then names the
            one target metric (optional with a ``TransferTask``); the diffusion model is guided by
            the task-aware meta-predictor meta-trained on the sources (trained once, ~45 s on NB201,
            then cached) and adapted zero-shot, so no target label is paid. Each ``predicted``
            holds ``"transfer_score"`` (standardised, higher is better). Constraints work as
            usual. See :meth:`nagen.transfer.TransferTask.generate` to adapt to a few measured
            target labels.
        progress: show progress bars.

    Returns:
        A ``GenerationResult`` (a list of ``Generated``) with ``labels_used`` and ``stats``; fewer
        than ``n`` (with a warning) only when the constraints (or ``unique``) rejected too many draws. Each
        ``predicted`` holds the guides' and constraints' predicted values; an OP-GFN guide adds
        ``"order_score"``, the learned order score (unitless, not a metric value), and nothing
        when the labels held no strict comparison (sampling was then uniform, with a warning).

    Raises:
        InvalidArgumentError: ``n``, ``seed``, ``guide_labels`` (at most the table's rows) or ``steps``
            out of range, or ``steps`` for a method that does not diffuse.
        InvalidGuidanceError: a malformed or repeated guide, a constraint bound that is not a
            finite number, a guide for a method that cannot be guided (or a ``Guide`` object for
            ``"opgfn"``; refused before any label is paid), ``scale`` or ``constraint_scale``
            for a method that is not steered, ``device_samples`` without a
            latency constraint, or no sampled architecture met the constraints (e.g. a bound
            below every architecture of the space).
        ConstraintError: a constraint that does not parse, or an upper bound <= 0 on a cost or
            latency (either form).
        UnknownDeviceError: a latency constraint names a device the table has no column for
            (lists the devices).
        UnknownMetricError: a guide or constraint names a metric the table does not have.
        MissingSourceDevicesError: ``device_samples`` on a table without the latency model's
            source devices, on a space that ships no table with them.
    """
    import nagen.spaces
    from nagen.constraints import Constraint, parse_constraint, parse_constraints
    from nagen.generators.guidance import Guide

    sp = nagen.spaces.get(space)
    if transfer_from is not None:
        return _transfer_generate(
            sp, n, method, guide, transfer_from, benchmark,
            dict(constraints=constraints, seed=seed, scale=2.0 if scale is None else scale, constraint_scale=constraint_scale,
                 guide_labels=guide_labels, device_samples=device_samples, steps=steps, generator=generator, unique=unique,
                 progress=progress),
        )  # fmt: skip
    weights = [k for k, v in (("scale", scale), ("constraint_scale", constraint_scale)) if v is not None]
    scale = 10.0 if scale is None else scale
    constraint_scale = 1.0 if constraint_scale is None else constraint_scale
    check_int(n, "n", 0)
    check_int(seed, "seed", 0)  # numpy's seeding refuses negative seeds, late and with a bare ValueError
    from nagen.generators.base import check_unique_count

    # known before any model is trained (Generator.sample refuses it too, but only after a fit)
    check_unique_count(sp, n, unique)
    for label, value in (("scale", scale), ("constraint_scale", constraint_scale)):
        # NumPy scalars are numbers too (float32 is no float subclass); an infinite weight makes NaN gradients
        check_real(value, label, 0.0, error=InvalidGuidanceError)
    if guide is None or isinstance(guide, (str, Guide)):
        guide_items: list[Any] = [] if guide is None else [guide]
    elif isinstance(guide, Iterable) and not isinstance(guide, Mapping):
        guide_items = list(guide)
    else:
        raise InvalidGuidanceError(
            f"guide must be a metric name, a Guide or a list of them, got {type(guide).__name__} {guide!r}"
        )
    for g in guide_items:
        if not isinstance(g, (str, Guide)):
            raise InvalidGuidanceError(f"guide must be a metric name or a Guide, got {type(g).__name__} {g!r}")
    named = [g for g in guide_items if isinstance(g, str)]
    twice = sorted({g for g in named if named.count(g) > 1})
    if twice:  # two guides on one metric would fit it twice and count its labels twice
        raise InvalidGuidanceError(f"guide metric(s) {twice} given more than once; give each metric once (use scale to weight it)")
    bounds: dict[Any, Any] = {}  # {metric: bound}: the side follows the metric's direction, known once the table is
    parsed: list[Constraint] = []  # strings, (metric, op, bound) tuples or Constraint objects: the side is written
    if constraints is None or isinstance(constraints, Mapping):
        bounds = dict(constraints or {})
        for m, v in bounds.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise InvalidGuidanceError(f"constraint {m!r} needs a finite bound, got {v!r}")
    else:
        parsed = parse_constraints(constraints)  # syntax, sign and units; the metrics once the table is loaded
    constrained = list(bounds) + [c.metric for c in parsed]
    metric_names = named + [m for m in constrained if m not in _EXACT_COSTS]
    table = None
    # params/FLOPs are counted on the built network: they need no table (nb101, mbv3 and user spaces have none)
    if any(m not in _EXACT_COSTS for m in metric_names) or benchmark is not None:  # a named table is checked even when nothing reads it yet
        import nagen.benchmarks

        try:
            table = nagen.benchmarks.load(benchmark if benchmark is not None else sp.name)
        except UnknownBenchmarkError as e:
            if benchmark is not None:
                raise
            # the space has no table: say which metric needed one, and what works without
            wanted = [m for m in metric_names if m not in _EXACT_COSTS]
            raise UnknownBenchmarkError(
                f"cannot guide or constrain by {wanted}: space {sp.name!r} has no benchmark table to label them ({e}); "
                f"without one only the counted costs {list(_EXACT_COSTS)} can guide or constrain"
                + (did_you_mean(wanted[0], _EXACT_COSTS) if len(wanted) == 1 else "")
            ) from None
        if table.space is not sp and nagen.spaces.same_space(table.space, sp):
            sp = table.space  # one space in two objects (a spec read twice): guides compare spaces by identity
        if table.space is not sp:
            raise InvalidGuidanceError(
                f"benchmark {table.name!r} labels space {table.space.name!r}, not the generated space {sp.name!r}"
            )
        for m in named:
            if m not in table.metrics and m not in _EXACT_COSTS:
                raise UnknownMetricError(f"cannot guide by {m!r}: {unknown_metric_message(table.name, m, table.metrics)}")
    # the dict form gets the string form's checks (a positive upper bound on a cost or latency, a
    # known metric, an unknown device named as one) before any label or measurement is paid
    cons: list[Constraint] = []
    for m, v in bounds.items():
        known = table is not None and m in table.metrics
        op = ">=" if m not in _EXACT_COSTS and known and table.direction(m) == "max" else "<="
        cons.append(parse_constraint((m, op, float(v)), None if m in _EXACT_COSTS else table.metrics))
    for c in parsed:
        cons.append(c if c.metric in _EXACT_COSTS else parse_constraint(c, table.metrics))
    if device_samples is not None:
        check_int(device_samples, "device_samples", 2, InvalidGuidanceError)
    latency_bounds = [c.metric for c in cons if c.device is not None]
    if device_samples is not None and not latency_bounds:
        raise InvalidGuidanceError(
            "device_samples needs a device latency constraint (e.g. constraints=['lat_pixel2_ms<=18']); none was given"
        )
    check_int(guide_labels, "guide_labels", 2)  # labelled cells per metric guide
    # a few-shot latency constraint pays device measurements, not labels: it needs no labelled cells
    few_shot = {m for m in latency_bounds if device_samples is not None}
    labelled_metrics = [m for m in metric_names if m not in few_shot or m in named]
    if labelled_metrics and table is not None and guide_labels > len(table):
        # cells are drawn with replacement: more draws than rows only re-draw cells, for minutes of fitting
        raise InvalidArgumentError(
            f"guide_labels must be at most the {len(table)} rows of table {table.name!r}, got {guide_labels}"
        )
    if steps is not None:
        check_int(steps, "steps", 1)  # reverse-diffusion steps
    method = _check_method(sp, method, generator, guide_items, steps, weights)
    meta_tables: dict[str, Any] = {}  # latency metric -> table its few-shot model is meta-trained on
    if device_samples is not None:
        assert table is not None
        for m in latency_bounds:
            meta_tables[m] = _latency_meta_table(table, m)
            measured = int(np.sum(np.isfinite(np.asarray(table.values(m), dtype=float))))
            if meta_tables[m] is not table and measured < device_samples:
                raise InvalidGuidanceError(
                    f"device_samples={device_samples} measurements of {m!r}, but table {table.name!r} has only {measured} measured cells"
                )

    from nagen.generators.base import user_seed

    rng_seed = user_seed(seed)  # seeds 0 and 2**32 must not sample alike (torch keeps 32 bits)
    if n == 0:  # nothing to generate: fit no predictor and pay no label
        from nagen.generators.base import SampleStats

        empty = GenerationResult()
        empty.method = method
        empty.stats = SampleStats()
        return empty
    labelled: list[ArchGraph] = []
    if labelled_metrics:
        if table is not None and sp.size is not None and len(table) < sp.size:
            # a table of part of the space (a user's CSV): a cell drawn from the whole space would have no row
            # ... and one with an empty cell of a guide metric would be paid for nothing: draw measured rows only
            cols = [np.asarray(table.values(m), dtype=float) for m in labelled_metrics if m in table.metrics]
            rows = np.flatnonzero(np.all(np.isfinite(cols), axis=0)) if cols else np.arange(len(table))
            if len(rows) < 2:
                raise InvalidArgumentError(
                    f"table {table.name!r} has {len(rows)} row(s) measuring every guide metric {labelled_metrics}; a guide "
                    "predictor needs at least 2 labelled cells"
                )
            pick = np.random.default_rng(rng_seed + 1).choice(rows, size=min(guide_labels, len(rows)), replace=False)
            labelled = [table.archs[int(i)] for i in pick]
        else:
            labelled = sp.sample(guide_labels, rng_seed + 1)
            labelled = list(dict.fromkeys(labelled))
    labels_used = 0
    device_measurements = 0
    labels: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}

    def direction(metric: str) -> str:
        """``"max"``/``"min"``: costs are minimised, table metrics as their table says."""
        if metric in _EXACT_COSTS:
            return "min"
        assert table is not None
        return table.direction(metric)

    def exact_predictor(metric: str) -> Any:
        import nagen.predictors as P

        return P.get("exact_cost", sp, metric=metric, seed=rng_seed)

    def label_values(metric: str) -> np.ndarray:
        nonlocal labels_used, device_measurements
        if metric not in labels and metric in _EXACT_COSTS:
            # counted on the built network, as constraints count them: no label is read or paid
            labels[metric] = np.asarray(exact_predictor(metric).predict(labelled).mean, dtype=float)
        if metric not in labels:
            assert table is not None  # a guide and a constraint on one metric share its labels (paid once)
            labels[metric] = np.asarray(table.query_many(labelled, metric), dtype=float)
            read = int(np.isfinite(labels[metric]).sum())  # an empty cell gives nothing to pay for
            if metric in latency_bounds:  # latencies measured on the device, not accuracy labels
                device_measurements += read
            else:
                labels_used += read
        return labels[metric]

    def metric_predictor(metric: str) -> Any:
        import nagen.predictors as P
        from nagen.noise import VPSchedule

        if metric in fitted:  # ... and its fit
            return fitted[metric]
        if metric in _EXACT_COSTS:  # nothing to learn: the exact count guides, and costs no label
            fitted[metric] = exact_predictor(metric)
            return fitted[metric]
        assert table is not None
        y = label_values(metric)
        ok = np.isfinite(y)  # cells the table has no value of (gaps in a column) teach nothing
        if ok.sum() < 2:
            raise InvalidArgumentError(
                f"only {int(ok.sum())} of the {len(y)} cells drawn to fit the {metric!r} guide have a value in table "
                f"{table.name!r}; a guide predictor needs at least 2"
            )
        kind = "cost" if table.direction(metric) == "min" else "gnn"
        cells = [a for a, keep in zip(labelled, ok) if keep]
        schedule = getattr(gen, "schedule", None) or VPSchedule()
        import hashlib

        import nagen.spaces

        # a seeded fit is a function of these: the same guide in the next call (a notebook cell run again,
        # another n or scale) reuses it instead of 2-3 s of GNN training (the labels are paid per call as before)
        key = (
            nagen.spaces.cache_key(sp), kind, rng_seed, schedule,
            hashlib.sha1(repr([a.to_string() for a in cells]).encode() + np.ascontiguousarray(y[ok]).tobytes()).hexdigest(),
        )
        if key not in _GUIDE_FITS:
            if len(_GUIDE_FITS) >= _GUIDE_FITS_LIMIT:
                _GUIDE_FITS.pop(next(iter(_GUIDE_FITS)))  # the oldest
            _GUIDE_FITS[key] = P.get(kind, sp, noise=schedule, seed=rng_seed, progress=progress).fit(cells, y[ok])
        fitted[metric] = _GUIDE_FITS[key]
        return fitted[metric]

    def latency_predictor(metric: str) -> Any:
        nonlocal device_measurements
        assert table is not None and device_samples is not None
        meta_table = meta_tables[metric]
        pred = _meta_latency(meta_table, metric, progress)
        if meta_table is table:
            ref = pred.reference_archs(device_samples)
        else:  # meta-trained on the shipped table: measure only cells the user's table has measured
            col = np.asarray(table.values(metric), dtype=float)
            ref = pred.reference_archs(device_samples, candidates=[a for a, v in zip(table.archs, col) if np.isfinite(v)])
        device_measurements += len(ref)
        return pred.adapt(dict(zip(ref, table.query_many(ref, metric))))

    order_guided = generator is None and _order_guided(_method_class(method), None)  # a given generator is used as is
    order_metrics = named if order_guided else []  # the OP-GFN reward's columns, not predictors
    # a given generator first: its noise schedule is the one the noise-aware guide predictors must be
    # trained on (the shipped or a newly trained one has the default schedule, and training one takes
    # minutes: that waits until the guides, which may still be refused, are fitted)
    gen = _resolve_generator(sp, method, rng_seed, progress, generator) if generator is not None and not order_metrics else None
    guides: list[Guide] = []
    for g in guide_items:
        if isinstance(g, Guide):
            guides.append(g)
        elif not order_guided:
            target = "max" if direction(g) == "max" else "min"
            guides.append(Guide(metric_predictor(g), scale, target, name=g))
    for c in cons:
        target = "le" if c.op == "<=" else "ge"
        if c.metric in _EXACT_COSTS:
            pred = exact_predictor(c.metric)
        else:
            pred = latency_predictor(c.metric) if c.metric in few_shot else metric_predictor(c.metric)
        guides.append(Guide(pred, constraint_scale, target, float(c.bound), hard=True, name=c.metric))

    flat = False  # OP-GFN labels without a strict comparison: no order learned
    if order_metrics:
        from nagen.generators.opgfn import OPGFNGenerator

        values = np.column_stack([label_values(m) for m in order_metrics])  # [cells, metrics]
        directions = [direction(m) for m in order_metrics]
        gen = OPGFNGenerator(sp, seed=rng_seed).fit(labelled, values, directions, progress=progress)
        # OPGFNGenerator has no public flag for it: labels without a strict comparison train a uniform reward
        flat = bool(getattr(gen, "_flat_reward", False))
        if flat:
            import warnings

            warnings.warn(
                f"generate: the {len(labelled)} labelled cells hold no strict comparison under {order_metrics} "
                "(all tied or mutually non-dominated): OP-GFN has no order to learn and samples uniformly",
                stacklevel=2,
            )
    elif gen is None:
        gen = _resolve_generator(sp, method, rng_seed, progress, generator)
    options = {"steps": steps} if steps is not None else {}  # _check_method refused steps for non-diffusion
    archs = gen.sample(n, seed=rng_seed, guides=guides, unique=bool(unique), **options)
    st = gen.last_stats
    if len(archs) < n and st.filtered:
        why = ", ".join(f"{k}: {v}" for k, v in st.reasons.items())
        if not archs:
            # an empty answer to a request for n is an error, not a result: say which constraint rejected what
            predicted = [c.metric for c in cons if c.metric not in _EXACT_COSTS]
            # a bound the space can meet may still be out of reach of a predictor fitted on few labels
            hint = (
                f"; {predicted} are filtered by predicted values (a predictor fitted on {len(labelled)} labelled cells), "
                "not measured ones: more guide_labels make it more accurate"
                if predicted and labelled
                else ""
            )
            exact = [c for c in cons if c.metric in _EXACT_COSTS]
            if exact and not predicted:
                # the bounds may be easy in the space and only missed by a generator concentrated elsewhere
                # (a sharply guided OP-GFN): then "check they can be met" sends the user the wrong way
                probe = sp.sample(200, rng_seed + 2)
                meet = np.ones(len(probe), dtype=bool)
                for c in exact:
                    meet &= np.asarray(c.ok(np.asarray(exact_predictor(c.metric).predict(probe).mean, dtype=float)), dtype=bool)
                if meet.any():
                    hint = (
                        f"; {meet.mean():.0%} of 200 random architectures meet them, so the {method!r} generator's samples "
                        "concentrate elsewhere: guide by the constrained cost too"
                        + (", or use method 'diffusion', whose guidance steers toward the bound" if method != "diffusion" else "")
                    )
            raise InvalidGuidanceError(
                f"no sampled architecture met the constraints (rejected: {why}); "
                f"loosen the bounds or check they can be met in this space{hint}"
            )
        import warnings

        dup = f"; {st.duplicates} duplicates dropped" if st.duplicates else ""
        warnings.warn(
            f"generate: only {len(archs)} of {n} architectures met the constraints after all redraw rounds ({why}{dup})",
            stacklevel=2,
        )
    elif len(archs) < n and st.duplicates:
        import warnings

        warnings.warn(
            f"generate: only {len(archs)} distinct architectures of the {n} asked for after all redraw rounds "
            f"({st.duplicates} duplicates dropped): "
            + (
                f"space {sp.name!r} has only {sp.size:,} architectures (equivalent ones count once)"
                if sp.size is not None and sp.size <= 4 * n
                else "the model concentrates on fewer cells"
            ),
            stacklevel=2,
        )
    preds = {g.name or f"guide{k}": g.predictor.predict(archs).mean if archs else np.zeros(0) for k, g in enumerate(guides)}
    if order_metrics and not flat:
        # the learned order score, honestly named: OP-GFN never predicts a metric's value
        preds[ORDER_SCORE] = gen.score(archs) if archs else np.zeros(0)
    result = GenerationResult(
        Generated(a, sp.format(a), {k: float(v[i]) for k, v in preds.items()}) for i, a in enumerate(archs)
    )
    result.labels_used = labels_used
    result.device_measurements = device_measurements
    result.method = method
    result.stats = gen.last_stats
    return result
