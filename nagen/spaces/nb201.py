"""NAS-Bench-201: a 4-node cell with 6 edges and 5 candidate ops (15,625 cells).

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search",
ICLR 2020. The cell string ``|o1~0|+|o2~0|o3~1|+|o4~0|o5~1|o6~2|`` puts op ``o1`` on edge
0->1, ``o2, o3`` on 0->2, 1->2 and ``o4, o5, o6`` on 0->3, 1->3, 2->3.

nagen represents the cell with *ops on nodes* (as DiffusionNAG does): 8 nodes — the input,
one node per edge op (in the string's order), the output — on one fixed DAG. An edge-op node
reads the sum of the edge-op nodes entering its source cell node::

    0 input        -> 1 (0->1), 2 (0->2), 4 (0->3)
    1 (0->1)       -> 3 (1->2), 5 (1->3)
    2 (0->2), 3    -> 6 (2->3)
    4, 5, 6        -> 7 output
"""

from __future__ import annotations

import itertools
import numbers
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from torch import nn

from nagen.errors import InvalidArchitectureError, InvalidArgumentError, UnknownOpError, check_int, choices_hint
from nagen.graph import INPUT, OUTPUT, ArchGraph
from nagen.spaces import register
from nagen.spaces._nn import NB201_OPS, CellNetwork, NodeOpCell
from nagen.spaces.base import SearchSpace, _with_format_hint

__all__ = ["NB201Space", "NB201_EDGES"]

#: op ids as in the benchmark data: none=0, skip_connect=1, nor_conv_1x1=2, nor_conv_3x3=3, avg_pool_3x3=4
NB201_OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: the fixed node-op DAG
NB201_EDGES = ((0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7))
#: (source cell node, target cell node) of each edge-op node 1..6
_CELL_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: the inputs of cell nodes 1..3, in string order: ``[[0], [0, 1], [0, 1, 2]]``
_NODE_SOURCES = [[s for s, t in _CELL_EDGES if t == node] for node in (1, 2, 3)]
#: one ``op~k`` token; ASCII digits only (``str.isdigit`` also accepts e.g. superscripts)
_TOKEN = re.compile(r"(.*)~([0-9]+)", re.ASCII)
#: what ``parse`` expects, said by each of its errors: the cell string ``format`` writes, with an example
_FORMAT_HINT = (
    "expected an NB201 cell string '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' (op~k: the op on the edge from node k), "
    "e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|', "
    f"with ops from {{{', '.join(NB201_OP_NAMES)}}} (or the cell's generic string, as ArchGraph.to_string writes it: "
    "'input;op<0;op<0;op<1;op<0;op<1;op<2,3;output<4,5,6')"
)


@register("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space; ``build`` gives the benchmark's macro network.

    Builder options: ``C`` (stem channels, default 16), ``N`` (cells per stage, default 5),
    ``in_channels`` (3). With the defaults, params and FLOPs equal NAS-Bench-201's figures.
    """

    name = "nb201"
    ops = NB201_OP_NAMES
    max_nodes = 8
    fixed_topology = True
    # two down-sampling paths of the residual blocks (strided conv, 2x2 pool) only agree on even sizes
    _input_multiple = 4
    default_input_shape = (3, 32, 32)
    default_num_classes = 10
    description = "NAS-Bench-201 cell: 6 edges x 5 ops on a fixed 4-node DAG (15,625 cells)"

    @property
    def size(self) -> int:
        """``5 ** 6 = 15,625``."""
        return len(self.ops) ** 6

    # ------------------------------------------------------------------ op tuples
    def from_op_ids(self, ids: Sequence[int]) -> ArchGraph:
        """The cell whose six edges carry op ids ``ids`` (the data files' ``ops`` column).

        Raises:
            InvalidArchitectureError: ``ids`` is not six integers in 0..4 (bools and floats
                such as 1.5 are refused rather than truncated).
        """
        if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, np.ndarray)):
            raise InvalidArchitectureError(f"an NB201 cell needs a sequence of six op ids in 0..4, got {ids!r}")
        ids = list(ids)
        if len(ids) != 6 or any(
            isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral) or not 0 <= i < 5 for i in ids
        ):
            raise InvalidArchitectureError(f"an NB201 cell needs six integer op ids in 0..4, got {ids}")
        return _cell(tuple(int(i) for i in ids))

    def op_ids(self, arch: ArchGraph | str) -> tuple[int, ...]:
        """The six op ids of a cell, in the NB201 string's edge order."""
        arch = self.validate(arch)
        return tuple(NB201_OP_NAMES.index(op) for op in arch.ops[1:7])

    # ------------------------------------------------------------------ strings
    def format(self, arch: ArchGraph) -> str:
        """The NAS-Bench-201 cell string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

        Raises:
            InvalidArchitectureError: ``arch`` is not an NB201 cell (checked: slicing the ops
                of another space's graph would give a plausible-looking but wrong string).
        """
        o = self.validate(arch).ops
        return f"|{o[1]}~0|+|{o[2]}~0|{o[3]}~1|+|{o[4]}~0|{o[5]}~1|{o[6]}~2|"

    def parse(self, text: str) -> ArchGraph:
        """Parse an NB201 cell string (as :meth:`format` writes) or a generic ``ArchGraph`` string.

        Raises:
            InvalidArchitectureError: ``text`` is in neither format; the message says the format
                expected, with an example.
            UnknownOpError: a well-formed cell string names an op that is not an NB201 op.
        """
        if not isinstance(text, str):
            raise InvalidArchitectureError(f"expected an architecture string, got {type(text).__name__}; {_FORMAT_HINT}")
        t = text.strip()
        if not t.startswith("|"):
            try:
                return super().parse(t)
            except InvalidArchitectureError as e:  # most likely another space's string, or no cell string at all
                raise _with_format_hint(e, _FORMAT_HINT) from None
        nodes = [node.strip() for node in t.split("+")]
        parsed: list[tuple[str, int]] = []
        group_sources: list[list[int]] = []
        for node in nodes:
            # each group is '|tok|...|tok|': one '|' on each side, none doubled
            if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
                raise InvalidArchitectureError(
                    f"malformed NB201 node {node!r} in {text!r} (each node is '|op~k|...|', nodes joined by '+'); "
                    f"{_FORMAT_HINT}"
                )
            group_sources.append([])
            for tok in node[1:-1].split("|"):
                m = _TOKEN.fullmatch(tok.strip())
                if m is None:
                    raise InvalidArchitectureError(
                        f"malformed NB201 token {tok!r} in {text!r} (each token is 'op~k'); {_FORMAT_HINT}"
                    )
                parsed.append((m.group(1), int(m.group(2))))
                group_sources[-1].append(int(m.group(2)))
        # per group, not flattened: '|a~0|b~0|+|c~1|+|...|' has the right sources in the wrong
        # nodes and would otherwise parse as a different cell
        if group_sources != _NODE_SOURCES:
            raise InvalidArchitectureError(
                f"{text!r} is not an NB201 cell string (3 nodes with inputs ~0 | ~0 ~1 | ~0 ~1 ~2); {_FORMAT_HINT}"
            )
        for op, _ in parsed:
            if op not in NB201_OP_NAMES:
                raise UnknownOpError(f"op {op!r} in {text!r} is not an NB201 op; allowed {choices_hint(NB201_OP_NAMES)}")
        return _cell(tuple(NB201_OP_NAMES.index(op) for op, _ in parsed))

    # ------------------------------------------------------------------ protocol
    def _check(self, arch: ArchGraph) -> None:
        if arch.num_nodes != 8 or arch.edges != NB201_EDGES:
            raise InvalidArchitectureError(
                f"an NB201 cell has 8 nodes on the fixed DAG {list(NB201_EDGES)}; "
                f"got {arch.num_nodes} nodes with edges {list(arch.edges)}"
            )

    def _sample_one(self, rng: np.random.Generator) -> ArchGraph:
        return _cell(tuple(int(i) for i in rng.integers(0, 5, size=6)))

    def _enumerate(self) -> Iterator[ArchGraph]:
        for ids in itertools.product(range(5), repeat=6):
            yield _cell(ids)

    def _build(self, arch: ArchGraph, num_classes: int, C: int = 16, N: int = 5, in_channels: int = 3) -> nn.Module:
        return CellNetwork(lambda c: NodeOpCell(arch, c, NB201_OPS), C, N, num_classes, in_channels)

    def cost(
        self,
        arch: ArchGraph | str,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        **options: Any,
    ) -> dict[str, int]:
        """Exact params/FLOPs; fast path for the standard network.

        Each edge op is an independent module, so the cost of a cell network is the cost of
        the all-``none`` network plus, per edge, the extra cost of that edge's op. The
        per-edge terms are counted once on real built networks and cached; the tests check
        the sum against a full build.
        """
        if options:
            return super().cost(arch, num_classes, input_shape, **options)
        ids = self.op_ids(arch)
        nc = check_int(self.default_num_classes if num_classes is None else num_classes, "num_classes", 1)
        base, delta = _cost_terms(self, nc, self._cost_shape(input_shape))
        total = base + delta[np.arange(6), list(ids)].sum(0)
        return {"params": int(total[0]), "flops": int(total[1])}

    def cost_table(self, ids: np.ndarray, num_classes: int | None = None, input_shape: Sequence[int] | None = None) -> np.ndarray:
        """Params and FLOPs of many cells at once.

        Args:
            ids: ``n x 6`` integer op ids in 0..4.
            num_classes: classes of the network's classifier (default 10, NB201's CIFAR-10 network).
            input_shape: ``(3, height, width)`` of one input, height and width multiples of 4
                (default ``(3, 32, 32)``); it changes the FLOPs, not the params.
        Returns:
            ``n x 2`` int64 array of (params, flops), as :meth:`cost` gives for each cell.

        Raises:
            InvalidArgumentError: ``ids`` is not an ``n x 6`` integer array with entries in 0..4
                (a negative id would otherwise index from the end and give a wrong cost), or
                ``num_classes`` / ``input_shape`` is not as described above.
        """
        try:
            arr = np.asarray(ids)
        except (TypeError, ValueError):  # ragged lists
            arr = np.asarray(None)
        ok = arr.ndim == 2 and arr.shape[1] == 6 and arr.dtype.kind in "iu"
        if not ok or (arr.size and not 0 <= arr.min() <= arr.max() < 5):
            got = f"values {arr.min()}..{arr.max()}" if ok else f"shape {arr.shape} and dtype {arr.dtype}"
            raise InvalidArgumentError(f"ids must be an n x 6 integer array of op ids in 0..4, got {got}")
        ids = arr.astype(np.int64)
        nc = check_int(self.default_num_classes if num_classes is None else num_classes, "num_classes", 1)
        base, delta = _cost_terms(self, nc, self._cost_shape(input_shape))
        return base[None] + delta[np.arange(6)[None, :], ids].sum(1)


@lru_cache(maxsize=None)
def _cell(ids: tuple[int, ...]) -> ArchGraph:
    return ArchGraph((INPUT, *(NB201_OP_NAMES[i] for i in ids), OUTPUT), NB201_EDGES)


@lru_cache(maxsize=16)
def _cost_terms(space: NB201Space, num_classes: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(cost of the all-none network, per (edge, op) extra cost): int64 ``[2]`` and ``[6, 5, 2]``."""

    def full(ids: tuple[int, ...]) -> np.ndarray:
        c = SearchSpace.cost(space, _cell(ids), num_classes, shape)
        return np.array([c["params"], c["flops"]], dtype=np.int64)

    base = full((0,) * 6)
    delta = np.zeros((6, 5, 2), dtype=np.int64)
    for e in range(6):
        for op in range(1, 5):
            ids = [0] * 6
            ids[e] = op
            delta[e, op] = full(tuple(ids)) - base
    return base, delta
