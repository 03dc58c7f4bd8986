"""BANANAS' neural predictor: a feed-forward network on a fixed architecture encoding.

White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with Neural Architectures for Neural
Architecture Search" (AAAI 2021) train an ensemble of such networks on the path encoding and
read the ensemble's spread as uncertainty. This module is one member; as a study surrogate,
``Study(surrogate="mlp")`` builds the ensemble (:mod:`nagen.predictors.ensemble`). Defaults
follow the paper's: 10 layers of width 20, Adam at lr 0.01, 200 epochs, mean absolute error.

>>> mlp = P.get("mlp", "nb201", encoding="path", seed=0).fit(archs, values)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nagen.errors import InvalidArgumentError, check_int, check_real
from nagen.graph import ArchGraph
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor
from nagen.predictors.features import check_path_encoding, onehot, path, path_is_degenerate

__all__ = ["MLPPredictor", "ENCODINGS"]

#: encodings the MLP reads (fixed functions of the architecture, see ``nagen.predictors.features``)
ENCODINGS = {"path": path, "onehot": onehot}


@register("mlp")
class MLPPredictor(Predictor):
    """Feed-forward regressor on the path or onehot encoding, trained with MAE.

    Args:
        space: the search space.
        encoding: ``"path"`` (BANANAS) or ``"onehot"``; ``None``: path, except onehot on a space
            whose path encoding is degenerate (a chain such as mbv3, see
            :func:`~nagen.predictors.features.path_is_degenerate`).
        layers: hidden layers (default 10). width: their width (default 20).
        epochs: full-batch-size-32 epochs (default 200). lr: Adam learning rate (default 0.01).
        seed: seeds initialisation and minibatches.

    Not differentiable in a diffusion state (the path encoding counts discrete paths).
    """

    def __init__(
        self,
        space,
        *,
        encoding: str | None = None,
        layers: int = 10,
        width: int = 20,
        epochs: int = 200,
        lr: float = 0.01,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        if encoding is None:
            # a chain's path encoding is a hash of the whole architecture (path_is_degenerate): onehot there
            encoding = "onehot" if path_is_degenerate(self.space) else "path"
        if encoding not in ENCODINGS:
            raise InvalidArgumentError(f"encoding must be one of {sorted(ENCODINGS)}, got {encoding!r}")
        if encoding == "path":
            check_path_encoding(self.space)
        self.encoding = encoding
        self.layers, self.width = check_int(layers, "layers", 1), check_int(width, "width", 1)
        self.epochs, self.lr = check_int(epochs, "epochs", 1), check_real(lr, "lr", 0, low_open=True)
        self.net: nn.Module | None = None

    def _x(self, archs: list[ArchGraph]) -> torch.Tensor:
        return torch.as_tensor(ENCODINGS[self.encoding](self.space, archs), dtype=torch.float32)

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        X = self._x(archs)
        yz = torch.as_tensor((y - self.y_mean) / self.y_std, dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):  # layer initialisers draw from the global generator: leave the caller's alone
            torch.manual_seed(self.seed)
            dims = [X.shape[1], *[self.width] * self.layers]
            blocks: list[nn.Module] = []
            for a, b in zip(dims[:-1], dims[1:]):
                blocks += [nn.Linear(a, b), nn.ReLU()]
            net = nn.Sequential(*blocks, nn.Linear(dims[-1], 1))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        n = len(archs)
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, 32):
                idx = perm[start : start + 32]
                loss = (net(X[idx]).squeeze(-1) - yz[idx]).abs().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        self.net = net

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        assert self.net is not None
        with torch.no_grad():
            z = self.net(self._x(archs)).squeeze(-1).double().numpy()
        return Prediction(z * self.y_std + self.y_mean)
