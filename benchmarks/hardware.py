"""Hardware-aware NAS on NB201, issue 9 "Measured, not asserted", parts 1-3.

    python benchmarks/hardware.py                                   # all parts, defaults below
    python benchmarks/hardware.py --parts 1                         # latency table (benchmarks/results/latency.md)
    python benchmarks/hardware.py --parts 1 --rerun-latency         # recompute it with benchmarks/latency.py
    python benchmarks/hardware.py --parts 2 --seeds 5 --dump hw.jsonl
    python benchmarks/hardware.py --parts 2 --pairs pixel2:18,fpga:5 --variants honest --seeds 2
    python benchmarks/hardware.py --parts 3 --bo-seeds 5 --re-seeds 20 --dump hw.jsonl
    python benchmarks/hardware.py --parts split --seeds 2 --dump split.jsonl   # choose the device-measurement split
    python benchmarks/hardware.py --from-dump hw.jsonl              # print the tables of a dump, no run

Part 1 (few-shot latency Spearman on HELP's six test devices, k = 5/10/20) is
``benchmarks/latency.py``; this script prints its stored table, or reruns it.

Part 2, constrained search on CIFAR-100: for each (device, bound ms) pair and seed,
``nagen.search(method="bo", surrogate="gp_wl+zc", initial="zc", budget=50,
constraints=["lat_<device>_ms<=bound"], device_samples=10)``; the few-shot latency model is
meta-trained on HELP's source devices once per device with seed 0 (``meta_latency_model(...,
seed=0)``, passed as ``latency_models=``), whatever the search seed. Variant ``test`` searches
``cifar100_test`` (what HELP reports); variant ``honest`` searches ``cifar100_valid_12ep`` and
reports ``cifar100_test``, looked up after the search. Variants ``transfer`` and
``transfer-honest`` (50 labels), ``transfer10`` and ``transfer10-honest`` (10 labels) are
transferable NAS under the same constraint (HELP + MetaD2A's own setting): ``search(..., transfer_from=["cifar10_test", "imagenet16_test"])``,
the ``TransferTask`` consensus prior from the other datasets' tables re-ranked by a GP on the paid
labels, taking the best-ranked cell predicted to meet the bound. After each run the returned
architecture's *true* latency and test accuracy are read from the table.

Part 3, honest plain search: bo (gp_wl+zc, zc initial design), re and random search
``<dataset>_valid_12ep`` with 100 labels; after the run, the ``<dataset>_test`` value of the
architecture with the best validation value among the first 25 / 50 / 100 labels is read. A run
stops once it has labelled the table's validation maximum: no later label can change the choice
(ties keep the first), so the numbers equal those of the full 100-label run. Method ``transfer``
is transferable NAS under the same protocol: ``TransferTask(sources=<the other two datasets'>
_valid_12ep columns, target=<dataset>_valid_12ep)``, so no 200-epoch column is read before the
report; it uses other tasks' tables (free prior knowledge, as in part 2), which bo, re and random
do not.

Part "split" chose how the 10 device measurements are divided between adapting the latency
predictor and verifying the best candidates (``nagen.constraints.split_measurements``): the same
constrained ``cifar100_test`` search on HELP's *validation* devices (no test device involved),
bounds at latency quantiles, for several splits.

``--dump FILE`` appends each finished run as one JSON line (partial results survive a kill);
``--from-dump FILE`` prints the tables of such a file. Runs already in the dump are skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import nagen.benchmarks  # noqa: E402

HERE = Path(__file__).resolve().parent
try:  # run as ``python benchmarks/hardware.py`` (benchmarks/ on sys.path) or loaded by file path
    import _cli  # noqa: E402
except ImportError:
    sys.path.insert(0, str(HERE))
    import _cli  # noqa: E402
LATENCY_RESULTS = HERE / "results" / "latency.md"

# ------------------------------------------------------------------ part 2 settings
#: HELP + MetaD2A (HELP, NeurIPS 2021, Table 4): (device, bound ms) -> (CIFAR-100 accuracy, true latency ms)
HELP_TABLE4 = {
    ("titan_rtx_256", 18): (69.7, 17.8), ("titan_rtx_256", 21): (71.5, 18.9), ("titan_rtx_256", 25): (71.8, 24.2),
    ("gold_6226", 8): (67.3, 8.0), ("gold_6226", 11): (70.2, 10.7), ("gold_6226", 14): (72.1, 14.3),
    ("pixel2", 14): (69.7, 13.0), ("pixel2", 18): (71.8, 19.0), ("pixel2", 22): (73.2, 25.0),
    ("eyeriss", 5): (71.5, 3.9), ("eyeriss", 7): (71.8, 5.1), ("eyeriss", 9): (73.5, 9.1),
    ("fpga", 4): (70.2, 3.8), ("fpga", 5): (71.8, 4.7), ("fpga", 6): (73.5, 7.4),
}  # fmt: skip
#: variant -> (searched column, reported column)
VARIANTS = {
    "test": ("cifar100_test", "cifar100_test"), "honest": ("cifar100_valid_12ep", "cifar100_test"),
    # transferable NAS under the constraint (HELP + MetaD2A's own setting): TransferTask's consensus
    # prior from the other datasets' tables, then the study; the label budget of each variant below
    "transfer": ("cifar100_test", "cifar100_test"), "transfer10": ("cifar100_test", "cifar100_test"),
    "transfer-honest": ("cifar100_valid_12ep", "cifar100_test"), "transfer10-honest": ("cifar100_valid_12ep", "cifar100_test"),
}  # fmt: skip
#: transfer variants -> accuracy labels (the others use CONSTRAINED["budget"])
TRANSFER_BUDGET = {"transfer": 50, "transfer-honest": 50, "transfer10": 10, "transfer10-honest": 10}
#: their sources: the other NB201 datasets' 200-epoch test columns (other tasks: whole tables are free)
TRANSFER_SOURCES = ["cifar10_test", "imagenet16_test"]
CONSTRAINED = {"budget": 50, "device_samples": 10, "latency_seed": 0}
BO_OPTIONS = {"surrogate": "gp_wl+zc", "initial": "zc"}

# ------------------------------------------------------------------ part 3 settings
DATASETS = ("cifar10", "cifar100", "imagenet16")
METHODS = ("bo", "re", "random", "transfer")
#: part 3's transfer row: a TransferTask whose sources are the *other* datasets' 12-epoch validation
#: columns, so nothing 200-epoch is read before the report (the other tasks' tables are free, as in part 2)
PART3_SOURCES = {ds: [f"{o}_valid_12ep" for o in ("cifar10", "cifar100", "imagenet16") if o != ds] for ds in ("cifar10", "cifar100", "imagenet16")}
BUDGETS = (25, 50, 100)
#: the issue's references at 50 labels (test accuracy of the validation-chosen architecture)
RE_REFERENCE = {"cifar10": 93.89, "cifar100": 71.54, "imagenet16": 45.10}
TARGET_AT_50 = {"cifar10": 94.30, "cifar100": 72.0, "imagenet16": 46.2}


def table() -> nagen.benchmarks.Benchmark:
    """The shipped NB201 table (cached by ``nagen.benchmarks.load``)."""
    return nagen.benchmarks.load("nb201")


def mean_std(xs: Sequence[float]) -> str:
    """``"mean ± std"`` (population std) of ``xs`` with two decimals, ``"–"`` when empty."""
    return f"{np.mean(xs):.2f} ± {np.std(xs):.2f}" if len(xs) else "–"


def markdown(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ================================================================== part 1
def part1(rerun: bool, seeds: int) -> None:
    """Print the few-shot latency table of ``benchmarks/latency.py`` (rerun it with ``rerun``)."""
    print("## Part 1: few-shot latency prediction on HELP's test devices (benchmarks/latency.py)\n")
    if not rerun:
        print(f"Stored result of `python benchmarks/latency.py --seeds 5` ({LATENCY_RESULTS.relative_to(HERE.parent)}):")
        print(LATENCY_RESULTS.read_text())
        return
    sys.path.insert(0, str(HERE))
    latency = importlib.import_module("latency")
    argv, sys.argv = sys.argv, ["latency.py", "--seeds", str(seeds)]
    try:
        latency.main()
    finally:
        sys.argv = argv


# ================================================================== part 2
def parse_pairs(spec: str | None) -> list[tuple[str, int]]:
    """``"pixel2:18,fpga:5"`` -> pairs of :data:`HELP_TABLE4` (all of them when None). A bound is
    one of the table's whole milliseconds (``18`` or ``18.0``; ``18.9`` is refused, not truncated),
    and a pair given twice is refused (it would run and dump every run twice)."""
    if not spec:
        return list(HELP_TABLE4)
    out = []
    for item in spec.split(","):
        device, _, bound = item.strip().partition(":")
        try:
            value = float(bound)
            pair = (device, int(value)) if value.is_integer() else None
        except ValueError:  # no ":bound" or not a number
            pair = None
        if pair not in HELP_TABLE4:
            raise SystemExit(f"unknown pair {item!r}; pairs are {', '.join(f'{d}:{b}' for d, b in HELP_TABLE4)}")
        if pair in out:
            raise SystemExit(f"pair {item!r} given twice")
        out.append(pair)
    return out


def constrained_optimum(device: str, bound: float, by: str = "cifar100_test", report: str = "cifar100_test") -> tuple[float, float]:
    """(``report``, latency) of the cell with the best ``by`` among all table cells whose true
    latency meets ``bound`` (``by = report``: the constrained optimum)."""
    nb = table()
    lat = nb.values(f"lat_{device}_ms")
    i = int(np.argmax(np.where(lat <= bound, nb.values(by), -np.inf)))
    return float(nb.values(report)[i]), float(lat[i])


def latency_model(metric: str):
    """The meta-trained latency model of ``metric``'s device (seed 0 for every search seed), with
    ``reference_archs`` memoised.

    Work-around: ``Study._feasibility`` calls ``DeviceFeasibility.reference()`` (a greedy D-optimal
    design over all 15,625 cells, about 1.3 s) on every call, i.e. several times per label, although
    it is deterministic for a meta-trained model; memoising it changes no result, it only removes
    that cost (about 80% of a constrained search's time before).
    """
    from nagen.constraints import meta_latency_model

    model = meta_latency_model(table(), metric, seed=CONSTRAINED["latency_seed"])  # trained once per device
    if not hasattr(model, "_hardware_memo"):
        model._hardware_memo = {}
        original = model.reference_archs

        def reference_archs(k, candidates=None):
            if candidates is not None:
                return original(k, candidates)
            if k not in model._hardware_memo:
                model._hardware_memo[k] = original(k)
            return list(model._hardware_memo[k])

        model.reference_archs = reference_archs
    return model


def constrained_run(device: str, bound: int, variant: str, seed: int) -> dict:
    """One constrained BO search; returns the dump record (true values read after the search)."""
    from nagen.search_api import search

    nb = table()
    metric = f"lat_{device}_ms"
    searched, reported = VARIANTS[variant]
    model = latency_model(metric)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if variant in TRANSFER_BUDGET:
            how = {"budget": TRANSFER_BUDGET[variant], "transfer_from": TRANSFER_SOURCES}
        else:
            how = {"budget": CONSTRAINED["budget"], "method": "bo", **BO_OPTIONS}
        res = search(
            space="nb201", objective=searched, seed=seed, constraints=[f"{metric}<={bound}"],
            device_samples=CONSTRAINED["device_samples"], report=reported, latency_models={metric: model}, **how,
        )  # fmt: skip
    if res.best is None:
        # nothing labelled is known or predicted to meet the bound: the run returns no architecture,
        # which counts as missing the constraint (and its NaN accuracy shows in every mean)
        arch, searched_value, test, true_latency, claimed = None, float("nan"), float("nan"), float("nan"), None
    else:
        arch, searched_value, test = res.best[0], res.best[1], res.report[reported]
        true_latency = nb.query(arch, metric)  # after the search: the truth, for scoring only
        claimed = res.constraints[metric]
    return {
        "part": 2, "device": device, "bound": bound, "variant": variant, "seed": seed,
        "searched": searched, "reported": reported, "arch": arch, "searched_value": searched_value,
        "test": test, "true_latency": true_latency, "meets": bool(true_latency <= bound),
        "claimed": claimed, "device_measurements": res.device_measurements,
        "labels": len(res.history) + len(res.failed), "no_verified_warning": any("measured value" in str(w.message) for w in caught),
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


# ================================================================== part 2: what the latency model allows
def labellable_ceiling(device: str, bounds: Sequence[float], meta=None, tab=None, k: int | None = None) -> list[dict]:
    """The best truly feasible cell a constrained study *can* label, before any accuracy label,
    for each of ``bounds`` on ``device``.

    The study labels only cells whose adapted latency prediction meets the bound with probability
    ``>= constraints.LABEL_PROB``; this builds the same ``DeviceFeasibility`` it builds (the
    meta-model adapted on its reference design, i.e. the first ``split_measurements(k)[0]``
    measurements, and the calibrated sigma) and reads the table's truth for scoring only. A
    perfect accuracy search within those cells would return ``best_labellable``; the rest of
    the gap to the constrained optimum is the latency model's. The adapted model and its
    predictions do not depend on the bound: they are computed once per device.
    """
    from nagen.constraints import LABEL_PROB, DeviceFeasibility, calibrated_sigma, parse_constraint, split_measurements

    tab = table() if tab is None else tab
    metric = f"lat_{device}_ms"
    meta = latency_model(metric) if meta is None else meta
    k = CONSTRAINED["device_samples"] if k is None else k
    adapt = split_measurements(k)[0]
    sp, archs = tab.space, list(tab.archs)
    lat, acc = np.asarray(tab.values(metric), float), np.asarray(tab.values("cifar100_test"), float)
    row = {sp.format(a): i for i, a in enumerate(archs)}
    measured = {sp.format(a): float(lat[row[sp.format(a)]]) for a in meta.reference_archs(adapt)}
    sigma = calibrated_sigma(meta, tab, adapt)
    pred = None
    out = []
    for bound in bounds:
        f = DeviceFeasibility(parse_constraint(f"{metric}<={bound}"), meta, k, measured, calibration=sigma)
        pred = f.predict(archs) if pred is None else pred
        labellable = f.prob_ok(pred) >= LABEL_PROB
        feasible = lat <= bound
        opt = int(np.argmax(np.where(feasible, acc, -np.inf)))
        best = np.where(labellable & feasible, acc, -np.inf)
        out.append({
            "optimum": float(acc[opt]), "optimum_predicted_ms": float(pred[opt]), "optimum_prob": float(f.prob_ok(pred[opt])),
            "best_labellable": float(best.max()), "labellable": int(labellable.sum()),
            "labellable_infeasible": int((labellable & ~feasible).sum()), "sigma": f.sigma(),
        })  # fmt: skip
    return out


def ceiling_table(pairs: Sequence[tuple[str, int]], gaps: dict[tuple[str, int], float] | None = None) -> str:
    """Per pair: the constrained optimum, its adapted prediction, the best labellable feasible cell
    (:func:`labellable_ceiling`) and that ceiling's gap; with ``gaps`` (mean gap of the runs per
    pair) also the search's loss beyond the ceiling."""
    by_device: dict[str, list[int]] = defaultdict(list)
    for device, bound in pairs:
        by_device[device].append(bound)
    found = {(d, b): c for d, bs in by_device.items() for b, c in zip(bs, labellable_ceiling(d, bs))}
    rows, ceil = [], []
    for device, bound in pairs:
        c = found[(device, bound)]
        ceil.append(c["best_labellable"] - c["optimum"])
        row = [
            device, f"≤ {bound}", f"{c['optimum']:.2f}", f"{c['optimum_predicted_ms']:.1f} (P {c['optimum_prob']:.2f})",
            f"{c['best_labellable']:.2f}", f"{ceil[-1]:+.2f}", f"{c['labellable']} ({c['labellable_infeasible']} infeasible)",
            f"{c['sigma']:.3f}",
        ]  # fmt: skip
        if gaps is not None:
            row += [f"{gaps[(device, bound)]:+.2f}" if (device, bound) in gaps else "–"]
        rows.append(row)
    head = ["device", "bound ms", "constrained optimum", "its predicted ms", "best labellable feasible", "ceiling gap",
            "labellable cells", "sigma"] + (["gap of the runs"] if gaps is not None else [])  # fmt: skip
    return markdown(head, rows) + f"\n\nMean ceiling gap over {len(pairs)} pairs: {np.mean(ceil):+.3f}\n"


def variant_search(variant: str) -> str:
    """How a part-2 variant searches (what :func:`constrained_run` passes to ``search``)."""
    if variant in TRANSFER_BUDGET:
        return f"transfer search from {', '.join(TRANSFER_SOURCES)} (`transfer_from`), {TRANSFER_BUDGET[variant]} labels"
    return f"bo, surrogate {BO_OPTIONS['surrogate']}, {BO_OPTIONS['initial']} initial design, {CONSTRAINED['budget']} labels"


def part2_table(records: list[dict], variant: str) -> str:
    """Markdown table of one variant: per pair, share meeting the bound, accuracy, latency, optimum, HELP."""
    searched, reported = VARIANTS[variant]
    by_pair = defaultdict(list)
    for r in records:
        if r["variant"] == variant:
            by_pair[(r["device"], r["bound"])].append(r)
    rows = []
    for pair, (help_acc, help_lat) in HELP_TABLE4.items():
        runs = by_pair.get(pair, [])
        opt, opt_lat = constrained_optimum(*pair)
        acc = [r["test"] for r in runs]
        rows.append([
            pair[0], f"≤ {pair[1]}", len(runs),
            f"{100 * np.mean([r['meets'] for r in runs]):.0f}%" if runs else "–",
            mean_std(acc), f"{np.mean([r['true_latency'] for r in runs]):.2f}" if runs else "–",
            f"{np.mean([r['device_measurements'] for r in runs]):.1f}" if runs else "–",
            f"{opt:.2f} ({opt_lat:.1f} ms)", f"{np.mean(acc) - opt:+.2f}" if runs else "–",
            f"{constrained_optimum(*pair, by=searched, report=reported)[0]:.2f}",
            f"{help_acc} / {help_lat}" + ("" if help_lat <= pair[1] else " ✗"),
        ])  # fmt: skip
    head = [
        "device", "bound ms", "n", "meets bound (true)", f"{reported} of returned", "true latency ms",
        "device meas.", "constrained optimum (ms)", "gap", f"{reported} of feasible {searched} argmax",
        "HELP+MetaD2A acc / ms",
    ]  # fmt: skip
    title = f"### Variant `{variant}`: {variant_search(variant)}; searched `{searched}`, reported `{reported}` (200-epoch test)\n"
    return title + "\n" + markdown(head, rows) + "\n\n" + part2_summary(by_pair)


def part2_summary(by_pair: dict[tuple[str, int], list[dict]]) -> str:
    """Mean gap to the constrained optimum, share meeting the bound, pairs below HELP where HELP met its bound."""
    if not by_pair:
        return "(no runs)\n"
    gaps, below, meets = [], [], []
    for pair, runs in by_pair.items():
        acc = float(np.mean([r["test"] for r in runs]))
        gaps.append(acc - constrained_optimum(*pair)[0])
        meets += [r["meets"] for r in runs]
        help_acc, help_lat = HELP_TABLE4[pair]
        if help_lat <= pair[1] and acc < help_acc:
            below.append(f"{pair[0]}:{pair[1]} ({acc:.2f} < {help_acc})")
    n_help_ok = sum(HELP_TABLE4[p][1] <= p[1] for p in by_pair)
    return (
        f"Summary over {len(by_pair)} pairs: mean gap to the constrained optimum {np.mean(gaps):+.2f} points"
        f"{_seed_spread(by_pair)}; "
        f"{100 * np.mean(meets):.0f}% of {len(meets)} returned architectures truly meet their bound; "
        f"below HELP + MetaD2A on {len(below)} of the {n_help_ok} pairs where HELP met its bound"
        + (f": {', '.join(below)}" if below else "")
        + ". (✗: HELP's architecture exceeds the bound.)\n"
    )


def _seed_spread(by_pair: dict[tuple[str, int], list[dict]]) -> str:
    """`` (per seed: ...; standard error ...)``: the mean gap over the pairs of each seed that ran
    every pair, and the standard error of their mean, so a target's margin can be read against the
    seed-to-seed noise; empty with fewer than two complete seeds."""
    seeds = set.intersection(*({r["seed"] for r in runs} for runs in by_pair.values()))
    if len(seeds) < 2:
        return ""
    per_seed = {
        s: float(np.mean([np.mean([r["test"] for r in runs if r["seed"] == s]) - constrained_optimum(*pair)[0]
                          for pair, runs in by_pair.items()]))
        for s in sorted(seeds)
    }  # fmt: skip
    v = np.array(list(per_seed.values()))
    se = float(v.std(ddof=1) / np.sqrt(len(v)))
    listed = ", ".join(f"{s}: {g:+.2f}" for s, g in per_seed.items())
    return f" (per seed over the {len(by_pair)} pairs: {listed}; standard error of the mean {se:.2f})"


# ================================================================== part 3
def plain_run(dataset: str, method: str, seed: int, budget: int = max(BUDGETS)) -> dict:
    """One unconstrained search of ``<dataset>_valid_12ep``; stops once the table's validation
    maximum is labelled (no later label can change the validation choice)."""
    from nagen.labellers import TableLabeller
    from nagen.study import Study

    valid = f"{dataset}_valid_12ep"
    top = float(np.nanmax(table().values(valid)))
    if method == "transfer":
        from nagen.transfer import TransferTask

        task = TransferTask(PART3_SOURCES[dataset], valid, "nb201", seed=seed)
        st = task.study(storage="sqlite:///:memory:", executor="inline")
    else:
        st = Study(
            "nb201", valid, TableLabeller("nb201", valid), proposer=method, storage="sqlite:///:memory:",
            seed=seed, executor="inline", **(BO_OPTIONS if method == "bo" else {}),
        )  # fmt: skip
    t0 = time.perf_counter()
    for b in range(1, budget + 1):
        st.optimize(b)  # resumes the in-memory study: one more label, same trials as one long run
        values = [t.values[valid] if t.state == "complete" else math.nan for t in st.history]
        if np.nanmax(values) >= top:
            break
    archs = [t.arch for t in st.history]
    return {
        "part": 3, "dataset": dataset, "method": method, "seed": seed, "searched": valid,
        "archs": archs, "valid": values, "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


def achievable(dataset: str) -> float:
    """The "test of valid argmax" column: the ``<dataset>_test`` value of the cell with the largest
    ``<dataset>_valid_12ep``; when several cells tie at that maximum (CIFAR-100: two at 61.32, test
    72.28 and 73.09) the largest of their test values, since a validation-driven search may pick
    any of them. Not an upper bound on a validation choice: a non-argmax choice can test higher."""
    nb = table()
    valid, test = nb.values(f"{dataset}_valid_12ep"), nb.values(f"{dataset}_test")
    return float(np.max(test[valid == np.max(valid)]))


def chosen_test(record: dict, budget: int) -> float:
    """Test accuracy (read after the run) of the best-validation architecture among the first ``budget`` labels."""
    values = np.array(record["valid"][:budget], dtype=float)
    i = int(np.nanargmax(values))  # first one on ties, as the study's own best
    return table().query(record["archs"][i], f"{record['dataset']}_test")


def part3_table(records: list[dict]) -> str:
    """Markdown table: test accuracy of the validation choice at 25/50/100 labels, with the issue's references."""
    nb = table()
    rows = []
    for ds in DATASETS:
        best = achievable(ds)
        for m in METHODS:
            runs = [r for r in records if r["dataset"] == ds and r["method"] == m]
            if not runs:
                continue
            cells = [mean_std([chosen_test(r, b) for r in runs]) for b in BUDGETS]
            at50 = np.mean([chosen_test(r, 50) for r in runs])
            ok = "met" if at50 >= TARGET_AT_50[ds] else "missed"
            rows.append([
                ds, f"`{ds}_valid_12ep`", f"`{ds}_test`", m, len(runs), *cells,
                f"{np.mean([len(r['valid']) for r in runs]):.0f}", RE_REFERENCE[ds], f"{best:.2f}",
                f"≥ {TARGET_AT_50[ds]} ({ok})",
            ])  # fmt: skip
    head = [
        "dataset", "searched", "reported", "method", "n", *[f"test @{b}" for b in BUDGETS],
        "mean labels used", "RE @50 (issue)", "test of valid argmax (ties: max)", "target @50",
    ]  # fmt: skip
    note = (
        "\n\n\"test of valid argmax (ties: max)\": the test value of the cell with the best validation value in the "
        "whole table; where cells tie at that maximum, the largest of their test values. Not an upper bound: a search "
        "may choose a cell with a lower validation and a higher test value."
    )
    return markdown(head, rows) + (note if rows else "")


# ================================================================== split tuning (validation devices)
#: HELP's validation devices used to choose the adaptation / verification split (never a test device)
SPLIT_DEVICES = ("titanx_32", "titanx_256", "gold_6240")
#: bounds: these quantiles of each validation device's latencies over the table
SPLIT_QUANTILES = (0.3, 0.5, 0.7, 0.9)


@contextlib.contextmanager
def _split_rule(adapt: int, label_prob: float | None) -> Iterator[None]:
    """Temporarily spend ``adapt`` of the device budget on adaptation (and label at ``label_prob``)."""
    import nagen.constraints as C

    saved = C.split_measurements, C.LABEL_PROB
    C.split_measurements = lambda k: (min(adapt, k), k - min(adapt, k))
    if label_prob is not None:
        C.LABEL_PROB = label_prob
    try:
        yield
    finally:
        C.split_measurements, C.LABEL_PROB = saved


def split_run(device: str, quantile: float, adapt: int, seed: int, label_prob: float | None = None) -> dict:
    """One constrained ``cifar100_test`` search on a *validation* device with ``adapt`` of the 10
    measurements on the reference design and the rest for verification; the bound is the
    ``quantile`` of the device's latencies."""
    nb = table()
    bound = float(np.round(np.quantile(nb.values(f"lat_{device}_ms"), quantile), 2))
    optimum, _ = constrained_optimum(device, bound)
    with _split_rule(adapt, label_prob):
        rec = constrained_run(device, bound, "test", seed)
    rec.update(part="split", quantile=quantile, adapt=adapt, label_prob=label_prob, optimum=optimum, gap=rec["test"] - optimum)
    return rec


def split_table(records: list[dict]) -> str:
    """Markdown: mean gap to the constrained optimum per split rule, over the validation pairs and seeds."""
    import nagen.constraints

    rows = []
    for key in sorted({(r["adapt"], r.get("label_prob")) for r in records}, key=lambda k: (k[0], k[1] or 0)):
        rs = [r for r in records if (r["adapt"], r.get("label_prob")) == key]
        by_dev = {d: np.mean([r["gap"] for r in rs if r["device"] == d]) for d in SPLIT_DEVICES}
        lp = key[1] if key[1] is not None else f"{nagen.constraints.LABEL_PROB} (default)"
        rows.append([
            f"{key[0]} + {CONSTRAINED['device_samples'] - key[0]}", lp, len(rs), f"{np.mean([r['gap'] for r in rs]):+.3f}",
            *[f"{by_dev[d]:+.2f}" for d in SPLIT_DEVICES], f"{100 * np.mean([r['meets'] for r in rs]):.0f}%",
            f"{np.mean([r['device_measurements'] for r in rs]):.1f}",
        ])  # fmt: skip
    head = ["adapt + verify", "label prob", "runs", "mean gap", *SPLIT_DEVICES, "meets bound", "device meas."]
    return markdown(head, rows)


# ================================================================== driver
# ------------------------------------------------------------------ noise floor
#: devices whose twin spread is shown: HELP's test devices, then its validation devices
NOISE_DEVICES = ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss", "titanx_256", "gold_6240")


def twin_pairs(tab: nagen.benchmarks.Benchmark) -> np.ndarray:
    """Row pairs of *identical networks*: two cell strings with one canonical hash and the same
    multiset of operations (a relabelling of the cell's intermediate nodes; a hash alone would also
    pair cells that differ by a dead branch, which a device still executes), first two of each
    class: ``m x 2`` row indices. Whatever differs between the two rows of a pair is noise."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, a in enumerate(tab.archs):
        groups[(a.canonical_hash(), tuple(sorted(a.ops)))].append(i)
    return np.array([g[:2] for g in groups.values() if len(g) >= 2], dtype=int)


def noise_table(tab: nagen.benchmarks.Benchmark | None = None) -> str:
    """The benchmark's own noise floor, from identical networks measured twice (``twin_pairs``).

    Latency: per device, how far apart the two measurements of one network are (median
    ``|log(l1 / l2)|`` and the share more than 10% apart); then, per part-2 pair, the constrained
    optimum's twin measurement. Accuracy: the noise sd of each searched column (twin differences /
    sqrt 2, upper half of the table) and how many cells lie within one and two sd of the column's
    maximum (a validation maximum inside a large tie is a noise draw among them).
    """
    tab = tab or table()
    pairs = twin_pairs(tab)
    out = [
        f"### Noise floor: {len(pairs)} networks that appear twice in the table (same canonical hash, same operations)\n",
        markdown(
            ["device", "median abs log ratio", "twins > 10% apart", "HELP split"],
            [
                [
                    d,
                    f"{np.median(r):.3f}",
                    f"{np.mean(r > math.log(1.1)):.0%}",
                    "validation" if d in ("titanx_256", "gold_6240") else "test",
                ]
                for d in NOISE_DEVICES
                for L in [tab.values(f"lat_{d}_ms")]
                for r in [np.abs(np.log(L[pairs[:, 0]] / L[pairs[:, 1]]))]
            ],
        ),
    ]
    twin_of = {int(a): int(b) for a, b in pairs} | {int(b): int(a) for a, b in pairs}
    acc = tab.values("cifar100_test")
    rows = []
    for (d, bound) in parse_pairs(None):
        L = tab.values(f"lat_{d}_ms")
        i = int(np.argmax(np.where(L <= bound, acc, -np.inf)))
        j = twin_of.get(i)
        rows.append(
            [f"{d} <= {bound}", f"{acc[i]:.2f}", f"{L[i]:.2f}", "-" if j is None else f"{L[j]:.2f}",
             "-" if j is None else ("yes" if L[j] <= bound else "**no**")]
        )
    out += [
        "\nThe constrained optimum of each part-2 pair (`cifar100_test`) and its twin's measurement:\n",
        markdown(["pair (ms)", "optimum acc", "its latency", "same network, other row", "twin meets bound"], rows),
    ]
    rows = []
    for d in DATASETS:
        for col in (f"{d}_valid_12ep", f"{d}_test"):
            v = tab.values(col)
            a, b = v[pairs[:, 0]], v[pairs[:, 1]]
            upper = (a > np.median(v)) & (b > np.median(v))
            sd = float(np.std((a - b)[upper]) / math.sqrt(2))
            top = float(v.max())
            rows.append([col, f"{sd:.2f}", int((v >= top - sd).sum()), int((v >= top - 2 * sd).sum())])
    out += ["\nAccuracy columns (upper half of the table):\n", markdown(["column", "noise sd", "cells within 1 sd of max", "within 2 sd"], rows)]
    # part 3's CIFAR-10 target: even a search that has found the top validation cells must label many of them
    rng = np.random.default_rng(0)
    rows = []
    for d in DATASETS:
        v, t = tab.values(f"{d}_valid_12ep"), tab.values(f"{d}_test")
        top = np.argsort(-v, kind="stable")[:30]
        cells = []
        for m in (5, 10, 20):
            picks = [rng.choice(top, m, replace=False) for _ in range(2000)]
            cells.append(f"{np.mean([t[p[np.argmax(v[p])]] for p in picks]):.2f}")
        rows.append([d, *cells, f"{achievable(d):.2f}"])
    out += [
        "\nPart 3, what locating the validation maximum is worth: test accuracy of the validation-best among m cells"
        " drawn at random from the 30 best by `<dataset>_valid_12ep` (mean of 2,000 draws):\n",
        markdown(["dataset", "m = 5", "m = 10", "m = 20", "all 30 (the validation argmax; ties: max test)"], rows),
    ]
    return "\n".join(out) + "\n"


def read_dump(path: str | None) -> list[dict]:
    """Records of a dump file (none when it does not exist)."""
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_key(r: dict) -> tuple:
    """Identity of a run: part and its settings, seed."""
    if r["part"] == 2:
        return (2, r["device"], r["bound"], r["variant"], r["seed"])
    if r["part"] == "split":
        return ("split", r["device"], r["quantile"], r["adapt"], r["seed"], r.get("label_prob"))
    return (3, r["dataset"], r["method"], r["seed"])


def execute(jobs: list[tuple], dump: str | None, done: set[tuple]) -> tuple[list[dict], list[str]]:
    """Run ``jobs`` (``(runner, key args...)``) not already in ``done``, appending each record to ``dump``.

    Returns the new records and one description per failed run: a failed run is reported and
    skipped (one bad run must not lose a long benchmark's other runs), and the caller turns any
    failure into a summary line and a non-zero exit status, so it cannot pass as a smaller ``n``.
    """
    out, failed = [], []
    for runner, *key in jobs:
        if ({constrained_run: 2, plain_run: 3, split_run: "split"}[runner], *key) in done:
            continue
        run = f"{runner.__name__}{tuple(key)}"
        try:
            rec = runner(*key)
        except Exception as e:  # noqa: BLE001 - one failed run must not lose the others
            print(f"run {run} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            failed.append(run)
            continue
        out.append(rec)
        print(f"done {run} in {rec['seconds']} s", file=sys.stderr, flush=True)
        if dump:
            with open(dump, "a") as f:
                f.write(json.dumps(rec) + "\n")
    return out, failed


def only_pairs(records: list[dict], spec: str | None) -> list[dict]:
    """``records`` without the part-2 runs of pairs outside ``--pairs`` (all of them when not given)."""
    if not spec:
        return records
    keep = set(parse_pairs(spec))
    return [r for r in records if r["part"] != 2 or (r["device"], r["bound"]) in keep]


def failure_summary(failed: list[str], ran: int) -> str:
    """The last line of a run with failures: how many of the ``ran`` runs failed, and the first ones."""
    return f"{len(failed)} of {ran} runs FAILED (missing from the tables above; their errors are printed above): {_cli.shown_failures(failed)}"


def print_tables(records: list[dict], parts: Sequence[int | str], variants: Sequence[str] = tuple(VARIANTS)) -> None:
    """Print the part 2 (``variants`` only), part 3 and split-tuning tables of ``records``."""
    if 2 in parts:
        p2 = [r for r in records if r["part"] == 2]
        print(f"## Part 2: latency-constrained search on CIFAR-100 ({CONSTRAINED['device_samples']} device measurements)\n")
        print(  # what the variants share; each variant's title says how it searches
            "Latency model meta-trained on HELP's source devices, "
            f"seed {CONSTRAINED['latency_seed']} for every run; seeds per row in `n`; mean ± std over seeds.\n"
        )
        for v in variants:
            print(part2_table(p2, v))
    if 3 in parts:
        print("## Part 3: honest plain search, no constraint (searched: 12-epoch validation; reported: 200-epoch test)\n")
        print("Test accuracy of the architecture with the best validation value among the first 25/50/100 labels.\n")
        print(part3_table([r for r in records if r["part"] == 3]))
    if "split" in parts:
        print("## Adaptation / verification split of the 10 device measurements (HELP's validation devices)\n")
        print(
            "Searched and reported: `cifar100_test`, 50 labels, bounds at the "
            f"{'/'.join(f'{100 * q:.0f}' for q in SPLIT_QUANTILES)}% latency quantiles; gap = returned − constrained optimum.\n"
        )
        print(split_table([r for r in records if r["part"] == "split"]))


def main(argv: list[str] | None = None) -> None:
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="1,2,3", help="comma-separated subset of 1,2,3,noise,split,ceiling (noise: the table's own noise floor; "
                    "split: choose the adaptation/verification split on HELP's validation devices; ceiling: the best "
                    "feasible cell a study can label on each part-2 pair, with --from-dump also the runs' gaps)")
    ap.add_argument(
        "--seeds", type=_cli.nonneg_int, default=5,
        help="seeds of part 2 (constrained search), of the split part, and of part 1 when rerun (--rerun-latency)",
    )
    ap.add_argument("--re-seeds", type=_cli.nonneg_int, default=20, help="seeds of re and random in part 3")
    ap.add_argument("--bo-seeds", type=_cli.nonneg_int, default=5, help="seeds of bo and transfer in part 3")
    ap.add_argument(
        "--first-seed", type=_cli.nonneg_int, default=0,
        help="first seed of every part's runs (seeds first-seed .. first-seed + n - 1; to split runs over processes)",
    )
    ap.add_argument(
        "--pairs", default=None,
        help="part 2 subset, e.g. pixel2:18,fpga:5 (default: all 15); runs and shows only these pairs' runs "
        "(with --from-dump too: the dump's other pairs are left out of the part-2 tables)",
    )
    ap.add_argument(
        "--variants", default="test,honest",
        help="part 2 variants: test, honest (BO, 50 labels); transfer, transfer-honest (50 labels), transfer10, transfer10-honest (10 labels): "
        "TransferTask from the other datasets' test columns",
    )
    ap.add_argument("--datasets", default=",".join(DATASETS), help="part 3 datasets")
    ap.add_argument("--methods", default=",".join(METHODS), help="part 3 methods")
    ap.add_argument("--rerun-latency", action="store_true", help="part 1: rerun benchmarks/latency.py instead of printing its stored table")
    ap.add_argument(
        "--splits", default="7,4,5",
        help=f"split part: adaptation measurements to compare, each 2..{CONSTRAINED['device_samples'] - 1} "
        f"(of {CONSTRAINED['device_samples']}; the rest verify)",
    )
    ap.add_argument("--dump", default=None, help="append each finished run as a JSON line; runs already there are skipped")
    ap.add_argument("--from-dump", default=None, help="print the tables of these dumps (comma-separated) without running anything")
    args = ap.parse_args(argv)
    # every argument is checked here, before any table is loaded or any run starts
    names = args.parts.split(",")
    unknown = sorted(set(names) - {"1", "2", "3", "noise", "split", "ceiling"})
    if unknown:
        ap.error(f"unknown part(s) {unknown}; choose from 1, 2, 3, noise, split, ceiling")
    variants = args.variants.split(",")
    if set(variants) - set(VARIANTS):
        ap.error(f"unknown variant(s) {sorted(set(variants) - set(VARIANTS))}; choose from {', '.join(VARIANTS)}")
    try:
        parse_pairs(args.pairs)
    except SystemExit as e:
        ap.error(f"argument --pairs: {e}")
    datasets = _cli.names(ap, "--datasets", args.datasets, DATASETS)
    methods = _cli.names(ap, "--methods", args.methods, METHODS)
    # the latency model adapts from >= 2 measurements (reference_archs refuses k < 2) and a split
    # must keep >= 1 to verify the answer (with none the study returns an unverified cell)
    splits = _cli.ints(ap, "--splits", args.splits, 2, CONSTRAINED["device_samples"] - 1)
    if args.from_dump:
        missing = [d for d in args.from_dump.split(",") if not os.path.exists(d)]
        if missing:
            ap.error(f"no such dump: {', '.join(missing)}")
    if "noise" in names:
        print(noise_table())
    if "ceiling" in names:
        gaps = None
        if args.from_dump:  # the test variant's mean gap per pair, next to the ceiling
            runs = defaultdict(list)
            for d in args.from_dump.split(","):
                for r in read_dump(d):
                    if r.get("part") == 2 and r["variant"] == "test":
                        runs[(r["device"], r["bound"])].append(r["test"])
            gaps = {p: float(np.mean(v)) - constrained_optimum(*p)[0] for p, v in runs.items()}
        print(ceiling_table(parse_pairs(args.pairs), gaps))
    parts: list[int | str] = [int(p) if p.isdigit() else p for p in names if p not in ("noise", "ceiling")]
    if not parts:
        return
    if args.from_dump:
        dumps = args.from_dump.split(",")
        print_tables(only_pairs([r for d in dumps for r in read_dump(d)], args.pairs), [p for p in parts if p != 1], variants)
        return
    if 1 in parts:
        part1(args.rerun_latency, args.seeds)
    jobs: list[tuple] = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if 2 in parts:
        jobs += [(constrained_run, d, b, v, s) for s in seeds for (d, b) in parse_pairs(args.pairs) for v in variants]
    if 3 in parts:
        for m in methods:
            n = args.bo_seeds if m in ("bo", "transfer") else args.re_seeds
            jobs += [(plain_run, ds, m, s) for s in range(args.first_seed, args.first_seed + n) for ds in datasets]
    if "split" in parts:
        split_seeds = range(args.first_seed, args.first_seed + args.seeds)
        jobs += [
            (split_run, d, q, a, s, None) for a in splits for d in SPLIT_DEVICES for q in SPLIT_QUANTILES for s in split_seeds
        ]  # fmt: skip
    records = read_dump(args.dump)
    new, failed = execute(jobs, args.dump, {run_key(r) for r in records})
    print_tables(only_pairs(records + new, args.pairs), [p for p in parts if p != 1], variants)
    if failed:  # after the tables, so it is the last line a reader sees; exit status 1
        print(failure_summary(failed, len(new) + len(failed)), file=sys.stderr, flush=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
