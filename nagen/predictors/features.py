"""Fixed (unlearned) architecture encodings for surrogate models such as GPs.

Three encodings, each a function of the space and a list of architectures returning an
``n x d`` float64 numpy array whose columns mean the same thing for every call (so training
and test architectures are featurised consistently, in any process):

* :func:`onehot`: the op one-hots of the middle nodes, plus the adjacency for
  variable-topology spaces. :func:`onehot_from_state` computes the same features in torch
  from a (soft, noisy) continuous state ``(X, A)``, so a GP on them is differentiable in ``X``.
* :func:`path`: BANANAS path encoding (White, Neiswanger & Savani, "BANANAS: Bayesian
  Optimization with Neural Architectures for Neural Architecture Search", AAAI 2021).
* :func:`wl`: Weisfeiler-Lehman subtree label histograms (Shervashidze et al., JMLR 2011),
  as used by NAS-BOWL (Ru et al., "Interpretable Neural Architecture Search via Bayesian
  Optimisation with Weisfeiler-Lehman Kernels", ICLR 2021).

Every hash here is ``hashlib.blake2b``, never Python's ``hash`` (randomised per process).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from nagen.errors import EncodingError, InvalidArgumentError, check_int
from nagen.graph import ZERO_OPS, ArchGraph, adjacency_lists
from nagen.predictors.base import check_state
from nagen.spaces.base import SearchSpace

__all__ = [
    "onehot",
    "onehot_from_state",
    "path",
    "path_is_degenerate",
    "check_path_encoding",
    "path_vocabulary",
    "wl",
    "wl_labels",
    "stable_hash",
    "PATH_EXACT_LIMIT",
    "PATH_HASH_DIMS",
]

#: :func:`path` lists every op sequence exactly while there are at most this many
PATH_EXACT_LIMIT = 4096
#: otherwise op sequences are hashed into this many buckets
PATH_HASH_DIMS = 1024


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _archs(space: SearchSpace, archs: Sequence[ArchGraph | str]) -> list[ArchGraph]:
    if isinstance(archs, (ArchGraph, str)):
        raise EncodingError("pass a sequence of architectures; wrap a single one in a list")
    return [space.validate(a) for a in archs]


# ---------------------------------------------------------------------- one-hot
def _triu(space: SearchSpace) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols = torch.triu_indices(space.max_nodes, space.max_nodes, offset=1)
    return rows, cols


def onehot(space: SearchSpace, archs: Sequence[ArchGraph | str]) -> np.ndarray:
    """Flat one-hot encoding of ``space.encode``'s rows.

    Features are the op one-hots of encoding rows ``1 .. N-2`` restricted to the op columns
    (the ``input``/``output`` columns of those rows are always 0), row-major; for
    variable-topology spaces the ``N (N-1) / 2`` strictly-upper-triangular adjacency entries
    (row-major) follow. In a variable space an absent node's row is all zeros.

    Returns:
        ``n x d`` float64 with ``d = (N-2) * len(space.ops)`` (fixed topology, NB201: 30) or
        ``d = (N-2) * len(space.ops) + N (N-1) / 2`` (variable topology, NB101: 15 + 21).
    """
    archs = _archs(space, archs)
    if not archs:
        return np.zeros((0, onehot_dim(space)))
    X, A = space.encode(archs)
    return onehot_from_state(space, X, A).double().numpy()


def onehot_dim(space: SearchSpace) -> int:
    """Width ``d`` of :func:`onehot` for ``space``."""
    n = space.max_nodes
    d = (n - 2) * len(space.ops)
    return d if space.fixed_topology else d + n * (n - 1) // 2


def onehot_from_state(space: SearchSpace, X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """:func:`onehot`'s features of a continuous state, differentiable in ``X`` (and ``A``).

    Soft op probabilities give soft features (the same slicing, no argmax), so a model on
    these features can be followed by gradient.

    Args:
        X: ``batch x N x V`` op one-hots or probabilities (``V = len(space.vocab)``).
        A: ``batch x N x N`` adjacency (0/1 or soft; only the strict upper triangle is read).

    Returns:
        ``batch x d`` in ``X``'s dtype (``d`` as in :func:`onehot`).

    Raises:
        EncodingError: wrong shapes or non-finite values.
    """
    check_state(space, X, A)  # validation only: keep the caller's dtype and autograd graph
    n, v = space.max_nodes, len(space.vocab)
    feats = X[:, 1 : n - 1, 1 : v - 1].reshape(X.shape[0], (n - 2) * (v - 2))  # explicit: -1 is ambiguous for batch 0
    if space.fixed_topology:
        return feats
    rows, cols = _triu(space)
    return torch.cat([feats, A[:, rows, cols].to(X.dtype)], dim=-1)


# ---------------------------------------------------------------------- paths
def _path_counts(arch: ArchGraph) -> Counter[tuple[str, ...]]:
    """Input->output paths of ``arch`` counted by the op sequence of their middle nodes.

    Dynamic programming in topological order: ``paths[j]`` counts the op sequences of all
    input->j paths, so paths are never enumerated one by one. A zero op (``none``/``zero``)
    outputs 0, so no path passes through it.
    """
    n = arch.num_nodes
    preds, _ = adjacency_lists(n, arch.edges)
    paths: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(n)]
    paths[0][()] = 1
    for j in range(1, n):
        op = arch.ops[j]
        if op in ZERO_OPS:
            continue
        suffix = () if j == n - 1 else (op,)
        acc = paths[j]
        for i in preds[j]:
            for seq, c in paths[i].items():
                acc[seq + suffix] += c
    return paths[n - 1]


@functools.lru_cache(maxsize=65536)
def _path_counts_cached(arch: ArchGraph) -> tuple[tuple[tuple[str, ...], int], ...]:
    return tuple(_path_counts(arch).items())


def _path_lengths(space: SearchSpace) -> list[int]:
    """Possible numbers of middle nodes on an input->output path of ``space``."""
    if not space.fixed_topology:
        return list(range(space.max_nodes - 1))  # 0 (input->output directly) .. N-2
    # every architecture shares one DAG, so one sample's (op-blind) path lengths are the space's
    dag = space.sample(1, rng=0)[0]
    lengths: list[set[int]] = [set() for _ in range(dag.num_nodes)]
    lengths[0].add(-1)  # the input itself is not a middle node
    for i, j in dag.edges:  # sorted by source, so every lengths[i] is final when read
        lengths[j].update(m + 1 for m in lengths[i])
    return sorted(m for m in lengths[-1] if m >= 0)


@functools.lru_cache(maxsize=64)
def _path_index(space: SearchSpace) -> dict[tuple[str, ...], int] | None:
    ops = [op for op in space.ops if op not in ZERO_OPS]
    lengths = _path_lengths(space)
    if sum(len(ops) ** m for m in lengths) > PATH_EXACT_LIMIT:
        return None
    seqs = itertools.chain.from_iterable(itertools.product(ops, repeat=m) for m in lengths)
    return {seq: k for k, seq in enumerate(seqs)}


@functools.lru_cache(maxsize=64)
def path_is_degenerate(space: SearchSpace) -> bool:
    """True when the path encoding of ``space`` carries no similarity: its one shared DAG has a
    single input->output path (a chain, e.g. mbv3) and its sequences are too many to list, so
    each architecture is one hashed column and two architectures share a feature only by a
    hash collision."""
    if not space.fixed_topology or _path_index(space) is not None:
        return False
    dag = space.sample(1, rng=0)[0]
    count = [0] * dag.num_nodes
    count[0] = 1
    for i, j in dag.edges:  # sorted by source: count[i] is final when read
        count[j] += count[i]
    return count[-1] <= 1


def check_path_encoding(space: SearchSpace, error: type[Exception] = InvalidArgumentError) -> None:
    """Raise ``error`` when :func:`path_is_degenerate` (the path encoding would be noise)."""
    if path_is_degenerate(space):
        raise error(
            f"the path encoding is meaningless on space {space.name!r}: every architecture is one input->output path of "
            f"{space.max_nodes - 2} ops, hashed into {PATH_HASH_DIMS} columns, so architectures share no feature (a "
            "predictor on it cannot learn even the parameter count); use encoding='onehot' (or 'wl' for a GP)"
        )


def path_vocabulary(space: SearchSpace) -> tuple[tuple[str, ...], ...] | None:
    """The op sequence of each :func:`path` column, or None when sequences are hashed.

    Sequences run over the space's non-zero ops, ordered by length and then by the order of
    ``space.ops``. Lengths are the path lengths the space allows: for a fixed topology those of
    its DAG (NB201: 1, 2 and 3 middle nodes, so ``4 + 16 + 64 = 84`` sequences), otherwise
    ``0 .. N-2`` (NB101: ``1 + 3 + ... + 243 = 364``; length 0 is the input->output edge).
    """
    index = _path_index(space)
    return None if index is None else tuple(index)


def path(space: SearchSpace, archs: Sequence[ArchGraph | str]) -> np.ndarray:
    """BANANAS path encoding: how many input->output paths have each op sequence.

    A path's identity is the op sequence of its middle nodes (input and output excluded);
    paths through a zero op (``none``/``zero``) do not exist, so cells that differ only in
    dead parts get equal features. When the exact vocabulary (:func:`path_vocabulary`) has at
    most :data:`PATH_EXACT_LIMIT` sequences each has a column; otherwise sequences are hashed
    with :func:`stable_hash` into :data:`PATH_HASH_DIMS` buckets (collisions add counts).

    Returns:
        ``n x P`` float64 path counts, ``P = len(path_vocabulary(space))`` or ``PATH_HASH_DIMS``.

    Raises:
        InvalidArgumentError: the encoding is degenerate on ``space`` (:func:`path_is_degenerate`).
    """
    check_path_encoding(space)
    archs = _archs(space, archs)
    index = _path_index(space)
    out = np.zeros((len(archs), PATH_HASH_DIMS if index is None else len(index)))
    for k, arch in enumerate(archs):
        for seq, c in _path_counts_cached(arch):
            col = stable_hash(">".join(seq)) % PATH_HASH_DIMS if index is None else index[seq]
            out[k, col] += c
    return out


# ---------------------------------------------------------------------- Weisfeiler-Lehman
#: architectures whose WL labels stay cached: all of NB201 (15,625), while a study that featurises
#: 2,000 new nb101 cells a round no longer keeps 65,536 graphs alive (~13 MB more per label)
_WL_CACHE = 32768


@functools.lru_cache(maxsize=_WL_CACHE)
def _wl_labels(arch: ArchGraph, iterations: int, prune: bool) -> tuple[tuple[int, ...], ...]:
    """Per WL iteration ``h = 0..iterations``, the 64-bit stable label of every node."""
    g = arch.pruned() if prune else arch
    n = g.num_nodes
    preds, succs = adjacency_lists(n, g.edges)
    labels = [stable_hash("op:" + op) for op in g.ops]
    out = [tuple(labels)]
    for _ in range(iterations):
        # A DAG's two directions carry different information (what feeds a node versus what
        # it feeds), so in- and out-neighbour label multisets are kept apart.
        labels = [
            stable_hash(f"{labels[v]}<{sorted(labels[u] for u in preds[v])}>{sorted(labels[u] for u in succs[v])}")
            for v in range(n)
        ]
        out.append(tuple(labels))
    return tuple(out)


# Process-wide ids of (iteration, label) pairs, so a histogram is two small arrays that are
# computed once per architecture and a batch of them is featurised with array operations.
_WL_IDS: dict[tuple[int, int], int] = {}
# past this many distinct labels the table (and what refers to it) starts over: every batch allocates a
# lookup array as long as the table, and a long study in a large space (nb101: 2,000 new cells a round)
# kept growing it; results do not depend on it (columns come from the vocabulary, not these ids)
_WL_ID_LIMIT = 1_000_000
_WL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=_WL_CACHE)
def _wl_sparse(arch: ArchGraph, iterations: int, prune: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, iterations, counts)`` of ``arch``'s WL label histogram (ids index ``_WL_IDS``)."""
    ids, iters, counts = [], [], []
    for h, labels in enumerate(_wl_labels(arch, iterations, prune)):
        for label, c in Counter(labels).items():
            ids.append(_WL_IDS.setdefault((h, label), len(_WL_IDS)))
            iters.append(h)
            counts.append(c)
    return np.array(ids, dtype=np.int64), np.array(iters, dtype=np.int64), np.array(counts, dtype=np.float64)


def wl_histogram_entries(
    archs: Sequence[ArchGraph], iterations: int, vocabulary: Mapping[tuple[int, int], int], prune: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The WL label histograms of validated ``archs`` as sparse entries against a vocabulary.

    Args:
        archs: architectures already validated by their space.
        iterations: WL refinement rounds ``H``.
        vocabulary: ``(iteration h, label) -> column`` (labels as in :func:`wl_labels`).

    Returns:
        ``(rows, iteration, column, count)``, each of length ``E`` (one entry per distinct label
        of an architecture and iteration): the architecture's index in ``archs``, ``h``, the
        label's column in ``vocabulary`` (``-1`` when it is not there) and how many of the
        architecture's nodes carry it.
    """
    with _WL_LOCK:
        if len(_WL_IDS) > _WL_ID_LIMIT:
            _WL_IDS.clear()
            _wl_sparse.cache_clear()
        parts = [_wl_sparse(a, iterations, prune) for a in archs]
        lut = np.full(len(_WL_IDS), -1, dtype=np.int64)
        for key, col in vocabulary.items():
            i = _WL_IDS.get(key)
            if i is not None:  # a vocabulary label no architecture of this batch carries stays unused
                lut[i] = col
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0)
    ids = np.concatenate([p[0] for p in parts])
    rows = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    return rows, np.concatenate([p[1] for p in parts]), lut[ids], np.concatenate([p[2] for p in parts])


def wl_labels(
    space: SearchSpace, archs: Sequence[ArchGraph | str], iterations: int = 2, prune: bool = True
) -> list[tuple[tuple[int, ...], ...]]:
    """The unhashed WL labels behind :func:`wl` (for models that build an exact label vocabulary).

    Returns:
        per architecture, per iteration ``h = 0..iterations``, one stable 64-bit label per node
        (of the pruned graph when ``prune``).
    """
    check_int(iterations, "iterations", 0)
    return [_wl_labels(a, int(iterations), bool(prune)) for a in _archs(space, archs)]


def wl(
    space: SearchSpace,
    archs: Sequence[ArchGraph | str],
    iterations: int = 2,
    dims: int = 2048,
    prune: bool = True,
) -> np.ndarray:
    """Weisfeiler-Lehman subtree features: per iteration, a hashed histogram of node labels.

    Iteration 0 labels each node by its op; iteration ``h + 1`` relabels a node by its label,
    the sorted labels of its in-neighbours and, separately, the sorted labels of its
    out-neighbours (a DAG's two directions mean different things), so a label at iteration
    ``h`` names the node's ``h``-hop subtree in both directions. Labels are hashed stably into
    ``dims`` buckets per iteration, so independently featurised sets share columns.
    With ``prune`` (the default) the graph is first reduced to its live part
    (``ArchGraph.pruned``: zero ops and nodes off every input->output path removed), so
    equivalent architectures get equal features.

    Args:
        iterations: refinement rounds ``H >= 0``.
        dims: buckets per iteration.

    Returns:
        ``n x (H + 1) * dims`` float64 label counts; block ``h`` (columns
        ``h * dims .. (h + 1) * dims - 1``) is iteration ``h``.
    """
    check_int(dims, "dims", 1)
    per_arch = wl_labels(space, archs, iterations, prune)
    out = np.zeros((len(per_arch), (iterations + 1) * dims))
    for k, per_iter in enumerate(per_arch):
        for h, labels in enumerate(per_iter):
            np.add.at(out[k], [h * dims + lab % dims for lab in labels], 1.0)
    return out
