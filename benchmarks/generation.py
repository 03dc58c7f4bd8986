"""Diffusion generator on NB201: sample quality, throughput, and predictor guidance.

    python benchmarks/generation.py [--seeds 5] [--scale 20] [--skip-quality] [--steps 20]

1. Unguided quality: a model trained on a random 50% of NB201 draws 1,000 samples: validity,
   uniqueness, novelty (unique samples outside the training half), and the total-variation
   distance between generated and space-wide op frequencies. Uniqueness and novelty count
   equivalence classes (``ArchGraph.canonical_hash``), not cells: NB201's 15,625 cells are only
   8,765 distinct networks, so two cells of one class are one network, and a sample equivalent
   to a training cell is not new.
2. Throughput of the shipped checkpoint (batch 1,000), unguided and guided by one GNN
   predictor; median of 3 runs.
3. Guidance: per dataset and seed, a noise-aware GNN is fitted on 100 random labelled cells and
   guides 100 samples; reported: mean true 200-epoch test accuracy (mean ± std over seeds, population
   std) and the share of samples in the table's top 1% for that column, next to unguided diffusion
   and uniform random sampling.
   Two label columns are shown: the issue's setting (predictor fitted on the 200-epoch test
   column that is also reported) and the honest one (fitted on the 12-epoch validation column;
   the test column is read only after sampling).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
import torch

import nagen.benchmarks
import nagen.predictors as P
from nagen.generators.diffusion import DiffusionGenerator, op_frequencies
from nagen.generators.guidance import Guide
from nagen.noise import VPSchedule

try:  # run as ``python benchmarks/generation.py`` (benchmarks/ on sys.path) or loaded by file path
    import _cli
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cli

DATASETS = ("cifar10", "cifar100", "imagenet16")


def quality(nb, steps: int, train_steps: int) -> dict[str, float]:
    """Section 1."""
    rng = np.random.default_rng(0)
    half = [nb.archs[i] for i in rng.permutation(len(nb))[: len(nb) // 2]]
    gen = DiffusionGenerator("nb201", hidden=32, layers=2, seed=0)  # the shipped model's size
    t = time.perf_counter()
    gen.fit(half, steps=train_steps)
    fit_s = time.perf_counter() - t
    samples = gen.sample(1000, seed=1, steps=steps, max_rounds=1)
    st = gen.last_stats
    # by equivalence class: a cell string differs between equivalent cells (a renamed zero edge,
    # isomorphic wiring), so counting strings would call a copy of a training network "novel"
    uniq = {a.canonical_hash() for a in samples}
    train_set = {a.canonical_hash() for a in half}
    tv = 0.5 * np.abs(op_frequencies(nb.space, samples) - op_frequencies(nb.space, nb.archs)).sum()
    return {
        "fit_s": fit_s,
        "validity": st.validity,
        "uniqueness": len(uniq) / max(len(samples), 1),
        "novelty": len(uniq - train_set) / max(len(uniq), 1),
        "op_tv": tv,
    }


def throughput(gen: DiffusionGenerator, guide: Guide, steps: int) -> tuple[float, float]:
    """Section 2: archs/s unguided and guided."""
    def rate(guides) -> float:
        times = []
        for r in range(3):
            t = time.perf_counter()
            out = gen.sample(1000, seed=100 + r, steps=steps, guides=guides, max_rounds=1)
            times.append(len(out) / (time.perf_counter() - t))
        return statistics.median(times)

    return rate([]), rate([guide])


def main(argv: list[str] | None = None) -> None:
    """Print the three tables, in the order 1, 2, 3 (section 3 is computed before 2: its first guide is 2's)."""
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--seeds", type=_cli.positive_int, default=5,
        help="guidance seeds per dataset and label column (section 3: each draws the labelled cells, the predictor and the samples)",
    )
    ap.add_argument("--scale", default="20.0", help="guidance weight, a finite number >= 0 (default 20)")
    ap.add_argument("--steps", type=_cli.positive_int, default=20, help="reverse-diffusion (DDIM) steps")
    ap.add_argument("--train-steps", type=_cli.positive_int, default=3000, help="steps of the 50%% quality model")
    ap.add_argument(
        "--labels", type=_cli.at_least_two, default=100,
        help="random labelled cells the guiding GNN predictor is fitted on (section 3 and the throughput guide)",
    )
    ap.add_argument("--skip-quality", action="store_true", help="skip section 1 (training the 50%% model and its sample quality)")
    ap.add_argument("--skip-guidance", action="store_true", help="only sections 1-2 (throughput uses one GNN guide)")
    ap.add_argument("--threads", type=_cli.positive_int, default=1, help="torch intra-op threads outside nagen's own fits and sampling, which always run on one (nagen._threads: the same seed gives the same result on any machine)")
    args = ap.parse_args(argv)
    args.scale = _cli.number(ap, "--scale", args.scale, low=0.0)  # nan / inf used to fail after section 1
    torch.set_num_threads(args.threads)
    nb = nagen.benchmarks.load("nb201")
    gen = DiffusionGenerator.pretrained("nb201")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; shipped model trained on {gen.trained_on:,} cells")

    if not args.skip_quality:
        q = quality(nb, args.steps, args.train_steps)
        print("\n## 1. unguided sample quality (model trained on a random 50% of NB201, 1,000 samples)\n")
        print("uniqueness and novelty count equivalence classes (canonical hash), not cell strings\n")
        print("| validity | uniqueness | novelty (vs training half) | op-frequency TV distance | training time s |")
        print("|---|---|---|---|---|")
        print(f"| {q['validity']:.3f} | {q['uniqueness']:.3f} | {q['novelty']:.3f} | {q['op_tv']:.4f} | {q['fit_s']:.0f} |")

    rows = []
    tput_guide = None
    for ds in DATASETS if not args.skip_guidance else ():
        test_col = f"{ds}_test"
        top1 = np.quantile(nb.values(test_col), 0.99)
        for fit_col in (test_col, f"{ds}_valid_12ep"):
            res: dict[str, list[float]] = {k: [] for k in ("g_acc", "g_top", "g_uniq", "u_acc", "u_top", "r_acc", "r_top")}
            for seed in range(args.seeds):
                labelled = nb.space.sample(args.labels, 1000 + seed)
                y = nb.query_many(labelled, fit_col)
                pred = P.get("gnn", "nb201", noise=VPSchedule(), seed=seed).fit(labelled, y)
                guide = Guide(pred, args.scale, "max", name=fit_col)
                tput_guide = tput_guide or guide
                guided = gen.sample(100, seed=seed, steps=args.steps, guides=[guide])
                plain = gen.sample(100, seed=seed, steps=args.steps)
                rand = nb.space.sample(100, 5000 + seed)
                for key, archs in (("g", guided), ("u", plain), ("r", rand)):
                    acc = nb.query_many(archs, test_col)  # read only now, after sampling
                    res[f"{key}_acc"].append(float(acc.mean()))
                    res[f"{key}_top"].append(float((acc >= top1).mean()))
                res["g_uniq"].append(len({a.canonical_hash() for a in guided}) / max(len(guided), 1))  # classes, as in section 1
            rows.append((ds, fit_col, res))
            print(f"  done {ds} / {fit_col}", file=sys.stderr, flush=True)  # progress: the tables go to stdout

    if args.skip_guidance:
        labelled = nb.space.sample(args.labels, 1000)
        pred = P.get("gnn", "nb201", noise=VPSchedule(), seed=0).fit(labelled, nb.query_many(labelled, "cifar10_test"))
        tput_guide = Guide(pred, args.scale, "max", name="cifar10_test")
    # section 2 uses a guide of section 3 (computed above, in this order), but is printed before it
    assert tput_guide is not None
    unguided, guided = throughput(gen, tput_guide, args.steps)
    print(f"\n## 2. throughput (shipped model, batch 1,000, {args.steps} steps, median of 3)\n")
    print("| unguided archs/s | guided archs/s (one GNN guide) |")
    print("|---|---|")
    print(f"| {unguided:,.0f} | {guided:,.0f} |")

    if rows:
        print(f"\n## 3. guidance: 100 samples, predictor fitted on {args.labels} random labelled cells, scale {args.scale}, "
              f"{args.seeds} seeds (0..{args.seeds - 1})\n")
        print("accuracies: mean ± std over seeds (population std, ddof=0) of each seed's mean; top-1% and unique: mean over seeds\n")
        print("| dataset | predictor fitted on | reported | guided mean acc | guided top-1% | guided unique (classes) | unguided mean acc | unguided top-1% | random mean acc | random top-1% |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    for ds, fit_col, r in rows:
        def ms(k: str) -> str:
            return f"{np.mean(r[k]):.2f} ± {np.std(r[k]):.2f}"

        def pct(k: str) -> str:
            return f"{100 * np.mean(r[k]):.0f}%"

        print(
            f"| {ds} | {fit_col} | {ds}_test | {ms('g_acc')} | {pct('g_top')} | {np.mean(r['g_uniq']):.2f} | "
            f"{ms('u_acc')} | {pct('u_top')} | {ms('r_acc')} | {pct('r_top')} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
