"""Any registered predictor as a BoTorch surrogate: an ensemble of seeded copies (BANANAS-style)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.optim import optimize_acqf_discrete

import nagen.predictors as P
from nagen.errors import InvalidArgumentError, UnknownOptionError, UnknownPredictorError
from nagen.predictors.acquisition import build_acquisition
from nagen.predictors.ensemble import EnsemblePredictor, arch_index

TINY = {"epochs": 40, "hidden": 16, "layers": 2}


@pytest.fixture(scope="module")
def ens(split):
    train, ytr, _, _ = split
    return EnsemblePredictor("nb201", predictor="gnn", members=3, options=TINY, seed=0).fit(train[:40], ytr[:40])


def test_members_differ_and_their_spread_is_the_std(ens, split) -> None:
    test = split[2][:30]
    z = ens.member_predictions(test)
    assert z.shape == (3, 30)
    assert np.all(z.std(0) > 0)  # seeded differently, so the copies disagree
    pred = ens.predict(test)
    assert np.allclose(pred.mean, z.mean(0)) and np.allclose(pred.std, z.std(0))
    assert [m.seed for m in ens.nets] == [0, 1, 2]


def test_ranks_held_out_cells(ens, split) -> None:
    _, _, test, yte = split
    from scipy.stats import spearmanr

    assert spearmanr(ens.predict(test).mean, yte).statistic > 0.4


def test_botorch_posterior_is_the_members(ens, split) -> None:
    test = split[2][:7]
    X = ens.features(test)
    assert X.shape == (7, 1) and X.dtype == torch.float64
    post = ens.model.posterior(X)
    z = torch.as_tensor(ens.member_predictions(test))
    assert torch.allclose(post.mean.reshape(-1), z.mean(0))
    # EnsemblePosterior's variance is the members' (unbiased) variance
    assert torch.allclose(post.variance.reshape(-1), z.var(0), atol=1e-9)


def test_index_rows_are_per_graph_and_shared(nb201) -> None:
    seen: dict[str, object] = {}
    for b in nb201.archs:
        if b.canonical_hash() in seen:
            a, twin = seen[b.canonical_hash()], b
            break
        seen[b.canonical_hash()] = b
    assert str(a) != str(twin)
    r1 = arch_index([a, twin, nb201.archs[1], a])
    # equivalent cells written differently get rows of their own (a GNN may predict them differently)
    assert len({r1[0, 0], r1[1, 0], r1[2, 0]}) == 3 and r1[3, 0] == r1[0, 0]
    assert arch_index([twin])[0, 0] == r1[1, 0]  # the same row in a later call, for any ensemble
    assert arch_index([nb201.space.parse(str(twin))])[0, 0] == r1[1, 0]  # an equal graph parsed anew


def test_noisy_improvement_picks_from_a_pool(ens, split) -> None:
    train, ytr, test, yte = split
    X = ens.features(test)
    acq = build_acquisition([ens.model], ens.features(train[:40]), mc_samples=64, seed=0)
    cand, _ = optimize_acqf_discrete(acq, q=3, choices=X, unique=True)
    assert cand.shape == (3, 1) and len({float(c) for c in cand[:, 0]}) == 3
    picked = [int((X[:, 0] == c).nonzero()[0, 0]) for c in cand[:, 0]]
    assert np.mean(yte[picked]) > np.median(yte)  # it picks above the pool's median
    # deterministic: the same seed picks the same
    cand2, _ = optimize_acqf_discrete(build_acquisition([ens.model], ens.features(train[:40]), mc_samples=64, seed=0), q=3, choices=X, unique=True)
    assert torch.equal(cand, cand2)


def test_hypervolume_acquisition_on_two_ensembles(split, nb201) -> None:
    train = split[0][:30]
    acc = nb201.query_many(train, "cifar10_test")
    params = nb201.query_many(train, "params")
    a = EnsemblePredictor("nb201", predictor="gnn", members=2, options=TINY, seed=1).fit(train, acc)
    b = EnsemblePredictor("nb201", predictor="gnn", members=2, options=TINY, seed=2).fit(train, -params)
    acq = build_acquisition([a.model, b.model], a.features(train), ref_point=[float(np.median(acc)), -2.0], mc_samples=32)
    cand, val = optimize_acqf_discrete(acq, q=2, choices=a.features(split[2][:100]), unique=True)
    assert cand.shape == (2, 1) and torch.isfinite(val).all()


def test_differentiable_when_members_are(ens, split) -> None:
    assert ens.differentiable
    X, A = ens.space.encode(split[2][:4])
    s = ens.score(X.clone().requires_grad_(True), A)
    assert np.allclose(s.detach().numpy(), ens.predict(split[2][:4]).mean, atol=1e-4)


def test_a_predictor_without_seed_gets_one_member(split) -> None:
    class Fixed(P.Predictor):
        """Predicts the training mean (no seed argument)."""

        def __init__(self, space):
            super().__init__(space)

        def _fit(self, archs, y):
            self.m = float(y.mean())

        def _predict(self, archs):
            return P.Prediction(np.full(len(archs), self.m))

    P.register("test_fixed_mean", overwrite=True)(Fixed)
    try:
        e = EnsemblePredictor("nb201", predictor="test_fixed_mean", members=5).fit(split[0][:5], split[1][:5])
        assert e.members == 1 and np.allclose(e.predict(split[2][:3]).std, 0)
    finally:
        P.registry.remove("test_fixed_mean")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(UnknownPredictorError, match="gnn"):
        EnsemblePredictor("nb201", predictor="gnm")
    with pytest.raises(InvalidArgumentError, match="meta-trained first"):
        EnsemblePredictor("nb201", predictor="meta")
    with pytest.raises(InvalidArgumentError, match="another predictor"):
        EnsemblePredictor("nb201", predictor="ensemble")
    with pytest.raises(UnknownOptionError, match="epochs"):
        EnsemblePredictor("nb201", predictor="gnn", options={"epoch": 3})
    with pytest.raises(InvalidArgumentError, match="seed"):
        EnsemblePredictor("nb201", predictor="gnn", options={"seed": 3})
    with pytest.raises(InvalidArgumentError, match="members"):
        EnsemblePredictor("nb201", predictor="gnn", members=0)
    with pytest.raises(InvalidArgumentError, match="options must be a dict"):
        EnsemblePredictor("nb201", predictor="gnn", options=[1])
    with pytest.raises(InvalidArgumentError, match="posterior of its own"):
        EnsemblePredictor("nb201", predictor="gp_path")


def test_a_fitted_ensemble_pickles(ens, split) -> None:
    """Saving a fitted surrogate (or shipping it to a worker) once failed: its BoTorch model's
    class is made inside a function. The copy rebuilds it and predicts the same."""
    import pickle

    test = split[2][:9]
    copy = pickle.loads(pickle.dumps(ens))
    assert np.allclose(copy.predict(test).mean, ens.predict(test).mean)
    X = copy.features(test)
    assert torch.allclose(copy.model.posterior(X).mean, ens.model.posterior(ens.features(test)).mean)
    fresh = pickle.loads(pickle.dumps(EnsemblePredictor("nb201", predictor="gnn", members=2, options=TINY)))
    assert fresh.model is None and fresh.members == 2
