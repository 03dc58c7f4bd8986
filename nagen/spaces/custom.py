"""User-defined DAG search spaces from a plain spec (a dict or a JSON file), no code needed.

A spec describes an ops-on-nodes cell space (see :mod:`nagen.graph`) and, optionally, the
NAS-Bench-201-style macro network its cells are built into::

    {
      "name": "my_space",                      # required: [a-z0-9_]+
      "ops": ["conv3x3", "conv1x1", "maxpool3x3", "skip"],   # required: op choices per node
      "num_nodes": 6,                          # required: (max) nodes incl. input and output, 3..32
      "topology": "variable",                  # required: "fixed" or "variable"
      "edges": [[0, 1], [1, 2], ...],          # "fixed" only (required there): the one DAG
      "max_edges": 9,                          # "variable" only: edge limit (default: no limit)
      "min_nodes": 3,                          # "variable" only: fewest nodes (default 3)
      "description": "...",                    # optional
      "buildable": true,                       # optional: false allows ops without a builder
      "network": {"C": 16, "N": 5, "input_shape": [3, 32, 32], "num_classes": 10}  # optional
    }

Register one in a single line and use it like any built-in space::

    import nagen.spaces as spaces
    spaces.register_space(spaces.from_spec("my_space.json"))
    spaces.get("my_space").sample(8, rng=0)

**Fixed** topology: every architecture has exactly the spec's nodes and edges; only the ops of
the middle nodes vary, so there are ``len(ops) ** (num_nodes - 2)`` architectures.

**Variable** topology: an architecture is any DAG in node order (edges ``i < j``) with
``min_nodes <= n <= num_nodes`` nodes and at most ``max_edges`` edges in which *every* node lies
on a path from the input to the output. That last rule removes dead nodes, which compute
nothing the output sees; without it one function would have many representations differing
only in their dead parts.

``sample`` is uniform over the space's distinct architectures for fixed topologies and for
variable ones of at most ``EXACT_SIZE_MAX_NODES`` nodes (whose ``size`` is exact); larger
variable spaces use a fast constructive sampler that is valid but not uniform (see
:class:`CustomSpace`).
"""

from __future__ import annotations

import bisect
import copy
import difflib
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from nagen.errors import InvalidArchitectureError, InvalidArgumentError, InvalidSpecError, choices_hint
from nagen.graph import _OP_NAME, INPUT, OUTPUT, ArchGraph, adjacency_lists
from nagen.spaces._nn import GENERIC_OPS, CellNetwork, NodeOpCell
from nagen.spaces.base import SearchSpace

__all__ = ["CustomSpace", "SPEC_KEYS", "WIRING_KEYS", "NETWORK_KEYS", "MAX_NUM_NODES", "EXACT_SIZE_MAX_NODES"]

#: every top-level key a spec may have
SPEC_KEYS = (
    "name",
    "description",
    "ops",
    "num_nodes",
    "topology",
    "edges",
    "max_edges",
    "min_nodes",
    "buildable",
    "network",
)
#: the keys that say how a spec's cells are wired (with ``ops`` and ``num_nodes``, what a cell
#: string means; tables and checkpoints compare them, not the description or the network)
WIRING_KEYS = ("topology", "edges", "min_nodes", "max_edges")
#: keys of the optional ``network`` section
NETWORK_KEYS = ("C", "N", "input_shape", "num_classes")
#: defaults of the ``network`` section (NAS-Bench-201's macro network on CIFAR-10)
NETWORK_DEFAULTS: dict[str, Any] = {"C": 16, "N": 5, "input_shape": [3, 32, 32], "num_classes": 10}
#: largest ``num_nodes``; beyond this the encoding's ``N x N`` adjacency stops being "small"
#: and the pure-Python validity checks used in sampling start to dominate
MAX_NUM_NODES = 32
#: variable spaces up to this many nodes get an exact ``size`` (2**21 adjacency matrices at 7)
EXACT_SIZE_MAX_NODES = 7

_NAME = re.compile(r"^[a-z0-9_]+$")
_TOPOLOGIES = ("fixed", "variable")
_FIXED_ONLY = ("edges",)
_VARIABLE_ONLY = ("max_edges", "min_nodes")
#: largest bound ``rng.integers`` takes with its default int64 dtype (the high end is exclusive)
_INT64_BOUND = 2**63


# ---------------------------------------------------------------------- graph helpers
def _off_path_nodes(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Nodes of an ``n``-node DAG (edges ``i < j``) not on any input -> output path.

    A node is on such a path exactly when the input reaches it and it reaches the output;
    nodes are in topological order, so one forward and one backward sweep decide both.
    """
    pred, succ = adjacency_lists(n, edges)
    fwd = [False] * n
    fwd[0] = True
    for j in range(1, n):
        fwd[j] = any(fwd[i] for i in pred[j])
    bwd = [False] * n
    bwd[n - 1] = True
    for i in range(n - 2, -1, -1):
        bwd[i] = any(bwd[j] for j in succ[i])
    return [k for k in range(n) if not (fwd[k] and bwd[k])]


def _pairs(n: int) -> list[tuple[int, int]]:
    """The ``n (n - 1) / 2`` possible edges of an ``n``-node DAG; pair ``k`` is bit ``k`` of a code."""
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _edges_of(n: int, code: int) -> list[tuple[int, int]]:
    """The edges of an ``n``-node DAG from its bit code (bit ``k`` set: pair ``k`` of :func:`_pairs`)."""
    return [p for k, p in enumerate(_pairs(n)) if code >> k & 1]


def _uniform_below(rng: np.random.Generator, bound: int) -> int:
    """An integer drawn uniformly from ``0 .. bound - 1``, for any ``bound >= 1``.

    One ``rng.integers`` call when ``bound`` fits an int64; beyond (many ops on 7 nodes can
    pass ``2 ** 63`` architectures) uniform random bits, rejected when ``>= bound``, which is
    exact and needs fewer than two tries on average.
    """
    if bound <= _INT64_BOUND:
        return int(rng.integers(bound))
    bits = (bound - 1).bit_length()
    mask = (1 << bits) - 1
    while True:
        value = int.from_bytes(rng.bytes((bits + 7) // 8), "little") & mask
        if value < bound:
            return value


def _valid_codes(n: int, max_edges: int) -> np.ndarray:
    """Sorted bit codes (see :func:`_pairs`) of every valid ``n``-node variable-topology DAG.

    Vectorised over all ``2 ** (n (n - 1) / 2)`` upper-triangular matrices at once: the same
    forward/backward reachability sweep as :func:`_off_path_nodes`, one boolean array per node.
    """
    pairs = _pairs(n)
    codes = np.arange(1 << len(pairs), dtype=np.uint32)
    index = {p: np.uint32(k) for k, p in enumerate(pairs)}

    def bit(p: tuple[int, int]) -> np.ndarray:
        # recomputed on use rather than stored: 21 stored masks would add ~40 MB at n = 7
        return ((codes >> index[p]) & np.uint32(1)).astype(bool)

    n_edges = np.zeros(codes.shape, dtype=np.int8)
    for p in pairs:
        n_edges += bit(p)
    fwd: list[np.ndarray] = [np.ones(codes.shape, dtype=bool)]
    for j in range(1, n):
        f = np.zeros(codes.shape, dtype=bool)
        for i in range(j):
            f |= fwd[i] & bit((i, j))
        fwd.append(f)
    bwd: list[np.ndarray] = [np.empty(0, dtype=bool)] * n
    bwd[n - 1] = np.ones(codes.shape, dtype=bool)
    for i in range(n - 2, -1, -1):
        b = np.zeros(codes.shape, dtype=bool)
        for j in range(i + 1, n):
            b |= bwd[j] & bit((i, j))
        bwd[i] = b
    ok = n_edges <= max_edges
    for k in range(n):
        ok &= fwd[k] & bwd[k]
    return codes[ok]


# ---------------------------------------------------------------------- spec reading
def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but ``true`` for a node count is a mistake, not a 1
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: a key given twice is an error (JSON would silently keep the last)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InvalidSpecError(f"key {k!r} appears twice in the same JSON object")
        out[k] = v
    return out


def _load_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        hint = ""
        if isinstance(path, str) and path.lstrip().startswith("{"):
            hint = " (this looks like JSON text: pass json.loads(text), a dict, instead)"
        raise InvalidSpecError(
            f"space spec file {str(p)!r} does not exist or is not a file{hint}; "
            "from_spec() takes a dict or the path of a JSON file"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidSpecError(f"space spec file {str(p)!r} could not be read as UTF-8 text: {e}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise InvalidSpecError(
            f"space spec file {str(p)!r} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except InvalidSpecError as e:
        raise InvalidSpecError(f"space spec file {str(p)!r}: {e}") from None
    if not isinstance(data, dict):
        raise InvalidSpecError(
            f"space spec file {str(p)!r} must hold a JSON object (a dict of spec keys), got a {type(data).__name__}"
        )
    return data


class _Reader:
    """Validates a raw spec key by key; every failure names the key, the value and what is allowed."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, allowed: str, got: Any, extra: str = "") -> InvalidSpecError:
        return InvalidSpecError(f"{self.where}: key {key!r} must be {allowed}, got {_short(got)}{extra}")

    def check_keys(self, raw: Mapping[Any, Any], allowed: Sequence[str], section: str = "") -> None:
        unknown = [k for k in raw if k not in allowed]
        if unknown:
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(str(k), allowed, n=1) if isinstance(k, str) else []
                if close:
                    hints.append(f"{k!r} -> did you mean {close[0]!r}?")
            where = f"{self.where}{' section ' + repr(section) if section else ''}"
            raise InvalidSpecError(
                f"{where}: unknown key(s) {sorted(unknown, key=str)}; allowed keys are {list(allowed)}"
                + (f" ({'; '.join(hints)})" if hints else "")
            )

    def integer(self, key: str, value: Any, lo: int, hi: int, what: str = "") -> int:
        if not _is_int(value) or not lo <= int(value) <= hi:
            raise self.fail(key, f"an integer from {lo} to {hi}{what}", value)
        return int(value)


def _normalise(raw: Any, where: str = "space spec") -> dict[str, Any]:
    """Validate a raw spec and return it normalised: defaults filled, edges sorted, plain JSON types."""
    r = _Reader(where)
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(
            f"{where} must be a dict (or the path of a JSON file), got {type(raw).__name__}: {_short(raw)}"
        )
    r.check_keys(raw, SPEC_KEYS)
    for key in ("name", "ops", "num_nodes", "topology"):
        if key not in raw:
            raise InvalidSpecError(
                f"{where}: required key {key!r} is missing; required keys are "
                "['name', 'ops', 'num_nodes', 'topology'] (plus 'edges' for topology 'fixed')"
            )

    name = raw["name"]
    # fullmatch: with match, '$' also accepts a trailing newline ("myspace\n")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise r.fail("name", "a non-empty string of lowercase letters, digits and '_' ([a-z0-9_]+)", name)
    # from here on messages say which space (and file) they are about
    r.where = f"{where} {name!r}" if where == "space spec" else f"{where} (name {name!r})"

    description = raw.get("description", "")
    if not isinstance(description, str):
        raise r.fail("description", "a string", description)

    buildable = raw.get("buildable", True)
    if not isinstance(buildable, bool):
        raise r.fail("buildable", "true or false", buildable)

    ops_raw = raw["ops"]
    if isinstance(ops_raw, (str, bytes)) or not isinstance(ops_raw, Sequence) or len(ops_raw) == 0:
        raise r.fail("ops", "a non-empty list of op names", ops_raw)
    ops: list[str] = []
    for op in ops_raw:
        if not isinstance(op, str) or not _OP_NAME.fullmatch(op):
            raise r.fail("ops", "a list of names made of letters, digits, '_', '.' or '-'", ops_raw, f" (bad entry {op!r})")
        if op in (INPUT, OUTPUT):
            raise r.fail(
                "ops",
                f"a list of op names other than the reserved {INPUT!r} and {OUTPUT!r} (the first/last node's ops)",
                ops_raw,
            )
        if op in ops:
            raise r.fail("ops", "a list of unique op names", ops_raw, f" ({op!r} is listed twice)")
        ops.append(op)
    if buildable:
        unknown = [op for op in ops if op not in GENERIC_OPS]
        if unknown:
            raise r.fail(
                "ops",
                f"a list of buildable op names {choices_hint(GENERIC_OPS, limit=100)}",
                ops_raw,
                f" ({unknown} cannot be built; set \"buildable\": false to use other names without a network builder)",
            )

    num_nodes = r.integer(
        "num_nodes", raw["num_nodes"], 3, MAX_NUM_NODES, " (nodes including input and output)"
    )

    topology = raw["topology"]
    if topology not in _TOPOLOGIES:
        raise r.fail("topology", f"one of {list(_TOPOLOGIES)}", topology)
    # keys of the other topology are errors, not silently ignored: they signal a misunderstanding
    misplaced = [k for k in (_VARIABLE_ONLY if topology == "fixed" else _FIXED_ONLY) if k in raw]
    if misplaced:
        other = "variable" if topology == "fixed" else "fixed"
        raise InvalidSpecError(
            f"{r.where}: key(s) {misplaced} only apply to topology {other!r}, got topology {topology!r}; "
            f"topology 'fixed' takes {list(_FIXED_ONLY)}, topology 'variable' takes {list(_VARIABLE_ONLY)}"
        )

    spec: dict[str, Any] = {
        "name": name,
        "description": description,
        "ops": ops,
        "num_nodes": num_nodes,
        "topology": topology,
    }
    if topology == "fixed":
        spec["edges"] = _fixed_edges(r, raw, num_nodes)
    else:
        min_nodes = r.integer(
            "min_nodes", raw.get("min_nodes", 3), 3, num_nodes, f" (at most num_nodes={num_nodes})"
        )
        most = num_nodes * (num_nodes - 1) // 2
        max_edges = r.integer(
            "max_edges",
            raw.get("max_edges", most),
            min_nodes - 1,
            most,
            f" (a min_nodes={min_nodes}-node architecture needs at least {min_nodes - 1} edges; "
            f"{num_nodes} nodes have at most {most} possible edges)",
        )
        spec["min_nodes"] = min_nodes
        spec["max_edges"] = max_edges
    spec["buildable"] = buildable
    spec["network"] = _network(r, raw.get("network", {}))
    return spec


def _fixed_edges(r: _Reader, raw: Mapping[str, Any], num_nodes: int) -> list[list[int]]:
    if "edges" not in raw:
        raise InvalidSpecError(f"{r.where}: topology 'fixed' requires key 'edges' (a list of [i, j] pairs)")
    edges_raw = raw["edges"]
    allowed = f"a list of [i, j] pairs with 0 <= i < j < num_nodes={num_nodes} (nodes in topological order)"
    if isinstance(edges_raw, (str, bytes)) or not isinstance(edges_raw, Sequence) or not edges_raw:
        raise r.fail("edges", allowed, edges_raw)
    edges: set[tuple[int, int]] = set()
    for e in edges_raw:
        if (
            isinstance(e, (str, bytes))
            or not isinstance(e, Sequence)
            or len(e) != 2
            or not all(_is_int(v) for v in e)
            or not 0 <= e[0] < e[1] < num_nodes
        ):
            raise r.fail("edges", allowed, edges_raw, f" (bad edge {_short(e)})")
        pair = (int(e[0]), int(e[1]))
        if pair in edges:
            raise r.fail("edges", "a list of distinct edges", edges_raw, f" (edge {list(pair)} is listed twice)")
        edges.add(pair)
    ordered = sorted(edges)
    off = _off_path_nodes(num_nodes, ordered)
    if num_nodes - 1 in off:
        raise r.fail(
            "edges",
            f"a DAG with a path from node 0 (input) to node {num_nodes - 1} (output)",
            edges_raw,
            " (the output is not reachable from the input)",
        )
    if off:
        raise r.fail(
            "edges",
            f"a DAG in which every node 0..{num_nodes - 1} lies on a path from node 0 (input) "
            f"to node {num_nodes - 1} (output)",
            edges_raw,
            f" (nodes {off} are on no such path)",
        )
    return [list(p) for p in ordered]


def _network(r: _Reader, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise r.fail("network", f"a dict with keys {list(NETWORK_KEYS)}", raw)
    r.check_keys(raw, NETWORK_KEYS, section="network")
    net = {**NETWORK_DEFAULTS, **raw}
    out: dict[str, Any] = {
        "C": r.integer("network.C", net["C"], 1, 4096, " (stem channels)"),
        "N": r.integer("network.N", net["N"], 1, 100, " (cells per stage)"),
    }
    shape = net["input_shape"]
    # The macro network halves the resolution twice through two different paths (a strided
    # conv and a 2x2 average pool) that only agree on even sizes, so H and W need 4 | size.
    if (
        isinstance(shape, (str, bytes))
        or not isinstance(shape, Sequence)
        or len(shape) != 3
        or not all(_is_int(v) and v >= 1 for v in shape)
        or shape[1] % 4
        or shape[2] % 4
    ):
        raise r.fail(
            "network.input_shape",
            "[channels, height, width] of positive integers with height and width multiples of 4",
            shape,
        )
    out["input_shape"] = [int(v) for v in shape]
    out["num_classes"] = r.integer("network.num_classes", net["num_classes"], 1, 1_000_000)
    return out


# ---------------------------------------------------------------------- the space
class CustomSpace(SearchSpace):
    """A search space defined by a plain spec (see the module docstring for the schema).

    Create one with :meth:`from_spec` (a dict or a JSON file path) and register it with
    ``nagen.spaces.register_space(space)``. Two spaces made from equal normalised specs are
    ``==`` (and hash equal), so ``CustomSpace.from_spec(space.spec) == space``.

    Builder options of :meth:`build` (defaults from the spec's ``network`` section): ``C``
    (stem channels), ``N`` (cells per stage), ``in_channels`` (input image channels).

    What :meth:`sample` draws from (independent draws, with replacement; same seed, same draws):

    * fixed topology, and variable topology with ``num_nodes <= EXACT_SIZE_MAX_NODES``: the
      *uniform* distribution over the space's :attr:`size` distinct architectures (for a
      variable space: every node count, valid edge set and op labelling counted once, so
      larger cells, being more numerous, are drawn more often), as random-search baselines
      expect;
    * variable topology above ``EXACT_SIZE_MAX_NODES`` nodes (:attr:`size` is None): a
      construction that reaches every valid architecture but is *not* uniform; it draws the
      node count uniformly, so small cells are over-represented (see :meth:`_sample_ear`).

    Raises:
        InvalidSpecError: from the constructor, when the spec is malformed.
    """

    # the macro network's two down-sampling paths only agree on sizes divisible by 4 (see _network)
    _input_multiple = 4

    def __init__(self, spec: Mapping[str, Any], *, _where: str = "space spec") -> None:
        s = _normalise(spec, _where)
        self._spec = s
        self.name = s["name"]
        self.ops = tuple(s["ops"])
        self.max_nodes = s["num_nodes"]
        self.fixed_topology = s["topology"] == "fixed"
        self.description = s["description"] or self._auto_description()  # type: ignore[misc]
        self.default_input_shape = tuple(s["network"]["input_shape"])
        self.default_num_classes = s["network"]["num_classes"]
        if self.fixed_topology:
            self._edges: tuple[tuple[int, int], ...] = tuple((i, j) for i, j in s["edges"])
            self._min_nodes = self._max_edges = 0
        else:
            self._edges = ()
            self._min_nodes = s["min_nodes"]
            self._max_edges = s["max_edges"]
            self.max_edges = self._max_edges
            # node counts an architecture can actually have: n nodes all on paths need >= n - 1 edges
            self._n_hi = min(self.max_nodes, self._max_edges + 1)
        self._codes: dict[int, np.ndarray] = {}
        self._blocks: tuple[list[tuple[int, int, int, np.ndarray]], int] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | str | os.PathLike[str]) -> CustomSpace:
        """A space from a spec dict or the path of a JSON file holding one.

        Raises:
            InvalidSpecError: the file is missing or not JSON, or any key is missing, unknown
                or invalid; the message names the key, the value received and what is allowed.
        """
        if isinstance(spec, (str, os.PathLike)):
            return cls(_load_json(spec), _where=f"space spec file {os.fspath(spec)!r}")
        return cls(spec)

    @property
    def spec(self) -> dict[str, Any]:
        """The normalised spec (defaults filled in); a copy, so editing it cannot change the space."""
        return copy.deepcopy(self._spec)

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`spec` as JSON to ``path``, atomically, and return the path.

        The text goes to a temporary file in the same directory that then replaces ``path`` in
        one ``os.replace``, so readers see the old file or the new one, never half of one.
        """
        target = Path(path)
        text = json.dumps(self._spec, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return target

    def _auto_description(self) -> str:
        s = self._spec
        if self.fixed_topology:
            return f"user-defined space: {len(self.ops)} ops on a fixed {s['num_nodes']}-node DAG"
        return (
            f"user-defined space: {len(self.ops)} ops on DAGs of {s['min_nodes']}..{s['num_nodes']} nodes, "
            f"at most {s['max_edges']} edges"
        )

    # ------------------------------------------------------------------ protocol
    def _check(self, arch: ArchGraph) -> None:
        if self.fixed_topology:
            if arch.num_nodes != self.max_nodes or arch.edges != self._edges:
                raise InvalidArchitectureError(
                    f"space {self.name!r} has the fixed DAG of {self.max_nodes} nodes with edges "
                    f"{[list(e) for e in self._edges]}; got {arch.num_nodes} nodes with edges "
                    f"{[list(e) for e in arch.edges]}"
                )
            return
        if arch.num_nodes < self._min_nodes:
            raise InvalidArchitectureError(
                f"space {self.name!r} needs at least {self._min_nodes} nodes (input and output included), "
                f"got {arch.num_nodes}"
            )
        if len(arch.edges) > self._max_edges:
            raise InvalidArchitectureError(
                f"space {self.name!r} allows at most {self._max_edges} edges, got {len(arch.edges)}"
            )
        off = _off_path_nodes(arch.num_nodes, arch.edges)
        if off:
            if arch.num_nodes - 1 in off:
                raise InvalidArchitectureError(f"space {self.name!r}: the output is not reachable from the input")
            raise InvalidArchitectureError(
                f"space {self.name!r}: nodes {off} lie on no input->output path "
                "(every node must be reachable from the input and reach the output)"
            )

    def _sample_one(self, rng: np.random.Generator) -> ArchGraph:
        """One architecture; what :meth:`sample` draws, one call per architecture.

        * fixed topology: the ops of the middle nodes independently and uniformly, which is
          uniform over the space's ``len(ops) ** (num_nodes - 2)`` architectures;
        * variable topology with ``num_nodes <= EXACT_SIZE_MAX_NODES`` (:attr:`size` known):
          exactly uniform over all :attr:`size` architectures: one integer drawn uniformly from
          ``0 .. size - 1``, then decoded by :meth:`_arch_at` (a bijection onto the space);
        * variable topology beyond that: the ear-decomposition sampler of
          :meth:`_sample_ear`, which is valid, has full support and never rejects, but is
          *not* uniform (see there).
        """
        if self.fixed_topology:
            ops = [self.ops[k] for k in rng.integers(0, len(self.ops), size=self.max_nodes - 2).tolist()]
            return ArchGraph((INPUT, *ops, OUTPUT), self._edges)
        if self.max_nodes <= EXACT_SIZE_MAX_NODES:
            return self._arch_at(_uniform_below(rng, self._strata()[1]))
        return self._sample_ear(rng)

    def _sample_ear(self, rng: np.random.Generator) -> ArchGraph:
        """A valid variable-topology architecture from the ear-decomposition sampler (NOT uniform).

        The node count is drawn uniformly from the feasible ``min_nodes .. num_nodes``, the
        middle ops uniformly, and the edges by :meth:`_sample_edges`. Every valid architecture
        can be drawn, but not with equal probability: each node count gets the same mass
        although the number of DAGs grows roughly like ``2 ** (n**2 / 2)`` with ``n`` (so small
        cells are strongly over-represented), and within one node count an edge set's
        probability depends on how many ways the ear/extra-edge construction can produce it.
        Used only where the space is too large to count (``num_nodes > EXACT_SIZE_MAX_NODES``),
        where no exact uniform sampler is available cheaply.
        """
        n = int(rng.integers(self._min_nodes, self._n_hi + 1))
        ops = [self.ops[k] for k in rng.integers(0, len(self.ops), size=n - 2).tolist()]
        return ArchGraph((INPUT, *ops, OUTPUT), self._sample_edges(n, rng))

    def _sample_edges(self, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
        """A random valid edge set of an ``n``-node architecture, constructed rather than rejected.

        Rejection sampling of random adjacency matrices (NAS-Bench-101's way) wastes most draws
        once ``max_edges`` is tight and almost never finds sparse graphs such as a 20-node chain.
        Instead the DAG is grown as an *ear decomposition*: the middle nodes are split at
        random into groups; the first group forms a path ``input -> ... -> output``; each other
        group forms a path between two already-connected nodes (one before its first node, one
        after its last). Every node then lies on an input->output path by construction. That
        uses ``n - 1 + (groups - 1)`` edges; random extra edges (which cannot break the
        property) fill part of the remaining ``max_edges`` budget. Every valid DAG can be
        produced (take any input->output path as the first group, then peel off ears), and
        no draw is ever rejected, so sampling is fast and never fails for a valid spec.

        The result is *not* uniform over the valid ``n``-node edge sets: an edge set that many
        (path, ears, extra edges) choices produce is drawn more often than one few produce, and
        the extra-edge density is drawn from ``U(0, 0.5)`` rather than in proportion to how
        many edge sets each edge count has. Only spaces too large to count use it (see
        :meth:`_sample_one`).
        """
        middles = n - 2
        n_ears = int(rng.integers(0, min(middles, self._max_edges - (n - 1)) + 1))
        perm = rng.permutation(np.arange(1, n - 1)).tolist()
        # ear k > 0 must be non-empty; the first group (the input->output path) may be empty
        cuts = sorted(rng.choice(middles, size=n_ears, replace=False).tolist()) if n_ears else []
        bounds = [0, *cuts, middles]
        edges: set[tuple[int, int]] = set()
        covered = [0, n - 1]
        for g in range(n_ears + 1):
            group = sorted(perm[bounds[g] : bounds[g + 1]])
            if g == 0:
                chain = [0, *group, n - 1]
            else:
                before = [c for c in covered if c < group[0]]
                after = [c for c in covered if c > group[-1]]
                chain = [before[int(rng.integers(len(before)))], *group, after[int(rng.integers(len(after)))]]
            edges.update(zip(chain[:-1], chain[1:]))
            covered.extend(group)
        budget = self._max_edges - len(edges)
        if budget > 0:
            absent = [p for p in _pairs(n) if p not in edges]
            # a random density per draw spreads samples from sparse to dense cells
            k = min(budget, int(rng.binomial(len(absent), rng.uniform(0.0, 0.5))))
            if k:
                edges.update(absent[i] for i in rng.choice(len(absent), size=k, replace=False).tolist())
        return sorted(edges)

    # ------------------------------------------------------------------ size and enumeration
    def _codes_for(self, n: int) -> np.ndarray:
        codes = self._codes.get(n)
        if codes is None:
            codes = self._codes[n] = _valid_codes(n, self._max_edges)
        return codes

    def _strata(self) -> tuple[list[tuple[int, int, int, np.ndarray]], int]:
        """Variable topology, exact size only: the blocks of the enumeration order and the size.

        One block ``(start, n, labellings, codes)`` per node count ``n`` with at least one
        valid DAG: its ``len(codes) * labellings`` architectures (``labellings =
        len(ops) ** (n - 2)``) take indices ``start ..`` of :meth:`_enumerate`'s order. Cached.
        """
        if self._blocks is None:
            blocks: list[tuple[int, int, int, np.ndarray]] = []
            start = 0
            for n in range(self._min_nodes, self.max_nodes + 1):
                codes = self._codes_for(n)
                if len(codes):
                    labellings = len(self.ops) ** (n - 2)
                    blocks.append((start, n, labellings, codes))
                    start += len(codes) * labellings
            self._blocks = (blocks, start)
        return self._blocks

    def _arch_at(self, index: int) -> ArchGraph:
        """The ``index``-th architecture of :meth:`_enumerate`'s order (variable topology, exact size).

        ``index`` in ``0 .. size - 1``; a bijection onto the space, which is what makes the
        uniform sampler uniform: by node count, then adjacency code, then ops with the first
        middle node's op the most significant digit (``itertools.product`` order).
        """
        blocks, _ = self._strata()
        start, n, labellings, codes = blocks[bisect.bisect_right([b[0] for b in blocks], index) - 1]
        topo, rest = divmod(index - start, labellings)
        k = len(self.ops)
        op_ids = []
        for _ in range(n - 2):
            rest, d = divmod(rest, k)
            op_ids.append(d)
        ops = [self.ops[d] for d in reversed(op_ids)]
        return ArchGraph((INPUT, *ops, OUTPUT), _edges_of(n, int(codes[topo])))

    @property
    def size(self) -> int | None:
        """Number of architectures: ``len(ops) ** (num_nodes - 2)`` for a fixed topology; for a
        variable one, exact up to ``EXACT_SIZE_MAX_NODES`` nodes (all adjacency matrices are
        checked) and None beyond."""
        if self.fixed_topology:
            return len(self.ops) ** (self.max_nodes - 2)
        if self.max_nodes > EXACT_SIZE_MAX_NODES:
            return None
        return self._strata()[1]

    def _enumerate(self) -> Iterator[ArchGraph]:
        # fixed: ops in itertools.product order; variable: by node count, then adjacency code, then ops
        # (the order _arch_at decodes: list(enumerate())[i] == _arch_at(i))
        if self.fixed_topology:
            for ops in itertools.product(self.ops, repeat=self.max_nodes - 2):
                yield ArchGraph((INPUT, *ops, OUTPUT), self._edges)
            return
        for n in range(self._min_nodes, self.max_nodes + 1):
            for code in self._codes_for(n).tolist():
                edges = _edges_of(n, code)
                for ops in itertools.product(self.ops, repeat=n - 2):
                    yield ArchGraph((INPUT, *ops, OUTPUT), edges)

    # ------------------------------------------------------------------ networks
    def _build(
        self,
        arch: ArchGraph,
        num_classes: int,
        C: int | None = None,
        N: int | None = None,
        in_channels: int | None = None,
    ) -> nn.Module:
        if not self._spec["buildable"]:
            raise InvalidSpecError(
                f"space {self.name!r} has no network builder: its spec sets \"buildable\": false "
                f"(its ops need not be nagen's buildable ops {choices_hint(GENERIC_OPS, limit=100)}); "
                "sample, encode and decode work, build() and cost() do not"
            )
        net = self._spec["network"]
        C = net["C"] if C is None else C
        N = net["N"] if N is None else N
        in_channels = net["input_shape"][0] if in_channels is None else in_channels
        for key, value in (("C", C), ("N", N), ("in_channels", in_channels)):
            if not _is_int(value) or value < 1:
                raise InvalidArgumentError(f"build option {key} must be a positive integer, got {value!r}")
        return CellNetwork(lambda c: NodeOpCell(arch, c, GENERIC_OPS), int(C), int(N), num_classes, int(in_channels))

    # ------------------------------------------------------------------ description and identity
    def describe(self) -> dict[str, Any]:
        """Plain-data summary for ``nagen info``: the base summary plus the normalised spec."""
        out = super().describe()
        out["topology"] = self._spec["topology"]
        out["spec"] = self.spec
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._spec == self._spec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self._spec, sort_keys=True))

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as its spec; caches are rebuilt lazily
        return (CustomSpace, (self._spec,))

    def __repr__(self) -> str:
        return f"CustomSpace(name={self.name!r}, topology={self._spec['topology']!r}, num_nodes={self.max_nodes})"
