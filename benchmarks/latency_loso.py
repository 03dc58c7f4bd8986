"""Model selection for ``LatencyPredictor``'s ``additive`` default: leave-one-source-out on HELP's sources.

    OMP_NUM_THREADS=1 python benchmarks/latency_loso.py [--weights 0.5,0.75,1.0] [--ks 5,10,20] [--epochs 10] [--seed 0]

This is the run that chooses the default weight ``additive`` of the additive per-op model in the
log-space average with the meta-trained network. HELP's four validation devices cannot separate
the candidate weights (spread about 0.002 on ``benchmarks/latency.py --select``), and the test
devices must not choose it, so the choice is made on HELP's nine *meta-training* (source)
devices instead, none of which is ever a test or validation device:

for each source device ``d`` of ``HELP_META_TRAIN``, a ``LatencyPredictor`` is meta-trained on the
other eight (HELP's validation devices pick the epoch, as in ``benchmarks/latency.py`` and
``nagen.constraints.meta_latency_model``; ``held_out`` = ``d`` and the test devices), then for each
weight and each ``k`` it is adapted to ``d``'s latencies on its own ``reference_archs(k)`` (the
additive model's Bayesian D-optimal design, the method's protocol) and scored as in
``benchmarks/latency.py``: Spearman rho over all other NB201 cells of ``d``. The weight only enters
adaptation and prediction (meta-training, the additive prior and the design do not depend on
it), so there is one meta-model per held-out device and every weight is re-adapted on it.

Rule (fixed before the run): the default changes from 0.5 only if one other weight has the best
LOSO mean over the nine devices both at ``k = 10`` and averaged over all ``k``.

No test device (``HELP_TEST``) is read.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
import torch

import nagen.benchmarks
from nagen.predictors.latency import HELP_META_TRAIN, HELP_TEST, HELP_VALIDATION, LatencyPredictor

try:  # run as ``python benchmarks/latency_loso.py`` (benchmarks/ on sys.path) or as a module
    from latency import _corr
except ImportError:  # pragma: no cover
    from benchmarks.latency import _corr

try:  # run as ``python benchmarks/latency_loso.py`` (benchmarks/ on sys.path) or loaded by file path
    import _cli
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cli


def main(argv: list[str] | None = None) -> None:
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="0.5,0.75,1.0", help="candidate values of `additive` (comma-separated, in 0..1)")
    ap.add_argument(
        "--ks", default="5,10,20",
        help="comma-separated numbers k of measured latencies (the held-out device's reference_archs(k))",
    )
    ap.add_argument(
        "--epochs", type=_cli.positive_int, default=10, help="meta-training epochs (50 steps each), same for every device"
    )
    ap.add_argument("--seed", type=_cli.nonneg_int, default=0, help="meta-training seed")
    ap.add_argument("--threads", type=_cli.positive_int, default=1, help="torch intra-op threads outside nagen's own fits and sampling, which always run on one (nagen._threads: the same seed gives the same result on any machine)")
    args = ap.parse_args(argv)
    weights = _cli.floats(ap, "--weights", args.weights, low=0.0, high=1.0)  # checked before any work
    ks = _cli.ints(ap, "--ks", args.ks, 2)  # an adaptation needs 2 measurements
    torch.set_num_threads(args.threads)  # OMP_NUM_THREADS set here would be read by nothing: torch is already imported
    nb = nagen.benchmarks.load("nb201")
    archs = list(nb.archs)
    n = len(archs)
    rho: dict[tuple[float, int, str], float] = {}
    secs = []
    t_start = time.perf_counter()
    for dev in HELP_META_TRAIN:
        sources = [d for d in HELP_META_TRAIN if d != dev]
        t0 = time.perf_counter()
        model = LatencyPredictor("nb201", seed=args.seed).meta_fit(
            nb, sources, validation=list(HELP_VALIDATION), held_out=(dev, *HELP_TEST), epochs=args.epochs
        )
        secs.append(time.perf_counter() - t0)
        y = nb.values(f"lat_{dev}_ms")
        for k in ks:
            # the design uses only the meta-model (additive prior of the eight sources), never d's latencies;
            # it is the same for every weight > 0
            rows = np.array([nb.row(a) for a in model.reference_archs(k, design="additive")])
            others = np.setdiff1d(np.arange(n), rows)
            for w in weights:
                model.additive = w
                model.adapt({archs[i]: float(y[i]) for i in rows})
                rho[(w, k, dev)] = _corr(model.predict(archs).mean[others], y[others])[0]
        line = ", ".join(f"a={w} k={k}: {rho[(w, k, dev)]:.4f}" for k in ks for w in weights)
        print(f"[{dev}] meta-fit {secs[-1]:.0f} s (best epoch {model.best_epoch}); {line}", flush=True)

    print(f"\n### Leave-one-source-out Spearman rho (HELP meta-training devices, reference_archs(k), seed {args.seed})\n")
    print("| additive | k | " + " | ".join(HELP_META_TRAIN) + " | mean |\n|---|---|" + "---|" * (len(HELP_META_TRAIN) + 1))
    means: dict[tuple[float, int], float] = {}
    for k in ks:
        for w in weights:
            cells = [rho[(w, k, d)] for d in HELP_META_TRAIN]
            means[(w, k)] = statistics.mean(cells)
            print(f"| {w} | {k} | " + " | ".join(f"{c:.4f}" for c in cells) + f" | **{means[(w, k)]:.4f}** |")
    overall = {w: statistics.mean(means[(w, k)] for k in ks) for w in weights}
    print("\n| additive | " + " | ".join(f"mean k={k}" for k in ks) + " | mean over k | devices best (all k) |")
    print("|---|" + "---|" * (len(ks) + 2))
    for w in weights:
        wins = sum(max(weights, key=lambda v: rho[(v, k, d)]) == w for k in ks for d in HELP_META_TRAIN)
        print(f"| {w} | " + " | ".join(f"{means[(w, k)]:.4f}" for k in ks) + f" | {overall[w]:.4f} | {wins}/{len(ks) * len(HELP_META_TRAIN)} |")
    k_sel = 10 if 10 in ks else ks[len(ks) // 2]
    best_k = max(weights, key=lambda w: means[(w, k_sel)])
    best_all = max(weights, key=lambda w: overall[w])
    chosen = best_k if best_k == best_all else 0.5
    print(
        f"\nbest at k={k_sel}: {best_k}; best over k: {best_all} -> chosen additive = {chosen} "
        f"(rule: change from 0.5 only if one weight is best on both)"
    )
    print(
        f"meta-training: {statistics.mean(secs):.0f} s per device ({args.epochs} epochs x 50 steps, "
        f"{torch.get_num_threads()} thread); total {time.perf_counter() - t_start:.0f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
