"""Regularised (aging) evolution as an ask/tell optimiser, single- and multi-objective.

Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier Architecture Search",
AAAI 2019. The population is a FIFO queue of the last ``population`` labelled architectures
(the oldest dies, whatever its fitness: the "aging" that regularises); a child is a one-edit
mutation (``space.neighbours``) of the best of ``tournament`` members drawn at random.
The tournament draws distinct members (without replacement); Real et al.'s Algorithm 1 and
NASLib draw with replacement, which may put one member in a tournament twice. Distinct
contestants give slightly stronger selection, so this baseline is, if anything, stronger
than the published one (the comparisons in ``benchmarks/`` are conservative for it).

The optimiser holds no labeller: ``ask`` proposes, the caller labels, ``tell`` reports back, so
the same object serves a benchmark table, a BO study or real training. Every proposal is new:
its canonical hash is neither in ``exclude`` nor among the architectures already asked or told,
so no label is paid twice for equivalent cells.

>>> import nagen.spaces
>>> from nagen.generators.evolution import RegularizedEvolution
>>> re_ = RegularizedEvolution(nagen.spaces.get("nb201"), population=10, seed=0)
>>> archs = re_.ask(4)
>>> re_.tell(archs, [0.1, 0.2, 0.3, float("nan")])   # NaN: failed, not added to the population
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Container, Sequence
from typing import Any

import numpy as np

from nagen.errors import InvalidArgumentError, check_int
from nagen.graph import ArchGraph
from nagen.spaces.base import SearchSpace

__all__ = ["RegularizedEvolution", "MORegularizedEvolution", "regularized_evolution", "mo_regularized_evolution"]

#: random draws tried per proposal before concluding that (almost) every cell has been seen
_MAX_RANDOM_TRIES = 200


def _as_float_array(values: Any) -> np.ndarray:
    """``values`` as a float array, or ``InvalidArgumentError`` when they are not numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"values must be numbers (NaN for a failed evaluation), got {e}") from None


class _EvolutionBase:
    """Shared ask/tell bookkeeping: the aging population, the seen set, sampling and mutation."""

    def __init__(self, space: SearchSpace | str, *, population: int, tournament: int, seed: int) -> None:
        import nagen.spaces

        # int() would truncate 2.5 and take True as 1: a slip, not a size
        self.population_size = check_int(population, "population", 1)
        self.tournament = min(check_int(tournament, "tournament", 1), self.population_size)
        self.seed = check_int(seed, "seed")
        self.space = nagen.spaces.get(space)
        self.rng = np.random.default_rng(self.seed)
        #: (arch, value) of the living members, oldest first
        self.population: deque[tuple[ArchGraph, Any]] = deque(maxlen=self.population_size)
        #: canonical hashes of every architecture asked or told
        self.seen: set[str] = set()
        #: every (arch, value) told, in order
        self.history: list[tuple[ArchGraph, Any]] = []

    # ------------------------------------------------------------------ hooks
    def _select(self, contestants: list[int]) -> int:
        """Index (into ``self.population``) of the tournament winner among ``contestants``."""
        raise NotImplementedError

    def _is_failed(self, value: Any) -> bool:
        return bool(np.any(np.isnan(np.asarray(value, dtype=float))))

    # ------------------------------------------------------------------ proposals
    def _new(self, arch: ArchGraph, exclude: Container[str]) -> bool:
        h = arch.canonical_hash()
        return h not in self.seen and h not in exclude

    def _random(self, exclude: Container[str]) -> ArchGraph | None:
        for _ in range(_MAX_RANDOM_TRIES):
            arch = self.space.sample(1, self.rng)[0]
            if self._new(arch, exclude):
                return arch
        return None

    def _mutate(self, parent: ArchGraph, exclude: Container[str]) -> ArchGraph | None:
        cands = [c for c in self.space.neighbours(parent) if self._new(c, exclude)]
        if not cands:
            return None
        # variable topologies: node insertions outnumber op/edge edits about 4 to 1 on a 5-node NB101
        # cell, so a uniform pick would mostly grow cells; pick the kind of edit (fewer, as many or more
        # nodes) uniformly first. Fixed topologies have one kind and draw exactly as before.
        kinds: dict[int, list[ArchGraph]] = {}
        for c in cands:
            kinds.setdefault(int(np.sign(c.num_nodes - parent.num_nodes)), []).append(c)
        if len(kinds) > 1:
            cands = kinds[sorted(kinds)[int(self.rng.integers(len(kinds)))]]
        return cands[int(self.rng.integers(len(cands)))]

    def ask(self, n: int = 1, exclude: Container[str] | None = ()) -> list[ArchGraph]:
        """``n`` new architectures to label (fewer only when no unseen architecture can be found).

        Random samples until the population is full, then tournament selection plus a one-edit
        mutation of the winner; a winner whose neighbours have all been seen falls back to a
        random sample.

        Args:
            n: how many.
            exclude: canonical hashes not to propose (e.g. already labelled elsewhere), any
                container supporting ``in`` (set, list, dict); ``None``: nothing excluded.

        Raises:
            InvalidArgumentError: ``n`` is not a non-negative integer, or ``exclude`` is not a
                container of hashes.
        """
        n = check_int(n, "n")
        if exclude is None:
            exclude = ()
        elif not isinstance(exclude, Container):
            # an iterator would be consumed by the first membership test, a number cannot answer one
            raise InvalidArgumentError(
                f"exclude must be a container of canonical hashes (set, list, dict) or None, got {type(exclude).__name__} {exclude!r}"
            )
        out: list[ArchGraph] = []
        for _ in range(int(n)):
            child = None
            if len(self.population) >= self.population_size:
                idx = self.rng.choice(len(self.population), size=self.tournament, replace=False)
                parent = self.population[self._select([int(i) for i in idx])][0]
                child = self._mutate(parent, exclude)
            if child is None:
                child = self._random(exclude)
            if child is None:
                break
            self.seen.add(child.canonical_hash())
            out.append(child)
        return out

    def _tell(self, archs: Sequence[ArchGraph | str], values: Sequence[Any]) -> None:
        from nagen.generators.base import arch_list

        archs = [self.space.validate(a) for a in arch_list(archs, self.space, InvalidArgumentError, "tell()'s archs")]
        if len(archs) != len(values):
            raise InvalidArgumentError(f"tell() got {len(archs)} architectures but {len(values)} values")
        for arch, v in zip(archs, values):
            self.seen.add(arch.canonical_hash())
            self.history.append((arch, v))
            if not self._is_failed(v):
                self.population.append((arch, v))  # deque(maxlen) drops the oldest: aging


class RegularizedEvolution(_EvolutionBase):
    """Single-objective regularised evolution (ask/tell).

    Args:
        space: the space (or its name).
        population: size of the aging population (the paper's ``P``).
        tournament: tournament size (``S``).
        seed: same seed and same told values, same proposals.
        maximize: whether larger values are better.
    """

    def __init__(
        self, space: SearchSpace | str, *, population: int = 20, tournament: int = 5, seed: int = 0, maximize: bool = True
    ) -> None:
        super().__init__(space, population=population, tournament=tournament, seed=seed)
        self.maximize = bool(maximize)

    def _select(self, contestants: list[int]) -> int:
        vals = np.array([float(self.population[i][1]) for i in contestants])
        return contestants[int(np.argmax(vals) if self.maximize else np.argmin(vals))]

    def tell(self, archs: Sequence[ArchGraph | str], values: Sequence[float] | np.ndarray) -> None:
        """Report labels: ``values`` is ``n`` floats (or ``n x 1``), NaN for a failed evaluation (kept out of the population).

        Raises:
            InvalidArgumentError: ``archs`` is not a sequence of architectures, ``values`` are not
                numbers of that shape, or their counts differ.
            InvalidArchitectureError: an architecture is not a member of the space.
        """
        vals = _as_float_array(values)
        # flattening any shape would take a 1 x n row (n objectives of one arch) as n labels
        if not (vals.ndim == 1 or vals.ndim == 2 and vals.shape[1] == 1):
            raise InvalidArgumentError(f"values must be n floats (one objective), got shape {vals.shape}")
        self._tell(archs, [float(v) for v in vals.reshape(-1)])

    def best(self) -> tuple[ArchGraph, float]:
        """The best (arch, value) told so far."""
        ok = [(a, v) for a, v in self.history if not np.isnan(v)]
        if not ok:
            raise InvalidArgumentError("no successful evaluation has been told yet")
        return (max if self.maximize else min)(ok, key=lambda t: t[1])


class MORegularizedEvolution(_EvolutionBase):
    """Multi-objective regularised evolution: tournaments ranked by Pareto dominance.

    The tournament winner has the lowest non-dominated rank *within the current population*
    (NSGA-II's sorting), ties broken by the larger crowding distance, so selection pushes
    toward the front and spreads along it. With ``selection="scalarize"`` the winner instead
    maximises a random Chebyshev scalarisation of the population-normalised objectives
    (ParEGO-style), drawn afresh for each tournament.

    Args:
        space: the space (or its name).
        directions: ``"max"``/``"min"`` per objective.
        population, tournament, seed: as in ``RegularizedEvolution``.
        selection: ``"rank"`` (default) or ``"scalarize"``.
    """

    def __init__(
        self,
        space: SearchSpace | str,
        directions: Sequence[str],
        *,
        population: int = 20,
        tournament: int = 5,
        seed: int = 0,
        selection: str = "rank",
    ) -> None:
        from nagen.multiobjective import check_directions

        super().__init__(space, population=population, tournament=tournament, seed=seed)
        self.directions = check_directions(directions)
        if selection not in ("rank", "scalarize"):
            raise InvalidArgumentError(f"selection must be 'rank' or 'scalarize', got {selection!r}")
        self.selection = selection

    def _population_matrix(self) -> np.ndarray:
        """``P x k`` population objectives, signed so every column is maximised."""
        from nagen.multiobjective import to_maximize

        return to_maximize(np.array([v for _, v in self.population], dtype=float), self.directions)

    def _select(self, contestants: list[int]) -> int:
        from nagen.multiobjective import crowding_distance, pareto_ranks

        Y = self._population_matrix()  # [P, k]
        if self.selection == "rank":
            ranks = pareto_ranks(Y, ["max"] * Y.shape[1])  # [P]
            crowd = np.zeros(len(Y))
            for r in np.unique(ranks):
                m = ranks == r
                crowd[m] = crowding_distance(Y[m])
            return min(contestants, key=lambda i: (ranks[i], -crowd[i], i))
        lo, hi = Y.min(0), Y.max(0)
        Z = (Y - lo) / np.where(hi > lo, hi - lo, 1.0)  # [P, k] in [0, 1]
        w = self.rng.dirichlet(np.ones(Y.shape[1]))
        score = (w * Z).min(1) + 0.05 * (w * Z).sum(1)  # augmented Chebyshev
        return max(contestants, key=lambda i: (score[i], -i))

    def tell(self, archs: Sequence[ArchGraph | str], values: np.ndarray | Sequence[Sequence[float]]) -> None:
        """Report labels: ``values`` is ``n x k`` (NaN anywhere in a row: failed, kept out of the population).

        Raises:
            InvalidArgumentError: as in ``RegularizedEvolution.tell``, for ``n x k`` values.
            InvalidArchitectureError: an architecture is not a member of the space.
        """
        vals = _as_float_array(values)
        if vals.ndim != 2 or vals.shape[1] != len(self.directions):
            raise InvalidArgumentError(f"values must be n x {len(self.directions)}, got shape {vals.shape}")
        self._tell(archs, [row.copy() for row in vals])


def _check_run(budget: Any, batch_size: Any) -> None:
    """The loop's own arguments: a 0 batch would end the run at once without a word."""
    check_int(budget, "budget")
    check_int(batch_size, "batch_size", 1)


def regularized_evolution(
    space: SearchSpace | str,
    objective: Callable[[list[ArchGraph]], np.ndarray],
    budget: int,
    seed: int = 0,
    *,
    population: int = 20,
    tournament: int = 5,
    batch_size: int = 1,
    maximize: bool = True,
) -> list[tuple[ArchGraph, float]]:
    """Run regularised evolution for ``budget`` labels.

    Args:
        space: the space (or its name).
        objective: labels a list of architectures, returning ``len(archs)`` floats (NaN: failed).
        budget: number of labels (each a distinct canonical architecture).
        seed: same seed, same run.
        population, tournament, maximize: see ``RegularizedEvolution``.
        batch_size: proposals labelled together per round.

    Returns:
        ``[(arch, value), ...]`` in label order.
    """
    _check_run(budget, batch_size)
    opt = RegularizedEvolution(space, population=population, tournament=tournament, seed=seed, maximize=maximize)
    while len(opt.history) < budget:
        archs = opt.ask(min(batch_size, budget - len(opt.history)))
        if not archs:
            break
        opt.tell(archs, _as_float_array(objective(archs)).reshape(-1))
    return list(opt.history)


def mo_regularized_evolution(
    space: SearchSpace | str,
    objective: Callable[[list[ArchGraph]], np.ndarray],
    budget: int,
    directions: Sequence[str],
    seed: int = 0,
    *,
    population: int = 20,
    tournament: int = 5,
    batch_size: int = 1,
    selection: str = "rank",
) -> list[tuple[ArchGraph, np.ndarray]]:
    """Run multi-objective regularised evolution for ``budget`` labels.

    ``objective`` returns an ``n x k`` array; the result is ``[(arch, values[k]), ...]`` in label order.
    """
    _check_run(budget, batch_size)
    opt = MORegularizedEvolution(
        space, directions, population=population, tournament=tournament, seed=seed, selection=selection
    )
    while len(opt.history) < budget:
        archs = opt.ask(min(batch_size, budget - len(opt.history)))
        if not archs:
            break
        vals = _as_float_array(objective(archs))
        if vals.size % len(archs):
            raise InvalidArgumentError(f"objective returned {vals.size} values for {len(archs)} architectures")
        opt.tell(archs, vals.reshape(len(archs), -1))
    return list(opt.history)
