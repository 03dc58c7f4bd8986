"""The public one-call API: ``nagen.generate``.

>>> import nagen
>>> out = nagen.generate(space="nb201", n=10, method="diffusion",
...                      guide="cifar10_valid_12ep", constraints={"params": 1.0e6}, seed=0)  # doctest: +SKIP
>>> out[0].arch, out[0].predicted                                                          # doctest: +SKIP

Guidance by a metric name fits a noise-aware GNN predictor on ``guide_labels`` random cells
labelled from the space's benchmark table; those labels are paid for and reported
(``labels_used``). Cost constraints on ``params``/``flops`` are exact: a linear surrogate
guides sampling and the exact count filters the result.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nagen.errors import InvalidArgumentError, InvalidGuidanceError, UnknownMetricError, check_int, check_real, choices_hint
from nagen.graph import ArchGraph

__all__ = ["generate", "Generated", "GenerationResult"]

_EXACT_COSTS = ("params", "flops")


@dataclass(frozen=True)
class Generated:
    """One generated architecture with the values its guides predict for it."""

    arch: ArchGraph
    string: str
    predicted: dict[str, float] = field(default_factory=dict)


class GenerationResult(list):
    """A list of ``Generated`` plus how it was made (``labels_used``, ``device_measurements``, ``stats``, ``method``)."""

    labels_used: int = 0
    device_measurements: int = 0
    method: str = ""
    stats: Any = None


def _resolve_generator(space: Any, method: str, seed: int, progress: bool, generator: Any) -> Any:
    import nagen.generators as G

    if isinstance(generator, (str, os.PathLike)):
        # a checkpoint file saved by `nagen train` / DiffusionGenerator.save: load it for this space
        from nagen.generators.diffusion import DiffusionGenerator

        generator = DiffusionGenerator.load(generator, space)
    if generator is not None:  # a Generator: _check_method refused anything else
        if generator.space is not space:
            raise InvalidGuidanceError(f"generator samples space {generator.space.name!r}, not {space.name!r}")
        return generator
    if method == "diffusion":
        from nagen.generators.diffusion import DiffusionGenerator

        if DiffusionGenerator.has_pretrained(space.name):
            # a shipped checkpoint that fails to load is a broken install: say so, never retrain silently
            return DiffusionGenerator.pretrained(space.name)
        else:
            import warnings

            # minutes of silent work otherwise: say what is happening and how to do it only once
            warnings.warn(
                f"no shipped diffusion checkpoint for space {space.name!r}: training one now (3,000 steps, "
                "about 1.5 min for nb101, 3 min for mbv3 on one CPU core). To train once and reuse it: "
                f"'nagen train --space {space.name} --out {space.name}.pt', then pass --checkpoint {space.name}.pt "
                f"(Python: generator='{space.name}.pt')",
                stacklevel=3,
            )
            return DiffusionGenerator(space, seed=seed).fit(progress=progress)
    return G.get(method, space, seed=seed).fit()


def _check_method(space: Any, method: str, generator: Any, guide_items: Sequence[Any], steps: int | None) -> None:
    """Refuse a method that cannot do what was asked before any predictor is fitted or label paid."""
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
    if soft and not getattr(cls, "supports_guidance", True):
        raise InvalidGuidanceError(
            f"{what} cannot be guided (got guides {soft}); use method 'diffusion', "
            "or pass only constraints, which every method applies as filters"
        )
    if steps is not None and not hasattr(cls, "sample_state"):
        raise InvalidArgumentError(f"steps sets reverse-diffusion steps, but {what} does not diffuse; drop steps or use method 'diffusion'")


def _meta_latency(table: Any, metric: str, seed: int, progress: bool) -> Any:
    """A copy of the few-shot latency model meta-trained for ``metric``'s device
    (:func:`nagen.constraints.meta_latency_model`, cached per process and on disk)."""
    from nagen.constraints import meta_latency_model

    cached = meta_latency_model(table, metric, seed=seed, progress=progress)
    # adapt() changes the model, so hand out copies; the space is shared, not copied (guides check identity)
    return copy.deepcopy(cached, memo={id(cached.space): cached.space})


def generate(
    space: Any = "nb201",
    n: int = 100,
    method: str = "diffusion",
    guide: str | Sequence[str] | Any = None,
    constraints: Mapping[str, float] | Sequence[Any] | None = None,
    seed: int = 0,
    *,
    scale: float = 10.0,
    constraint_scale: float = 1.0,
    benchmark: str | None = None,
    guide_labels: int = 100,
    device_samples: int | None = None,
    steps: int | None = None,
    generator: Any = None,
    progress: bool = False,
) -> GenerationResult:
    """Generate ``n`` architectures of ``space``, optionally steered toward metrics and under constraints.

    Args:
        space: a space name or ``SearchSpace``.
        n: number of architectures.
        method: a registered generator (``"diffusion"``, ``"random"``, ...).
        guide: what to steer toward: a metric name of the space's benchmark table (maximised or
            minimised by its direction), a list of names, or ``nagen.generators.guidance.Guide``
            objects built from your own predictors.
        constraints: ``{metric: bound}`` (an upper bound for minimised metrics: ``params``,
            ``flops``, a latency column; a lower bound for maximised ones), or a list of
            ``"METRIC<=VALUE"`` / ``"METRIC>=VALUE"`` strings, whose side is as written (see
            :func:`nagen.constraints.parse_constraint`); guidance plus a hard filter.
        seed: same seed, same output.
        scale: weight of each metric guide (10 trades mean accuracy against diversity well on NB201;
            larger values concentrate the samples on the predictor's favourite cells).
        constraint_scale: guidance weight of each constraint (the hard filter applies regardless).
            It matters for tight bounds: NB201, guide ``cifar10_test``, 200 samples, seeds 0-1,
            ``params <= 0.3M``: weight 1 returns all 200 from 216 draws, filter-only (0) only
            143-160 from ~4,200 draws (mean test accuracy 82.1 / 88.9 vs 88.7 / 88.8). For a loose
            bound (``params <= 0.8M``) it saves less (~1.4x fewer draws) and costs accuracy
            (91.1 vs 91.9 mean); pass 0 there. See ``benchmarks/results/generation.md``.
        benchmark: table that labels metric guides (default: the space's own table).
        guide_labels: labelled random cells used to fit each metric predictor (labels paid).
        device_samples: for a latency constraint (a ``lat_<device>_ms`` column): adapt the
            few-shot ``LatencyPredictor`` (meta-trained on HELP's source devices, never on the
            constrained one) from this many measurements on the device, chosen by its
            ``reference_archs``; they are paid and reported as ``device_measurements``. Without
            it, a latency constraint fits a cost GNN on ``guide_labels`` measured cells.
        steps: reverse-diffusion steps (default: the generator's own, 20 DDIM steps on fixed topologies).
        generator: an already fitted generator to use instead of the default for ``method``, or the
            path of a diffusion checkpoint saved by ``nagen train`` / ``DiffusionGenerator.save``.
        progress: show progress bars.

    Returns:
        A ``GenerationResult`` (a list of ``Generated``) with ``labels_used`` and ``stats``; fewer
        than ``n`` (with a warning) only when the constraints rejected too many draws.

    Raises:
        InvalidArgumentError: ``n``, ``seed``, ``guide_labels`` (at most the table's rows) or ``steps``
            out of range, or ``steps`` for a method that does not diffuse.
        InvalidGuidanceError: a malformed or repeated guide or constraint, a guide for a method that
            cannot be guided (refused before any label is paid), ``device_samples`` without a
            latency constraint, or no sampled architecture met the constraints (e.g. a bound
            below every architecture of the space).
        ConstraintError: a constraint string that does not parse.
        UnknownMetricError: a guide or constraint names a metric the table does not have.
    """
    import nagen.spaces
    from nagen.generators.guidance import Guide

    sp = nagen.spaces.get(space)
    check_int(n, "n", 0)
    check_int(seed, "seed", 0)  # numpy's seeding refuses negative seeds, late and with a bare ValueError
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
    sides: dict[str, str | None] = {}  # metric -> "le"/"ge", or None: the side follows the metric's direction
    if constraints is None or isinstance(constraints, Mapping):
        constraints = dict(constraints or {})
        sides = {m: None for m in constraints}
    else:  # "METRIC<=VALUE" strings, (metric, op, bound) tuples or Constraint objects: the side is written
        from nagen.constraints import parse_constraints

        parsed = parse_constraints(constraints)
        constraints = {c.metric: c.bound for c in parsed}
        sides = {c.metric: "le" if c.op == "<=" else "ge" for c in parsed}
    metric_names = named + [m for m in constraints if m not in _EXACT_COSTS]
    table = None
    if metric_names or benchmark is not None:  # a named table is checked even when nothing reads it yet
        import nagen.benchmarks

        table = nagen.benchmarks.load(benchmark or sp.name)
        if table.space is not sp:
            raise InvalidGuidanceError(
                f"benchmark {table.name!r} labels space {table.space.name!r}, not the generated space {sp.name!r}"
            )
        for m in metric_names:
            if m not in table.metrics:
                raise UnknownMetricError(
                    f"cannot guide by {m!r}: table {table.name!r} has metrics {choices_hint(table.metrics, 60)}"
                )
    if device_samples is not None:
        check_int(device_samples, "device_samples", 2, InvalidGuidanceError)
    for m, v in constraints.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise InvalidGuidanceError(f"constraint {m!r} needs a finite bound, got {v!r}")
    latency_bounds = [m for m in constraints if m.startswith("lat_") and m.endswith("_ms")]
    if device_samples is not None and not latency_bounds:
        raise InvalidGuidanceError(
            "device_samples needs a device latency constraint (e.g. constraints=['lat_pixel2_ms<=18']); none was given"
        )
    check_int(guide_labels, "guide_labels", 2)  # labelled cells per metric guide
    if metric_names and guide_labels > len(table):
        # cells are drawn with replacement: more draws than rows only re-draw cells, for minutes of fitting
        raise InvalidArgumentError(
            f"guide_labels must be at most the {len(table)} rows of table {table.name!r}, got {guide_labels}"
        )
    if steps is not None:
        check_int(steps, "steps", 1)  # reverse-diffusion steps
    _check_method(sp, method, generator, guide_items, steps)

    from nagen.generators.base import user_seed

    rng_seed = user_seed(seed)  # seeds 0 and 2**32 must not sample alike (torch keeps 32 bits)
    if n == 0:  # nothing to generate: fit no predictor and pay no label
        from nagen.generators.base import SampleStats

        empty = GenerationResult()
        empty.method = method
        empty.stats = SampleStats()
        return empty
    labelled: list[ArchGraph] = []
    if metric_names:
        labelled = sp.sample(guide_labels, rng_seed + 1)
        labelled = list(dict.fromkeys(labelled))
    labels_used = 0
    fitted: dict[str, Any] = {}

    def metric_predictor(metric: str) -> Any:
        nonlocal labels_used
        import nagen.predictors as P
        from nagen.noise import VPSchedule

        assert table is not None
        if metric in fitted:  # a guide and a constraint on one metric share its labels (paid once) and its fit
            return fitted[metric]
        y = table.query_many(labelled, metric)
        labels_used += len(labelled)
        kind = "cost" if table.direction(metric) == "min" else "gnn"
        fitted[metric] = P.get(kind, sp, noise=VPSchedule(), seed=rng_seed, progress=progress).fit(labelled, y)
        return fitted[metric]

    device_measurements = 0

    def latency_predictor(metric: str) -> Any:
        nonlocal device_measurements
        assert table is not None and device_samples is not None
        pred = _meta_latency(table, metric, rng_seed, progress)
        ref = pred.reference_archs(device_samples)
        device_measurements += len(ref)
        return pred.adapt(dict(zip(ref, table.query_many(ref, metric))))

    guides: list[Guide] = []
    for g in guide_items:
        if isinstance(g, Guide):
            guides.append(g)
        else:
            assert table is not None
            target = "max" if table.direction(g) == "max" else "min"
            guides.append(Guide(metric_predictor(g), scale, target, name=g))
    for m, bound in constraints.items():
        if m in _EXACT_COSTS:
            import nagen.predictors as P

            pred = P.get("exact_cost", sp, metric=m, seed=rng_seed)
            guides.append(Guide(pred, constraint_scale, sides[m] or "le", float(bound), hard=True, name=m))
        else:
            assert table is not None
            target = sides[m] or ("le" if table.direction(m) == "min" else "ge")
            few_shot = device_samples is not None and m.startswith("lat_") and m.endswith("_ms")
            pred = latency_predictor(m) if few_shot else metric_predictor(m)
            guides.append(Guide(pred, constraint_scale, target, float(bound), hard=True, name=m))

    gen = _resolve_generator(sp, method, rng_seed, progress, generator)
    options = {"steps": steps} if steps is not None else {}  # _check_method refused steps for non-diffusion
    archs = gen.sample(n, seed=rng_seed, guides=guides, **options)
    if len(archs) < n and gen.last_stats.filtered:
        why = ", ".join(f"{k}: {v}" for k, v in gen.last_stats.reasons.items())
        if not archs:
            # an empty answer to a request for n is an error, not a result: say which constraint rejected what
            raise InvalidGuidanceError(
                f"no sampled architecture met the constraints (rejected: {why}); "
                "loosen the bounds or check they can be met in this space"
            )
        import warnings

        warnings.warn(
            f"generate: only {len(archs)} of {n} architectures met the constraints after all redraw rounds ({why})",
            stacklevel=2,
        )
    preds = {g.name or f"guide{k}": g.predictor.predict(archs).mean if archs else np.zeros(0) for k, g in enumerate(guides)}
    result = GenerationResult(
        Generated(a, sp.format(a), {k: float(v[i]) for k, v in preds.items()}) for i, a in enumerate(archs)
    )
    result.labels_used = labels_used
    result.device_measurements = device_measurements
    result.method = method
    result.stats = gen.last_stats
    return result
