"""BO-NAS studies: propose, label, refit, resumable and parallel.

>>> from nagen.study import Study
>>> from nagen.labellers import TableLabeller
>>> study = Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"),
...               storage="sqlite:///nagen.db", name="c10", seed=0)             # doctest: +SKIP
>>> study.optimize(50, batch_size=1).best                                         # doctest: +SKIP

Each round of ``optimize`` (method ``"bo"``, ``"opgfn"``, ``"diffusion"``):

1. re-read the study's trials from storage, so labels committed by other processes count
   (only finished trials, which never change, are kept between rounds; resuming a study is
   just re-opening it, as with Optuna's stateless samplers);
2. fit one BoTorch GP surrogate per objective on all labels the study paid for
   (``surrogate=``: onehot or Weisfeiler-Lehman kernel, optionally with zero-cost proxy inputs);
3. ask the proposer for a candidate pool (every unlabelled cell of an enumerable space such as
   NB201, mutations of the best plus random samples, OP-GFN samples, or diffusion samples
   guided by the surrogates' means or, ``DiffusionProposer(guide="acquisition")``, by the
   acquisition of step 4 itself), minus everything already labelled or reserved (canonical hash);
4. pick ``q`` with ``qLogNoisyExpectedImprovement`` (one objective) or
   ``qLogNoisyExpectedHypervolumeImprovement`` (several) by ``optimize_acqf_discrete``;
5. reserve, label (process pool, inline or Ray), commit each label.

Methods ``"re"`` (regularised evolution) and ``"random"`` propose directly, without a surrogate.
The first ``n_initial`` labels are random. All randomness of a round is derived from
``(seed, number of trials so far)``, so a study killed at any point and resumed ends with the
same trials as an uninterrupted run; trials reserved by a killed process are labelled by the
resuming one.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nagen.errors import (
    IgnoredSettingWarning,
    InvalidArgumentError,
    InvalidSpecError,
    NagenError,
    NotEnumerableError,
    check_int,
    check_options,
    check_real,
    choices_hint,
    keyword_parameters,
)
from nagen.graph import ArchGraph
from nagen.labellers import Labeller, from_spec
from nagen.storage import SQLiteStorage, StudyNotFoundError, TrialRecord, get_storage, owner_id, storage_exists

__all__ = [
    "Study",
    "load_study",
    "Proposer",
    "ProposalContext",
    "RandomProposer",
    "EvolutionProposer",
    "GeneratorProposer",
    "PoolProposer",
    "OPGFNProposer",
    "DiffusionProposer",
    "register_proposer",
    "get_proposer",
    "METHODS",
    "StudyError",
    "IgnoredSettingWarning",
]


class StudyError(NagenError, RuntimeError):
    """A study cannot continue (no labeller to resume with, search space exhausted, ...)."""



class SpaceExhaustedError(StudyError):
    """The proposer found no unlabelled architecture: the budget exceeds what the space holds
    (every label paid so far is stored)."""


#: bytes one batch of acquisition rows may hold in training-point features (see ``Study._acquire``)
_ACQ_BATCH_BYTES = 256 * 2**20


# ---------------------------------------------------------------------------------- helpers
def round_seed(seed: int, n_trials: int, salt: int = 0) -> int:
    """The seed of the round that starts with ``n_trials`` trials in the study (a 31-bit int)."""
    return int(np.random.SeedSequence([int(seed), int(n_trials), int(salt)]).generate_state(1)[0] & 0x7FFFFFFF)


@contextlib.contextmanager
def _torch_round(seed: int) -> Iterator[None]:
    """Seeded torch RNG and one intra-op thread for a round's model fitting and acquisition.

    One thread because floating-point reductions differ with the thread count, and a resumed
    study must reproduce the interrupted one's choices exactly; GPs on a few hundred points are
    not faster with more threads anyway. The caller's RNG state and thread count are restored.
    """
    import torch

    from nagen._threads import one_thread

    with one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _non_dominated(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``Y`` (``n x k``, maximised) that no other row dominates."""
    from nagen.multiobjective import non_dominated

    return non_dominated(Y, ["max"] * np.shape(Y)[1])


_SPACE_CACHE: dict[str, tuple[list[ArchGraph], list[str]]] = {}
#: spaces up to this size are enumerated and their whole unlabelled remainder is the BO pool
ENUMERATE_LIMIT = 50_000


def _metric_map(value: Any, what: str) -> dict[str, Any]:
    """``measurers=`` / ``latency_models=`` as a ``{metric: object}`` dict (None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidSpecError(f"{what} must be a {{metric: ...}} dict keyed by device metric names such as 'lat_pixel2_ms', got {value!r:.80}")
    return dict(value)


def _has_table(space: Any) -> bool:
    """Whether ``space`` has a registered benchmark table (of the same space, not just the name)."""
    import nagen.benchmarks
    import nagen.spaces

    if space.name not in nagen.benchmarks.names():
        return False
    try:
        return nagen.spaces.same_space(nagen.benchmarks.load(space.name).space, space)
    except NagenError:
        return False


def _enumerated(space: Any) -> tuple[list[ArchGraph], list[str]] | None:
    """(one architecture per canonical class, its hash) of an enumerable space, cached; else None."""
    size = space.size
    if size is None or size > ENUMERATE_LIMIT:
        return None
    import nagen.spaces

    key = nagen.spaces.cache_key(space)
    if key not in _SPACE_CACHE:
        archs, hashes, seen = [], [], set()
        try:
            for a in space.enumerate():
                h = a.canonical_hash()
                if h not in seen:  # the first member in enumeration order represents its class
                    seen.add(h)
                    archs.append(a)
                    hashes.append(h)
        except NotEnumerableError:
            return None  # a user's space may know its size without listing it: sampled like a large one
        _SPACE_CACHE[key] = (archs, hashes)
    return _SPACE_CACHE[key]


#: ``(database, study name) -> optimize() calls running in this process`` (see ``Study.optimize``)
_OPTIMIZING: dict[tuple[Any, str], int] = {}

#: valid ``surrogate=`` values of a study
SURROGATES = ("gp", "gp+zc", "gp_wl", "gp_wl+zc")
_PROXY_SCALE: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_PROXY_CACHE: dict[str, dict[ArchGraph, np.ndarray]] = {}
_PROXY_CACHE_LIMIT = 200_000  # rows kept per space (a few MB); past it the cache starts over


def _proxy_ranked(space: Any, archs: Sequence[ArchGraph]) -> list[ArchGraph]:
    """``archs`` best first by the space's first zero-cost proxy (ties keep their order): the
    data-free choice of the ``"zc"`` initial designs and of a study's exploration picks."""
    score = _proxy_features(space, archs)[:, 0]
    return [archs[i] for i in np.argsort(-score, kind="stable")]


def _proxy_features(space: Any, archs: Sequence[ArchGraph]) -> np.ndarray:
    """Data-free zero-cost proxies (log synflow, log params) of ``archs``, scaled to about ``[0, 1]``: ``n x 2``.

    These are computed from the untrained network, not measured on any task: they cost no
    label. The scale comes from a fixed sample of the space, so it is the same in every round.
    """
    from nagen.predictors.zero_cost import ZeroCostPredictor

    zc = ZeroCostPredictor(space, proxies=("synflow", "params"))

    def raw(a: Sequence[ArchGraph]) -> np.ndarray:
        return np.log1p(np.maximum(zc.features(a), 0.0))

    import nagen.spaces

    key = nagen.spaces.cache_key(space)
    if key not in _PROXY_SCALE:
        ref = raw(space.sample(2000, 0))
        _PROXY_SCALE[key] = (ref.min(0), np.maximum(ref.max(0) - ref.min(0), 1e-9))
    low, span = _PROXY_SCALE[key]
    # A study asks for the same candidates every round (all of NB201's unlabelled cells), and
    # a proxy of a cell never changes: compute each once per process.
    known = _PROXY_CACHE.setdefault(key, {})
    archs = list(archs)
    todo = list(dict.fromkeys(a for a in archs if a not in known))
    if todo:
        if len(known) + len(todo) > _PROXY_CACHE_LIMIT:
            known.clear()
        known.update(zip(todo, (raw(todo) - low) / span))
    if not archs:
        return np.zeros((0, 2))
    return np.stack([known[a] for a in archs])


def _has_free_proxies(space: Any) -> bool:
    """Whether the space's zero-cost proxies are shipped (a table lookup, not network builds)."""
    import nagen.spaces

    if not nagen.spaces.is_space(space, "nb201"):
        return False
    from nagen.predictors.zero_cost import _nb201_table

    return _nb201_table() is not None


def _resolve_auto(
    space: Any, proposer: Any, surrogate: str, initial: str, directions: Sequence[str] = ("max",)
) -> tuple[str, str]:
    """The ``"auto"`` surrogate and initial design: the WL GP, with the zero-cost proxies as extra
    inputs and as the initial design when they are free (NB201's shipped table; on other spaces
    they cost network builds every round). The diffusion proposer needs a differentiable
    surrogate to guide by: the onehot GP."""
    free = _has_free_proxies(space)
    if surrogate == "auto":
        if getattr(proposer, "name", "") == "diffusion":
            surrogate = "gp"
        else:
            surrogate = "gp_wl+zc" if free else "gp_wl"
    if initial == "auto":
        # synflow's best cells are the large, accurate ones: a good start for a maximised accuracy,
        # nearly the worst for a minimised latency or FLOPs (NB201 lat_pixel3_ms: percentiles 87-99);
        # a front of a maximised against a minimised objective needs both ends (INITIAL_DESIGNS)
        if free and all(d == "max" for d in directions):
            initial = "zc"
        elif free and len(directions) > 1 and "max" in directions:
            initial = "zc+random"
        else:
            initial = "random"
    return surrogate, initial


#: initial designs of a surrogate study (see ``Study(initial=...)``)
INITIAL_DESIGNS = ("random", "zc", "zc+random")


def _make_surrogate(kind: str, space: Any, seed: int, options: Mapping[str, Any] | None = None) -> Any:
    """An unfitted per-objective surrogate.

    ``"gp"``: the onehot GP; ``"gp+zc"``: the onehot GP whose inputs also hold the data-free
    proxies; ``"gp_wl"``: the Weisfeiler-Lehman subtree-kernel GP (inputs: WL label counts,
    ``n x d`` float64, vocabulary fixed at fit time); ``"gp_wl+zc"``: the WL kernel on the
    counts plus a Matern-5/2 ARD kernel on the two scaled proxies (a sum of two scaled kernels).
    Any other name is a registered predictor: a GP predictor (``"gp_path"``, ...) as it is, anything
    else as an :class:`~nagen.predictors.ensemble.EnsemblePredictor` of seeded copies
    (``options``: the predictor's constructor arguments, plus ``members``).
    """
    import nagen.predictors as P

    if kind not in SURROGATES:
        from nagen.predictors.gp import GPPredictor

        opts = dict(options or {})
        cls = P.registry.resolve(kind)
        if isinstance(cls, type) and issubclass(cls, GPPredictor):
            if "members" in opts:
                raise InvalidSpecError(f"surrogate_options 'members' is for ensembles; {kind!r} is a GP (one model)")
            return P.get(kind, space, seed=seed, **opts)
        from nagen.predictors.ensemble import EnsemblePredictor

        members = opts.pop("members", 5)
        return EnsemblePredictor(space, predictor=kind, members=members, options=opts, seed=seed)
    if options:
        raise InvalidSpecError(f"surrogate_options are for a registered predictor as surrogate; {kind!r} takes none, got {dict(options)}")
    if kind == "gp":
        return P.get("gp", space, encoding="onehot", seed=seed)
    if kind == "gp_wl":
        return P.get("gp", space, encoding="wl", seed=seed)
    from nagen.predictors.gp import AugmentedGP

    encoding = "wl" if kind == "gp_wl+zc" else "onehot"
    return AugmentedGP(space, extra=_proxy_features, encoding=encoding, seed=seed)


# ---------------------------------------------------------------------------------- proposers
@dataclass
class ProposalContext:
    """Everything a proposer may use in one round (rebuilt from storage every round).

    Attributes:
        space: the search space.
        objectives: objective names; directions: ``"max"``/``"min"`` for each.
        archs: labelled architectures (complete trials) in trial order.
        Y: ``n x k`` their values, signed so that every column is maximised.
        failed: architectures whose label failed.
        exclude: canonical hashes of every trial (complete, failed, running): never propose these.
        pending: architectures reserved by running trials (labels in flight).
        seed: this round's seed.
        surrogates: fitted per-objective predictors (trained on ``Y``) when the method uses a surrogate.
        mc_samples: quasi-MC samples of the study's acquisition (a proposer guiding by it uses the same).
        feasible: with constraints, ``feasible(archs) -> bool mask`` (predicted or exact, the rule
            the study labels by); ``None`` without. The study filters every proposal by it anyway;
            a proposer that ranks a whole space uses it to rank only what may be labelled.
        domain: ``(archs, canonical hashes)`` of the only architectures the labeller can label (the
            rows of a table that covers part of the space), ``None``: the whole space. Proposals
            outside it are dropped by the study; :meth:`enumerated` and :meth:`random` draw from it.
    """

    space: Any
    objectives: list[str]
    directions: list[str]
    archs: list[ArchGraph]
    Y: np.ndarray
    failed: list[ArchGraph]
    exclude: set[str]
    pending: list[ArchGraph]
    seed: int
    surrogates: list[Any] = field(default_factory=list)
    mc_samples: int = 128
    feasible: Any = None
    domain: tuple[list[ArchGraph], list[str]] | None = None

    def enumerated(self) -> tuple[list[ArchGraph], list[str]] | None:
        """(one architecture per canonical class, its hash) of everything that may be labelled:
        the domain when there is one, else the enumerated space (None: too large to enumerate)."""
        return self.domain if self.domain is not None else _enumerated(self.space)

    def ref_point(self) -> Any:
        """The acquisition's hypervolume reference (signed: every objective maximised), just worse
        than every label seen: ``[k]`` float64 tensor."""
        import torch

        Y = torch.as_tensor(self.Y)
        span = (Y.max(0).values - Y.min(0).values).clamp_min(1e-9)
        return Y.min(0).values - 0.1 * span

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A numpy generator for this round (``salt`` separates independent streams)."""
        return np.random.default_rng([self.seed, salt])

    def unlabelled(self, archs: Sequence[ArchGraph]) -> list[ArchGraph]:
        """``archs`` without excluded ones and without equivalent duplicates, order kept."""
        out, seen = [], set(self.exclude)
        for a in archs:
            h = a.canonical_hash()
            if h not in seen:
                seen.add(h)
                out.append(a)
        return out

    def random(self, n: int, salt: int = 0) -> list[ArchGraph]:
        """Up to ``n`` random unlabelled architectures."""
        rng = self.rng(salt)
        out: list[ArchGraph] = []
        seen = set(self.exclude)
        if self.domain is not None:  # a partial table: sampling the space would rarely hit one of its rows
            rest = [a for a, h in zip(*self.domain) if h not in seen]
            return [rest[i] for i in sorted(rng.permutation(len(rest))[:n])]
        for _ in range(50):
            if len(out) >= n:
                break
            before = len(out)
            for a in self.space.sample(max(2 * (n - len(out)), 8), rng):
                h = a.canonical_hash()
                if h not in seen and len(out) < n:
                    seen.add(h)
                    out.append(a)
            if len(out) == before:
                break  # a whole draw without a new cell: (nearly) exhausted, more draws would not help
        if len(out) < n:  # nearly exhausted: fall back to the enumeration, if any
            en = _enumerated(self.space)
            if en is not None:
                rest = [a for a, h in zip(*en) if h not in seen]
                pick = rng.permutation(len(rest))[: n - len(out)]
                out.extend(rest[i] for i in sorted(pick))
        return out


class Proposer(ABC):
    """Proposes architectures for one round.

    A *direct* proposer (``uses_surrogate = False``) returns the ``q`` architectures to label.
    A *pool* proposer returns a candidate pool from which the study picks ``q`` by acquisition
    on the GP surrogates (fitted before :meth:`propose` is called, in ``ctx.surrogates``).
    Proposers hold no history: everything comes from the context, every round.
    """

    #: registered name, recorded in the study's config
    name: str = ""
    #: True: return a pool for acquisition; False: return the picks
    uses_surrogate: bool = True

    @abstractmethod
    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """``n`` picks (direct) or a pool of about ``n`` candidates (pool proposer)."""

    def initial(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The picks of a round before the surrogate can be fitted (default: random)."""
        return ctx.random(n, salt=1)

    def config(self) -> dict[str, Any]:
        """JSON-able settings stored with the study (a re-opened study must match them)."""
        return {}

    def check(self, space: Any) -> None:
        """Raise a named error if this proposer cannot work on ``space`` (default: no check).

        ``Study`` calls it before the study is stored, so a bad setting costs no label.
        """


_PROPOSERS: dict[str, type[Proposer]] = {}


def register_proposer(name: str) -> Any:
    """Class decorator registering a ``Proposer`` under ``name`` (duplicates are refused)."""

    def deco(cls: type[Proposer]) -> type[Proposer]:
        if name in _PROPOSERS:
            raise InvalidSpecError(f"a proposer named {name!r} is already registered")
        cls.name = name
        _PROPOSERS[name] = cls
        return cls

    return deco


def get_proposer(proposer: str | Proposer, **options: Any) -> Proposer:
    """A proposer from a registered name or a ``Proposer`` instance (returned as is).

    Raises:
        InvalidSpecError: unknown name (the message lists the choices).
    """
    if isinstance(proposer, Proposer):
        return proposer
    if proposer not in _PROPOSERS:
        import nagen.generators

        if isinstance(proposer, str) and proposer in nagen.generators.names():
            # a user's registered generator proposes without a proposer class of its own
            return GeneratorProposer(proposer, **options)
        raise InvalidSpecError(
            f"could not resolve proposer {proposer!r} among choices {choices_hint(_PROPOSERS)} "
            f"or a registered generator ({choices_hint(nagen.generators.names())})"
        )
    return _PROPOSERS[proposer](**options)


@register_proposer("random")
class RandomProposer(Proposer):
    """Uniform random search over unlabelled architectures."""

    uses_surrogate = False

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """``n`` random unlabelled architectures."""
        return ctx.random(n, salt=2)

    def initial(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """Random, as every other round."""
        return ctx.random(n, salt=2)


@register_proposer("re")
class EvolutionProposer(Proposer):
    """Regularised evolution (Real et al. 2019): aging population, tournament, one-edit mutation.

    The optimiser is rebuilt every round from the trial history (told in trial order, failed
    labels as NaN), so its population is the last ``population`` labels, as in a run that
    kept it in memory.

    Args:
        population: aging population size. tournament: tournament size (at most ``population``
            take part).

    Raises:
        InvalidSpecError: a size that is not a positive integer.
    """

    uses_surrogate = False

    def __init__(self, population: int = 20, tournament: int = 5) -> None:
        # int() used to truncate 2.7 to 2, and population=0 failed only once the study was stored
        self.population = check_int(population, "EvolutionProposer population", 1, InvalidSpecError)
        self.tournament = check_int(tournament, "EvolutionProposer tournament", 1, InvalidSpecError)

    def config(self) -> dict[str, Any]:
        """Population and tournament sizes."""
        return {"population": self.population, "tournament": self.tournament}

    def _history(self, ctx: ProposalContext) -> tuple[list[ArchGraph], np.ndarray]:
        k = ctx.Y.shape[1]
        archs = list(ctx.archs) + list(ctx.failed)
        Y = np.vstack([ctx.Y, np.full((len(ctx.failed), k), np.nan)]) if ctx.failed else ctx.Y
        return archs, Y

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """``n`` children (random samples while the population is not yet full)."""
        archs, Y = self._history(ctx)
        if Y.shape[1] == 1:
            from nagen.generators.evolution import RegularizedEvolution

            opt: Any = RegularizedEvolution(
                ctx.space, population=self.population, tournament=self.tournament, seed=ctx.seed, maximize=True
            )
            if archs:
                opt.tell(archs, Y[:, 0])
        else:
            from nagen.generators.evolution import MORegularizedEvolution

            opt = MORegularizedEvolution(
                ctx.space, ["max"] * Y.shape[1], population=self.population, tournament=self.tournament, seed=ctx.seed
            )
            if archs:
                opt.tell(archs, Y)
        return opt.ask(n, exclude=ctx.exclude | {a.canonical_hash() for a in ctx.pending})

    def initial(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """Evolution's own start (random until the population fills)."""
        return self.propose(ctx, n)


@register_proposer("bo")
class PoolProposer(Proposer):
    """The default BO pool: every unlabelled architecture of an enumerable space (NB201: all of
    its 8,765 canonical classes), otherwise one- and two-edit mutations of the best labelled
    architectures plus random samples.

    Args:
        pool_size: candidates for non-enumerable spaces.
        parents: how many of the best labelled architectures are mutated.

    Raises:
        InvalidSpecError: ``pool_size`` not a positive integer, ``parents`` not a non-negative one.
    """

    def __init__(self, pool_size: int = 2000, parents: int = 10) -> None:
        what = type(self).__name__
        self.pool_size = check_int(pool_size, f"{what} pool_size", 1, InvalidSpecError)
        self.parents = check_int(parents, f"{what} parents", 0, InvalidSpecError)

    def config(self) -> dict[str, Any]:
        """Pool size and number of mutated parents."""
        return {"pool_size": self.pool_size, "parents": self.parents}

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The unlabelled space, or mutations of the best plus random samples."""
        en = ctx.enumerated()
        if en is not None:
            return [a for a, h in zip(*en) if h not in ctx.exclude]
        # n is the batch size the study asks for: the acquisition needs a pool much larger than that
        return self.mutations(ctx, max(self.pool_size, n))

    def mutations(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """Neighbours (and neighbours of neighbours) of the best labelled, topped up with random samples."""
        rng = ctx.rng(3)
        order = np.argsort(-ctx.Y.sum(1) if len(ctx.Y) else np.zeros(0), kind="stable")
        if ctx.Y.shape[1] > 1 and len(ctx.Y):
            order = np.flatnonzero(_non_dominated(ctx.Y))  # mutate the front
        pool: list[ArchGraph] = []
        for i in order[: self.parents]:
            first = ctx.space.neighbours(ctx.archs[int(i)])
            pool.extend(first)
            for j in rng.permutation(len(first))[:5]:
                pool.extend(ctx.space.neighbours(first[int(j)]))
        pool = ctx.unlabelled(pool)
        if len(pool) > n // 2:
            pool = [pool[int(i)] for i in sorted(rng.choice(len(pool), n // 2, replace=False))]
        return ctx.unlabelled(pool + ctx.random(n - len(pool), salt=4))


@register_proposer("opgfn")
class OPGFNProposer(PoolProposer):
    """Pool from an order-preserving GFlowNet fitted each round on the labels (``nagen.generators.opgfn``),
    plus mutations of the best, so the acquisition still sees the neighbourhood of the incumbent.

    Args:
        pool_size, parents: as for :class:`PoolProposer`.
        options: keyword arguments of ``OPGFNGenerator`` (``seed`` comes from the round).

    Raises:
        InvalidSpecError, UnknownOptionError: a bad size, or an option ``OPGFNGenerator`` does not
            take (checked here; their values are checked on the study's space by :meth:`check`).
    """

    def __init__(self, pool_size: int = 1000, parents: int = 5, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(pool_size, parents)
        if options is not None and not isinstance(options, Mapping):
            raise InvalidSpecError(f"OPGFNProposer options must be a dict of OPGFNGenerator arguments, got {options!r:.80}")
        self.options = dict(options or {})
        generator = self._generator_class()
        if generator is not None:
            # an unknown option used to surface as a bare TypeError after n_initial labels were paid
            check_options(generator, self.options, "OPGFNProposer options (OPGFNGenerator)", exclude=("seed",))

    @staticmethod
    def _generator_class() -> Any:
        try:
            from nagen.generators.opgfn import OPGFNGenerator
        except ImportError:  # propose() says so, with the reason
            return None
        return OPGFNGenerator

    def check(self, space: Any) -> None:
        """Build the generator once on ``space`` (no training), so a bad option value fails now.

        Raises:
            InvalidSpecError: ``OPGFNGenerator`` refused the options (the message gives its reason).
        """
        generator = self._generator_class()
        if generator is None or not self.options:
            return
        try:
            generator(space, seed=0, **self.options)
        except (NagenError, ValueError, TypeError) as e:
            raise InvalidSpecError(f"OPGFNProposer options {self.options!r:.200} are refused on space {space.name!r}: {e}") from e

    def config(self) -> dict[str, Any]:
        """Pool settings and OP-GFN options."""
        return {**super().config(), "options": self.options}

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """OP-GFN samples (half the pool) and mutations of the best (the rest)."""
        try:
            from nagen.generators.opgfn import OPGFNGenerator
        except ImportError as e:
            raise StudyError("method 'opgfn' needs nagen.generators.opgfn, which this install does not have") from e
        gen = OPGFNGenerator(ctx.space, seed=ctx.seed, **self.options)
        gen.fit(ctx.archs, ctx.Y if ctx.Y.shape[1] > 1 else ctx.Y[:, 0], directions=["max"] * ctx.Y.shape[1])
        samples = ctx.unlabelled(gen.sample(self.pool_size // 2, seed=ctx.seed))
        return ctx.unlabelled(samples + self.mutations(ctx, self.pool_size - len(samples)))


class GeneratorProposer(PoolProposer):
    """Any registered generator (``nagen.generators``) as a BO pool: each round it is built with
    the round's seed, fitted on the best quarter of the labels (its ``fit(archs)``: learn the
    distribution of good cells; unfitted before two labels), and its samples make half the pool,
    mutations of the best the rest. This is what ``proposer="<generator name>"`` gives, so a new
    generator module needs no proposer class of its own.

    Args:
        generator: the registered generator name.
        pool_size, parents: as for :class:`PoolProposer`.
        options: keyword arguments of the generator's constructor (``seed`` comes from the round).

    Raises:
        InvalidSpecError: ``generator`` is not registered, or ``options`` is not a dict.
    """

    def __init__(self, generator: str, pool_size: int = 1000, parents: int = 5, options: Mapping[str, Any] | None = None) -> None:
        import nagen.generators

        super().__init__(pool_size, parents)
        if not isinstance(generator, str) or generator not in nagen.generators.names():
            raise InvalidSpecError(
                f"GeneratorProposer needs a registered generator name ({choices_hint(nagen.generators.names())}), got {generator!r}"
            )
        if options is not None and not isinstance(options, Mapping):
            raise InvalidSpecError(f"GeneratorProposer options must be a dict of constructor arguments, got {options!r:.80}")
        self.generator, self.options, self.name = generator, dict(options or {}), generator

    def check(self, space: Any) -> None:
        """Build the generator once on ``space`` (no fitting), so bad options fail before any label.

        Raises:
            InvalidSpecError: the generator refused the space or the options (its reason is given).
        """
        import nagen.generators

        try:
            nagen.generators.get(self.generator, space, seed=0, **self.options)
        except (NagenError, ValueError, TypeError) as e:
            raise InvalidSpecError(f"generator {self.generator!r} cannot propose on space {space.name!r}: {e}") from e

    def config(self) -> dict[str, Any]:
        """Generator name, its options and the pool settings."""
        return {**super().config(), "generator": self.generator, "options": self.options}

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The generator's samples (half the pool) and mutations of the best (the rest)."""
        import nagen.generators

        gen = nagen.generators.get(self.generator, ctx.space, seed=ctx.seed, **self.options)
        if len(ctx.archs) >= 2:
            top = np.argsort(-ctx.Y.sum(1), kind="stable")[: max(2, len(ctx.archs) // 4)]
            gen.fit([ctx.archs[int(i)] for i in top])
        else:
            gen.fit()
        samples = ctx.unlabelled(gen.sample(self.pool_size // 2, seed=ctx.seed))
        return ctx.unlabelled(samples + self.mutations(ctx, self.pool_size - len(samples)))


_DIFFUSION_CACHE: dict[tuple[Any, ...], Any] = {}


@register_proposer("diffusion")
class DiffusionProposer(PoolProposer):
    """Pool from the graph-diffusion generator guided by the GP surrogates, plus mutations of the best.

    ``guide="mean"``: classifier guidance with each surrogate's posterior mean as the classifier
    (DiffusionNAG's predictor guidance). ``guide="acquisition"``: the guide is the round's
    acquisition itself (:class:`~nagen.predictors.acquisition.AcquisitionPredictor`: log noisy
    expected improvement, or hypervolume improvement with several objectives, over the same
    surrogates, baseline and pending labels the study picks by), so the samples head where the
    pick will look, improvement and uncertainty both, not only where the mean is high.

    The unconditional generator is ``checkpoint`` when given (a file of ``nagen train`` /
    ``DiffusionGenerator.save``), else the shipped checkpoint when there is one, else trained once
    per process on the space (``DiffusionGenerator(space, seed).fit()``, minutes) and kept in memory.

    Every ``finetune_every`` labels the generator is fine-tuned on the labels so far: a copy of
    the unconditional model takes ``finetune_steps`` denoising steps on the best quarter of the
    labelled architectures and their one-edit neighbours (the neighbours keep it from collapsing
    onto a handful of cells), so its prior moves toward the region the labels favour while the
    GP guidance does the fine steering. The fine-tuned model depends only on the first
    ``finetune_every * floor(n / finetune_every)`` labels, so a resumed study rebuilds the same one.

    Args:
        pool_size: candidates per round. parents: how many of the best labelled architectures
            are mutated into the pool beside the samples. guidance: guidance scale. steps:
            reverse-diffusion steps (None: the generator's default). finetune_every: labels
            between fine-tunings (0: never).
        finetune_steps: optimiser steps of one fine-tuning.
        guide: ``"mean"`` or ``"acquisition"`` (above).
        checkpoint: path of a diffusion checkpoint trained on the study's space (stored with the
            study as an absolute path; a resumed study loads it from there).

    Raises:
        InvalidSpecError: a negative ``guidance``, an unknown ``guide``, a count that is not an
            integer in range, or a ``checkpoint`` that is no file (or, when the study starts, not
            a diffusion checkpoint of its space).
    """

    def __init__(
        self,
        pool_size: int = 1000,
        parents: int = 5,
        guidance: float = 2.0,
        steps: int | None = None,
        finetune_every: int = 10,
        finetune_steps: int = 150,
        guide: str = "mean",
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(pool_size, parents)
        self.guidance = check_real(guidance, "DiffusionProposer guidance", 0.0, error=InvalidSpecError)
        if checkpoint is not None:
            if not isinstance(checkpoint, (str, os.PathLike)):
                raise InvalidSpecError(f"DiffusionProposer checkpoint must be a file path, got {type(checkpoint).__name__} {checkpoint!r:.60}")
            checkpoint = os.path.abspath(os.fspath(checkpoint))
            if not os.path.isfile(checkpoint):
                raise InvalidSpecError(f"DiffusionProposer checkpoint {checkpoint!r}: no such file")
        self.checkpoint = checkpoint
        if guide not in DIFFUSION_GUIDES:
            raise InvalidSpecError(f"DiffusionProposer guide must be one of {DIFFUSION_GUIDES}, got {guide!r}")
        self.guide = guide
        self.steps = None if steps is None else check_int(steps, "DiffusionProposer steps (or None)", 1, InvalidSpecError)
        # a negative finetune_every used to mean "never" silently: 0 is the documented way
        self.finetune_every = check_int(finetune_every, "DiffusionProposer finetune_every (0: never)", 0, InvalidSpecError)
        self.finetune_steps = check_int(finetune_steps, "DiffusionProposer finetune_steps", 0, InvalidSpecError)
        self._tuned: dict[tuple, Any] = {}

    def config(self) -> dict[str, Any]:
        """Pool, guidance and fine-tuning settings."""
        return {
            **super().config(),
            "guidance": self.guidance,
            "steps": self.steps,
            "finetune_every": self.finetune_every,
            "finetune_steps": self.finetune_steps,
            # only when not the original guide, so studies stored before the choice existed still match
            **({"guide": self.guide} if self.guide != "mean" else {}),
            **({"checkpoint": self.checkpoint} if self.checkpoint is not None else {}),
        }

    def check(self, space: Any) -> None:
        """Load ``checkpoint`` for ``space`` now, so a wrong file fails before the first label."""
        if self.checkpoint is not None:
            try:
                self.generator(space, checkpoint=self.checkpoint)
            except NagenError as e:
                raise InvalidSpecError(f"DiffusionProposer checkpoint: {e}") from None

    def tuned(self, ctx: ProposalContext) -> Any:
        """The generator fine-tuned on the labels up to the last multiple of ``finetune_every``."""
        import copy

        base = self.generator(ctx.space, checkpoint=self.checkpoint)
        if self.finetune_every <= 0:
            return base
        n = (len(ctx.archs) // self.finetune_every) * self.finetune_every
        if n < self.finetune_every:
            return base
        archs, score = ctx.archs[:n], ctx.Y[:n].sum(1)  # the sum of signed objectives ranks several
        key = (ctx.space.name, tuple(a.canonical_hash() for a in archs), self.finetune_steps)
        if key not in self._tuned:
            top = [archs[int(i)] for i in np.argsort(-score, kind="stable")[: max(2, n // 4)]]
            data = list(top)
            for a in top:
                data.extend(ctx.space.neighbours(a))
            gen = copy.deepcopy(base, memo={id(base.space): base.space})  # guides check space identity
            gen.seed = round_seed(0, n, salt=11)
            with _torch_round(gen.seed):
                gen.fit(data, steps=self.finetune_steps, lr=5e-4, batch_size=128)
            self._tuned = {key: gen}  # only the latest: earlier ones are never asked for again
        return self._tuned[key]

    @staticmethod
    def generator(space: Any, seed: int = 0, checkpoint: str | None = None) -> Any:
        """The unconditional diffusion generator for ``space``: ``checkpoint``'s, else the shipped or a
        newly trained one (cached per process; a checkpoint per file version)."""
        import nagen.spaces
        from nagen.generators.diffusion import DiffusionGenerator

        if checkpoint is not None:
            ckey = (nagen.spaces.cache_key(space), os.path.realpath(checkpoint), os.path.getmtime(checkpoint))
            if ckey not in _DIFFUSION_CACHE:
                _DIFFUSION_CACHE[ckey] = DiffusionGenerator.load(checkpoint, space)
            return _DIFFUSION_CACHE[ckey]
        key = (nagen.spaces.cache_key(space), int(seed))
        if key not in _DIFFUSION_CACHE:
            try:
                if not DiffusionGenerator.has_pretrained(space):  # (nor has a user's space of a shipped name)
                    raise NagenError(f"no shipped checkpoint for space {space.name!r}")
                _DIFFUSION_CACHE[key] = DiffusionGenerator.pretrained(space.name)
            except NagenError:
                # the first round would otherwise sit silent for minutes (as nagen.generate warns too)
                warnings.warn(
                    f"no shipped diffusion checkpoint for space {space.name!r}: the diffusion proposer trains one now "
                    "(3,000 steps, minutes on one CPU core), once per process; studies run in the same process reuse it. "
                    f"To train it once: 'nagen train --space {space.name} --hidden 64 --layers 3 --out {space.name}.pt' "
                    f"(with --plugin for your own space), then DiffusionProposer(checkpoint='{space.name}.pt') "
                    f"(CLI: nagen search --method diffusion --checkpoint {space.name}.pt)",
                    stacklevel=2,
                )
                _DIFFUSION_CACHE[key] = DiffusionGenerator(space, seed=seed).fit()
        return _DIFFUSION_CACHE[key]

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """Guided samples (half the pool) and mutations of the best (the rest)."""
        from nagen.generators.guidance import Guide

        gen = self.tuned(ctx)
        m = len(ctx.surrogates)
        from nagen.predictors.gp import GPPredictor

        # the acquisition's gradient runs through a GP's state features; other surrogates guide by their means
        if self.guide == "acquisition" and all(isinstance(p, GPPredictor) and p.differentiable for p in ctx.surrogates):
            from nagen.predictors.acquisition import AcquisitionPredictor

            acq = AcquisitionPredictor.from_surrogates(
                ctx.surrogates, ctx.archs, pending=ctx.pending, ref_point=ctx.ref_point().tolist() if m > 1 else None,
                mc_samples=ctx.mc_samples, seed=ctx.seed,
            )
            guides = [Guide(acq, self.guidance, "max", name="acquisition")]
        else:
            guides = [Guide(p, self.guidance / m, "max", name=o) for p, o in zip(ctx.surrogates, ctx.objectives) if p.differentiable]
        options = {} if self.steps is None else {"steps": self.steps}  # default: the generator's own (20 DDIM steps)
        samples = ctx.unlabelled(gen.sample(self.pool_size // 2, seed=ctx.seed, guides=guides, **options))
        return ctx.unlabelled(samples + self.mutations(ctx, self.pool_size - len(samples)))


#: what the diffusion proposer's samples are guided by
DIFFUSION_GUIDES = ("mean", "acquisition")

#: built-in method names
METHODS = ("bo", "opgfn", "diffusion", "re", "random")


# ---------------------------------------------------------------------------------- study
def _objective_spec(objectives: Any, labeller: Labeller | None) -> tuple[list[str], list[str]]:
    """(names, directions) from a name, a list of names / (name, direction) pairs, or a dict.

    A name may carry its direction as ``"METRIC:max"`` / ``"METRIC:min"`` and a string may list
    several, comma-separated (``"acc:max,params:min"``): the syntax of ``nagen.pareto`` and the
    CLI, which would otherwise become a metric literally named ``"acc:min"`` and be maximised.
    """
    if isinstance(objectives, str):
        items: list[tuple[str, str | None]] = [_split_direction(o) for o in objectives.split(",")]
    elif isinstance(objectives, Mapping):
        items = [(str(k), v) for k, v in objectives.items()]
    elif isinstance(objectives, (bytes, bytearray)) or not isinstance(objectives, Iterable):
        raise InvalidSpecError(
            "objectives must be a metric name, a list of names or (name, 'max'|'min') pairs, "
            f"or a {{name: direction}} dict; got {objectives!r}"
        )
    else:
        items = []
        for o in objectives:
            if isinstance(o, str):
                items.append(_split_direction(o))
            elif isinstance(o, Sequence) and len(o) == 2:
                items.append((str(o[0]), o[1]))
            else:
                raise InvalidSpecError(f"an objective is a name or (name, 'max'|'min'), got {o!r}")
    if not items:
        raise InvalidSpecError("a study needs at least one objective")
    known = labeller.directions() if labeller is not None else {}
    if "" in known:  # CallableLabeller(fn, directions="min"): the direction of the one objective, unnamed
        if len(items) != 1:
            raise InvalidSpecError(
                f"the labeller's direction {known['']!r} is for a single objective, but the study has {[n for n, _ in items]}; "
                "name the objectives in the labeller (CallableLabeller(fn, objectives=[...], directions={...}))"
            )
        known = {items[0][0]: known[""]}
    names, dirs = [], []
    for name, d in items:
        if not name:
            raise InvalidSpecError(f"an objective needs a metric name, got {objectives!r}")
        d = d or known.get(name, "max")
        if d not in ("max", "min"):
            raise InvalidSpecError(f"direction of objective {name!r} must be 'max' or 'min', got {d!r}")
        names.append(name)
        dirs.append(d)
    if len(set(names)) != len(names):
        raise InvalidSpecError(f"objective names must be distinct, got {names}")
    return names, dirs


def _split_direction(name: str) -> tuple[str, str | None]:
    """``"acc:min"`` -> ``("acc", "min")``; a name without a ``:max``/``:min`` suffix keeps no direction."""
    base, sep, d = name.strip().rpartition(":")
    if sep and d.strip() in ("max", "min"):
        return base.strip(), d.strip()
    if sep and base and d.strip().lower() in ("max", "min", "maximize", "minimize", "maximise", "minimise"):
        raise InvalidSpecError(f"direction of objective {base.strip()!r} must be 'max' or 'min', got {d.strip()!r}")
    return name.strip(), None


#: most random cells the zero-cost initial design ranks per round (``20 * n_initial`` below that)
ZC_POOL_MAX = 2000


class Study:
    """A resumable, parallel-safe BO-NAS study stored in SQLite.

    Args:
        space: search space (name or ``SearchSpace``).
        objectives: an objective name, names, ``(name, "max"|"min")`` pairs or ``{name: direction}``;
            a name may carry its direction, ``"score:min"``, and a string may list several,
            ``"acc:max,params:min"`` (directions default to the labeller's, else ``"max"``).
        labeller: what pays for labels (:mod:`nagen.labellers`); may be None when re-opening a
            study whose labeller can be rebuilt from storage (table labellers).
        proposer: ``"bo"`` (default), ``"opgfn"``, ``"diffusion"``, ``"re"``, ``"random"``, the name
            of any other registered generator (a :class:`GeneratorProposer` pool), or a
            ``Proposer`` instance.
        storage: ``sqlite:///path``, a path, or a ``SQLiteStorage``.
        name: study name; default derived from space, objectives, method, seed and labeller, so
            the same arguments re-open (and resume) the same study. The labeller counts by its
            spec (table labellers) or else its ``identity()``: a ``CallableLabeller``'s function
            (module and qualified name), objectives and directions; a ``TrainingLabeller``'s
            settings and a digest of its data (:func:`nagen.labellers.data_digest`). A study
            stored before identities were recorded is re-opened by ``name=`` (with a warning).
        seed: seeds every round (with the number of trials so far).
        executor: ``"auto"`` (default: ``"inline"`` for a ``TableLabeller``, whose labels are
            lookups that worker processes would only slow down, else ``"process"``),
            ``"process"`` (a local pool of spawned workers: in a script, run the study under
            ``if __name__ == "__main__":``, as for any ``multiprocessing`` code), ``"inline"``,
            ``"ray"`` or an ``Executor``.
        timeout: seconds allowed per label (None: no limit; with an ``Executor`` object, give it
            to its constructor).
        n_initial: labels before the first surrogate fit, chosen as ``initial`` says (random, or
            by a zero-cost proxy; >= 2 for surrogate methods).
            ``n_initial``, ``surrogate`` and ``initial`` apply only to the surrogate methods
            (``"bo"``, ``"opgfn"``, ``"diffusion"``): the direct ones (``"re"``, ``"random"``,
            transfer) ignore them, so a non-default value warns (``IgnoredSettingWarning``); they
            are still stored, as they always were, so that existing studies keep their names.
        max_acquisition_pool: when a pool is larger, the acquisition is evaluated only on the
            union of the top candidates by posterior mean and by upper confidence bounds
            (``mean + beta * std``, ``beta`` in 0.5, 1, 2, 3), which contains the maximisers of
            analytic expected improvement for any incumbent (EI grows with both mean and std; the
            noisy Monte-Carlo EI used is close to it). Several objectives: the first two
            non-dominated layers of the posterior means and of ``mean + std``, plus the top
            ``max_acquisition_pool // (5k + 4)`` of those rankings and of four random Chebyshev
            scalarisations (at most this many rows).
        mc_samples: quasi-MC samples of the acquisition.
        surrogate: ``"auto"`` (default: ``"gp_wl+zc"`` where the proxies are free, as on NB201,
            else ``"gp_wl"``; ``"gp"`` for the diffusion proposer, which guides by its gradient),
            ``"gp"`` (onehot GP), ``"gp+zc"`` (onehot plus the data-free zero-cost
            proxies synflow and params as GP inputs; they are computed from the untrained
            network, so they cost no label; on NB201 they come from the shipped table),
            ``"gp_wl"`` (Weisfeiler-Lehman subtree-kernel GP on WL label counts, NAS-BOWL) or
            ``"gp_wl+zc"`` (WL kernel plus a Matern kernel on the two proxies, summed); or the
            name of any registered predictor (``nagen.predictors.names()``, a user's too): a GP
            predictor (``"gp_path"``, ``"gp_deep"``) as it is, anything else (``"gnn"``) as an
            ensemble of ``members`` seeded copies whose spread is the posterior (as BANANAS;
            :class:`~nagen.predictors.ensemble.EnsemblePredictor`).
        surrogate_options: with a registered predictor as ``surrogate``: its constructor
            arguments (e.g. ``{"epochs": 100}``), plus ``"members"`` (ensemble size, default 5).
            Stored with the study (JSON).
        initial: ``"auto"`` (``"zc"`` where the proxies are free and every objective is
            maximised; ``"zc+random"`` where they are free and a maximised objective is traded
            against a minimised one; else ``"random"``: synflow favours large cells, the worst
            start for a minimised latency or cost alone),
            ``"random"`` first labels, ``"zc"``: the best by synflow among
            ``20 * n_initial`` (at most :data:`ZC_POOL_MAX`) random unlabelled cells (a data-free
            prior, again no labels), or ``"zc+random"``: the best half of ``"zc"`` and random
            cells for the rest, so a front's accurate end and its cheap end both have a start
            (NB201 CIFAR-10 vs params, tuning seeds: see ``benchmarks/results/gflownet.md``).
        executor_options: extra arguments of the executor (``workers=``, ``address=``, ...; not
            with an ``Executor`` object).
        constraints: ``"METRIC<=VALUE"`` strings (or ``{metric: upper bound}``, see
            :func:`nagen.constraints.parse_constraints`) every returned architecture must meet.
            Exact costs (``params``, ``flops``) filter candidates exactly; a device latency
            (``lat_<device>_ms``) needs ``device_samples``: only candidates the few-shot latency
            predictor (adapted on the device's measurements) gives a fair chance of meeting
            the bound are labelled (``constraints.LABEL_PROB``), the last measurements go to
            the best labelled ones, and :attr:`best` is the best architecture whose
            *measured* latency meets the bound.
        device_samples: ``k``, the most latency measurements the study spends on each
            constrained device (half, at most 5, adapt the predictor; the rest go to the best
            candidates at the end: :func:`nagen.constraints.split_measurements`). 2 leaves none
            to verify the answer (a warning says so); 3 verifies at least one candidate.
        measurers: ``{metric: Labeller}`` that measures a constrained device metric (default:
            the space's benchmark table column).
        latency_models: ``{metric: LatencyPredictor}`` meta-trained models to adapt (default:
            :func:`nagen.constraints.meta_latency_model`, HELP's source devices).
        explore: share of the surrogate methods' labels after the initial design that the model
            does not choose: in each round the last ``floor`` share of the picks is replaced by
            the zero-cost proxy's best of 20 random unlabelled architectures (random where the
            proxies are not free), so a model confidently wrong about a region cannot keep the
            study out of it for the whole budget (SMAC interleaves random configurations for the
            same reason). ``None``: :data:`EXPLORE_MULTI` (0.1) with several objectives, 0 with
            one. Stored with the study only when given.

    Raises:
        DuplicateStudyError: ``name`` exists in ``storage`` with another configuration (another
            labeller included).
        InvalidSpecError: a bad objective, proposer, surrogate, constraint or number (``seed``,
            ``n_initial``, ``mc_samples``, ...), an objective the labeller does not return, a
            labeller that is no ``Labeller`` (a bare function: wrap it in ``CallableLabeller``),
            or ``timeout``/``executor_options`` given with an ``Executor`` object.
        InvalidArgumentError: a new study's labeller refused the space (its ``check``, e.g. a
            table of another space).
        StudyError: a new study without a labeller.
        StorageVersionError: the storage was written by another schema version.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Study:
        # a misspelled keyword used to be Python's bare TypeError; the signature stays __init__'s (see below)
        check_options(cls.__init__, kwargs, "Study", own_call=True)
        return super().__new__(cls)

    def __init__(
        self,
        space: Any,
        objectives: Any,
        labeller: Labeller | None = None,
        proposer: str | Proposer = "bo",
        storage: Any = "sqlite:///nagen.db",
        name: str | None = None,
        seed: int = 0,
        *,
        executor: Any = "auto",
        timeout: float | None = None,
        n_initial: int = 5,
        max_acquisition_pool: int = 512,
        mc_samples: int = 128,
        surrogate: str = "auto",
        surrogate_options: Mapping[str, Any] | None = None,
        initial: str = "auto",
        executor_options: Mapping[str, Any] | None = None,
        constraints: Any = None,
        device_samples: int | None = None,
        measurers: Mapping[str, Any] | None = None,
        latency_models: Mapping[str, Any] | None = None,
        explore: float | None = None,
    ) -> None:
        import nagen.spaces

        self.space = nagen.spaces.get(space)
        # what labelling workers resolve: the name, or an unregistered space itself (pickled as its spec)
        self._space_ref = nagen.spaces.reference(self.space)
        self._parsed: dict[str, ArchGraph] = {}  # architecture string -> parsed (see _parse)
        # everything is validated before the storage is opened (which creates its file), so a
        # rejected call writes nothing
        self.proposer = get_proposer(proposer)
        self.proposer.check(self.space)
        if labeller is not None and not callable(getattr(labeller, "label", None)):
            # a bare function would fail later with "'function' object has no attribute 'directions'"
            hint = "; wrap a function as CallableLabeller(fn)" if callable(labeller) else ""
            raise InvalidSpecError(
                "labeller must be a Labeller (TableLabeller, TrainingLabeller, CallableLabeller or a subclass), "
                f"got {type(labeller).__name__} {labeller!r:.80}{hint}"
            )
        # numpy's SeedSequence refuses negative seeds, late and with a bare ValueError
        self.seed = check_int(seed, "seed", 0, InvalidSpecError)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            # 5 would be stored as a name, and "" would silently become a made-up default name
            raise InvalidSpecError(f"name must be a non-empty string (or None for a default name), got {name!r}")
        for key, value, low in (("n_initial", n_initial, 0), ("max_acquisition_pool", max_acquisition_pool, 1), ("mc_samples", mc_samples, 1)):
            check_int(value, key, low, InvalidSpecError)
        if int(n_initial) < (2 if self.proposer.uses_surrogate else 0):
            raise InvalidSpecError(f"n_initial must be >= 2 for surrogate methods (a GP needs 2 labels), got {n_initial}")
        if not self.proposer.uses_surrogate:
            # kept in the config (stored studies must keep matching), but no direct method reads them
            ignored = [f"{k}={v!r}" for k, v, dflt in (("surrogate", surrogate, "auto"), ("initial", initial, "auto")) if v != dflt]
            ignored += [f"n_initial={n_initial}"] if int(n_initial) not in (0, 5) else []  # 0: what a direct method does
            if ignored:
                warnings.warn(
                    IgnoredSettingWarning(
                        f"{', '.join(ignored)} has no effect with proposer {self.proposer.name or type(self.proposer).__name__!r}, "
                        "which proposes without a surrogate or an initial design; they apply to 'bo', 'opgfn' and 'diffusion'"
                    ),
                    stacklevel=2,
                )
        self.n_initial = int(n_initial)
        self._explore_arg = None if explore is None else check_real(explore, "explore (share of labels)", 0.0, 1.0, error=InvalidSpecError)
        self.max_acquisition_pool = int(max_acquisition_pool)
        self.mc_samples = int(mc_samples)
        if surrogate_options is not None and not isinstance(surrogate_options, Mapping):
            raise InvalidSpecError(f"surrogate_options must be a dict of the surrogate predictor's arguments, got {surrogate_options!r}")
        # JSON round trip: stored in the config, and a resumed study must compare equal
        self._surrogate_options = json.loads(json.dumps(dict(surrogate_options or {}), sort_keys=True, default=repr))
        self._objectives_arg, self._surrogate_arg, self._initial_arg = objectives, surrogate, initial
        self._identity: Any = None  # see _labeller_identity
        self._settle(labeller)
        if getattr(self.proposer, "name", "") == "diffusion" and getattr(self.proposer, "guidance", 0):
            if not _make_surrogate(self.surrogate, self.space, 0, self._surrogate_options).differentiable:
                # the sampler would silently drop the guidance: it needs the surrogate's gradient
                raise InvalidSpecError(
                    f"the diffusion proposer guides by the surrogate's gradient, and surrogate {self.surrogate!r} has none; "
                    "use surrogate='gp' (or 'auto'), or DiffusionProposer(guidance=0) for unguided samples"
                )
        self._executor_spec = executor
        if executor_options is not None and not isinstance(executor_options, Mapping):
            raise InvalidSpecError(f"executor_options must be a dict of executor arguments, got {executor_options!r}")
        self._executor_options = dict(executor_options or {})
        self.timeout = None if timeout is None else check_real(timeout, "timeout (seconds per label)", 0.0, low_open=True, error=InvalidSpecError)
        self._check_executor_object()
        self._set_constraints(constraints, device_samples, measurers, latency_models)
        # an existing storage is opened now, to find the study these arguments re-open; a new
        # file is only created once everything is validated (a rejected call writes nothing)
        url = storage.url if isinstance(storage, SQLiteStorage) else ("sqlite:///nagen.db" if storage is None else storage)
        stored = storage if isinstance(storage, SQLiteStorage) else (get_storage(storage) if storage_exists(url) else None)
        self.name = name or self._default_name(self._config())
        if stored is not None:
            self._match_stored(stored, name, labeller)
        if self.labeller is None and (stored is None or self.name not in stored.study_names()):
            # nothing could ever label it, and a stored label-less config would refuse the labeller later
            raise StudyError(
                f"study {self.name!r} does not exist in {os.fspath(url)!r}; a new study needs a labeller "
                "(TableLabeller, TrainingLabeller or CallableLabeller)"
            )
        if self.labeller is not None and (stored is None or self.name not in stored.study_names()):
            # a labeller that cannot label this space (a table of another space) would fail every
            # trial; a stored study is not checked here, so that it can always be re-opened to be
            # read (optimize checks again before labelling)
            check = getattr(self.labeller, "check", None)
            if callable(check):
                check(self.space)
        self._check_executor()
        self.storage: SQLiteStorage = stored if stored is not None else get_storage(storage)
        # what optimize() reserves under: a study deleted and re-created with another configuration
        # while this object lives must not receive its labels
        self._stored_config = self.storage.create_study(self.name, self._config())

    def _settle(self, labeller: Labeller | None, initial: str | None = None) -> None:
        """Set the labeller and what depends on it: objective directions (the labeller knows
        them), the surrogate and the initial design (``"auto"`` depends on the directions);
        ``initial`` overrides an ``"auto"`` design (a stored study keeps the one it used)."""
        self.labeller = labeller
        self.objectives, self.directions = _objective_spec(self._objectives_arg, labeller)
        self._check_labeller_objectives()
        self._table_domain(labeller)
        surrogate, resolved = _resolve_auto(self.space, self.proposer, self._surrogate_arg, self._initial_arg, self.directions)
        self._check_surrogate(surrogate)
        if resolved not in INITIAL_DESIGNS:
            raise InvalidSpecError(f"could not resolve initial design {resolved!r} among choices {choices_hint(INITIAL_DESIGNS)}")
        if initial in INITIAL_DESIGNS and self._initial_arg == "auto":
            resolved = initial
        self.surrogate, self.initial = surrogate, resolved

    def _check_surrogate(self, surrogate: Any) -> None:
        """Refuse a surrogate that is neither a GP setting nor a usable registered predictor, and
        bad ``surrogate_options`` (the surrogate is built once, unfitted, before any label is paid)."""
        import nagen.predictors as P

        if surrogate in SURROGATES and not self._surrogate_options:
            return

        def usable(name: str) -> bool:
            return name != "ensemble" and getattr(P.registry.resolve(name), "fits_from_labels", True)

        known = [n for n in P.names() if n not in SURROGATES and usable(n)]
        if not isinstance(surrogate, str) or (surrogate not in SURROGATES and (surrogate not in P.names() or not usable(surrogate))):
            why = ""
            if surrogate == "ensemble":
                why = " (name the predictor the ensemble copies: surrogate='gnn' is an ensemble of GNNs)"
            elif isinstance(surrogate, str) and surrogate in P.names():
                why = (
                    f" ({surrogate!r} cannot serve: it is meta-trained first, built from other models, or learns nothing "
                    "from labels, as an exact cost)"
                )
            raise InvalidSpecError(
                f"surrogate must be 'auto', one of {list(SURROGATES)} or a registered predictor that learns from labels "
                f"({known}), got {surrogate!r}{why}"
            )
        try:
            built = _make_surrogate(surrogate, self.space, 0, self._surrogate_options)
        except InvalidSpecError:
            raise
        except (InvalidArgumentError, TypeError) as e:  # the predictor's own checks of its options
            raise InvalidSpecError(f"surrogate {surrogate!r} with surrogate_options {self._surrogate_options}: {e}") from None
        if len(self.objectives) > 1 and getattr(built, "encoding", None) == "deep":
            # each objective's deep kernel learns its own embedding, but the joint acquisition (qLogNEHVI, the
            # prefilter) feeds every model one input: the first objective's (objective 2 predicted with
            # RMSE 5.6 on labels of std 5.6, against 0.04 on its own inputs)
            raise InvalidSpecError(
                f"surrogate {surrogate!r} embeds each objective's architectures with its own network, and a study of "
                f"several objectives {self.objectives} acquires on one shared input; use 'gp', 'gp_wl', 'gp_wl+zc' "
                "(default) or 'gp_path'"
            )

    def _table_domain(self, labeller: Labeller | None) -> None:
        """Restrict proposals to a table's rows when the table labels only part of the space (a
        user's CSV of some cells): proposing from the whole space, nearly every trial would fail
        with "no row in table". Rows count when every objective has a finite value there."""
        from nagen.labellers import TableLabeller

        self._domain: tuple[list[ArchGraph], list[str]] | None = None
        self._domain_rows: dict[str, ArchGraph] = {}  # canonical hash -> the table row standing for its class
        if not isinstance(labeller, TableLabeller):
            return
        table = labeller.table
        # a space too large to count has no complete table: every table of it is partial
        if self.space.size is not None and len(table) >= self.space.size:
            return
        rows = table.measured_classes(self.objectives)
        if not rows:
            # the search would return an empty "result"; which rows are measured is read here for the
            # domain anyway (a complete table's column is never read before its labels are paid)
            empty = [m for m in self.objectives if not np.isfinite(np.asarray(table.values(m), dtype=float)).any()]
            why = f"no measured value of {empty} (every cell is empty or NaN)" if empty else (
                f"no row measuring every objective {self.objectives} at once"
            )
            raise InvalidSpecError(f"table {table.name!r} has {why}: nothing to search")
        self._domain, self._domain_rows = (list(rows.values()), list(rows)), rows

    def _match_stored(self, stored: SQLiteStorage, name: str | None, labeller: Labeller | None) -> None:
        """Adopt the stored study these arguments re-open: its labeller when none is given (only
        table labellers are stored), and, for ``initial="auto"``, the initial design it was
        created with (the rule for "auto" changed once: minimised objectives now start randomly).
        Without a name, the default name hashes the labeller and the design, so the stored study
        whose configuration these arguments reproduce is looked up instead."""
        names = stored.study_names()

        def stored_labeller(cfg: Mapping[str, Any]) -> Labeller | None:
            if labeller is not None:
                return labeller
            return from_spec(cfg["labeller"]) if cfg.get("labeller") else None

        if name is not None:
            if name in names:
                cfg = stored.study_config(name)
                self._settle(stored_labeller(cfg), cfg.get("initial"))
                self._adopt_identity(cfg)
            return
        if self.name in names:
            return
        if self._labeller_identity() is not None:
            self._hint_legacy(stored, names)
        found = []
        for n in names:
            cfg = stored.study_config(n)
            lab = stored_labeller(cfg)
            if lab is None:
                continue
            try:
                self._settle(lab, cfg.get("initial"))
            except NagenError:  # that study's labeller cannot label these objectives
                continue
            if json.dumps(self._config(), sort_keys=True) == json.dumps(cfg, sort_keys=True):
                found.append(n)
        if len(found) == 1:
            cfg = stored.study_config(found[0])
            self._settle(stored_labeller(cfg), cfg.get("initial"))
            self.name = found[0]
        else:
            self._settle(labeller)

    def _adopt_identity(self, cfg: Mapping[str, Any]) -> None:
        """Match the labeller identity of a study re-opened by name. A different one is refused by
        ``create_study`` (``DuplicateStudyError`` naming ``labeller_id``); a study stored before
        identities were recorded has none to compare, so it is accepted, with a warning."""
        if "labeller" in cfg:
            return
        if "labeller_id" in cfg:
            if self.labeller is None:
                self._identity = cfg["labeller_id"]
            return
        if self._labeller_identity() is not None:
            self._identity = "legacy"
            warnings.warn(
                f"study {self.name!r} was stored before nagen recorded which labeller a study uses, so it cannot check that "
                f"{self.labeller!r} is the labeller its {cfg.get('method')!r} labels came from; it is re-opened as given",
                stacklevel=4,
            )

    def _hint_legacy(self, stored: SQLiteStorage, names: Sequence[str]) -> None:
        """Warn when a study stored before labeller identities has exactly these settings: its
        default name had no identity in it, so these arguments no longer find it."""
        cfg = self._config()
        cfg.pop("labeller_id", None)
        old = self._default_name(cfg)
        if old in names and "labeller_id" not in stored.study_config(old):
            warnings.warn(
                f"study {old!r}, stored before nagen recorded labeller identities, has these settings; a new study "
                f"{self.name!r} is created. If {old!r} was labelled by this labeller, pass name={old!r} to resume it",
                stacklevel=4,
            )

    def _executor_kind(self) -> str | None:
        """The executor name ``optimize`` will use (None: an ``Executor`` object was given)."""
        from nagen.executors import EXECUTORS, Executor

        spec = self._executor_spec
        if isinstance(spec, Executor):
            return None
        if spec == "auto":
            from nagen.labellers import TableLabeller

            # table lookups are fast: worker processes would only slow them down
            return "inline" if isinstance(self.labeller, TableLabeller) else "process"
        if not isinstance(spec, str) or spec not in EXECUTORS:
            raise InvalidSpecError(f"could not resolve executor {spec!r} among choices {choices_hint(('auto', *EXECUTORS))}")
        return spec

    def _check_executor(self) -> None:
        """Refuse a bad executor or executor option now, before the study is stored."""
        from nagen.executors import check_executor_options

        kind = self._executor_kind()
        if kind is not None:  # an Executor object was given: it checked its own arguments
            check_executor_options(kind, self._executor_options, InvalidSpecError)

    def _check_executor_object(self) -> None:
        """Refuse ``timeout``/``executor_options`` with an ``Executor`` object: it was built with its
        own, and silently running without the timeout asked for is worse than an error."""
        from nagen.executors import Executor

        ex = self._executor_spec
        if not isinstance(ex, Executor):
            return
        conflicts = []
        if self.timeout is not None and self.timeout != ex.timeout:
            conflicts.append(f"timeout={self.timeout:g} (the executor's is {ex.timeout!r})")
        if self._executor_options:
            conflicts.append(f"executor_options={self._executor_options!r}")
        if conflicts:
            raise InvalidSpecError(
                f"executor is an {type(ex).__name__} object, which keeps its own settings, so {' and '.join(conflicts)} "
                f"would be ignored; pass them to its constructor (e.g. {type(ex).__name__}(timeout=...)) or give the "
                "executor by name (executor='process', 'inline' or 'ray')"
            )

    def _check_labeller_objectives(self) -> None:
        """Refuse objectives the labeller says it does not return (before any label is paid for)."""
        offered = tuple(getattr(self.labeller, "objectives", ()) or ())
        missing = [o for o in self.objectives if offered and o not in offered]
        if missing:
            raise InvalidSpecError(
                f"objectives {missing} are not among the labeller's {list(offered)}: {self.labeller!r} could not label them"
            )

    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "space": self.space.name,
            "objectives": self.objectives,
            "directions": self.directions,
            "seed": self.seed,
            "method": self.proposer.name or type(self.proposer).__name__,
            "proposer": self.proposer.config(),
            "n_initial": self.n_initial,
            "surrogate": self.surrogate,
            "initial": self.initial,
        }
        if self._surrogate_options:  # only when given, so existing studies keep their names
            cfg["surrogate_options"] = self._surrogate_options
        if not isinstance(self._space_ref, str):
            if hasattr(self.space, "spec"):
                # an unregistered spec-defined space: stored whole, so load_study rebuilds it in a new process
                cfg["space_spec"] = self.space.spec
            else:
                # an unregistered class: its name alone could resolve to another space (a registered one)
                cfg["space_class"] = f"{type(self.space).__module__}:{type(self.space).__qualname__}"
        spec = self.labeller.spec() if self.labeller is not None else None
        if spec is not None:
            cfg["labeller"] = spec
        else:
            identity = self._labeller_identity()
            if identity is not None:  # a labeller that cannot be stored still must not resume another's study
                cfg["labeller_id"] = identity
        if self.constraints:  # only when set, so studies stored before constraints existed still match
            cfg["constraints"] = [str(c) for c in self.constraints]
            cfg["device_samples"] = self.device_samples
        if self._explore_arg is not None:  # only when given, so the default keeps existing studies' names
            cfg["explore"] = self._explore_arg
        return cfg

    @property
    def explore(self) -> float:
        """Share of the model's labels chosen without it (see the ``explore`` argument)."""
        if self._explore_arg is not None:
            return self._explore_arg
        return EXPLORE_MULTI if len(self.objectives) > 1 and self.proposer.uses_surrogate else 0.0

    def _labeller_identity(self) -> dict[str, Any] | None:
        """What the config records of a labeller without a spec (see :meth:`Labeller.identity`):
        None for a study stored before identities were (``self._identity == "legacy"``); the stored
        one when re-opened without a labeller (it cannot label, but may be read)."""
        if self._identity == "legacy":
            return None
        if self.labeller is None:
            return self._identity
        get = getattr(self.labeller, "identity", None)
        identity = get() if callable(get) else None
        return None if identity is None else json.loads(json.dumps(identity, sort_keys=True, default=repr))

    # ------------------------------------------------------------------ constraints
    def _set_constraints(self, constraints: Any, device_samples: int | None, measurers: Any, latency_models: Any) -> None:
        from nagen.constraints import EXACT_COSTS, parse_constraints

        table = None
        self.constraints = parse_constraints(constraints)
        self.device_samples = None if device_samples is None else check_int(device_samples, "device_samples", 2, InvalidSpecError)
        self._measurers = _metric_map(measurers, "measurers")
        self._latency_models = _metric_map(latency_models, "latency_models")
        devices = {c.metric for c in self.constraints if c.device is not None}
        for what, given, needs in (("measurers", self._measurers, "label"), ("latency_models", self._latency_models, "reference_archs")):
            # an entry for no constrained device is most likely a misspelt metric, silently never used
            stray = sorted(set(given) - devices)
            if stray:
                raise InvalidSpecError(
                    f"{what} names {stray}, which no device latency constraint bounds; the constrained devices are "
                    f"{sorted(devices) or 'none'}"
                )
            for m, obj in given.items():
                if not callable(getattr(obj, needs, None)):
                    kind = "a Labeller (e.g. CallableLabeller(fn) or TableLabeller(table, metric))" if what == "measurers" \
                        else "a LatencyPredictor (nagen.predictors.latency), meta-trained"
                    raise InvalidSpecError(f"{what}[{m!r}] must be {kind}, got {type(obj).__name__} {obj!r:.60}")
        if self.device_samples is not None and not any(c.device is not None for c in self.constraints):
            # nothing would spend them: a silent no-op hides a forgotten latency constraint
            raise InvalidSpecError(
                f"device_samples={self.device_samples} needs a device latency constraint, e.g. 'lat_pixel2_ms<=18'; "
                f"the constraints are {[str(c) for c in self.constraints]}"
            )
        if self.device_samples is not None:
            from nagen.constraints import split_measurements

            adapt, verify = split_measurements(self.device_samples)
            if verify == 0:
                # kept legal (stored studies with 2 must load), but the answer then rests on a prediction
                warnings.warn(
                    f"device_samples={self.device_samples} spends all {adapt} measurements on adapting the latency predictor and "
                    "leaves none to verify the returned architecture, so it may break the latency bound; "
                    "device_samples >= 3 verifies at least one candidate",
                    UserWarning,
                    stacklevel=3,
                )
        for c in self.constraints:
            if c.metric in EXACT_COSTS:
                continue
            if c.device is None:
                raise InvalidSpecError(
                    f"constraint {c}: a study can constrain exact costs {choices_hint(EXACT_COSTS)} or device latencies "
                    "'lat_<device>_ms' (with device_samples); put other metrics among the objectives"
                )
            if self.device_samples is None:
                raise InvalidSpecError(
                    f"constraint {c} is a device latency: pass device_samples=k (CLI: --device-samples K), the latency measurements the study may spend on it"
                )
            if c.metric not in self._measurers:
                import nagen.benchmarks
                from nagen.constraints import parse_constraint
                from nagen.labellers import TableLabeller

                if table is None:
                    try:
                        table = nagen.benchmarks.load(self.space.name)
                    except NagenError:
                        raise InvalidSpecError(
                            f"constraint {c}: space {self.space.name!r} has no benchmark table; pass measurers={{{c.metric!r}: labeller}}"
                        ) from None
                parse_constraint(c, table.metrics)  # unknown device -> named error listing the devices
                self._measurers[c.metric] = TableLabeller(self.space.name, c.metric)
            if c.metric not in self._latency_models and not _has_table(self.space):
                # the default few-shot predictor is meta-trained on the other devices of the space's own
                # table; without one it failed with an AttributeError inside the first optimize()
                raise InvalidSpecError(
                    f"constraint {c}: space {self.space.name!r} has no benchmark table to meta-train the few-shot latency "
                    f"predictor on; pass latency_models={{{c.metric!r}: LatencyPredictor(space).meta_fit(table, devices)}} "
                    "(nagen.predictors.latency), meta-trained on your table of other devices' latencies"
                )
        self._feas: list[Any] | None = None
        #: (arch, hash) of the cells meeting exact bounds, screened once over an enumerable space (_screened)
        self._feasible_cells: list[tuple[ArchGraph, str]] | None = None

    def _measured(self, metric: str) -> dict[str, float]:
        return {a: v for _, a, _, v in self.storage.measurements(self.name, metric) if v is not None}

    def _measurable(self, metric: str) -> list[ArchGraph] | None:
        """Cells a table measurer has a value of ``metric`` for, when its table is not the whole
        space (a user's CSV): the latency design must pick among them (None: any cell)."""
        from nagen.labellers import TableLabeller

        m = self._measurers.get(metric)
        if not isinstance(m, TableLabeller):
            return None
        table = m.table
        if self.space.size is None or len(table) >= self.space.size:
            return None
        col = np.asarray(table.values(metric), dtype=float)
        return [a for a, v in zip(table.archs, col) if np.isfinite(v)]

    def _warm_latency_models(self) -> None:
        """Meta-train (or load) the device latency models with a progress bar before the study's
        own bar starts: a first constrained run spends about a minute here, which the study bar
        alone showed as a frozen 0%. The models are cached per process, so ``_feasibility`` reuses them."""
        from nagen.constraints import meta_latency_model

        import nagen.benchmarks

        if not _has_table(self.space):
            return
        for c in self.constraints:
            if c.device is not None and c.metric not in self._latency_models:
                meta_latency_model(nagen.benchmarks.load(self.space.name), c.metric, seed=0, progress=True)

    def _feasibility(self) -> list[Any]:
        """One feasibility model per constraint; device models re-read their measurements from storage
        and spend the adaptation design on the first call (each measurement committed at once)."""
        from nagen.constraints import DeviceFeasibility, ExactFeasibility, calibrated_sigma, meta_latency_model, split_measurements

        if self._feas is None:
            import nagen.benchmarks

            feas: list[Any] = []
            table = None
            if any(c.device is not None for c in self.constraints) and _has_table(self.space):
                table = nagen.benchmarks.load(self.space.name)
            for c in self.constraints:
                if c.device is None:
                    feas.append(ExactFeasibility(c, self.space))
                    continue
                meta = self._latency_models.get(c.metric)
                if meta is None:
                    # one latency model per device, whatever the study seed (it is meta-trained on other devices only)
                    meta = meta_latency_model(table, c.metric, seed=0)
                budget = int(self.device_samples or 0)
                cal = calibrated_sigma(meta, table, split_measurements(budget)[0]) if table is not None and budget >= 2 else None
                feas.append(DeviceFeasibility(c, meta, budget, {}, calibration=cal, candidates=self._measurable(c.metric)))
            self._feas = feas
        for f in self._feas:
            if isinstance(f, DeviceFeasibility):
                f.measured = self._measured(f.constraint.metric)
                n_adapt = split_measurements(f.budget)[0]
                for a in f.reference() if len(f.measured) < n_adapt else []:
                    if len(f.measured) >= n_adapt:
                        break
                    if self.space.format(a) not in f.measured:
                        self._measure(f, a)
        return self._feas

    def _measure(self, f: Any, arch: ArchGraph) -> float | None:
        """Spend one device measurement on ``arch`` (None when the budget is spent)."""
        from nagen.labellers import run_labeller

        text = self.space.format(arch)
        key = hashlib.sha1(text.encode()).hexdigest()  # exact cell: equivalent twins may differ in latency
        metric = f.constraint.metric
        claimed = self.storage.reserve_measurement(self.name, metric, text, key, f.budget)
        if not claimed:
            rows = {h: v for _, _, h, v in self.storage.measurements(self.name, metric)}
            if key not in rows:
                return None  # budget spent
            if rows[key] is not None:
                f.measured[text] = float(rows[key])
                return float(rows[key])
            # claimed by a process that died before storing the value: measure it again
        out = run_labeller(self._measurers[metric], text, self._space_ref, [metric])
        if not out.ok:
            raise StudyError(f"study {self.name!r}: measuring {metric} of {text} failed: {out.reason}")
        value = float(out.values[metric])  # type: ignore[index]
        self.storage.finish_measurement(self.name, metric, key, value)
        f.measured[text] = value
        return value

    def _feasible(self, archs: Sequence[ArchGraph], labelling: bool = False) -> np.ndarray:
        """Boolean mask: ``archs`` meeting every constraint (measured or exact values where known,
        else the adapted predictor's). ``labelling``: an unmeasured device latency passes when
        it meets the bound with probability ``>= LABEL_PROB`` (candidates worth an accuracy label)."""
        from nagen import constraints as C

        mask = np.ones(len(archs), dtype=bool)
        if not self.constraints or not len(archs):
            return mask
        texts = [self.space.format(a) for a in archs]
        for f in self._feasibility():
            pred = f.predict(list(archs))
            if not hasattr(f, "measured"):  # exact costs
                mask &= f.constraint.ok(pred)
                continue
            known = np.array([t in f.measured for t in texts], dtype=bool)
            pred = np.array([f.measured.get(t, p) for t, p in zip(texts, pred)])
            ok = f.constraint.ok(pred)
            mask &= np.where(known, ok, f.prob_ok(pred) >= C.LABEL_PROB) if labelling else ok
        return mask

    def constraint_values(self, trial: TrialRecord, feasibility: Sequence[Any] | None = None) -> dict[str, dict[str, Any]]:
        """``{metric: {"value", "source" ("exact" | "measured" | "predicted"), "ok"}}`` of a trial.

        ``feasibility``: the models of :meth:`_feasibility`, when the caller already holds them
        (it re-reads the measurements from storage).
        """
        arch = self.space.parse(trial.arch)
        out: dict[str, dict[str, Any]] = {}
        for f in self._feasibility() if feasibility is None else feasibility:
            known = f.measured.get(trial.arch) if hasattr(f, "measured") else None
            if hasattr(f, "measured"):
                v, src = (known, "measured") if known is not None else (float(f.predict([arch])[0]), "predicted")
            else:
                v, src = float(f.predict([arch])[0]), "exact"
            out[f.constraint.metric] = {"value": float(v), "source": src, "ok": bool(f.constraint.ok(v))}
        return out

    def _verify(self) -> None:
        """Spend the remaining device measurements on the best labelled candidates.

        Each step measures the candidate with the largest expected gain over the best answer
        so far, ``P(feasible) * (value - best)``, where "best" is the best measured-feasible
        value or, before there is one, the best *safe* candidate's (``P >= SAFE``); every
        measurement re-adapts the predictor, so probabilities are re-computed. While no
        candidate is measured feasible, the last measurement goes to the best safe candidate
        (or the likeliest one), so the study ends with a verified answer whenever it can.
        """
        from nagen.constraints import SAFE, DeviceFeasibility

        if not self.constraints or len(self.objectives) > 1:
            return
        devs = [f for f in self._feasibility() if isinstance(f, DeviceFeasibility)]
        if not devs:
            return
        done = [t for t in self.trials if t.state == "complete"]
        if not done:
            return
        score = self._signed(done)[:, 0]
        archs = [self.space.parse(t.arch) for t in done]
        measurable = {f.constraint.metric: {self.space.format(a) for a in f.candidates or ()} for f in devs}
        while True:
            feas = self._feasibility()
            status = [self.constraint_values(t, feas) for t in done]
            known_ok = [i for i, st in enumerate(status) if all(s["ok"] and s["source"] != "predicted" for s in st.values())]
            best = max((score[i] for i in known_ok), default=None)
            cands, prob, dev = [], [], []
            for i, st in enumerate(status):
                if any(s["source"] != "predicted" and not s["ok"] for s in st.values()):
                    continue  # known infeasible (exact, or measured)
                unknown = [f for f in devs if st[f.constraint.metric]["source"] == "predicted"]
                if not unknown or (best is not None and score[i] <= best):
                    continue
                if any(f.candidates is not None and done[i].arch not in measurable[f.constraint.metric] for f in unknown):
                    continue  # a table measurer of some cells only cannot measure this one
                ps = [float(f.prob_ok(st[f.constraint.metric]["value"])) for f in unknown]
                f = unknown[int(np.argmin(ps))]  # the likeliest to fail is measured first
                if f.measurements_left <= 0:
                    continue
                cands.append(i)
                prob.append(float(np.prod(ps)))
                dev.append(f)
            if not cands:
                return
            prob_a, sc = np.array(prob), score[cands]
            safe = prob_a >= SAFE
            last = min(f.measurements_left for f in dev) <= 1
            if best is None and (last or not safe.any()):
                # secure an answer: the best safe candidate, else the likeliest to be feasible
                j = int(np.argmax(np.where(safe, sc, -np.inf))) if safe.any() else int(np.argmax(prob_a))
            else:
                base = best if best is not None else float(sc[safe].max())
                gain = prob_a * np.maximum(sc - base, 0.0)
                if gain.max() <= 0:
                    if best is not None:
                        return  # nothing left can beat the verified answer
                    j = int(np.argmax(np.where(safe, sc, -np.inf)))
                else:
                    j = int(np.argmax(gain))
            if self._measure(dev[j], archs[cands[j]]) is None:
                return

    def _default_name(self, config: Mapping[str, Any]) -> str:
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.space.name}-{'+'.join(self.objectives)}-{config['method']}-seed{self.seed}-{digest}"

    def __repr__(self) -> str:
        return f"Study({self.name!r}, space={self.space.name!r}, objectives={self.objectives}, trials={len(self.trials)})"

    # ------------------------------------------------------------------ results
    @property
    def trials(self) -> list[TrialRecord]:
        """Every trial (running, complete, failed) in trial order, read from storage."""
        return self.storage.trials(self.name)

    @property
    def history(self) -> list[TrialRecord]:
        """Finished trials (complete and failed) in trial order."""
        return [t for t in self.trials if t.state != "running"]

    def _signed(self, trials: Sequence[TrialRecord]) -> np.ndarray:
        """``n x k`` values of complete trials, signed so every column is maximised."""
        sign = np.array([1.0 if d == "max" else -1.0 for d in self.directions])
        if not trials:
            return np.zeros((0, len(self.objectives)))
        return np.array([[t.values[o] for o in self.objectives] for t in trials], dtype=np.float64) * sign

    @property
    def best(self) -> TrialRecord:
        """The best complete trial (single objective; first one on ties). With constraints: the
        best whose exact or measured values meet them; if none is measured, the best predicted
        to (with a warning).

        Raises:
            StudyError: no complete trial yet, several objectives (use :attr:`front`), or (with
                constraints) no labelled trial meets them, measured or predicted.
        """
        if len(self.objectives) > 1:
            raise StudyError(f"study {self.name!r} has {len(self.objectives)} objectives; use study.front for the Pareto front")
        trials = self.trials
        done = [t for t in trials if t.state == "complete"]
        if not done:
            failed = [t for t in trials if t.state == "failed"]
            if failed:
                raise StudyError(
                    f"study {self.name!r} has no complete trial: all {len(failed)} finished trials failed; the first "
                    f"(trial {failed[0].number}) because {failed[0].reason or 'of an unrecorded reason'}"
                )
            raise StudyError(f"study {self.name!r} has no complete trial yet; call optimize(budget) first")
        if self.constraints:
            return self._best_feasible(done)
        return done[int(np.argmax(self._signed(done)[:, 0]))]

    def _best_feasible(self, done: list[TrialRecord]) -> TrialRecord:
        """Best trial whose constraint values are all known (exact or measured) and met; if none
        is known, the best predicted-feasible one, with a warning."""
        import warnings

        feas = self._feasibility()
        status = [self.constraint_values(t, feas) for t in done]
        score = self._signed(done)[:, 0]
        known = [all(s["ok"] and s["source"] != "predicted" for s in st.values()) for st in status]
        if any(known):
            return done[max((i for i, k in enumerate(known) if k), key=lambda i: (score[i], -i))]
        likely = [i for i, st in enumerate(status) if all(s["ok"] for s in st.values())]
        if not likely:
            # every labelled architecture is measured (or predicted) to break a bound: returning
            # one would hand back an architecture known not to meet what was asked
            raise StudyError(
                f"study {self.name!r}: none of its {len(done)} labelled architectures meets "
                f"{[str(c) for c in self.constraints]}, measured or predicted; raise the budget or device_samples, "
                "or loosen the bound"
            )
        warnings.warn(
            f"study {self.name!r}: no labelled architecture has a measured value meeting {[str(c) for c in self.constraints]}; "
            "returning the best one the latency predictor expects to meet them, unverified (raise device_samples to verify more)",
            stacklevel=3,
        )
        return done[max(likely, key=lambda i: (score[i], -i))]

    @property
    def front(self) -> list[TrialRecord]:
        """Complete trials no other complete trial dominates (all of them optimal for one objective)."""
        done = [t for t in self.trials if t.state == "complete"]
        if self.constraints:
            feas = self._feasibility()
            done = [t for t in done if all(s["ok"] for s in self.constraint_values(t, feas).values())]
        if not done:
            return []
        return [t for t, keep in zip(done, _non_dominated(self._signed(done))) if keep]

    # ------------------------------------------------------------------ the loop
    def optimize(self, budget: int, batch_size: int = 1, progress: bool = False) -> Study:
        """Label until the study holds ``budget`` trials in total (complete or failed); returns ``self``.

        ``budget`` counts the study's trials across all sessions and processes, so calling
        ``optimize(50)`` on a study re-opened after 30 labels pays for 20 more, and two
        processes calling ``optimize(50)`` on one study share the 50. Trials that a process of
        this machine reserved and died before labelling are labelled here, also those left
        while this call ran, before it returns.

        Same seed, same trials: an interrupted and resumed study ends as an uninterrupted one
        when it resumes with the same settings. Two things decide the rounds and are not stored:
        ``batch_size`` (the last round of a call is cut to its budget, so ``optimize(5,
        batch_size=2)`` then ``optimize(15, batch_size=2)`` proposes rounds of 2, 2, 1, 2, ...
        where ``optimize(15, batch_size=2)`` proposes 2, 2, 2, ...; with ``batch_size=1``, or
        budgets that are multiples of it, they agree), and the acquisition settings
        ``mc_samples`` / ``max_acquisition_pool`` ``load_study`` may change.

        Args:
            budget: total number of trials.
            batch_size: ``q``, architectures proposed and labelled together per round.
            progress: show a tqdm bar.

        Raises:
            StudyError: no labeller (re-opened study whose labeller is not stored).
        """
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
            raise InvalidArgumentError(f"budget must be a non-negative integer, got {budget!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
        if self.labeller is None:
            raise StudyError(
                f"study {self.name!r} has no labeller; pass labeller=... (only a labeller of a registered table is stored "
                "with a study; a CSV table, a training or a callable labeller is not: pass the same one again, e.g. "
                "TableLabeller(Benchmark.from_csv(path, space), metric))"
            )
        from nagen.executors import get_executor

        kind = self._executor_kind()
        owned = kind is not None  # an Executor the caller passed stays theirs to close
        executor = get_executor(self._executor_spec if kind is None else kind, timeout=self.timeout, **self._executor_options)
        try:
            # a labeller that cannot work here (unpicklable for worker processes, bad build options)
            # fails now, before any trial is reserved
            executor.check(self.labeller, self._space_ref)
        except BaseException:
            if owned:
                executor.close()
            raise
        if progress and self._feas is None:
            self._warm_latency_models()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            # a study re-opened with a smaller budget than it already holds labels nothing more: show n/n
            bar = tqdm(total=max(budget, len(self.trials)), desc=f"study {self.name}", leave=False)
        me = owner_id()
        held: list[int] = []  # trials this call reserved and has not finished labelling
        # the database file itself: "th.db", "./th.db" and its absolute path are one study
        key = (os.path.realpath(self.storage.path) if not self.storage.in_memory else id(self.storage), self.name)
        # no other optimize() of this study runs in this process (threads): a running trial owned by
        # this process is one an interrupt orphaned (e.g. a second Ctrl-C while the first was handled)
        alone = key not in _OPTIMIZING
        _OPTIMIZING[key] = _OPTIMIZING.get(key, 0) + 1

        def label(trials: Sequence[TrialRecord]) -> None:
            held[:] = [t.number for t in trials]
            self._label(executor, trials)
            held.clear()

        try:
            # trials a killed process reserved but never labelled: finish them first, exactly as
            # the killed run would have
            label(self.storage.adopt_stale(self.name, me, own=alone))
            stalls = 0
            while True:
                trials = self.trials
                if bar is not None:
                    bar.n = sum(t.state != "running" for t in trials)
                    bar.refresh()
                if len(trials) >= budget:
                    # a same-host peer killed after this call started left its reserved trials
                    # running: they count toward the budget, so label them before returning
                    stale = self.storage.adopt_stale(self.name, me) if any(t.state == "running" for t in trials) else []
                    if not stale:
                        break
                    label(stale)
                    continue
                q = min(int(batch_size), budget - len(trials))
                picks = self._propose(trials, q)
                if not picks:
                    if self.constraints:
                        # an enumerable space was screened whole (_keep_feasible): say how many cells meet them
                        cells = self._screened() if self._domain is None else None
                        predicted = " (as predicted)" if any(c.device is not None for c in self.constraints) else ""
                        if cells is None:
                            why = f"can any architecture of space {self.space.name!r} meet them?"
                        elif not cells:
                            why = f"no architecture of space {self.space.name!r} meets them"
                        else:
                            why = f"all {len(cells)} architectures of space {self.space.name!r} that meet them{predicted} are among its {len(trials)} trials"
                        raise StudyError(
                            f"study {self.name!r}: no unlabelled architecture meets the constraints "
                            f"{[str(c) for c in self.constraints]}; {why}"
                        )
                    classes = _enumerated(self.space) if self._domain is None else None
                    if self._domain is not None:
                        where = f"the table labels {len(self._domain[0])} distinct architectures of space {self.space.name!r}"
                    elif classes is not None and len(trials) >= len(classes[0]):
                        where = f"space {self.space.name!r} is exhausted: all {len(classes[0])} of its distinct architectures are among them"
                    else:
                        where = f"space {self.space.name!r} exhausted?"
                    raise SpaceExhaustedError(
                        f"study {self.name!r}: the proposer found no unlabelled architecture after {len(trials)} trials "
                        f"({where}); the budget was {budget}"
                    )
                reserved = self.storage.reserve(
                    self.name, [(self.space.format(a), a.canonical_hash()) for a in picks], budget=budget, owner=me,
                    config=self._stored_config,
                )
                if not reserved:
                    # another process reserved the same candidates first: re-read and propose again
                    stalls += 1
                    if stalls > 100:
                        raise StudyError(f"study {self.name!r}: 100 proposal rounds in a row were taken by other processes")
                    continue
                stalls = 0
                label(reserved)
            # running trials of other processes still count toward the budget; wait is theirs
            if self.constraints and sum(t.state != "running" for t in self.trials) >= budget:
                self._verify()
            self._warn_foreign_running()
        except BaseException:
            # interrupted (Ctrl-C in a notebook, an error) but alive: stop the labels in flight at
            # once (their results would not be recorded: waiting for them only delays the
            # interrupt) and hand the unlabelled trials back, so the next optimize() labels them as
            # it would after a kill, instead of them counting toward the budget unlabelled for as
            # long as this process lives
            try:
                executor.abort()
            finally:  # a second interrupt during abort() must not keep the trials reserved
                if held:
                    self.storage.release(self.name, held, me)
            raise
        finally:
            _OPTIMIZING[key] -= 1
            if not _OPTIMIZING[key]:
                del _OPTIMIZING[key]
            if bar is not None:
                bar.n = sum(t.state != "running" for t in self.trials)
                bar.close()
            if owned:
                executor.close()
        return self

    def _warn_foreign_running(self) -> None:
        """Say so when trials reserved on other machines (or in another container of this one)
        still count toward the budget unlabelled: their processes cannot be checked from here, and
        if they are gone only the user knows."""
        import warnings

        from nagen.storage import unchecked_host

        hosts = sorted({h for t in self.trials if t.state == "running" and (h := unchecked_host(t.owner)) is not None})
        if hosts:
            warnings.warn(
                f"study {self.name!r} has trials still running on {hosts} ('host@ns': another PID namespace, a "
                "container, of that host), counted toward the budget; if no process "
                f"there works on this study any more (its run was killed), study.release_host({hosts[0]!r}) hands them "
                "back to be labelled (while one does, releasing them would label them twice)",
                stacklevel=3,
            )

    def release_host(self, host: str) -> int:
        """Hand back the trials reserved by processes on machine ``host`` (a run there is known to
        be gone; ``host@ns``: in one PID namespace, a container, of it); the next :meth:`optimize`
        labels them. Returns how many."""
        return self.storage.release_host(self.name, host)

    def _label(self, executor: Any, reserved: Sequence[TrialRecord]) -> None:
        """Label reserved trials, committing each outcome as soon as it arrives (an interrupt or a
        kill later in the batch then loses, and relabels, only the labels still running)."""
        if not reserved:
            return

        me = owner_id()

        def commit(i: int, o: Any) -> None:
            t = reserved[i]
            if o.ok:
                self.storage.finish(self.name, t.number, "complete", o.values, labeller_of=me)
            else:
                self.storage.finish(self.name, t.number, "failed", reason=o.reason, labeller_of=me)

        archs = [t.arch for t in reserved]
        try:
            takes, more = keyword_parameters(executor.run)
        except (TypeError, ValueError):
            takes, more = set(), True
        if "on_outcome" in takes or more:
            executor.run(self.labeller, archs, self._space_ref, self.objectives, on_outcome=commit)
        else:  # an executor written before per-label commits overrides run(): commit after its batch
            for i, o in enumerate(executor.run(self.labeller, archs, self._space_ref, self.objectives)):
                commit(i, o)

    def context(self, trials: Sequence[TrialRecord] | None = None) -> ProposalContext:
        """The proposal context of the next round (for custom proposers and debugging)."""
        trials = self.trials if trials is None else list(trials)
        parse = self._parse
        done = [t for t in trials if t.state == "complete"]
        return ProposalContext(
            space=self.space,
            objectives=list(self.objectives),
            directions=list(self.directions),
            archs=[parse(t.arch) for t in done],
            Y=self._signed(done),
            failed=[parse(t.arch) for t in trials if t.state == "failed"],
            exclude={t.hash for t in trials},
            pending=[parse(t.arch) for t in trials if t.state == "running"],
            seed=round_seed(self.seed, len(trials)),
            mc_samples=self.mc_samples,
            feasible=(lambda archs: self._allowed(archs)) if self._restricted else None,
            domain=self._domain,
        )

    def _parse(self, text: str) -> ArchGraph:
        """``space.parse``, remembered: every round re-reads the whole history, and parsing it
        again was half of a long study's time (1,000 random labels: 18 of 37 s)."""
        arch = self._parsed.get(text)
        if arch is None:
            arch = self._parsed[text] = self.space.parse(text)
        return arch

    @property
    def _restricted(self) -> bool:
        """Whether some proposals may be unlabellable here: constraints, or a table of part of the space."""
        return bool(self.constraints) or self._domain is not None

    def _allowed(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Boolean mask: ``archs`` worth a label (predicted to meet the constraints, and rows of the
        table when it covers part of the space)."""
        mask = self._feasible(archs, labelling=True)
        if self._domain is not None:
            mask &= np.array([a.canonical_hash() in self._domain_rows for a in archs], dtype=bool)
        return mask

    def _screened(self) -> list[tuple[ArchGraph, str]] | None:
        """``(arch, hash)`` of every cell of an enumerable space that the constraints allow, in
        enumeration order; None when the space is not enumerable. Exact bounds are screened once
        per study (their feasible cells never change); a device model adapts as it is measured,
        so its bounds are screened again on every call."""
        en = _enumerated(self.space)
        if en is None:
            return None
        if self._feasible_cells is not None:
            return self._feasible_cells
        cells = [(a, h) for a, h, keep in zip(*en, self._allowed(en[0])) if keep]
        if all(c.device is None for c in self.constraints):
            self._feasible_cells = cells
        return cells

    def _keep_feasible(self, archs: list[ArchGraph], q: int | None, ctx: ProposalContext) -> list[ArchGraph]:
        """``archs`` allowed (see :meth:`_allowed`), at most ``q``; topped up with allowed random
        ones when too few are left (most proposers ignore ``ctx.feasible``)."""
        if not self._restricted:
            return archs if q is None else archs[:q]
        out = [a for a, ok in zip(archs, self._allowed(archs)) if ok]
        want = 1 if q is None else q
        if len(out) < want:
            extra = ctx.random(max(50 * want, 500), salt=8)
            seen = {a.canonical_hash() for a in out}
            out += [a for a, ok in zip(extra, self._allowed(extra)) if ok and a.canonical_hash() not in seen]
            # a bound few cells meet (25 of NB201's 15,625 have >= 1.2M params) is missed by random
            # draws: an enumerable space is screened whole, once the draws came up short
            cells = self._screened() if len(out) < want and self._domain is None else None
            if cells is not None:
                seen |= {a.canonical_hash() for a in out} | set(ctx.exclude)
                ok = [a for a, h in cells if h not in seen]
                out += [ok[i] for i in ctx.rng(9).permutation(len(ok))[: want - len(out)]]
        if self._domain is not None:
            # a table row is looked up exactly: an equivalent cell (a mutation's) becomes the row itself
            out = [self._domain_rows[a.canonical_hash()] for a in out]
        return out if q is None else out[:q]

    def _propose(self, trials: list[TrialRecord], q: int) -> list[ArchGraph]:
        ctx = self.context(trials)
        n_done = len(ctx.archs)
        # with constraints (or a partial table) a direct proposer is asked for more than q, and its first q allowed ones are taken
        ask = q if not self._restricted else max(20 * q, 50)
        if self.constraints:
            self._feasibility()
        if not self.proposer.uses_surrogate:
            return self._keep_feasible(self.proposer.propose(ctx, ask), q, ctx)
        if n_done < max(self.n_initial, 2):
            n = min(q, max(self.n_initial, 2) - n_done)
            if self.initial in ("zc", "zc+random"):
                # capped: the pool is drawn (and its proxies computed) again every initial round
                cands = self._keep_feasible(ctx.random(min(20 * self.n_initial, ZC_POOL_MAX), salt=6), None, ctx)
                ranked = _proxy_ranked(self.space, cands)
                if self.initial == "zc":
                    return ranked[:n]
                # the proxy's best half (the accurate, large end of a front), then random cells (the rest of it)
                top = ranked[: (self.n_initial + 1) // 2]
                seen = {a.canonical_hash() for a in top}
                rest = [a for a in self._keep_feasible(ctx.random(self.n_initial, salt=5), None, ctx) if a.canonical_hash() not in seen]
                return (top + rest)[:n]
            return self._keep_feasible(self.proposer.initial(ctx, ask if self._restricted else n), n, ctx) or ctx.random(
                q, salt=5
            )
        if self.constraints:
            self._feasibility()  # spends the adaptation measurements before the round's RNG is forked
        with _torch_round(ctx.seed):
            ctx.surrogates = self._fit_surrogates(ctx)
            pending = {p.canonical_hash() for p in ctx.pending}
            pool = [a for a in ctx.unlabelled(self.proposer.propose(ctx, q)) if a.canonical_hash() not in pending]
            pool = self._keep_feasible(pool, None, ctx)
            picks = pool if len(pool) <= q else self._acquire(ctx, pool, q)
        return self._explore_picks(ctx, picks, len(trials))

    def _explore_picks(self, ctx: ProposalContext, picks: list[ArchGraph], n_trials: int) -> list[ArchGraph]:
        """Replace the last of ``picks`` by data-free choices, ``explore`` of the labels over the
        study: each the zero-cost proxy's best of 20 random unlabelled architectures (random
        where the proxies are not free), the rule of the ``"zc"`` initial design. How many in
        this round follows from the trial count alone, so a resumed study makes the same choices."""
        share = self.explore
        k = int(np.floor((n_trials + len(picks)) * share + 1e-9)) - int(np.floor(n_trials * share + 1e-9))
        k = min(k, len(picks))
        if k <= 0:
            return picks
        taken = {a.canonical_hash() for a in picks} | {p.canonical_hash() for p in ctx.pending}
        cands = [a for a in ctx.random(20 * k, salt=11) if a.canonical_hash() not in taken]
        cands = self._keep_feasible(cands, None, ctx)
        if not cands:
            return picks
        if _has_free_proxies(self.space):
            cands = _proxy_ranked(self.space, cands)
        chosen = cands[:k]
        return picks[: len(picks) - len(chosen)] + chosen

    def _fit_surrogates(self, ctx: ProposalContext) -> list[Any]:
        """One surrogate per objective on the signed values (seeded by the round)."""
        return [
            _make_surrogate(self.surrogate, self.space, ctx.seed, self._surrogate_options).fit(ctx.archs, ctx.Y[:, j])
            for j in range(ctx.Y.shape[1])
        ]

    def _prefilter(self, ctx: ProposalContext, pool: list[ArchGraph], X: Any) -> Any:
        """Indices (sorted) of the pool rows the acquisition is evaluated on."""
        import torch

        if len(pool) <= self.max_acquisition_pool:
            return torch.arange(len(pool))
        from botorch.models.utils import gpt_posterior_settings
        from botorch.posteriors import GPyTorchPosterior
        from gpytorch.models import ExactGP

        from nagen.predictors.gp import marginal_latent

        k = ctx.Y.shape[1]
        scores = []
        with torch.no_grad():
            for p in ctx.surrogates:
                if isinstance(p.model, ExactGP):
                    # model.posterior(X) row by row, in one call (marginal_latent blocks the rows itself):
                    # the joint covariance, of which only the diagonal is read, was most of a round's time
                    with gpt_posterior_settings():
                        post = GPyTorchPosterior(marginal_latent(p.model, X))
                    if getattr(p.model, "outcome_transform", None) is not None:
                        post = p.model.outcome_transform.untransform_posterior(post, X=X)
                    posts: Iterable[Any] = [post]
                else:
                    # one joint posterior per chunk (made one at a time), of which only the diagonal is
                    # read. A batch of 1 x d posteriors instead would make GPyTorch rebuild the training
                    # kernel once per candidate: 10x slower at 100 labels.
                    posts = (p.model.posterior(X[i : i + 1024]) for i in range(0, len(X), 1024))
                moments = [(post.mean.reshape(-1), post.variance.clamp_min(0).sqrt().reshape(-1)) for post in posts]
                mu, sd = (torch.cat(m) for m in zip(*moments))
                scores.append([mu + beta * sd for beta in (0.0, 0.5, 1.0, 2.0, 3.0)])
        if k > 1:
            return self._prefilter_fronts(ctx, scores)
        keep: set[int] = set()
        per = max(1, self.max_acquisition_pool // 5)  # one objective: the top of each of its 5 rankings
        for s in scores[0]:
            keep.update(torch.topk(s, min(per, len(s))).indices.tolist())
        return torch.tensor(sorted(keep))

    def _prefilter_fronts(self, ctx: ProposalContext, scores: list[list[Any]]) -> Any:
        """Several objectives: the two best non-dominated layers of the posterior means and of
        ``mean + std``, then the top ``max_acquisition_pool // (5k + 4)`` rows of each
        single-objective ranking and of four random Chebyshev scalarisations; at most
        ``max_acquisition_pool`` rows.

        Why the fronts: the hypervolume improvement's maximiser usually sits on the front of the
        posterior means, and a point in the middle of that front can rank 70th to 190th on every
        single objective, below the per-ranking cut (NB201 accuracy vs latency: the cut alone
        missed the maximiser in 3 of 8 rounds checked). Why not fill the whole budget from the
        rankings: qLogNEHVI's cost grows with the rows, and filling 512 made a 200-label NB201
        study over 3x slower (the cut alone kept 126-182 rows).
        """
        import torch

        from nagen.multiobjective import non_dominated

        k, cap = len(scores), self.max_acquisition_pool
        chosen: dict[int, None] = {}  # insertion-ordered set

        def add(rows: Any) -> None:
            for i in rows:
                if len(chosen) >= cap:
                    return
                chosen.setdefault(int(i), None)

        for beta in (0, 2):  # the mean, and mean + 1 std
            M = torch.stack([obj[beta] for obj in scores], -1).double().numpy()
            rest = np.arange(len(M))
            for _ in range(2):
                front = non_dominated(M[rest], ["max"] * k)
                add(rest[front])
                rest = rest[~front]
                if not len(rest):
                    break
        per = max(1, cap // (5 * k + 4))
        rankings = [s for obj in scores for s in obj]
        gen = torch.Generator().manual_seed(ctx.seed)
        S = torch.stack([obj[2] for obj in scores], -1)  # [n, k] UCB(beta=1)
        S = (S - S.min(0).values) / (S.max(0).values - S.min(0).values).clamp_min(1e-12)
        for _ in range(4):  # random Chebyshev scalarisations cover the middle of the front
            w = torch.rand(k, generator=gen)
            rankings.append(((w / w.sum()) * S).min(-1).values)
        tops = [torch.topk(r, min(per, len(r))).indices for r in rankings]
        for pos in range(per):  # the rankings' tops in turn, so the cap cuts them evenly
            if len(chosen) >= cap:
                break
            add(int(t[pos]) for t in tops if pos < len(t))
        return torch.tensor(sorted(chosen))

    def _acquire(self, ctx: ProposalContext, pool: list[ArchGraph], q: int) -> list[ArchGraph]:
        """``q`` pool members maximising the (hypervolume) noisy expected improvement."""
        import torch
        from botorch.optim import optimize_acqf_discrete

        from nagen.predictors.acquisition import build_acquisition, shared_inputs

        first = ctx.surrogates[0]
        X = first.features(pool)  # [n_pool, d] float64
        try:  # refused rather than acquired on silently wrong posteriors (a user's per-objective features)
            X_base = shared_inputs(ctx.surrogates, ctx.archs)
        except InvalidArgumentError as e:
            raise StudyError(f"study {self.name!r}: surrogate {self.surrogate!r}: {e}") from None
        idx = self._prefilter(ctx, pool, X)
        choices = X[idx]
        X_pending = first.features(ctx.pending) if ctx.pending else None
        ref = ctx.ref_point().tolist() if len(ctx.surrogates) > 1 else None
        acq = build_acquisition(
            [p.model for p in ctx.surrogates], X_base, X_pending=X_pending, ref_point=ref, mc_samples=ctx.mc_samples, seed=ctx.seed
        )
        # each batch row of the acquisition joins every training point to itself ([rows, n + q, d] WL
        # features, copied again by the kernel): 256 rows at 600 labels peaked at 7 GB. The rows per
        # batch keep that under ~256 MB a copy; below ~150 labels on NB201 it stays 256 (the values
        # do not depend on the batching)
        width = (len(X_base) + q + (len(X_pending) if X_pending is not None else 0)) * max(int(X.shape[1]), 1) * 8
        rows_per_batch = int(min(256, max(1, _ACQ_BATCH_BYTES // width)))
        with torch.no_grad():
            cand, _ = optimize_acqf_discrete(acq, q=q, choices=choices, max_batch_size=rows_per_batch, unique=True)
        rows = {tuple(r): int(i) for i, r in zip(idx.tolist(), choices.tolist())}
        out = []
        for r in cand.tolist():
            i = rows.get(tuple(r))
            if i is None:  # float round trip failed: nearest choice
                i = int(idx[int(torch.cdist(torch.tensor([r], dtype=choices.dtype), choices).argmin())])
            out.append(pool[i])
        return out


#: ``Study(explore=None)`` with several objectives: the share of labels chosen without the model.
#: Why: the two-objective study on NB201 (qLogNEHVI, CIFAR-10 vs params, tuning seeds 100-107, 100
#: labels) often spends the budget where its first five random cells sent it (seed 1 of the
#: reported ones labels no true-front cell in 200 labels). One proxy-chosen label per round of 10
#: (as level-wise BO's ``explore_every``) raised the hypervolume fraction on 7 of 8 seeds
#: (mean 0.808 -> 0.905; with the ``"zc+random"`` start as well 0.971; ``benchmarks/results/gflownet.md``).
#: Single-objective studies keep 0: there it was worse (``benchmarks/results/hardware.md``, part 3).
EXPLORE_MULTI = 0.1

# inspect.signature(Study) would otherwise read __new__'s (*args, **kwargs): option checks
# (check_options(Study, ...)) and help() need __init__'s parameters
Study.__signature__ = inspect.signature(Study.__init__).replace(  # type: ignore[attr-defined]
    parameters=list(inspect.signature(Study.__init__).parameters.values())[1:]
)

#: the ``Study`` keywords ``load_study`` passes through (the rest come from storage)
_LOAD_OPTIONS = ("proposer", "executor", "timeout", "executor_options", "max_acquisition_pool", "mc_samples", "measurers", "latency_models")


def _rebuild_space_class(study: str, path: str) -> Any:
    """An instance of the unregistered space class ``"module:qualname"`` a study was created with."""
    import importlib

    module, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj()
    except Exception as e:  # noqa: BLE001 - any failure means the same thing to the caller
        raise StudyError(
            f"study {study!r} searched the unregistered space class {path!r}, which cannot be rebuilt here "
            f"({type(e).__name__}: {e}); re-open it with Study(<that space>, ..., name={study!r}, storage=...)"
        ) from None


def load_study(name: str, storage: Any = "sqlite:///nagen.db", labeller: Labeller | None = None, **options: Any) -> Study:
    """Re-open a stored study by name (its space, objectives, method, seed come from storage).

    Args:
        name: the study name.
        storage: where it is stored.
        labeller: needed to continue labelling unless the stored study has a table labeller.
        options: other ``Study`` keyword arguments (executor, timeout, ...).

    Raises:
        StudyNotFoundError: no such study (the message lists the stored ones), or no database at ``storage``.
        InvalidArgumentError: ``options`` repeat a setting the study stores (``seed``, ``n_initial``, ...).
    """
    other = sorted(set(options) - set(_LOAD_OPTIONS))
    if other:
        # the stored configuration decides these (a different seed would be another study)
        raise InvalidArgumentError(
            f"load_study cannot set {other}: the stored study fixes its space, objectives, seed and design; "
            f"options may set {list(_LOAD_OPTIONS)}"
        )
    if not isinstance(storage, SQLiteStorage) and not storage_exists(storage if storage is not None else "sqlite:///nagen.db"):
        # opening a mistyped path would create an empty database there
        raise StudyNotFoundError(f"no study database at {storage!r}, so no study {name!r}")
    store = get_storage(storage)
    cfg = store.study_config(name)
    method = cfg["method"]
    proposer: str | Proposer
    if "proposer" in options:  # the caller's proposer replaces the stored one: nothing to rebuild
        proposer = options.pop("proposer")
    elif method in _PROPOSERS:
        proposer = _PROPOSERS[method](**cfg.get("proposer", {}))
    elif "generator" in cfg.get("proposer", {}):
        try:
            proposer = GeneratorProposer(**cfg["proposer"])
        except InvalidSpecError as e:
            raise StudyError(f"study {name!r} proposed with generator {method!r}: {e} (import the module that registers it first)") from None
    elif method == "transfer":
        # a TransferTask's proposer is built from the task, not registered; its config records the task
        from nagen.transfer import TransferTask

        proposer = TransferTask.from_config(cfg.get("proposer", {}), cfg["objectives"][0]).proposer()
    else:
        raise StudyError(
            f"study {name!r} used proposer {method!r}, which is not registered; pass proposer=<a Proposer instance "
            f"configured as before> (registered: {choices_hint(_PROPOSERS)})"
        )
    if labeller is None and cfg.get("labeller"):
        labeller = from_spec(cfg["labeller"])
    with warnings.catch_warnings():
        # the stored surrogate/initial of a direct method were the user's choice back then: no news now
        warnings.simplefilter("ignore", IgnoredSettingWarning)
        space: Any = cfg["space"]
        if "space_spec" in cfg:
            import nagen.spaces

            space = nagen.spaces.from_spec(cfg["space_spec"])
        elif "space_class" in cfg:
            space = _rebuild_space_class(name, cfg["space_class"])
        return Study(
            space,
            list(zip(cfg["objectives"], cfg["directions"])),
            labeller,
            proposer=proposer,
            storage=store,
            name=name,
            seed=cfg["seed"],
            n_initial=cfg["n_initial"],
            surrogate=cfg.get("surrogate", "gp"),
            surrogate_options=cfg.get("surrogate_options"),
            initial=cfg.get("initial", "random"),
            constraints=cfg.get("constraints"),
            device_samples=cfg.get("device_samples"),
            explore=cfg.get("explore"),
            **options,
        )
