"""The BO acquisition as a differentiable predictor: what acquisition-guided generation follows.

A ``Study`` round picks candidates by BoTorch's noisy expected improvement of its GP surrogates:
``qLogNoisyExpectedImprovement`` for one objective, ``qLogNoisyExpectedHypervolumeImprovement``
for several (:func:`build_acquisition` builds either, for the study and for this module alike).
:class:`AcquisitionPredictor` exposes that acquisition through the ``Predictor`` protocol:
``predict`` gives each architecture's log acquisition value and ``score`` the same of a
continuous generator state, differentiable through the GP's state features
(:meth:`GPPredictor.state_features`). Wrapped in a ``Guide``, it steers the diffusion generator
toward what the next BO pick will value, improvement *and* uncertainty, where guiding by the
posterior mean only steers toward what the surrogate already believes is good.

>>> acq = AcquisitionPredictor("nb201", seed=0).fit(archs, values)     # doctest: +SKIP
>>> gen.sample(100, guides=[Guide(acq, weight=1.0, name="logNEI")])  # doctest: +SKIP

Values and scores are log acquisition values (nats), so ``y_mean = 0`` and ``y_std = 1``: a guide's
weight multiplies the log-acquisition's gradient directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch

from nagen.errors import InvalidArgumentError, InvalidSpecError, InvalidTrainingDataError, NotDifferentiableError, check_int
from nagen.graph import ArchGraph
from nagen.predictors import register
from nagen.predictors.base import Prediction, Predictor

__all__ = ["AcquisitionPredictor", "build_acquisition", "shared_inputs"]


@contextmanager
def _quiet_jitter() -> Iterator[None]:
    """Silence GPyTorch's "added jitter" warning: a candidate close to a labelled architecture makes
    their joint posterior covariance nearly singular, the jitter is the intended fix, and a
    sampler evaluating thousands of candidates would print it over and over."""
    from linear_operator.utils.warnings import NumericalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        yield


def shared_inputs(surrogates: Sequence[Any], archs: Sequence[ArchGraph | str]) -> torch.Tensor:
    """The GP inputs of ``archs`` (``n x d``) that every surrogate's model reads: a joint acquisition
    feeds all its models one input, so surrogates whose features are learned per objective (a deep
    kernel each) would give all but the first a wrong posterior without a word.

    Raises:
        InvalidArgumentError: the surrogates give ``archs`` different inputs.
    """
    X = surrogates[0].features(list(archs))
    if any(not torch.equal(s.features(list(archs)), X) for s in surrogates[1:]):
        raise InvalidArgumentError(
            "the surrogates embed architectures differently (e.g. encoding='deep', one network per objective); "
            "the joint acquisition needs surrogates with one shared input (onehot, path or wl encodings)"
        )
    return X


def build_acquisition(
    models: Sequence[Any],
    X_baseline: torch.Tensor,
    *,
    X_pending: torch.Tensor | None = None,
    ref_point: Sequence[float] | None = None,
    mc_samples: int = 128,
    seed: int = 0,
) -> Any:
    """The BoTorch acquisition a study picks by, on GP ``models`` of maximised objectives.

    Args:
        models: one fitted BoTorch model per objective, each trained on values to maximise.
        X_baseline: ``n x d`` the labelled architectures' GP inputs.
        X_pending: ``p x d`` inputs of architectures being labelled (their labels are in flight).
        ref_point: ``k`` hypervolume reference (maximised units); required with several models.
        mc_samples: quasi-MC samples (fixed Sobol draws seeded by ``seed``, so the acquisition
            is a deterministic, smooth function of its input).

    Returns:
        ``qLogNoisyExpectedImprovement`` (one model) or ``qLogNoisyExpectedHypervolumeImprovement``
        (several), taking ``b x q x d`` inputs to ``b`` log values.

    Raises:
        InvalidArgumentError: no model, or several without a reference point of matching length.
    """

    models = list(models)
    if not models:
        raise InvalidArgumentError("build_acquisition needs at least one fitted GP model")
    shape = torch.Size([check_int(mc_samples, "mc_samples", 1)])
    if len(models) == 1:
        from botorch.acquisition.logei import qLogNoisyExpectedImprovement

        return qLogNoisyExpectedImprovement(
            models[0],
            X_baseline=X_baseline,
            sampler=_sampler(models[0], shape, seed),
            X_pending=X_pending,
            prune_baseline=True,
            cache_root=False,
        )
    if ref_point is None or len(ref_point) != len(models):
        raise InvalidArgumentError(
            f"the hypervolume acquisition of {len(models)} objectives needs a reference point of {len(models)} numbers, "
            f"got {ref_point!r}"
        )
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models import ModelList, ModelListGP
    from botorch.models.gpytorch import GPyTorchModel
    from botorch.sampling.list_sampler import ListSampler

    samplers = [_sampler(m, shape, seed + j) for j, m in enumerate(models)]
    gps = all(isinstance(m, GPyTorchModel) for m in models)
    return qLogNoisyExpectedHypervolumeImprovement(
        ModelListGP(*models) if gps else ModelList(*models),
        ref_point=[float(r) for r in ref_point],
        X_baseline=X_baseline,
        sampler=ListSampler(*samplers),
        X_pending=X_pending,
        prune_baseline=True,
        cache_root=False,  # ModelListGP does not support a cached root (BoTorch warns and turns it off)
    )


def _sampler(model: Any, shape: torch.Size, seed: int) -> Any:
    """The MC sampler of ``model``'s posterior: quasi-MC normal draws for a GP, whole members
    for an ensemble (``nagen.predictors.ensemble``; its posterior has no normal base samples)."""
    from botorch.models.ensemble import EnsembleModel
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.sampling.index_sampler import IndexSampler

    if isinstance(model, EnsembleModel):
        return IndexSampler(sample_shape=shape, seed=seed)
    return SobolQMCNormalSampler(sample_shape=shape, seed=seed)


@register("acquisition")
class AcquisitionPredictor(Predictor):
    """Log noisy expected (hypervolume) improvement of GP surrogates, as a predictor.

    ``fit(archs, values)`` fits one GP surrogate (``surrogate``, by registered name) on the
    values and takes ``archs`` as the acquisition's baseline; :meth:`from_surrogates` wraps GPs
    already fitted (several objectives, as a multi-objective study has them).

    Args:
        space: the search space (or its name).
        surrogate: the GP predictor to fit (``"gp_onehot"``: differentiable; ``"gp_deep"`` too).
        direction: ``"max"`` or ``"min"``: which way ``values`` improve.
        mc_samples: quasi-MC samples of the acquisition.
        seed: seeds the surrogate's fit and the acquisition's Sobol draws.

    Raises:
        InvalidSpecError: ``surrogate`` is not a GP predictor, or a bad ``direction``.
    """

    probabilistic = False
    fits_from_labels = False  # meta-trained first, or built from GP surrogates

    def __init__(
        self,
        space: Any,
        *,
        surrogate: str = "gp_onehot",
        direction: str = "max",
        mc_samples: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(space, seed=seed)
        from nagen import predictors
        from nagen.predictors.gp import GPPredictor

        if direction not in ("max", "min"):
            raise InvalidSpecError(f"direction must be 'max' or 'min', got {direction!r}")
        gp = predictors.get(surrogate, self.space, seed=seed) if isinstance(surrogate, str) else surrogate
        if not isinstance(gp, GPPredictor):
            raise InvalidSpecError(f"the acquisition needs a GP surrogate (e.g. 'gp_onehot'), got {surrogate!r}")
        self.direction = direction
        self.mc_samples = check_int(mc_samples, "mc_samples", 1)
        self.surrogates: list[Any] = [gp]
        self.differentiable = bool(gp.differentiable)  # instance-level, like the GP's own
        self.acqf: Any = None

    @classmethod
    def from_surrogates(
        cls,
        surrogates: Sequence[Any],
        baseline: Sequence[ArchGraph | str],
        *,
        pending: Sequence[ArchGraph | str] = (),
        ref_point: Sequence[float] | None = None,
        mc_samples: int = 128,
        seed: int = 0,
    ) -> AcquisitionPredictor:
        """The acquisition of fitted GP surrogates (each trained on values to *maximise*).

        Args:
            surrogates: fitted ``GPPredictor`` objects of one space and one encoding (the first
                one's features feed them all, as in a study).
            baseline: the labelled architectures (the noisy incumbent's candidates).
            pending: architectures being labelled. ref_point: as in :func:`build_acquisition`.
            mc_samples: quasi-MC samples of the acquisition (fixed Sobol draws, as in :func:`build_acquisition`).
            seed: seeds the acquisition's Sobol draws (the surrogates are already fitted).

        Raises:
            InvalidArgumentError: no surrogate, an unfitted one, or surrogates of other spaces.
        """
        from nagen.predictors.gp import GPPredictor

        surrogates = list(surrogates)
        if not surrogates or not all(isinstance(s, GPPredictor) and s._fitted for s in surrogates):
            raise InvalidArgumentError("from_surrogates needs one or more fitted GPPredictor objects")
        space = surrogates[0].space
        if any(s.space is not space for s in surrogates):
            raise InvalidArgumentError("the surrogates predict for different spaces")
        self = cls(space, surrogate=surrogates[0], mc_samples=mc_samples, seed=seed)
        self.surrogates = surrogates
        self.differentiable = all(s.differentiable for s in surrogates)
        self._build(baseline, pending, ref_point)
        self._fitted = True
        return self

    def _build(self, baseline: Sequence[ArchGraph | str], pending: Sequence[ArchGraph | str], ref_point: Any) -> None:
        first = self.surrogates[0]
        X_pending = first.features(list(pending)) if len(pending) else None
        # building the acquisition draws from the global torch RNG (its samplers and the
        # baseline's pruning); a fit must leave a caller's seeded stream where it was
        with torch.random.fork_rng(devices=[]):
            self._build_acqf(baseline, X_pending, ref_point)

    def _build_acqf(self, baseline: Sequence[ArchGraph | str], X_pending: Any, ref_point: Any) -> None:
        self.acqf = build_acquisition(
            [s.model for s in self.surrogates],
            shared_inputs(self.surrogates, baseline),
            X_pending=X_pending,
            ref_point=ref_point,
            mc_samples=self.mc_samples,
            seed=self.seed,
        )

    def _fit(self, archs: list[ArchGraph], y: np.ndarray) -> None:
        if len(self.surrogates) > 1:
            raise InvalidTrainingDataError(
                "this acquisition has several objectives; refit its surrogates and call from_surrogates again"
            )
        signed = y if self.direction == "max" else -y
        self.surrogates[0].fit(archs, signed)
        self._build(archs, (), None)
        # values are log acquisitions in nats, not in the labels' units: a guide uses them as they are
        self.y_mean, self.y_std = 0.0, 1.0

    def _predict(self, archs: list[ArchGraph]) -> Prediction:
        X = self.surrogates[0].features(archs)
        with torch.no_grad(), _quiet_jitter():
            vals = [self.acqf(chunk.unsqueeze(-2)) for chunk in X.split(512)]
        return Prediction(torch.cat(vals).numpy(), None)

    def _score(self, X: torch.Tensor, A: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """Log acquisition of the state's GP features; ``t`` is ignored (the surrogates were
        fitted on clean architectures: pass a denoised estimate of ``X``, as the diffusion
        generator does for clean predictors)."""
        if not self.differentiable:
            raise NotDifferentiableError(
                f"the surrogates' {self.surrogates[0].encoding!r} encoding has no gradient; use 'gp_onehot' or 'gp_deep'"
            )
        if X.shape[0] == 0:  # no states: nothing to score (the features' reshape cannot infer a batch of 0)
            return X.new_zeros(0)
        feats = self.surrogates[0]._state_features(X, A)
        with _quiet_jitter():
            return self.acqf(feats.unsqueeze(-2)).to(X.dtype)
