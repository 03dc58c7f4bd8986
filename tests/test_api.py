"""``nagen.generate`` and ``nagen generate``: the shipped checkpoint, guidance, constraints, seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nagen
from nagen.cli import main
from nagen.errors import InvalidArgumentError, InvalidGuidanceError, UnknownMetricError


def test_unguided_generation_uses_shipped_model_and_is_seeded() -> None:
    a = nagen.generate(space="nb201", n=200, seed=3)
    b = nagen.generate(space="nb201", n=200, seed=3)
    c = nagen.generate(space="nb201", n=200, seed=4)
    assert [g.string for g in a] == [g.string for g in b]
    assert [g.string for g in a] != [g.string for g in c]
    assert len(a) == 200 and a.labels_used == 0 and a.stats.validity == 1.0
    assert len({g.arch for g in a}) >= 180  # the shipped model is not collapsed
    space = nagen.spaces.get("nb201")
    assert all(space.is_valid(g.arch) for g in a)


def test_guided_generation_under_exact_params_budget(nb201) -> None:
    budget = 0.8e6
    out = nagen.generate(
        space="nb201", n=40, guide="cifar10_valid_12ep", constraints={"params": budget}, seed=0, guide_labels=40
    )
    assert len(out) == 40 and out.labels_used == 40
    space = nagen.spaces.get("nb201")
    # the hard filter is exact: the real network's parameter count, not a prediction
    assert all(space.cost(g.arch)["params"] <= budget for g in out)
    assert all(set(g.predicted) == {"cifar10_valid_12ep", "params"} for g in out)
    plain = nagen.generate(space="nb201", n=40, seed=0)
    guided_acc = nb201.query_many([g.arch for g in out], "cifar10_valid_12ep").mean()
    plain_acc = nb201.query_many([g.arch for g in plain], "cifar10_valid_12ep").mean()
    assert guided_acc > plain_acc


def test_bad_requests_raise_named_errors() -> None:
    with pytest.raises(UnknownMetricError, match="cifar10_test"):
        nagen.generate(space="nb201", n=2, guide="accuracy")
    with pytest.raises(InvalidGuidanceError, match="finite bound"):
        nagen.generate(space="nb201", n=2, constraints={"params": float("nan")})
    with pytest.raises(InvalidGuidanceError, match="scale"):
        nagen.generate(space="nb201", n=2, scale=-1.0)
    with pytest.raises(InvalidArgumentError, match="n must be a non-negative integer, got -1"):
        nagen.generate(space="nb201", n=-1, method="random")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):  # also a ValueError for generic callers
        nagen.generate(space="nb201", n=2, method="random", seed=None)
    # negative seeds: numpy's seeding used to refuse them late, deep inside, with a bare ValueError
    with pytest.raises(InvalidArgumentError, match="seed must be a non-negative integer, got -2"):
        nagen.generate(space="nb201", n=2, guide="cifar10_test", seed=-2)


@pytest.mark.parametrize("method", ["random", "diffusion"])
def test_unmeetable_constraint_is_an_error_not_an_empty_result(method) -> None:
    # no NB201 network has fewer than 1000 parameters: every draw is rejected
    with pytest.raises(InvalidGuidanceError, match=r"no sampled architecture met the constraints .*params le 1000.0"):
        nagen.generate(space="nb201", n=3, method=method, constraints={"params": 1000}, seed=0)


def test_generators_without_guidance_still_apply_hard_constraints(nb201) -> None:
    out = nagen.generate(space="nb201", n=8, method="random", constraints={"params": 4e5}, seed=0)
    assert len(out) == 8 and out.stats.filtered > 0  # the filter did reject draws
    assert all(nb201.space.cost(g.arch)["params"] <= 4e5 for g in out)


def test_cli_generate_json_lines(capsys) -> None:
    argv = ["generate", "--space", "nb201", "--n", "5", "--seed", "1", "--max-params", "1e6", "--json", "--quiet"]
    assert main(argv) == 0
    first = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert main(argv) == 0
    second = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert first == second and len(first) == 5
    assert all(r["arch"].startswith("|") and r["pred_params"] <= 1e6 for r in first)
    assert np.isfinite([r["pred_params"] for r in first]).all()


def test_cli_generate_bad_constraint_exits_2(capsys) -> None:
    assert main(["generate", "--space", "nb201", "--n", "2", "--constraint", "params<1e6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nagen: error:") and "METRIC<=VALUE" in err and err.count("\n") == 1


def test_latency_constraint_with_few_device_samples(monkeypatch) -> None:
    import nagen.api
    import nagen.constraints
    from nagen.predictors.latency import LatencyPredictor

    table = nagen.benchmarks.load("nb201")
    # a small meta-trained model stands in for the full one (same class, same code path, less training)
    tiny = LatencyPredictor(table.space, hidden=16, layers=2, steps_per_epoch=10, seed=0).meta_fit(
        table, devices=["1080ti_1", "silver_4114", "samsung_a50"], validation=[], held_out=("pixel2",), epochs=2
    )
    monkeypatch.setitem(nagen.constraints._META_LATENCY, (table.name, "lat_pixel2_ms", 0), tiny)
    out = nagen.generate(n=20, constraints={"lat_pixel2_ms": 15.0}, device_samples=5, seed=0)
    assert out.device_measurements == 5 and out.labels_used == 0 and len(out) == 20
    assert all(g.predicted["lat_pixel2_ms"] <= 15.0 for g in out)  # the filter acts on the adapted prediction
    with pytest.raises(InvalidGuidanceError, match="device_samples"):
        nagen.generate(n=2, constraints={"lat_pixel2_ms": 15.0}, device_samples=1)


def test_training_a_missing_checkpoint_is_announced(monkeypatch) -> None:
    from nagen.generators.diffusion import DiffusionGenerator

    real_fit = DiffusionGenerator.fit
    monkeypatch.setattr(DiffusionGenerator, "fit", lambda self, *a, **kw: real_fit(self, steps=2, batch_size=8))
    with pytest.warns(UserWarning, match="no shipped diffusion checkpoint for space 'nb101': training one now"):
        out = nagen.generate(space="nb101", n=2, seed=0)
    assert len(out) == 2


def test_a_broken_shipped_checkpoint_is_an_error_not_a_silent_retrain(monkeypatch) -> None:
    # a shipped checkpoint that fails to load used to be read as "none shipped": 10-15 minutes of training
    from nagen.generators.diffusion import DiffusionGenerator

    def broken(cls, space="nb201"):
        raise InvalidArgumentError("could not load the checkpoint: truncated file")

    monkeypatch.setattr(DiffusionGenerator, "pretrained", classmethod(broken))
    monkeypatch.setattr(DiffusionGenerator, "fit", lambda self, *a, **kw: pytest.fail("must not retrain"))
    with pytest.raises(InvalidArgumentError, match="truncated file"):
        nagen.generate(space="nb201", n=2, seed=0)
    assert DiffusionGenerator.has_pretrained("nb201") and not DiffusionGenerator.has_pretrained("nb101")


def test_generator_may_be_a_checkpoint_path_and_anything_else_is_named(tmp_path) -> None:
    from nagen.generators.diffusion import DiffusionGenerator

    path = tmp_path / "g.pt"
    DiffusionGenerator.pretrained("nb201").save(path)
    # a path used to fail with "'str' object has no attribute 'space'"
    a = nagen.generate(space="nb201", n=5, seed=0, generator=str(path))
    b = nagen.generate(space="nb201", n=5, seed=0)
    assert [g.string for g in a] == [g.string for g in b]
    with pytest.raises(InvalidArgumentError, match="generator must be a nagen Generator"):
        nagen.generate(space="nb201", n=2, generator=5)


def test_unguidable_method_fails_before_any_label_is_paid(monkeypatch) -> None:
    # a guide for method 'random' used to fit its predictor (labels paid, seconds) before being refused
    import nagen.predictors as P

    monkeypatch.setattr(P, "get", lambda *a, **kw: pytest.fail("no predictor may be fitted"))
    with pytest.raises(InvalidGuidanceError, match="method 'random' cannot be guided .*'cifar10_test'"):
        nagen.generate(space="nb201", n=2, method="random", guide="cifar10_test")
    with pytest.raises(nagen.errors.UnknownGeneratorError, match="magic"):
        nagen.generate(space="nb201", n=2, method="magic", guide="cifar10_test")
    # steps used to be ignored silently by generators that do not diffuse
    with pytest.raises(InvalidArgumentError, match="steps .* method 'random' does not diffuse"):
        nagen.generate(space="nb201", n=2, method="random", steps=5)


def test_zero_architectures_fit_nothing_and_pay_nothing(monkeypatch) -> None:
    import nagen.predictors as P

    monkeypatch.setattr(P, "get", lambda *a, **kw: pytest.fail("no predictor may be fitted"))
    out = nagen.generate(space="nb201", n=0, guide="cifar10_valid_12ep", seed=0)
    assert list(out) == [] and out.labels_used == 0 and out.stats.drawn == 0


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"guide": 5}, InvalidGuidanceError, "guide must be a metric name, a Guide or a list of them, got int 5"),
        ({"guide": ["cifar10_test", 5]}, InvalidGuidanceError, "guide must be a metric name or a Guide, got int 5"),
        ({"guide": ["cifar10_test", "cifar10_test"]}, InvalidGuidanceError, r"\['cifar10_test'\] given more than once"),
        ({"scale": float("inf")}, InvalidGuidanceError, "scale must be a finite number >= 0, got inf"),
        ({"guide": "cifar10_test", "guide_labels": 20000}, InvalidArgumentError, "at most the 15625 rows"),
        ({"benchmark": "nope"}, nagen.errors.UnknownBenchmarkError, "nope"),
    ],
)
def test_more_bad_requests_raise_named_errors(kwargs, error, fragment) -> None:
    # were: a TypeError, a guide fitted twice, NaN guidance, minutes of fitting, a silently ignored table
    with pytest.raises(error, match=fragment):
        nagen.generate(space="nb201", n=2, **kwargs)


def test_numpy_numbers_are_accepted(monkeypatch) -> None:
    # np.float32 scales and np.int64 device_samples used to be refused as "not a number"
    out = nagen.generate(space="nb201", n=2, scale=np.float32(2.0), constraint_scale=np.float32(1.0), steps=3)
    assert len(out) == 2
    with pytest.raises(InvalidGuidanceError, match="device_samples needs a device latency constraint"):
        nagen.generate(space="nb201", n=2, method="random", device_samples=np.int64(5))


def test_a_guide_and_a_constraint_on_one_metric_pay_its_labels_once() -> None:
    out = nagen.generate(
        space="nb201", n=2, guide="cifar10_valid_12ep", constraints=["cifar10_valid_12ep>=0"], guide_labels=10, seed=0
    )
    assert out.labels_used == 10 and len(out) == 2  # was 20: the same 10 cells counted twice


def test_latency_constraint_without_device_samples_counts_device_measurements() -> None:
    # the cells its cost predictor is fitted on are latencies measured on the device, not accuracy
    # labels: they used to be reported as "10 labels used, 0 device measurements"
    out = nagen.generate(space="nb201", n=3, method="random", constraints=["lat_pixel2_ms<=30"], guide_labels=10, seed=0)
    assert out.device_measurements == 10 and out.labels_used == 0
    both = nagen.generate(
        space="nb201", n=2, guide="cifar10_valid_12ep", constraints=["lat_pixel2_ms<=30"], guide_labels=10, seed=0, steps=5
    )
    assert both.device_measurements == 10 and both.labels_used == 10


@pytest.mark.parametrize("method", ["random", "opgfn"])
@pytest.mark.parametrize("weight", ["scale", "constraint_scale"])
def test_guidance_weights_are_refused_where_nothing_is_steered(method, weight) -> None:
    # method="opgfn", scale=50 returned exactly the samples of scale=1: the weight was ignored
    with pytest.raises(InvalidGuidanceError, match=f"{weight} weight the guidance of method 'diffusion'"):
        nagen.generate(space="nb201", n=2, method=method, **{weight: 3.0})
    assert len(nagen.generate(space="nb201", n=2, method="random", constraints=["params<=1e6"])) == 2  # defaults stay quiet
