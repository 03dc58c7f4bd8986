"""LatencyPredictor: few-shot transfer to a held-out device, guidance gradients, user tables, no leakage, errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import nagen.benchmarks
import nagen.predictors as P
from nagen.benchmarks import Benchmark
from nagen.errors import InvalidTrainingDataError, NotFittedError, UnknownMetricError
from nagen.noise import VPSchedule
from nagen.predictors.latency import HELP_TEST, DeviceLeakError, LatencyPredictor, device_metric

# a tiny model on a 700-cell slice of the table: the tests check mechanics and a clear transfer
# signal, not the benchmark numbers (benchmarks/latency.py measures those)
TINY = dict(hidden=16, layers=2, free_features=4, steps_per_epoch=20, episodes_per_step=4, query_size=32, batch_size=64)
SOURCES = ["1080ti_1", "silver_4114", "samsung_a50"]
TARGET = "titanx_32"  # a HELP validation device, never a source here


class CountingBenchmark:
    """A benchmark wrapper that records every metric whose values are read."""

    def __init__(self, inner: Benchmark) -> None:
        self.inner, self.read = inner, []
        self.name, self.space, self.archs, self.metrics = inner.name, inner.space, inner.archs, inner.metrics

    def values(self, metric: str) -> np.ndarray:
        self.read.append(metric)
        return self.inner.values(metric)

    def query_many(self, archs, metric: str) -> np.ndarray:
        self.read.append(metric)
        return self.inner.query_many(archs, metric)

    def query(self, arch, metric: str) -> float:
        self.read.append(metric)
        return self.inner.query(arch, metric)


@pytest.fixture(scope="module")
def table() -> Benchmark:
    """700 random NB201 cells with every latency column (a literal slice of the shipped table)."""
    nb = nagen.benchmarks.load("nb201")
    idx = np.random.default_rng(0).permutation(len(nb))[:700]
    archs = [nb.archs[i] for i in idx]
    cols = {m: nb.values(m)[idx] for m in nb.metrics if m.startswith("lat_")}
    return Benchmark("nb201_slice", nb.space, archs, cols)


@pytest.fixture(scope="module")
def counted(table) -> tuple[LatencyPredictor, CountingBenchmark]:
    bench = CountingBenchmark(table)
    model = LatencyPredictor("nb201", seed=0, **TINY).meta_fit(bench, devices=SOURCES, epochs=3)
    return model, bench


@pytest.fixture(scope="module")
def model(counted) -> LatencyPredictor:
    return counted[0]


def _heldout_rho(model: LatencyPredictor, table: Benchmark, device: str, k: int = 10) -> float:
    col = table.values(device_metric(table, device))
    archs = list(table.archs)
    support = np.random.default_rng(1).permutation(len(archs))[:k]
    model.adapt({archs[i]: float(col[i]) for i in support})
    rest = np.setdiff1d(np.arange(len(archs)), support)
    pred = model.predict([archs[i] for i in rest]).mean
    return float(spearmanr(pred, col[rest])[0])


def test_registered_under_latency() -> None:
    assert "latency" in P.names()
    assert isinstance(P.get("latency", "nb201", hidden=8), LatencyPredictor)


def test_adapts_to_heldout_device_with_k10(model, table) -> None:
    # a constant predictor has no ranking at all (Spearman undefined / 0)
    rho = _heldout_rho(model, table, TARGET, k=10)
    assert rho > 0.6, rho
    pred = model.predict(list(table.archs[:50])).mean
    assert pred.shape == (50,) and (pred > 0).all()
    assert model.device_embedding.shape == (len(SOURCES) + TINY["free_features"] + 1,)


def test_meta_fit_reads_only_source_columns(counted) -> None:
    model, bench = counted
    assert set(bench.read) == {f"lat_{d}_ms" for d in SOURCES}
    assert model.validation_history == []  # explicit devices: no default validation devices


def test_score_is_differentiable_and_matches_predict(model, table) -> None:
    archs = list(table.archs[:6])
    X, A = model.space.encode(archs)
    X = X.clone().requires_grad_(True)
    s = model.score(X, A)
    assert s.shape == (6,)
    s.sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    np.testing.assert_allclose(s.detach().numpy(), model.predict(archs).mean, rtol=1e-4)


def test_reference_archs_are_distinct_and_deterministic(model) -> None:
    refs = model.reference_archs(8)
    assert len(set(refs)) == 8
    assert refs == model.reference_archs(8)
    assert all(a.pruned().num_nodes > 2 for a in refs)  # never a cell whose output is cut off


def test_additive_design_covers_the_op_costs(model) -> None:
    """The additive model's design is distinct, deterministic and differs from the embedding one."""
    refs = model.reference_archs(8, design="additive")
    assert refs == model.reference_archs(8) and len(set(refs)) == 8  # the default when additive > 0
    emb = model.reference_archs(8, design="embedding")
    assert len(set(emb)) == 8 and all(a.pruned().num_nodes > 2 for a in emb)
    with pytest.raises(ValueError, match="design"):
        model.reference_archs(8, design="random")


def test_additive_weight_mixes_two_predictions(model, table) -> None:
    """``additive`` in (0, 1) log-averages the network's and the additive model's predictions."""
    archs = list(table.archs[:12])
    col = dict(zip(archs, table.values(device_metric(table, TARGET))[:12]))
    others = list(table.archs[12:200])
    saved = model.additive
    try:
        logs = {}
        for a in (0.0, 1.0, 0.5):
            model.additive = a
            logs[a] = np.log(model.adapt(col).predict(others).mean)
        np.testing.assert_allclose(logs[0.5], 0.5 * (logs[0.0] + logs[1.0]), rtol=1e-5, atol=1e-5)
        assert not np.allclose(logs[0.0], logs[1.0])
    finally:
        model.additive = saved


def test_additive_prior_alone_ranks_a_heldout_device(table) -> None:
    """The hierarchical per-op model needs no network training to transfer (additive = 1)."""
    m = LatencyPredictor("nb201", seed=0, additive=1.0, **{**TINY, "steps_per_epoch": 2}).meta_fit(table, devices=SOURCES, epochs=1)
    assert _heldout_rho(m, table, TARGET, k=10) > 0.8


def test_models_pickled_before_the_additive_model_still_load(model, table) -> None:
    """An on-disk cached model without the additive prior unpickles as the network-only predictor."""
    state = dict(model.__dict__)
    for key in ("additive", "additive_tau", "additive_noise", "_prior", "_add_w", "_add_scale"):
        state.pop(key)
    old = LatencyPredictor.__new__(LatencyPredictor)
    old.__setstate__(state)
    col = table.values(device_metric(table, TARGET))
    old.adapt({a: float(v) for a, v in zip(table.archs[:10], col[:10])})
    assert old.predict(list(table.archs[10:20])).mean.shape == (10,)
    assert old.reference_archs(5) == model.reference_archs(5, design="embedding")


def test_one_outlier_measurement_barely_moves_the_ranking(model, table) -> None:
    archs = list(table.archs[:12])
    col = table.values(device_metric(table, TARGET))[:12].copy()
    model.adapt(dict(zip(archs, col)))
    clean = model.predict(list(table.archs[12:300])).mean
    col[3] /= 1000.0  # a cell timed as (almost) free, as some devices do with degenerate cells
    model.adapt(dict(zip(archs, col)))
    assert spearmanr(clean, model.predict(list(table.archs[12:300])).mean)[0] > 0.9


def test_huber_solve_resists_an_outlier(model) -> None:
    """The device regression's IRLS steps bound one wild residual; plain ridge follows it."""
    g = torch.Generator().manual_seed(0)
    d = model.net.w0.shape[0]
    phi = torch.randn(1, 30, d, generator=g)
    w_true = torch.randn(d, generator=g)
    z = phi @ w_true
    z_bad = z.clone()
    z_bad[0, 0] += 40.0
    err = {steps: (model.net.solve(phi, z_bad, robust_steps=steps)[0] - model.net.solve(phi, z, robust_steps=steps)[0]).norm() for steps in (0, 3)}
    assert err[3] < 0.5 * err[0], err


def test_user_csv_latency_columns(tmp_path, table) -> None:
    """Meta-fit and adapt from a user's own columns loaded with ``Benchmark.from_csv``."""
    path = tmp_path / "my_latencies.csv"
    cols = {"gpu_ms": "lat_1080ti_32_ms", "cpu_ms": "lat_silver_4210r_ms", "phone_ms": "lat_essential_ph_1_ms"}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", *cols])
        for i, a in enumerate(table.archs[:300]):
            w.writerow([table.space.format(a), *(table.values(src)[i] for src in cols.values())])
    mine = Benchmark.from_csv(path, "nb201")
    model = LatencyPredictor("nb201", seed=0, **TINY).meta_fit(mine, devices=["gpu_ms", "cpu_ms"], epochs=2)
    assert model.source_devices == ["gpu_ms", "cpu_ms"]
    assert _heldout_rho(model, mine, "phone_ms", k=10) > 0.5


def test_noise_aware_score_takes_time(table) -> None:
    model = LatencyPredictor("nb201", seed=0, noise=VPSchedule(), **{**TINY, "steps_per_epoch": 5})
    model.meta_fit(table, devices=SOURCES[:2], epochs=1)
    model.adapt({a: float(v) for a, v in zip(table.archs[:10], table.values("lat_pixel3_ms")[:10])})
    X, A = model.space.encode(list(table.archs[:4]))
    X = X.clone().requires_grad_(True)
    model.score(X, A, t=torch.full((4,), 0.5)).sum().backward()
    assert torch.isfinite(X.grad).all()


# ---------------------------------------------------------------------- errors
def test_unknown_device_lists_choices(table) -> None:
    with pytest.raises(UnknownMetricError, match="pixel3") as e:
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices=["1080ti_1", "pixel9"], epochs=1)
    assert "pixel9" in str(e.value)


def test_test_device_in_meta_train_set_is_refused(table) -> None:
    with pytest.raises(DeviceLeakError, match="held out"):
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices=["1080ti_1", HELP_TEST[3]], epochs=1)
    with pytest.raises(DeviceLeakError):
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices=SOURCES, validation=["lat_fpga_ms"], epochs=1)
    # one held-out device given as a bare string (a column name) still guards its short name
    with pytest.raises(DeviceLeakError, match="held out"):
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices=["1080ti_1", "fpga"], held_out="lat_fpga_ms", epochs=1)


def test_a_device_named_twice_is_one_column(table) -> None:
    """'pixel3' and 'lat_pixel3_ms' are the same column: a duplicate, or a leak into validation."""
    with pytest.raises(InvalidTrainingDataError, match="duplicates"):
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices=["pixel3", "lat_pixel3_ms", "silver_4114"], epochs=1)
    with pytest.raises(InvalidTrainingDataError, match="both meta-training and validation"):
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices=["pixel3", "silver_4114"], validation=["lat_pixel3_ms"], epochs=1)


def test_reference_archs_never_repeat_a_candidate(model, table) -> None:
    a, b, c = table.archs[100], table.archs[200], table.archs[300]
    refs = model.reference_archs(3, candidates=[a] * 3 + [b] * 3 + [c])
    assert len(set(refs)) == 3
    with pytest.raises(ValueError, match="exceeds the 2 candidate"):
        model.reference_archs(3, candidates=[a] * 3 + [b] * 3)
    with pytest.raises(ValueError, match="integer >= 2"):
        model.reference_archs(2.5)


def test_adapt_before_meta_fit() -> None:
    with pytest.raises(NotFittedError, match="meta_fit"):
        LatencyPredictor("nb201").adapt({"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 1.0})
    with pytest.raises(NotFittedError):
        LatencyPredictor("nb201").reference_archs(5)


def test_predict_before_adapt_names_the_step(model) -> None:
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(NotFittedError, match=r"meta_fit\(benchmark, devices=\[\.\.\.\]\), then adapt"):
        LatencyPredictor("nb201").predict([arch])
    fresh = LatencyPredictor("nb201", **TINY)
    fresh.net = model.net  # meta-trained, not adapted: only adapt is missing
    with pytest.raises(NotFittedError, match=r"call adapt\(device_measurements"):
        fresh.predict([arch])


def test_package_exports_latency_predictor_and_refuses_one_device_string(table) -> None:
    assert P.LatencyPredictor is LatencyPredictor  # the spelling: nagen.predictors.LatencyPredictor
    # list("pixel3") would be six one-letter devices ("no latency column for device 'p'")
    with pytest.raises(InvalidTrainingDataError, match="wrap a single one in a list"):
        LatencyPredictor("nb201", **TINY).meta_fit(table, devices="pixel3", epochs=1)


def test_measurements_that_are_text_or_booleans_are_refused(model, table) -> None:
    a = list(table.archs[:3])
    for bad in ("12", True):  # float("12") and float(True) would be read as 12 ms and 1 ms
        with pytest.raises(InvalidTrainingDataError, match="strings or booleans"):
            model.adapt({a[0]: 1.0, a[1]: bad, a[2]: 2.0})


def test_bad_measurements(model, table) -> None:
    a = list(table.archs[:3])
    with pytest.raises(InvalidTrainingDataError):
        model.adapt({})
    with pytest.raises(InvalidTrainingDataError):
        model.adapt({a[0]: 1.0, a[1]: math.nan, a[2]: 2.0})
    with pytest.raises(InvalidTrainingDataError, match="> 0"):
        model.adapt({a[0]: 1.0, a[1]: 0.0, a[2]: 2.0})
    with pytest.raises(ValueError, match="additive"):
        LatencyPredictor("nb201", additive=1.5)
    with pytest.raises(InvalidTrainingDataError, match="mapping"):
        model.adapt([(a[0], 1.0)])  # type: ignore[arg-type]
