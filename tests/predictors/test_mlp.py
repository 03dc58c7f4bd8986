"""BANANAS' MLP predictor on the path encoding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import nagen.predictors as P
from nagen.errors import InvalidArgumentError, NotDifferentiableError


@pytest.fixture(scope="module")
def mlp(split):
    train, ytr, _, _ = split
    return P.get("mlp", "nb201", layers=4, width=20, epochs=80, seed=0).fit(train, ytr)


def test_ranks_held_out_cells(mlp, split) -> None:
    _, _, test, yte = split
    pred = mlp.predict(test)
    assert pred.mean.shape == (300,) and pred.std is None
    assert spearmanr(pred.mean, yte).statistic > 0.5


def test_same_seed_same_model_other_seed_other(split, mlp) -> None:
    train, ytr, test, _ = split
    again = P.get("mlp", "nb201", layers=4, width=20, epochs=80, seed=0).fit(train, ytr)
    other = P.get("mlp", "nb201", layers=4, width=20, epochs=80, seed=1).fit(train, ytr)
    assert np.array_equal(again.predict(test).mean, mlp.predict(test).mean)
    assert not np.allclose(other.predict(test).mean, mlp.predict(test).mean)


def test_onehot_encoding_and_bad_options(split) -> None:
    train, ytr, test, _ = split
    m = P.get("mlp", "nb201", encoding="onehot", layers=2, epochs=20).fit(train[:20], ytr[:20])
    assert np.isfinite(m.predict(test[:5]).mean).all()
    with pytest.raises(InvalidArgumentError, match="encoding must be one of"):
        P.get("mlp", "nb201", encoding="wl")
    with pytest.raises(InvalidArgumentError, match="layers"):
        P.get("mlp", "nb201", layers=0)
    X, A = m.space.encode(test[:2])
    with pytest.raises(NotDifferentiableError):
        m.score(X, A)


def test_nb101_variable_topology(split) -> None:
    import nagen.spaces

    sp = nagen.spaces.get("nb101")
    archs = sp.sample(12, seed=0)
    y = np.array([float(len(a.ops)) for a in archs])
    m = P.get("mlp", sp, layers=2, epochs=100).fit(archs, y)
    pred = m.predict(archs).mean
    assert pred.shape == (12,) and spearmanr(pred, y).statistic > 0.5  # it learns its training set
