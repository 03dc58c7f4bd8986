"""Predictor quality on NB201: rank correlation on held-out cells, GP calibration, fit/predict time.

    python benchmarks/predictors.py [--datasets cifar10_test,cifar100_test,imagenet16_test]
                                    [--sizes 10,50,100,500] [--seeds 5] [--models gnn,gp_onehot,...]

For each dataset, training-set size and seed: draw a random training set of that size and a
disjoint random held-out set of 1,000 cells, fit each model on the training labels only and
report Kendall tau and Spearman rho between predicted and true values on the held-out set
(mean over seeds). Labels and evaluation use the same column (the table's 200-epoch test
accuracy, as the issue asks); this measures ranking quality, not a search.

The ``meta`` rows meta-train the task-aware predictor on the *other two* datasets' full tables
(source tasks) and then see only the stated number of target labels. ``zero_cost`` combines
training-free proxies (synflow, params, FLOPs; no labels needed to compute) with weights found
by Bayesian optimisation on the training labels (RoBoT). GP rows also report the share of
held-out values inside the 90% predictive interval (target 85-95%).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

import nagen.benchmarks
import nagen.predictors as P
from nagen.predictors.base import Predictor

try:  # run as ``python benchmarks/predictors.py`` (benchmarks/ on sys.path) or loaded by file path
    import _cli
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cli

DATASETS = ("cifar10_test", "cifar100_test", "imagenet16_test")
HELD_OUT = 1000


def _factories() -> dict[str, Callable[[int], Predictor]]:
    return {
        "gnn": lambda s: P.get("gnn", "nb201", seed=s),
        "gp_onehot": lambda s: P.get("gp", "nb201", encoding="onehot", seed=s),
        "gp_path": lambda s: P.get("gp", "nb201", encoding="path", seed=s),
        "gp_wl": lambda s: P.get("gp", "nb201", encoding="wl", seed=s),
        "gp_deep": lambda s: P.get("gp", "nb201", encoding="deep", seed=s),
        "zero_cost": lambda s: P.get("zero_cost", "nb201", seed=s),
    }


def _meta_model(nb, target: str, seed: int, cache: dict) -> Predictor:
    """Meta-train once per (target, seed) on the two other datasets' full tables."""
    key = (target, seed)
    if key not in cache:
        from nagen.predictors.meta import MetaPredictor, Task

        sources = [d for d in DATASETS if d != target]
        tasks = [Task(name=d, archs=list(nb.archs), values=np.asarray(nb.values(d))) for d in sources]
        model = MetaPredictor("nb201", seed=seed)
        t = time.perf_counter()
        model.meta_fit(tasks)
        cache[key] = (model, time.perf_counter() - t)
    return cache[key][0]


def calibration_table(res: dict, datasets: list[str], models: list[str], sizes: list[int]) -> str:
    """The calibration and time table: coverage per size, and fit / predict time (medians over
    seeds) at the *largest* size, which need not be the last one of ``--sizes``."""
    lines = [
        "| dataset | model | " + " | ".join(f"n={n} cover90" for n in sizes) + " | fit s (n=max) | predict s (1,000) |",
        "|---|---|" + "---|" * len(sizes) + "---|---|",
    ]
    for ds in datasets:
        for name in models:
            cov = [f"{np.mean(r['cover90']):.3f}" if r["cover90"] else "-" for r in (res[(ds, name, n)] for n in sizes)]
            big = res[(ds, name, max(sizes))]
            lines.append(
                f"| {ds} | {name} | " + " | ".join(cov)
                + f" | {statistics.median(big['fit']):.2f} | {statistics.median(big['predict']):.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the grid and print one table per dataset plus a calibration/time table."""
    factories = _factories()
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--datasets", default=",".join(DATASETS),
        help="comma-separated NB201 columns to fit on and evaluate against: " + ", ".join(DATASETS),
    )
    ap.add_argument(
        "--sizes", default="10,50,100,500", help="comma-separated training-set sizes (random labelled cells per fit)"
    )
    ap.add_argument(
        "--seeds", type=_cli.positive_int, default=5,
        help="seeds 0..seeds-1: each draws the training and held-out cells and seeds the models; results are means",
    )
    ap.add_argument(
        "--models", default="gnn,gp_onehot,gp_path,gp_wl,gp_deep,zero_cost,meta",
        help="comma-separated rows: " + ", ".join([*factories, "meta"]),
    )
    ap.add_argument("--threads", type=_cli.positive_int, default=1, help="torch intra-op threads outside nagen's own fits and sampling, which always run on one (nagen._threads: the same seed gives the same result on any machine)")
    args = ap.parse_args(argv)
    # every argument is checked here, before the table is loaded
    datasets = _cli.names(ap, "--datasets", args.datasets, DATASETS)
    sizes = _cli.ints(ap, "--sizes", args.sizes, 2, 15_625 - HELD_OUT)  # a fit needs 2 labels  # disjoint from the held-out cells
    models = _cli.names(ap, "--models", args.models, [*factories, "meta"])
    torch.set_num_threads(args.threads)
    nb = nagen.benchmarks.load("nb201")
    res: dict[tuple[str, str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    meta_cache: dict = {}
    for ds in datasets:
        y_all = np.asarray(nb.values(ds))
        for seed in range(args.seeds):
            perm = np.random.default_rng(seed).permutation(len(nb))
            test_idx = perm[-HELD_OUT:]
            test = [nb.archs[i] for i in test_idx]
            for n in sizes:
                train = [nb.archs[i] for i in perm[:n]]
                ytr = y_all[perm[:n]]
                for name in models:
                    t0 = time.perf_counter()
                    model = _meta_model(nb, ds, seed, meta_cache) if name == "meta" else factories[name](seed)
                    t1 = time.perf_counter()
                    model.fit(train, ytr)
                    t2 = time.perf_counter()
                    pred = model.predict(test)
                    t3 = time.perf_counter()
                    r = res[(ds, name, n)]
                    r["tau"].append(kendalltau(pred.mean, y_all[test_idx])[0])
                    r["rho"].append(spearmanr(pred.mean, y_all[test_idx])[0])
                    r["fit"].append(t2 - t1 + (t1 - t0 if name != "meta" else 0.0))
                    r["predict"].append(t3 - t2)
                    if pred.std is not None:
                        lo, hi = pred.interval(0.9)
                        yt = y_all[test_idx]
                        r["cover90"].append(float(np.mean((yt >= lo) & (yt <= hi))))
                    print(f"  {ds} seed {seed} n={n} {name}: rho {r['rho'][-1]:.3f}", flush=True)
    print()
    print("# Kendall tau / Spearman rho on 1,000 held-out NB201 cells, mean over", args.seeds, "seeds.")
    print("# Fitted on and evaluated against the same column (200-epoch test accuracy); meta: sources = the other two datasets' full tables.")
    for ds in datasets:
        print(f"\n## {ds}\n")
        print("| model | " + " | ".join(f"n={n} tau / rho" for n in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for name in models:
            cells = [f"{np.mean(res[(ds, name, n)]['tau']):.3f} / {np.mean(res[(ds, name, n)]['rho']):.3f}" for n in sizes]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n## calibration (share of held-out values inside the 90% interval) and time (median s)\n")
    print(calibration_table(res, datasets, models, sizes))
    if meta_cache:
        print(f"\nmeta-training time per target: median {statistics.median(v[1] for v in meta_cache.values()):.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
