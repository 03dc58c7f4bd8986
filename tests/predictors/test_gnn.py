"""GNN predictor: learns, ranks, is differentiable, and rejects bad input with named errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import nagen.predictors as P
from nagen.errors import EncodingError, InvalidTrainingDataError, NotFittedError, UnknownPredictorError
from nagen.noise import VPSchedule


@pytest.fixture(scope="module")
def fitted(split):
    train, ytr, _, _ = split
    return P.get("gnn", "nb201", epochs=60, hidden=32, seed=0).fit(train, ytr)


def test_beats_a_constant_predictor(fitted, split) -> None:
    _, ytr, test, yte = split
    pred = fitted.predict(test).mean
    assert spearmanr(pred, yte)[0] > 0.5
    assert np.mean((pred - yte) ** 2) < np.mean((ytr.mean() - yte) ** 2)


def test_seeded_fits_are_identical(split) -> None:
    train, ytr, test, _ = split
    a = P.get("gnn", "nb201", epochs=3, hidden=8, seed=5).fit(train, ytr).predict(test[:20]).mean
    b = P.get("gnn", "nb201", epochs=3, hidden=8, seed=5).fit(train, ytr).predict(test[:20]).mean
    assert np.array_equal(a, b)


def test_score_is_differentiable_and_matches_predict(fitted, split) -> None:
    _, _, test, _ = split
    X, A = fitted.space.encode(test[:8])
    X = X.clone().requires_grad_(True)
    s = fitted.score(X, A)
    assert s.shape == (8,)
    assert np.allclose(s.detach().numpy(), fitted.predict(test[:8]).mean, atol=1e-4)
    s.sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    soft = torch.softmax(torch.randn(4, 8, 7), -1).requires_grad_(True)
    fitted.score(soft, A[:4], t=0.5).sum().backward()
    assert soft.grad.abs().sum() > 0


def test_noise_aware_and_ensemble(split) -> None:
    train, ytr, test, yte = split
    m = P.get("gnn", "nb201", epochs=40, hidden=16, ensemble=2, noise=VPSchedule(), seed=1).fit(train, ytr)
    p = m.predict(test)
    assert p.std is not None and (p.std >= 0).all() and p.std.max() > 0
    assert spearmanr(p.mean, yte)[0] > 0.3
    X, A = m.space.encode(test[:5])
    noisy, _ = VPSchedule().perturb(X, torch.full((5,), 0.3))
    assert torch.isfinite(m.score(noisy, A, torch.full((5,), 0.3))).all()
    assert m.embed(test[:3]).shape == (3, 32)


def test_variable_topology_space() -> None:
    space = P.get("gnn", "nb101").space
    archs = space.sample(40, 0)
    y = np.array([a.num_nodes + len(a.edges) for a in archs], dtype=float)  # a structural target
    m = P.get("gnn", space, epochs=40, hidden=16).fit(archs[:30], y[:30])
    assert spearmanr(m.predict(archs[30:]).mean, y[30:])[0] > 0.3


@pytest.mark.parametrize(
    "X, A, t, fragment",
    [
        (torch.zeros(2, 8, 6), torch.zeros(2, 8, 8), None, "X must be batch x 8 x 7"),
        (torch.zeros(2, 8, 7), torch.zeros(3, 8, 8), None, "batch sizes differ"),
        (torch.zeros(2, 7, 7), torch.zeros(2, 7, 7), None, "X must be"),
        (torch.full((2, 8, 7), float("nan")), torch.zeros(2, 8, 8), None, "finite"),
        (torch.zeros(2, 8, 7), torch.zeros(2, 8, 8), 1.5, "t must be"),
        (np.zeros((2, 8, 7)), torch.zeros(2, 8, 8), None, "torch tensors"),
    ],
)
def test_score_rejects_bad_state(fitted, X, A, t, fragment) -> None:
    with pytest.raises(EncodingError, match=fragment):
        fitted.score(X, A, t)


def test_training_data_errors(split) -> None:
    train, ytr, _, _ = split
    m = P.get("gnn", "nb201", epochs=1)
    with pytest.raises(NotFittedError):
        m.predict(train[:2])
    with pytest.raises(InvalidTrainingDataError, match="empty"):
        m.fit([], [])
    with pytest.raises(InvalidTrainingDataError, match="NaN"):
        m.fit(train[:3], [1.0, float("nan"), 2.0])
    with pytest.raises(InvalidTrainingDataError, match="3 architectures but 2 values"):
        m.fit(train[:3], [1.0, 2.0])
    with pytest.raises(InvalidTrainingDataError, match="wrap a single one"):
        m.fit(train[0], [1.0])
    with pytest.raises(UnknownPredictorError, match="among choices"):
        P.get("gnm", "nb201")
