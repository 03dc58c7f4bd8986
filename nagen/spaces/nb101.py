"""NAS-Bench-101: cells of up to 7 nodes and 9 edges with 3 candidate ops (1,293,208 cells).

Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML 2019.
A cell is a DAG whose first node is the input, whose last node is the output and whose up to
five intermediate nodes each run ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or ``maxpool3x3``;
it has at most 9 edges. NB101 prunes every node that is not on an input->output path before
building or hashing a cell (``ModelSpec._prune``), so nagen's space holds only *pruned* cells:
one ``ArchGraph`` per distinct labelled cell. Up to isomorphism these are NB101's 423,624
unique modules; :attr:`NB101Space.size` counts labelled ones (isomorphic relabellings are
different ``ArchGraph`` objects, :meth:`ArchGraph.canonical_hash` identifies them).

``build`` gives the benchmark's network (``nasbench/lib/model_builder.py``): a 3x3 conv-bn-relu
stem with 128 channels, three stacks of three cells with a 2x2 max-pool and a doubling of the
channel count between stacks, global average pooling and a linear classifier. Inside a cell the
output's channels are split among the nodes feeding it, the cell input reaches each node through
a 1x1 conv-bn-relu projection, node outputs are summed (truncated to the receiving node's
channels) and concatenated at the output (see :func:`vertex_channels` and :class:`NB101Cell`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nagen.errors import InvalidArchitectureError, InvalidArgumentError, UnknownOptionError, check_int, is_real
from nagen.graph import INPUT, OUTPUT, ArchGraph
from nagen.spaces import register
from nagen.spaces._nn import ConvBNReLU
from nagen.spaces.base import SearchSpace, _with_format_hint

__all__ = ["NB101Space", "NB101Cell", "NB101Network", "NB101_OPS", "MAX_EDGES", "valid_topologies", "vertex_channels"]

#: NB101's intermediate ops, in the order of the benchmark's ``available_ops``
NB101_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
#: the most nodes a cell may have (input and output included)
MAX_NODES = 7
#: the most edges a (pruned) cell may have
MAX_EDGES = 9
#: what ``parse`` expects, said by its format errors: the generic string ``format`` writes, with an example
_FORMAT_HINT = (
    "expected an NB101 cell as the string format() writes: nodes in topological order joined by ';', "
    "each 'op<predecessor indices' ('input' first, 'output' last), "
    "e.g. 'input;conv3x3-bn-relu<0;maxpool3x3<1;output<1,2', "
    f"with ops from {{{', '.join(NB101_OPS)}}}, at most {MAX_NODES} nodes and {MAX_EDGES} edges"
)


class _CellIndexError(InvalidArgumentError, IndexError):
    """A :meth:`NB101Space.cell_at` index outside ``0 .. size - 1`` (also an ``IndexError``, as
    for a sequence)."""


# ---------------------------------------------------------------------- topology enumeration
@functools.cache
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the ``n``-node upper triangle; bit ``k`` of a topology code is pair ``k``."""
    rows, cols = np.triu_indices(n, 1)
    rows.flags.writeable = cols.flags.writeable = False  # shared through the cache
    return rows, cols


@functools.cache
def valid_topologies(n: int) -> np.ndarray:
    """Codes of every valid ``n``-node NB101 topology (ops ignored), sorted ascending.

    Bit ``k`` of a code is the ``k``-th strictly-upper-triangular entry in row-major order
    (``(0, 1), (0, 2), ..., (n-2, n-1)``). All ``2 ** (n (n-1) / 2)`` matrices are tested at
    once with integer masks: in a DAG whose nodes are in topological order, "every node lies
    on an input->output path" is the same as "every node but the input has a predecessor and
    every node but the output has a successor" (walking predecessors from any node must end
    at the only source, the input; walking successors must end at the only sink, the output).
    The tests cross-check this against :meth:`NB101Space.is_valid` by brute force.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= MAX_NODES:
        raise InvalidArgumentError(f"an NB101 cell has 2..{MAX_NODES} nodes, got {n!r}")
    rows, cols = _pairs(n)
    m = len(rows)
    codes = np.arange(1 << m, dtype=np.int64)  # at most 2**21 codes (n = 7): cheap
    popcount = np.zeros_like(codes)
    for k in range(m):
        popcount += (codes >> k) & 1
    ok = popcount <= MAX_EDGES
    for v in range(n):
        in_mask = sum(1 << k for k in range(m) if cols[k] == v)
        out_mask = sum(1 << k for k in range(m) if rows[k] == v)
        if v > 0:
            ok &= (codes & in_mask) != 0
        if v < n - 1:
            ok &= (codes & out_mask) != 0
    codes = codes[ok]
    codes.flags.writeable = False  # shared through the cache
    return codes


@functools.cache
def _node_count_weights() -> tuple[tuple[int, int], ...]:
    """``(n, number of cells with n nodes)`` for n = 2..7: topologies times ``3 ** (n - 2)`` op choices."""
    return tuple((n, len(valid_topologies(n)) * len(NB101_OPS) ** (n - 2)) for n in range(2, MAX_NODES + 1))


def _cell_from_code(n: int, code: int, op_ids: Sequence[int]) -> ArchGraph:
    rows, cols = _pairs(n)
    edges = [(int(rows[k]), int(cols[k])) for k in range(len(rows)) if (code >> k) & 1]
    return ArchGraph((INPUT, *(NB101_OPS[i] for i in op_ids), OUTPUT), edges)


# ---------------------------------------------------------------------- channel arithmetic
def vertex_channels(arch: ArchGraph, c_in: int, c_out: int) -> list[int]:
    """Output channels of every node of a pruned cell, as NB101's ``compute_vertex_channels``.

    The output's ``c_out`` channels are split evenly among the nodes feeding it (the first
    ones in node order get one extra channel while a remainder is left); every other
    intermediate node takes the largest channel count among its intermediate successors, so
    channels never increase along an edge and a node's input only ever needs truncating.
    Node 0 has ``c_in`` channels and the output ``c_out``.
    """
    n = arch.num_nodes
    out = n - 1
    channels = [0] * n
    channels[0], channels[out] = c_in, c_out
    if n == 2:  # only input -> output: nothing to split
        return channels
    adj = arch.adjacency
    fan_in = int(adj[1:, out].sum())  # the input's own edge to the output is a projection, not a share
    if fan_in == 0:
        raise InvalidArchitectureError(f"no intermediate node feeds the output of {arch.to_string()!r}; prune it first")
    share, extra = divmod(c_out, fan_in)
    for v in range(1, out):
        if adj[v, out]:
            channels[v] = share + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    # Backwards so that successors are final; node n-2 can only feed the output in a pruned cell.
    for v in range(n - 3, 0, -1):
        if not adj[v, out]:
            channels[v] = max((channels[d] for d in range(v + 1, out) if adj[v, d]), default=0)
    return channels


# ---------------------------------------------------------------------- torch modules
def _vertex_op(op: str, channels: int) -> nn.Module:
    # NB101's ops keep the vertex's channel count; max-pooling ignores it (stride 1, 'same').
    if op == "conv3x3-bn-relu":
        return ConvBNReLU(channels, channels, 3)
    if op == "conv1x1-bn-relu":
        return ConvBNReLU(channels, channels, 1)
    if op == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise InvalidArchitectureError(f"op {op!r} is not an NB101 op")  # validate() stops this earlier


def _checked_channels(arch: ArchGraph, c_in: int, c_out: int) -> list[int]:
    """:func:`vertex_channels`, or ``InvalidArgumentError`` when a node would get no channel
    (shared by ``build`` and ``cost`` so that ``cost`` refuses exactly what ``build`` refuses)."""
    channels = vertex_channels(arch, c_in, c_out)
    if min(channels[1:]) < 1:
        raise InvalidArgumentError(
            f"{c_out} output channels cannot be split among the {len(arch.predecessors(arch.num_nodes - 1))} nodes "
            f"feeding the output of {arch.to_string()!r}; use more channels (at least 5 suit every cell)"
        )
    return channels


class NB101Cell(nn.Module):
    """One NB101 module (``model_builder.build_module``) for a validated, pruned cell.

    Args:
        arch: the cell.
        c_in: channels of the cell input.
        c_out: channels of the cell output.

    Raises:
        ValueError: ``c_out`` is too small to give every node feeding the output a channel.
    """

    def __init__(self, arch: ArchGraph, c_in: int, c_out: int) -> None:
        super().__init__()
        n = arch.num_nodes
        self.num_nodes = n
        self.channels = _checked_channels(arch, c_in, c_out)
        self.preds = [arch.predecessors(j) for j in range(n)]
        self.from_input = [0 in p for p in self.preds]
        # Edges leaving the cell input are 1x1 conv-bn-relu projections to the receiving node's
        # channels (to ``c_out`` for the input->output edge); other edges carry tensors as they are.
        self.proj = nn.ModuleDict({str(j): ConvBNReLU(c_in, self.channels[j], 1) for j in arch.successors(0)})
        self.vertex_ops = nn.ModuleList([_vertex_op(arch.ops[t], self.channels[t]) for t in range(1, n - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.num_nodes - 1
        values = [x]
        for t in range(1, out):
            c = self.channels[t]
            # Channels never increase along an edge, so a wider source loses its last channel(s).
            inputs = [values[s][:, :c] for s in self.preds[t] if s != 0]
            if self.from_input[t]:
                inputs.append(self.proj[str(t)](x))
            summed = inputs[0] if len(inputs) == 1 else torch.stack(inputs).sum(0)
            values.append(self.vertex_ops[t - 1](summed))
        concat = [values[s] for s in self.preds[out] if s != 0]
        if not concat:  # a bare input -> output cell is a projection
            return self.proj[str(out)](x)
        y = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if self.from_input[out]:
            y = y + self.proj[str(out)](x)
        return y


class NB101Network(nn.Module):
    """NB101's network (``model_builder.build_model_fn``): stem, stacks of cells, pooling, classifier.

    Args:
        arch: the cell, shared by every module of the network.
        num_classes: classifier outputs.
        stem_channels: channels of the 3x3 conv-bn-relu stem and of the first stack.
        num_stacks: stacks of cells; each stack after the first starts with a 2x2 max-pool
            (stride 2) and doubles the channels at its first cell.
        cells_per_stack: cells per stack.
        in_channels: input image channels.
    """

    def __init__(
        self,
        arch: ArchGraph,
        num_classes: int,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.stem = ConvBNReLU(in_channels, stem_channels, 3)
        layers: list[nn.Module] = []
        c = stem_channels
        for stack in range(num_stacks):
            c_in = c
            if stack > 0:
                # TF's 'same' 2x2/2 pooling pads odd sizes at the end, which is ceil_mode here.
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(arch, c_in, c))
                c_in = c
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cells(self.stem(x))
        return self.classifier(x.mean(dim=(2, 3)))


# ---------------------------------------------------------------------- the space
@register("nb101")
class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell space; ``build`` gives the benchmark's network.

    Builder options: ``stem_channels`` (128), ``num_stacks`` (3), ``cells_per_stack`` (3),
    ``in_channels`` (3) and ``bn_momentum`` (PyTorch's default; NB101 trained with TF's
    momentum 0.997, i.e. ``bn_momentum=0.003``). With the defaults the parameter count equals
    the benchmark's ``trainable_parameters``; :meth:`cost` computes it (and the FLOPs) in
    closed form.
    """

    name = "nb101"
    ops = NB101_OPS
    max_nodes = MAX_NODES
    fixed_topology = False
    max_edges = MAX_EDGES
    default_input_shape = (3, 32, 32)
    default_num_classes = 10
    description = "NAS-Bench-101 cell: up to 7 nodes and 9 edges, 3 ops (423,624 unique cells up to isomorphism)"

    @property
    def size(self) -> int:
        """Number of valid labelled cells (1,293,208), counted exactly by :func:`valid_topologies`."""
        return sum(w for _, w in _node_count_weights())

    # ------------------------------------------------------------------ NB101 matrices
    def from_matrix(self, matrix: Any, ops: Sequence[str], prune: bool = True) -> ArchGraph:
        """The cell of an NB101 ``ModelSpec(matrix, ops)``.

        Args:
            matrix: ``n x n`` 0/1 strictly-upper-triangular adjacency.
            ops: ``n`` op names, ``"input"`` first and ``"output"`` last.
            prune: drop the nodes off every input->output path first, as ``ModelSpec`` does
                (so NB101's 7x7 matrices with unused rows are accepted).

        Raises:
            InvalidArchitectureError: the matrix holds values other than 0 and 1, or the cell
                is not a valid NB101 cell.
        """
        arch = ArchGraph.from_adjacency(ops, matrix)
        return self.validate(arch.pruned() if prune else arch)

    # ------------------------------------------------------------------ strings
    def parse(self, text: str) -> ArchGraph:
        """Parse and validate an NB101 cell string, the generic ``ArchGraph`` string :meth:`format` writes.

        Raises:
            InvalidArchitectureError: ``text`` is not in that format (the message says the format
                expected, with an example), or the cell breaks NB101's rules.
            UnknownOpError: a node's op is not an NB101 op.
        """
        try:
            arch = ArchGraph.from_string(text)
        except InvalidArchitectureError as e:  # e.g. an NB201 cell string, or no architecture at all
            raise _with_format_hint(e, _FORMAT_HINT) from None
        return self.validate(arch)

    def to_matrix(self, arch: ArchGraph | str) -> tuple[list[list[int]], list[str]]:
        """``(matrix, ops)`` of a cell, the arguments of NB101's ``ModelSpec``."""
        arch = self.validate(arch)
        return arch.adjacency.astype(int).tolist(), list(arch.ops)

    # ------------------------------------------------------------------ protocol
    def _check(self, arch: ArchGraph) -> None:
        n = arch.num_nodes
        if len(arch.edges) > MAX_EDGES:
            raise InvalidArchitectureError(
                f"an NB101 cell has at most {MAX_EDGES} edges, got {len(arch.edges)}: {arch.to_string()!r}"
            )
        fwd = [False] * n
        fwd[0] = True
        for j in range(1, n):  # nodes are in topological order, so one sweep suffices
            fwd[j] = any(fwd[i] for i in arch.predecessors(j))
        if not fwd[n - 1]:
            raise InvalidArchitectureError(f"the output is not reachable from the input in {arch.to_string()!r}")
        bwd = [False] * n
        bwd[n - 1] = True
        for i in range(n - 2, -1, -1):
            bwd[i] = any(bwd[j] for j in arch.successors(i))
        # NB101 prunes such nodes before building or hashing; keeping only pruned cells gives
        # each function one representation (use ``from_matrix`` to prune an NB101 matrix).
        for k in range(1, n - 1):
            if not fwd[k]:
                raise InvalidArchitectureError(
                    f"node {k} ({arch.ops[k]}) is not reachable from the input in {arch.to_string()!r}; "
                    "NB101 cells are pruned (ArchGraph.pruned() removes such nodes)"
                )
            if not bwd[k]:
                raise InvalidArchitectureError(
                    f"node {k} ({arch.ops[k]}) is dangling: it does not reach the output in {arch.to_string()!r}; "
                    "NB101 cells are pruned (ArchGraph.pruned() removes such nodes)"
                )

    def _sample_one(self, rng: np.random.Generator) -> ArchGraph:
        """A cell drawn uniformly from all :attr:`size` cells (one integer draw, then decoded)."""
        return self.cell_at(int(rng.integers(self.size)))

    def cell_at(self, index: int) -> ArchGraph:
        """The ``index``-th cell of a fixed order (by node count, topology code, then ops).

        ``index`` ranges over ``0 .. size - 1``; the map is a bijection, which is what makes
        :meth:`sample` uniform over the space.
        """
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < self.size:
            raise _CellIndexError(f"cell index must be an integer in 0..{self.size - 1}, got {index!r}")
        index = int(index)
        n_ops = len(NB101_OPS)
        for n, weight in _node_count_weights():
            if index < weight:
                labellings = n_ops ** (n - 2)
                topo, rest = divmod(index, labellings)
                op_ids = []
                for _ in range(n - 2):
                    rest, d = divmod(rest, n_ops)
                    op_ids.append(d)
                return _cell_from_code(n, int(valid_topologies(n)[topo]), op_ids[::-1])
            index -= weight
        raise AssertionError("unreachable: index was range-checked")  # pragma: no cover

    def _build(self, arch: ArchGraph, num_classes: int, **options: Any) -> nn.Module:
        opts = _options(**options)
        net = NB101Network(
            arch, num_classes, opts["stem_channels"], opts["num_stacks"], opts["cells_per_stack"], opts["in_channels"]
        )
        if opts["bn_momentum"] is not None:
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = opts["bn_momentum"]
        return net

    def cost(
        self,
        arch: ArchGraph | str,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        **options: Any,
    ) -> dict[str, int]:
        """Exact ``{"params": ..., "flops": ...}`` in closed form, without building the network.

        Counts what ``nagen.profile.count_cost`` counts on :meth:`build`'s network (conv
        weights, BatchNorm affine weights, classifier; conv and linear multiply-adds) from the
        channel arithmetic alone: running the largest NB101 networks (~7 GFLOPs) once takes
        seconds on a CPU. The tests check it against counting the built network.

        Raises:
            InvalidArgumentError: as :meth:`build`, when a cell's output channels cannot be
                split among the nodes feeding its output.
        """
        arch = self.validate(arch)
        nc = check_int(self.default_num_classes if num_classes is None else num_classes, "num_classes", 1)
        opts = _options(**options)
        _, h, w = self._cost_shape(input_shape, opts["in_channels"])
        total = [0, 0]  # params, flops

        def conv(k: int, c_in: int, c_out: int) -> None:  # a conv-bn-relu at the current h x w
            total[0] += k * k * c_in * c_out + 2 * c_out
            total[1] += k * k * c_in * c_out * h * w

        c = opts["stem_channels"]
        conv(3, opts["in_channels"], c)
        kernel = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}
        for stack in range(opts["num_stacks"]):
            c_in = c
            if stack > 0:
                h, w, c = (h + 1) // 2, (w + 1) // 2, 2 * c  # ceil-mode 2x2/2 max-pool
            for _ in range(opts["cells_per_stack"]):
                ch = _checked_channels(arch, c_in, c)
                for j in arch.successors(0):
                    conv(1, c_in, ch[j])
                for t in range(1, arch.num_nodes - 1):
                    if arch.ops[t] in kernel:
                        conv(kernel[arch.ops[t]], ch[t], ch[t])
                c_in = c
        total[0] += c * nc + nc
        total[1] += c * nc + nc
        return {"params": int(total[0]), "flops": int(total[1])}


def _options(
    stem_channels: int = 128,
    num_stacks: int = 3,
    cells_per_stack: int = 3,
    in_channels: int = 3,
    bn_momentum: float | None = None,
    **unknown: Any,
) -> dict[str, Any]:
    """Checked builder options (an unknown keyword raises ``UnknownOptionError``, also a ``TypeError``
    as a call would be, naming the allowed ones)."""
    if unknown:
        allowed = ("stem_channels", "num_stacks", "cells_per_stack", "in_channels", "bn_momentum")
        raise UnknownOptionError(f"space 'nb101' build takes no option(s) {sorted(unknown)}; its options are {list(allowed)}")
    opts: dict[str, Any] = {}
    for key, v in (
        ("stem_channels", stem_channels),
        ("num_stacks", num_stacks),
        ("cells_per_stack", cells_per_stack),
        ("in_channels", in_channels),
    ):
        opts[key] = check_int(v, key, 1)
    if bn_momentum is not None and (not is_real(bn_momentum) or not 0.0 <= bn_momentum <= 1.0):
        raise InvalidArgumentError(f"bn_momentum must be a number in [0, 1] (PyTorch convention), got {bn_momentum!r}")
    opts["bn_momentum"] = None if bn_momentum is None else float(bn_momentum)
    return opts
