"""Build ``nagen/data/nb201.csv.gz`` from the public NB201 tables in ``../shared/data``.

Run from the repository root::

    python scripts/make_nb201_table.py [--shared ../shared/data]

It joins ``nb201.csv`` (accuracies, 4 HW-NAS-Bench latencies) and ``nb201_latency.csv`` (23 HELP
latencies) on the NB201 index, checks that the index equals the row order and that every cell
string parses, adds ``params`` and ``flops`` of the CIFAR-10 network counted by
``nagen.spaces.get("nb201").cost`` (exact, equal to NB201's published figures), and writes a
gzip CSV with the source values copied digit for digit. Provenance: ``nagen/data/PROVENANCE.md``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import tempfile
from pathlib import Path

import numpy as np

import nagen.spaces


def main() -> None:
    """Write the package table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "nagen" / "data" / "nb201.csv.gz"))
    args = ap.parse_args()
    shared = Path(args.shared)
    with open(shared / "nb201.csv", newline="") as f:
        main_rows = list(csv.DictReader(f))
    with open(shared / "nb201_latency.csv", newline="") as f:
        lat_rows = list(csv.DictReader(f))
    assert len(main_rows) == len(lat_rows) == 15625
    space = nagen.spaces.get("nb201")
    ids = np.zeros((15625, 6), dtype=np.int64)
    for k, (r, l) in enumerate(zip(main_rows, lat_rows)):
        assert int(r["index"]) == int(l["index"]) == k, "row order must equal the NB201 index"
        ids[k] = [int(v) for v in r["ops"].split("-")]
        assert space.op_ids(space.parse(r["arch"])) == tuple(ids[k]), r["arch"]
    costs = space.cost_table(ids)
    main_cols = list(main_rows[0].keys())
    lat_cols = [c for c in lat_rows[0].keys() if c != "index"]
    header = main_cols + lat_cols + ["params", "flops"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r, l, c in zip(main_rows, lat_rows, costs):
        w.writerow([r[k] for k in main_cols] + [l[k] for k in lat_cols] + [int(c[0]), int(c[1])])
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(buf.getvalue().encode())
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(header)} columns)")


if __name__ == "__main__":
    main()
