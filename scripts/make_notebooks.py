"""Write the user notebooks in ``notebooks/`` from the cell sources below (outputs stripped).

    python scripts/make_notebooks.py

Keeping the sources here makes notebook diffs reviewable; the test suite executes the written
``.ipynb`` files (tests/test_notebooks.py).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1] / "notebooks"

CONDITIONAL = [
    ("md", """# Conditional generation with the graph diffusion generator

nagen ships a score-based diffusion model trained on all 15,625 NAS-Bench-201 cells. This notebook
1. samples from it unguided and checks the samples against the space,
2. steers it toward high CIFAR-10 accuracy under a parameter budget (classifier guidance by a
   noise-aware GNN predictor fitted on 100 labelled cells, plus an exact params filter),
3. looks at the generated cells, and
4. trains a small generator from scratch to show the training API.

Honest evaluation: the guiding predictor is fitted on the **12-epoch validation** column
(`cifar10_valid_12ep`); the 200-epoch **test** accuracy is read from the table only after
generation, to report."""),
    ("code", """import time
import numpy as np
import torch
import matplotlib.pyplot as plt

import nagen
import nagen.plot as NP
from nagen.generators.diffusion import DiffusionGenerator

torch.set_num_threads(1)
nb = nagen.benchmarks.load("nb201")
space = nb.space
print(space, "|", len(nb), "cells in the table")"""),
    ("md", "## 1. Unguided samples from the shipped model"),
    ("code", """gen = DiffusionGenerator.pretrained("nb201")
t = time.perf_counter()
samples = gen.sample(1000, seed=0)
dt = time.perf_counter() - t
st = gen.last_stats
print(f"{len(samples)} samples in {dt:.2f} s, validity {st.validity:.3f}, unique {len(set(samples)) / len(samples):.3f}")
ax = NP.op_distribution(space, {"diffusion": samples})
plt.show()"""),
    ("md", "## 2. Guided toward CIFAR-10 accuracy, at most 0.8 M parameters"),
    ("code", """budget = 0.8e6
guided = nagen.generate(space="nb201", n=100, guide="cifar10_valid_12ep", constraints={"params": budget},
                        scale=10.0, guide_labels=100, seed=0)
plain = nagen.generate(space="nb201", n=100, seed=0)
random_cells = space.sample(100, 0)
print("labels paid for the guiding predictor:", guided.labels_used)
print("all within the params budget:", all(space.cost(g.arch)["params"] <= budget for g in guided))

# read only now, after generation: the 200-epoch test accuracy the search never saw
cells = {"guided": [g.arch for g in guided], "unguided": [g.arch for g in plain], "random": random_cells}
acc = {name: nb.query_many(archs, "cifar10_test") for name, archs in cells.items()}
for name, a in acc.items():
    print(f"{name:>9}: mean test acc {a.mean():.2f}, best {a.max():.2f}, unique cells {len(set(cells[name]))}")
fig, ax = plt.subplots(figsize=(6, 3))
for name, a in acc.items():
    ax.hist(a, bins=np.linspace(80, 95, 31), alpha=0.5, label=name)
ax.set_xlabel("CIFAR-10 test accuracy (200 epochs, read after generation)")
ax.legend()
plt.show()"""),
    ("md", "## 3. The generated cells\n\nThe three cells the predictor likes most, drawn as node-op DAGs (ops on nodes, as the generator sees them)."),
    ("code", """best = sorted(guided, key=lambda g: -g.predicted["cifar10_valid_12ep"])[:3]
fig, axes = plt.subplots(3, 1, figsize=(9, 8))
for g, ax in zip(best, axes):
    true = nb.query(g.arch, "cifar10_test")
    NP.draw_arch(g.arch, ax=ax, title=f"{g.string}\\npredicted 12-ep valid {g.predicted['cifar10_valid_12ep']:.1f}, "
                 f"true 200-ep test {true:.2f}, {space.cost(g.arch)['params'] / 1e6:.2f} M params")
plt.tight_layout()
plt.show()"""),
    ("md", "## 4. Training a generator yourself\n\nA short run (300 steps; the shipped model used 3,000) on a random half of the space, then novelty against that half."),
    ("code", """rng = np.random.default_rng(0)
half = [nb.archs[i] for i in rng.permutation(len(nb))[: len(nb) // 2]]
small = DiffusionGenerator("nb201", hidden=32, layers=2, seed=0).fit(half, steps=300, progress=False)
s = small.sample(500, seed=1)
uniq = set(s)
print(f"validity {small.last_stats.validity:.3f}, unique {len(uniq) / len(s):.3f}, novel {len(uniq - set(half)) / len(uniq):.3f}")
print("final training loss", np.mean(small.loss_history[-50:]).round(4))"""),
]


BO_NAS = [
    ("md", """# BO-NAS on NAS-Bench-201: a study, its baselines, resuming, and a transfer task

A `nagen.Study` fits a BoTorch GP on every label paid so far, scores a candidate pool with
`qLogNoisyExpectedImprovement` and labels the best candidate; labels are committed to SQLite
before the next proposal, so a study can be killed and resumed.

Honest evaluation: every search here optimises the **12-epoch validation** accuracy
(`cifar10_valid_12ep`, the searched column) and pays one label per architecture. The 200-epoch
**test** accuracy (the reported column) is read only after the search ends."""),
    ("code", """import os

import numpy as np
import torch
import matplotlib.pyplot as plt

import nagen
import nagen.plot as NP
from nagen.labellers import TableLabeller
from nagen.study import Study, load_study

torch.set_num_threads(1)
nb = nagen.benchmarks.load("nb201")
# a fresh demo database: a second run of this notebook would otherwise re-open the first run's
# studies, pay no new labels and compare a longer BO run with the others
DB = "nagen_demo.db"
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(DB + suffix):
        os.remove(DB + suffix)
SEARCHED, REPORTED = "cifar10_valid_12ep", "cifar10_test"
BUDGET, SEEDS = 40, 3
print("table optimum of the searched column:", round(nb.optimum(SEARCHED).value, 2))"""),
    ("md", "## 1. A BO study against regularised evolution and random search"),
    ("code", """studies = {}
for seed in range(SEEDS):
    # surrogate "gp+zc": the GP also sees data-free zero-cost proxies (synflow, params) of the
    # untrained networks, and the first labels are the proxies' picks; proxies cost no labels
    st = Study("nb201", SEARCHED, TableLabeller("nb201", SEARCHED), proposer="bo", surrogate="gp+zc", initial="zc",
               storage="sqlite:///nagen_demo.db", name=f"bo-seed{seed}", seed=seed, executor="inline")
    st.optimize(BUDGET)
    studies[seed] = st
traces = {"bo": [[t.values[SEARCHED] for t in st.history if t.state == "complete"] for st in studies.values()]}
for method in ("re", "random"):
    traces[method] = [[r["value"] for r in nagen.search("nb201", SEARCHED, budget=BUDGET, seed=s, method=method).to_dict()["history"]]
                      for s in range(SEEDS)]
ax = NP.search_traces(traces, optimum=nb.optimum(SEARCHED).value, ylabel=f"best {SEARCHED} found")
plt.show()"""),
    ("code", """# read the reported column only now, after the searches ended
for seed, st in studies.items():
    b = st.best
    print(f"seed {seed}: best {SEARCHED} {b.values[SEARCHED]:.2f} -> {REPORTED} {nb.query(b.arch, REPORTED):.2f}  {b.arch}")"""),
    ("md", "## 2. Resuming from storage\n\nRe-opening a study by name continues it: labels already paid are reused, never repeated."),
    ("code", """again = load_study("bo-seed0", storage="sqlite:///nagen_demo.db", executor="inline")
print("labels stored:", len(again.history))
again.optimize(BUDGET + 5)  # the total budget: only 5 new labels are paid
hashes = [t.hash for t in again.history]
print("labels now:", len(again.history), "| all distinct:", len(set(hashes)) == len(hashes))"""),
    ("md", """## 3. A transferable-NAS task

Use CIFAR-100 and ImageNet16-120 as source tasks (their tables are free here), then search
CIFAR-10 with a handful of labels. The first proposal is the sources' consensus pick (Borda rank
average); from the second label on, a GP on the paid target labels, with the consensus as its
mean, re-ranks the rest (its settings are chosen by leave-one-source-out on the sources, never on
the target). `method="meta"` uses the meta-trained task-aware predictor instead."""),
    ("code", """from nagen.transfer import TransferTask

task = TransferTask(["cifar100_valid_12ep", "imagenet16_valid_12ep"], SEARCHED, "nb201", seed=0)
st = task.search(budget=5)
for t in st.history:
    print(f"{t.values[SEARCHED]:6.2f}  {t.arch}")
best = st.best
print(f"best after 5 labels: {best.values[SEARCHED]:.2f} (table optimum {nb.optimum(SEARCHED).value:.2f}, "
      f"better than {nb.percentile(SEARCHED, best.values[SEARCHED]):.2f}% of cells); reported {REPORTED}: {nb.query(best.arch, REPORTED):.2f}")"""),
]

PARETO = [
    ("md", """# Multi-objective Pareto sampling with the order-preserving GFlowNet

OP-GFN learns a reward only from the Pareto order among the cells it has labelled (never from
raw values) and samples cells with probability increasing in that reward, so its samples
concentrate on the non-dominated set. Objectives here: **12-epoch CIFAR-10 validation accuracy**
(max; searched) and **parameters** (min, exact). The 200-epoch test accuracy of the front is
read only at the end (reported).

Hypervolume reference point: the median accuracy of the whole table and 1.1 x the largest
parameter count (a reference at accuracy 0 would make any 200 random cells look near-perfect).

For comparison the same budget goes to random search and to `method="bo"`: level-wise Bayesian
optimisation, which uses that the parameter count is exact (computed, never labelled) and searches
the front's staircase one cost level at a time with one GP on the accuracy."""),
    ("code", """import numpy as np
import torch
import matplotlib.pyplot as plt

import nagen
import nagen.plot as NP
from nagen.multiobjective import hypervolume, non_dominated, pareto

torch.set_num_threads(1)
nb = nagen.benchmarks.load("nb201")
OBJ = ["cifar10_valid_12ep:max", "params:min"]
BUDGET = 100"""),
    ("code", """# report= is looked up only after each search ends, for the front members only.
# "bo": level-wise Bayesian optimisation (params is exact, so only the accuracy is modelled), for comparison
runs = {m: pareto("nb201", OBJ, budget=BUDGET, seed=0, method=m, report="cifar10_test") for m in ("opgfn", "bo", "random")}
Y = np.c_[nb.values("cifar10_valid_12ep"), nb.values("params")]
true_front = Y[non_dominated(Y, ["max", "min"])]
ref = list(runs["opgfn"].ref_point.values())
true_hv = hypervolume(true_front, ["max", "min"], ref)
for m, r in runs.items():
    print(f"{m:>7}: {len(r.history)} labels, {len(r.front)} front cells, hypervolume {r.hypervolume / true_hv:.3f} of the true front's")"""),
    ("code", """fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True)
for ax, (m, r) in zip(axes, runs.items()):
    pts = np.array([[h["values"]["cifar10_valid_12ep"], h["values"]["params"]] for h in r.history])
    NP.pareto_front(pts, directions=("max", "min"), names=("cifar10_valid_12ep", "params"), ref_point=ref,
                    true_front=true_front, ax=ax, label=m)
    ax.set_title(f"{m}: {BUDGET} labels")
plt.tight_layout()
plt.show()"""),
    ("code", """# hypervolume as labels accumulate (front of the first k labels)
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for m, r in runs.items():
    pts = np.array([[h["values"]["cifar10_valid_12ep"], h["values"]["params"]] for h in r.history])
    hv = [hypervolume(pts[:k], ["max", "min"], ref) / true_hv for k in range(1, len(pts) + 1)]
    ax.plot(range(1, len(pts) + 1), hv, label=m)
ax.set_xlabel("labels paid"); ax.set_ylabel("hypervolume / true front's"); ax.legend(); ax.grid(alpha=0.3)
plt.show()"""),
    ("code", """# the reported column (pareto(report=...)), read after the search: 200-epoch test accuracy of OP-GFN's front
for h in sorted(runs["opgfn"].front, key=lambda h: h["values"]["params"]):
    print(f"{h['values']['params'] / 1e6:5.2f} M params  valid-12ep {h['values']['cifar10_valid_12ep']:5.2f}  "
          f"test {h['report']['cifar10_test']:5.2f}  {h['arch']}")"""),
]


def write(name: str, cells: list[tuple[str, str]]) -> Path:
    """Write one notebook with no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells]
    path = ROOT / name
    ROOT.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


NOTEBOOKS = {"conditional_generation.ipynb": CONDITIONAL, "bo_nas.ipynb": BO_NAS, "pareto_sampling.ipynb": PARETO}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        print("wrote", write(name, cells))
