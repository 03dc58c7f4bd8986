"""Conditional generation for a transfer target: TransferTask.generate, generate(transfer_from=...), the CLI flag."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nagen
from nagen.errors import InvalidGuidanceError, InvalidSpecError, NotFittedError
from nagen.transfer import TransferTask

# small enough to meta-train in about a second, large enough that its zero-shot prior ranks cells
SMALL = {"hidden": 32, "layers": 2, "steps_per_epoch": 8}
SOURCES = ["cifar100_test", "imagenet16_test"]


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> TransferTask:
    t = TransferTask(SOURCES, "cifar10_test", "nb201", epochs=4, cache_dir=tmp_path_factory.mktemp("meta"), meta_options=SMALL)
    t.meta_model()
    return t


def _forbid_target_reads(monkeypatch, metric: str) -> None:
    """Any read of ``metric`` from a benchmark table fails the test (a zero-shot run must pay no target label)."""
    from nagen.benchmarks import Benchmark

    for name in ("values", "query", "query_many"):
        orig = getattr(Benchmark, name)

        def guard(self, *args, _orig=orig, **kwargs):
            if metric in args or kwargs.get("metric") == metric:
                raise AssertionError(f"the target column {metric!r} was read")
            return _orig(self, *args, **kwargs)

        monkeypatch.setattr(Benchmark, name, guard)


def test_zero_shot_generation_reads_no_target_label_and_follows_the_meta_predictor(task, nb201, monkeypatch):
    _forbid_target_reads(monkeypatch, "cifar10_test")
    guided = task.generate(40, seed=0, unique=True)
    plain = task.generate(40, seed=0, unique=True, scale=0.0)  # same predictor, no pull
    assert len(guided) == 40 and guided.labels_used == 0
    assert len({g.arch.canonical_hash() for g in guided}) == 40
    assert all(set(g.predicted) == {"transfer_score"} for g in guided)
    score = lambda res: np.mean([g.predicted["transfer_score"] for g in res])  # noqa: E731
    assert score(guided) > score(plain) + 0.1
    # the predicted values are the zero-shot prior's (standardised) predictions of those cells
    prior = task.guide_predictor()
    assert np.allclose(prior.predict([g.arch for g in guided]).mean, [g.predicted["transfer_score"] for g in guided], atol=1e-4)
    monkeypatch.undo()  # the target's table is read only now, after generation
    acc = lambda res: nb201.query_many([g.arch for g in res], "cifar10_test").mean()  # noqa: E731
    assert acc(guided) > acc(plain) + 2.0  # sources-only knowledge lifts CIFAR-10 accuracy (92.3 vs 88.4)


def test_generation_is_seeded_and_the_api_path_matches_the_task(task):
    a = task.generate(10, seed=3)
    b = task.generate(10, seed=3)
    c = nagen.generate("nb201", 10, seed=3, transfer_from=task)
    assert [g.string for g in a] == [g.string for g in b] == [g.string for g in c]
    assert [g.string for g in task.generate(10, seed=4)] != [g.string for g in a]


def test_the_cached_model_is_not_changed_by_adaptation(task, nb201):
    cells = list(nb201.archs[:8])
    before = task.guide_predictor().predict(cells).mean
    labels = dict(zip(cells, nb201.query_many(cells, "cifar10_test").tolist()))
    adapted = task.guide_predictor(labels)
    assert adapted.y_std > 1.0  # in the target's units (accuracy points), not standardised
    assert np.allclose(task.guide_predictor().predict(cells).mean, before)
    res = task.generate(5, labels=list(labels.items()), seed=0)
    assert len(res) == 5 and res.labels_used == 0  # labels the user already has are not paid again


def test_constraints_filter_transfer_generation(task, nb201):
    res = task.generate(12, seed=1, constraints={"params": 4e5})
    assert len(res) == 12
    assert max(nb201.query_many([g.arch for g in res], "params")) <= 4e5
    assert all("params" in g.predicted for g in res)


@pytest.mark.parametrize(
    "labels, fragment",
    [
        ({}, "at least 2"),
        ("cifar10", "pairs"),
        ([("|a|", 1.0, 2.0)], "pairs"),
        ({"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|": 1.0,
          "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": float("nan")}, "finite"),
    ],
)
def test_malformed_labels_are_refused(task, labels, fragment):
    with pytest.raises(InvalidSpecError, match=fragment):
        task.generate(3, labels=labels)


def test_bad_transfer_generation_requests_are_named_errors(task):
    with pytest.raises(InvalidGuidanceError, match="diffusion"):
        nagen.generate("nb201", 3, method="random", guide="cifar10_test", transfer_from=SOURCES)
    with pytest.raises(InvalidGuidanceError, match="one target metric"):
        nagen.generate("nb201", 3, transfer_from=SOURCES)
    with pytest.raises(InvalidGuidanceError, match="one target metric"):
        nagen.generate("nb201", 3, guide=["cifar10_test", "params"], transfer_from=SOURCES)
    with pytest.raises(InvalidGuidanceError, match="no source"):
        nagen.generate("nb201", 3, guide="cifar10_test", transfer_from="")
    with pytest.raises(InvalidGuidanceError, match="differs"):
        nagen.generate("nb201", 3, guide="cifar100_test", transfer_from=task)
    from nagen.generators.guidance import Guide

    with pytest.raises(InvalidGuidanceError, match="differs"):  # a Guide object next to a task: refused, not a TypeError
        nagen.generate("nb201", 3, guide=Guide(task.guide_predictor()), transfer_from=task)
    assert len(nagen.generate("nb201", 2, guide=["cifar10_test"], transfer_from=task)) == 2
    with pytest.raises(InvalidSpecError, match="also a source"):
        nagen.generate("nb201", 3, guide="cifar100_test", transfer_from=SOURCES)
    with pytest.raises(InvalidSpecError, match="takes no guide"):
        task.generate(3, guide="cifar10_test")
    with pytest.raises(InvalidGuidanceError, match="scale"):
        task.generate(3, scale=-1.0)


def test_fit_prior_needs_meta_training_and_gives_standardised_predictions(task, nb201):
    from nagen.predictors.meta import MetaPredictor

    with pytest.raises(NotFittedError, match="meta_fit"):
        MetaPredictor("nb201", **SMALL).fit_prior()
    prior = task.guide_predictor()
    assert (prior.y_mean, prior.y_std) == (0.0, 1.0)
    # the study's zero-shot ranking (MetaProposer) is the same prior
    from nagen.transfer import MetaProposer

    cells = list(nb201.archs[:50])
    assert np.allclose(MetaProposer(task.meta_model()).zero_shot(cells), prior.predict(cells).mean, atol=1e-5)


def test_cli_generate_transfer_from(task, tmp_path, monkeypatch, capsys):
    """The CLI builds the default TransferTask; a small model saved under its cache key stands in for 30 epochs."""
    from nagen.cli import main
    from nagen.storage import save_atomic

    monkeypatch.setenv("NAGEN_CACHE", str(tmp_path))
    default = TransferTask(SOURCES, "cifar10_test", "nb201")
    save_atomic(task.meta_model(), default.cache_path)
    _forbid_target_reads(monkeypatch, "cifar10_test")
    main(["generate", "--space", "nb201", "--guide", "cifar10_test", "--transfer-from", ",".join(SOURCES),
          "--n", "6", "--unique", "--seed", "2", "--json", "--quiet"])  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 6 and all(set(r) == {"arch", "pred_transfer_score"} for r in rows)
    assert [r["arch"] for r in rows] == [g.string for g in task.generate(6, seed=2, unique=True)]


@pytest.mark.parametrize("method", ["meta", "consensus"])
def test_large_space_pool_adds_conditional_generator_samples(tmp_path, monkeypatch, method):
    """In a space too large to enumerate (NB201 made to look like one), ``generated=k`` adds k guided
    samples of the diffusion model to each round's random pool, steered by the adapted meta-predictor."""
    import nagen.transfer as T
    from nagen.generators.diffusion import DiffusionGenerator
    from nagen.predictors.meta import MetaPredictor

    from nagen.study import ProposalContext

    monkeypatch.setattr(ProposalContext, "enumerated", lambda self: None)
    task = TransferTask(SOURCES, "cifar10_test", "nb201", epochs=4, cache_dir=tmp_path, meta_options=SMALL,
                        method=method, generated=16)  # fmt: skip
    calls = []
    orig = DiffusionGenerator.sample

    def spy(self, n, *args, guides=(), **kwargs):
        calls.append((n, [type(g.predictor) for g in guides]))
        out = orig(self, n, *args, guides=guides, **kwargs)
        calls[-1] += (out,)
        return out

    monkeypatch.setattr(DiffusionGenerator, "sample", spy)
    prop = task.proposer()
    prop.pool_size = 30
    from nagen.labellers import TableLabeller

    st = nagen.Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer=prop,
                     storage="sqlite:///:memory:", seed=0, n_initial=0, executor="inline")  # fmt: skip
    st.optimize(4)
    assert len(st.history) == 4 and calls
    assert all(n == 16 and kinds == [MetaPredictor] for n, kinds, _ in calls)
    # NB201 is enumerable, so the option is not recorded there (stored NB201 studies keep matching);
    # a large space records it, as a resumed study must be built with the same pool
    assert "generated" not in st._config()["proposer"]
    # the generated samples are candidates: some of them reach the labels (the random pool has only 30)
    generated = {a.canonical_hash() for *_, out in calls for a in out}
    assert any(t.hash in generated for t in st.history)
    # without the option, no generator is asked
    calls.clear()
    plain = TransferTask(SOURCES, "cifar10_test", "nb201", epochs=4, cache_dir=tmp_path, meta_options=SMALL, method=method,
                         generated=0).proposer()  # fmt: skip
    plain.pool_size = 30
    nagen.Study("nb201", "cifar10_test", TableLabeller("nb201", "cifar10_test"), proposer=plain,
                storage="sqlite:///:memory:", seed=0, n_initial=0, executor="inline").optimize(2)  # fmt: skip
    assert not calls


def test_generated_is_recorded_only_in_spaces_too_large_to_enumerate(tmp_path, monkeypatch):
    import nagen.study

    task = TransferTask(SOURCES, "cifar10_test", cache_dir=tmp_path, gp={"w0": 0.5, "sw": 0.0, "sf": 1.0, "l": 2.0, "sn": 0.3})
    assert task.generated == 200 and "generated" not in task.proposer().config()
    monkeypatch.setattr(nagen.study, "ENUMERATE_LIMIT", 100)
    assert task.proposer().config()["generated"] == 200


def test_transfer_generator_option_is_checked(tmp_path):
    with pytest.raises(InvalidSpecError, match="generated"):
        TransferTask(SOURCES, "cifar10_test", cache_dir=tmp_path, generated=-1)
    with pytest.raises(InvalidSpecError, match="not a file"):
        TransferTask(SOURCES, "cifar10_test", cache_dir=tmp_path, generator=str(tmp_path / "none.pt"))
    with pytest.raises(InvalidSpecError, match="guidable"):
        TransferTask(SOURCES, "cifar10_test", cache_dir=tmp_path, generator=object())


def test_zero_architectures_need_no_meta_training(tmp_path, monkeypatch):
    from nagen.errors import InvalidArgumentError
    from nagen.predictors.meta import MetaPredictor

    def boom(*a, **k):
        raise AssertionError("meta-trained for nothing")

    monkeypatch.setattr(MetaPredictor, "meta_fit", boom)
    task = TransferTask(SOURCES, "cifar10_test", cache_dir=tmp_path)
    assert list(task.generate(0)) == []
    assert list(nagen.generate("nb201", 0, guide="cifar10_test", transfer_from=SOURCES)) == []
    with pytest.raises(InvalidArgumentError, match="n"):
        task.generate(-1)


def test_minimised_target_is_generated_low(tmp_path, nb201):
    """Latency on a new device from two other devices' latencies: the samples come out fast, zero-shot and adapted."""
    t = TransferTask(["lat_pixel3_ms", "lat_samsung_a50_ms"], "lat_pixel2_ms", "nb201", epochs=4, cache_dir=tmp_path, meta_options=SMALL)
    lat = lambda res: nb201.query_many([g.arch for g in res], "lat_pixel2_ms").mean()  # noqa: E731
    plain = lat(t.generate(40, seed=0, scale=0.0))
    assert lat(t.generate(40, seed=0)) < 0.8 * plain
    cells = list(nb201.archs[:6])
    labels = dict(zip(cells, nb201.query_many(cells, "lat_pixel2_ms").tolist()))
    adapted = t.generate(40, seed=0, labels=labels)
    assert lat(adapted) < 0.8 * plain
    # with labels the score is the predicted value, negated for a minimised metric (higher is better)
    assert all(g.predicted["transfer_score"] < 0 for g in adapted)
