"""``marginal_latent``: each row's GP posterior without the rows x rows covariance, equal to GPyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.predictors as P
from nagen.predictors.gp import AugmentedGP, marginal_latent


@pytest.mark.parametrize("encoding", ["onehot", "wl", "path"])
def test_marginals_equal_the_joint_posteriors_diagonal(nb201, encoding) -> None:
    idx = np.random.default_rng(0).permutation(len(nb201))[:260]
    archs = [nb201.archs[i] for i in idx]
    y = nb201.query_many(archs, "cifar10_valid_12ep")
    gp = P.get("gp", "nb201", encoding=encoding, seed=0).fit(archs[:60], y[:60])
    X = gp._features(archs[60:])
    with torch.no_grad():
        joint = gp.model(X)
        fast = marginal_latent(gp.model, X)
    assert torch.allclose(fast.mean, joint.mean, rtol=1e-8, atol=1e-10)
    assert torch.allclose(fast.variance, joint.variance.clamp_min(0), rtol=1e-6, atol=1e-10)


def test_the_augmented_gp_and_its_predictions_agree(nb201) -> None:
    from nagen.study import _proxy_features

    idx = np.random.default_rng(1).permutation(len(nb201))[:150]
    archs = [nb201.archs[i] for i in idx]
    y = nb201.query_many(archs, "cifar10_valid_12ep")
    gp = AugmentedGP("nb201", extra=_proxy_features, encoding="wl", seed=0).fit(archs[:50], y[:50])
    X = gp._features(archs[50:])
    with torch.no_grad():
        joint, fast = gp.model(X), marginal_latent(gp.model, X)
    assert torch.allclose(fast.mean, joint.mean, rtol=1e-8, atol=1e-10)
    assert torch.allclose(fast.variance, joint.variance.clamp_min(0), rtol=1e-6, atol=1e-10)


def test_a_model_the_shortcut_does_not_describe_gets_its_own_posterior(nb201) -> None:
    # a forward that is not mean + kernel of the raw inputs (here: inputs scaled inside forward)
    # would give wrong marginals; the check on the first rows falls back to model(X)
    idx = np.random.default_rng(2).permutation(len(nb201))[:80]
    archs = [nb201.archs[i] for i in idx]
    gp = P.get("gp", "nb201", seed=0).fit(archs[:30], nb201.query_many(archs[:30], "cifar10_valid_12ep"))
    model = gp.model
    plain = type(model).forward

    class Scaled(type(model)):
        def forward(self, x):
            return plain(self, 0.5 * x)

    model.__class__ = Scaled
    X = gp._features(archs[30:])
    with torch.no_grad():
        model.train(), model.eval()  # drop the prediction caches of the plain forward
        joint, fast = model(X), marginal_latent(model, X)
    assert torch.allclose(fast.mean, joint.mean) and torch.allclose(fast.variance, joint.variance.clamp_min(0), atol=1e-10)


def test_a_model_with_an_input_transform_gets_its_transformed_posterior() -> None:
    # the fallback called model(X), which skips the input transform BoTorch applies only in posterior()
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.input import Normalize
    from botorch.posteriors import GPyTorchPosterior

    g = torch.Generator().manual_seed(0)
    train_X = torch.rand(30, 3, generator=g, dtype=torch.float64) * 10
    train_Y = torch.sin(train_X.sum(-1, keepdim=True))
    model = SingleTaskGP(train_X, train_Y, input_transform=Normalize(d=3)).eval()
    X = torch.rand(40, 3, generator=g, dtype=torch.float64) * 10
    with torch.no_grad():
        post = model.posterior(X)
        fast = marginal_latent(model, X)
    untransformed = model.outcome_transform.untransform_posterior(GPyTorchPosterior(fast))
    assert torch.allclose(untransformed.mean.squeeze(-1), post.mean.squeeze(-1), atol=1e-8)
