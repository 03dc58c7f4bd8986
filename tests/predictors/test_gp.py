"""GP surrogates: each encoding learns NB201, is calibrated, exposes its BoTorch model, and fails loudly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import nagen.predictors as P
import nagen.spaces
from nagen.errors import (
    InvalidSpecError,
    InvalidTrainingDataError,
    NotDifferentiableError,
    NotFittedError,
    UnknownPredictorError,
)
from nagen.predictors.gp import GPPredictor, WLKernel, YeoJohnson

ENCODINGS = ("onehot", "path", "wl", "deep")
SMALL_GNN = {"gnn_epochs": 60, "gnn_options": {"hidden": 32}}


@pytest.fixture(scope="module")
def fitted(split):
    train, ytr, _, _ = split
    return {enc: P.get(f"gp_{enc}", "nb201", seed=0, **(SMALL_GNN if enc == "deep" else {})).fit(train, ytr) for enc in ENCODINGS}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_learns_and_is_calibrated(fitted, split, encoding) -> None:
    _, ytr, test, yte = split
    model = fitted[encoding]
    pred = model.predict(test)
    assert pred.mean.shape == pred.std.shape == (len(test),)
    assert spearmanr(pred.mean, yte)[0] > 0.3
    assert np.mean((pred.mean - yte) ** 2) < np.mean((ytr.mean() - yte) ** 2)
    assert (pred.std > 0).all() and np.isfinite(pred.std).all()
    assert 0.6 <= model.calibration(test, yte, level=0.9) <= 1.0


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_model_and_features_are_the_botorch_view(fitted, split, encoding) -> None:
    _, _, test, _ = split
    model = fitted[encoding]
    X = model.features(test[:7])
    assert X.dtype == torch.float64 and X.shape[0] == 7
    pred = model.predict(test[:7])
    with torch.no_grad():
        post = model.model.posterior(X, observation_noise=True)
        assert np.allclose(post.mean.squeeze(-1).numpy(), pred.mean)
        assert np.allclose(post.variance.squeeze(-1).sqrt().numpy(), pred.std)
        assert post.rsample(torch.Size([4])).shape == (4, 7, 1)


@pytest.mark.parametrize("encoding", ["onehot", "deep"])
def test_score_is_differentiable_and_matches_predict(fitted, split, encoding) -> None:
    _, _, test, _ = split
    model = fitted[encoding]
    assert model.differentiable
    X, A = model.space.encode(test[:6])
    X = X.clone().requires_grad_(True)
    s = model.score(X, A)
    assert s.shape == (6,)
    assert np.allclose(s.detach().numpy(), model.predict(test[:6]).mean, rtol=1e-4)
    s.sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    soft = torch.softmax(torch.randn(3, 8, 7), -1).requires_grad_(True)
    model.score(soft, A[:3], t=0.3).sum().backward()
    assert torch.isfinite(soft.grad).all() and soft.grad.abs().sum() > 0


@pytest.mark.parametrize("encoding", ["path", "wl"])
def test_path_and_wl_have_no_score(fitted, split, encoding) -> None:
    model = fitted[encoding]
    assert not model.differentiable and GPPredictor.differentiable is False
    X, A = model.space.encode(split[2][:2])
    with pytest.raises(NotDifferentiableError):
        model.score(X, A)


def test_seeded_fits_are_identical(split) -> None:
    train, ytr, test, _ = split
    a = P.get("gp_wl", "nb201", seed=3).fit(train[:30], ytr[:30]).predict(test[:20])
    b = P.get("gp", "nb201", encoding="wl", seed=3).fit(train[:30], ytr[:30]).predict(test[:20])
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.std, b.std)


def test_unwarped_gp_is_plain_standardize(split) -> None:
    train, ytr, test, yte = split
    model = P.get("gp_onehot", "nb201", warp=False).fit(train, ytr)
    assert type(model.model.outcome_transform).__name__ == "Standardize"
    assert spearmanr(model.predict(test).mean, yte)[0] > 0.2


def test_variable_topology_space() -> None:
    try:
        space = nagen.spaces.get("nb101")
    except KeyError:
        space = nagen.spaces.from_spec(
            {"name": "t", "ops": ["conv3x3", "conv1x1", "maxpool3x3"], "num_nodes": 6, "topology": "variable", "max_edges": 8}
        )
    archs = space.sample(40, rng=0)
    y = np.array([sum(op == space.ops[0] for op in a.ops) + 0.5 * len(a.edges) for a in archs], dtype=float)
    for enc in ("onehot", "path", "wl"):
        pred = P.get("gp", space, encoding=enc).fit(archs[:30], y[:30]).predict(archs[30:])
        assert np.isfinite(pred.mean).all() and (pred.std > 0).all()
    model = P.get("gp_onehot", space).fit(archs[:30], y[:30])
    X, A = space.encode(archs[30:])
    A = A.clone().requires_grad_(True)
    model.score(X, A).sum().backward()
    assert torch.isfinite(A.grad).all()


# ---------------------------------------------------------------------- errors
def test_errors(split) -> None:
    train, ytr, test, yte = split
    model = P.get("gp", "nb201")
    X, A = model.space.encode(test[:2])
    for call in (lambda: model.predict(test), lambda: model.score(X, A), lambda: model.features(test), lambda: model.calibration(test, yte)):
        with pytest.raises(NotFittedError):
            call()
    with pytest.raises(InvalidTrainingDataError):
        model.fit([], [])
    with pytest.raises(InvalidTrainingDataError):
        model.fit(train[:3], [90.0, float("nan"), 80.0])
    with pytest.raises(UnknownPredictorError, match="gp_wl"):
        P.get("gp_bogus", "nb201")
    with pytest.raises(InvalidSpecError, match="'onehot'") as info:
        P.get("gp", "nb201", encoding="graph")
    assert isinstance(info.value, ValueError) and "'wl'" in str(info.value)
    with pytest.raises(InvalidSpecError, match="kernel"):
        P.get("gp", "nb201", kernel="linear")
    with pytest.raises(InvalidSpecError, match="fixes encoding"):
        P.get("gp_wl", "nb201", encoding="path")
    fitted = P.get("gp_path", "nb201").fit(train[:20], ytr[:20])
    with pytest.raises(InvalidTrainingDataError):
        fitted.calibration(test[:3], yte[:2])
    with pytest.raises(ValueError, match="level"):
        fitted.calibration(test[:3], yte[:3], level=1.5)


def test_registered_names() -> None:
    assert {"gp", "gp_onehot", "gp_path", "gp_wl", "gp_deep"} <= set(P.names())
    assert P.get("gp_deep", "nb201").differentiable and not P.get("gp_path", "nb201").differentiable


# ---------------------------------------------------------------------- building blocks
def test_wl_kernel_is_normalised_psd_and_supports_diag_and_batches() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (2, 6, 9), generator=g).double()
    x[..., 0] += 1  # every histogram non-empty
    k = WLKernel([2, 3, 4], learn_weights=True, batch_shape=torch.Size([2]))
    with torch.no_grad():
        k.raw_weights.copy_(torch.randn(2, 3, generator=g))
        full = k(x).to_dense()
        assert full.shape == (2, 6, 6)
        assert torch.allclose(full.diagonal(dim1=-2, dim2=-1), torch.ones(2, 6, dtype=torch.float64))
        assert torch.allclose(k(x, diag=True), full.diagonal(dim1=-2, dim2=-1))
        assert torch.allclose(full, full.transpose(-1, -2)) and torch.linalg.eigvalsh(full).min() > -1e-10
        cross = k(x[:, :2], x[:, 2:]).to_dense()
        assert torch.allclose(cross, full[:, :2, 2:])
        # the unbatched fast path (sparse products) agrees with the batched dense one
        single = WLKernel([2, 3, 4])
        assert torch.allclose(single(x[0], x[1]).to_dense(), single(x, x.flip(0)).to_dense()[0])
    assert k.weights.shape == (2, 3) and torch.allclose(k.weights.sum(-1), torch.ones(2, dtype=k.weights.dtype))


def test_yeo_johnson_round_trips_and_keeps_order() -> None:
    for y in (torch.randn(60).exp() * 10, 95 - torch.randn(60).exp() * 10, torch.randn(60)):
        t = YeoJohnson()
        Y = y.double().unsqueeze(-1)
        z, _ = t(Y)
        t.eval()
        assert torch.allclose(t.untransform(z)[0], Y, atol=1e-8)
        order = torch.argsort(Y.squeeze(-1))
        assert (z.squeeze(-1)[order].diff() >= 0).all()


@pytest.mark.parametrize("space_name", ["nb201", "nb101"])
def test_wl_features_are_the_exact_label_counts(space_name) -> None:
    """The vectorised WL featuriser gives, per WL iteration, the training vocabulary's label counts and
    the norm of the unseen labels' counts: the definition, written out with a Counter."""
    from collections import Counter

    from nagen.predictors.features import wl_labels

    space = nagen.spaces.get(space_name)
    archs = space.sample(60, rng=3)
    model = GPPredictor(space, encoding="wl", seed=0).fit(archs[:20], np.arange(20.0))
    offsets = np.cumsum([0, *model._wl_blocks])
    expected = np.zeros((40, offsets[-1]))
    for k, per_iter in enumerate(wl_labels(space, archs[20:], model.wl_iterations)):
        for h, labels in enumerate(per_iter):
            unseen = 0.0
            for label, count in Counter(labels).items():
                col = model._wl_columns.get((h, label))
                if col is None:
                    unseen += count * count
                else:
                    expected[k, col] = count
            expected[k, offsets[h + 1] - 1] = np.sqrt(unseen)
    got = model.features(archs[20:]).numpy()
    assert np.array_equal(got, expected)
    assert (got[:, offsets[1:] - 1] > 0).any()  # some test cells do carry unseen labels
    assert np.array_equal(model.features(archs[:20]).numpy()[:, offsets[1:] - 1], np.zeros((20, len(offsets) - 1)))
    assert model.features([]).shape == (0, offsets[-1])


def test_a_warped_gps_interval_is_the_quantiles_of_its_own_predictive(fitted, split) -> None:
    """The warped GP's ``std`` matches the exact interval's width at 90% only; ``interval`` built
    ``median +- z std`` from it, symmetric, reaching past 100% accuracy on uncertain cells."""
    _, ytr, test, yte = split
    model = fitted["onehot"]
    pred = model.predict(test)
    samples = model.model.posterior(model.features(test), observation_noise=True).rsample(torch.Size([4000]))
    samples = samples.squeeze(-1).detach().numpy()  # exact samples of the back-transformed predictive
    for level in (0.5, 0.9):
        lo, hi = pred.interval(level)
        q_lo, q_hi = np.quantile(samples, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        assert np.median(np.abs(lo - q_lo)) < 0.3 and np.median(np.abs(hi - q_hi)) < 0.3
        assert (lo <= pred.mean).all() and (pred.mean <= hi).all()
    lo, hi = pred.interval(0.99)
    assert hi.max() <= ytr.max() + (ytr.max() - ytr.min()) + 1e-6  # within the transform's support
    np.testing.assert_allclose(pred.quantile(0.5), pred.mean, rtol=1e-9)
    # an unwarped GP's predictive is Gaussian: mean +- z std
    plain = P.get("gp_onehot", "nb201", seed=0, warp=False).fit(*split[:2]).predict(test)
    assert plain.quantile is None
    assert np.allclose(plain.interval(0.9)[1] - plain.mean, plain.mean - plain.interval(0.9)[0])


def test_a_warped_gps_prediction_pickles_with_its_quantiles(fitted, split) -> None:
    import pickle

    pred = fitted["onehot"].predict(split[2][:20])
    back = pickle.loads(pickle.dumps(pred))
    np.testing.assert_allclose(back.interval(0.8)[0], pred.interval(0.8)[0])


def test_wl_out_of_vocabulary_labels_are_private_to_each_graph(split) -> None:
    """One shared out-of-vocabulary column per WL iteration made any two new graphs look alike by the
    product of their norms, distorting the joint posterior of a batch's picks; a graph's own norm and its
    similarity to the training graphs (all a single pick uses) are unchanged."""
    train, ytr, test, _ = split
    gp = GPPredictor("nb201", encoding="wl", seed=0).fit(train[:30], ytr[:30])
    X_new, X_train = gp._features(test[:40]), gp._features(train[:30])
    private = gp.model.covar_module.base_kernel
    shared = WLKernel(private.block_sizes)
    shared.load_state_dict(private.state_dict())
    with torch.no_grad():
        assert torch.allclose(private(X_new, X_train).to_dense(), shared(X_new, X_train).to_dense())
        assert torch.allclose(private(X_new, diag=True), shared(X_new, diag=True))
        K_priv, K_shared = private(X_new).to_dense(), shared(X_new).to_dense()
    off = ~torch.eye(40, dtype=torch.bool)
    assert (K_priv[off] <= K_shared[off] + 1e-12).all() and (K_priv[off] < K_shared[off] - 1e-3).any()
    assert torch.linalg.eigvalsh(K_priv).min() > -1e-9  # still a kernel
