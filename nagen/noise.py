"""Noise schedules shared by the diffusion generator and noise-aware predictors.

Pure math, no weights (as in diffusers' schedulers): the generator composes a schedule with a
score network, and a predictor trained on noised inputs uses the same schedule so that its
``score(X, A, t)`` is meaningful along the sampling trajectory. Neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nagen.errors import InvalidArgumentError, check_int, check_real

__all__ = ["VPSchedule"]


@dataclass(frozen=True)
class VPSchedule:
    """Variance-preserving SDE ``dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW`` with linear ``beta``.

    Song et al., "Score-Based Generative Modeling through SDEs", ICLR 2021 (eq. 11, 29):
    ``x_t | x_0 ~ N(alpha(t) x_0, sigma(t)^2 I)`` with
    ``log alpha(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2`` and
    ``sigma(t) = sqrt(1 - alpha(t)^2)``, ``t`` in ``[0, 1]``.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-3  # smallest t used in training/sampling (sigma(0) = 0 makes scores blow up)

    def __post_init__(self) -> None:
        # finite: an infinite beta_max makes alpha(0) = exp(0 * -inf) = NaN
        beta_min = check_real(self.beta_min, "beta_min", 0.0)
        beta_max = check_real(self.beta_max, "beta_max", 0.0)
        eps = check_real(self.eps, "eps", 0.0, 1.0, low_open=True)
        if not (beta_min < beta_max and eps < 1):
            raise InvalidArgumentError(
                f"need 0 <= beta_min < beta_max and 0 < eps < 1, got {self.beta_min}, {self.beta_max}, {self.eps}"
            )
        for name, v in (("beta_min", beta_min), ("beta_max", beta_max), ("eps", eps)):
            object.__setattr__(self, name, v)  # plain floats (NumPy scalars would leak into saved configs)

    @staticmethod
    def _times(t: torch.Tensor | float) -> torch.Tensor:
        """``t`` as a float tensor, after checking every time is in ``[0, 1]`` (NaN is not)."""
        t = torch.as_tensor(t)
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
            bad = t[~((t >= 0) & (t <= 1))].flatten()[:5].tolist()
            raise InvalidArgumentError(f"diffusion times t must be in [0, 1], got {bad}")
        return t

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """``beta(t)``, same shape as ``t``."""
        return self.beta_min + self._times(t) * (self.beta_max - self.beta_min)

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean coefficient ``alpha(t)`` and std ``sigma(t)`` of ``x_t | x_0``, each shaped like ``t``."""
        t = self._times(t)
        log_alpha = -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
        alpha = torch.exp(log_alpha)
        return alpha, torch.sqrt((-torch.expm1(2 * log_alpha)).clamp_min(1e-12))

    def perturb(
        self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``x_t`` given ``x_0``.

        Args:
            x0: ``batch x ...`` clean data.
            t: ``batch`` times in ``[0, 1]``.
        Returns:
            ``(x_t, noise)``, both shaped like ``x0``.
        """
        if not torch.is_tensor(x0) or not x0.is_floating_point():
            raise InvalidArgumentError(f"x0 must be a floating-point tensor, got {getattr(x0, 'dtype', type(x0).__name__)}")
        t = self._times(t)
        if t.numel() not in (1, x0.shape[0] if x0.dim() else 1):
            raise InvalidArgumentError(f"t must hold one time per sample ({x0.shape[0]}) or a single time, got shape {tuple(t.shape)}")
        alpha, sigma = self.alpha_sigma(t)
        shape = (-1,) + (1,) * (x0.dim() - 1)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        return alpha.view(shape) * x0 + sigma.view(shape) * noise, noise

    def sample_t(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` times uniform on ``[eps, 1]``."""
        n = check_int(n, "n")
        return self.eps + (1 - self.eps) * torch.rand(n, generator=generator)
