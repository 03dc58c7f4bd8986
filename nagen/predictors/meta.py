"""A task-aware meta-predictor: meta-trained on source tasks, adapted to a target from a few labels.

Transferable NAS predicts an architecture's value on a *new* task (dataset, device) from what
was measured on other tasks. As in MetaD2A (Lee et al., "Rapid Neural Architecture Search by
Learning to Generate Graphs from Datasets", ICLR 2021) and DiffusionNAG's dataset-aware
predictor (An et al., ICLR 2024), the model is ``head([arch embedding, task embedding])``:

* the architecture embedding is the bidirectional dense GIN of :class:`~nagen.predictors.gnn.DAGEncoder`,
  so ``score(X, A, t)`` stays differentiable in the continuous state and can guide diffusion;
* the task embedding comes from one or two permutation-invariant set encoders
  (a Set Transformer with induced points, Lee et al., ICML 2019):

  - ``"data"``: over samples of the task's data (MetaD2A's dataset encoder);
  - ``"pairs"``: over the ``k`` labelled (architecture embedding, standardised value) pairs
    already paid for on the task, the few-shot task embedding of neural processes
    (Garnelo et al., 2018) and HELP (Lee et al., NeurIPS 2021);
  - ``"both"``: the two concatenated.

On top of the amortised task embedding, the head's last hidden layer is corrected by a
closed-form ridge regression on the support residuals (R2-D2, Bertinetto et al., ICLR 2019),
so that labels keep helping when the target ranks architectures unlike every source; random
linear "architecture feature" terms added to source tasks during meta-training (task
augmentation) give that correction something to learn from when the sources agree.

``meta_fit`` trains episodically on source tasks: an episode picks a task, a support set of
``k`` labelled pairs (``k`` random) that embeds the task and a disjoint query set to predict.
Values are standardised with the *support set's* mean and std only, exactly what ``fit`` can
compute on a target from its ``k`` labels, so meta-training and adaptation see the same
problem and no target information beyond those labels (and the task's data samples) is used.

>>> model = MetaPredictor("nb201", task_encoding="pairs").meta_fit(source_tasks)  # doctest: +SKIP
>>> model.fit(target_archs[:10], target_values[:10]).predict(candidates).mean        # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from nagen.errors import InvalidArgumentError, InvalidTrainingDataError, NotFittedError, check_int, check_real
from nagen.graph import ArchGraph
from nagen.noise import VPSchedule
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor, as_values, check_noise
from nagen.predictors.gnn import DAGEncoder
from nagen._threads import single_threaded

__all__ = ["MetaPredictor", "Task", "SetEncoder", "data_features"]

TaskEncoding = Literal["pairs", "data", "both"]
_ENCODINGS = ("pairs", "data", "both")
# standardised query targets are clipped to this many support stds: with k = 5 the support std
# can be tiny, and a handful of broken cells (10 % accuracy on NB201) would dominate the MSE
_Z_CLIP = 6.0
# images are pooled to at most this side before flattening, so tasks whose images differ in
# resolution (but not in channels) share one data-feature width
_POOL_SIDE = 8


@dataclass(frozen=True, eq=False)  # identity equality: element-wise == on value arrays is ambiguous
class Task:
    """One task: architectures measured on it and, optionally, samples of its data.

    Attributes:
        name: a label used in error messages.
        archs: ``n`` architectures (``ArchGraph`` or strings of the space).
        values: ``n`` measured values (any units; standardised per episode).
        data: optional float tensor of ``m`` data samples: ``m x d`` features, ``m x H x W`` or
            ``m x C x H x W`` images (pooled to at most 8 x 8 and flattened, see :func:`data_features`).
    """

    name: str
    archs: Sequence[ArchGraph | str]
    values: Sequence[float] | np.ndarray
    data: Any = None


def _support_range(value: Any, low: int) -> tuple[int, int]:
    """``(k_min, k_max)`` checked: two integers with ``low <= k_min <= k_max``, else ``InvalidArgumentError``."""
    need = f"support_range must be (k_min, k_max), two integers with {low} <= k_min <= k_max, got {value!r}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidArgumentError(need)
    try:
        k_min, k_max = check_int(value[0], "k_min", low), check_int(value[1], "k_max", low)
    except InvalidArgumentError:
        raise InvalidArgumentError(need) from None
    if k_min > k_max:
        raise InvalidArgumentError(need)
    return k_min, k_max


def data_features(data: Any, name: str = "task") -> torch.Tensor:
    """Turn a task's data samples into a ``m x d`` float tensor.

    ``m x d`` passes through; ``m x H x W`` gets a channel axis; ``m x C x H x W`` is
    average-pooled to at most ``8 x 8`` (so the width is ``C * min(H, 8) * min(W, 8)``) and flattened.

    Raises:
        InvalidTrainingDataError: not a 2-, 3- or 4-D array with at least one sample, or not finite.
    """
    try:
        x = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data).detach().float()
    except (TypeError, ValueError) as e:
        raise InvalidTrainingDataError(f"{name}: data must be a float array or tensor, got {type(data).__name__}") from e
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() == 4:
        h, w = min(x.shape[2], _POOL_SIDE), min(x.shape[3], _POOL_SIDE)
        x = nn.functional.adaptive_avg_pool2d(x, (h, w)).flatten(1)
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise InvalidTrainingDataError(
            f"{name}: data must be samples x features, samples x H x W or samples x C x H x W, got shape {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise InvalidTrainingDataError(f"{name}: data holds NaN or inf")
    return x


# ---------------------------------------------------------------------------------- set encoders
class _MAB(nn.Module):
    """Multihead attention block ``MAB(Q, K) = LN(H + FF(H))``, ``H = LN(Q + Attn(Q, K, K))``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        h = self.ln1(q + self.attn(q, k, k, need_weights=False)[0])
        return self.ln2(h + self.ff(h))


class SetEncoder(nn.Module):
    """Permutation-invariant set encoder: Set Transformer with induced points (ISAB) and PMA pooling.

    Lee et al., "Set Transformer", ICML 2019: ``ISAB(X) = MAB(X, MAB(I, X))`` costs
    ``O(n * inducing)``, and ``PMA`` pools with one learned seed, so the output does not depend
    on the order of the elements. A learned *null element* is appended to every set: it makes
    the empty set well defined (zero-shot) and gives attention a place to put weight when the
    real elements are uninformative.

    Args:
        in_dim: element width ``d``.
        dim: hidden and output width.
        inducing: number of inducing points.
        heads: attention heads (must divide ``dim``).
        blocks: ISAB blocks.

    Shapes:
        x: ``batch x n x d`` (``n >= 0``) -> ``batch x dim``.
    """

    def __init__(self, in_dim: int, dim: int = 64, inducing: int = 16, heads: int = 4, blocks: int = 2) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(in_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.inducing = nn.ParameterList([nn.Parameter(torch.randn(1, inducing, dim) * 0.1) for _ in range(blocks)])
        self.down = nn.ModuleList([_MAB(dim, heads) for _ in range(blocks)])
        self.up = nn.ModuleList([_MAB(dim, heads) for _ in range(blocks)])
        self.seed = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.pool = _MAB(dim, heads)
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h = torch.cat([self.inp(x), self.null.expand(b, -1, -1)], dim=1)  # [b, n+1, dim]
        for ind, down, up in zip(self.inducing, self.down, self.up):
            h = up(h, down(ind.expand(b, -1, -1), h))
        return self.pool(self.seed.expand(b, -1, -1), h)[:, 0]  # [b, dim]


class _PairEncoder(nn.Module):
    """Task embedding from labelled pairs: a ``SetEncoder`` over ``[arch embedding, z, z^2]``.

    Scale-free statistics of the support set (``log(1 + k)``, min, max and third moment of
    ``z``) are appended after pooling: attention pooling is a weighted *mean*, which cannot see
    the set's size, and the tails tell how heavy the task's bad-architecture tail is.

    Shapes:
        h: ``batch x k x emb`` support embeddings, z: ``batch x k`` standardised values -> ``batch x dim``.
    """

    def __init__(self, emb_dim: int, dim: int, inducing: int, heads: int) -> None:
        super().__init__()
        self.proj = nn.Linear(emb_dim, dim)
        self.sets = SetEncoder(dim + 2, dim, inducing, heads)
        self.out = nn.Sequential(nn.Linear(dim + 4, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.out_dim = dim

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        k = z.shape[1]
        pooled = self.sets(torch.cat([self.proj(h), z[..., None], z[..., None] ** 2], dim=-1))
        if k:
            stats = torch.stack([z.min(1).values, z.max(1).values, (z**3).mean(1)], dim=-1).clamp(-_Z_CLIP, _Z_CLIP)
        else:
            stats = z.new_zeros(z.shape[0], 3)
        size = torch.full((z.shape[0], 1), math.log1p(k), dtype=z.dtype)
        return self.out(torch.cat([pooled, size, stats], dim=-1))


class _MetaNet(nn.Module):
    """Architecture encoder, task encoder(s), the head on ``[arch embedding, task embedding]`` and
    the ridge strength of the closed-form last-layer correction."""

    def __init__(
        self, encoder: DAGEncoder, task_encoding: str, hidden: int, data_dim: int | None, inducing: int, heads: int, ridge: bool
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pairs = _PairEncoder(encoder.out_dim, hidden, inducing, heads) if task_encoding in ("pairs", "both") else None
        self.data = SetEncoder(data_dim, hidden, inducing, heads) if task_encoding in ("data", "both") else None
        task_dim = hidden * ((self.pairs is not None) + (self.data is not None))
        self.head = nn.Sequential(
            nn.Linear(encoder.out_dim + task_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )
        # softplus(raw) + 1e-3 = lambda; starts near 1, a prior as strong as one labelled example
        self.ridge_raw = nn.Parameter(torch.tensor(0.5413)) if ridge else None

    def task(self, h_support: torch.Tensor | None, z_support: torch.Tensor | None, data: torch.Tensor | None) -> torch.Tensor:
        """Task embeddings ``batch x task_dim``.

        Shapes: h_support ``batch x k x emb``, z_support ``batch x k``, data ``batch x m x d``
        (each None when its encoder is unused).
        """
        parts = []
        if self.pairs is not None:
            parts.append(self.pairs(h_support, z_support))
        if self.data is not None:
            parts.append(self.data(data))
        return torch.cat(parts, dim=-1)

    def head_features(
        self, h: torch.Tensor, task: torch.Tensor, head: nn.Module | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Head's last hidden layer and its output.

        Shapes: h ``E x q x emb``, task ``E x task_dim`` -> ``E x q x hidden``, ``E x q``.
        """
        head = head or self.head
        task = task.unsqueeze(-2).expand(*h.shape[:-1], task.shape[-1])
        f = head[:-1](torch.cat([h, task], dim=-1))
        return f, head[-1](f).squeeze(-1)

    def ridge(self, f: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Ridge weights ``(F^T F + lambda I)^-1 F^T r`` of the support residuals ``r`` on features ``F``.

        Shapes: f ``E x k x hidden``, r ``E x k`` -> ``E x hidden``.

        A differentiable closed-form solver in the inner loop (Bertinetto et al., "Meta-learning
        with differentiable closed-form solvers", ICLR 2019): the last layer adapts to the
        support exactly and at once, and meta-training learns features and ``lambda`` for it.
        """
        lam = nn.functional.softplus(self.ridge_raw) + 1e-3
        eye = torch.eye(f.shape[-1], dtype=f.dtype)
        gram = f.transpose(-1, -2) @ f + lam * eye
        return torch.linalg.solve(gram, (f.transpose(-1, -2) @ r[..., None]))[..., 0]


def _rank_mse_loss(pred: torch.Tensor, target: torch.Tensor, rank_weight: float) -> torch.Tensor:
    """MSE plus pairwise logistic ranking loss (as ``GNNPredictor._loss``) per episode: ``batch x q`` inputs."""
    mse = torch.mean((pred - target) ** 2)
    diff_p = pred[:, :, None] - pred[:, None, :]
    sign = torch.sign(target[:, :, None] - target[:, None, :])
    mask = sign != 0
    rank = nn.functional.softplus(-sign * diff_p)[mask].mean() if mask.any() else pred.sum() * 0
    return mse + rank_weight * rank


@dataclass
class _Source:
    """A validated source task, encoded once."""

    name: str
    X: torch.Tensor  # [n, N, V]
    A: torch.Tensor  # [n, N, N]
    y: torch.Tensor  # [n] raw values
    z: torch.Tensor  # [n] values standardised over the whole table (for task mixup)
    keys: list[ArchGraph]
    feats: torch.Tensor  # [n, F] flattened encoding, for random-feature task augmentation
    data: torch.Tensor | None  # [m, d] normalised features


@register("meta")
class MetaPredictor(Predictor):
    """Task-aware meta-predictor: ``meta_fit`` on source tasks, then ``fit`` on a target's ``k`` labels.

    Args:
        space: the search space.
        task_encoding: ``"pairs"`` (few-shot set encoder over labelled pairs), ``"data"`` (set
            encoder over the task's data samples) or ``"both"``.
        hidden: feature width of every module (the architecture embedding is ``2 * hidden``).
        layers: message-passing rounds of the architecture encoder.
        noise: a ``VPSchedule`` makes meta-training noise-aware (query ``X`` noised, conditioned on ``t``).
        data: the *target* task's data samples (see :class:`Task`); also settable with :meth:`set_task_data`.
        lr: AdamW learning rate of meta-training.
        rank_weight: weight of the pairwise ranking loss next to MSE.
        support_range: ``(k_min, k_max)``; each step draws ``k`` log-uniformly from it.
        query_size: query architectures per episode.
        episodes_per_step: episodes (each from a random task) per optimiser step.
        steps_per_epoch: optimiser steps per meta-training epoch (an epoch is a fixed number of
            episodes, not a pass over the source tables, which can be large).
        task_mixup: probability that an episode's task is a random convex mixture of two source
            tasks' standardised values (on their shared architectures, data samples mixed in the
            same proportion). With few source tasks this is what teaches the task encoder to
            interpolate rather than to recognise the sources. Only pairs sharing at least the
            step's ``k + query`` architectures are mixed; an episode with no such pair uses a
            plain source task instead.
        task_augment: probability that an episode adds ``beta * g(arch)`` to the task's
            standardised values, ``g`` a random linear function of the flattened encoding
            (standardised over the table), ``beta ~ U(0, 1)``. Source tasks that rank
            architectures almost alike teach the model nothing about *adapting*; these synthetic
            tasks, which rank them differently, do.
        ridge: add a closed-form ridge regression of the support residuals on the head's last
            hidden layer (meta-learned ``lambda``, see ``_MetaNet.ridge``), so more labels keep
            helping when the target ranks architectures differently from every source.
        finetune_steps: Adam steps on a copy of the head, with the ``k`` target labels, in
            ``fit`` before the ridge correction (default 0: adaptation is the task embedding
            plus the ridge; the meta-trained weights are never changed).
        finetune_lr: learning rate of those steps.
        data_samples: data samples drawn per task for the data encoder.
        inducing, heads: Set Transformer inducing points and attention heads.
        seed: seeds initialisation, episodes, noise and data subsampling.
    """

    differentiable = True
    fits_from_labels = False  # meta-trained first, or built from GP surrogates

    def __init__(
        self,
        space,
        *,
        task_encoding: TaskEncoding = "pairs",
        hidden: int = 64,
        layers: int = 4,
        noise: VPSchedule | None = None,
        data: Any = None,
        lr: float = 2e-3,
        rank_weight: float = 1.0,
        support_range: tuple[int, int] = (5, 100),
        query_size: int = 64,
        episodes_per_step: int = 8,
        steps_per_epoch: int = 25,
        task_mixup: float = 0.5,
        task_augment: float = 0.5,
        ridge: bool = True,
        finetune_steps: int = 0,
        finetune_lr: float = 1e-3,
        data_samples: int = 128,
        inducing: int = 16,
        heads: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        if task_encoding not in _ENCODINGS:
            raise InvalidArgumentError(f"task_encoding must be one of {_ENCODINGS}, got {task_encoding!r}")
        k_min, k_max = _support_range(support_range, 1)
        hidden, layers, query_size, episodes_per_step, steps_per_epoch, data_samples, inducing, heads = (
            check_int(v, name, 1)
            for v, name in (
                (hidden, "hidden"), (layers, "layers"), (query_size, "query_size"), (episodes_per_step, "episodes_per_step"),
                (steps_per_epoch, "steps_per_epoch"), (data_samples, "data_samples"), (inducing, "inducing"), (heads, "heads"),
            )
        )  # fmt: skip
        if hidden % heads:
            raise InvalidArgumentError(f"heads ({heads}) must divide hidden ({hidden})")
        lr, finetune_lr = check_real(lr, "lr", 0, low_open=True), check_real(finetune_lr, "finetune_lr", 0, low_open=True)
        rank_weight = check_real(rank_weight, "rank_weight", 0)
        task_mixup, task_augment = check_real(task_mixup, "task_mixup", 0, 1), check_real(task_augment, "task_augment", 0, 1)
        finetune_steps = check_int(finetune_steps, "finetune_steps", 0)
        noise = check_noise(noise)
        self.task_encoding = task_encoding
        self.hidden, self.layers, self.noise, self.lr, self.rank_weight = hidden, layers, noise, lr, rank_weight
        self.support_range = (k_min, k_max)
        self.query_size, self.episodes_per_step, self.steps_per_epoch = query_size, episodes_per_step, steps_per_epoch
        self.task_mixup, self.task_augment, self.ridge = task_mixup, task_augment, ridge
        self.finetune_steps, self.finetune_lr = finetune_steps, finetune_lr
        self.data_samples, self.inducing, self.heads = data_samples, inducing, heads
        self.net: _MetaNet | None = None
        self.meta_history: list[float] = []  # mean meta-training loss per epoch
        self.meta_seconds = 0.0
        self._data_mu: torch.Tensor | None = None
        self._data_sd: torch.Tensor | None = None
        self._task_data = None if data is None else data_features(data, "target")
        self._task_emb: torch.Tensor | None = None
        self._head: nn.Module | None = None
        self._beta: torch.Tensor | None = None

    @property
    def uses_pairs(self) -> bool:
        """True when the task embedding includes the labelled-pairs encoder."""
        return self.task_encoding in ("pairs", "both")

    @property
    def uses_data(self) -> bool:
        """True when the task embedding includes the data encoder."""
        return self.task_encoding in ("data", "both")

    def set_task_data(self, data: Any) -> MetaPredictor:
        """Set the target task's data samples (``m x d`` or images, see :class:`Task`); call ``fit`` again after."""
        self._task_data = data_features(data, "target")
        return self

    # ------------------------------------------------------------------ meta-training
    def _validate_tasks(self, tasks: Sequence[Task]) -> list[_Source]:
        if isinstance(tasks, Task):
            raise InvalidTrainingDataError("meta_fit takes a sequence of Task objects; wrap a single one in a list")
        try:
            tasks = list(tasks)
        except TypeError:
            raise InvalidTrainingDataError(f"meta_fit takes a sequence of Task objects, got {type(tasks).__name__}") from None
        if not tasks:
            raise InvalidTrainingDataError("meta_fit needs at least one source Task, got none")
        out: list[_Source] = []
        data_dim = None
        for i, task in enumerate(tasks):
            if not isinstance(task, Task):
                raise InvalidTrainingDataError(f"tasks[{i}] must be a nagen.predictors.meta.Task, got {type(task).__name__}")
            archs = self._validate_archs(task.archs)
            y = as_values(task.values, f"task {task.name!r}")
            if y.ndim != 1 or len(y) != len(archs):
                raise InvalidTrainingDataError(
                    f"task {task.name!r}: got {len(archs)} architectures but values of shape {y.shape}; "
                    "give one value per architecture"
                )
            if len(archs) < 2:
                raise InvalidTrainingDataError(f"task {task.name!r}: needs at least 2 labelled architectures, got {len(archs)}")
            bad = np.flatnonzero(~np.isfinite(y))
            if bad.size:
                raise InvalidTrainingDataError(
                    f"task {task.name!r}: values must be finite; NaN/inf at positions {bad[:10].tolist()}"
                )
            data = None
            if self.uses_data:
                if task.data is None:
                    raise InvalidTrainingDataError(
                        f"task {task.name!r} has no data but task_encoding={self.task_encoding!r} embeds data; "
                        "give every Task data samples or use task_encoding='pairs'"
                    )
                data = data_features(task.data, f"task {task.name!r}")
                if data_dim is not None and data.shape[1] != data_dim:
                    raise InvalidTrainingDataError(
                        f"task {task.name!r}: data has {data.shape[1]} features, earlier tasks {data_dim}; "
                        "all tasks need one width"
                    )
                data_dim = data.shape[1]
            X, A = self.space.encode(archs)
            z = (y - y.mean()) / (y.std() or 1.0)
            feats = X.flatten(1) if self.space.fixed_topology else torch.cat([X.flatten(1), A.flatten(1)], dim=1)
            y_t, z_t = torch.tensor(y, dtype=torch.float32), torch.tensor(z, dtype=torch.float32)
            out.append(_Source(task.name, X, A, y_t, z_t, archs, feats, data))
        return out

    @single_threaded
    def meta_fit(self, tasks: Sequence[Task], epochs: int = 30, progress: bool = False) -> MetaPredictor:
        """Episodic meta-training on source tasks (weights are re-initialised); returns ``self``.

        Each step runs ``episodes_per_step`` episodes: pick a task (or, with probability
        ``task_mixup``, a mixture of two; with probability ``task_augment`` plus a random
        architecture-feature term), draw ``k`` support and ``query_size`` disjoint query
        architectures, standardise both with the support's mean and std, embed the task from
        the support (and its data), solve the ridge correction on the support and regress the
        query (MSE + pairwise ranking loss). The defaults (30 epochs = 750 steps) take about a
        minute of one CPU core on NB201; afterwards the weights are frozen.

        Args:
            tasks: source tasks; each needs ``>= 2`` architectures, and data when the task
                encoding uses data (all with the same feature width).
            epochs: epochs of ``steps_per_epoch`` optimiser steps.
            progress: show a tqdm bar.

        Raises:
            InvalidTrainingDataError: no tasks, archs/values mismatch, non-finite values,
                missing or inconsistent data.
        """
        epochs = check_int(epochs, "epochs", 1)
        sources = self._validate_tasks(tasks)
        start = time.perf_counter()
        gen = torch.Generator().manual_seed(self.seed)
        data_dim = None
        if self.uses_data:
            # one normalisation for every task, from the sources only (the target's data is normalised the same way)
            all_data = torch.cat([s.data for s in sources])
            self._data_mu = all_data.mean(0)
            self._data_sd = all_data.std(0).clamp_min(1e-6) if len(all_data) > 1 else torch.ones(all_data.shape[1])
            for s in sources:
                s.data = (s.data - self._data_mu) / self._data_sd
            data_dim = all_data.shape[1]
        with torch.random.fork_rng(devices=[]):  # layer initialisers use the global generator; leave the caller's alone
            torch.manual_seed(self.seed)
            enc = DAGEncoder(self.space.max_nodes, len(self.space.vocab), self.hidden, self.layers, self.noise is not None)
            self.net = _MetaNet(enc, self.task_encoding, self.hidden, data_dim, self.inducing, self.heads, self.ridge)
        mixes = self._mixture_pairs(sources)
        total = epochs * self.steps_per_epoch
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=1e-4)
        warm = max(1, total // 20)  # short linear warm-up: attention blocks are unstable at full lr from init
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        )
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"meta-fit ({len(sources)} tasks)", leave=False)
        self.net.train()
        self.meta_history = []
        min_n = min(len(s.y) for s in sources)
        for _ in range(epochs):
            losses = []
            for _ in range(self.steps_per_epoch):
                loss = self._episode_loss(sources, mixes, min_n, gen)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                if bar is not None:
                    bar.update(1)
            self.meta_history.append(float(np.mean(losses)))
        if bar is not None:
            bar.close()
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)  # frozen after meta-training; score() still differentiates w.r.t. X
        self._fitted = False  # a new meta-model needs a new fit on the target
        self._task_emb = self._head = self._beta = None
        self.meta_seconds = time.perf_counter() - start
        return self

    @staticmethod
    def _mixture_pairs(sources: list[_Source]) -> list[tuple[int, int, torch.Tensor, torch.Tensor]]:
        """Pairs of tasks with their shared architectures (index tensors into each) for task mixup."""
        out = []
        for i in range(len(sources)):
            pos = {a: r for r, a in enumerate(sources[i].keys)}
            for j in range(i + 1, len(sources)):
                ii, jj = [], []
                for r, a in enumerate(sources[j].keys):
                    if a in pos:
                        ii.append(pos[a])
                        jj.append(r)
                if len(ii) >= 2:
                    out.append((i, j, torch.tensor(ii), torch.tensor(jj)))
        return out

    def _episode_task(
        self, sources: list[_Source], mixes: list, gen: torch.Generator, need: int = 0
    ) -> tuple[_Source, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """One episode's task: ``(source, rows, y, data)``.

        ``y`` (``n``) are the task's values and ``rows`` (``n`` or None for all) the rows of
        ``source.X``/``source.A`` they belong to: a source task, or a convex mixture of two.
        A mixture only uses pairs sharing at least ``need`` architectures; when no pair does,
        the episode falls back to a plain source task.
        """
        # the coin is drawn whenever pairs exist, so the generator's stream (and a seeded run)
        # does not depend on which pairs happen to be large enough this step
        if mixes and float(torch.rand(1, generator=gen)) < self.task_mixup:
            # every episode of a step must have k + q rows to batch; a pair sharing fewer cannot
            fit = [m for m in mixes if len(m[2]) >= need]
        else:
            fit = []
        if fit:
            i, j, ii, jj = fit[int(torch.randint(len(fit), (1,), generator=gen))]
            si, sj = sources[i], sources[j]
            w = float(torch.rand(1, generator=gen))
            # mix globally standardised values: the sources are fully known, and the support
            # standardisation of the episode removes the arbitrary scale again
            y = w * si.z[ii] + (1 - w) * sj.z[jj]
            data = None
            if self.uses_data:
                m = self.data_samples
                mi = int(round(w * m))
                pick_i = torch.randint(len(si.data), (mi,), generator=gen)
                pick_j = torch.randint(len(sj.data), (m - mi,), generator=gen)
                data = torch.cat([si.data[pick_i], sj.data[pick_j]])
            return si, ii, y, data
        s = sources[int(torch.randint(len(sources), (1,), generator=gen))]
        data = None
        if self.uses_data:
            if len(s.data) >= self.data_samples:
                data = s.data[torch.randperm(len(s.data), generator=gen)[: self.data_samples]]
            else:  # small data sets: resample so every episode's set has one size and they batch
                data = s.data[torch.randint(len(s.data), (self.data_samples,), generator=gen)]
        return s, None, s.y, data

    def _episode_loss(self, sources: list[_Source], mixes: list, min_n: int, gen: torch.Generator) -> torch.Tensor:
        """Loss of one step's ``episodes_per_step`` episodes (one ``k`` and query size per step, so they batch)."""
        k_min, k_max = self.support_range
        lo, hi = math.log(k_min), math.log(k_max + 1)
        k = int(math.exp(lo + (hi - lo) * float(torch.rand(1, generator=gen))))
        k = max(1, min(k, k_max, min_n - 1))
        q = max(1, min(self.query_size, min_n - k))
        Xs, As, ys, datas = [], [], [], []
        for _ in range(self.episodes_per_step):
            src, rows, y, data = self._episode_task(sources, mixes, gen, k + q)
            if float(torch.rand(1, generator=gen)) < self.task_augment:
                if rows is None:  # values must be on the standardised scale before adding the random term
                    y = src.z
                feats = src.feats if rows is None else src.feats[rows]
                g = feats @ torch.randn(feats.shape[1], generator=gen)
                y = y + float(torch.rand(1, generator=gen)) * (g - g.mean()) / g.std().clamp_min(1e-8)
            idx = torch.randperm(len(y), generator=gen)[: k + q]  # support and query are disjoint
            ys.append(y[idx])
            if rows is not None:
                idx = rows[idx]
            Xs.append(src.X[idx])
            As.append(src.A[idx])
            datas.append(data)
        E = self.episodes_per_step
        X, A, y = torch.stack(Xs), torch.stack(As), torch.stack(ys)  # [E, k+q, N, V], [E, k+q, N, N], [E, k+q]
        mu = y[:, :k].mean(1, keepdim=True)
        sd = y[:, :k].std(1, unbiased=False, keepdim=True) if k > 1 else torch.ones_like(mu)
        sd = torch.where(sd > 1e-8, sd, torch.ones_like(sd))  # Predictor.fit's "std or 1.0"
        z = ((y - mu) / sd).clamp(-_Z_CLIP, _Z_CLIP)  # [E, k+q]
        X, A = X.flatten(0, 1), A.flatten(0, 1)
        t = None
        if self.noise is not None:
            # support archs are real, labelled cells: embed them clean (t = 0); noise only the queries
            t = self.noise.sample_t(E * (k + q), gen).view(E, k + q)
            t[:, :k] = 0.0
            t = t.flatten()
            Xn, _ = self.noise.perturb(X, t, gen)
            X = torch.where(t.view(-1, 1, 1) > 0, Xn, X)
            if not self.space.fixed_topology:
                An, _ = self.noise.perturb(A, t, gen)
                A = torch.where(t.view(-1, 1, 1) > 0, torch.triu(An, 1), A)
        h = self.net.encoder(X, A, t).view(E, k + q, -1)
        task = self.net.task(h[:, :k], z[:, :k], torch.stack(datas) if self.uses_data else None)
        f, pred = self.net.head_features(h, task)
        if self.ridge:
            beta = self.net.ridge(f[:, :k], z[:, :k] - pred[:, :k])  # [E, hidden]
            pred = pred + (f @ beta[..., None])[..., 0]
        return _rank_mse_loss(pred[:, k:], z[:, k:], self.rank_weight)

    # ------------------------------------------------------------------ adaptation
    def _check_meta_fitted(self) -> _MetaNet:
        if self.net is None:
            raise NotFittedError(
                f"{type(self).__name__} is not meta-trained; call meta_fit(source_tasks) before fit(archs, values)"
            )
        return self.net

    def _target_data(self, data: Any = None) -> torch.Tensor | None:
        """Normalised target data ``1 x m x d`` (deterministic subsample), or None when unused."""
        if not self.uses_data:
            return None
        x = data_features(data, "target") if data is not None else self._task_data
        if x is None:
            raise InvalidTrainingDataError(
                f"task_encoding={self.task_encoding!r} embeds the task's data, but no target data was given; "
                "pass data=... to the constructor or call set_task_data(samples) before fit"
            )
        if x.shape[1] != self._data_mu.shape[0]:
            raise InvalidTrainingDataError(
                f"target data has {x.shape[1]} features, the source tasks had {self._data_mu.shape[0]}"
            )
        gen = torch.Generator().manual_seed(self.seed)
        x = x[torch.randperm(len(x), generator=gen)[: self.data_samples]]
        return ((x - self._data_mu) / self._data_sd)[None]

    def task_embedding(
        self, archs: Sequence[ArchGraph | str], values: Sequence[float] | np.ndarray, data: Any = None
    ) -> torch.Tensor:
        """The task embedding of labelled pairs (and data): ``task_dim`` (``hidden`` or ``2 * hidden``).

        Values are standardised with their own mean and std, as in ``fit``; the result does not
        depend on the order of the pairs. ``archs`` may be empty (zero-shot) when the encoding
        is ``"data"``/``"both"`` or for analysis.

        Raises:
            NotFittedError: before ``meta_fit``.
            InvalidTrainingDataError: length mismatch, non-finite values, or data needed but missing.
        """
        net = self._check_meta_fitted()
        archs = self._validate_archs(archs)
        y = as_values(values, "task_embedding").reshape(-1)
        if len(y) != len(archs) or not np.isfinite(y).all():
            raise InvalidTrainingDataError(f"need one finite value per architecture, got {len(archs)} archs and {len(y)} values")
        mu = float(y.mean()) if len(y) else 0.0
        sd = float(y.std()) if len(y) else 1.0
        return self._embed(net, archs, (y - mu) / (sd or 1.0), data)

    def _embed(self, net: _MetaNet, archs: list[ArchGraph], z: np.ndarray, data: Any = None) -> torch.Tensor:
        h = z_t = None
        if self.uses_pairs:
            if archs:
                X, A = self.space.encode(archs)
                with torch.no_grad():
                    h = net.encoder(X, A, None)[None]
            else:
                h = torch.zeros(1, 0, net.encoder.out_dim)
            z_t = torch.tensor(np.clip(z, -_Z_CLIP, _Z_CLIP), dtype=torch.float32)[None]
        with torch.no_grad():
            return net.task(h, z_t, self._target_data(data))[0]

    @single_threaded
    def fit_prior(self, data: Any = None) -> MetaPredictor:
        """Zero-shot: adapt to a target of which no architecture is labelled; returns ``self``.

        The task is embedded from no labelled pair (with ``"data"``/``"both"`` encodings, from
        its data samples), no ridge correction is solved, and predictions are *standardised*
        (``y_mean = 0``, ``y_std = 1``): a ranking and a guidance signal, not values in a
        metric's units. DiffusionNAG and MetaD2A condition this prior on the target's data; with
        the ``"pairs"`` encoding and no data it is conditioned on nothing of the target: the same
        ranking for every target, the one the source tasks agree on. A later ``fit`` replaces it.

        Raises:
            NotFittedError: before ``meta_fit``.
            InvalidTrainingDataError: the encoding needs target data and none was given.
        """
        net = self._check_meta_fitted()
        task = self._embed(net, [], np.zeros(0), data)
        self._task_emb, self._head, self._beta = task, net.head, None
        self.y_mean, self.y_std = 0.0, 1.0
        self._fitted = True
        return self

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        """Embed the target from its ``k`` labels (``y_mean``/``y_std`` set by ``fit``), optionally
        fine-tune a head copy, then solve the ridge correction on the support residuals."""
        net = self._check_meta_fitted()
        z = (y - self.y_mean) / self.y_std
        task = self._embed(net, archs, z)
        X, A = self.space.encode(archs)
        with torch.no_grad():
            h = net.encoder(X, A, None)[None]  # [1, k, emb]
        target = torch.tensor(np.clip(z, -_Z_CLIP, _Z_CLIP), dtype=torch.float32)[None]
        head = net.head
        if self.finetune_steps:
            # a copy, so refitting on another target starts again from the meta-trained head
            head = copy.deepcopy(net.head)
            for p in head.parameters():
                p.requires_grad_(True)
            opt = torch.optim.Adam(head.parameters(), lr=self.finetune_lr)
            for _ in range(self.finetune_steps):
                loss = _rank_mse_loss(net.head_features(h, task[None], head)[1], target, self.rank_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
            for p in head.parameters():
                p.requires_grad_(False)
        beta = None
        if self.ridge:
            with torch.no_grad():
                f, base = net.head_features(h, task[None], head)
                beta = net.ridge(f, target - base)[0]  # [hidden]
        self._task_emb, self._head, self._beta = task, head, beta

    def _z(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """Standardised predictions for the fitted target: ``batch``."""
        f, base = self.net.head_features(self.net.encoder(X, A, t), self._task_emb, self._head)
        return base if self._beta is None else base + f @ self._beta

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        X, A = self.space.encode(archs)
        with torch.no_grad():
            z = torch.cat([self._z(X[i : i + 4096], A[i : i + 4096], None) for i in range(0, len(archs), 4096)])
        return Prediction((z.numpy() * self.y_std + self.y_mean).astype(np.float64))

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        return self._z(X, A, t) * self.y_std + self.y_mean

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(space={self.space.name!r}, task_encoding={self.task_encoding!r}, "
            f"meta_fitted={self.net is not None}, fitted={self._fitted})"
        )
