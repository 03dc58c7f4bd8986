"""The ``SearchSpace`` protocol every space implements.

A space supplies only what differs between spaces (its op choices, its validity rules, its
sampler and its network builder); the base class owns the invariants: input validation, the
fixed-shape tensor encoding the generators diffuse over, decoding with a reason for every
rejected sample, one-edit neighbours and exact cost counting.

Tensor encoding (``encode``/``decode``), for a space with ``N = max_nodes`` and vocabulary
``V = vocab = ("input", *ops, "output")``:

* ``X``: ``batch x N x |V|`` float one-hot ops;
* ``A``: ``batch x N x N`` float 0/1 adjacency, strictly upper-triangular.

An architecture with ``n < N`` nodes fills rows ``0..n-2`` with its first ``n-1`` nodes and
row ``N-1`` with its output; the rows in between are padding (all-zero in ``X`` and ``A``).
So the output always sits in the last row and every encoded graph is a DAG in node order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nagen.errors import (
    EncodingError,
    InvalidArchitectureError,
    InvalidArgumentError,
    NotEnumerableError,
    UnknownOpError,
    check_int,
    check_options,
    choices_hint,
)
from nagen.graph import INPUT, OUTPUT, ArchGraph

__all__ = ["SearchSpace", "RNGLike", "as_rng", "ENUMERATE_LIMIT"]

RNGLike = np.random.Generator | int | None
#: ``enumerate()`` refuses spaces larger than this (use ``sample`` instead).
ENUMERATE_LIMIT = 1_000_000


def _one_rng(rng: RNGLike, seed: RNGLike) -> np.random.Generator:
    """The generator of a ``sample(n, rng=..., seed=...)`` call: ``seed`` is an alias of ``rng``.

    Raises:
        InvalidArgumentError: both are given (which one wins would be a guess), or the one given
            is not a generator or a non-negative seed (named as the caller spelled it).
    """
    if seed is None:
        return as_rng(rng)
    if rng is not None:
        raise InvalidArgumentError(
            f"give the randomness once: rng= or its alias seed=, not both (got rng={rng!r}, seed={seed!r})"
        )
    return as_rng(seed, "seed")


def _with_format_hint(error: InvalidArchitectureError, hint: str) -> InvalidArchitectureError:
    """``error`` (same object, so same class and traceback) with ``hint`` (the string format a
    space's ``parse`` expects, with an example) appended to its message; re-raise it after."""
    message = str(error.args[0]) if error.args else ""
    error.args = (f"{message}; {hint}" if message else hint, *error.args[1:])
    return error


def as_rng(rng: RNGLike, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator`` from a generator, an integer seed or ``None`` (fresh entropy).

    Raises:
        InvalidArgumentError: ``rng`` is none of these, or a negative seed (NumPy refuses those);
            the message calls it ``name``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise InvalidArgumentError(
        f"{name} must be a numpy.random.Generator, a non-negative int seed or None, got {rng!r} ({type(rng).__name__})"
    )


def _as_array(t: Any, label: str) -> np.ndarray:
    """A NumPy view of a tensor or array-like (bfloat16, which NumPy lacks, goes through float32)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    try:
        return np.asarray(t)
    except (TypeError, ValueError) as e:  # e.g. ragged nested lists
        raise EncodingError(f"{label} must be a tensor or a rectangular array, got {type(t).__name__}: {e}") from None


def _insertions(arch: ArchGraph, ops: Sequence[str]) -> Iterator[ArchGraph]:
    """Every graph with one node inserted at topological position ``p`` (any op of ``ops``), fed by
    one earlier node and feeding one later node; the existing edges are kept."""
    n = arch.num_nodes
    for p in range(1, n):  # the new node's index: after node p - 1, before old node p
        shifted = [(a if a < p else a + 1, b if b < p else b + 1) for a, b in arch.edges]
        for i in range(p):
            for j in range(p + 1, n + 1):
                for op in ops:
                    yield ArchGraph((*arch.ops[:p], op, *arch.ops[p:]), [*shifted, (i, p), (p, j)])


class SearchSpace(ABC):
    """A set of architectures, with sampling, tensor encoding, validity and a network builder.

    Subclasses set :attr:`name`, :attr:`ops`, :attr:`max_nodes` and :attr:`fixed_topology`
    and implement :meth:`_check`, :meth:`_sample_one` and :meth:`_build`. Everything else has
    a working default that subclasses may override for speed.
    """

    #: registry name, e.g. ``"nb201"``
    name: str
    #: op choices of the non-input/output nodes
    ops: tuple[str, ...]
    #: the largest number of nodes (input and output included); the encoding's ``N``
    max_nodes: int
    #: True when every architecture shares one DAG and only ops vary
    fixed_topology: bool
    #: edge limit of variable-topology spaces (None: no limit beyond the node count)
    max_edges: int | None = None
    #: input shape (without batch) used by :meth:`cost` when none is given
    default_input_shape: tuple[int, ...] = (3, 32, 32)
    #: classes used by :meth:`cost` when none is given
    default_num_classes: int = 10
    #: short human description for ``nagen info``
    description: ClassVar[str] = ""

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _check(self, arch: ArchGraph) -> None:
        """Raise ``InvalidArchitectureError`` saying why ``arch`` is not in the space.

        Called after the base checks (ops in the vocabulary, node count, types).
        """

    @abstractmethod
    def _sample_one(self, rng: np.random.Generator) -> ArchGraph:
        """One valid architecture drawn with ``rng``."""

    @abstractmethod
    def _build(self, arch: ArchGraph, num_classes: int, **options: Any) -> nn.Module:
        """The trainable network for a validated ``arch``."""

    @property
    def size(self) -> int | None:
        """Number of distinct architectures (``ArchGraph`` objects) in the space, or None if unknown."""
        return None

    def _enumerate(self) -> Iterator[ArchGraph]:
        raise NotEnumerableError(f"space {self.name!r} does not support enumerate(); use sample()")

    # ------------------------------------------------------------------ vocabulary
    @property
    def vocab(self) -> tuple[str, ...]:
        """Node vocabulary of the one-hot encoding: ``("input", *ops, "output")``."""
        return (INPUT, *self.ops, OUTPUT)

    @property
    def _vocab_index(self) -> dict[str, int]:
        cache = self.__dict__.get("_vocab_index_cache")
        if cache is None:
            cache = {op: k for k, op in enumerate(self.vocab)}
            self.__dict__["_vocab_index_cache"] = cache
        return cache

    # ------------------------------------------------------------------ strings
    def format(self, arch: ArchGraph) -> str:
        """The space's string for ``arch`` (generic ``ArchGraph`` string unless overridden)."""
        return arch.to_string()

    def parse(self, text: str) -> ArchGraph:
        """Parse and validate a string produced by :meth:`format` or ``ArchGraph.to_string``."""
        return self.validate(ArchGraph.from_string(text))

    def _coerce(self, arch: ArchGraph | str) -> ArchGraph:
        if isinstance(arch, ArchGraph):
            return arch
        if isinstance(arch, str):
            return self.parse(arch)
        raise InvalidArchitectureError(
            f"expected an ArchGraph or an architecture string for space {self.name!r}, got {type(arch).__name__}"
        )

    # ------------------------------------------------------------------ validity
    def validate(self, arch: ArchGraph | str) -> ArchGraph:
        """Return ``arch`` (parsed if a string) or raise ``InvalidArchitectureError`` saying why.

        A space is immutable once built, so a graph it accepted is remembered and not checked again.

        Raises:
            UnknownOpError: an op is not one of :attr:`ops`.
            InvalidArchitectureError: any other violation of the space's rules.
        """
        if isinstance(arch, ArchGraph) and arch._validated_by is self:
            return arch
        arch = self._coerce(arch)
        if arch.num_nodes > self.max_nodes:
            raise InvalidArchitectureError(
                f"space {self.name!r} allows at most {self.max_nodes} nodes, got {arch.num_nodes}"
            )
        index = self._vocab_index
        for k, op in enumerate(arch.ops[1:-1], start=1):
            if op not in index:
                raise UnknownOpError(
                    f"node {k}: op {op!r} is not in space {self.name!r}; allowed ops are {choices_hint(self.ops)}"
                )
        self._check(arch)
        arch._validated_by = self
        return arch

    def is_valid(self, arch: ArchGraph | str) -> bool:
        """Whether ``arch`` belongs to the space (never raises for bad architectures)."""
        try:
            self.validate(arch)
        except InvalidArchitectureError:
            return False
        return True

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, rng: RNGLike = None, *, seed: RNGLike = None) -> list[ArchGraph]:
        """``n`` architectures drawn (with replacement) from the space's sampling distribution.

        Args:
            n: how many, ``>= 0``.
            rng: a ``numpy.random.Generator`` or an integer seed; same seed, same samples.
            seed: an alias of ``rng`` (the keyword the generators' ``sample`` takes).

        Raises:
            InvalidArgumentError: ``n`` is not a non-negative integer, ``rng``/``seed`` is not a
                generator or a non-negative seed, or both ``rng`` and ``seed`` are given.
        """
        n = check_int(n, "n", 0)
        gen = _one_rng(rng, seed)
        return [self._sample_one(gen) for _ in range(n)]

    def enumerate(self) -> Iterator[ArchGraph]:
        """Every architecture of the space, in a fixed order (finite, small spaces only).

        Raises:
            NotEnumerableError: the space is infinite, unknown in size or above ``ENUMERATE_LIMIT``.
        """
        size = self.size
        if size is None or size > ENUMERATE_LIMIT:
            raise NotEnumerableError(
                f"space {self.name!r} has {'an unknown number of' if size is None else f'{size:,}'} "
                f"architectures, more than enumerate() lists (limit {ENUMERATE_LIMIT:,}); use sample() instead"
            )
        return self._enumerate()

    # ------------------------------------------------------------------ mutations
    def neighbours(self, arch: ArchGraph | str) -> list[ArchGraph]:
        """All valid architectures one edit away, sorted by string for determinism.

        An edit changes one node's op or, for variable topologies, adds or removes one edge
        (a node left on no input->output path is dropped, as NB101's pruning does; a node with
        a zero op such as ``none`` is kept) or inserts one node with one edge in and one edge
        out. Without the last two, a mutation-based search (regularised evolution, the BO
        proposer's pool) could never change a cell's node count, so it would stay among the
        sizes of its initial cells.
        """
        arch = self.validate(arch)
        out: set[ArchGraph] = set()
        for k in range(1, arch.num_nodes - 1):
            for op in self.ops:
                if op != arch.ops[k]:
                    cand = arch.with_op(k, op)
                    if self.is_valid(cand):
                        out.add(cand)
        if not self.fixed_topology:
            present = set(arch.edges)
            for i in range(arch.num_nodes):
                for j in range(i + 1, arch.num_nodes):
                    cand = arch.with_edge(i, j, (i, j) not in present)
                    if not self.is_valid(cand) and (i, j) in present:
                        # removing the edge may strand a node: drop it, and only it (structural
                        # pruning: a 'none' node is a valid node of a custom space, not dead code)
                        cand = cand.pruned(frozenset())
                    if cand != arch and self.is_valid(cand):
                        out.add(cand)
            if arch.num_nodes < self.max_nodes:
                out.update(c for c in _insertions(arch, self.ops) if self.is_valid(c))
        return sorted(out, key=ArchGraph.to_string)

    # ------------------------------------------------------------------ tensors
    def encode(self, archs: Sequence[ArchGraph | str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched one-hot ops and adjacency of fixed shape (see module docstring).

        Returns:
            ``X``: ``batch x max_nodes x len(vocab)`` float32 one-hots;
            ``A``: ``batch x max_nodes x max_nodes`` float32 0/1, strictly upper-triangular.
        """
        if isinstance(archs, (ArchGraph, str)):
            raise EncodingError("encode() takes a sequence of architectures; wrap a single one in a list")
        try:
            items = list(archs)
        except TypeError:
            raise EncodingError(
                f"encode() takes a sequence of architectures (ArchGraph objects or strings), got {type(archs).__name__}"
            ) from None
        archs = [self.validate(a) for a in items]
        b, n_max, v = len(archs), self.max_nodes, len(self.vocab)
        x = np.zeros((b, n_max, v), dtype=np.float32)
        a = np.zeros((b, n_max, n_max), dtype=np.float32)
        index = self._vocab_index
        for k, arch in enumerate(archs):
            rows = self._rows(arch.num_nodes)
            x[k, rows, [index[op] for op in arch.ops]] = 1.0
            if arch.edges:
                e = np.asarray(arch.edges)
                a[k, rows[e[:, 0]], rows[e[:, 1]]] = 1.0
        return torch.from_numpy(x), torch.from_numpy(a)

    def _rows(self, n: int) -> np.ndarray:
        """Encoding row of each of an ``n``-node architecture's nodes."""
        rows = np.arange(n)
        rows[-1] = self.max_nodes - 1
        return rows

    def try_decode(self, X: torch.Tensor, A: torch.Tensor) -> list[ArchGraph | InvalidArchitectureError]:
        """Decode a batch, returning for each sample its ``ArchGraph`` or the error saying why not.

        ``X`` may hold soft op probabilities or noisy one-hots (each row's argmax is its op;
        an all-zero row is padding); ``A`` is thresholded at 0.5 and only its strictly
        upper-triangular part is read. In variable-topology spaces a middle node with no
        edge at all is treated as absent.
        """
        x, adj = self._check_tensors(X, A)
        n_max = self.max_nodes
        ops_idx = x.argmax(-1)
        present = np.abs(x).sum(-1) > 1e-8
        upper = np.triu(adj > 0.5, k=1)
        vocab = self.vocab
        results: list[ArchGraph | InvalidArchitectureError] = []
        for k in range(x.shape[0]):
            keep = present[k].copy()
            if not self.fixed_topology:
                degree = upper[k].sum(0) + upper[k].sum(1)
                keep[1:-1] &= degree[1:-1] > 0
            keep[0] = keep[-1] = True
            rows = np.flatnonzero(keep)
            pos = {r: i for i, r in enumerate(rows)}
            src, dst = np.nonzero(upper[k])
            dropped = [(s, d) for s, d in zip(src.tolist(), dst.tolist()) if s not in pos or d not in pos]
            try:
                if dropped:
                    raise InvalidArchitectureError(
                        f"sample {k}: edges {dropped[:5]} touch padding rows (all-zero op rows)"
                    )
                if not present[k][0] or not present[k][-1]:
                    raise InvalidArchitectureError(
                        f"sample {k}: row 0 (input) and row {n_max - 1} (output) must hold an op"
                    )
                ops = [vocab[i] for i in ops_idx[k][rows]]
                edges = [(pos[s], pos[d]) for s, d in zip(src.tolist(), dst.tolist())]
                arch = ArchGraph(ops, edges)
                results.append(self.validate(arch))
            except InvalidArchitectureError as e:
                msg = str(e)
                results.append(type(e)(msg if msg.startswith(f"sample {k}") else f"sample {k}: {msg}"))
        return results

    def decode(self, X: torch.Tensor, A: torch.Tensor) -> list[ArchGraph]:
        """Decode a batch of ``(X, A)`` into architectures (see :meth:`try_decode`).

        Raises:
            InvalidArchitectureError: for the first sample that is not a valid architecture,
                naming its index and the reason.
        """
        out = self.try_decode(X, A)
        for r in out:
            if isinstance(r, InvalidArchitectureError):
                raise r
        return out  # type: ignore[return-value]

    def _check_tensors(self, X: Any, A: Any) -> tuple[np.ndarray, np.ndarray]:
        x, a = _as_array(X, "X"), _as_array(A, "A")
        for label, arr in (("X", x), ("A", a)):
            # argmax and thresholds need real numbers; object/str arrays would fail deep in NumPy
            if arr.dtype.kind not in "biuf":
                raise EncodingError(f"{label} must hold real numbers (bool, int or float), got dtype {arr.dtype}")
        n, v = self.max_nodes, len(self.vocab)
        if x.ndim == 2:
            x = x[None]
        if a.ndim == 2:
            a = a[None]
        if x.ndim != 3 or x.shape[1:] != (n, v):
            raise EncodingError(
                f"X must be batch x {n} x {v} (nodes x vocab of space {self.name!r}), got shape {tuple(x.shape)}"
            )
        if a.ndim != 3 or a.shape[1:] != (n, n):
            raise EncodingError(f"A must be batch x {n} x {n}, got shape {tuple(a.shape)}")
        if x.shape[0] != a.shape[0]:
            raise EncodingError(f"X and A batch sizes differ: {x.shape[0]} vs {a.shape[0]}")
        if not (np.isfinite(x).all() and np.isfinite(a).all()):
            raise EncodingError("X and A must be finite (found NaN or inf)")
        return x, a

    # ------------------------------------------------------------------ networks
    def build(self, arch: ArchGraph | str, num_classes: int | None = None, **options: Any) -> nn.Module:
        """The trainable ``torch.nn.Module`` for ``arch`` (input: ``batch x default_input_shape``).

        Args:
            arch: a valid architecture (or its string).
            num_classes: classifier outputs; defaults to :attr:`default_num_classes`.
            **options: space-specific builder options (documented by each space).
        """
        arch = self.validate(arch)
        num_classes = self.default_num_classes if num_classes is None else num_classes
        check_options(self._build, options, f"space {self.name!r} build", exclude=("arch", "num_classes"))
        return self._build(arch, check_int(num_classes, "num_classes", 1), **options)

    def cost(
        self,
        arch: ArchGraph | str,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        **options: Any,
    ) -> dict[str, int]:
        """Exact ``{"params": ..., "flops": ...}`` counted on the built network (see ``nagen.profile``).

        Raises:
            InvalidArgumentError: ``input_shape`` is not ``(channels, height, width)`` of positive
                integers matching the network's input channels (see :meth:`_cost_shape`).
        """
        from nagen.profile import count_cost

        # counting needs no particular weights: the build's initialisers must not move the
        # caller's global torch RNG (a cost lookup once changed what a seeded run drew next)
        with torch.random.fork_rng(devices=[]):
            net = self.build(arch, num_classes, **options)
            return count_cost(net, self._cost_shape(input_shape, options.get("in_channels")))

    #: height and width of a network input must be multiples of this (macro networks whose
    #: parallel down-sampling paths only agree on such sizes set it)
    _input_multiple: int = 1

    def _cost_shape(self, input_shape: Sequence[int] | None, in_channels: Any = None) -> tuple[int, int, int]:
        """The checked ``(channels, height, width)`` :meth:`cost` runs: ``input_shape``, or the
        default resolution with ``in_channels`` channels (the default ones when None)."""
        channels = self.default_input_shape[0] if in_channels is None else in_channels
        if input_shape is None:  # keep the default resolution, change channels
            input_shape = (channels, *self.default_input_shape[1:])
        m = self._input_multiple
        allowed = "(channels, height, width) of positive integers" + (
            f" with height and width multiples of {m}" if m > 1 else ""
        )
        if isinstance(input_shape, np.ndarray):
            input_shape = input_shape.tolist()
        if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or len(input_shape) != 3:
            raise InvalidArgumentError(f"input_shape must be {allowed}, got {input_shape!r}")
        try:
            shape = tuple(check_int(v, "input_shape", 1) for v in input_shape)
        except InvalidArgumentError:
            raise InvalidArgumentError(f"input_shape must be {allowed}, got {tuple(input_shape)!r}") from None
        if shape[1] % m or shape[2] % m:
            raise InvalidArgumentError(f"input_shape must be {allowed}, got {tuple(input_shape)!r}")
        if shape[0] != channels:
            raise InvalidArgumentError(
                f"input_shape {shape} has {shape[0]} channels but the network takes in_channels={channels!r}; "
                "pass matching in_channels and input_shape"
            )
        return shape  # type: ignore[return-value]

    # ------------------------------------------------------------------ description
    def describe(self) -> dict[str, Any]:
        """Plain-data summary for ``nagen info``."""
        return {
            "name": self.name,
            "description": self.description,
            "ops": list(self.ops),
            "vocab": list(self.vocab),
            "max_nodes": self.max_nodes,
            "fixed_topology": self.fixed_topology,
            "max_edges": self.max_edges,
            "size": self.size,
            "default_input_shape": list(self.default_input_shape),
        }

    def __reduce_ex__(self, protocol: Any) -> Any:
        """A built-in registered space pickles (and deep-copies) as its registry name.

        Generators and guides compare spaces by identity, so a predictor that went through
        ``copy.deepcopy``, a cache file or a worker process must come back holding the very
        instance ``nagen.spaces.get`` returns, not a lookalike. Spaces registered as instances
        (``register_space``) or unregistered ones keep their own pickling: a fresh process may
        not have registered them.
        """
        import nagen.spaces as registry_module

        name = getattr(self, "name", None)
        if (
            isinstance(name, str)
            and registry_module._instances.get(name, (None, None))[1] is self
            and registry_module.registry._items.get(name) is type(self)
        ):
            return (registry_module.get, (name,))
        return super().__reduce_ex__(protocol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
