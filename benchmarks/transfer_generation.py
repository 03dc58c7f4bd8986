"""Transferable conditional generation on NB201: architectures for a dataset without (or with few) of its labels.

    python benchmarks/transfer_generation.py [--seeds 5] [--n 100] [--scale 2] [--labels 10] [--gnn-labels 100]
    python benchmarks/transfer_generation.py --parts pool [--pool-size 500] [--generated 200] [--budget 20]
    python benchmarks/transfer_generation.py --parts latency [--device pixel2 --bound 18 --device-samples 10]

For each NB201 dataset as the *target* (the other two datasets' 200-epoch test columns are the
sources, whose whole tables are free: they are other tasks), and each seed, ``n`` distinct
architectures (``unique=True``) are drawn by:

* ``random``: uniform over the space (the first ``n`` distinct classes of uniform draws);
* ``diffusion``: the shipped diffusion model, unguided;
* ``diffusion + GNN (L target labels)``: the plain ``nagen.generate(guide=...)`` path, a
  noise-aware GNN fitted on ``--gnn-labels`` random target cells (scale 10, the default);
* ``diffusion + meta, zero-shot``: ``TransferTask.generate()`` (``nagen generate --transfer-from``),
  guided by the task-aware meta-predictor meta-trained on the sources (seeded by the run's seed)
  and adapted from **no** target label;
* ``diffusion + meta, k target labels``: the same meta-predictor adapted to ``--labels`` random
  target cells (``TransferTask.generate(labels=...)``).

Honest protocol: every predictor that sees target labels is fitted on the target's 12-epoch
validation column (``<ds>_valid_12ep``); the reported column, ``<ds>_test`` (200 epochs), is read
only after sampling. Reported per row (mean over seeds): mean / top-10 mean / max test accuracy
of the samples, the share of samples in the table's top 1% of that column, and the target labels
paid. A last row per dataset ranks the whole enumerated space by the zero-shot meta-predictor
and takes its top ``n`` (possible on NB201, impossible in the large spaces generation is for):
how much the generator loses against exhaustive scoring with the same predictor.

Part ``pool``: the transfer *search* (``TransferTask`` study, both methods) when the space is too
large to enumerate, emulated on NB201 by hiding its enumeration, so each round scores a random pool
of ``--pool-size`` unlabelled cells: without generated candidates, with ``--generated`` samples of the
conditional generator added (``TransferTask(generated=...)``), and with a random pool as large as the
two together (same number of scored candidates). Searched = reported = ``<ds>_test`` (the issue's
transfer setting); mean best after 5 / 10 / 20 labels and runs that reach the table's optimum.

Part ``latency``: generation for CIFAR-100 under a latency bound on a device none of the models
was trained on (``lat_<device>_ms <= bound``, the few-shot latency predictor adapted from
``--device-samples`` measurements, guidance plus a filter): zero-shot transfer (no CIFAR-100 label)
against the GNN guide on ``--gnn-labels`` CIFAR-100 labels (12-epoch validation) and unguided.
Reported: share of samples whose *true* latency meets the bound, and the CIFAR-100 test accuracy
(200 epochs, read after sampling) of all samples and of those that meet it.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import torch

import nagen
import nagen.benchmarks
from nagen.transfer import TransferTask

try:  # run as ``python benchmarks/transfer_generation.py`` or loaded by file path
    import _cli
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cli

DATASETS = ("cifar10", "cifar100", "imagenet16")


def distinct_classes(archs, n: int) -> list:
    """The first ``n`` of ``archs`` that are pairwise not equivalent (one per ``canonical_hash``),
    the distinctness ``unique=True`` gives the generated rows: equal cell strings are not enough,
    NB201's 15,625 cells are 8,765 distinct networks."""
    first: dict[str, object] = {}
    for a in archs:
        first.setdefault(a.canonical_hash(), a)
        if len(first) == n:
            break
    return list(first.values())


def pool_marks(budget: int) -> list[int]:
    """Label counts of the pool table's best@ columns: 5, 10, 20, 50, 100 up to ``budget``, and
    ``budget`` itself when below 5 (else a table with no best@ column)."""
    return [b for b in (5, 10, 20, 50, 100) if b <= budget] or [budget]


def pool_table(rows: list[tuple], seeds: int) -> str:
    """Markdown table of :func:`run_pool`'s rows (one best@ column per mark the rows carry)."""
    marks = list(rows[0][2])
    head = ["method", "candidates per round", *(f"best@{b}" for b in marks), "reached the optimum"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, label, best, reached in rows:
        lines.append("| " + " | ".join([method, label, *(f"{np.mean(best[b]):.2f}" for b in marks), f"{reached}/{seeds}"]) + " |")
    return "\n".join(lines)


def nb201_columns() -> list[str]:
    """The shipped NB201 table's column names, from its header line alone: lets ``--device`` be
    checked before any work (loading the table takes seconds, and the latency part runs last)."""
    import gzip
    from importlib import resources

    with gzip.open(resources.files("nagen.data").joinpath("nb201.csv.gz").open("rb"), "rt") as f:
        return f.readline().strip().split(",")


def run_target(nb, ds: str, seeds: int, n: int, scale: float, k: int, gnn_labels: int, epochs: int, cache_dir: str | None) -> dict[str, dict[str, list[float]]]:
    """All rows for one target dataset: ``{row: {stat: [per seed]}}``."""
    test_col, fit_col = f"{ds}_test", f"{ds}_valid_12ep"
    sources = [f"{d}_test" for d in DATASETS if d != ds]
    y_test = nb.values(test_col)
    top1 = np.quantile(y_test, 0.99)
    rows: dict[str, dict[str, list[float]]] = {}

    def add(name: str, archs: list, labels: int) -> None:
        acc = nb.query_many(archs, test_col)  # read only now, after sampling
        r = rows.setdefault(name, {"mean": [], "top10": [], "max": [], "top1": [], "labels": []})
        r["mean"].append(float(acc.mean()))
        r["top10"].append(float(np.sort(acc)[-10:].mean()))
        r["max"].append(float(acc.max()))
        r["top1"].append(float((acc >= top1).mean()))
        r["labels"].append(labels)

    for seed in range(seeds):
        task = TransferTask(sources, test_col, "nb201", seed=seed, epochs=epochs, cache_dir=cache_dir)
        task.meta_model()
        add("random", distinct_classes(nb.space.sample(4 * n, 5000 + seed), n), 0)
        add("diffusion", [g.arch for g in nagen.generate("nb201", n, seed=seed, unique=True)], 0)
        res = nagen.generate("nb201", n, guide=fit_col, guide_labels=gnn_labels, seed=seed, unique=True)
        add(f"diffusion + GNN ({gnn_labels} target labels)", [g.arch for g in res], res.labels_used)
        res = task.generate(n, scale=scale, seed=seed, unique=True)
        add("diffusion + meta, zero-shot", [g.arch for g in res], 0)
        if k:
            rng = np.random.default_rng(10_000 + seed)
            cells = [nb.archs[int(i)] for i in rng.choice(len(nb), k, replace=False)]
            labels = dict(zip(cells, nb.query_many(cells, fit_col).tolist()))
            res = task.generate(n, labels=labels, scale=scale, seed=seed, unique=True)
            add(f"diffusion + meta, {k} target labels", [g.arch for g in res], k)
        # exhaustive reference: the same zero-shot predictor scoring all 15,625 cells
        prior = task.guide_predictor()
        order = np.argsort(-prior.predict(list(nb.archs)).mean, kind="stable")
        # equivalent cells (isomorphic rows) count once, as with unique=True
        top = distinct_classes((nb.archs[int(i)] for i in order), n)
        add("top-n of the space by the zero-shot meta-predictor (no generator)", top, 0)
        print(f"  done {ds} seed {seed}", flush=True)
    return rows


def run_pool(nb, ds: str, seeds: int, pool_size: int, generated: int, budget: int, epochs: int, cache_dir: str | None) -> list[tuple]:
    """Part ``pool``: rows ``(method, pool description, {labels: [best per seed]}, reached optimum)``."""
    import nagen.transfer as T
    from nagen.labellers import TableLabeller

    target = f"{ds}_test"
    sources = [f"{d}_test" for d in DATASETS if d != ds]
    opt = float(np.nanmax(nb.values(target)))
    marks = pool_marks(budget)
    rows = []
    from nagen.study import ProposalContext

    enumerated = ProposalContext.enumerated
    # the space "cannot be enumerated": every round scores a random pool
    ProposalContext.enumerated = lambda self: None  # type: ignore[method-assign]
    try:
        for method in ("consensus", "meta"):
            for label, pool, gen in (
                (f"random {pool_size}", pool_size, 0),
                (f"random {pool_size} + {generated} generated", pool_size, generated),
                (f"random {pool_size + generated}", pool_size + generated, 0),
            ):
                best: dict[int, list[float]] = {b: [] for b in marks}
                reached = 0
                for seed in range(seeds):
                    task = T.TransferTask(sources, target, "nb201", seed=seed, epochs=epochs, cache_dir=cache_dir, method=method, generated=gen)
                    prop = task.proposer()
                    prop.pool_size = pool
                    st = nagen.Study("nb201", target, TableLabeller("nb201", target), proposer=prop,
                                     storage="sqlite:///:memory:", seed=seed, n_initial=0, executor="inline")  # fmt: skip
                    st.optimize(budget)
                    run = np.maximum.accumulate([t.values[target] for t in st.history if t.state == "complete"])
                    for b in marks:
                        best[b].append(float(run[min(b, len(run)) - 1]))
                    reached += bool(run[-1] >= opt - 1e-9)
                rows.append((method, label, best, reached))
                print(f"  done pool {ds} {method} {label}", flush=True)
    finally:
        ProposalContext.enumerated = enumerated  # type: ignore[method-assign]
    return rows


def run_latency(nb, seeds: int, n: int, scale: float, gnn_labels: int, device: str, bound: float, k: int, epochs: int,
                cache_dir: str | None) -> dict[str, dict[str, list[float]]]:
    """Part ``latency``: ``{row: {stat: [per seed]}}`` for CIFAR-100 under ``lat_<device>_ms <= bound``."""
    metric = f"lat_{device}_ms"
    cons = [f"{metric}<={bound}"]
    rows: dict[str, dict[str, list[float]]] = {}
    for seed in range(seeds):
        task = TransferTask(["cifar10_test", "imagenet16_test"], "cifar100_test", "nb201", seed=seed, epochs=epochs, cache_dir=cache_dir)
        runs = {
            "diffusion + meta, zero-shot": task.generate(n, scale=scale, seed=seed, unique=True, constraints=cons, device_samples=k),
            f"diffusion + GNN ({gnn_labels} target labels)": nagen.generate(
                "nb201", n, guide="cifar100_valid_12ep", guide_labels=gnn_labels, constraints=cons, device_samples=k, seed=seed, unique=True
            ),
            "diffusion (constraint only)": nagen.generate("nb201", n, constraints=cons, device_samples=k, seed=seed, unique=True),
        }
        for name, res in runs.items():
            archs = [g.arch for g in res]
            lat, acc = nb.query_many(archs, metric), nb.query_many(archs, "cifar100_test")  # read after sampling
            ok = lat <= bound
            r = rows.setdefault(name, {"meets": [], "acc": [], "acc_ok": [], "labels": [], "measured": []})
            r["meets"].append(float(ok.mean()))
            r["acc"].append(float(acc.mean()))
            r["acc_ok"].append(float(acc[ok].mean()) if ok.any() else float("nan"))
            r["labels"].append(res.labels_used)
            r["measured"].append(res.device_measurements)
        print(f"  done latency seed {seed}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print one table per target dataset."""
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=_cli.positive_int, default=5, help="seeds per target (each meta-trains its own predictor)")
    ap.add_argument("--n", type=_cli.positive_int, default=100, help="distinct architectures generated per run")
    ap.add_argument(
        "--scale", default="2.0", help="guidance weight of the meta-predictor, a finite number >= 0 (default 2: TransferTask.generate's)"
    )
    ap.add_argument("--labels", type=_cli.nonneg_int, default=10, help="target labels for the adapted row (0: no such row)")
    ap.add_argument("--gnn-labels", type=_cli.at_least_two, default=100, help="target labels of the plain GNN-guided row")
    ap.add_argument("--epochs", type=_cli.positive_int, default=30, help="meta-training epochs (TransferTask's default)")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated targets among " + ", ".join(DATASETS))
    ap.add_argument("--cache-dir", default=None, help="meta-model cache folder (default: nagen's)")
    ap.add_argument("--threads", type=_cli.positive_int, default=1, help="torch intra-op threads outside nagen's own fits and sampling, which always run on one (nagen._threads: the same seed gives the same result on any machine)")
    ap.add_argument("--parts", default="generate", help="comma-separated: generate (default), pool, latency")
    ap.add_argument("--pool-size", type=_cli.positive_int, default=500, help="part pool: random candidates per round")
    ap.add_argument("--generated", type=_cli.positive_int, default=200, help="part pool: conditional-generator candidates per round")
    ap.add_argument("--budget", type=_cli.positive_int, default=20, help="part pool: target labels per search")
    ap.add_argument("--device", default="pixel2", help="part latency: the device (a lat_<device>_ms column; default pixel2, a HELP test device)")
    ap.add_argument("--bound", type=float, default=18.0, help="part latency: the latency bound in ms (default 18)")
    ap.add_argument("--device-samples", type=_cli.at_least_two, default=10, help="part latency: measurements on the device (default 10)")
    args = ap.parse_args(argv)
    args.scale = _cli.number(ap, "--scale", args.scale, low=0.0)  # nan / inf used to fail after meta-training
    targets = _cli.names(ap, "--datasets", args.datasets, DATASETS)
    parts = _cli.names(ap, "--parts", args.parts, ("generate", "pool", "latency"))
    if not args.bound > 0:
        ap.error(f"argument --bound: a latency bound must be > 0 ms, got {args.bound}")
    if args.labels == 1:
        ap.error("--labels: the meta-predictor adapts from at least 2 labels (or 0 for no such row)")
    if "latency" in parts:
        metric = f"lat_{args.device}_ms"
        if metric not in nb201_columns():
            devices = [c[4:-3] for c in nb201_columns() if c.startswith("lat_") and c.endswith("_ms")]
            ap.error(f"argument --device: the table has no {metric!r} column; devices are {', '.join(devices)}")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    nb = nagen.benchmarks.load("nb201")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; {args.seeds} seeds, meta-training {args.epochs} epochs"
          + (f"; generate: n = {args.n} distinct per run, meta scale {args.scale}" if "generate" in parts else ""))
    t0 = time.time()
    for ds in targets if "generate" in parts else ():
        rows = run_target(nb, ds, args.seeds, args.n, args.scale, args.labels, args.gnn_labels, args.epochs, args.cache_dir)
        sources = ", ".join(f"{d}_test" for d in DATASETS if d != ds)
        print(f"\n## target {ds} (sources {sources}; target labels from {ds}_valid_12ep; reported {ds}_test, read after sampling)\n")
        print("| generator | target labels | mean acc | top-10 mean | max | in top 1% |")
        print("|---|---|---|---|---|---|")
        for name, r in rows.items():
            print(
                f"| {name} | {np.mean(r['labels']):.0f} | {np.mean(r['mean']):.2f} ± {np.std(r['mean']):.2f} | "
                f"{np.mean(r['top10']):.2f} | {np.mean(r['max']):.2f} | {100 * np.mean(r['top1']):.0f}% |"
            )
    for ds in targets if "pool" in parts else ():
        rows = run_pool(nb, ds, args.seeds, args.pool_size, args.generated, args.budget, args.epochs, args.cache_dir)
        print(f"\n## pool: transfer search of {ds}_test (searched = reported) in NB201 treated as too large to enumerate, {args.seeds} seeds\n")
        print(pool_table(rows, args.seeds))
    if "latency" in parts:
        metric = f"lat_{args.device}_ms"
        rows = run_latency(nb, args.seeds, args.n, args.scale, args.gnn_labels, args.device, args.bound, args.device_samples,
                           args.epochs, args.cache_dir)  # fmt: skip
        print(f"\n## latency: CIFAR-100 under {metric} <= {args.bound} ({args.device_samples} device measurements; target labels from "
              f"cifar100_valid_12ep; reported cifar100_test and the true latency, read after sampling), {args.seeds} seeds\n")
        print("| generator | target labels | device measurements | truly meet the bound | mean acc | mean acc of those meeting it |")
        print("|---|---|---|---|---|---|")
        for name, r in rows.items():
            print(f"| {name} | {np.mean(r['labels']):.0f} | {np.mean(r['measured']):.0f} | {100 * np.mean(r['meets']):.0f}% | "
                  f"{np.mean(r['acc']):.2f} | {np.nanmean(r['acc_ok']):.2f} |")
    print(f"\n# {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
