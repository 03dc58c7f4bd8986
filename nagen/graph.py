"""``ArchGraph``: the one architecture type every nagen component speaks.

An architecture is a directed acyclic graph with an *operation on every node* (the
"ops on nodes" view used by NAS-Bench-101, arch2vec and DiffusionNAG). Node 0 is the ``input``
node, the last node is the ``output`` node, and nodes are stored in topological order, so every
edge ``(i, j)`` has ``i < j`` and the adjacency matrix is strictly upper-triangular.

The generic string form lists each node as ``op`` followed by ``<`` and the indices of its
predecessors, nodes separated by ``;``::

    input;conv3x3-bn-relu<0;maxpool3x3<0;output<1,2

Spaces may add a native string form on top (NB201's ``|op~0|+|...|``), see ``SearchSpace.format``.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nagen.errors import InvalidArchitectureError, InvalidArgumentError, MissingDependencyError

if TYPE_CHECKING:  # heavy optional imports stay out of ``import nagen``
    import networkx
    import torch_geometric.data

__all__ = ["ArchGraph", "INPUT", "OUTPUT", "ZERO_OPS"]

INPUT = "input"
OUTPUT = "output"
#: Ops whose output is identically zero; a node with such an op cannot influence the output.
ZERO_OPS: frozenset[str] = frozenset({"none", "zero"})

_OP_NAME = re.compile(r"[A-Za-z0-9_.\-]+")  # used with fullmatch: "$" would also accept a trailing "\n"
_PRED = re.compile(r"\s*[0-9]+\s*")  # ASCII digits only: int() would also read "0_1" or "\u0663"


def _op_tuple(ops: Any, where: str) -> tuple:
    """``ops`` as a tuple, or ``InvalidArchitectureError`` when it is not a sequence of op names."""
    if isinstance(ops, str):  # tuple("input") would be read as the ops 'i', 'n', 'p', ...
        raise InvalidArchitectureError(
            f"{where}: ops must be a list of op names, got the string {ops!r} (ArchGraph.from_string parses strings)"
        )
    try:
        return tuple(ops)
    except TypeError:
        raise InvalidArchitectureError(
            f"{where}: ops must be a sequence of op names (e.g. ['input', 'conv3x3', 'output']), "
            f"got {type(ops).__name__} {ops!r}"
        ) from None


def _check_zero_ops(zero_ops: Any) -> frozenset[str]:
    """``zero_ops`` as a frozenset of op names, or ``InvalidArgumentError``."""
    if zero_ops is ZERO_OPS:  # the hot path (every canonical_hash call)
        return zero_ops
    if isinstance(zero_ops, str):  # frozenset("none") would be the letters n, o, e
        raise InvalidArgumentError(f"zero_ops must be a set of op names, got the string {zero_ops!r}; wrap it: {{{zero_ops!r}}}")
    try:
        out = frozenset(zero_ops)
    except TypeError:
        raise InvalidArgumentError(
            f"zero_ops must be a set of op names (default {sorted(ZERO_OPS)}), got {type(zero_ops).__name__} {zero_ops!r}"
        ) from None
    bad = [op for op in out if not isinstance(op, str)]
    if bad:
        raise InvalidArgumentError(f"zero_ops must hold op names (strings), got {bad[0]!r}")
    return out


def _index(value: Any) -> int:
    """``value`` as a node index: an integer (NumPy's too), never a bool or a float int() would truncate."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(value)
    return operator.index(value)


class ArchGraph:
    """An immutable architecture DAG with operations on nodes.

    Args:
        ops: one op name per node; ``ops[0] == "input"``, ``ops[-1] == "output"`` and no other
            node uses those two names. Names match ``[A-Za-z0-9_.-]+``.
        edges: pairs ``(i, j)`` with ``0 <= i < j < len(ops)`` (topological order); duplicates
            are rejected.

    Two ``ArchGraph`` objects are ``==`` when they have the same ops and edges in the same node
    order (structural identity, what a benchmark table is keyed by). Equivalence up to
    isomorphism and dead nodes is :meth:`canonical_hash`.

    Raises:
        InvalidArchitectureError: when the ops or edges do not form such a DAG.
    """

    # _validated_by: the last SearchSpace whose validate() accepted this graph (both are
    # immutable, so a study that validates the same 15,625 cells every round checks each once)
    __slots__ = ("_ops", "_edges", "_key", "_canon", "_validated_by")

    def __init__(self, ops: Sequence[str], edges: Iterable[Sequence[int]] = ()) -> None:
        ops_t = _op_tuple(ops, "ArchGraph")
        n = len(ops_t)
        if n < 2:
            raise InvalidArchitectureError(
                f"an ArchGraph needs at least an input and an output node, got {n} node(s): {ops_t!r}"
            )
        for i, op in enumerate(ops_t):
            if not isinstance(op, str) or not _OP_NAME.fullmatch(op):
                raise InvalidArchitectureError(
                    f"node {i}: op name {op!r} is not a string of letters, digits, '_', '.' or '-'"
                )
        if ops_t[0] != INPUT:
            raise InvalidArchitectureError(f"node 0 must be {INPUT!r}, got {ops_t[0]!r}")
        if ops_t[-1] != OUTPUT:
            raise InvalidArchitectureError(f"node {n - 1} (the last) must be {OUTPUT!r}, got {ops_t[-1]!r}")
        for i, op in enumerate(ops_t[1:-1], start=1):
            if op in (INPUT, OUTPUT):
                raise InvalidArchitectureError(
                    f"node {i}: {op!r} may only be the first/last node's op"
                )
        edge_set: set[tuple[int, int]] = set()
        try:
            edge_items = list(edges)
        except TypeError:
            raise InvalidArchitectureError(
                f"edges must be an iterable of (i, j) node-index pairs (() for none), got {type(edges).__name__} {edges!r}"
            ) from None
        for e in edge_items:
            try:
                i, j = (_index(v) for v in e)
            except (TypeError, ValueError):
                raise InvalidArchitectureError(f"an edge must be a pair of node indices (integers), got {e!r}") from None
            if not (0 <= i < j < n):
                raise InvalidArchitectureError(
                    f"edge ({i}, {j}) breaks topological order: edges need 0 <= i < j < {n}"
                )
            if (i, j) in edge_set:
                raise InvalidArchitectureError(f"edge ({i}, {j}) given twice")
            edge_set.add((i, j))
        self._ops = ops_t
        self._edges = tuple(sorted(edge_set))
        self._key = (self._ops, self._edges)
        self._canon: tuple[str, ArchGraph] | None = None
        self._validated_by: object | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_adjacency(cls, ops: Sequence[str], adjacency: Any) -> ArchGraph:
        """Build from ops and an ``n x n`` 0/1 adjacency (strictly upper-triangular)."""
        try:
            a = np.asarray(adjacency)
        except (TypeError, ValueError):  # ragged rows
            raise InvalidArchitectureError(f"adjacency must be an n x n 0/1 matrix, got {adjacency!r}") from None
        ops = _op_tuple(ops, "from_adjacency")  # an iterator has no len()
        n = len(ops)
        if a.shape != (n, n):
            raise InvalidArchitectureError(f"adjacency must be {n}x{n} for {n} ops, got shape {a.shape}")
        # a soft or mis-scaled matrix (0.5, 2) would otherwise read every non-zero as an edge
        if a.dtype.kind not in "biuf" or not np.isin(a, (0, 1)).all():
            shown = np.unique(a).tolist()[:10] if a.dtype.kind in "biuf" else f"dtype {a.dtype}"
            raise InvalidArchitectureError(f"adjacency must hold only 0 and 1, got {shown}")
        if np.any(np.tril(a) != 0):
            raise InvalidArchitectureError(
                "adjacency must be strictly upper-triangular (nodes in topological order)"
            )
        rows, cols = np.nonzero(a)
        return cls(ops, zip(rows.tolist(), cols.tolist()))

    @classmethod
    def from_string(cls, text: str) -> ArchGraph:
        """Parse the generic string form ``input;op<0;op<0,1;output<2`` (see module docstring)."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidArchitectureError(f"expected a non-empty architecture string, got {text!r}")
        ops: list[str] = []
        edges: list[tuple[int, int]] = []
        for j, token in enumerate(text.strip().split(";")):
            op, sep, preds = token.partition("<")
            ops.append(op.strip())
            if sep:
                for p in preds.split(","):
                    if not _PRED.fullmatch(p):
                        raise InvalidArchitectureError(
                            f"node {j} in {text!r}: predecessor {p!r} is not an integer index"
                        )
                    edges.append((int(p), j))
        return cls(ops, edges)

    # ------------------------------------------------------------------ accessors
    @property
    def ops(self) -> tuple[str, ...]:
        """Op name per node, in topological order."""
        return self._ops

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Sorted edge list ``(i, j)`` with ``i < j``."""
        return self._edges

    @property
    def num_nodes(self) -> int:
        """Number of nodes, input and output included."""
        return len(self._ops)

    @property
    def adjacency(self) -> np.ndarray:
        """A fresh ``n x n`` uint8 adjacency matrix (strictly upper-triangular)."""
        a = np.zeros((self.num_nodes, self.num_nodes), dtype=np.uint8)
        for i, j in self._edges:
            a[i, j] = 1
        return a

    def _node(self, node: Any) -> int:
        # an unchecked index would answer () for node 99 and silently miss -1 (no edge names it)
        try:
            k = _index(node)
        except TypeError:
            k = -1
        if not 0 <= k < len(self._ops):
            raise InvalidArchitectureError(f"a node index must be an integer in 0..{len(self._ops) - 1}, got {node!r}")
        return k

    def predecessors(self, j: int) -> tuple[int, ...]:
        """Indices of the nodes with an edge into ``j``."""
        j = self._node(j)
        return tuple(i for i, k in self._edges if k == j)

    def successors(self, i: int) -> tuple[int, ...]:
        """Indices of the nodes ``i`` has an edge into."""
        i = self._node(i)
        return tuple(k for h, k in self._edges if h == i)

    def to_string(self) -> str:
        """The generic string form; ``ArchGraph.from_string(g.to_string()) == g``."""
        preds: list[list[int]] = [[] for _ in self._ops]
        for i, j in self._edges:
            preds[j].append(i)
        parts = [op + ("<" + ",".join(map(str, p)) if p else "") for op, p in zip(self._ops, preds)]
        return ";".join(parts)

    # ------------------------------------------------------------------ edits (new objects)
    def with_op(self, node: int, op: str) -> ArchGraph:
        """A copy with node ``node``'s op replaced."""
        ops = list(self._ops)
        ops[self._node(node)] = op
        return ArchGraph(ops, self._edges)

    def with_edge(self, i: int, j: int, present: bool = True) -> ArchGraph:
        """A copy with edge ``(i, j)`` added (``present=True``) or removed."""
        edges = set(self._edges)
        if present:
            edges.add((i, j))
        else:
            edges.discard((i, j))
        return ArchGraph(self._ops, edges)

    def permute(self, order: Sequence[int]) -> ArchGraph:
        """Relabel nodes: ``order[k]`` is the old index of new node ``k`` (must be topological)."""
        try:
            order = list(order)
        except TypeError:
            raise InvalidArchitectureError(
                f"order must be a permutation of 0..{self.num_nodes - 1} (a sequence of node indices), "
                f"got {type(order).__name__} {order!r}"
            ) from None
        try:  # 1.0 == 1 would pass the permutation test below, then fail as a list index
            ok = sorted(_index(o) for o in order) == list(range(self.num_nodes))
        except TypeError:
            ok = False
        if not ok:
            raise InvalidArchitectureError(f"order must be a permutation of 0..{self.num_nodes - 1}, got {order}")
        new = {old: k for k, old in enumerate(order)}
        return ArchGraph([self._ops[o] for o in order], [(new[i], new[j]) for i, j in self._edges])

    # ------------------------------------------------------------------ equivalence
    def pruned(self, zero_ops: frozenset[str] = ZERO_OPS) -> ArchGraph:
        """The graph with every node that cannot influence the output removed.

        A node is *live* when its op is not a zero op (``none``/``zero``), it is reachable
        from the input through live nodes, and it reaches the output through live nodes.
        Everything else computes a constant zero or is discarded by the network, so removing
        it does not change the function the architecture computes. When no live path joins
        input and output the result is the bare ``input -> (nothing) -> output`` graph.
        """
        zero_ops = _check_zero_ops(zero_ops)
        n = self.num_nodes
        alive = [op not in zero_ops for op in self._ops]
        succ: list[list[int]] = [[] for _ in range(n)]
        pred: list[list[int]] = [[] for _ in range(n)]
        for i, j in self._edges:
            if alive[i] and alive[j]:
                succ[i].append(j)
                pred[j].append(i)
        fwd = [False] * n
        fwd[0] = True
        for j in range(1, n):  # topological order makes one sweep enough
            fwd[j] = alive[j] and any(fwd[i] for i in pred[j])
        bwd = [False] * n
        bwd[n - 1] = True
        for i in range(n - 2, -1, -1):
            bwd[i] = alive[i] and any(bwd[j] for j in succ[i])
        if not fwd[n - 1]:
            return ArchGraph((INPUT, OUTPUT), ())
        keep = [k for k in range(n) if fwd[k] and bwd[k]]
        if len(keep) == n:
            return self
        idx = {old: new for new, old in enumerate(keep)}
        return ArchGraph(
            [self._ops[k] for k in keep],
            [(idx[i], idx[j]) for i, j in self._edges if i in idx and j in idx],
        )

    def canonical(self, zero_ops: frozenset[str] = ZERO_OPS) -> ArchGraph:
        """The canonical representative of this graph's equivalence class.

        Two architectures are **equivalent** when, after :meth:`pruned` removes the nodes that
        cannot influence the output, they are isomorphic as DAGs with op labels: some
        relabelling of nodes maps one onto the other, preserving every op and every edge.
        Equivalent architectures compute the same function (up to weight naming), because a
        node's output depends only on its op and the multiset of its inputs (sums are
        commutative). Ops are compared by name only; no algebraic rewriting (e.g. merging
        two identity ops) is attempted.

        The representative is found by colour refinement (1-WL on in- and out-neighbours)
        plus individualisation of the remaining ties, keeping the lexicographically smallest
        resulting string, so it is exact, not a heuristic hash.
        """
        zero_ops = _check_zero_ops(zero_ops)
        if zero_ops == ZERO_OPS and self._canon is not None:
            return self._canon[1]
        canon = _canonical_form(self.pruned(zero_ops))
        if zero_ops == ZERO_OPS:
            self._canon = (_digest(canon.to_string()), canon)
        return canon

    def canonical_hash(self, zero_ops: frozenset[str] = ZERO_OPS) -> str:
        """A 32-hex-digit hash equal for equivalent architectures (see :meth:`canonical`).

        Raises:
            InvalidArgumentError: ``zero_ops`` is not a collection of op names.
        """
        zero_ops = _check_zero_ops(zero_ops)
        if zero_ops == ZERO_OPS:
            if self._canon is None:
                self.canonical()
            assert self._canon is not None
            return self._canon[0]
        return _digest(self.canonical(zero_ops).to_string())

    def is_equivalent(self, other: ArchGraph, zero_ops: frozenset[str] = ZERO_OPS) -> bool:
        """Whether ``other`` computes the same function (see :meth:`canonical`).

        Raises:
            InvalidArchitectureError: ``other`` is not an ``ArchGraph`` (parse strings first,
                e.g. with ``space.parse``).
        """
        if not isinstance(other, ArchGraph):
            raise InvalidArchitectureError(
                f"is_equivalent compares two ArchGraph objects, got {type(other).__name__} {other!r}; "
                "parse strings first (ArchGraph.from_string or space.parse)"
            )
        return self.canonical_hash(zero_ops) == other.canonical_hash(zero_ops)

    # ------------------------------------------------------------------ exports
    def _vocab_index(self, vocab: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        if vocab is None:
            vocab = [INPUT, OUTPUT, *sorted(set(self._ops) - {INPUT, OUTPUT})]
        vocab = list(vocab)
        pos = {op: k for k, op in enumerate(vocab)}
        missing = [op for op in self._ops if op not in pos]
        if missing:
            raise InvalidArchitectureError(f"ops {sorted(set(missing))} are not in the vocabulary {vocab}")
        return vocab, np.array([pos[op] for op in self._ops], dtype=np.int64)

    def to_networkx(self) -> networkx.DiGraph:
        """A ``networkx.DiGraph``; each node carries its ``op`` attribute."""
        import networkx as nx

        g = nx.DiGraph()
        for k, op in enumerate(self._ops):
            g.add_node(k, op=op)
        g.add_edges_from(self._edges)
        return g

    def to_pyg(self, vocab: Sequence[str] | None = None) -> torch_geometric.data.Data:
        """A PyG ``Data`` with ``x`` (``nodes x len(vocab)`` one-hot ops) and ``edge_index`` (``2 x E``).

        Pass the space's vocabulary (``space.vocab``) so features line up across graphs;
        the default vocabulary is ``input, output`` and this graph's other ops, sorted.
        """
        import torch
        from torch_geometric.data import Data

        vocab, idx = self._vocab_index(vocab)
        x = torch.nn.functional.one_hot(torch.from_numpy(idx), len(vocab)).float()
        edge_index = torch.tensor(self._edges, dtype=torch.long).reshape(-1, 2).t().contiguous()
        return Data(x=x, edge_index=edge_index, num_nodes=self.num_nodes, ops=list(self._ops))

    def to_dgl(self, vocab: Sequence[str] | None = None) -> Any:
        """A ``dgl.DGLGraph`` with ``ndata["feat"]`` one-hot ops (needs the ``dgl`` extra)."""
        try:
            import dgl
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise MissingDependencyError(
                "to_dgl() needs DGL; install it with: pip install 'nagen[dgl]' (dgl>=1.1,<2)"
            ) from e
        import torch

        vocab, idx = self._vocab_index(vocab)
        src = torch.tensor([i for i, _ in self._edges], dtype=torch.int64)
        dst = torch.tensor([j for _, j in self._edges], dtype=torch.int64)
        g = dgl.graph((src, dst), num_nodes=self.num_nodes)
        g.ndata["feat"] = torch.nn.functional.one_hot(torch.from_numpy(idx), len(vocab)).float()
        return g

    # ------------------------------------------------------------------ dunder
    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArchGraph) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"ArchGraph({self.to_string()!r})"

    def __str__(self) -> str:
        return self.to_string()

    def __reduce__(self):  # pickles as (ops, edges); the cache is rebuilt lazily
        return (ArchGraph, (self._ops, self._edges))


# ---------------------------------------------------------------------- canonical labelling
def adjacency_lists(n: int, edges: Iterable[tuple[int, int]]) -> tuple[list[list[int]], list[list[int]]]:
    """``(pred, succ)``: per node of an ``n``-node graph, its predecessors and its successors."""
    pred: list[list[int]] = [[] for _ in range(n)]
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        pred[j].append(i)
        succ[i].append(j)
    return pred, succ


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _refine(colours: list[int], pred: list[list[int]], succ: list[list[int]]) -> list[int]:
    """Colour refinement to a stable partition; colours are ranks of canonical signatures."""
    n_classes = len(set(colours))
    while True:
        sigs = [
            (colours[v], tuple(sorted(colours[u] for u in pred[v])), tuple(sorted(colours[w] for w in succ[v])))
            for v in range(len(colours))
        ]
        rank = {s: r for r, s in enumerate(sorted(set(sigs)))}
        colours = [rank[s] for s in sigs]
        if len(rank) == n_classes:
            return colours
        n_classes = len(rank)


def _in_orbit(v: int, explored: list[int], generators: list[list[int]]) -> bool:
    """Whether ``v`` is the image of an ``explored`` node under the group the permutations generate."""
    orbit, frontier = set(explored), list(explored)
    while frontier:
        u = frontier.pop()
        for perm in generators:
            w = perm[u]
            if w not in orbit:
                if w == v:
                    return True
                orbit.add(w)
                frontier.append(w)
    return v in orbit


def _canonical_form(g: ArchGraph) -> ArchGraph:
    """Exact canonical relabelling by refinement + individualisation (small graphs).

    The search tree is pruned by automorphisms, as nauty does: two leaves with the same string
    give an automorphism, and a node's child is skipped when an automorphism fixing the
    node's individualised vertices maps it onto an explored sibling (its leaves are images of
    the sibling's, with the same strings). Without this, k identical parallel chains cost k!
    leaves (8 chains of two nodes took 5 s); the result is the same minimum either way.
    """
    n = g.num_nodes
    pred, succ = adjacency_lists(n, g.edges)
    op_rank = {op: r for r, op in enumerate(sorted(set(g.ops)))}
    start = _refine([op_rank[o] for o in g.ops], pred, succ)

    best: list[str] = []
    first_order: dict[str, list[int]] = {}
    generators: list[list[int]] = []

    def leaf(colours: list[int]) -> None:
        # Kahn's algorithm with the canonical colour as priority gives a canonical topological order.
        indeg = [len(p) for p in pred]
        ready = sorted((colours[v], v) for v in range(n) if indeg[v] == 0)
        order: list[int] = []
        while ready:
            _, v = ready.pop(0)
            order.append(v)
            for w in succ[v]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    ready.append((colours[w], w))
                    ready.sort()
        s = g.permute(order).to_string()
        seen = first_order.setdefault(s, order)
        if seen is not order:
            # Both orders give the same labelled graph, so seen[i] -> order[i] preserves ops and edges.
            perm = list(range(n))
            for a, b in zip(seen, order):
                perm[a] = b
            generators.append(perm)
        if not best or s < best[0]:
            best[:] = [s]

    def children(colours: list[int]) -> list[int] | None:
        classes: dict[int, list[int]] = {}
        for v, c in enumerate(colours):
            classes.setdefault(c, []).append(v)
        ties = [c for c in sorted(classes) if len(classes[c]) > 1]
        if not ties:
            return None
        # Twins (same predecessors and successors) are swapped by an automorphism, so one
        # representative per twin group is enough; this keeps parallel branches cheap.
        reps: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        for v in classes[ties[0]]:
            reps.setdefault((tuple(sorted(pred[v])), tuple(sorted(succ[v]))), v)
        return list(reps.values())

    # An explicit stack of frames, not recursion: the search tree is as deep as the number of
    # individualised nodes, which passes Python's recursion limit on ~1000 parallel branches.
    # A frame is [colours, individualised vertices, candidate children, next index, explored].
    stack: list[list[Any]] = []

    def enter(colours: list[int], fixed: tuple[int, ...]) -> None:
        cands = children(colours)
        if cands is None:
            leaf(colours)
        else:
            stack.append([colours, fixed, cands, 0, []])

    enter(start, ())
    while stack:
        frame = stack[-1]
        colours, fixed, cands, i, explored = frame
        if i == len(cands):
            stack.pop()
            continue
        frame[3] = i + 1
        v = cands[i]
        if explored and generators:
            stabiliser = [p for p in generators if all(p[x] == x for x in fixed)]
            if stabiliser and _in_orbit(v, explored, stabiliser):
                continue
        explored.append(v)
        split = [2 * c + (0 if u == v else 1) for u, c in enumerate(colours)]
        enter(_refine(split, pred, succ), (*fixed, v))

    return ArchGraph.from_string(best[0])
