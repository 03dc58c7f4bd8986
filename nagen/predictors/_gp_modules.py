"""GPyTorch/BoTorch building blocks of ``nagen.predictors.gp``.

Private so that discovering the predictor registry does not import GPyTorch or BoTorch; the
public names are ``nagen.predictors.gp.WLKernel`` and ``nagen.predictors.gp.YeoJohnson``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from botorch.models.transforms.outcome import OutcomeTransform
from botorch.posteriors import Posterior, TransformedPosterior
from gpytorch.kernels import Kernel
from torch import Tensor

from nagen.errors import InvalidArgumentError

__all__ = ["WLKernel", "YeoJohnson"]


class WLKernel(Kernel):
    r"""Normalised Weisfeiler-Lehman subtree kernel on WL label histograms.

    .. math::
        k(G, G') = \frac{\langle \phi(G), \phi(G') \rangle}
                        {\sqrt{\langle \phi(G), \phi(G) \rangle \langle \phi(G'), \phi(G') \rangle}},
        \qquad \phi(G) = \big[\sqrt{w_0}\,\phi_0(G), \dots, \sqrt{w_H}\,\phi_H(G)\big]

    where :math:`\phi_h` counts the labels of WL iteration ``h`` (Shervashidze et al., JMLR
    2011; used for NAS by Ru et al., ICLR 2021). The iteration weights ``w = softmax(raw_weights)``
    are learned through the marginal likelihood when ``learn_weights`` (a softmax, because the
    normalisation makes the kernel invariant to a common scale of ``w``); ``k(G, G) = 1``, so wrap
    it in a ``ScaleKernel`` for an output scale.

    Args:
        block_sizes: number of feature columns of each iteration ``h = 0..H``, in column order
            (they sum to ``d``).
        learn_weights: learn ``w`` (else fixed uniform).
        private_last: the last column of each block holds the norm of labels outside the
            vocabulary (``GPPredictor``'s WL features: labels its training set never showed). They
            count in a graph's own norm, but two *different* graphs are not credited with sharing
            them: one shared column would make every pair of new graphs look alike by the product
            of their norms (posterior correlation 0.5-0.77 among a batch's picks, against 0.0-0.13
            with a full vocabulary). Rows are "the same graph" when their features are equal.
        **kwargs: ``Kernel`` arguments (``batch_shape``, ...).

    Shapes:
        ``x1``: ``batch x n x d`` and ``x2``: ``batch x m x d`` non-negative histograms with at
        least one positive entry per row -> ``batch x n x m`` (``batch x n`` with ``diag=True``).
    """

    has_lengthscale = False

    def __init__(self, block_sizes: Sequence[int], learn_weights: bool = True, private_last: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.private_last = bool(private_last)
        sizes = [int(b) for b in block_sizes]
        if not sizes or min(sizes) < 1:
            raise InvalidArgumentError(f"block_sizes must be positive column counts per WL iteration, got {list(block_sizes)}")
        self.block_sizes = sizes
        raw = torch.zeros(*self.batch_shape, len(sizes))
        if learn_weights:
            self.register_parameter("raw_weights", torch.nn.Parameter(raw))
        else:
            self.register_buffer("raw_weights", raw)

    @property
    def weights(self) -> torch.Tensor:
        """Iteration weights ``w``: ``batch_shape x (H + 1)``, summing to 1."""
        return torch.softmax(self.raw_weights, dim=-1)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params
    ) -> torch.Tensor:
        if last_dim_is_batch:
            raise NotImplementedError("WLKernel compares whole histograms; last_dim_is_batch is not supported")
        if x1.shape[-1] != sum(self.block_sizes):
            raise RuntimeError(f"WLKernel expects {sum(self.block_sizes)} feature columns, got {x1.shape[-1]}")
        w = self.weights.to(x1).unsqueeze(-1)  # batch x (H+1) x 1
        norm1 = (self._grams(x1, x1, diag=True) * w).sum(-2).clamp_min(1e-12).sqrt()  # batch x n
        norm2 = (self._grams(x2, x2, diag=True) * w).sum(-2).clamp_min(1e-12).sqrt()  # batch x m
        if diag:
            return (self._grams(x1, x2, diag=True) * w).sum(-2) / (norm1 * norm2)  # batch x n
        k = (self._grams(x1, x2) * w.unsqueeze(-1)).sum(-3)  # batch x n x m
        if self.private_last:
            k = k - self._shared_last(x1, x2, w)
        return k / (norm1.unsqueeze(-1) * norm2.unsqueeze(-2))

    def _shared_last(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """What the blocks' last (out-of-vocabulary) columns add to ``<phi(G), phi(G')>`` between
        different graphs: ``batch x n x m``, zero where the rows are equal (see ``private_last``)."""
        last = torch.tensor(np.cumsum(self.block_sizes) - 1, device=x1.device)
        a, b = x1.index_select(-1, last), x2.index_select(-1, last)  # batch x n x (H+1), batch x m x (H+1)
        shared = (a * w.squeeze(-1).unsqueeze(-2)) @ b.transpose(-1, -2)  # batch x n x m
        # equal rows by a fixed random projection: exact for the count histograms here, O((n + m) d)
        r = torch.rand(x1.shape[-1], generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(x1)
        p1, p2 = x1 @ r, x2 @ r
        same = (p1.unsqueeze(-1) - p2.unsqueeze(-2)).abs() <= 1e-9 * (1.0 + p1.abs().unsqueeze(-1))
        return torch.where(same, torch.zeros_like(shared), shared)

    def _grams(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False) -> torch.Tensor:
        """Per-iteration inner products: ``batch x (H+1) x n x m`` (``batch x (H+1) x n`` with ``diag``)."""
        blocks1, blocks2 = x1.split(self.block_sizes, dim=-1), x2.split(self.block_sizes, dim=-1)
        if diag:
            return torch.stack([(a * b).sum(-1) for a, b in zip(blocks1, blocks2)], dim=-2)
        if x1.dim() == 2 and x2.dim() == 2 and not (x1.requires_grad or x2.requires_grad):
            # A graph has a handful of nodes, so a histogram row has that many nonzeros among
            # thousands of columns: sparse products cost O(n m nodes) instead of O(n m d).
            return torch.stack([torch.sparse.mm(a.to_sparse(), b.T) for a, b in zip(blocks1, blocks2)])
        return torch.stack([a @ b.transpose(-1, -2) for a, b in zip(blocks1, blocks2)], dim=-3)


class YeoJohnson(OutcomeTransform):
    r"""Outcome warping: standardise, then a Yeo-Johnson power transform fitted to the training targets.

    .. math::
        u = (y - \bar y) / s, \qquad
        z = \psi_\lambda(u) = \begin{cases}
            ((u + 1)^\lambda - 1) / \lambda & u \ge 0 \\
            -((1 - u)^{2 - \lambda} - 1) / (2 - \lambda) & u < 0
        \end{cases}

    (Yeo & Johnson, Biometrika 2000; ``lambda`` by maximum likelihood,
    ``scipy.stats.yeojohnson_normmax``). Benchmark metrics are far from Gaussian: most NB201
    cells reach 85-94% while broken cells sit near 10%, and a GP with Gaussian noise fitted to
    raw values spends its noise and lengthscales on those few outliers. The warped targets are
    close to Gaussian, so the GP's likelihood matches the data. Use it before ``Standardize``.

    Back-transformed posteriors (:meth:`untransform_posterior`) are exact for samples. Their
    ``mean`` is the back-transformed Gaussian mean, i.e. the *median* in original units, and
    their ``variance`` is the one whose central ``ci_level`` interval has the width of the exact
    (asymmetric) interval ``[psi^-1(mu - z sigma), psi^-1(mu + z sigma)]``; this is Ax's
    ``match_ci_width`` rule for its ``Log``/``PowerTransformY`` transforms. The true mean is a poor
    point prediction here: for an uncertain cell it is dragged towards the broken-cell tail,
    which costs a great deal of rank correlation (0.92 -> 0.77 on NB201 at 100 labels).
    Values are kept within one training range below the training minimum and above the
    maximum (``psi^-1`` of a Gaussian can otherwise leave the real line when ``lambda`` is
    outside ``[0, 2]``). One outcome (``m = 1``), no ``Yvar``.

    Args:
        ci_level: level whose interval width the back-transformed variance matches.

    Shapes:
        ``Y``: ``batch x n x 1``.
    """

    def __init__(self, ci_level: float = 0.9) -> None:
        super().__init__()
        self.z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + ci_level / 2)))
        for name in ("loc", "scale", "lmbda", "u_low", "u_high"):
            self.register_buffer(name, torch.tensor(float("nan"), dtype=torch.float64))

    # ---------------------------------------------------------------- the map and its inverse
    def _psi(self, u: Tensor) -> Tensor:
        lam = float(self.lmbda)
        pos, neg = u.clamp_min(0), (-u).clamp_min(0)  # each branch only sees its valid domain
        zp = torch.log1p(pos) if abs(lam) < 1e-8 else ((pos + 1).pow(lam) - 1) / lam
        zn = -torch.log1p(neg) if abs(lam - 2) < 1e-8 else -((neg + 1).pow(2 - lam) - 1) / (2 - lam)
        return torch.where(u >= 0, zp, zn)

    def _psi_inv(self, z: Tensor) -> Tensor:
        lam = float(self.lmbda)
        z = z.clamp(float(self._psi(self.u_low)), float(self._psi(self.u_high)))
        pos, neg = z.clamp_min(0), (-z).clamp_min(0)
        up = torch.expm1(pos) if abs(lam) < 1e-8 else (lam * pos + 1).pow(1 / lam) - 1
        un = -torch.expm1(neg) if abs(lam - 2) < 1e-8 else 1 - ((2 - lam) * neg + 1).pow(1 / (2 - lam))
        return torch.where(z >= 0, up, un)

    # ---------------------------------------------------------------- OutcomeTransform API
    def forward(self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Warp ``Y`` (fitting ``loc``, ``scale`` and ``lambda`` first in training mode)."""
        if Yvar is not None:
            raise NotImplementedError("YeoJohnson does not transform observation noise (Yvar)")
        if Y.shape[-1] != 1:
            raise NotImplementedError(f"YeoJohnson handles one outcome (m = 1), got m = {Y.shape[-1]}")
        if self.training:
            from scipy.stats import yeojohnson_normmax

            y = Y.detach().reshape(-1).cpu().double().numpy()
            loc, scale = float(y.mean()), float(y.std()) or 1.0
            u = (y - loc) / scale
            span = float(u.max() - u.min()) or 1.0
            self.loc.fill_(loc)
            self.scale.fill_(scale)
            # clipped: with a handful of targets the MLE can reach powers that overflow
            self.lmbda.fill_(float(np.clip(yeojohnson_normmax(u), -4.0, 6.0)) if len(u) > 2 else 1.0)
            self.u_low.fill_(float(u.min()) - span)
            self.u_high.fill_(float(u.max()) + span)
        return self._psi((Y - self.loc.to(Y)) / self.scale.to(Y)), None

    def untransform(self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Map warped values back to the original units."""
        if Yvar is not None:
            raise NotImplementedError("YeoJohnson does not transform observation noise (Yvar)")
        return self.loc.to(Y) + self.scale.to(Y) * self._psi_inv(Y), None

    def untransform_posterior(self, posterior: Posterior, X: Tensor | None = None) -> TransformedPosterior:
        """The posterior in original units (exact samples; median as ``mean``, interval-matched ``variance``)."""
        return TransformedPosterior(
            posterior,
            sample_transform=lambda z: self.untransform(z)[0],
            mean_transform=lambda m, v: self.untransform(m)[0],
            variance_transform=self._matched_variance,
        )

    def _matched_variance(self, mean: Tensor, variance: Tensor) -> Tensor:
        half = self.z * variance.clamp_min(0).sqrt()
        width = self.untransform(mean + half)[0] - self.untransform(mean - half)[0]
        return (width / (2 * self.z)) ** 2
