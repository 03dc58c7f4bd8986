"""Few-shot latency prediction on unseen devices: HELP's NB201 split, k = 5 / 10 / 20 target measurements.

    python benchmarks/latency.py [--seeds 5] [--ks 5,10,20] [--epochs 10] [--quick] [--select]

``--select`` first prints the validation grid that chose the additive model's defaults
(``additive_tau = 0.01``, ``additive_noise = 0.3``; the weight ``additive = 0.75`` was then chosen
leave-one-source-out by ``benchmarks/latency_loso.py``): mean Spearman on HELP's
four *validation* devices at k = 5/10/20, on the reference design and on 3 random supports, for
the seed-0 meta-model. The validation devices are near their ceiling for every setting (spread
about 0.002), so the grid mostly rules out bad settings; the feature set and the prior were also
checked leave-one-source-out on the meta-training devices. No test device is read by it.

Protocol (HELP, Lee et al., NeurIPS 2021, Table 3): meta-train on HELP's nine source devices,
pick the epoch on its four validation devices, then for each of the six test devices give the
model ``k`` measured latencies and score the predicted latencies of *all other* NB201 cells
(Spearman rho and Kendall tau against the table), mean over seeds. A seed fixes the
meta-training seed and the ``k`` random measured cells. Nothing about a test device is read
except those ``k`` values (and, for scoring, the other cells' true latencies).

Rows:

* ``latency (reference k)``: ``LatencyPredictor`` (defaults: network + additive per-op model,
  log-averaged) adapted to its own ``reference_archs(k)`` (the Bayesian D-optimal design of the
  additive model under the source devices' prior; the same cells for every device, as HELP's
  reference architectures). This is the method's protocol;
* ``latency (random k)``: the same model adapted to ``k`` random cells (robustness row);
* ``additive only (reference k)``: ``additive=1``, the hierarchical Bayesian per-op model alone;
* ``network only (random k / reference k)``: ``additive=0``, the meta-trained network alone with
  its embedding D-optimal design: the predictor before the additive model (same meta-model);
* ``gnn on k``: the single-task ``gnn`` predictor trained on the same ``k`` random cells only;
* ``ridge on sources``: ridge regression from the nine source devices' standardised
  log-latencies of each cell to the target's ``k`` log-latencies (the strong simple baseline of
  the issue; its ``lambda`` chosen on the validation devices);
* ``flops``, ``params``: the exact cost columns as a zero-shot proxy (no measurement);
* ``HELP (published)``: HELP's Table 3 at ``k = 10``, from github.com/HayeonLee/HELP README
  ("Architecture Ranking Correlation Results (Table 3)"), Spearman; FLOPs row of that table too.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

import nagen.benchmarks
import nagen.predictors as P
from nagen.predictors.latency import HELP_META_TRAIN, HELP_TEST, HELP_VALIDATION, LatencyPredictor

try:  # run as ``python benchmarks/latency.py`` (benchmarks/ on sys.path) or loaded by file path
    import _cli
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cli

# HELP, NeurIPS 2021, Table 3 (k = 10 target samples; HayeonLee/HELP README), Spearman rho
HELP_PUBLISHED = {"titan_rtx_256": 0.987, "gold_6226": 0.989, "fpga": 0.985, "pixel2": 0.802, "raspi4": 0.890, "eyeriss": 0.940}
HELP_FLOPS = {"titan_rtx_256": 0.950, "gold_6226": 0.826, "fpga": 0.900, "pixel2": 0.765, "raspi4": 0.846, "eyeriss": 0.437}
RIDGE_LAMBDAS = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)


def _corr(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    return float(spearmanr(pred, true)[0]), float(kendalltau(pred, true)[0])


def _support(n: int, k: int, seed: int, device: str) -> np.ndarray:
    """The ``k`` measured rows of one (seed, device, k): shared by every method of that cell."""
    return np.random.default_rng([seed, k, sum(map(ord, device))]).permutation(n)[:k]


def _source_features(nb) -> np.ndarray:
    """``n x S`` standardised log-latencies of HELP's meta-training devices (sources only)."""
    F = np.stack([np.log(nb.values(f"lat_{d}_ms")) for d in HELP_META_TRAIN], axis=1)
    return (F - F.mean(0)) / F.std(0)


def _ridge(F: np.ndarray, y: np.ndarray, idx: np.ndarray, lam: float) -> np.ndarray:
    """Ridge (unpenalised intercept) of ``log y`` on ``F`` at rows ``idx``; predictions for every row."""
    Z = np.c_[np.ones(len(idx)), F[idx]]
    ly = np.log(y[idx])
    reg = lam * np.diag([0.0] + [1.0] * F.shape[1])
    w = np.linalg.solve(Z.T @ Z + reg, Z.T @ ly)
    return np.c_[np.ones(len(F)), F] @ w


def _choose_ridge_lambda(nb, F: np.ndarray, k: int, seeds: int) -> float:
    """``lambda`` with the best mean Spearman on HELP's validation devices (never a test device)."""
    best, best_lam = -np.inf, RIDGE_LAMBDAS[0]
    for lam in RIDGE_LAMBDAS:
        scores = []
        for d in HELP_VALIDATION:
            y = nb.values(f"lat_{d}_ms")
            for s in range(seeds):
                idx = _support(len(y), k, 10_000 + s, d)
                rest = np.setdiff1d(np.arange(len(y)), idx)
                scores.append(spearmanr(_ridge(F, y, idx, lam)[rest], y[rest])[0])
        if np.mean(scores) > best:
            best, best_lam = float(np.mean(scores)), lam
    return best_lam


def _select_on_validation(model: LatencyPredictor, nb, ks: list[int]) -> None:
    """Print the additive-model grid on the validation devices (fast path: features computed once)."""
    import itertools

    archs = list(nb.archs)
    n = len(archs)
    X, A = nb.space.encode(archs)
    with torch.no_grad():
        phi = torch.cat([model.net.features(X[i : i + 4096], A[i : i + 4096]) for i in range(0, n, 4096)])
    psi = model._psi(X, A).double()
    conn = np.flatnonzero([a.pruned().num_nodes > 2 for a in archs])
    saved = (model.additive_tau, model.additive_noise)
    scores: dict[tuple, list[float]] = defaultdict(list)
    for tau, noise in itertools.product((0.003, 0.01, 0.03), (0.1, 0.3, 1.0)):
        model.additive_tau, model.additive_noise = tau, noise
        for k in ks:
            design = conn[model._additive_design(X[conn], A[conn], k)]
            for dev in HELP_VALIDATION:
                y = nb.values(f"lat_{dev}_ms")
                for tag, idx in [("reference", design)] + [("random", _support(n, k, 10_000 + s, dev)) for s in range(3)]:
                    rest = np.setdiff1d(np.arange(n), idx)
                    ly = np.log(y[idx])
                    z = torch.tensor((ly - ly.mean()) / (ly.std() or 1.0), dtype=torch.float32)
                    w = model.net.solve(phi[idx][None], z[None], robust_steps=model.robust_steps)[0]
                    net_log = (phi @ w).double().numpy() * (ly.std() or 1.0) + ly.mean()
                    model._fit_additive(psi[idx], torch.tensor(y[idx]))
                    add = (psi @ model._add_w).numpy() * model._add_scale
                    add_log = np.log(np.clip(add, 1e-3 * model._add_scale, None))
                    for a in (0.0, 0.25, 0.5, 0.75, 1.0):
                        scores[(tau, noise, a, tag)].append(spearmanr((a * add_log + (1 - a) * net_log)[rest], y[rest])[0])
    model.additive_tau, model.additive_noise = saved
    table = sorted(
        ((np.mean(scores[(t, v, a, "reference")]), np.mean(scores[(t, v, a, "random")]), t, v, a) for t, v, a, tag in scores if tag == "reference"),
        reverse=True,
    )
    print("\n### Validation grid (HELP validation devices, mean Spearman over k in", ks, ")\n")
    print("| additive_tau | additive_noise | additive | reference k | random k |\n|---|---|---|---|---|")
    for ref, rnd, t, v, a in table:
        print(f"| {t} | {v} | {a} | {ref:.4f} | {rnd:.4f} |")


def main(argv: list[str] | None = None) -> None:
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--seeds", type=_cli.positive_int, default=5,
        help="seeds 0..seeds-1: each fixes the meta-training seed and the k random measured cells; results are means over them",
    )
    ap.add_argument("--ks", default="5,10,20", help="comma-separated numbers k of measured latencies per test device")
    ap.add_argument("--epochs", type=_cli.positive_int, default=10, help="meta-training epochs (50 steps each)")
    ap.add_argument(
        "--gnn-epochs", type=_cli.positive_int, default=300, help="training epochs of the single-task `gnn on k` baseline"
    )
    ap.add_argument("--quick", action="store_true", help="2 seeds, 6 meta-training epochs, 100 gnn epochs")
    ap.add_argument("--threads", type=_cli.positive_int, default=1, help="torch intra-op threads outside nagen's own fits and sampling, which always run on one (nagen._threads: the same seed gives the same result on any machine)")
    ap.add_argument("--select", action="store_true", help="first print the validation grid of the additive model")
    args = ap.parse_args(argv)
    ks = _cli.ints(ap, "--ks", args.ks, 2)  # checked before any work; an adaptation needs 2 measurements
    if args.quick:
        args.seeds, args.epochs, args.gnn_epochs = min(args.seeds, 2), min(args.epochs, 6), min(args.gnn_epochs, 100)
    torch.set_num_threads(args.threads)  # OMP_NUM_THREADS set here would be read by nothing: torch is already imported
    nb = nagen.benchmarks.load("nb201")
    archs = list(nb.archs)
    n = len(archs)
    F = _source_features(nb)
    lambdas = {k: _choose_ridge_lambda(nb, F, k, 3) for k in ks}
    # results[(method, k)][device] -> list of (rho, tau)
    results: dict[tuple[str, int], dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    meta_info = []
    from tqdm.auto import tqdm

    bar = tqdm(total=args.seeds * len(HELP_TEST) * len(ks), desc="latency benchmark")
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        model = LatencyPredictor("nb201", seed=seed).meta_fit(nb, epochs=args.epochs)
        meta_info.append((time.perf_counter() - t0, model.best_epoch, max(model.validation_history)))
        if args.select and seed == 0:
            _select_on_validation(model, nb, ks)
        default = model.additive
        # the designs use no latency of any test device: one per (meta-model, k, design)
        refs = {(k, d): np.array([nb.row(a) for a in model.reference_archs(k, design=d)]) for k in ks for d in ("additive", "embedding")}
        variants = [  # (row, additive weight, rows measured: None = the seed's random cells, else a design)
            ("latency (reference k)", default, "additive"),
            ("latency (random k)", default, None),
            ("additive only (reference k)", 1.0, "additive"),
            ("network only (reference k)", 0.0, "embedding"),
            ("network only (random k)", 0.0, None),
        ]
        for dev in HELP_TEST:
            y = nb.values(f"lat_{dev}_ms")
            for k in ks:
                idx = _support(n, k, seed, dev)
                rest = np.setdiff1d(np.arange(n), idx)
                for name, weight, design in variants:
                    model.additive = weight
                    rows = idx if design is None else refs[(k, design)]
                    model.adapt({archs[i]: float(y[i]) for i in rows})
                    others = np.setdiff1d(np.arange(n), rows)
                    results[(name, k)][dev].append(_corr(model.predict(archs).mean[others], y[others]))
                model.additive = default
                gnn = P.get("gnn", "nb201", seed=seed, epochs=args.gnn_epochs).fit([archs[i] for i in idx], y[idx])
                results[("gnn on k", k)][dev].append(_corr(gnn.predict(archs).mean[rest], y[rest]))
                results[("ridge on sources", k)][dev].append(_corr(_ridge(F, y, idx, lambdas[k])[rest], y[rest]))
                bar.update(1)
    bar.close()
    for dev in HELP_TEST:
        y = nb.values(f"lat_{dev}_ms")
        for proxy in ("flops", "params"):
            results[(proxy, 0)][dev].append(_corr(nb.values(proxy), y))

    def row(name: str, k: int, stat: int) -> str:
        cells = [statistics.mean(v[stat] for v in results[(name, k)][d]) for d in HELP_TEST]
        kk = "–" if k == 0 else str(k)
        return f"| {name} | {kk} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | **{statistics.mean(cells):.3f}** |"

    head = "| method | k | " + " | ".join(HELP_TEST) + " | mean |\n|---|---|" + "---|" * (len(HELP_TEST) + 1)
    methods = [
        "latency (reference k)", "latency (random k)", "additive only (reference k)",
        "network only (reference k)", "network only (random k)", "ridge on sources", "gnn on k",
    ]  # fmt: skip
    for stat, title in ((0, "Spearman rho"), (1, "Kendall tau")):
        print(f"\n### {title} on all other NB201 cells, HELP test devices (mean over {args.seeds} seeds)\n")
        print(head)
        for k in ks:
            for m in methods:
                print(row(m, k, stat))
        for proxy in ("flops", "params"):
            print(row(proxy, 0, stat))
        if stat == 0:
            pub = [HELP_PUBLISHED[d] for d in HELP_TEST]
            print("| HELP (published, Table 3) | 10 | " + " | ".join(f"{v:.3f}" for v in pub) + f" | **{np.mean(pub):.3f}** |")
            pub = [HELP_FLOPS[d] for d in HELP_TEST]
            print("| FLOPs (HELP's Table 3) | – | " + " | ".join(f"{v:.3f}" for v in pub) + f" | **{np.mean(pub):.3f}** |")
    secs, epochs, vals = zip(*meta_info)
    print(
        f"\nmeta-training: {statistics.mean(secs):.0f} s per seed ({args.epochs} epochs x 50 steps, "
        f"{torch.get_num_threads()} thread), best validation epoch {list(epochs)}, "
        f"validation Spearman (k=10) {statistics.mean(vals):.3f}; ridge lambda per k (chosen on validation devices): {lambdas}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
