"""Transferable NAS: meta-train on source tasks, then search a target with a few labels.

>>> from nagen.transfer import TransferTask
>>> task = TransferTask(sources=["cifar100_test", "imagenet16_test"], target="cifar10_test")  # doctest: +SKIP
>>> study = task.search(budget=10)                                                             # doctest: +SKIP
>>> study.best.values                                                                          # doctest: +SKIP

The task-aware meta-predictor (:class:`nagen.predictors.meta.MetaPredictor`, pairs task
encoding) is meta-trained on the source tasks' tables. The target search then spends labels
greedily on the meta-predictor's best unlabelled architecture:

* before any target label, the prediction is the meta-predictor's *zero-shot* one (the task
  embedded from the empty support set), so the first label is its argmax over the space;
* after ``k >= 2`` labels, the predictor is adapted with ``fit`` (task embedding of the ``k``
  pairs plus the closed-form ridge correction) and the next label is the new argmax.

Only the target labels the study paid for are used on the target; the sources are other
tasks' tables. A meta-trained model is cached on disk per (space, sources, seed, epochs,
encoding), so repeated searches do not meta-train again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nagen.errors import NagenError, UnknownMetricError, choices_hint
from nagen.graph import ArchGraph
from nagen.storage import cache_dir as _cache_dir
from nagen.storage import save_atomic
from nagen.study import ProposalContext, Proposer, Study, _enumerated

__all__ = ["TransferTask", "MetaProposer", "default_cache_dir"]

#: bump when the cached model format or the meta-training recipe changes
_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$NAGEN_CACHE`` or ``<tmp>/nagen-cache``: where meta-trained models are kept."""
    return _cache_dir()


class MetaProposer(Proposer):
    """Greedy proposals from a meta-trained predictor adapted to the study's labels.

    Holds the meta-trained model but no study state: each round adapts it to the labels in
    the context. Single objective only.

    Args:
        meta: a meta-trained ``MetaPredictor``.
        info: JSON settings recorded in the study config (sources, seed, epochs).
        pool_size: candidates scored in spaces too large to enumerate.
    """

    uses_surrogate = False
    name = "transfer"

    def __init__(self, meta: Any, info: dict[str, Any] | None = None, pool_size: int = 5000) -> None:
        self.meta = meta
        self.info = dict(info or {})
        self.pool_size = int(pool_size)

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

    def zero_shot(self, archs: Sequence[ArchGraph]) -> np.ndarray:
        """Standardised predictions with the task embedded from no label (meta-prior): ``n``."""
        import torch

        net = self.meta.net
        task = self.meta.task_embedding([], [])  # [task_dim]
        out = []
        with torch.no_grad():
            for i in range(0, len(archs), 4096):
                X, A = self.meta.space.encode(list(archs[i : i + 4096]))
                out.append(net.head_features(net.encoder(X, A, None)[None], task[None])[1][0])  # [b]
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def candidates(self, ctx: ProposalContext) -> list[ArchGraph]:
        """Every unlabelled architecture of an enumerable space, else a random pool."""
        en = _enumerated(ctx.space)
        if en is not None:
            pending = {a.canonical_hash() for a in ctx.pending}
            return [a for a, h in zip(*en) if h not in ctx.exclude and h not in pending]
        return ctx.random(self.pool_size, salt=7)

    def propose(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The ``n`` unlabelled architectures the adapted meta-predictor ranks highest."""
        pool = self.candidates(ctx)
        if not pool:
            return []
        s = self.scores(ctx, pool)
        return [pool[i] for i in np.argsort(-s, kind="stable")[:n]]

    def initial(self, ctx: ProposalContext, n: int) -> list[ArchGraph]:
        """The zero-shot argmax (no random start)."""
        return self.propose(ctx, n)


class TransferTask:
    """Meta-train on source metrics of a benchmark table, then search a target metric.

    Args:
        sources: source metric names (columns of ``benchmark``), e.g. ``["cifar100_test", "imagenet16_test"]``.
        target: the target metric to search.
        space: the search space (name or object).
        benchmark: the table providing source values (and, by default, target labels).
        seed: seeds meta-training and the study.
        epochs: meta-training epochs (``MetaPredictor.meta_fit``).
        task_encoding: the meta-predictor's task encoding (``"pairs"``: few-shot, no data needed).
        cache_dir: folder for cached meta-trained models (default :func:`default_cache_dir`).
        meta_options: other ``MetaPredictor`` arguments.

    Raises:
        UnknownMetricError: a source or target is not a column of the table.
        NagenError: the target is also a source (that would use labels the study never paid for).
    """

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
    ) -> None:
        import nagen.benchmarks
        import nagen.spaces

        self.space = nagen.spaces.get(space)
        bench = benchmark if benchmark is not None else self.space.name
        self.table = nagen.benchmarks.load(bench) if isinstance(bench, str) else bench
        self._table_name = bench if isinstance(bench, str) else None
        self.sources = [sources] if isinstance(sources, str) else list(sources)
        self.target = target
        if not self.sources:
            raise NagenError("a TransferTask needs at least one source metric")
        for m in [*self.sources, target]:
            if m not in self.table.metrics:
                raise UnknownMetricError(
                    f"table {self.table.name!r} has no metric {m!r}; available metrics are {choices_hint(self.table.metrics, 60)}"
                )
        if target in self.sources:
            raise NagenError(f"target {target!r} is also a source; a transfer task must not see the target's table")
        self.seed = int(seed)
        self.epochs = int(epochs)
        self.task_encoding = task_encoding
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.meta_options = dict(meta_options or {})
        self._meta: Any = None

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
        digest = hashlib.sha1(json.dumps(self.info(), sort_keys=True).encode()).hexdigest()[:16]
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
                self._meta = torch.load(path, map_location="cpu", weights_only=False)
                return self._meta
            except Exception:  # noqa: BLE001 - a corrupt or stale cache is retrained
                pass
        archs = list(self.table.archs)
        tasks = []
        for m in self.sources:
            v = self.table.values(m)
            ok = np.isfinite(v)
            tasks.append(Task(m, [a for a, keep in zip(archs, ok) if keep], v[ok]))
        meta = MetaPredictor(self.space, task_encoding=self.task_encoding, seed=self.seed, **self.meta_options)
        meta.meta_fit(tasks, epochs=self.epochs, progress=progress)
        save_atomic(meta, path)
        self._meta = meta
        return meta

    def proposer(self, progress: bool = False) -> MetaProposer:
        """The study proposer built on the meta-trained model."""
        return MetaProposer(self.meta_model(progress), self.info())

    def study(self, labeller: Any = None, storage: Any = "sqlite:///nagen.db", name: str | None = None, **options: Any) -> Study:
        """A ``Study`` of the target using the transfer proposer (default labeller: the table's target column).

        ``options`` go to ``Study`` (executor, timeout, ...).
        """
        from nagen.labellers import TableLabeller

        if labeller is None:
            labeller = TableLabeller(self._table_name or self.table, self.target)
        options.setdefault("n_initial", 0)
        return Study(
            self.space, self.target, labeller, proposer=self.proposer(), storage=storage, name=name, seed=self.seed, **options
        )

    def search(self, budget: int, batch_size: int = 1, storage: Any = "sqlite:///:memory:", name: str | None = None, **options: Any) -> Study:
        """Run the target search for ``budget`` labels; returns the study."""
        options.setdefault("executor", "inline")
        return self.study(storage=storage, name=name, **options).optimize(budget, batch_size=batch_size)
