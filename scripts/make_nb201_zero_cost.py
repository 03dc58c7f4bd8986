"""Build ``nagen/data/nb201_zero_cost.csv.gz``: data-free zero-cost proxies of every NB201 cell.

Run from the repository root::

    python scripts/make_nb201_zero_cost.py [--jobs 2]            # all 15,625 cells
    python scripts/make_nb201_zero_cost.py --limit 50             # time 50 cells, write nothing

For each cell, in NB201 index order (``nagen.benchmarks.load("nb201").archs``), it computes
``synflow`` with ``nagen.predictors.zero_cost.compute_proxies`` on the benchmark's CIFAR-10
network (C=16, N=5, 10 classes, 3x32x32 input) initialised with torch seed
``NB201_TABLE_SEED`` (0): the exact code path ``ZeroCostPredictor`` falls back to when the file
is absent, so table and on-the-fly values agree. Only data-free proxies belong here; params and
FLOPs are already columns of ``nb201.csv.gz``. The gzip CSV (columns ``index,synflow``, floats
written with ``repr`` so they round-trip exactly) is written atomically.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import numpy as np

PROXIES = ("synflow",)


def _work(indices: list[int]) -> list[tuple[int, list[float]]]:
    import torch

    torch.set_num_threads(1)  # one core per process; the parallelism is across processes
    import nagen.benchmarks
    from nagen.predictors.zero_cost import NB201_TABLE_SEED, compute_proxies

    bench = nagen.benchmarks.load("nb201")
    out = []
    for k in indices:
        v = compute_proxies(bench.space, bench.archs[k], seed=NB201_TABLE_SEED, proxies=PROXIES)
        out.append((k, [v[p] for p in PROXIES]))
    return out


def main() -> None:
    """Compute the proxies and write the package table (or time a sample with ``--limit``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "nagen" / "data" / "nb201_zero_cost.csv.gz"))
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (each uses one torch thread)")
    ap.add_argument("--limit", type=int, default=0, help="time this many evenly spread cells, print an estimate, write nothing")
    args = ap.parse_args()
    n_all = 15625
    idx = np.linspace(0, n_all - 1, args.limit).round().astype(int).tolist() if args.limit else list(range(n_all))
    chunks = [idx[i : i + 125] for i in range(0, len(idx), 125)]
    t0 = time.perf_counter()
    rows: dict[int, list[float]] = {}
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for done in pool.imap_unordered(_work, chunks):
                rows.update(done)
                print(f"{len(rows)}/{len(idx)} cells, {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        for chunk in chunks:
            rows.update(_work(chunk))
            print(f"{len(rows)}/{len(idx)} cells, {time.perf_counter() - t0:.0f} s", flush=True)
    elapsed = time.perf_counter() - t0
    if args.limit:
        print(f"{len(idx)} cells in {elapsed:.1f} s with {args.jobs} process(es): "
              f"about {elapsed / len(idx) * n_all / 60:.1f} min for all {n_all}")
        return
    values = np.array([rows[k] for k in range(n_all)])
    assert np.isfinite(values).all(), "every proxy value must be finite"
    lines = [",".join(("index", *PROXIES))] + [",".join([str(k)] + [repr(float(v)) for v in rows[k]]) for k in range(n_all)]
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(("\n".join(lines) + "\n").encode())
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {elapsed / 60:.1f} min with {args.jobs} process(es)")


if __name__ == "__main__":
    main()
