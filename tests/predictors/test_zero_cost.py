"""Zero-cost proxies on tiny NB201 networks, the shipped NB201 synflow table and ZeroCostPredictor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import nagen.benchmarks
import nagen.predictors
import nagen.spaces
from nagen.errors import InvalidTrainingDataError
from nagen.predictors import zero_cost as zc

CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
TINY = {"C": 4, "N": 1}  # 2 cells + 2 reduction blocks: a few thousand parameters


@pytest.fixture(scope="module")
def space():
    return nagen.spaces.get("nb201")


@pytest.fixture(scope="module")
def digits():
    """16 real handwritten digits (scikit-learn), 1x8x8 upsampled to 1x16x16, labels 0..9."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images[:16], dtype=torch.float32)[:, None] / 16.0
    x = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    return x, torch.tensor(d.target[:16], dtype=torch.long)


@pytest.fixture(scope="module")
def nb201():
    return nagen.benchmarks.load("nb201")


@pytest.fixture(scope="module")
def split(nb201):
    """50 training and 300 held-out random NB201 cells with CIFAR-10 test accuracies."""
    idx = np.random.default_rng(1).permutation(len(nb201))
    train = [nb201.archs[i] for i in idx[:50]]
    test = [nb201.archs[i] for i in idx[50:350]]
    return train, nb201.query_many(train, "cifar10_test"), test, nb201.query_many(test, "cifar10_test")


# ---------------------------------------------------------------------- proxies
def test_data_free_proxies_are_finite_deterministic_and_leave_the_rng_alone(space) -> None:
    state = torch.random.get_rng_state()
    a = zc.compute_proxies(space, CONV, seed=0, input_shape=(3, 16, 16), **TINY)
    b = zc.compute_proxies(space, CONV, seed=0, input_shape=(3, 16, 16), **TINY)
    assert torch.equal(state, torch.random.get_rng_state())
    assert list(a) == list(zc.DATA_FREE) and a == b
    assert all(isinstance(v, float) and math.isfinite(v) for v in a.values())
    other = zc.compute_proxies(space, CONV, seed=1, input_shape=(3, 16, 16), proxies=["synflow"], **TINY)
    assert other["synflow"] != a["synflow"]  # another initialisation, another score
    cost = space.cost(CONV, input_shape=(3, 16, 16), **TINY)
    assert (a["params"], a["flops"]) == (cost["params"], cost["flops"])


def test_synflow_is_data_free_prefers_convs_and_does_not_modify_the_net(space) -> None:
    scores = {}
    for name, cell in (("conv", CONV), ("skip", SKIP), ("none", NONE)):
        torch.manual_seed(0)
        net = space.build(cell, **TINY)
        before = [p.detach().clone() for p in net.parameters()]
        scores[name] = zc.synflow(net, (3, 16, 16))
        assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
        assert next(net.parameters()).dtype == torch.float32
    assert all(math.isfinite(v) for v in scores.values())
    # more parameterised paths carry more synaptic flow; a cell with no path carries none
    assert scores["conv"] > scores["skip"] + 1.0
    assert scores["none"] == pytest.approx(math.log(np.finfo(np.float64).tiny))
    assert scores["none"] < scores["skip"]


def test_data_dependent_proxies_on_real_digits(space, digits) -> None:
    x, y = digits
    a = zc.compute_proxies(space, CONV, data=(x, y), seed=0, in_channels=1, **TINY)
    assert set(a) == set(zc.DATA_FREE) | set(zc.DATA_DEPENDENT)
    assert all(isinstance(v, float) and math.isfinite(v) for v in a.values())
    assert a == zc.compute_proxies(space, CONV, data=(x, y), seed=0, in_channels=1, **TINY)
    torch.manual_seed(0)
    net = space.build(CONV, in_channels=1, **TINY)
    assert zc.snip(net, x, y) == pytest.approx(a["snip"], rel=1e-6)
    assert zc.grad_norm(net, x, y) > 0 and zc.snip(net, x, y) > 0
    assert net.stem[0].weight.grad is None  # the functions work on copies
    # a cell with no path from input to output: defined, finite, and at the bad end of every proxy
    dead = zc.compute_proxies(space, NONE, data=(x, y), seed=0, in_channels=1, **TINY)
    assert all(math.isfinite(v) for v in dead.values())
    for p in ("synflow", "grad_norm", "snip", "jacov", "naswot"):
        assert dead[p] < a[p], p
    assert dead["ntk_cond"] > a["ntk_cond"]  # lower is better for the NTK condition number


def test_missing_or_bad_data_and_unknown_proxies_raise_named_errors(space, digits) -> None:
    with pytest.raises(InvalidTrainingDataError, match=r"need a batch of your data: pass data=\(x, y\)"):
        zc.compute_proxies(space, CONV, proxies=("synflow", "snip"), **TINY)
    with pytest.raises(InvalidTrainingDataError, match="naswot"):
        zc.ZeroCostPredictor(space, proxies=("synflow", "naswot"))
    x, y = digits
    with pytest.raises(InvalidTrainingDataError, match="labels y must lie in 0..4"):
        zc.compute_proxies(space, CONV, data=(x, y), num_classes=5, in_channels=1, **TINY)
    with pytest.raises(InvalidTrainingDataError, match="integer tensor"):
        zc.compute_proxies(space, CONV, data=(x, y.float()), in_channels=1, **TINY)
    with pytest.raises(zc.UnknownProxyError, match="could not resolve zero-cost proxy 'synflw' among choices"):
        zc.compute_proxies(space, CONV, proxies=["synflw"])
    with pytest.raises(ValueError, match="combine"):
        zc.ZeroCostPredictor(space, combine="mean")


# ---------------------------------------------------------------------- shipped table
def test_shipped_nb201_table_is_complete_and_matches_a_fresh_computation(space, nb201) -> None:
    table = zc._nb201_table()
    assert table is not None, f"nagen/data/{zc.NB201_TABLE} is missing: run scripts/make_nb201_zero_cost.py"
    assert table["synflow"].shape == (15625,) and np.isfinite(table["synflow"]).all()
    for k in np.random.default_rng(0).choice(15625, size=3, replace=False):
        fresh = zc.compute_proxies(space, nb201.archs[k], seed=zc.NB201_TABLE_SEED, proxies=["synflow"])
        assert fresh["synflow"] == pytest.approx(table["synflow"][k], rel=1e-6)


def test_features_fall_back_to_on_the_fly_computation_without_the_table(space, nb201, monkeypatch) -> None:
    archs = [nb201.archs[7], nb201.archs[4242]]
    model = zc.ZeroCostPredictor(space)
    from_table = model.features(archs)  # no fit needed
    assert from_table.shape == (2, 3)
    monkeypatch.setattr(zc, "_nb201_table", lambda: None)
    computed = zc.ZeroCostPredictor(space).features(archs)
    np.testing.assert_allclose(computed, from_table, rtol=1e-6)
    np.testing.assert_array_equal(from_table[:, 1], nb201.query_many(archs, "params"))
    np.testing.assert_array_equal(from_table[:, 2], nb201.query_many(archs, "flops"))


# ---------------------------------------------------------------------- predictor
def test_zero_cost_predictor_ranks_held_out_cells_with_a_botorch_combination(space, split, monkeypatch) -> None:
    import botorch.optim

    calls = []
    real = botorch.optim.optimize_acqf
    monkeypatch.setattr(botorch.optim, "optimize_acqf", lambda *a, **k: calls.append(1) or real(*a, **k))
    train, ytr, test, yte = split
    model = nagen.predictors.get("zero_cost", "nb201", bo_iters=6, seed=0)
    assert isinstance(model, zc.ZeroCostPredictor) and not model.probabilistic and not model.differentiable
    model.fit(train, ytr)
    pred = model.predict(test)
    assert pred.std is None and pred.mean.shape == (300,) and np.isfinite(pred.mean).all()
    rho = spearmanr(pred.mean, yte).statistic
    assert rho > 0.3  # a constant predictor has no rank correlation at all
    assert abs(np.mean(pred.mean) - np.mean(yte)) < 15  # values are in accuracy units, not proxy units
    # BoTorch chose the weights: 2p+1 initial weight vectors, then one optimize_acqf per step
    W, T = model.bo_history_
    assert len(calls) >= 1 and W.shape == (2 * 3 + 1 + 6, 3) and T.shape == (13,)
    assert model.weights_.shape == (3,) and np.all(np.abs(model.weights_) <= 1)
    assert model.train_tau_ >= max(model.proxy_tau_.values()) - 1e-9
    assert model.train_tau_ == pytest.approx(float(T.max()))


def test_single_proxy_ranks_by_the_first_proxy_and_fit_only_sets_the_scale(space, split) -> None:
    train, ytr, test, yte = split
    model = zc.ZeroCostPredictor(space, proxies=("synflow", "params"), combine="single").fit(train, ytr)
    assert model.bo_history_ is None and model.weights_.tolist() == [1.0, 0.0]
    pred = model.predict(test).mean
    syn = model.features(test)[:, 0]
    assert spearmanr(pred, syn).statistic == pytest.approx(1.0)
    shifted = zc.ZeroCostPredictor(space, proxies=("synflow",), combine="single").fit(train, ytr + 100.0)
    np.testing.assert_allclose(shifted.predict(test).mean, pred + 100.0, rtol=1e-9)
    with pytest.raises(InvalidTrainingDataError):
        model.fit(train, ytr[:-1])


# ---------------------------------------------------------------------- determinism and options
def test_proxies_of_a_net_with_dropout_ignore_the_global_rng() -> None:
    # mbv3 has dropout 0.1 before its classifier: a proxy must not depend on the caller's RNG state,
    # and dropout is off while scoring, so the values equal those of the network without it
    sp = nagen.spaces.get("mbv3")
    arch = sp.sample(1, 0)[0]
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 3, 32, 32, generator=gen), torch.tensor([0, 1, 2, 3])
    kw = dict(data=(x, y), seed=0, proxies=["synflow", "snip", "grad_norm", "jacov"], num_classes=4)
    runs = []
    for s in (1, 2):
        torch.manual_seed(s)
        runs.append(zc.compute_proxies(sp, arch, **kw))
    assert runs[0] == runs[1]
    assert runs[0] == zc.compute_proxies(sp, arch, dropout=0.0, **kw)
    # the public functions too: each call works on a copy with its dropout in eval mode
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    vals = []
    for s in (1, 2):
        torch.manual_seed(s)
        vals.append((zc.synflow(net, (3, 2, 2)), zc.snip(net, x[:, :, :2, :2], y % 3)))
    assert vals[0] == vals[1]


def test_in_channels_build_option_is_checked_and_none_keeps_the_default_shape(space) -> None:
    from nagen.errors import InvalidArgumentError

    for bad in ("three", 2.9, 0, True):
        with pytest.raises(InvalidArgumentError, match="build option in_channels must be a positive integer"):
            zc.ZeroCostPredictor(space, build_options={"in_channels": bad})
        with pytest.raises(InvalidArgumentError, match="in_channels"):
            zc.compute_proxies(space, CONV, in_channels=bad, **TINY)
    assert zc.ZeroCostPredictor(space, build_options={"in_channels": 1}).input_shape == (1, 32, 32)
    custom = nagen.spaces.from_spec(
        {"name": "zc_in_none", "ops": ["conv3x3", "skip"], "num_nodes": 3, "topology": "fixed", "edges": [[0, 1], [1, 2]]}
    )
    model = zc.ZeroCostPredictor(custom, build_options={"in_channels": None, "C": 2, "N": 1})
    assert model.input_shape == tuple(custom.default_input_shape)
    assert np.isfinite(model.features(custom.sample(1, 0))).all()


def test_an_input_shape_the_network_cannot_run_is_a_named_error_not_a_torch_size_mismatch() -> None:
    """A 30 x 30 (or 1-channel) NB201 input passed the positive-integers check and failed inside synflow
    with "The size of tensor a (7) must match ... (8)"; space.cost refused the same shape cleanly."""
    import pytest
    import torch

    import nagen.spaces
    from nagen.errors import InvalidArgumentError
    from nagen.predictors.zero_cost import compute_proxies

    sp = nagen.spaces.get("nb201")
    arch = sp.sample(1, 0)[0]
    for shape in ((3, 30, 30), (3, 31, 31)):
        with pytest.raises(InvalidArgumentError, match="multiples of 4"):
            compute_proxies(sp, arch, proxies=["synflow"], input_shape=shape, C=4, N=1)
    x, y = torch.zeros(4, 3, 30, 30), torch.zeros(4, dtype=torch.long)
    with pytest.raises(InvalidArgumentError, match="multiples of 4"):
        compute_proxies(sp, arch, data=(x, y), proxies=["snip"], C=4, N=1)
    with pytest.raises(InvalidArgumentError, match="in_channels"):
        compute_proxies(sp, arch, proxies=["synflow"], input_shape=(1, 32, 32), C=4, N=1)
    assert compute_proxies(sp, arch, proxies=["synflow"], input_shape=(1, 32, 32), C=4, N=1, in_channels=1)["synflow"] > 0
