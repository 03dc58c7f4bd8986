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
acc = {name: nb.query_many(archs, "cifar10_test") for name, archs in
       {"guided": [g.arch for g in guided], "unguided": [g.arch for g in plain], "random": random_cells}.items()}
for name, a in acc.items():
    print(f"{name:>9}: mean test acc {a.mean():.2f}, best {a.max():.2f}, unique {len(set(map(str, a)))}")
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


def write(name: str, cells: list[tuple[str, str]]) -> Path:
    """Write one notebook with no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells]
    path = ROOT / name
    ROOT.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


NOTEBOOKS = {"conditional_generation.ipynb": CONDITIONAL}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        print("wrote", write(name, cells))
