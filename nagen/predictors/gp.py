"""Gaussian-process surrogates on BoTorch/GPyTorch over fixed or learned architecture encodings.

``GPPredictor`` fits a BoTorch ``SingleTaskGP`` (exact GP, constant mean, Gaussian noise,
``Standardize``d targets, float64) by maximising the exact marginal likelihood with
``fit_gpytorch_mll``. The encoding decides the GP input and the kernel:

* ``"onehot"`` / ``"path"``: :func:`nagen.predictors.features.onehot` / ``path`` features under
  a Matern-5/2 (or RBF) ARD kernel in a ``ScaleKernel``, with BoTorch's dimension-scaled
  lengthscale prior (Hvarfner et al., "Vanilla Bayesian Optimization Performs Great in High
  Dimensions", ICML 2024), which keeps ARD sensible with few labels and many features.
* ``"wl"``: the normalised Weisfeiler-Lehman subtree kernel (:class:`WLKernel`) on WL label
  histograms, as in NAS-BOWL (Ru et al., ICLR 2021), in a ``ScaleKernel``.
* ``"deep"``: a Matern ARD kernel on the embeddings of a :class:`~nagen.predictors.gnn.GNNPredictor`
  trained on the same labels (a two-stage deep kernel: the network is trained on its own loss
  and then frozen; it is *not* fine-tuned through the marginal likelihood).

The fitted BoTorch model is :attr:`GPPredictor.model` and its inputs are
:meth:`GPPredictor.features`, so a BO loop can call ``model.posterior(gp.features(archs))``.
BoTorch and GPyTorch are imported when a model is fitted, not when the registry is searched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nagen.errors import (
    InvalidArgumentError,
    InvalidSpecError,
    InvalidTrainingDataError,
    NotDifferentiableError,
    check_int,
    choices_hint,
)
from nagen.graph import ArchGraph
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor, as_values, check_level, check_options, check_state
from nagen.predictors.features import onehot, onehot_from_state, path, wl_histogram_entries, wl_labels
from nagen.spaces.base import SearchSpace

if TYPE_CHECKING:
    from botorch.models import SingleTaskGP

    from nagen.predictors.gnn import GNNPredictor

__all__ = ["GPPredictor", "OneHotGP", "PathGP", "WLGP", "DeepGP", "AugmentedGP", "WLKernel", "YeoJohnson", "ENCODINGS", "KERNELS"]

#: valid ``encoding=`` values
ENCODINGS = ("onehot", "path", "wl", "deep")
#: valid ``kernel=`` values (for the vector encodings ``onehot``, ``path`` and ``deep``)
KERNELS = ("matern", "rbf")
#: L-BFGS-B iterations of the marginal-likelihood fit. SciPy's default (15,000) lets ARD fits
#: creep along flat directions for many seconds, each step one Cholesky of the training
#: covariance. On NB201 the predictive quality is settled early: held-out Spearman and interval
#: coverage at 30 iterations equal those at 50 and 200 (one-hot and path, 100 and 500 labels),
#: and 500 labels fit in under 2 s.
MAX_FIT_ITERATIONS = 30
#: share of the labels the ``"deep"`` encoding holds out to calibrate its predictive std
HELDOUT_FRACTION = 0.2


def __getattr__(name: str) -> Any:  # PEP 562: these subclass GPyTorch/BoTorch classes, load them on use
    if name in ("WLKernel", "YeoJohnson"):
        from nagen.predictors import _gp_modules

        return getattr(_gp_modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@register("gp")
class GPPredictor(Predictor):
    """Exact GP regression (BoTorch ``SingleTaskGP``) on an architecture encoding.

    Args:
        space: the search space (or its name).
        encoding: ``"onehot"``, ``"path"``, ``"wl"`` or ``"deep"`` (see the module docstring).
        kernel: ``"matern"`` (Matern-5/2, default) or ``"rbf"`` ARD kernel for the vector
            encodings; ignored by ``"wl"``.
        wl_iterations: WL refinement rounds ``H`` for ``"wl"``.
        learn_wl_weights: learn the per-iteration WL weights through the marginal likelihood.
        warp: model Yeo-Johnson-warped targets (:class:`YeoJohnson`) instead of raw ones; the
            posterior of :attr:`model` and ``predict`` are still in the units of the values.
        gnn_epochs: training epochs of the embedding GNN for ``"deep"``.
        gnn_options: other ``GNNPredictor`` arguments for ``"deep"`` (e.g. ``{"hidden": 32}``).
        recalibrate: for ``"deep"``, inflate the predictive std by a factor estimated on held-out
            labels (costs a second GNN fit; see :meth:`_heldout_scale`).
        max_cholesky_size: exact Cholesky solves up to this many training points (GPyTorch
            switches to iterative solvers above it).
        seed: seeds hyperparameter-fitting restarts and the GNN.

    Attributes:
        model: the fitted BoTorch ``SingleTaskGP`` (inputs: :meth:`features`; outputs in the
            units of the training values).
        variance_scale: the factor ``"deep"`` recalibration applied to predictive variances
            (1 otherwise).

    Raises:
        InvalidSpecError: unknown ``encoding`` or ``kernel`` (the message lists the choices).
        InvalidArgumentError: a count out of range; ``gnn_options`` not a mapping of valid
            ``GNNPredictor`` options (``UnknownOptionError`` for an unknown or reserved key).
    """

    probabilistic = True

    def __init__(
        self,
        space: SearchSpace | str,
        *,
        encoding: str = "onehot",
        kernel: str = "matern",
        wl_iterations: int = 2,
        learn_wl_weights: bool = False,
        warp: bool = True,
        gnn_epochs: int = 200,
        gnn_options: Mapping[str, Any] | None = None,
        recalibrate: bool = True,
        max_cholesky_size: int = 5000,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        if encoding not in ENCODINGS:
            raise InvalidSpecError(f"unknown GP encoding {encoding!r}; choose one of {choices_hint(ENCODINGS)}")
        if kernel not in KERNELS:
            raise InvalidSpecError(f"unknown GP kernel {kernel!r}; choose one of {choices_hint(KERNELS)}")
        if encoding == "path":
            from nagen.predictors.features import check_path_encoding

            check_path_encoding(self.space, InvalidSpecError)
        self.encoding = encoding
        self.kernel = kernel
        self.wl_iterations = check_int(wl_iterations, "wl_iterations", 0)
        self.learn_wl_weights = bool(learn_wl_weights)
        self.warp = bool(warp)
        self.gnn_epochs = check_int(gnn_epochs, "gnn_epochs", 1)
        self.gnn_options = self._check_gnn_options(gnn_options)
        self.recalibrate = bool(recalibrate)
        self.variance_scale = 1.0
        self.max_cholesky_size = check_int(max_cholesky_size, "max_cholesky_size", 0)
        # instance-level: only some encodings have a differentiable path from (X, A) to the input
        self.differentiable = encoding in ("onehot", "deep")
        self.model: SingleTaskGP | None = None
        self.gnn: GNNPredictor | None = None
        self._wl_columns: dict[tuple[int, int], int] = {}
        self._wl_blocks: list[int] = []
        self._emb_low: torch.Tensor | None = None
        self._emb_scale: torch.Tensor | None = None

    def _check_gnn_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """``gnn_options`` as a dict, checked now (by building an unfitted ``GNNPredictor`` for
        ``"deep"``) rather than as a ``TypeError`` from inside ``fit``."""
        if options is None:
            return {}
        if not isinstance(options, Mapping):
            raise InvalidArgumentError(
                f"gnn_options must be a mapping of GNNPredictor options (e.g. {{'hidden': 32}}), got {type(options).__name__}"
            )
        options = dict(options)
        from nagen.predictors.gnn import GNNPredictor

        check_options(GNNPredictor, options, "gnn_options: GNNPredictor", exclude=("seed",))
        if self.encoding == "deep":
            GNNPredictor(self.space, seed=self.seed, **{"epochs": self.gnn_epochs, **options})
        return options

    # ------------------------------------------------------------------ GP inputs
    def features(self, archs: Sequence[ArchGraph | str]) -> torch.Tensor:
        """The GP input of each architecture: ``n x d`` float64 (``d`` fixed at fit time).

        ``onehot``/``path``: the fixed encodings. ``wl``: counts of the WL labels seen in training
        (one column each, grouped by iteration) followed, per iteration, by one column holding
        the Euclidean norm of the counts of unseen labels; this gives exact kernel values
        against training graphs and exact self-similarities (so exact predictive marginals),
        while two graphs' shared unseen labels are approximated by that norm product, an upper
        bound. ``deep``: GNN embeddings min-max scaled with the training set's range.
        """
        self._check_fitted()
        return self._features(self._validate_archs(archs))

    def _features(self, archs: list[ArchGraph]) -> torch.Tensor:
        if self.encoding == "onehot":
            return torch.from_numpy(onehot(self.space, archs))
        if self.encoding == "path":
            return torch.from_numpy(path(self.space, archs))
        if self.encoding == "wl":
            return self._wl_features(archs)
        assert self.gnn is not None and self._emb_low is not None and self._emb_scale is not None
        return (self.gnn.embed(archs).double() - self._emb_low) / self._emb_scale

    def _wl_features(self, archs: list[ArchGraph]) -> torch.Tensor:
        offsets = np.cumsum([0, *self._wl_blocks])
        rows, iters, cols, counts = wl_histogram_entries(archs, self.wl_iterations, self._wl_columns)
        out = np.zeros((len(archs), int(offsets[-1])))
        seen = cols >= 0
        out[rows[seen], cols[seen]] = counts[seen]
        # one column per iteration holds the norm of the labels the training set never showed
        unseen = np.zeros((len(archs), len(self._wl_blocks)))
        np.add.at(unseen, (rows[~seen], iters[~seen]), counts[~seen] ** 2)
        out[:, offsets[1:] - 1] = np.sqrt(unseen)
        return torch.from_numpy(out)

    def _prepare(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        """Encoding state learned from the training set (WL vocabulary, the GNN)."""
        if self.encoding == "wl":
            seen: list[set[int]] = [set() for _ in range(self.wl_iterations + 1)]
            for per_iter in wl_labels(self.space, archs, self.wl_iterations):
                for h, labels in enumerate(per_iter):
                    seen[h].update(labels)
            self._wl_columns, self._wl_blocks, col = {}, [], 0
            for h, labels in enumerate(seen):
                for label in sorted(labels):  # sorted: the column order does not depend on set order
                    self._wl_columns[(h, label)] = col
                    col += 1
                col += 1  # this iteration's unseen-label column
                self._wl_blocks.append(len(labels) + 1)
        elif self.encoding == "deep":
            from nagen.predictors.gnn import GNNPredictor

            options = {"epochs": self.gnn_epochs, **self.gnn_options}
            with torch.random.fork_rng():  # GNNPredictor seeds the global generator; do not leak that
                self.gnn = GNNPredictor(self.space, seed=self.seed, **options).fit(archs, y)
            emb = self.gnn.embed(archs).double()
            self._emb_low = emb.min(0).values
            # constant embedding dimensions would divide by zero; they carry no information anyway
            self._emb_scale = (emb.max(0).values - self._emb_low).clamp_min(1e-6)

    # ------------------------------------------------------------------ GP pieces
    def _covar_module(self, dim: int) -> torch.nn.Module:
        from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
        from gpytorch.kernels import ScaleKernel

        if self.encoding == "wl":
            from nagen.predictors._gp_modules import WLKernel

            return ScaleKernel(WLKernel(self._wl_blocks, learn_weights=self.learn_wl_weights, private_last=True))
        base = get_covar_module_with_dim_scaled_prior(dim, use_rbf_kernel=self.kernel == "rbf")
        return ScaleKernel(base)

    def _outcome_transform(self) -> torch.nn.Module:
        from botorch.models.transforms.outcome import ChainedOutcomeTransform, Standardize

        if not self.warp:
            return Standardize(m=1)
        from nagen.predictors._gp_modules import YeoJohnson

        return ChainedOutcomeTransform(warp=YeoJohnson(), standardize=Standardize(m=1))

    # ------------------------------------------------------------------ protocol
    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        scale = self._heldout_scale(archs, y) if self.encoding == "deep" and self.recalibrate else 1.0
        self._prepare(archs, y)
        model = self._fit_gp(self._features(archs), y)
        if scale != 1.0:
            # sigma scaling: multiplying the kernel and the noise by scale^2 keeps the posterior
            # mean and multiplies every predictive variance (latent and observed) by scale^2
            model.train()  # drops GPyTorch's cached prediction strategy
            model.covar_module.outputscale = model.covar_module.outputscale * scale**2
            model.likelihood.noise = model.likelihood.noise * scale**2
            model.eval()
        self.variance_scale = scale**2
        self.model = model

    def _fit_gp(self, train_X: torch.Tensor, y: np.ndarray) -> SingleTaskGP:
        """A ``SingleTaskGP`` on ``train_X`` (``n x d``) and ``y`` (``n``), fitted and in eval mode."""
        import gpytorch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        train_Y = torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1)  # n x 1
        with torch.random.fork_rng(), gpytorch.settings.max_cholesky_size(self.max_cholesky_size):
            torch.manual_seed(self.seed)  # fit_gpytorch_mll's retries sample from the priors
            model = SingleTaskGP(
                train_X,
                train_Y,
                covar_module=self._covar_module(train_X.shape[-1]),
                outcome_transform=self._outcome_transform(),
            )
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(model.likelihood, model),
                optimizer_kwargs={"options": {"maxiter": MAX_FIT_ITERATIONS}},
            )
        model.eval()
        return model

    def _heldout_scale(self, archs: list[ArchGraph], y: np.ndarray) -> float:
        """Predictive-std inflation ``>= 1`` for the two-stage deep kernel, from held-out labels.

        The GNN fits its training labels almost exactly, so in its embedding space the GP sees
        nearly noiseless data and its intervals are far too narrow for new cells (about 60%
        coverage of 90% intervals on NB201). Here a GNN and GP are fitted on 80% of the labels,
        the remaining 20% give standardised residuals ``r`` in the GP's (warped, standardised)
        units, and the scale is ``max(1, rms(r))`` (sigma scaling, Laves et al., "Well-calibrated
        regression uncertainty in medical imaging with deep learning", MIDL 2020).
        """
        n = len(archs)
        n_out = max(2, int(round(HELDOUT_FRACTION * n)))
        if n - n_out < 2:
            return 1.0
        order = np.random.default_rng(self.seed).permutation(n)
        inner, outer = order[n_out:], order[:n_out]
        self._prepare([archs[i] for i in inner], y[inner])
        model = self._fit_gp(self._features([archs[i] for i in inner]), y[inner])
        X_out = self._features([archs[i] for i in outer])
        with torch.no_grad():
            Y_out = model.outcome_transform(torch.as_tensor(y[outer], dtype=torch.float64).unsqueeze(-1))[0]
            pred = model.likelihood(model(X_out))  # the predictive in the model's own units
            r = (Y_out.squeeze(-1) - pred.mean) / pred.variance.clamp_min(1e-12).sqrt()
        return max(1.0, float(r.pow(2).mean().sqrt()))

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        import gpytorch
        from botorch.models.utils import gpt_posterior_settings
        from botorch.posteriors import GPyTorchPosterior

        assert self.model is not None
        X = self._features(archs)
        with torch.no_grad(), gpytorch.settings.max_cholesky_size(self.max_cholesky_size), gpt_posterior_settings():
            # what model.posterior(X, observation_noise=True) computes, row by row (marginal_latent blocks the
            # rows itself), keeping the Gaussian before the outcome transform: the warped quantiles need it,
            # at no second GP pass
            own = self.model.likelihood(marginal_latent(self.model, X), X)  # predictive, not latent
            post = self.model.outcome_transform.untransform_posterior(GPyTorchPosterior(own), X=X)
            mean, std = post.mean.squeeze(-1), post.variance.squeeze(-1).clamp_min(0).sqrt()
        quantile = _WarpedQuantile(self.model.outcome_transform, [own.mean], [own.variance.clamp_min(0).sqrt()]) if self.warp else None
        return Prediction(mean.numpy(), std.numpy(), quantile)

    def state_features(self, X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """The GP input (:meth:`features`) of a continuous state, differentiable in ``X``: ``batch x d`` float64.

        ``onehot``: :func:`onehot_from_state` (soft op probabilities give soft features);
        ``deep``: the embedding GNN's encoder, scaled as in :meth:`features`.

        Raises:
            NotDifferentiableError: the encoding has no differentiable path (``path``, ``wl``).
            EncodingError: a malformed state.
        """
        self._check_fitted()
        if not self.differentiable:
            raise NotDifferentiableError(
                f"the {self.encoding!r} encoding has no differentiable path from a state to the GP input; "
                "use encoding 'onehot' or 'deep'"
            )
        X, A, _ = check_state(self.space, X, A, None)
        return self._state_features(X, A)

    def _state_features(self, X: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        if self.encoding == "onehot":
            return onehot_from_state(self.space, X, A).double()
        assert self.gnn is not None and self._emb_low is not None and self._emb_scale is not None
        emb = self.gnn.nets[0].encoder(X, A, None).double()
        return (emb - self._emb_low) / self._emb_scale

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """Posterior mean (training units) of the state's features; ``t`` is ignored (the GP
        was fitted on clean architectures, so pass a denoised estimate of ``X`` for guidance)."""
        import gpytorch

        if not self.differentiable:
            return super()._score(X, A, t)
        assert self.model is not None
        feats = self._state_features(X, A)
        with gpytorch.settings.max_cholesky_size(self.max_cholesky_size):
            mean = self.model.posterior(feats).mean.squeeze(-1)
        return mean.to(X.dtype)

    # ------------------------------------------------------------------ diagnostics
    def calibration(self, archs: Sequence[ArchGraph | str], values: Sequence[float] | np.ndarray, level: float = 0.9) -> float:
        """Fraction of ``values`` inside the central ``level`` predictive interval of their architectures.

        A calibrated model gives about ``level`` on held-out data.

        Raises:
            InvalidTrainingDataError: ``values`` is not one finite number per architecture.
            InvalidArgumentError: ``level`` is not a number in ``(0, 1)``.
        """
        check_level(level)  # before the prediction, which would only fail on it at the end
        v = as_values(values)
        pred = self.predict(archs)
        if v.shape != pred.mean.shape or not np.isfinite(v).all():
            raise InvalidTrainingDataError(
                f"values must be one finite number per architecture ({pred.mean.shape[0]}), got shape {v.shape}"
            )
        low, high = pred.interval(level)
        return float(np.mean((v >= low) & (v <= high)))


#: rows per block of :func:`marginal_latent` (its memory is rows x training points)
MARGINAL_CHUNK = 2048
#: rows on which :func:`marginal_latent` checks its shortcut against the GP's own posterior
_CHECK_ROWS = 8


def marginal_latent(model: Any, X: torch.Tensor) -> Any:
    """The latent posterior of an exact GP at each row of ``X`` (``n x d``) on its own: ``model(X)``
    with only the diagonal of its covariance, in the model's (transformed) units.

    Why: GPyTorch 1.15 evaluates the whole ``n x n`` test covariance of ``model(X)`` even where only
    its diagonal is read. On NB201's 15,625 cells (WL kernel: sparse products per block) that was
    60% of a BO round. A row's marginal needs only its cross-covariance with the training points:
    ``mu = m(x) + k(x, T) a`` and ``var = k(x, x) - k(x, T) (K + noise)^-1 k(T, x)``.

    The shortcut assumes ``forward(x) = MVN(mean_module(x), covar_module(x))`` on untransformed
    inputs (BoTorch's ``SingleTaskGP`` without an input transform); it is compared with
    ``model(X)`` on a few rows first, and any other model gets the diagonal of its own posterior,
    computed in blocks of ``MARGINAL_CHUNK`` rows.

    Returns:
        ``gpytorch.distributions.MultivariateNormal`` of ``n`` points with a diagonal covariance.
    """
    from gpytorch.distributions import MultivariateNormal
    from gpytorch.models import ExactGP
    from linear_operator.operators import DiagLinearOperator

    def own(Z: torch.Tensor) -> Any:
        # the model's own posterior, block by block (a whole pool at once would be an n x n covariance);
        # as BoTorch's posterior() does, a model's input transform is applied to test inputs there, not in __call__
        Z = model.transform_inputs(Z) if hasattr(model, "transform_inputs") else Z
        parts = [model(z) for z in Z.split(MARGINAL_CHUNK)]
        return MultivariateNormal(torch.cat([q.mean for q in parts]), DiagLinearOperator(torch.cat([q.variance for q in parts])))

    if not isinstance(model, ExactGP) or getattr(model, "input_transform", None) is not None or len(X) <= _CHECK_ROWS:
        return own(X)
    probe = model(X[:_CHECK_ROWS])  # also builds the prediction strategy (its caches) in eval mode
    ps = model.prediction_strategy
    try:
        train_X = model.train_inputs[0]
        chol = ps.lik_train_train_covar.to_dense()
        L = torch.linalg.cholesky(chol)
        means, variances = [], []
        for x in X.split(MARGINAL_CHUNK):
            kxt = model.covar_module(x, train_X).to_dense()  # n x N
            kxx = model.covar_module(x, diag=True)
            v = torch.linalg.solve_triangular(L, kxt.mT, upper=False)  # N x n
            means.append(model.mean_module(x) + kxt @ ps.mean_cache)
            variances.append((kxx - v.pow(2).sum(0)).clamp_min(0))
        mean, var = torch.cat(means), torch.cat(variances)
    except Exception:  # noqa: BLE001 - a model the shortcut does not cover: its own (slower) posterior
        return own(X)
    k = _CHECK_ROWS
    ok = torch.allclose(mean[:k], probe.mean, rtol=1e-6, atol=1e-8) and torch.allclose(
        var[:k], probe.variance.clamp_min(0), rtol=1e-4, atol=1e-8
    )
    if not ok:
        return own(X)
    return MultivariateNormal(mean, DiagLinearOperator(var))


class _WarpedQuantile:
    """``p -> n`` quantiles of a warped GP's predictive: Gaussian in the model's units, so its
    quantiles there map back through the (monotone) outcome transform exactly. The matched
    ``std`` of :class:`~nagen.predictors._gp_modules.YeoJohnson` gives the right interval width
    at one level only, and a symmetric interval around the median can leave the values' range.
    A class, not a closure, so a prediction pickles."""

    def __init__(self, transform: Any, mus: list[torch.Tensor], sds: list[torch.Tensor]) -> None:
        import copy

        self.transform = copy.deepcopy(transform).eval()  # a later refit must not change this prediction
        self.mu, self.sd = torch.cat(mus), torch.cat(sds)

    def __call__(self, p: float) -> np.ndarray:
        from scipy.stats import norm

        with torch.no_grad():
            return self.transform.untransform((self.mu + float(norm.ppf(p)) * self.sd).unsqueeze(-1))[0].squeeze(-1).numpy()


class _PresetGP(GPPredictor):
    """A ``GPPredictor`` whose encoding is fixed by the registered name."""

    preset: str

    def __init__(self, space: SearchSpace | str, **kwargs: Any) -> None:
        if "encoding" in kwargs:
            raise InvalidSpecError(
                f"{type(self).__name__} fixes encoding={self.preset!r}; use the 'gp' predictor to choose another"
            )
        # **kwargs hides GPPredictor's options from predictors.get's check: do it here
        check_options(GPPredictor, kwargs, f"predictor 'gp_{self.preset}'", exclude=("encoding",))
        super().__init__(space, encoding=self.preset, **kwargs)


@register("gp_onehot")
class OneHotGP(_PresetGP):
    """``GPPredictor(encoding="onehot")``: Matern ARD on flat op one-hots; differentiable ``score``."""

    preset = "onehot"


@register("gp_path")
class PathGP(_PresetGP):
    """``GPPredictor(encoding="path")``: Matern ARD on BANANAS path counts."""

    preset = "path"


@register("gp_wl")
class WLGP(_PresetGP):
    """``GPPredictor(encoding="wl")``: the normalised WL subtree kernel (NAS-BOWL)."""

    preset = "wl"


@register("gp_deep")
class DeepGP(_PresetGP):
    """``GPPredictor(encoding="deep")``: Matern ARD on frozen GNN embeddings; differentiable ``score``."""

    preset = "deep"


class AugmentedGP(GPPredictor):
    """A GP whose inputs are ``[encoding, extra features]``: ``n x (d + e)``.

    ``extra(space, archs) -> n x e`` array, scaled to about ``[0, 1]``: data-free zero-cost
    proxies, or another task's known values of the architectures (transfer). With the ``wl``
    encoding the kernel is ``s1 * WL(counts) + s2 * Matern-5/2-ARD(extra)``; with ``onehot`` one
    Matern ARD kernel covers all inputs. Not differentiable: the extra features have no gradient
    with respect to a diffusion state.

    Args:
        space: the search space. extra: the feature function (a module-level function when the
            predictor is pickled). encoding: ``"wl"`` or ``"onehot"``. options: ``GPPredictor`` arguments.
    """

    def __init__(self, space: Any, extra: Any, encoding: str = "wl", **options: Any) -> None:
        if encoding not in ("wl", "onehot"):
            raise InvalidArgumentError(f"AugmentedGP supports the 'wl' and 'onehot' encodings, got {encoding!r}")
        if not callable(extra):
            raise InvalidArgumentError(f"extra must be a function (space, archs) -> n x e array, got {type(extra).__name__}")
        check_options(GPPredictor, options, "AugmentedGP", exclude=("encoding",))
        super().__init__(space, encoding=encoding, **options)
        self.extra = extra
        self.differentiable = False

    def _features(self, archs: list[ArchGraph]) -> torch.Tensor:
        extra = torch.as_tensor(np.asarray(self.extra(self.space, archs), dtype=np.float64))
        return torch.cat([super()._features(archs), extra.reshape(len(archs), -1)], dim=1)

    def _covar_module(self, dim: int) -> torch.nn.Module:
        if self.encoding != "wl":
            return super()._covar_module(dim)
        from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
        from gpytorch.kernels import ScaleKernel

        from nagen.predictors._gp_modules import WLKernel

        d = sum(self._wl_blocks)
        wl = ScaleKernel(WLKernel(self._wl_blocks, learn_weights=self.learn_wl_weights, private_last=True, active_dims=tuple(range(d))))
        e = dim - d
        extra = get_covar_module_with_dim_scaled_prior(e, use_rbf_kernel=False, active_dims=tuple(range(d, dim)))
        return wl + ScaleKernel(extra)
