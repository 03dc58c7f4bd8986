"""A few-shot latency predictor: meta-trained on source devices, adapted to an unseen device from ``k`` measurements.

Hardware-aware NAS needs latency on *the user's* device, which nobody has benchmarked. As in
HELP (Lee et al., "HELP: Hardware-Adaptive Efficient Latency Prediction for NAS via
Meta-Learning", NeurIPS 2021), a device is a black box that maps architectures to latencies,
and it is embedded by its latencies on a few reference architectures; a predictor meta-trained
on source devices turns that embedding into latencies for every architecture.

Model (all on log-latency, standardised with the ``k`` measured values' own mean and std, so a
device's unit and speed drop out):

* ``phi(x) = [s(x), g(x)]``: a bidirectional dense GIN (:class:`~nagen.predictors.gnn.DAGEncoder`)
  and an MLP give ``S`` outputs ``s(x)`` trained to regress each source device's standardised
  log-latency (multi-task), plus ``F`` free basis functions ``g(x)``;
* the device embedding is the posterior mean ``w`` of a Bayesian linear regression of the
  ``k`` measured values on ``[phi(x), 1]`` with a meta-learned prior ``N(w0, diag(lambda)^-1)``:
  ``w = w0 + (Phi^T Phi + diag(lambda))^-1 Phi^T (z - Phi w0)`` (closed form, differentiable:
  R2-D2, Bertinetto et al., ICLR 2019). An unseen device is thus "a learned mix of the source
  devices plus corrections", fitted exactly and at once from its reference latencies. At
  adaptation the Gaussian likelihood becomes Huber's (a few reweighted solves), so one
  measured cell the features cannot explain does not drag the whole ranking.

Next to it, an *additive* model (``additive > 0``): NB201-style latency is nearly a sum of
per-(position, op) costs (a linear fit of raw latency on the op one-hots alone reaches Spearman
0.99-1.00 on GPUs, CPUs, the FPGA and Eyeriss given all cells), so each device's latency divided
by its mean is regressed on ``psi(x) = [1, X(x), X(x) * live(x)]`` (the op one-hots, and again
only where the node lies on an input-output path: some phones skip dead branches). The source
devices' fitted coefficient vectors give the prior ``N(mu, cov + tau^2 I)`` of a new device's
coefficients (hierarchical Bayesian linear regression), and ``adapt`` computes their posterior
mean from the ``k`` measurements. The two predictions are averaged in log space (weight
``additive``), and ``reference_archs`` is the Bayesian D-optimal design of the additive model.
Its hyperparameters (``additive``, ``additive_tau``, ``additive_noise``, the feature set) were
chosen on HELP's validation devices (and leave-one-source-out on the meta-training devices),
never on a test device (benchmarks/latency.py).

``meta_fit`` trains episodically: an episode picks a source device (or a convex mixture of two
in log space), hides that device's own column of ``s`` (it is the unknown), draws ``k`` support
and disjoint query architectures, solves the regression on the support and is scored on the
query (MSE + pairwise ranking loss), next to the multi-task loss on the sources. After every
epoch the model is scored on the *validation* devices (Spearman at ``k = 10``) and the best
epoch is kept: model choice never looks at a test device.

``predict(archs).mean`` is in the measured unit (ms); ``score(X, A, t)`` is the same prediction
as a differentiable function of the continuous state, so a diffusion generator can be guided
by it.

>>> model = LatencyPredictor("nb201").meta_fit(nagen.benchmarks.load("nb201"))       # doctest: +SKIP
>>> refs = model.reference_archs(10)  # measure these on the device    # doctest: +SKIP
>>> model.adapt({a: measure_ms(a) for a in refs}).predict(candidates).mean            # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nagen.errors import (
    InvalidArgumentError,
    InvalidTrainingDataError,
    NagenError,
    NotFittedError,
    UnknownMetricError,
    check_int,
    check_real,
    choices_hint,
)
from nagen.graph import ArchGraph
from nagen.noise import VPSchedule
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor, check_noise
from nagen.predictors.gnn import DAGEncoder
from nagen.predictors.meta import _rank_mse_loss, _support_range
from nagen._threads import single_threaded

__all__ = [
    "LatencyPredictor",
    "DeviceLeakError",
    "HELP_META_TRAIN",
    "HELP_VALIDATION",
    "HELP_TEST",
    "device_metric",
]

#: HELP's NB201 split (Lee et al., NeurIPS 2021; github.com/HayeonLee/HELP README, Table 3)
HELP_META_TRAIN = (
    "1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r",
    "samsung_a50", "pixel3", "essential_ph_1", "samsung_s7",
)  # fmt: skip
HELP_VALIDATION = ("titanx_1", "titanx_32", "titanx_256", "gold_6240")
HELP_TEST = ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss")

# standardised log-latencies are clipped here: HW-NAS-Bench's Pixel 3 and Raspberry Pi 4 give a few
# hundred degenerate cells (no path to the output) 0.003-0.05 ms, 6-10 stds below the rest in log space
_Z_CLIP = 6.0
#: the fewest target-device measurements ``adapt`` solves a device embedding from (``Predictor.fit``'s minimum)
_MIN_MEASUREMENTS = 2
# validation protocol of model selection: k labels, supports per device, cells scored per support
_VAL_K, _VAL_SUPPORTS, _VAL_CELLS = 10, 3, 3000


class DeviceLeakError(NagenError, ValueError):
    """A held-out (test) device was given as a meta-training or validation device."""


def device_metric(benchmark: Any, device: str) -> str:
    """The table column of ``device``: the name itself if it is a column, else ``lat_<device>_ms``.

    Raises:
        UnknownMetricError: neither is a column; the message lists the table's latency devices.
    """
    metrics = benchmark.metrics
    if device in metrics:
        return device
    if f"lat_{device}_ms" in metrics:
        return f"lat_{device}_ms"
    from nagen.constraints import device_of

    lat = [d for d in map(device_of, metrics) if d is not None]
    choices = lat or list(metrics)
    raise UnknownMetricError(
        f"table {benchmark.name!r} has no latency column for device {device!r} (tried {device!r} and "
        f"'lat_{device}_ms'); devices are {choices_hint(choices, 40)}"
    )


@dataclass
class _Device:
    """One source device's standardised log-latencies over the table (NaN = not measured)."""

    name: str
    z: torch.Tensor  # [n] standardised log-latency, NaN where missing
    rows: torch.Tensor  # [m] rows with a measurement


class _LatencyNet(nn.Module):
    """Architecture encoder, the feature head ``phi = [s, g]`` and the meta-learned prior of ``w``.

    Shapes: ``features(X, A, t)``: ``batch x N x V``, ``batch x N x N``, ``batch`` -> ``batch x (S + F)``.
    """

    def __init__(self, encoder: DAGEncoder, sources: int, free: int) -> None:
        super().__init__()
        self.encoder = encoder
        h = encoder.hidden
        self.head = nn.Sequential(nn.Linear(encoder.out_dim, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, sources + free))
        d = sources + free + 1  # + intercept
        # prior mean: "the average source device"; the free features and the intercept start at 0
        w0 = torch.zeros(d)
        w0[:sources] = 1.0 / max(sources, 1)
        self.w0 = nn.Parameter(w0)
        # log prior precisions; the intercept's is weak (the support mean is 0 by construction, but
        # not the query's), each feature's starts as strong as one labelled example
        log_lam = torch.zeros(d)
        log_lam[-1] = math.log(1e-2)
        self.log_lam = nn.Parameter(log_lam)
        self.sources = sources

    def features(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        f = self.head(self.encoder(X, A, t))
        return torch.cat([f, torch.ones_like(f[..., :1])], dim=-1)  # [batch, S + F + 1]

    def solve(
        self, phi: torch.Tensor, z: torch.Tensor, mask: torch.Tensor | None = None, robust_steps: int = 0
    ) -> torch.Tensor:
        """Posterior mean ``w`` of ``z ~ phi w`` under the prior ``N(w0, diag(lambda)^-1)``.

        With ``robust_steps > 0`` the likelihood is Huber's instead of Gaussian, solved by that many
        iteratively reweighted steps (weight ``min(1, c / |residual|)``, ``c = 1``): one measured
        cell the features cannot explain (a degenerate cell some devices skip, a timing glitch)
        then shifts ``w`` by a bounded amount instead of dragging the whole ranking.

        Shapes: phi ``E x k x d``, z ``E x k``, mask ``E x d`` (0 hides a feature) -> ``E x d``.
        """
        if mask is not None:
            phi = phi * mask[:, None, :]
        w0 = self.w0.expand(phi.shape[0], -1)
        prior = torch.diag_embed(self.log_lam.exp().expand_as(w0))
        resid = z - (phi @ w0[..., None])[..., 0]
        weight = torch.ones_like(z)
        for step in range(robust_steps + 1):
            wphi = phi * weight[..., None]
            w = w0 + torch.linalg.solve(phi.transpose(-1, -2) @ wphi + prior, wphi.transpose(-1, -2) @ resid[..., None])[..., 0]
            if step < robust_steps:
                r = (z - (phi @ w[..., None])[..., 0]).abs()
                weight = (1.0 / r.clamp_min(1e-6)).clamp(max=1.0)
        return w


def _live_nodes(space: Any, X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``batch x N`` 0/1: the node is on a path from the input (row 0) to the output (last row)
    through nodes whose op is not ``none``. Piecewise constant (from the argmax op), so no gradient."""
    with torch.no_grad():
        ops = X.argmax(-1)
        active = X.sum(-1) > 0  # padding rows are all zero
        if "none" in space.vocab:
            active &= ops != space.vocab.index("none")
        adj = A > 0.5
        n = X.shape[1]
        fwd = torch.zeros_like(active)
        fwd[:, 0] = active[:, 0]
        for j in range(1, n):  # A is strictly upper-triangular: rows are in topological order
            fwd[:, j] = active[:, j] & (adj[:, :j, j] & fwd[:, :j]).any(1)
        bwd = torch.zeros_like(active)
        bwd[:, n - 1] = active[:, n - 1]
        for i in range(n - 2, -1, -1):
            bwd[:, i] = active[:, i] & (adj[:, i, i + 1 :] & bwd[:, i + 1 :]).any(1)
        return (fwd & bwd).to(X.dtype)


def _additive_features(space: Any, X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``psi(x) = [1, X, X * live]`` flattened: ``batch x (1 + 2 N V)``, linear in ``X`` (differentiable).

    The raw one-hots because most devices execute every op, dead branches included (the raw
    per-op fit explains GPU/CPU/FPGA/Eyeriss latency almost exactly); the live copy because some
    (HW-NAS-Bench's Pixel 3, Raspberry Pi 4) prune what cannot reach the output.
    """
    live = X * _live_nodes(space, X, A)[..., None]
    return torch.cat([torch.ones_like(X[:, :1, 0]), X.flatten(1), live.flatten(1)], dim=1)


@dataclass
class _AdditivePrior:
    """Hierarchical prior of the additive model, fitted on the source devices.

    ``cols`` keeps the features that vary over the meta-training table; ``mu``, ``cov`` are the
    prior of a device's coefficients on ``psi / device mean``; ``noise`` the residual variance.
    """

    cols: torch.Tensor  # [D] bool
    mu: torch.Tensor  # [d] float64
    cov: torch.Tensor  # [d, d] float64
    noise: float


@register("latency")
class LatencyPredictor(Predictor):
    """Few-shot latency predictor: ``meta_fit`` on source devices, then ``adapt`` with ``k`` measurements.

    Args:
        space: the search space.
        hidden: feature width of the architecture encoder (its embedding is ``2 * hidden``).
        layers: message-passing rounds of the encoder.
        free_features: ``F``, learned basis functions next to the ``S`` source-device outputs.
        noise: a ``VPSchedule`` makes the model noise-aware: query and multi-task inputs are noised
            and the encoder is conditioned on ``t``, so ``score(X, A, t)`` is meaningful along a
            diffusion trajectory (as in ``GNNPredictor`` and ``MetaPredictor``).
        lr: AdamW learning rate of meta-training.
        rank_weight: weight of the pairwise ranking loss next to MSE.
        support_range: ``(k_min, k_max)``; each step draws the support size ``k`` log-uniformly.
        query_size: query architectures per episode.
        episodes_per_step: episodes per optimiser step.
        steps_per_epoch: optimiser steps per epoch.
        batch_size: architectures per step of the multi-task source loss.
        task_mixup: probability that an episode's device is a convex mixture of two source devices
            (in log space); with nine sources this teaches interpolation rather than recognition.
        robust_steps: Huber reweighting steps of the device regression at adaptation and
            validation (0: plain ridge); see ``_LatencyNet.solve``.
        additive: weight of the additive per-op model in the log-space average of the two
            predictions (0: the meta-trained network alone, as before; 1: the additive model alone;
            default 0.75 chosen by leave-one-source-out, benchmarks/latency_loso.py).
        additive_tau: prior std added to every coefficient of the additive model beyond the
            source devices' spread (in units of the device's mean latency).
        additive_noise: the additive model's noise variance as a multiple of the source devices'
            mean residual variance (below 1: trust the measurements more than the sources' misfit).
        seed: seeds initialisation, episodes, noise and the validation supports.
    """

    differentiable = True
    fits_from_labels = False  # meta-trained first, or built from GP surrogates

    def __init__(
        self,
        space,
        *,
        hidden: int = 64,
        layers: int = 3,
        free_features: int = 8,
        noise: VPSchedule | None = None,
        lr: float = 2e-3,
        rank_weight: float = 1.0,
        support_range: tuple[int, int] = (4, 40),
        query_size: int = 64,
        episodes_per_step: int = 8,
        steps_per_epoch: int = 50,
        batch_size: int = 256,
        task_mixup: float = 0.5,
        robust_steps: int = 3,
        additive: float = 0.75,
        additive_tau: float = 0.01,
        additive_noise: float = 0.3,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        k_min, k_max = _support_range(support_range, 2)
        hidden, layers, query_size, episodes_per_step, steps_per_epoch = (
            check_int(v, name, 1)
            for v, name in (
                (hidden, "hidden"), (layers, "layers"), (query_size, "query_size"),
                (episodes_per_step, "episodes_per_step"), (steps_per_epoch, "steps_per_epoch"),
            )
        )  # fmt: skip
        free_features, batch_size = check_int(free_features, "free_features", 0), check_int(batch_size, "batch_size", 2)
        robust_steps = check_int(robust_steps, "robust_steps", 0)
        lr, rank_weight = check_real(lr, "lr", 0, low_open=True), check_real(rank_weight, "rank_weight", 0)
        task_mixup, additive = check_real(task_mixup, "task_mixup", 0, 1), check_real(additive, "additive", 0, 1)
        additive_tau = check_real(additive_tau, "additive_tau", 0)
        additive_noise = check_real(additive_noise, "additive_noise", 0, low_open=True)
        noise = check_noise(noise)
        self.hidden, self.layers, self.free_features, self.noise = hidden, layers, free_features, noise
        self.lr, self.rank_weight, self.support_range = lr, rank_weight, (k_min, k_max)
        self.query_size, self.episodes_per_step, self.steps_per_epoch = query_size, episodes_per_step, steps_per_epoch
        self.batch_size, self.task_mixup, self.robust_steps = batch_size, task_mixup, robust_steps
        self.additive, self.additive_tau, self.additive_noise = float(additive), float(additive_tau), float(additive_noise)
        self._prior: _AdditivePrior | None = None
        self._add_w: torch.Tensor | None = None  # posterior mean of the additive coefficients
        self._add_scale = 1.0  # the device's latency unit: prediction (ms) = scale * psi @ w
        self.net: _LatencyNet | None = None
        self.source_devices: list[str] = []
        self.validation_devices: list[str] = []
        self.meta_history: list[float] = []  # mean meta-training loss per epoch
        self.validation_history: list[float] = []  # mean validation Spearman per epoch
        self.best_epoch = -1
        self.meta_seconds = 0.0
        self._table_archs: list[ArchGraph] = []
        self._w: torch.Tensor | None = None
        self._log_mu = 0.0
        self._log_sd = 1.0

    # ------------------------------------------------------------------ meta-training
    def _column(self, benchmark: Any, device: str) -> np.ndarray:
        """``device``'s column as log-latency (NaN where not measured); raises on non-positive values."""
        metric = device_metric(benchmark, device)
        v = np.asarray(benchmark.values(metric), dtype=np.float64)
        bad = np.flatnonzero(np.isfinite(v) & (v <= 0))
        if bad.size:
            raise InvalidTrainingDataError(
                f"device {device!r} ({metric!r}): latencies must be > 0 (log scale), rows {bad[:10].tolist()} are not"
            )
        with np.errstate(invalid="ignore"):
            return np.log(v)

    def _devices(self, benchmark: Any, devices: Sequence[str], held_out: Sequence[str], role: str) -> list[str]:
        if isinstance(devices, str):
            raise InvalidTrainingDataError(f"{role} devices must be a sequence of names; wrap a single one in a list")
        out = []
        for d in devices:
            metric = device_metric(benchmark, d)  # raises UnknownMetricError listing the devices
            if d in held_out or metric in {device_metric(benchmark, h) for h in held_out if _has(benchmark, h)}:
                raise DeviceLeakError(
                    f"{role} device {d!r} is held out for testing ({choices_hint(held_out)}); nothing about a test "
                    "device may be used except its k measurements. Remove it, or pass held_out=() if it is not a test device"
                )
            out.append(d)
        columns = [device_metric(benchmark, d) for d in out]  # 'pixel3' and 'lat_pixel3_ms' are one column
        if len(set(columns)) != len(columns):
            raise InvalidTrainingDataError(f"{role} devices contain duplicates: {list(devices)} (columns {columns})")
        return out

    @single_threaded
    def meta_fit(
        self,
        benchmark: Any,
        devices: Sequence[str] | None = None,
        *,
        validation: Sequence[str] | None = None,
        held_out: Sequence[str] = HELP_TEST,
        epochs: int = 10,
        progress: bool = False,
    ) -> LatencyPredictor:
        """Meta-train on source devices of ``benchmark`` (weights re-initialised); returns ``self``.

        Args:
            benchmark: a ``nagen.benchmarks.Benchmark`` of this space (shipped or ``Benchmark.from_csv``).
            devices: source devices, as ``"pixel3"`` (column ``lat_pixel3_ms``) or any column name;
                default HELP's nine meta-training devices.
            validation: devices scored after every epoch to pick the best epoch; default HELP's four
                validation devices when ``devices`` is None, else none (the last epoch is kept).
            held_out: test devices that must not appear in ``devices`` or ``validation``.
            epochs: epochs of ``steps_per_epoch`` steps (the default 10 x 50 steps is about one
                minute of one idle CPU core on NB201; validation Spearman plateaus after about 5).
            progress: show a tqdm bar.

        Raises:
            UnknownMetricError: a device has no column (the message lists the devices).
            DeviceLeakError: a held-out device is among ``devices`` or ``validation``.
            InvalidTrainingDataError: fewer than 2 source devices, too few measured rows,
                non-positive latencies.
        """
        epochs = check_int(epochs, "epochs", 1)
        if getattr(benchmark, "space", None) is None or benchmark.space.name != self.space.name:
            raise InvalidTrainingDataError(
                f"benchmark must be a nagen Benchmark of space {self.space.name!r}, got {benchmark!r}"
            )
        if validation is None:
            validation = [d for d in HELP_VALIDATION if _has(benchmark, d)] if devices is None else []
        if isinstance(devices, str):  # list("pixel3") would be six one-letter devices
            raise InvalidTrainingDataError("meta-training devices must be a sequence of names; wrap a single one in a list")
        devices = list(HELP_META_TRAIN) if devices is None else list(devices)
        # one name: "pixel" in "pixel2" would be a substring test, so a held-out "pixel2" would not guard "pixel2"
        held_out = (held_out,) if isinstance(held_out, str) else tuple(held_out or ())
        devices = self._devices(benchmark, devices, held_out, "meta-training")
        validation = self._devices(benchmark, validation, held_out, "validation")
        if len(devices) < 2:
            raise InvalidTrainingDataError(f"meta_fit needs at least 2 source devices, got {devices}")
        overlap = {device_metric(benchmark, d) for d in devices} & {device_metric(benchmark, d) for d in validation}
        if overlap:
            raise InvalidTrainingDataError(f"devices {sorted(overlap)} are both meta-training and validation devices")
        start = time.perf_counter()
        k_min, k_max = self.support_range
        archs = list(benchmark.archs)
        X, A = self.space.encode(archs)
        log_cols = [self._column(benchmark, d) for d in devices]
        sources = [self._device(d, c) for d, c in zip(devices, log_cols)]
        short = [s.name for s in sources if len(s.rows) < k_min + 2]
        if short:
            raise InvalidTrainingDataError(f"devices {short} have fewer than {k_min + 2} measured architectures")
        val = [self._device(d, self._column(benchmark, d)) for d in validation]
        Z = torch.stack([s.z for s in sources], dim=1)  # [n, S], NaN = missing
        gen = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):  # layer initialisers draw from the global generator
            torch.manual_seed(self.seed)
            enc = DAGEncoder(self.space.max_nodes, len(self.space.vocab), self.hidden, self.layers, self.noise is not None)
            self.net = _LatencyNet(enc, len(sources), self.free_features)
        net = self.net
        total = epochs * self.steps_per_epoch
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
        val_plan = self._validation_plan(val, len(archs))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"meta-fit latency ({len(sources)} devices)", leave=False)
        self.meta_history, self.validation_history, self.best_epoch = [], [], -1
        best_state, best_val = None, -math.inf
        for epoch in range(epochs):
            net.train()
            losses = []
            for _ in range(self.steps_per_epoch):
                loss = self._multitask_loss(X, A, Z, gen) + self._episode_loss(X, A, sources, gen)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                if bar is not None:
                    bar.update(1)
            self.meta_history.append(float(np.mean(losses)))
            if val_plan:
                score = self._validate(X, A, val_plan)
                self.validation_history.append(score)
                if score > best_val:
                    best_val, best_state, self.best_epoch = score, copy.deepcopy(net.state_dict()), epoch
                if bar is not None:
                    bar.set_postfix(val_spearman=f"{score:.3f}")
        if bar is not None:
            bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        else:
            self.best_epoch = epochs - 1
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)  # frozen after meta-training; score() still differentiates w.r.t. X
        self.source_devices, self.validation_devices = devices, list(validation)
        self._table_archs = archs
        self._prior = self._additive_prior(X, A, log_cols)
        self._fitted, self._w, self._add_w = False, None, None  # a new meta-model needs a new adapt on the target
        self.meta_seconds = time.perf_counter() - start
        return self

    def _additive_prior(self, X: torch.Tensor, A: torch.Tensor, log_cols: list[np.ndarray]) -> _AdditivePrior:
        """Fit every source device's latency / its mean on ``psi``; their spread is the prior (seconds)."""
        psi = _additive_features(self.space, X, A).double()
        cols = psi.std(0) > 0
        cols[0] = True  # the intercept
        P = psi[:, cols].numpy()
        W, res = [], []
        for lv in log_cols:
            ok = np.isfinite(lv)
            v = np.exp(lv[ok])
            t = v / v.mean()  # a device's unit and overall speed drop out; its op-cost profile stays
            w = np.linalg.lstsq(P[ok], t, rcond=None)[0]  # minimum norm: one-hot groups are collinear
            W.append(w)
            res.append(float(np.mean((t - P[ok] @ w) ** 2)))
        W = np.asarray(W)
        cov = np.cov(W.T) if len(W) > 1 else np.zeros((W.shape[1], W.shape[1]))
        return _AdditivePrior(cols, torch.from_numpy(W.mean(0)), torch.from_numpy(np.atleast_2d(cov)), float(np.mean(res)))

    def _additive_weight(self) -> float:
        """The additive model's weight; 0 for models pickled before it existed (no prior)."""
        return self.additive if getattr(self, "_prior", None) is not None else 0.0

    def _prior_terms(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """``(mu, Sigma, noise variance)`` of the additive model with this predictor's tau and noise."""
        p = self._prior
        sig = p.cov + self.additive_tau**2 * torch.eye(len(p.mu), dtype=torch.float64)
        return p.mu, sig, self.additive_noise * p.noise

    def _psi(self, X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        return _additive_features(self.space, X, A)[:, self._prior.cols]

    def __setstate__(self, state: dict) -> None:
        # models pickled before the additive model (on-disk caches) load as network-only predictors
        defaults = {"additive": 0.0, "additive_tau": 0.01, "additive_noise": 0.3, "_prior": None, "_add_w": None, "_add_scale": 1.0}
        self.__dict__.update({**defaults, **state})

    @staticmethod
    def _device(name: str, log_v: np.ndarray) -> _Device:
        ok = np.isfinite(log_v)
        mu, sd = log_v[ok].mean(), log_v[ok].std() or 1.0
        z = torch.tensor(np.clip((log_v - mu) / sd, -_Z_CLIP, _Z_CLIP), dtype=torch.float32)
        return _Device(name, z, torch.tensor(np.flatnonzero(ok)))

    def _noised(self, X: torch.Tensor, A: torch.Tensor, gen: torch.Generator, clean: int = 0) -> tuple:
        """Noise all but the first ``clean`` rows (noise-aware models only): ``(X, A, t or None)``."""
        if self.noise is None:
            return X, A, None
        t = self.noise.sample_t(len(X), gen)
        t[:clean] = 0.0
        Xn, _ = self.noise.perturb(X, t, gen)
        X = torch.where(t.view(-1, 1, 1) > 0, Xn, X)
        if not self.space.fixed_topology:
            An, _ = self.noise.perturb(A, t, gen)
            A = torch.where(t.view(-1, 1, 1) > 0, torch.triu(An, 1), A)
        return X, A, t

    def _multitask_loss(self, X: torch.Tensor, A: torch.Tensor, Z: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """MSE of ``s(x)`` against every source device's standardised log-latency on a random batch."""
        idx = torch.randint(len(X), (self.batch_size,), generator=gen)
        xb, ab, t = self._noised(X[idx], A[idx], gen)
        s = self.net.features(xb, ab, t)[:, : self.net.sources]  # [B, S]
        target = Z[idx]
        ok = torch.isfinite(target)
        return ((s - torch.nan_to_num(target)) ** 2)[ok].mean()

    def _episode_loss(self, X: torch.Tensor, A: torch.Tensor, sources: list[_Device], gen: torch.Generator) -> torch.Tensor:
        """Few-shot regression loss of ``episodes_per_step`` episodes with one ``k`` (so they batch)."""
        k_min, k_max = self.support_range
        lo, hi = math.log(k_min), math.log(k_max + 1)
        k = int(math.exp(lo + (hi - lo) * float(torch.rand(1, generator=gen))))
        S, d = len(sources), self.net.w0.shape[0]
        rows, ys, masks = [], [], []
        for _ in range(self.episodes_per_step):
            i = int(torch.randint(S, (1,), generator=gen))
            mask = torch.ones(d)
            mask[i] = 0.0  # the episode's device is the unknown: its own source output would give the answer away
            y, pool = sources[i].z, sources[i].rows
            if S > 2 and float(torch.rand(1, generator=gen)) < self.task_mixup:
                j = (i + 1 + int(torch.randint(S - 1, (1,), generator=gen))) % S
                w = float(torch.rand(1, generator=gen))
                y = w * y + (1 - w) * sources[j].z  # NaN wherever either is missing
                pool = torch.from_numpy(np.flatnonzero(torch.isfinite(y).numpy()))
                mask[j] = 0.0
            n_avail = len(pool)
            kk = min(k, n_avail - 2)
            q = min(self.query_size, n_avail - kk)
            pick = pool[torch.randperm(n_avail, generator=gen)[: kk + q]]
            rows.append(pick)
            ys.append(y[pick])
            masks.append(mask)
        # sources may have few rows: trim every episode to the shortest so they stack
        kk = min(k, min(len(r) for r in rows) - 1)
        m = min(len(r) for r in rows)
        rows = torch.stack([r[:m] for r in rows])  # [E, kk + q]
        y = torch.stack([v[:m] for v in ys])  # [E, kk + q]
        mu = y[:, :kk].mean(1, keepdim=True)
        sd = y[:, :kk].std(1, unbiased=False, keepdim=True)
        sd = torch.where(sd > 1e-6, sd, torch.ones_like(sd))
        z = ((y - mu) / sd).clamp(-_Z_CLIP, _Z_CLIP)
        E = rows.shape[0]
        xb, ab = X[rows.flatten()], A[rows.flatten()]
        # supports are real measured cells (clean); queries are noised for noise-aware models
        clean = torch.zeros(E, m, dtype=torch.bool)
        clean[:, :kk] = True
        if self.noise is not None:
            t = self.noise.sample_t(E * m, gen)
            t[clean.flatten()] = 0.0
            Xn, _ = self.noise.perturb(xb, t, gen)
            xb = torch.where(t.view(-1, 1, 1) > 0, Xn, xb)
        else:
            t = None
        phi = self.net.features(xb, ab, t).view(E, m, -1)
        mask = torch.stack(masks)  # [E, d]
        w = self.net.solve(phi[:, :kk], z[:, :kk], mask)
        pred = ((phi[:, kk:] * mask[:, None, :]) @ w[..., None])[..., 0]
        return _rank_mse_loss(pred, z[:, kk:], self.rank_weight)

    def _validation_plan(self, val: list[_Device], n: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Fixed (support rows, eval rows, log-latency of both) per validation device, seeded."""
        gen = torch.Generator().manual_seed(self.seed + 7919)
        plan = []
        for dev in val:
            pool = dev.rows
            for _ in range(_VAL_SUPPORTS):
                pick = pool[torch.randperm(len(pool), generator=gen)[: _VAL_K + _VAL_CELLS]]
                plan.append((pick[:_VAL_K], pick[_VAL_K:], dev.z[pick]))
        return plan

    def _validate(self, X: torch.Tensor, A: torch.Tensor, plan: list) -> float:
        """Mean Spearman over the validation plan (adaptation exactly as ``adapt`` does it)."""
        from scipy.stats import spearmanr

        self.net.eval()
        scores = []
        with torch.no_grad():
            for sup, ev, y in plan:
                ys = y[: len(sup)]
                sd = float(ys.std(unbiased=False))
                z = (ys - ys.mean()) / (sd if sd > 1e-6 else 1.0)
                w = self.net.solve(self.net.features(X[sup], A[sup])[None], z[None], robust_steps=self.robust_steps)[0]
                pred = self.net.features(X[ev], A[ev]) @ w
                scores.append(spearmanr(pred.numpy(), y[len(sup) :].numpy())[0])
        self.net.train()
        return float(np.nanmean(scores))

    # ------------------------------------------------------------------ adaptation
    def _check_fitted(self) -> None:
        # the base message says "call fit(archs, values)"; here the usual step is adapt on a device
        if not self._fitted:
            step = "adapt(device_measurements={arch: ms, ...})"
            if self.net is None:
                step = "meta_fit(benchmark, devices=[...]), then " + step
            raise NotFittedError(f"{type(self).__name__} is not adapted to a device; call {step} (or fit(archs, values)) first")

    def _check_meta_fitted(self) -> _LatencyNet:
        if self.net is None:
            raise NotFittedError(
                f"{type(self).__name__} is not meta-trained; call meta_fit(benchmark, devices=[...]) before adapt(...)"
            )
        return self.net

    def reference_archs(
        self, k: int, candidates: Sequence[ArchGraph | str] | None = None, design: str | None = None
    ) -> list[ArchGraph]:
        """``k`` architectures to measure on a new device (deterministic for a meta-trained model).

        A greedy Bayesian D-optimal design: each pick maximises the current posterior variance of
        its prediction, then the posterior is updated as if it were measured (rank one), so the
        ``k`` measurements pin down the device's coefficients best. ``design="additive"`` (the
        default when the additive model is on) does this for the additive model's coefficients
        under the prior from the source devices; ``design="embedding"`` for the network's device
        embedding ``w`` (the leverage ``phi^T M^-1 phi``, ``M = Phi_picked^T Phi_picked +
        diag(lambda)``). Uses only the meta-trained model, never a latency. Cells whose output is
        cut off from the input are never chosen.

        Args:
            k: number of architectures (``>= 2``).
            candidates: where to choose from; default the meta-training table's architectures.
            design: ``"additive"`` or ``"embedding"``; default ``"additive"`` if ``additive > 0``.

        Raises:
            NotFittedError: before ``meta_fit``.
            InvalidArgumentError: ``k`` not an integer >= 2, more than the distinct candidates,
                an unknown ``design``.
        """
        net = self._check_meta_fitted()
        check_int(k, "k", 2)
        if design is None:
            design = "additive" if self._additive_weight() > 0 else "embedding"
        if design not in ("additive", "embedding") or (design == "additive" and getattr(self, "_prior", None) is None):
            raise InvalidArgumentError(f"design must be 'additive' (needs a model meta-fitted with it) or 'embedding', got {design!r}")
        pool = self._validate_archs(candidates) if candidates is not None else self._table_archs
        pool = list(dict.fromkeys(pool))  # one measurement per cell: a repeated candidate could be picked twice
        # cells whose output is cut off from the input compute a constant; some devices skip them
        # (HW-NAS-Bench's Pixel 3, a source, times them at 0.003 ms), so they say nothing about
        # the device, yet their extreme features would make the design pick them first
        pool = [a for a in pool if a.pruned().num_nodes > 2] or pool
        if k > len(pool):
            raise InvalidArgumentError(f"k = {k} exceeds the {len(pool)} candidate architectures")
        X, A = self.space.encode(pool)
        if design == "additive":
            return [pool[i] for i in self._additive_design(X, A, k)]
        with torch.no_grad():
            phi = torch.cat([net.features(X[i : i + 4096], A[i : i + 4096]) for i in range(0, len(pool), 4096)]).double()
        Minv = torch.diag(1.0 / net.log_lam.exp().double())
        picked: list[int] = []
        for _ in range(k):
            lev = ((phi @ Minv) * phi).sum(1)
            if picked:
                lev[picked] = -math.inf
            i = int(lev.argmax())
            picked.append(i)
            v = Minv @ phi[i]
            Minv = Minv - torch.outer(v, v) / (1.0 + phi[i] @ v)  # Sherman-Morrison rank-one update
        return [pool[i] for i in picked]

    def _additive_design(self, X: torch.Tensor, A: torch.Tensor, k: int) -> list[int]:
        """Greedy Bayesian D-optimal rows for the additive model (O(n d) per pick)."""
        _, sig, s2 = self._prior_terms()
        psi = self._psi(X, A).double()
        V = psi @ sig  # row j: Sigma psi_j under the current posterior
        var = (V * psi).sum(1)  # predictive variance of each candidate's coefficient part
        picked: list[int] = []
        for _ in range(k):
            if picked:
                var[picked] = -math.inf
            i = int(var.argmax())
            picked.append(i)
            v, denom = V[i].clone(), float(var[i]) + s2
            u = psi @ v
            var = var - u * u / denom  # rank-one posterior update, as if row i were measured
            V = V - torch.outer(u, v) / denom
        return picked

    def adapt(self, device_measurements: Mapping[ArchGraph | str, float]) -> LatencyPredictor:
        """Adapt to a new device from its measured latencies; returns ``self`` (a fitted Predictor).

        Args:
            device_measurements: ``{architecture: latency}`` for ``k >= 2`` architectures
                (``reference_archs(k)`` or any others), latency in any positive unit (ms).

        Raises:
            NotFittedError: before ``meta_fit``.
            InvalidTrainingDataError: empty, fewer than 2, non-finite or non-positive measurements.
        """
        self._check_meta_fitted()
        if not isinstance(device_measurements, Mapping):
            raise InvalidTrainingDataError(
                f"device_measurements must be a mapping {{arch: latency}}, got {type(device_measurements).__name__}"
            )
        if len(device_measurements) < _MIN_MEASUREMENTS:
            # said here, in adapt's terms: fit's own check would speak of "labelled architectures" to fit
            raise InvalidTrainingDataError(
                f"adapt needs at least {_MIN_MEASUREMENTS} measurements of the target device as "
                f"{{architecture: latency}}, got {len(device_measurements)} (measure e.g. the cells reference_archs(k) picks)"
            )
        return self.fit(list(device_measurements.keys()), list(device_measurements.values()))  # type: ignore[return-value]

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        """Solve the device embedding ``w`` on the ``k`` measured log-latencies (called by ``fit``)."""
        net = self._check_meta_fitted()
        if (y <= 0).any():
            raise InvalidTrainingDataError(f"latencies must be > 0, got {y[y <= 0][:5].tolist()}")
        if len(set(archs)) != len(archs):
            raise InvalidTrainingDataError("each architecture may be measured once; average repeated measurements first")
        log_y = np.log(y)
        self._log_mu, self._log_sd = float(log_y.mean()), float(log_y.std()) or 1.0
        z = torch.tensor(np.clip((log_y - self._log_mu) / self._log_sd, -_Z_CLIP, _Z_CLIP), dtype=torch.float32)
        X, A = self.space.encode(archs)
        with torch.no_grad():
            self._w = net.solve(net.features(X, A)[None], z[None], robust_steps=self.robust_steps)[0]
        self._add_w = None
        if self._additive_weight() > 0:
            self._fit_additive(self._psi(X, A).double(), torch.as_tensor(y, dtype=torch.float64))

    def _fit_additive(self, P: torch.Tensor, y: torch.Tensor) -> None:
        """Posterior mean of the additive coefficients from ``k`` measured latencies ``y`` (ms).

        The device's unit is the scale that makes the prior mean's predictions match the
        measured mean (so ``t = y / scale`` is in the sources' "latency / mean" units); with
        ``robust_steps`` the Gaussian likelihood becomes Huber's (threshold 2 source residual
        stds), as in the network's regression.
        """
        mu, sig, s2 = self._prior_terms()
        prior_mean = float((P @ mu).mean())
        scale = float(y.mean()) / prior_mean if prior_mean > 0 else float(y.mean())
        t = y / scale
        c = 2.0 * math.sqrt(self._prior.noise)
        weight = torch.ones_like(t)
        for step in range(self.robust_steps + 1):
            K = P @ sig @ P.T + torch.diag(s2 / weight)
            w = mu + sig @ P.T @ torch.linalg.solve(K, t - P @ mu)
            if step < self.robust_steps:
                r = (t - P @ w).abs()
                weight = (c / r.clamp_min(1e-12)).clamp(max=1.0)
        self._add_w, self._add_scale = w, scale

    @property
    def device_embedding(self) -> torch.Tensor:
        """The adapted device's embedding ``w``: ``S + F + 1`` weights on (source devices, free features, 1)."""
        self._check_fitted()
        return self._w.clone()

    def _log_ms(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        log_ms = (self.net.features(X, A, t) @ self._w) * self._log_sd + self._log_mu
        a = self._additive_weight()
        if a > 0 and self._add_w is not None:
            add = (self._psi(X, A) @ self._add_w.to(X.dtype)) * self._add_scale
            # a linear model can predict <= 0 for a cell far outside the measured ones (e.g. a
            # degenerate cell on a device that skips it): floor it at 0.1% of the device's scale
            add = add.clamp_min(1e-3 * self._add_scale)
            log_ms = a * torch.log(add) + (1.0 - a) * log_ms
        return log_ms

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        X, A = self.space.encode(archs)
        with torch.no_grad():
            log_ms = torch.cat([self._log_ms(X[i : i + 4096], A[i : i + 4096], None) for i in range(0, len(archs), 4096)])
        return Prediction(np.exp(log_ms.double().numpy()))

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        return torch.exp(self._log_ms(X, A, t))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(space={self.space.name!r}, sources={self.source_devices}, "
            f"meta_fitted={self.net is not None}, fitted={self._fitted})"
        )


def _has(benchmark: Any, device: str) -> bool:
    """True when ``device`` resolves to a column of ``benchmark``."""
    try:
        device_metric(benchmark, device)
    except UnknownMetricError:
        return False
    return True
