"""Search-space facts and speeds: size, equivalence classes, encode/decode throughput, build+cost time.

    python benchmarks/spaces.py [--spaces nb201,nb101,mbv3] [--samples 10000] [--repeats 5]

Throughputs are medians over ``--repeats`` runs of a 1,000-architecture batch on this machine
(single process; torch threads as configured); "hash archs/s" times hashing the architectures
already made (not enumerating or sampling them), and build / cost times follow one untimed
warm-up call. "canonical classes" counts distinct
``ArchGraph.canonical_hash`` values: over the whole space for NB201, over ``--samples`` uniform
samples for the others. For NB201 it also prints NB201's own unique-cell count (its
``to_unique_str``, which in addition treats ``skip_connect`` as the identity and expands shared
nodes into expression trees), for comparison with the paper's 6,466.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import torch

import nagen.spaces
from nagen.spaces.base import SearchSpace

try:  # run as ``python benchmarks/spaces.py`` (benchmarks/ on sys.path) or loaded by file path
    import _cli
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cli


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def nb201_unique_str_count(space: SearchSpace) -> int:
    """NB201's ``CellStructure.to_unique_str(consider_zero=True)`` count over the whole space."""
    cell_edges = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    seen = set()
    for arch in space.enumerate():
        nodes = {0: "0"}
        ops = arch.ops[1:7]
        for target in (1, 2, 3):
            terms = []
            for (src, dst), op in zip(cell_edges, ops):
                if dst != target:
                    continue
                if op == "none" or nodes[src] == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(nodes[src])
                else:
                    terms.append(f"({nodes[src]})@{op}")
            nodes[target] = "+".join(sorted(terms))
        seen.add(nodes[3])
    return len(seen)


def row(space: SearchSpace, samples: int, repeats: int) -> dict[str, str]:
    """Measure one space."""
    size = space.size
    # the architectures are made before the clock starts: "hash archs/s" times hashing alone, not
    # enumerating or sampling. This is the first hash of these objects in the process (each caches
    # its hash, and NB201's enumerate() returns cached cells), so nothing is a cache hit.
    if size is not None and size <= 100_000:
        archs = list(space.enumerate())
        scope = "all"
    else:
        archs = space.sample(samples, 0)
        scope = f"{samples:,} samples"
    t = time.perf_counter()
    classes = len({a.canonical_hash() for a in archs})
    hash_rate = len(archs) / (time.perf_counter() - t)
    batch = space.sample(1000, 1)
    X, A = space.encode(batch)
    enc = _median_time(lambda: space.encode(batch), repeats)
    dec = _median_time(lambda: space.decode(X, A), repeats)
    assert space.decode(X, A) == batch
    few = space.sample(repeats, 2)
    # one untimed call of each first, on another draw: the first call pays one-off
    # set-up (NB201's cost() counts and caches its per-edge terms on built networks; torch's first
    # forward allocates), which is not the per-architecture time these columns report
    warm = space.sample(1, 3)[0]
    space.build(warm)
    space.cost(warm)
    SearchSpace.cost(space, warm)
    build = statistics.median(_median_time(lambda a=a: space.build(a), 1) for a in few)
    cost = statistics.median(_median_time(lambda a=a: space.cost(a), 1) for a in few)
    full_cost = statistics.median(_median_time(lambda a=a: SearchSpace.cost(space, a), 1) for a in few)
    out = {
        "space": space.name,
        "size": "unknown" if size is None else (f"{size:.3e}" if size > 1e7 else f"{size:,}"),
        "canonical classes": f"{classes:,} ({scope})",
        "hash archs/s": f"{hash_rate:,.0f}",
        "encode archs/s": f"{1000 / enc:,.0f}",
        "decode archs/s": f"{1000 / dec:,.0f}",
        "build s": f"{build:.3f}",
        "cost s": f"{cost:.4f}",
        "build+count s": f"{full_cost:.3f}",
    }
    if space.name == "nb201":
        out["canonical classes"] += f"; NB201 to_unique_str: {nb201_unique_str_count(space):,}"
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = _cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--spaces", default=",".join(n for n in ("nb201", "nb101", "mbv3") if n in nagen.spaces.names()),
        help="comma-separated registered search spaces (rows): " + ", ".join(nagen.spaces.names()),
    )
    ap.add_argument(
        "--samples", type=_cli.positive_int, default=10_000,
        help="uniform samples whose canonical classes are counted in spaces of more than 100,000 architectures",
    )
    ap.add_argument(
        "--repeats", type=_cli.positive_int, default=5,
        help="timing repeats (throughputs are medians; also the number of architectures built and costed)",
    )
    args = ap.parse_args(argv)
    spaces = _cli.names(ap, "--spaces", args.spaces, nagen.spaces.names())  # checked before any work
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; medians over {args.repeats} repeats")
    print("# 'cost s' = space.cost() (NB201: exact additive fast path); 'build+count s' = build the network and count with hooks")
    rows = [row(nagen.spaces.get(n), args.samples, args.repeats) for n in spaces]
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in cols}
    print("| " + " | ".join(c.ljust(widths[c]) for c in cols) + " |")
    print("|" + "|".join("-" * (widths[c] + 2) for c in cols) + "|")
    for r in rows:
        print("| " + " | ".join(r.get(c, "").ljust(widths[c]) for c in cols) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
