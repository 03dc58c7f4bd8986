"""Noise schedules shared by the diffusion generator and noise-aware predictors.

Pure math, no weights (as in diffusers' schedulers): the generator composes a schedule with a
score network, and a predictor trained on noised inputs uses the same schedule so that its
``score(X, A, t)`` is meaningful along the sampling trajectory. Neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nagen.errors import InvalidArgumentError

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
        if not (0 <= self.beta_min < self.beta_max and 0 < self.eps < 1):
            raise InvalidArgumentError(
                f"need 0 <= beta_min < beta_max and 0 < eps < 1, got {self.beta_min}, {self.beta_max}, {self.eps}"
            )

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """``beta(t)``, same shape as ``t``."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean coefficient ``alpha(t)`` and std ``sigma(t)`` of ``x_t | x_0``, each shaped like ``t``."""
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
        alpha, sigma = self.alpha_sigma(t)
        shape = (-1,) + (1,) * (x0.dim() - 1)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        return alpha.view(shape) * x0 + sigma.view(shape) * noise, noise

    def sample_t(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` times uniform on ``[eps, 1]``."""
        return self.eps + (1 - self.eps) * torch.rand(n, generator=generator)
