"""The acquisition as a predictor: the study's BoTorch acquisition, differentiable for guidance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nagen.predictors as P
from nagen.errors import InvalidArgumentError, InvalidGuidanceError, InvalidSpecError, NotDifferentiableError, NotFittedError
from nagen.generators.guidance import Guide
from nagen.predictors.acquisition import AcquisitionPredictor, build_acquisition


@pytest.fixture(scope="module")
def acq(split):
    train, ytr, _, _ = split
    return P.get("acquisition", "nb201", seed=0).fit(train[:40], ytr[:40])


def test_predict_is_the_studys_log_noisy_expected_improvement(acq, split) -> None:
    train, ytr, test, _ = split
    gp = acq.surrogates[0]
    direct = build_acquisition([gp.model], gp.features(train[:40]), mc_samples=128, seed=0)
    with torch.no_grad():
        expected = direct(gp.features(test[:50]).unsqueeze(-2)).numpy()
    got = acq.predict(test[:50])
    assert got.std is None and got.mean.shape == (50,)
    assert np.allclose(got.mean, expected)
    assert acq.y_mean == 0.0 and acq.y_std == 1.0  # log-acquisition units, not the labels'
    # the acquisition favours what may beat the incumbent: its best half of the held-out cells is better on average
    _, _, test_all, yte = split
    order = np.argsort(-acq.predict(test_all).mean)
    assert yte[order[:150]].mean() > yte[order[150:]].mean() + 1.0


def test_score_matches_predict_and_has_a_gradient(acq, split) -> None:
    test = split[2][:6]
    X, A = acq.space.encode(test)
    X = X.clone().requires_grad_(True)
    s = acq.score(X, A)
    assert s.shape == (6,)
    assert np.allclose(s.detach().numpy(), acq.predict(test).mean, atol=1e-4)
    s.sum().backward()
    assert torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    soft = torch.softmax(torch.randn(4, 8, 7), -1).requires_grad_(True)  # a denoised diffusion state
    acq.score(soft, A[:4]).sum().backward()
    assert torch.isfinite(soft.grad).all() and soft.grad.abs().sum() > 0


def test_minimised_values_are_negated(split) -> None:
    train, ytr, test, _ = split
    up = AcquisitionPredictor("nb201", seed=1).fit(train[:30], ytr[:30]).predict(test[:20]).mean
    down = AcquisitionPredictor("nb201", direction="min", seed=1).fit(train[:30], -ytr[:30]).predict(test[:20]).mean
    assert np.allclose(up, down, atol=1e-6)


def test_several_objectives_use_the_hypervolume_improvement(split, nb201) -> None:
    train, ytr, test, _ = split
    params = nb201.query_many(train[:30], "params")
    gps = [P.get("gp_onehot", "nb201", seed=0).fit(train[:30], ytr[:30]), P.get("gp_onehot", "nb201", seed=0).fit(train[:30], -params)]
    ref = [float(ytr[:30].min()) - 1.0, float(-params.max()) - 0.1]
    acq = AcquisitionPredictor.from_surrogates(gps, train[:30], pending=test[:2], ref_point=ref, seed=0)
    assert type(acq.acqf).__name__ == "qLogNoisyExpectedHypervolumeImprovement" and acq.acqf.X_pending.shape[0] == 2
    vals = acq.predict(test[:10]).mean
    assert vals.shape == (10,) and np.isfinite(vals).all()
    X, A = acq.space.encode(test[:3])
    X.requires_grad_(True)
    acq.score(X, A).sum().backward()
    assert torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    with pytest.raises(InvalidArgumentError, match="reference point of 2 numbers"):
        AcquisitionPredictor.from_surrogates(gps, train[:30])
    with pytest.raises(InvalidArgumentError, match="fitted GPPredictor"):
        AcquisitionPredictor.from_surrogates([P.get("gp_onehot", "nb201")], train[:30])
    with pytest.raises(InvalidArgumentError, match="fitted GPPredictor"):
        AcquisitionPredictor.from_surrogates([], train[:30])


def test_bad_settings_are_named_errors(split) -> None:
    train, ytr, _, _ = split
    with pytest.raises(InvalidSpecError, match="GP surrogate"):
        AcquisitionPredictor("nb201", surrogate="gnn")
    with pytest.raises(InvalidSpecError, match="direction"):
        AcquisitionPredictor("nb201", direction="up")
    with pytest.raises(NotFittedError):
        AcquisitionPredictor("nb201").predict(train[:2])
    wl = AcquisitionPredictor("nb201", surrogate="gp_wl").fit(train[:20], ytr[:20])
    assert not wl.differentiable and np.isfinite(wl.predict(train[20:25]).mean).all()  # ranks, cannot guide
    with pytest.raises(InvalidGuidanceError, match="no differentiable score"):
        Guide(wl)
    X, A = wl.space.encode(train[:2])
    with pytest.raises(NotDifferentiableError, match="gp_onehot"):
        wl.score(X, A)


def test_guidance_moves_diffusion_samples_up_the_acquisition(acq) -> None:
    from nagen.generators.diffusion import DiffusionGenerator

    gen = DiffusionGenerator.pretrained("nb201")  # the shipped checkpoint: a real prior to steer
    plain = gen.sample(100, seed=0, steps=10)
    guided = gen.sample(100, seed=0, steps=10, guides=[Guide(acq, weight=2.0, name="acquisition")])
    before, after = acq.predict(plain).mean, acq.predict(guided).mean
    # unguided, a large share of the samples have no chance of beating the incumbent (log EI ~ -45)
    assert np.mean(after > -10) > np.mean(before > -10) + 0.2 and after.mean() > before.mean() + 5
