"""Guidance terms for conditional generation (classifier guidance).

A ``Guide`` turns a differentiable predictor into a log-density term ``log p(y | x_t)`` whose
gradient is added to the generator's score (Dhariwal & Nichol 2021; DiffusionNAG, An et al.
ICLR 2024). Each guide has its own weight. Targets:

* ``"max"`` / ``"min"``: push the predicted value up / down, ``+-score / y_std``;
* ``"ge"`` / ``"le"``: keep it above / below ``value``, ``log sigmoid(+-(score - value) / (T y_std))``.

With ``hard=True`` the guide is also a filter: a generated architecture whose predicted (for
exact cost models: exact) value violates ``value`` is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from nagen.errors import InvalidGuidanceError, is_real
from nagen.predictors.base import Predictor

__all__ = ["Guide", "TARGETS"]

TARGETS = ("max", "min", "ge", "le")


@dataclass(frozen=True)
class Guide:
    """One guidance term.

    Attributes:
        predictor: a fitted, differentiable predictor of the generator's space.
        weight: guidance scale, ``>= 0``.
        target: ``"max"``, ``"min"``, ``"ge"`` or ``"le"``.
        value: the threshold for ``"ge"``/``"le"`` (training units of the predictor).
        temperature: softness of the threshold, in units of the predictor's training std.
        hard: drop samples whose predicted value violates the threshold.
        name: label used in reports (e.g. the metric name).
    """

    predictor: Predictor
    weight: float = 1.0
    target: Literal["max", "min", "ge", "le"] = "max"
    value: float | None = None
    temperature: float = 0.25
    hard: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.predictor, Predictor):
            raise InvalidGuidanceError(f"a guide needs a nagen Predictor, got {type(self.predictor).__name__}")
        if not self.predictor.differentiable:
            raise InvalidGuidanceError(
                f"{type(self.predictor).__name__} has no differentiable score, so it cannot guide; "
                "use e.g. the 'gnn' predictor"
            )
        if not is_real(self.weight) or not math.isfinite(self.weight) or self.weight < 0:
            raise InvalidGuidanceError(f"guidance weight must be a finite number >= 0, got {self.weight!r}")
        if not isinstance(self.target, str) or self.target not in TARGETS:
            raise InvalidGuidanceError(f"guidance target must be one of {TARGETS}, got {self.target!r}")
        if self.target in ("ge", "le"):
            if not is_real(self.value) or not math.isfinite(self.value):
                raise InvalidGuidanceError(f"target {self.target!r} needs a finite threshold value, got {self.value!r}")
        elif self.hard:
            raise InvalidGuidanceError("hard=True needs a threshold target ('ge' or 'le')")
        if not is_real(self.temperature) or not math.isfinite(self.temperature) or self.temperature <= 0:
            raise InvalidGuidanceError(f"temperature must be a finite number > 0, got {self.temperature!r}")

    def log_density(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """The guidance term for each sample: ``batch`` (differentiable w.r.t. ``X``)."""
        s = self.predictor.score(X, A, t)
        scale = self.predictor.y_std or 1.0
        if self.target == "max":
            return s / scale
        if self.target == "min":
            return -s / scale
        assert self.value is not None
        margin = (s - float(self.value)) / (self.temperature * scale)
        return torch.nn.functional.logsigmoid(margin if self.target == "ge" else -margin)

    def satisfied(self, predicted: np.ndarray) -> np.ndarray:
        """Boolean mask of predicted values meeting the threshold (all True for max/min)."""
        if self.target == "ge":
            return predicted >= float(self.value)  # type: ignore[arg-type]
        if self.target == "le":
            return predicted <= float(self.value)  # type: ignore[arg-type]
        return np.ones(len(predicted), dtype=bool)
