"""A DAG-aware graph neural network predictor on PyTorch Geometric's dense layers.

Message passing runs in both directions of the DAG (from predecessors with ``A^T``, from
successors with ``A``), as in DAG-GNN predictors such as DAGNN (Thost & Chen, ICLR 2021) and
the bidirectional GIN of DiffusionNAG's predictor. Dense layers (``DenseGINConv``) take the
continuous state ``(X, A)`` directly, so the same network that is trained on one-hot
architectures is differentiable with respect to soft or noisy ``X`` (and ``A``), which is what
classifier guidance needs. With a ``noise`` schedule the model is trained on noised inputs
and conditioned on the diffusion time ``t`` (noise-aware, as in DiffusionNAG).

The loss is mean-squared error on standardised values plus a pairwise logistic ranking loss
(as in BRP-NAS / NPENAS-style predictors): search only needs the order right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import DenseGINConv

from nagen.errors import check_int, check_real
from nagen.graph import ArchGraph
from nagen.noise import VPSchedule
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor, check_noise

__all__ = ["GNNPredictor", "DAGEncoder"]


def _time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of ``t`` (``batch``) -> ``batch x dim`` (Transformer/DDPM style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype) / max(half - 1, 1))
    ang = 1000.0 * t[:, None] * freqs[None, :] / 1000.0 * 100.0
    out = torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)
    # an odd dim leaves one column over: pad it, or the time MLP (dim inputs) gets dim - 1
    return nn.functional.pad(out, (0, dim - 2 * half))


class DAGEncoder(nn.Module):
    """Bidirectional dense GIN over a DAG state.

    Args:
        num_nodes: ``N``; node positions (topological order) get a learned embedding.
        num_ops: ``V``, the one-hot width.
        hidden: feature width.
        layers: message-passing rounds (each round: one forward and one reverse GIN conv).
        time_conditioned: add a time embedding (noise-aware models).

    Shapes:
        X: ``batch x N x V``; A: ``batch x N x N``; t: ``batch`` or None -> ``batch x 2*hidden``.
    """

    def __init__(self, num_nodes: int, num_ops: int, hidden: int = 64, layers: int = 4, time_conditioned: bool = False) -> None:
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Linear(num_ops, hidden)
        self.pos = nn.Parameter(torch.randn(num_nodes, hidden) * 0.1)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)) if time_conditioned else None

        def mlp() -> nn.Module:
            return nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

        self.fwd = nn.ModuleList([DenseGINConv(mlp(), train_eps=True) for _ in range(layers)])
        self.bwd = nn.ModuleList([DenseGINConv(mlp(), train_eps=True) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(layers)])
        self.out_dim = 2 * hidden

    def forward(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(X) + self.pos[None]
        if self.time is not None:
            tt = torch.zeros(X.shape[0], dtype=X.dtype) if t is None else t
            h = h + self.time(_time_features(tt, self.hidden))[:, None, :]
        At = A.transpose(1, 2)
        for f, b, norm in zip(self.fwd, self.bwd, self.norms):
            # DenseGINConv aggregates adj @ x: with A^T a node sums its predecessors, with A its successors
            h = norm(h + torch.relu(f(h, At)) + torch.relu(b(h, A)))
        # the output node (last row) has seen the whole DAG through forward messages; the mean adds the rest
        return torch.cat([h[:, -1], h.mean(1)], dim=-1)


class _Net(nn.Module):
    def __init__(self, encoder: DAGEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(encoder.out_dim, encoder.hidden), nn.SiLU(), nn.Linear(encoder.hidden, 1))

    def forward(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encoder(X, A, t)).squeeze(-1)


@register("gnn")
class GNNPredictor(Predictor):
    """DAG-aware GNN regressor with a ranking loss; differentiable ``score`` for guidance.

    Args:
        space: the search space.
        hidden: feature width (default 64).
        layers: message-passing rounds (default 4).
        epochs: training epochs (default 300).
        lr: Adam learning rate.
        rank_weight: weight of the pairwise ranking loss next to MSE.
        ensemble: number of independently seeded networks; with ``> 1`` ``predict`` returns their std.
        noise: a ``VPSchedule`` makes the model noise-aware (trained on ``x_t``, conditioned on ``t``).
        batch_size: minibatch size.
        progress: show a tqdm bar while fitting.
        seed: seeds initialisation, minibatches and noise.
    """

    differentiable = True

    def __init__(
        self,
        space,
        *,
        hidden: int = 64,
        layers: int = 4,
        epochs: int = 300,
        lr: float = 2e-3,
        rank_weight: float = 1.0,
        ensemble: int = 1,
        noise: VPSchedule | None = None,
        batch_size: int = 128,
        progress: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        self.hidden, self.layers = check_int(hidden, "hidden", 1), check_int(layers, "layers", 1)
        self.epochs, self.lr = check_int(epochs, "epochs", 1), check_real(lr, "lr", 0, low_open=True)
        self.rank_weight, self.ensemble = check_real(rank_weight, "rank_weight", 0), check_int(ensemble, "ensemble", 1)
        self.noise = check_noise(noise)
        self.batch_size, self.progress = check_int(batch_size, "batch_size", 2), progress
        self.probabilistic = ensemble > 1  # instance-level: depends on the ensemble size
        self.nets: list[_Net] = []
        self._loc, self._scale = 0.0, 1.0  # the nets' target standardisation (set by _fit)

    def _new_net(self) -> _Net:
        enc = DAGEncoder(self.space.max_nodes, len(self.space.vocab), self.hidden, self.layers, self.noise is not None)
        return _Net(enc)

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        X, A = self.space.encode(archs)
        loc, scale = self._standardiser(y)
        self._loc, self._scale = loc, scale
        yz = torch.tensor((y - loc) / scale, dtype=torch.float32)
        self.nets = []
        total = self.ensemble * self.epochs
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"fit gnn ({len(archs)} archs)", leave=False)
        for member in range(self.ensemble):
            gen = torch.Generator().manual_seed(self.seed * 1000 + member)
            with torch.random.fork_rng(devices=[]):  # layer initialisers draw from the global generator: leave the caller's alone
                torch.manual_seed(self.seed * 1000 + member)
                net = self._new_net()
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=1e-4)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs)
            n = len(archs)
            for _ in range(self.epochs):
                perm = torch.randperm(n, generator=gen)
                for start in range(0, n, self.batch_size):
                    idx = perm[start : start + self.batch_size]
                    if len(idx) < 2:
                        continue
                    xb, ab, t = X[idx], A[idx], None
                    if self.noise is not None:
                        t = self.noise.sample_t(len(idx), gen)
                        xb, _ = self.noise.perturb(xb, t, gen)
                        if not self.space.fixed_topology:
                            ab, _ = self.noise.perturb(ab, t, gen)
                            ab = torch.triu(ab, 1)
                    pred = net(xb, ab, t)
                    opt.zero_grad()
                    self._loss(pred, yz[idx]).backward()
                    opt.step()
                sched.step()
                if bar is not None:
                    bar.update(1)
            net.eval()
            self.nets.append(net)
        if bar is not None:
            bar.close()

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mse = torch.mean((pred - target) ** 2)
        diff_p = pred[:, None] - pred[None, :]
        sign = torch.sign(target[:, None] - target[None, :])
        mask = sign != 0
        rank = nn.functional.softplus(-sign * diff_p)[mask].mean() if mask.any() else pred.sum() * 0
        return mse + self.rank_weight * rank

    def _raw(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """Standardised predictions of every ensemble member: ``members x batch``."""
        return torch.stack([net(X, A, t) for net in self.nets])

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        X, A = self.space.encode(archs)
        with torch.no_grad():
            z = torch.cat([self._raw(X[i : i + 4096], A[i : i + 4096], None) for i in range(0, len(archs), 4096)], dim=1)
        mean = z.mean(0).numpy() * self._scale + self._loc
        std = z.std(0).numpy() * self._scale if self.ensemble > 1 else None
        return Prediction(mean.astype(np.float64), None if std is None else std.astype(np.float64))

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        return self._raw(X, A, t).mean(0) * self._scale + self._loc

    def _standardiser(self, y: np.ndarray) -> tuple[float, float]:
        """``(loc, scale)`` that standardise the targets ``y`` the nets are trained on."""
        return self.y_mean, self.y_std

    def embed(self, archs: Sequence[ArchGraph | str]) -> torch.Tensor:
        """Learned graph embeddings (first ensemble member): ``n x 2*hidden`` (for deep-kernel GPs)."""
        self._check_fitted()
        X, A = self.space.encode(self._validate_archs(archs))
        with torch.no_grad():
            return self.nets[0].encoder(X, A, None)
