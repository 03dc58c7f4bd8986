"""Cost models: exact params/FLOPs from the space, and a learnable model for measured costs.

* ``ExactCostPredictor`` returns the exact count from ``space.cost`` (no labels needed). For
  guidance it also carries a differentiable surrogate: a linear model on the node-op one-hots
  fitted by least squares to exact costs of sampled architectures. In spaces where each node's
  cost depends only on its own op (NB201, MobileNetV3) this surrogate is exact, which the
  ``surrogate_r2`` attribute shows (1.0); elsewhere it is an approximation and says so.
* ``CostPredictor`` learns any measured cost column (latency, energy) of a user's table: the
  DAG GNN regressor on log-costs, so predictions stay positive and relative errors count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from nagen.errors import InvalidArgumentError, InvalidTrainingDataError, check_int
from nagen.graph import ArchGraph
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor
from nagen.predictors.gnn import GNNPredictor

__all__ = ["ExactCostPredictor", "CostPredictor"]


@register("exact_cost")
class ExactCostPredictor(Predictor):
    """Exact params or FLOPs of the built network, with a linear differentiable surrogate.

    Usable without ``fit`` (nothing is learned from labels); ``fit`` validates its input and
    leaves the model unchanged.

    Args:
        space: the search space.
        metric: ``"params"`` or ``"flops"``.
        num_classes, input_shape: passed to ``space.cost`` (space defaults when None).
        surrogate_samples: architectures sampled to fit the linear surrogate.
        seed: seeds that sample.
    """

    differentiable = True
    # it returns the counted cost whatever the labels say: as a study's surrogate it would
    # steer every pick toward the largest networks, whatever the objective
    fits_from_labels = False

    def __init__(
        self,
        space: Any,
        metric: Literal["params", "flops"] = "params",
        *,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        surrogate_samples: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        if metric not in ("params", "flops"):
            raise InvalidArgumentError(f"metric must be 'params' or 'flops', got {metric!r}")
        self.metric = metric
        self.num_classes = None if num_classes is None else check_int(num_classes, "num_classes", 1)
        # checked now (the space's own check, as cost() runs it), not at the first prediction
        self.input_shape = None if input_shape is None else self.space._cost_shape(input_shape)
        # a least-squares fit to one sample has zero residual and would report surrogate_r2 = 1
        self.surrogate_samples = check_int(surrogate_samples, "surrogate_samples", 2)
        self._weights: torch.Tensor | None = None
        self._bias = 0.0
        self.surrogate_r2: float | None = None
        self._fitted = True

    def exact(self, archs: Sequence[ArchGraph | str]) -> np.ndarray:
        """Exact cost of each architecture: ``n`` float array."""
        return np.array(
            [self.space.cost(a, self.num_classes, self.input_shape)[self.metric] for a in self._validate_archs(archs)],
            dtype=np.float64,
        )

    def fit(self, archs: Sequence[ArchGraph | str], values: Sequence[float] | np.ndarray) -> ExactCostPredictor:
        """Validate ``archs`` and ``values`` (as every predictor does); the model is left unchanged."""
        # the base fit sets y_mean/y_std from the labels, but guidance scales this model's score by
        # the spread of the exact costs (_ensure_surrogate): a fit must not change that scale
        before = (self.y_mean, self.y_std)
        super().fit(archs, values)
        self.y_mean, self.y_std = before
        return self

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        """Nothing to learn: the cost is computed, not estimated."""

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        return Prediction(self.exact(archs))

    def _ensure_surrogate(self) -> None:
        if self._weights is not None:
            return
        archs = list(dict.fromkeys(self.space.sample(self.surrogate_samples, self.seed)))
        X, _ = self.space.encode(archs)
        feats = X.reshape(len(archs), -1).double().numpy()
        y = self.exact(archs)
        design = np.concatenate([feats, np.ones((len(archs), 1))], axis=1)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        resid = y - design @ coef
        self.surrogate_r2 = float(1 - resid.var() / max(y.var(), 1e-12))
        self._weights = torch.tensor(coef[:-1], dtype=torch.float32).reshape(X.shape[1], X.shape[2])
        self._bias = float(coef[-1])
        # guidance measures margins in units of the cost's spread; left at 1 (raw parameter
        # counts) a threshold guide's gradient would be ~1e5x too steep and swamp every other term
        self.y_mean, self.y_std = float(y.mean()), float(y.std()) or 1.0

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        self._ensure_surrogate()
        assert self._weights is not None
        return (X * self._weights[None]).sum(dim=(1, 2)) + self._bias


@register("cost")
class CostPredictor(GNNPredictor):
    """Learnable model of a measured, positive cost (e.g. latency in ms) of any space.

    A ``GNNPredictor`` trained on ``log(cost)``; ``predict`` and ``score`` return costs in the
    training units (``exp`` of the log-space prediction; the std is the delta-method std).
    Keyword arguments are those of ``GNNPredictor``.
    """

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        if np.any(y <= 0):
            raise InvalidTrainingDataError(f"costs must be positive to be modelled in log space; got min {y.min()}")
        super()._fit(archs, np.log(y))

    def _standardiser(self, y: np.ndarray) -> tuple[float, float]:
        # the nets learn log-costs, standardised by the log-costs' own spread; y_mean / y_std stay
        # the raw costs' (set by fit), since guidance measures margins of score() in those units
        return float(y.mean()), float(y.std()) or 1.0

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        p = super()._predict(archs)
        mean = np.exp(p.mean)
        return Prediction(mean, None if p.std is None else mean * p.std)

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        return torch.exp(super()._score(X, A, t))
