"""The ``Predictor`` protocol: ``fit``, ``predict`` and, for guidance, a differentiable ``score``.

The base class owns the invariants (input validation, fitted state, shape checks of the
continuous state), subclasses implement ``_fit``, ``_predict`` and optionally ``_score``
(template methods, as BoTorch's acquisition functions do). Predictors never import
generators; a generator calls ``score(X, A, t)`` on its continuous state.

Shapes (for a space with ``N = space.max_nodes`` and ``V = len(space.vocab)``):

* ``X``: ``batch x N x V`` soft op probabilities or noisy one-hots;
* ``A``: ``batch x N x N`` adjacency (0/1 or soft), strictly upper-triangular;
* ``t``: ``None`` (clean inputs), a float, or a ``batch`` tensor of diffusion times in ``[0, 1]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from nagen.errors import (
    EncodingError,
    InvalidArgumentError,
    InvalidTrainingDataError,
    NoUncertaintyError,
    NotDifferentiableError,
    NotFittedError,
    check_int,
    check_options,
    is_real,
)
from nagen.graph import ArchGraph
from nagen.spaces.base import SearchSpace
from nagen._threads import single_threaded

__all__ = ["Predictor", "Prediction", "as_values", "check_state", "check_noise", "check_options", "check_level"]


def check_noise(noise: Any) -> Any:
    """``noise`` if it is None or a ``nagen.noise.VPSchedule``, else ``InvalidArgumentError``
    (anything else would only fail at the first noised training step)."""
    from nagen.noise import VPSchedule

    if noise is not None and not isinstance(noise, VPSchedule):
        raise InvalidArgumentError(f"noise must be None or a nagen.noise.VPSchedule, got {type(noise).__name__} {noise!r}")
    return noise


@dataclass(frozen=True)
class Prediction:
    """Predicted values for ``n`` architectures.

    Attributes:
        mean: ``n`` float array, in the units of the training values.
        std: ``n`` float array of predictive standard deviations, or None when the model has none.
        quantile: ``p -> n`` float array, the predictive distribution's ``p``-quantile per
            architecture, when it is not Gaussian in the training units (a GP on warped
            targets); None otherwise.
    """

    mean: np.ndarray
    std: np.ndarray | None = None
    quantile: Callable[[float], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def interval(self, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Central predictive interval at ``level``: the predictive's own quantiles when it has
        them (asymmetric, and within the values the model can predict), else ``mean +- z std``
        (needs ``std``)."""
        if self.std is None and self.quantile is None:
            raise NoUncertaintyError(
                "this prediction has no std (a point model's), so no interval; use a probabilistic predictor "
                "(a GP such as 'gp', or 'ensemble')"
            )
        check_level(level)
        if self.quantile is not None:
            return self.quantile(0.5 - level / 2), self.quantile(0.5 + level / 2)
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + level / 2))
        return self.mean - z * self.std, self.mean + z * self.std


def check_level(level: object) -> None:
    """Refuse an interval ``level`` that is not a probability in ``(0, 1)`` (NumPy floats are fine)."""
    if not is_real(level) or not 0 < level < 1:
        raise InvalidArgumentError(f"level must be a probability in (0, 1), e.g. 0.9, got {level!r}")


def as_values(values: Any, what: str = "") -> np.ndarray:
    """``values`` as a float64 array, else ``InvalidTrainingDataError`` (prefixed by ``what``):
    strings (even numeric ones: a value read from a file unparsed is a mistake to report, not to
    guess), booleans, ragged lists and complex numbers (float64 conversion would drop their
    imaginary part with only a warning) are refused."""
    try:
        raw = np.asarray(values)
        if np.iscomplexobj(raw):
            raise TypeError(f"got complex numbers ({raw.dtype})")
        items = values if isinstance(values, (list, tuple)) else raw.ravel() if raw.dtype == object else ()
        # asarray([1.0, True]) is float64 already: a mixed list has to be looked at item by item
        if raw.dtype.kind in "USb" or any(isinstance(v, (str, bytes, bool, np.bool_)) for v in items):
            # astype(float64) would read '12' as 12 and True as 1
            raise TypeError(f"got strings or booleans ({raw.dtype}), not numbers")
        return raw.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidTrainingDataError(f"{what + ': ' if what else ''}values must be numbers, one per architecture: {e}") from None


def check_state(space: SearchSpace, X: Any, A: Any, t: Any = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate a continuous state ``(X, A, t)`` for ``space``; returns float tensors (``t``: ``batch``).

    Raises:
        EncodingError: wrong types, ranks, node or op counts, batch mismatch, non-finite values.
    """
    if not isinstance(X, torch.Tensor) or not isinstance(A, torch.Tensor):
        raise EncodingError(f"X and A must be torch tensors, got {type(X).__name__} and {type(A).__name__}")
    n, v = space.max_nodes, len(space.vocab)
    if X.dim() != 3 or X.shape[1:] != (n, v):
        raise EncodingError(
            f"X must be batch x {n} x {v} (nodes x ops of space {space.name!r}), got shape {tuple(X.shape)}"
        )
    if A.dim() != 3 or A.shape[1:] != (n, n):
        raise EncodingError(f"A must be batch x {n} x {n}, got shape {tuple(A.shape)}")
    if X.shape[0] != A.shape[0]:
        raise EncodingError(f"X and A batch sizes differ: {X.shape[0]} vs {A.shape[0]}")
    if not (torch.isfinite(X).all() and torch.isfinite(A).all()):
        raise EncodingError("X and A must be finite (found NaN or inf)")
    tt = None
    if t is not None:
        try:
            # a bool is a mistake for a time (True would silently mean t = 1)
            tt = None if isinstance(t, bool) else torch.as_tensor(t, dtype=X.dtype)
        except (TypeError, ValueError, RuntimeError):
            tt = None
        if tt is None:
            raise EncodingError(f"t must be a float or a batch ({X.shape[0]}) tensor in [0, 1], got {t!r}")
        if tt.dim() == 0:
            tt = tt.expand(X.shape[0])
        if tt.shape != (X.shape[0],) or not torch.isfinite(tt).all() or (tt < 0).any() or (tt > 1).any():
            raise EncodingError(f"t must be a float or a batch ({X.shape[0]}) tensor in [0, 1], got {t!r}")
    return X.float(), A.float(), tt


class Predictor(ABC):
    """Predicts a metric of architectures of one space from labelled examples.

    Args:
        space: the space (or its registered name).
        seed: seeds every random choice of fitting (weights, minibatches, noise).
    """

    #: True when ``score`` is implemented (gradients w.r.t. ``X`` flow)
    differentiable: ClassVar[bool] = False
    #: True when the model has a predictive std
    probabilistic: ClassVar[bool] = False
    #: False when ``fit(archs, values)`` alone cannot train it (it needs meta-training first, or it
    #: is built from other models) or it learns nothing from labels (an exact cost): a ``Study``
    #: refuses it as its surrogate before any label is paid
    fits_from_labels: ClassVar[bool] = True
    #: False when copies fitted with different seeds would not make a useful ensemble (their
    #: spread is not the model's uncertainty, or each copy is costly): ``EnsemblePredictor`` then
    #: keeps one member, fitted with the predictor's own default seed
    seeded_copies_differ: ClassVar[bool] = True

    def __init__(self, space: SearchSpace | str, *, seed: int = 0) -> None:
        import nagen.spaces

        self.space = nagen.spaces.get(space)
        self.seed = check_int(seed, "seed", 0)
        self._fitted = False
        self.y_mean = 0.0
        self.y_std = 1.0

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        """Fit on validated architectures and finite values ``y`` (``n``)."""

    @abstractmethod
    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        """Predict for validated architectures."""

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        raise NotDifferentiableError(
            f"{type(self).__name__} has no differentiable score; use a differentiable predictor (e.g. 'gnn') for guidance"
        )

    # ------------------------------------------------------------------ public API
    @single_threaded
    def fit(self, archs: Sequence[ArchGraph | str], values: Sequence[float] | np.ndarray) -> Predictor:
        """Fit on architectures and their measured values; returns ``self``.

        Raises:
            InvalidTrainingDataError: empty set, length mismatch, or NaN/inf values.
            InvalidArchitectureError: an architecture is not valid in the space.
        """
        if archs is None or values is None:
            raise InvalidTrainingDataError("fit needs architectures and one value for each (got None)")
        archs = self._validate_archs(archs)
        y = as_values(values)
        if y.ndim != 1:
            raise InvalidTrainingDataError(f"values must be one number per architecture (1-D), got shape {y.shape}")
        if len(archs) == 0:
            raise InvalidTrainingDataError("the training set is empty; fit needs at least 2 labelled architectures")
        if len(y) != len(archs):
            raise InvalidTrainingDataError(f"got {len(archs)} architectures but {len(y)} values")
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            raise InvalidTrainingDataError(f"values must be finite; NaN/inf at positions {bad[:10].tolist()}")
        if len(archs) < 2:
            raise InvalidTrainingDataError("fit needs at least 2 labelled architectures")
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = float(y.mean()), float(y.std())
        if not (np.isfinite(mean) and np.isfinite(std)):
            # e.g. 1e300s: their spread overflows float64, and every standardised value would be NaN
            raise InvalidTrainingDataError(
                f"values are too large to standardise (mean {mean}, std {std} overflow float64; "
                f"range {y.min():g}..{y.max():g}); rescale them, e.g. to other units"
            )
        before = (self.y_mean, self.y_std)
        self.y_mean = mean
        self.y_std = std or 1.0
        try:
            self._fit(archs, y)
        except InvalidTrainingDataError:
            # refused before training (the convention for _fit's checks): the previous fit stands
            self.y_mean, self.y_std = before
            raise
        except BaseException:
            self._fitted = False  # failed half-way: a partly changed model must not predict
            raise
        self._fitted = True
        return self

    def predict(self, archs: Sequence[ArchGraph | str]) -> Prediction:
        """Predicted mean (and std for probabilistic models) for each architecture."""
        self._check_fitted()
        archs = self._validate_archs(archs)
        if not archs:
            return Prediction(np.zeros(0), np.zeros(0) if self.probabilistic else None)
        return self._predict(archs)

    def score(self, X: torch.Tensor, A: torch.Tensor, t: float | torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable predicted value (training units) of a continuous state: ``batch``.

        Gradients flow to ``X`` (and ``A``), so a generator can follow ``d score / d X``.
        """
        self._check_fitted()
        X, A, tt = check_state(self.space, X, A, t)
        return self._score(X, A, tt)

    # ------------------------------------------------------------------ helpers
    def _validate_archs(self, archs: Sequence[ArchGraph | str]) -> list[ArchGraph]:
        if isinstance(archs, (ArchGraph, str)):
            raise InvalidTrainingDataError("pass a sequence of architectures; wrap a single one in a list")
        try:
            items = list(archs)
        except TypeError:
            raise InvalidTrainingDataError(
                f"architectures must be a sequence of ArchGraph objects or strings of space {self.space.name!r}, "
                f"got {type(archs).__name__} {archs!r}"
            ) from None
        return [self.space.validate(a) for a in items]

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(archs, values) first")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, fitted={self._fitted})"
