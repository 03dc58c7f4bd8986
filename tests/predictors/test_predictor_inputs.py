"""Bad input to predictors: every mistake is a named nagen error, raised before any work is done."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nagen.predictors as P
import nagen.spaces
from nagen.errors import (
    EncodingError,
    InvalidArgumentError,
    InvalidTrainingDataError,
    NagenError,
    UnknownOptionError,
    UnknownProxyError,
)
from nagen.noise import VPSchedule
from nagen.predictors.cost import ExactCostPredictor
from nagen.predictors.gp import AugmentedGP
from nagen.predictors.latency import LatencyPredictor
from nagen.predictors.meta import MetaPredictor, Task
from nagen.predictors.zero_cost import ZeroCostPredictor, compute_proxies

SMALL = {"epochs": 2, "hidden": 8, "layers": 1}


@pytest.fixture(scope="module")
def space():
    return nagen.spaces.get("nb201")


@pytest.fixture(scope="module")
def archs(space):
    return space.sample(8, 0)


@pytest.fixture(scope="module")
def gnn(archs):
    return P.get("gnn", "nb201", **SMALL).fit(archs, np.arange(8.0))


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"epochs": 2.5}, "epochs must be a positive integer"),
        ({"epochs": float("nan")}, "epochs must be a positive integer"),
        ({"epochs": True}, "epochs must be a positive integer"),
        ({"hidden": "64"}, "hidden must be a positive integer"),
        ({"ensemble": True}, "ensemble must be a positive integer"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": -1e-3}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"rank_weight": float("nan")}, "rank_weight must be a finite number >= 0"),
        ({"rank_weight": -1.0}, "rank_weight must be a finite number >= 0"),
        ({"noise": "vp"}, "noise must be None or a nagen.noise.VPSchedule"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"seed": None}, "seed must be a non-negative integer"),
        ({"seed": "a"}, "seed must be a non-negative integer"),
    ],
)
def test_gnn_constructor_refuses_bad_arguments(options, fragment) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        P.get("gnn", "nb201", **options)


def test_numpy_integers_are_counts(archs) -> None:
    m = P.get("gnn", "nb201", epochs=np.int64(1), hidden=np.int32(8), layers=1, seed=np.int64(3))
    assert (m.epochs, m.hidden, m.seed) == (1, 8, 3)
    assert P.get("gp", "nb201", encoding="wl", wl_iterations=np.int64(1)).wl_iterations == 1
    assert P.get("zero_cost", "nb201", bo_iters=np.int64(2)).bo_iters == 2


def test_fit_refuses_non_sequences_complex_and_overflowing_values(archs) -> None:
    m = P.get("gnn", "nb201", **SMALL)
    with pytest.raises(InvalidTrainingDataError, match="sequence of ArchGraph"):
        m.fit(5, [1.0])
    with pytest.raises(InvalidTrainingDataError, match="complex"):
        m.fit(archs, np.arange(8.0) + 1j)
    # finite values whose spread overflows float64 would standardise to NaN and predict inf/NaN
    with pytest.raises(InvalidTrainingDataError, match="too large"):
        m.fit(archs, 1e300 * np.arange(8.0))
    assert not m._fitted


def test_predict_refuses_none(gnn) -> None:
    with pytest.raises(InvalidTrainingDataError, match="sequence of ArchGraph"):
        gnn.predict(None)
    assert gnn.predict([]).mean.shape == (0,)


@pytest.mark.parametrize("t", ["half", True, object()])
def test_score_refuses_a_non_numeric_time(gnn, archs, space, t) -> None:
    X, A = space.encode(archs[:2])
    with pytest.raises(EncodingError, match="t must be"):
        gnn.score(X, A, t)


def test_gnn_fit_leaves_the_global_torch_rng_alone(archs) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    P.get("gnn", "nb201", **SMALL, seed=7).fit(archs, np.arange(8.0))
    assert torch.equal(torch.rand(3), expected)


def test_noise_aware_gnn_with_an_odd_width(archs, space) -> None:
    m = P.get("gnn", "nb201", epochs=1, hidden=5, layers=1, noise=VPSchedule()).fit(archs, np.arange(8.0))
    X, A = space.encode(archs[:3])
    assert torch.isfinite(m.score(X, A, 0.5)).all()


def test_get_checks_the_options_of_preset_gps() -> None:
    for name in ("gp_wl", "gp_onehot", "gp_path", "gp_deep"):
        with pytest.raises(UnknownOptionError, match=r"takes no option\(s\) \['foo'\](; did you mean [^;]*)?; its options are \[.*'kernel'"):
            P.get(name, "nb201", foo=1)
    with pytest.raises(UnknownOptionError, match="takes no option"):
        AugmentedGP("nb201", extra=lambda s, a: np.zeros((len(a), 1)), foo=1)
    with pytest.raises(InvalidArgumentError, match="extra must be a function"):
        AugmentedGP("nb201", extra=3)


@pytest.mark.parametrize(
    "options, error, fragment",
    [
        ({"gnn_epochs": 0}, InvalidArgumentError, "gnn_epochs must be a positive integer"),
        ({"gnn_epochs": float("nan")}, InvalidArgumentError, "gnn_epochs must be a positive integer"),
        ({"max_cholesky_size": -1}, InvalidArgumentError, "max_cholesky_size must be a non-negative integer"),
        ({"gnn_options": [("hidden", 8)]}, InvalidArgumentError, "gnn_options must be a mapping"),
        ({"gnn_options": {"foo": 1}}, UnknownOptionError, r"takes no option\(s\) \['foo'\]"),
        ({"gnn_options": {"seed": 1}}, UnknownOptionError, r"takes no option\(s\) \['seed'\]"),
        ({"gnn_options": {"hidden": 0}}, InvalidArgumentError, "hidden must be a positive integer"),
    ],
)
def test_gp_constructor_refuses_bad_arguments(options, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        P.get("gp", "nb201", encoding="deep", **options)


def test_gp_calibration_and_score_edge_cases(archs, space) -> None:
    gp = P.get("gp", "nb201").fit(archs, np.linspace(70.0, 90.0, 8))
    for level in ("0.9", True, math.nan, 1.0):
        with pytest.raises(InvalidArgumentError, match="level must be a probability"):
            gp.calibration(archs, np.zeros(8), level=level)
    with pytest.raises(InvalidTrainingDataError, match="values must be numbers"):
        gp.calibration(archs, ["a"] * 8)
    X, A = space.encode(archs)
    assert gp.score(X[:0], A[:0]).shape == (0,)  # an empty batch, as the GNN gives


def test_exact_cost_arguments_and_fit(archs, space) -> None:
    for options, fragment in [
        ({"surrogate_samples": 1}, "surrogate_samples must be an integer >= 2"),
        ({"surrogate_samples": -1}, "surrogate_samples must be an integer >= 2"),
        ({"num_classes": -3}, "num_classes must be a positive integer"),
        ({"input_shape": 5}, "input_shape must be"),
    ]:
        with pytest.raises(InvalidArgumentError, match=fragment):
            ExactCostPredictor("nb201", **options)
    e = ExactCostPredictor("nb201", surrogate_samples=16)
    with pytest.raises(InvalidTrainingDataError, match="wrap a single one"):
        e.exact(space.format(archs[0]))
    X, A = space.encode(archs[:2])
    e.score(X, A)
    scale = (e.y_mean, e.y_std)
    assert scale[1] > 1000  # the spread of exact parameter counts
    e.fit(archs, np.arange(8.0))  # labels must not rescale guidance by this model
    assert (e.y_mean, e.y_std) == scale


def test_zero_cost_arguments() -> None:
    with pytest.raises(UnknownProxyError, match="proxies must be a proxy name"):
        ZeroCostPredictor("nb201", proxies=5)
    for options, fragment in [
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"num_classes": "ten"}, "num_classes must be a positive integer"),
        ({"input_shape": 5}, "input_shape must be"),
        ({"input_shape": (3, 0, 32)}, "input_shape must be"),
        ({"build_options": [("C", 4)]}, "build_options must be a mapping"),
    ]:
        with pytest.raises(InvalidArgumentError, match=fragment):
            ZeroCostPredictor("nb201", **options)
    with pytest.raises(InvalidArgumentError, match="seed must be"):
        compute_proxies("nb201", nagen.spaces.get("nb201").sample(1, 0)[0], seed="a", proxies=["params"])


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"support_range": (2,)}, "support_range must be"),
        ({"support_range": 5}, "support_range must be"),
        ({"support_range": (2.7, 5)}, "support_range must be"),
        ({"hidden": 2.5}, "hidden must be a positive integer"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"rank_weight": float("nan")}, "rank_weight must be"),
        ({"noise": "vp"}, "noise must be None"),
    ],
)
def test_meta_learners_refuse_bad_arguments(options, fragment) -> None:
    for cls, extra in ((LatencyPredictor, {"additive_noise": math.nan, "robust_steps": 1.5}), (MetaPredictor, {"finetune_steps": 1.5})):
        with pytest.raises(InvalidArgumentError, match=fragment):
            cls("nb201", **options)
        for key, value in extra.items():
            with pytest.raises(InvalidArgumentError, match=key):
                cls("nb201", **{key: value})


def test_meta_fit_refuses_bad_epochs_tasks_and_values(archs) -> None:
    m = MetaPredictor("nb201", hidden=8, layers=1, inducing=2, heads=2)
    tasks = [Task("a", archs, np.arange(8.0)), Task("b", archs, -np.arange(8.0))]
    for epochs in (1.5, math.nan, True):
        with pytest.raises(InvalidArgumentError, match="epochs must be a positive integer"):
            m.meta_fit(tasks, epochs=epochs)
    with pytest.raises(InvalidTrainingDataError, match="sequence of Task"):
        m.meta_fit(None)
    with pytest.raises(InvalidTrainingDataError, match="task 'c': values must be numbers"):
        m.meta_fit([Task("c", archs, ["x"] * 8)])
    with pytest.raises(InvalidArgumentError, match="epochs must be a positive integer"):
        LatencyPredictor("nb201").meta_fit(object(), epochs=1.5)


def test_every_error_here_is_a_nagen_error() -> None:
    # the parametrised cases above match on messages; this pins the family for a generic handler
    with pytest.raises(NagenError):
        P.get("gnn", "nb201", lr="fast")


def test_interval_takes_numpy_levels() -> None:
    from nagen.predictors.base import Prediction

    low, high = Prediction(np.zeros(2), np.ones(2)).interval(np.float32(0.9))
    assert np.allclose(high, -low) and high[0] > 1.6
