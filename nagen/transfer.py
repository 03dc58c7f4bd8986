"""Transferable NAS: use source tasks' tables, then search a target with a few labels.

>>> from nagen.transfer import TransferTask
>>> task = TransferTask(sources=["cifar100_test", "imagenet16_test"], target="cifar10_test")  # doctest: +SKIP
>>> study = task.search(budget=10)                                                             # doctest: +SKIP
>>> study.best.values                                                                          # doctest: +SKIP

Two methods (``TransferTask(method=...)``):

* ``"consensus"`` (default, :class:`ConsensusProposer`): the prior is the *source consensus*,
  the Borda rank average of the source columns over the table (the sources' whole tables are
  free: they are other tasks), so the first label is the architecture the sources agree on
  most. From the second target label on, a GP on the target's (standardised) labels with the
  consensus as mean function and a Hamming-distance kernel on the architectures' op one-hots
  re-ranks the unlabelled architectures by posterior mean (greedy). The GP's hyper-parameters
  are chosen automatically by **leave-one-source-out** on the sources (search source ``B``
  with ``A``'s column as the prior, for every ordered pair, and keep the setting that reaches
  ``B``'s best cells in fewest labels), never with the target's table; with one source, fixed
  defaults. Architectures without any source value (not in the table) get the task-aware
  meta-predictor's zero-shot prediction mapped onto the consensus' rank scale (the
  meta-predictor is then meta-trained on the sources, lazily).
* ``"meta"`` (:class:`MetaProposer`): greedy on the task-aware meta-predictor
  (:class:`nagen.predictors.meta.MetaPredictor`, pairs task encoding) meta-trained on the source
  tables: its zero-shot argmax first, then after ``k >= 2`` labels the argmax of the adapted
  predictor (task embedding of the ``k`` pairs plus the closed-form ridge correction).

Conditional generation (:meth:`TransferTask.generate`, ``nagen.generate(transfer_from=...)``):
the diffusion model guided by the meta-predictor adapted to the target, zero-shot or from a few
measured labels (DiffusionNAG's transferable generation); in spaces too large to enumerate,
``TransferTask(generated=k)`` adds ``k`` such samples to every round's candidate pool.

Only the target labels the study paid for are used on the target. Everything is deterministic
given the study's labels (the meta-predictor, when used, also depends on the seed). A
meta-trained model, and the leave-one-source-out choice, are cached on disk per (space,
sources, seed, epochs, encoding), so repeated searches do not compute them again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nagen.errors import (
    InvalidArgumentError,
    InvalidSpecError,
    NagenError,
    UnknownMetricError,
    check_int,
    check_options,
    choices_hint,
    is_real,
    named_options,
    unknown_metric_message,
)
from nagen.graph import ArchGraph
from nagen.storage import cache_dir as _cache_dir
from nagen.storage import save_atomic
from nagen.study import ProposalContext, Proposer, Study
from nagen._threads import single_threaded

__all__ = ["TransferTask", "MetaProposer", "ConsensusProposer", "SourceConsensus", "default_cache_dir"]

#: bump when the cached model format or the meta-training recipe changes
_CACHE_VERSION = 2  # 2: minimised sources are learned sign-flipped (higher is better, as the study)
#: bump when the leave-one-source-out choice (grid, criterion, consensus) changes
_LOSO_VERSION = 1


def default_cache_dir() -> Path:
    """``$NAGEN_CACHE``, else ``~/.cache/nagen`` (see :func:`nagen.storage.cache_dir`): where meta-trained models are kept."""
    return _cache_dir()


class _GreedyProposer(Proposer):
    """Labels the unlabelled architectures a subclass's ``scores`` ranks highest (no random start)."""

    uses_surrogate = False
    name = "transfer"
    pool_size = 5000
    #: conditional-generator samples added to the pool in spaces too large to enumerate (0: none)
    generated = 0
    #: their diffusion generator (None: the space's shipped one, else one trained once per process)
    generator: Any = None
    #: guidance weight of those samples (TransferTask.generate's default)
    generated_scale = 2.0

    def scores(self, ctx: ProposalContext, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Higher is better: ``n``."""
        raise NotImplementedError

    def guide_model(self, ctx: ProposalContext) -> Any:
        """The differentiable predictor that steers the generated part of the pool (the meta-predictor
        adapted to the context's labels, or its zero-shot prior before two labels)."""
        raise NotImplementedError

    def candidates(self, ctx: ProposalContext) -> list[ArchGraph]:
        """Every unlabelled architecture of an enumerable space, else a random pool, plus (with
        ``generated > 0``) samples of the diffusion generator guided by :meth:`guide_model`:
        in a large space a random pool rarely holds the target's best cells, the conditional
        generator is where DiffusionNAG's transfer search draws its candidates."""
        en = ctx.enumerated()
        if en is not None:
            pending = {a.canonical_hash() for a in ctx.pending}
            return [a for a, h in zip(*en) if h not in ctx.exclude and h not in pending]
        pool = ctx.random(self.pool_size, salt=7)
        if self.generated > 0:
            from nagen.generators.guidance import Guide
            from nagen.study import DiffusionProposer

            gen = self.generator if self.generator is not None else DiffusionProposer.generator(ctx.space)
            guide = Guide(self.guide_model(ctx), self.generated_scale, "max", name="transfer_score")
            pool = ctx.unlabelled(gen.sample(self.generated, seed=ctx.seed, guides=[guide]) + pool)
        return pool

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The ``n`` unlabelled architectures with the highest scores (with constraints: among those
        predicted to meet them, so a latency bound does not leave the prior's whole top infeasible)."""
        pool = self.candidates(ctx)
        if not pool:
            return []
        order = np.argsort(-self.scores(ctx, pool), kind="stable")
        if ctx.feasible is None:
            return [pool[i] for i in order[:n]]
        out: list[ArchGraph] = []
        for start in range(0, len(order), 1000):  # the prior's best first; most bounds are met within a chunk or two
            chunk = [pool[i] for i in order[start : start + 1000]]
            out += [a for a, ok in zip(chunk, ctx.feasible(chunk)) if ok]
            if len(out) >= n:
                break
        return out[:n]

    def initial(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The first labels: the prior's (zero-shot / consensus) argmax."""
        return self.propose(ctx, n)


class MetaProposer(_GreedyProposer):
    """Greedy proposals from a meta-trained predictor adapted to the study's labels.

    Holds the meta-trained model but no study state: each round adapts it to the labels in
    the context. Single objective only.

    Args:
        meta: a meta-trained ``MetaPredictor``.
        info: JSON settings recorded in the study config (sources, seed, epochs).
        pool_size: candidates scored in spaces too large to enumerate.
        generated: in spaces too large to enumerate, samples of ``generator`` guided by the
            adapted meta-predictor added to each round's random pool (0: none; enumerable spaces
            ignore it).
        generator: a guidable generator (a fitted ``DiffusionGenerator`` of the space) for those
            samples; None: the space's shipped one, else one trained once per process.
    """

    def __init__(self, meta: Any, info: dict[str, Any] | None = None, pool_size: int = 5000, generated: int = 0, generator: Any = None) -> None:
        self.meta = meta
        self.info = dict(info or {})
        self.pool_size = int(pool_size)
        self.generated, self.generator = int(generated), generator

    def config(self) -> dict[str, Any]:
        """The meta-training settings."""
        return dict(self.info)

    def scores(self, ctx: ProposalContext, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Predicted (signed) value of ``archs`` given the context's labels: ``n``."""
        if ctx.Y.shape[1] != 1:
            raise NagenError("transfer search handles one objective")
        if len(ctx.archs) >= 2:
            self.meta.fit(ctx.archs, ctx.Y[:, 0])
            return self.meta.predict(archs).mean
        return self.zero_shot(archs)

    def guide_model(self, ctx: ProposalContext) -> Any:
        """The meta-predictor adapted to the context's labels (its zero-shot prior before two)."""
        if len(ctx.archs) >= 2:
            return self.meta.fit(ctx.archs, ctx.Y[:, 0])
        return self.meta.fit_prior()

    def zero_shot(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Standardised predictions with the task embedded from no label (meta-prior): ``n``."""
        if not archs:
            return np.zeros(0)
        # refitted on every round's labels, so the prior may overwrite the shared model's last fit
        return self.meta.fit_prior().predict(list(archs)).mean


# ------------------------------------------------------------------------------ source consensus
#: GP settings tried by leave-one-source-out (w0: weight of the consensus mean, sw: linear kernel
#: on the per-source scores, sf/l: Hamming kernel amplitude/length-scale, sn: noise; all in
#: standardised units). The last entry is "no adaptation" (consensus order only).
_GP_GRID: list[dict[str, float]] = [
    {"w0": w0, "sw": sw, "sf": sf, "l": ls, "sn": sn}
    for w0 in (0.25, 0.5, 1.0, 2.0)
    for sw in (0.0, 0.5)
    for sf in (0.5, 1.0, 2.0)
    for ls in (1.0, 2.0, 4.0)
    for sn in (0.3, 0.7)
] + [{"w0": 1.0, "sw": 0.0, "sf": 0.0, "l": 1.0, "sn": 0.5}]
#: the setting used when there is a single source (no pair to choose on)
_GP_DEFAULT: dict[str, float] = {"w0": 0.5, "sw": 0.0, "sf": 1.0, "l": 2.0, "sn": 0.3}
#: the consensus is standardised over this many best cells of the table (the region the search labels)
_TOP = 100
#: leave-one-source-out: labels simulated per pair, and the ranks j whose "labels to reach the j-th best" are averaged
_LOSO_BUDGET = 30
_LOSO_TOP_J = 3


def _gauss_rank(score: np.ndarray) -> np.ndarray:
    """Normal scores of ``score`` (higher is better; ties averaged): ``n``."""
    from scipy.stats import norm, rankdata

    return norm.ppf((rankdata(score) - 0.5) / len(score))


def _hamming(F: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Pairwise op-one-hot Hamming distances (number of differing ops): ``len(F) x len(G)``."""
    return 0.5 * (F.sum(1)[:, None] + G.sum(1)[None, :]) - F @ G.T


def _gp_mean(cfg: dict[str, float], F: np.ndarray, g: np.ndarray, P: np.ndarray, lab: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Posterior mean over all rows of ``y(x) = w0 g(x) + f(x)``, ``f ~ GP(0, 1 + sw^2 P P' + sf^2 exp(-ham/l))``.

    ``g`` (consensus) and ``P`` (per-source scores) are standardised over the table's top cells,
    ``y`` holds the labels of rows ``lab`` standardised by their own mean and std.
    """

    def kern(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        k = 1.0 + cfg["sf"] ** 2 * np.exp(-_hamming(F[a] if a is not None else F, F[b]) / cfg["l"])
        if cfg["sw"] > 0:
            k = k + cfg["sw"] ** 2 * ((P[a] if a is not None else P) @ P[b].T)
        return k

    m = cfg["w0"] * g
    K = kern(lab, lab) + cfg["sn"] ** 2 * np.eye(len(lab))
    alpha = np.linalg.solve(K, y - m[lab])
    return m + kern(None, lab) @ alpha


def _posterior(cfg: dict[str, float], F: np.ndarray, g: np.ndarray, P: np.ndarray, lab: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Scores of every row: the consensus ``g`` before 2 labels, else the GP posterior mean given rows ``lab`` valued ``y``."""
    if len(lab) < 2 or (cfg["sf"] == 0 and cfg["sw"] == 0):
        return g.copy()
    sd = y.std()
    ys = (y - y.mean()) / sd if sd > 0 else np.zeros_like(y)
    return _gp_mean(cfg, F, g, P, lab, ys)


class SourceConsensus:
    """The source columns of a table over its architectures (one per canonical class).

    Attributes:
        hashes: canonical hash -> row of the arrays below.
        F: ``n x d`` op one-hots (:func:`nagen.predictors.features.onehot`).
        ranks: ``n x s`` rank of each row under each source (1 = best; NaN = not measured).
        g: ``n`` consensus normal score (Borda: mean rank over the measured sources), standardised
            over the ``_TOP`` best rows; ``P``: ``n x s`` the same per source.
    """

    def __init__(self, space: Any, table: Any, sources: Sequence[str]) -> None:
        from scipy.stats import rankdata

        from nagen.predictors.features import onehot

        self.space, self.sources = space, list(sources)
        rows, self.hashes = [], {}
        for i, a in enumerate(table.archs):
            h = a.canonical_hash()
            if h not in self.hashes:  # the first row of a class represents it
                self.hashes[h] = len(rows)
                rows.append(i)
        self.archs = [table.archs[i] for i in rows]
        self.F = onehot(space, self.archs)
        self.values = {}
        ranks = []
        for m in self.sources:
            v = np.asarray(table.values(m), dtype=float)[rows]
            sign = 1.0 if table.direction(m) == "max" else -1.0
            self.values[m] = sign * v
            r = np.full(len(rows), np.nan)
            ok = np.isfinite(v)
            r[ok] = rankdata(-sign * v[ok])  # 1 = best
            ranks.append(r)
        self.ranks = np.stack(ranks, 1)
        self.known = np.isfinite(self.ranks).any(1)
        count = np.isfinite(self.ranks).sum(1)
        self.mean_rank = np.where(count > 0, np.nansum(self.ranks, 1) / np.maximum(count, 1), np.nan)
        self.g, self.P = self._scores(self.mean_rank, self.ranks)

    def _scores(self, mean_rank: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(mean_rank)
        worst = np.nanmax(mean_rank) + 1 if np.isfinite(mean_rank).any() else 1.0
        g = _gauss_rank(-np.where(np.isfinite(mean_rank), mean_rank, worst))
        top = np.argsort(-g, kind="stable")[: min(_TOP, n)]
        g = (g - g[top].mean()) / (g[top].std() + 1e-12)
        P = np.stack([_gauss_rank(-np.where(np.isfinite(r), r, np.nanmax(r) + 1)) for r in ranks.T], 1)
        P = (P - P[top].mean(0)) / (P[top].std(0) + 1e-12)
        return g, P

    def single(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(g, P) as if source ``j`` were the only one."""
        r = self.ranks[:, [j]]
        return self._scores(r[:, 0], r)

    # -------------------------------------------------------------- leave-one-source-out
    def simulate(self, cfg: dict[str, float], g: np.ndarray, P: np.ndarray, y: np.ndarray, budget: int = _LOSO_BUDGET) -> list[float]:
        """Greedy search of column ``y`` with prior ``(g, P)``: labels to reach its j-th best value, j = 1.._LOSO_TOP_J."""
        y = np.where(np.isfinite(y), y, np.nanmin(y))
        goals = np.sort(y)[::-1][:_LOSO_TOP_J]
        out = [np.inf] * len(goals)
        lab: list[int] = []
        best = -np.inf
        for k in range(min(budget, len(y))):
            s = self.score(cfg, g, P, np.array(lab, dtype=int), y[lab])
            s[lab] = -np.inf
            i = int(np.argmax(s))
            lab.append(i)
            best = max(best, y[i])
            for j, goal in enumerate(goals):
                if out[j] == np.inf and best >= goal:
                    out[j] = k + 1
            if best >= goals[0]:
                break
        return out

    def score(self, cfg: dict[str, float], g: np.ndarray, P: np.ndarray, lab: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Scores of every row given labelled rows ``lab`` with (signed) values ``y``."""
        return _posterior(cfg, self.F, g, P, lab, y)

    def choose(self) -> tuple[dict[str, float], dict[str, Any]]:
        """The GP setting chosen by leave-one-source-out (or the default with one source), and a report."""
        s = len(self.sources)
        if s < 2:
            return dict(_GP_DEFAULT), {"rule": "default (one source)"}
        pairs = [(a, b) for a in range(s) for b in range(s) if a != b]
        crit = []
        for cfg in _GP_GRID:
            labels = []
            for a, b in pairs:
                g, P = self.single(a)
                labels += self.simulate(cfg, g, P, self.values[self.sources[b]])
            crit.append(float(np.mean(np.log(np.minimum(labels, _LOSO_BUDGET)))))
        k = int(np.argmin(crit))  # ties: the first in grid order
        return dict(_GP_GRID[k]), {"rule": "leave-one-source-out", "criterion": crit[k], "pairs": [[self.sources[a], self.sources[b]] for a, b in pairs]}


class ConsensusProposer(_GreedyProposer):
    """Greedy proposals from the source consensus, re-ranked by a GP on the study's labels.

    Args:
        consensus: the table's source columns (:class:`SourceConsensus`).
        gp: the GP setting (see :meth:`SourceConsensus.choose`).
        info: JSON settings recorded in the study config.
        fallback: a callable returning the meta-predictor-based proposer, used for the zero-shot
            score of architectures without any source value (called only when one is met).
        pool_size: candidates scored in spaces too large to enumerate.
        generated: in spaces too large to enumerate, samples of ``generator`` guided by the
            meta-predictor (from ``fallback``, which must then be given) added to each round's
            random pool (0: none; enumerable spaces ignore it).
        generator: a guidable generator (a fitted ``DiffusionGenerator`` of the space) for those
            samples; None: the space's shipped one, else one trained once per process.
    """

    def __init__(self, consensus: SourceConsensus, gp: dict[str, float], info: dict[str, Any] | None = None,
                 fallback: Any = None, pool_size: int = 5000, generated: int = 0, generator: Any = None) -> None:
        self.consensus, self.gp = consensus, dict(gp)
        self.info = dict(info or {})
        self.fallback = fallback
        self.pool_size = int(pool_size)
        self.generated, self.generator = int(generated), generator
        self._meta_ranks: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        """The transfer settings."""
        return dict(self.info)

    def _rows(self, archs: Sequence[ArchGraph]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(one-hots F, consensus g, per-source P) of ``archs``; those without source values get meta-predicted scores."""
        c = self.consensus
        idx = np.array([c.hashes.get(a.canonical_hash(), -1) for a in archs], dtype=int)
        known = idx >= 0
        known[known] = c.known[idx[known]]
        F = np.zeros((len(archs), c.F.shape[1]))
        g = np.zeros(len(archs))
        P = np.zeros((len(archs), c.P.shape[1]))
        F[known], g[known], P[known] = c.F[idx[known]], c.g[idx[known]], c.P[idx[known]]
        if not known.all():
            from nagen.predictors.features import onehot

            rest = [a for a, k in zip(archs, known) if not k]
            F[~known] = onehot(c.space, rest)
            g[~known] = self._meta_g(rest)
            P[~known] = g[~known][:, None]
        return F, g, P

    def guide_model(self, ctx: ProposalContext) -> Any:
        """The fallback meta-predictor adapted to the context's labels (the consensus GP is not differentiable)."""
        if self.fallback is None:
            raise NagenError("generated candidates need the meta-predictor, and none was given")
        return self.fallback().guide_model(ctx)

    def _meta_g(self, archs: list[ArchGraph]) -> np.ndarray:
        """Consensus scores of architectures without source values, from the meta-predictor's zero-shot ranking."""
        if self.fallback is None:
            raise NagenError("an architecture has no source value and no meta-predictor was given")
        c = self.consensus
        meta = self.fallback()
        if self._meta_ranks is None:  # meta zero-shot of the table's known rows, sorted, and their consensus scores
            z = meta.zero_shot(c.archs)
            keep = c.known
            order = np.argsort(z[keep])
            self._meta_ranks = np.stack([z[keep][order], np.sort(c.g[keep])], 0)
        zs, gs = self._meta_ranks
        return np.interp(meta.zero_shot(archs), zs, gs)  # quantile matching: same rank, same score

    def scores(self, ctx: ProposalContext, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Posterior-mean (standardised) value of ``archs`` given the context's labels: ``n``."""
        if ctx.Y.shape[1] != 1:
            raise NagenError("transfer search handles one objective")
        n = len(ctx.archs)
        F, g, P = self._rows(list(ctx.archs) + list(archs))
        return _posterior(self.gp, F, g, P, np.arange(n), np.asarray(ctx.Y[:, 0], dtype=float))[n:]



def _check_generate_options(options: Mapping[str, Any]) -> None:
    """Refuse keywords of ``TransferTask.generate`` that :func:`nagen.generate` does not take either.

    The options forwarded are read off ``nagen.generate``'s signature, so a new option there is
    taken here too; ``space``, ``method``, ``guide`` and ``transfer_from`` are the task's own.

    Raises:
        UnknownOptionError: naming the unknown keywords (with a close match, if any) and listing
            every keyword ``TransferTask.generate`` takes.
    """
    import difflib

    import nagen.api
    from nagen.errors import UnknownOptionError, keyword_parameters

    own = keyword_parameters(TransferTask.generate)[0] - {"self"}
    forwarded = keyword_parameters(nagen.api.generate)[0] - own - {"space", "method", "guide", "transfer_from"}
    unknown = sorted(k for k in options if k not in forwarded)
    if not unknown:
        return
    allowed = sorted(own | forwarded)
    hints = [f"{k!r} -> did you mean {close[0]!r}?" for k in unknown if (close := difflib.get_close_matches(k, allowed, n=1))]
    raise UnknownOptionError(
        f"TransferTask.generate takes no option(s) {unknown}; its options are {allowed}" + (f" ({'; '.join(hints)})" if hints else "")
    )


def _refuse_duplicate_labels(space: Any, given: Sequence[Any], archs: Sequence[ArchGraph]) -> None:
    """Refuse target labels that measure one architecture more than once: the same one twice, or
    equivalent ones (one canonical hash, so one network). The adaptation would weigh that cell
    double and, with two values, fit a contradiction; the user must say which value holds.

    Args:
        space: the task's space (formats the architectures named in the message).
        given: the labels' keys as the user gave them (strings or ``ArchGraph``).
        archs: the same keys parsed, in the same order.

    Raises:
        InvalidSpecError: naming every repeated architecture and the forms it was given in.
    """
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(archs):
        groups.setdefault(a.canonical_hash(), []).append(i)
    repeated = [rows for rows in groups.values() if len(rows) > 1]
    if not repeated:
        return
    shown = lambda a: a if isinstance(a, str) else space.format(a)  # noqa: E731 - the form the user wrote
    parts = []
    for rows in repeated[:5]:
        forms = [shown(given[i]) for i in rows]
        same = "" if len(set(forms)) == 1 else ", equivalent architectures (the same canonical_hash())"
        parts.append(f"{shown(given[rows[0]])!r} {len(rows)} times (as {forms}{same})")
    more = f", and {len(repeated) - 5} more" if len(repeated) > 5 else ""
    raise InvalidSpecError(
        "labels give one architecture more than once: " + "; ".join(parts) + more
        + ". Give each architecture one value (e.g. the mean of its measurements)"
    )


def _cache_dir_problem(path: Path) -> str:
    """Why ``path`` cannot be a cache folder, as far as can be told without creating anything
    (``""``: none found; creating it may still fail, see ``TransferTask._check_cache_writable``)."""
    try:
        if path.exists():
            return "" if path.is_dir() else "it is a file, not a folder"
        parent = path.parent
        while not parent.exists():  # ends: "/" and "." exist
            parent = parent.parent
    except OSError as e:  # e.g. a parent folder that may not be searched
        return f"{e.strerror or e} ({type(e).__name__})"
    if not parent.is_dir():
        return f"{str(parent)!r} is a file, so no folder can be created inside it"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"it does not exist and {str(parent)!r} is not writable, so it cannot be created"
    return ""


class TransferTask:
    """Use source metrics of a benchmark table (consensus prior, meta-predictor), then search a target metric.

    Args:
        sources: source metric names (columns of ``benchmark``), e.g. ``["cifar100_test", "imagenet16_test"]``.
        target: the target metric to search.
        space: the search space (name or object).
        benchmark: the table providing source values (and, by default, target labels).
        seed: seeds meta-training and the study.
        epochs: meta-training epochs (``MetaPredictor.meta_fit``).
        task_encoding: the meta-predictor's task encoding: ``"pairs"`` (few-shot, no data needed), the
            only one a task of table columns can use (``"data"``/``"both"`` need data samples: use
            :class:`~nagen.predictors.meta.MetaPredictor` with ``Task(..., data=...)``).
        cache_dir: folder for cached meta-trained models (default :func:`default_cache_dir`). It
            is created, and must be writable, only when something is to be cached in it (a
            read-only folder that already holds the task's files is fine).
        meta_options: other ``MetaPredictor`` arguments.
        method: ``"consensus"`` (default: source-consensus prior re-ranked by a GP on the target
            labels, hyper-parameters by leave-one-source-out; :class:`ConsensusProposer`) or
            ``"meta"`` (greedy on the adapted meta-predictor; :class:`MetaProposer`).
        gp: a fixed GP setting for ``"consensus"`` (keys ``w0, sw, sf, l, sn``) instead of the
            leave-one-source-out choice.
        generated: in spaces too large to enumerate, add this many samples of the conditional
            generator (the diffusion model guided by the meta-predictor adapted to the labels so
            far; see :meth:`generate`) to each round's random candidate pool (0: the random pool
            only). Enumerable spaces (NB201) score every cell and ignore it. With NB201 treated as
            too large to enumerate (``python benchmarks/transfer_generation.py --parts pool``), 200
            generated next to 500 random candidates found the target's optimum within 20 labels in
            15 of 15 runs of the default method, against 9 of 15 with 700 random ones.
        generator: the diffusion generator of those samples: a fitted ``DiffusionGenerator`` of
            the space or a checkpoint path (default: the shipped one, else one trained once per
            process, about 1.5 min for nb101).

    Raises:
        UnknownMetricError: a source or target is not a column of the table.
        InvalidSpecError: no source, a repeated source, the target among the sources (that would
            use labels the study never paid for), a table of another space, an unknown method, a
            bad ``gp`` setting, ``seed`` or ``epochs``, or (checked only when given) an unknown
            ``task_encoding`` or ``meta_options`` key, or a ``cache_dir`` (also one from
            ``$NAGEN_CACHE``) that is a file or cannot be created (a file among its parents, a
            parent that is not writable). One that fails to be created or written only when it
            is first needed is refused then, before the meta-training or the leave-one-source-out
            choice is computed (``proposer``, ``study``, ``search``, ``generate``).
        UnknownOptionError: a keyword it does not take (listing those it does).
    """

    @named_options("TransferTask")
    def __init__(
        self,
        sources: Sequence[str],
        target: str,
        space: Any = "nb201",
        *,
        benchmark: Any = None,
        seed: int = 0,
        epochs: int = 30,
        task_encoding: str = "pairs",
        cache_dir: str | os.PathLike[str] | None = None,
        meta_options: dict[str, Any] | None = None,
        method: str = "consensus",
        gp: dict[str, float] | None = None,
        generated: int = 200,
        generator: Any = None,
    ) -> None:
        import nagen.benchmarks
        import nagen.spaces

        self.space = nagen.spaces.get(space)
        bench = benchmark if benchmark is not None else self.space.name
        self.table = nagen.benchmarks.load(bench) if isinstance(bench, str) else bench
        # duck-typed: a wrapper of a Benchmark (e.g. one counting lookups) is a table too
        if not all(hasattr(self.table, k) for k in ("name", "space", "archs", "metrics", "values", "direction")):
            raise InvalidSpecError(f"benchmark must be a table name or a nagen.benchmarks.Benchmark, got {type(bench).__name__} {bench!r}")
        if not nagen.spaces.same_space(self.table.space, self.space):
            # its rows would be encoded (one-hots, meta-predictor) as architectures of the wrong space
            raise InvalidSpecError(
                f"table {self.table.name!r} holds architectures of space {self.table.space.name!r}, not of {self.space.name!r}"
                + nagen.spaces.same_name_note(self.table.space, self.space)
                + f"; pass space={self.table.space.name!r}"
            )
        self._table_name = bench if isinstance(bench, str) else None
        if sources is None or isinstance(sources, str):
            self.sources = [] if sources is None else [sources]
        else:
            try:
                self.sources = list(sources)
            except TypeError:
                raise InvalidSpecError(f"sources must be a list of metric names, got {sources!r}") from None
        self.target = target
        if not self.sources:
            raise InvalidSpecError("a TransferTask needs at least one source metric")
        bad = [m for m in [*self.sources, target] if not isinstance(m, str)]
        if bad:
            raise InvalidSpecError(f"sources and target are metric names (strings), got {bad}")
        twice = sorted({m for m in self.sources if self.sources.count(m) > 1})
        if twice:  # a repeated source would weigh double and fool leave-one-source-out (a column against itself)
            raise InvalidSpecError(f"sources must be distinct; {twice} given more than once")
        for m in [*self.sources, target]:
            if m not in self.table.metrics:
                raise UnknownMetricError(unknown_metric_message(self.table.name, m, self.table.metrics))
        if target in self.sources:
            raise InvalidSpecError(f"target {target!r} is also a source; a transfer task must not see the target's table")
        target_dir = self.table.direction(target)
        if all(self.table.direction(m) != target_dir for m in self.sources):
            import warnings

            # a maximised accuracy cannot tell which cells are fast: the zero-shot guide would rank by the
            # sources alone, so a latency target guided by accuracies heads for the slowest cells
            warnings.warn(
                f"target {target!r} is {'maximised' if target_dir == 'max' else 'minimised'} but every source "
                f"({', '.join(self.sources)}) is {'minimised' if target_dir == 'max' else 'maximised'}: they likely "
                "measure another kind of thing, and transfer assumes the sources rank cells as the target does",
                stacklevel=2,
            )
        # int() would quietly turn seed=1.5 into 1 (or True into 1), another study than asked for
        self.seed = check_int(seed, "seed", 0, InvalidSpecError)
        self.epochs = check_int(epochs, "epochs", 1, InvalidSpecError)
        self.task_encoding = task_encoding
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise InvalidSpecError(f"cache_dir must be a folder path (a str or a Path), got {type(cache_dir).__name__} {cache_dir!r}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._cache_origin = "" if cache_dir is not None else " (from $NAGEN_CACHE)" if os.environ.get("NAGEN_CACHE") else " (the default)"
        self._cache_writable = False
        # only what can be told without creating anything: a task built to re-open a study, or on a
        # read-only cache that already holds its files, writes nothing; the folder is created and
        # probed (_check_cache_writable) just before the first result that would be saved is computed
        problem = _cache_dir_problem(self.cache_dir)
        if problem:
            raise InvalidSpecError(self._cache_message(problem))
        if meta_options is not None and not isinstance(meta_options, Mapping):
            raise InvalidSpecError(f"meta_options must be a dict of MetaPredictor arguments, got {meta_options!r}")
        self.meta_options = dict(meta_options or {})
        if self.meta_options or task_encoding != "pairs":
            # the meta-predictor may only be built mid-search (a cell without source values):
            # a typo must fail now, not after labels were paid for; the defaults need no check
            # (nor the torch import it costs)
            from nagen.predictors.meta import _ENCODINGS, MetaPredictor

            if task_encoding not in _ENCODINGS:
                raise InvalidSpecError(f"task_encoding must be one of {list(_ENCODINGS)}, got {task_encoding!r}")
            if task_encoding != "pairs":
                # the source tasks are table columns, which hold no data samples, and TransferTask takes
                # none: every meta-training would fail with "task ... has no data" after it started
                raise InvalidSpecError(
                    f"task_encoding={task_encoding!r} needs data samples of every source and of the target, which "
                    "TransferTask's table columns do not have; use 'pairs' here, or MetaPredictor directly with "
                    "Task(..., data=...) objects"
                )
            check_options(MetaPredictor, self.meta_options, "meta_options (MetaPredictor)", exclude=("task_encoding", "seed"))
        if method not in ("consensus", "meta"):
            raise InvalidSpecError(f"method must be 'consensus' or 'meta', got {method!r}")
        self.method = method
        if gp is not None:
            if not isinstance(gp, Mapping):
                raise InvalidSpecError(f"gp must be a dict with the keys w0, sw, sf, l, sn; got {gp!r}")
            missing = {"w0", "sw", "sf", "l", "sn"} - set(gp)
            if missing:
                raise InvalidSpecError(f"gp needs the keys w0, sw, sf, l, sn; missing {sorted(missing)}")
            extra = set(gp) - {"w0", "sw", "sf", "l", "sn"}
            if extra:  # a misspelt setting would be ignored, its default silently used
                raise InvalidSpecError(f"gp takes only the keys w0, sw, sf, l, sn; unknown {sorted(map(str, extra))}")
            for k, v in gp.items():
                ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)
                # scales and the consensus weight may be 0; a length scale or noise of 0 would divide by zero
                if not ok or v < 0 or (k in ("l", "sn") and v <= 0):
                    need = "> 0" if k in ("l", "sn") else ">= 0"
                    raise InvalidSpecError(f"gp[{k!r}] must be a finite number {need}, got {v!r}")
        self.gp = None if gp is None else {k: float(v) for k, v in gp.items()}
        self.generated = check_int(generated, "generated", 0, InvalidSpecError)
        if isinstance(generator, (str, os.PathLike)):
            from nagen.generators.diffusion import DiffusionGenerator

            if not Path(generator).is_file():
                raise InvalidSpecError(f"generator checkpoint {str(generator)!r} is not a file")
            generator = DiffusionGenerator.load(generator, self.space)
        if generator is not None:
            from nagen.generators.base import Generator

            if not isinstance(generator, Generator) or not generator.supports_guidance:
                raise InvalidSpecError(f"generator must be a guidable nagen generator (a DiffusionGenerator), got {type(generator).__name__}")
            if generator.space != self.space:
                raise InvalidSpecError(f"generator samples space {generator.space.name!r}, not {self.space.name!r}")
        self.generator = generator
        self._meta: Any = None
        self._consensus: SourceConsensus | None = None
        self._choice: dict[str, Any] | None = None
        self._content: dict[str, str] | None = None

    def _cache_message(self, problem: str) -> str:
        return (
            f"cache_dir {str(self.cache_dir)!r}{self._cache_origin} cannot be used as the cache folder: {problem}; "
            "give a folder that exists or can be created, and is writable (cache_dir=..., or the NAGEN_CACHE environment variable)"
        )

    def _check_cache_writable(self) -> None:
        """Create the cache folder and write a probe file in it, before computing what would be saved there.

        Raises:
            InvalidSpecError: the folder cannot be created or written (e.g. under ``/proc``, or
                read-only), instead of a bare ``OSError`` after the meta-training or the
                leave-one-source-out choice was computed for nothing.
        """
        if self._cache_writable:
            return
        import tempfile

        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.cache_dir, prefix=".probe-", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise InvalidSpecError(self._cache_message(f"{e.strerror or e} ({type(e).__name__})")) from None
        self._cache_writable = True

    def _table_key(self) -> dict[str, str]:
        """Cache-key part for the table's content: ``{}`` for a shipped table loaded by name (fixed
        by the package), else a digest of its architectures and source columns, so two user tables
        that share a name (e.g. both from a ``results.csv``) never share a cached model or choice."""
        if self._table_name is not None:
            return {}
        if self._content is None:
            h = hashlib.sha1()
            for a in self.table.archs:
                h.update(a.to_string().encode() + b"\n")
            for m in sorted(self.sources):
                h.update(m.encode() + b"\0" + np.ascontiguousarray(self.table.values(m), dtype=np.float64).tobytes())
            self._content = {"content": h.hexdigest()}
        return self._content

    def info(self) -> dict[str, Any]:
        """JSON description of the meta-training (also the cache key and the study's proposer config)."""
        return {
            "space": self.space.name,
            "table": self.table.name,
            "sources": sorted(self.sources),
            "seed": self.seed,
            "epochs": self.epochs,
            "task_encoding": self.task_encoding,
            "options": self.meta_options,
            "version": _CACHE_VERSION,
        }

    @property
    def cache_path(self) -> Path:
        """File of the cached meta-trained model."""
        digest = hashlib.sha1(json.dumps({**self.info(), **self._table_key()}, sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / f"meta-{self.space.name}-{digest}.pt"

    def meta_model(self, progress: bool = False) -> Any:
        """The meta-trained ``MetaPredictor`` (loaded from the cache or trained and cached)."""
        if self._meta is not None:
            return self._meta
        import torch

        from nagen.predictors.meta import MetaPredictor, Task

        path = self.cache_path
        if path.is_file():
            try:
                # our own cache file: a whole pickled predictor, not a plain state dict
                meta = torch.load(path, map_location="cpu", weights_only=False)
                # a file written before spaces pickled by name holds a copy of the space: guides
                # and generators compare spaces by identity, so hold the registered one
                meta.space = self.space
                self._meta = meta
                return meta
            except Exception:  # noqa: BLE001 - a corrupt or stale cache is retrained
                pass
        self._check_cache_writable()
        archs = list(self.table.archs)
        tasks = []
        for m in self.sources:
            v = self.table.values(m)
            ok = np.isfinite(v)
            # the study maximises signed values, and the zero-shot prior must rank the same way:
            # a latency source learned raw would make the slowest cell the first pick
            sign = 1.0 if self.table.direction(m) == "max" else -1.0
            tasks.append(Task(m, [a for a, keep in zip(archs, ok) if keep], sign * v[ok]))
        meta = MetaPredictor(self.space, task_encoding=self.task_encoding, seed=self.seed, **self.meta_options)
        meta.meta_fit(tasks, epochs=self.epochs, progress=progress)
        save_atomic(meta, path)
        self._meta = meta
        return meta

    def consensus(self) -> SourceConsensus:
        """The table's source columns (consensus ranks, one-hots)."""
        if self._consensus is None:
            self._consensus = SourceConsensus(self.space, self.table, sorted(self.sources))
        return self._consensus

    def gp_choice(self) -> dict[str, Any]:
        """``{"gp": setting, ...report}``: the consensus GP setting (given, or leave-one-source-out on the sources, cached)."""
        if self.gp is not None:
            return {"gp": dict(self.gp), "rule": "given"}
        if self._choice is not None:
            return self._choice
        key = {"space": self.space.name, "table": self.table.name, "rows": len(self.table), "sources": sorted(self.sources), "version": _LOSO_VERSION,
               **self._table_key()}
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        path = self.cache_dir / f"loso-{self.space.name}-{digest}.json"
        if path.is_file():
            try:
                self._choice = json.loads(path.read_text())
                return self._choice
            except (OSError, ValueError):  # a corrupt cache is recomputed
                pass
        self._check_cache_writable()
        gp, report = self.consensus().choose()
        self._choice = {"gp": gp, **report}
        save_atomic(self._choice, path, writer=lambda obj, tmp: Path(tmp).write_text(json.dumps(obj, sort_keys=True)))
        return self._choice

    @classmethod
    def from_config(cls, config: dict[str, Any], target: str, **options: Any) -> TransferTask:
        """The task whose :meth:`proposer` a stored transfer study recorded (``config``: the study's
        proposer config, ``target``: its objective), so ``load_study`` can re-open it.

        Raises:
            StudyError: the config does not describe a transfer proposer, or its table was a
                ``Benchmark`` object rather than a registered table name (pass ``proposer=``).
        """
        import nagen.benchmarks
        from nagen.study import StudyError

        missing = [k for k in ("space", "table", "sources", "seed", "epochs", "task_encoding") if k not in config]
        if missing:
            raise StudyError(f"stored transfer proposer config lacks {missing}; pass proposer=TransferTask(...).proposer()")
        if config["table"] not in nagen.benchmarks.names():
            raise StudyError(
                f"the transfer study used table {config['table']!r}, which is not a registered benchmark; "
                "pass proposer=TransferTask(sources, target, benchmark=<that table>).proposer()"
            )
        return cls(
            config["sources"], target, config["space"], benchmark=config["table"], seed=config["seed"],
            epochs=config["epochs"], task_encoding=config["task_encoding"], meta_options=config.get("options"),
            # "method" is recorded by the consensus proposer only; "generated" only where it acts
            method=config.get("method", "meta"), gp=config.get("gp"), generated=config.get("generated", 0), **options,
        )  # fmt: skip

    def proposer(self, progress: bool = False) -> Proposer:
        """The study proposer: ``ConsensusProposer`` (meta-predictor trained only if needed) or ``MetaProposer``."""
        from nagen.study import ENUMERATE_LIMIT

        # recorded only where it acts (a space too large to enumerate), so stored NB201 studies still match
        large = self.space.size is None or self.space.size > ENUMERATE_LIMIT
        pool = {"generated": self.generated} if self.generated and large else {}
        pool_args = {"generated": self.generated, "generator": self.generator}
        if self.method == "meta":
            return MetaProposer(self.meta_model(progress), {**self.info(), **pool}, **pool_args)
        gp = self.gp_choice()["gp"]
        if pool and self._meta is None and not self.cache_path.is_file():
            # the generated part of the first round's pool needs the meta-predictor: an unusable
            # cache must be refused now, not after the study (and its storage row) was created
            self._check_cache_writable()
        info = {**self.info(), "method": "consensus", "gp": gp, **pool}
        return ConsensusProposer(
            self.consensus(), gp, info, fallback=lambda: MetaProposer(self.meta_model(progress), self.info()), **pool_args
        )

    def _warn_meta_training(self, progress: bool) -> None:
        """Warn that the meta-predictor is about to be meta-trained when no progress bar was asked for:
        a first ``generate`` otherwise sat silent for about 45 s on NB201."""
        if progress or self._meta is not None or self.cache_path.is_file():
            return
        self._check_cache_writable()  # no "meta-training ..." warning for a training that cannot be saved
        import warnings

        warnings.warn(
            f"meta-training the task-aware meta-predictor on {len(self.sources)} source task(s) ({self.epochs} epochs; "
            f"about 45 s on NB201 with the defaults), once: it is then cached in {str(self.cache_dir)!r}. "
            "Pass progress=True to see a progress bar",
            stacklevel=3,
        )

    def guide_predictor(self, labels: Any = None, progress: bool = False) -> Any:
        """The meta-predictor adapted to the target, for guidance (a copy; the cached model is untouched).

        Args:
            labels: ``None`` (zero-shot: the conditional prior, standardised predictions) or the
                target's measured values, ``{arch: value}`` or ``[(arch, value), ...]`` with at
                least two architectures (values in the target's own units; a minimised target is
                negated, as the study does, so the predictor always ranks higher as better).
            progress: show a progress bar if the meta-predictor must be meta-trained first
                (without it, a warning says that it is being meta-trained).

        Raises:
            InvalidSpecError: malformed ``labels`` (not pairs, fewer than 2, not finite, or one
                architecture given twice, also as two equivalent architectures).
            InvalidArchitectureError: a label's architecture is not valid in the space.
        """
        import copy

        from nagen.errors import InvalidArchitectureError

        pairs: list[tuple[Any, Any]] = []
        if labels is not None:
            if isinstance(labels, Mapping):
                pairs = list(labels.items())
            elif isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
                raise InvalidSpecError(f"labels must be {{arch: value}} or a list of (arch, value) pairs, got {type(labels).__name__}")
            else:
                pairs = list(labels)
                if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
                    raise InvalidSpecError("labels must be (arch, value) pairs")
            if len(pairs) < 2:
                raise InvalidSpecError(f"labels need at least 2 measured target architectures (got {len(pairs)}); pass None for zero-shot")
            values = []
            for a, v in pairs:
                if not (is_real(v) and math.isfinite(v)):
                    raise InvalidSpecError(f"label of {a!r} must be a finite number, got {v!r}")
                values.append(float(v))
            archs = []
            for a, _ in pairs:
                try:
                    archs.append(self.space.validate(a))  # parses strings
                except InvalidArchitectureError as e:  # before meta-training, and saying it came from labels
                    raise type(e)(f"labels: {a!r} is not an architecture of space {self.space.name!r}: {e}") from None
            _refuse_duplicate_labels(self.space, [a for a, _ in pairs], archs)
        self._warn_meta_training(progress)
        model = copy.deepcopy(self.meta_model(progress))
        if not pairs:
            return model.fit_prior()
        sign = 1.0 if self.table.direction(self.target) == "max" else -1.0
        return model.fit(archs, sign * np.asarray(values))

    @single_threaded
    def generate(
        self,
        n: int = 100,
        *,
        labels: Any = None,
        scale: float = 2.0,
        constraints: Any = None,
        seed: int = 0,
        unique: bool = False,
        progress: bool = False,
        **options: Any,
    ) -> Any:
        """Conditional generation for the target: diffusion guided by the source-trained meta-predictor.

        DiffusionNAG's transferable generation (An et al., ICLR 2024): the space's diffusion model
        is steered by the gradient of the task-aware meta-predictor adapted to the target, from
        no target label at all (zero-shot, the default) or from a few measured ones (``labels``).
        No target label is paid here (``labels_used`` counts only what constraints need).

        Args:
            n: architectures to generate.
            labels: target measurements to adapt to (see :meth:`guide_predictor`); ``None``: zero-shot.
                On NB201, whose datasets the sources already rank alike, 10-30 labels did not help
                and the ridge correction they feed made the top of the ranking worse
                (``benchmarks/results/transfer_generation.md``); use them for a target known to
                rank unlike the sources.
            scale: guidance weight. 2 (default) gave the best mean CIFAR-10 accuracy among 2, 5,
                10 and 20 in a first check on NB201 (two seeds, not a benchmark); larger values trade
                diversity for the predictor's favourite cells.
            progress: show progress bars: the meta-training's on first use (about 45 s on NB201,
                then cached; without a bar a warning says it is running) and the generation's.
            constraints, seed, unique, options: as :func:`nagen.generate` (``steps``,
                ``generator``, ``constraint_scale``, ``device_samples``, ``guide_labels``,
                ``benchmark``).

        Returns:
            A ``GenerationResult``; each ``predicted`` holds ``"transfer_score"`` (zero-shot:
            standardised, higher is better; with labels: the predicted target value, negated for
            a minimised target) and any constraint's predicted value.

        Raises:
            InvalidSpecError: malformed ``labels`` (see :meth:`guide_predictor`: also one
                architecture labelled twice), or a ``guide``, ``method`` or ``transfer_from`` option.
            UnknownOptionError: any other option :func:`nagen.generate` does not take (names it
                and lists the options that are taken); plus everything :func:`nagen.generate` raises.
                Every argument is checked before the meta-predictor is meta-trained (or the
                cache folder written).
        """
        import nagen.api
        from nagen.errors import InvalidGuidanceError, check_real
        from nagen.generators.guidance import Guide

        check_real(scale, "scale", 0.0, error=InvalidGuidanceError)
        if "guide" in options or "method" in options or "transfer_from" in options:
            raise InvalidSpecError("TransferTask.generate guides by the target itself; it takes no guide, method or transfer_from")
        # a misspelt option used to surface as a bare TypeError from nagen.generate, after the meta-training
        _check_generate_options(options)
        n = check_int(n, "n", 0)
        if constraints is not None and self._table_name is not None:
            # a metric constraint is learned from this task's table (generate takes tables by name)
            options.setdefault("benchmark", self._table_name)
        # nagen.generate checks seed, unique, steps, constraints, guide_labels, ... before any work and
        # returns at once for n=0: asked for nothing, it refuses what the real call would refuse only
        # after the meta-training (45 s on NB201, and a cache file written)
        checked = nagen.api.generate(self.space, 0, method="diffusion", constraints=constraints, seed=seed, unique=unique, **options)
        if n == 0:
            return checked
        # the checks that depend on what n=0 leaves out: the count, and the transfer guide itself
        # (a generator= that cannot be guided; the stand-in is only named in the message)
        nagen.api._check_method(self.space, "diffusion", options.get("generator"), ["transfer_score"], options.get("steps"))
        from nagen.generators.base import check_unique_count

        check_unique_count(self.space, n, unique)
        guide = Guide(self.guide_predictor(labels, progress), float(scale), "max", name="transfer_score")
        return nagen.api.generate(
            self.space, n, method="diffusion", guide=[guide], constraints=constraints, seed=seed,
            unique=unique, progress=progress, **options,
        )

    def study(self, labeller: Any = None, storage: Any = "sqlite:///nagen.db", name: str | None = None, **options: Any) -> Study:
        """A ``Study`` of the target using the transfer proposer (default labeller: the table's target column).

        ``options`` go to ``Study`` (executor, timeout, ...).
        """
        from nagen.labellers import TableLabeller

        fixed = {"seed": "the task's own: TransferTask(seed=...)", "proposer": "the transfer proposer (TransferTask.proposer())",
                 "objectives": f"the target {self.target!r}", "space": f"the task's own: TransferTask(space=...)"}
        clash = sorted(set(options) & set(fixed))
        if clash:  # Study would get them twice: a bare TypeError
            raise InvalidArgumentError(
                f"TransferTask.study/search set {clash} themselves: " + "; ".join(f"{k} is {fixed[k]}" for k in clash)
            )
        # a misspelt option: before the proposer computes the prior (a leave-one-source-out choice or a
        # meta-training), not after
        check_options(Study, options, "TransferTask.study/search (Study options)", exclude=tuple(fixed))
        if labeller is None:
            labeller = TableLabeller(self._table_name or self.table, self.target)
        options.setdefault("n_initial", 0)
        # the table's direction, not the labeller's default "max": a user's labeller of a latency
        # target would otherwise be maximised against a consensus ranked for the minimum
        objective = [(self.target, self.table.direction(self.target))]
        return Study(
            self.space, objective, labeller, proposer=self.proposer(), storage=storage, name=name, seed=self.seed, **options
        )

    def search(self, budget: int, batch_size: int = 1, storage: Any = "sqlite:///:memory:", name: str | None = None, **options: Any) -> Study:
        """Run the target search for ``budget`` labels; returns the study.

        Raises:
            InvalidArgumentError: ``budget`` not a non-negative integer or ``batch_size`` not a
                positive one, before the study is created in ``storage`` or its prior computed;
                plus what :meth:`study` and ``Study.optimize`` raise.
        """
        # Study.optimize checks them too, but only after study() wrote the study to storage and
        # computed the prior (the leave-one-source-out choice, or a meta-training)
        budget = check_int(budget, "budget", 0)
        batch_size = check_int(batch_size, "batch_size", 1)
        options.setdefault("executor", "inline")
        return self.study(storage=storage, name=name, **options).optimize(budget, batch_size=batch_size)
