"""Cost models: exact counts, an exact linear surrogate on NB201, a learnable latency model."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

import nagen.predictors as P
from nagen.errors import InvalidTrainingDataError


def test_exact_cost_needs_no_labels_and_matches_table(nb201) -> None:
    m = P.get("exact_cost", "nb201", metric="flops")
    archs = nb201.archs[:50]
    assert np.array_equal(m.predict(archs).mean, nb201.query_many(archs, "flops"))


def test_linear_surrogate_is_exact_on_nb201(nb201) -> None:
    m = P.get("exact_cost", "nb201", metric="params", surrogate_samples=128)
    archs = nb201.archs[1000:1040]
    X, A = m.space.encode(archs)
    X.requires_grad_(True)
    s = m.score(X, A)
    s.sum().backward()
    assert m.surrogate_r2 is not None and m.surrogate_r2 > 0.999999
    assert np.allclose(s.detach().numpy(), nb201.query_many(archs, "params"), rtol=1e-4)
    assert X.grad.abs().sum() > 0


def test_latency_model_learns_a_measured_column(nb201, split) -> None:
    train, _, test, _ = split
    y = nb201.query_many(train, "lat_pixel3_ms")
    m = P.get("cost", "nb201", epochs=60, hidden=16).fit(train, y)
    pred = m.predict(test).mean
    assert (pred > 0).all()
    assert spearmanr(pred, nb201.query_many(test, "lat_pixel3_ms"))[0] > 0.5
    X, A = m.space.encode(test[:3])
    assert torch.allclose(m.score(X, A), torch.tensor(pred[:3], dtype=torch.float32), rtol=1e-3)
    # guidance divides score() margins by y_std: it must be in score()'s units (ms), not log-ms
    assert np.isclose(m.y_std, y.std()) and np.isclose(m.y_mean, y.mean())


def test_latency_model_rejects_non_positive(split) -> None:
    train, _, _, _ = split
    import pytest

    with pytest.raises(InvalidTrainingDataError, match="positive"):
        P.get("cost", "nb201", epochs=1).fit(train[:3], [1.0, 0.0, 2.0])
