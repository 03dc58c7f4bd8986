"""``nagen.generate``: OP-GFN guided by labels, one latency model per device, dict constraints
checked like strings, and a user's own latency column."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nagen
import nagen.api
import nagen.constraints
from nagen.api import MissingSourceDevicesError
from nagen.benchmarks import Benchmark
from nagen.constraints import ConstraintError, UnknownDeviceError
from nagen.errors import InvalidArgumentError, InvalidGuidanceError, UnknownMetricError
from nagen.generators.opgfn import OPGFNGenerator

ACC = "cifar10_valid_12ep"


@pytest.fixture(scope="module")
def tiny_latency():
    """A small meta-trained latency model on the shipped NB201 table (same class and code path
    as the full one, a second of training instead of a minute)."""
    from nagen.predictors.latency import LatencyPredictor

    table = nagen.benchmarks.load("nb201")
    return LatencyPredictor(table.space, hidden=16, layers=2, steps_per_epoch=10, seed=0).meta_fit(
        table, devices=["1080ti_1", "silver_4114", "samsung_a50"], validation=[], held_out=("pixel2",), epochs=2
    )


@pytest.fixture
def meta_calls(monkeypatch, tiny_latency):
    """Every (table name, metric, seed) the few-shot latency model is asked for; answers the tiny model."""
    calls: list[tuple[str, str, int]] = []

    def fake(table, metric, seed=0, progress=False):
        calls.append((table.name, metric, seed))
        return tiny_latency

    monkeypatch.setattr(nagen.constraints, "meta_latency_model", fake)
    return calls


@pytest.fixture
def nothing_spent(monkeypatch):
    """Fail on any predictor fit, latency meta-model or table label: a request must be refused first."""
    import nagen.predictors as P

    monkeypatch.setattr(P, "get", lambda *a, **kw: pytest.fail("no predictor may be fitted"))
    monkeypatch.setattr(nagen.constraints, "meta_latency_model", lambda *a, **kw: pytest.fail("no latency model may be built"))
    monkeypatch.setattr(Benchmark, "query_many", lambda *a, **kw: pytest.fail("no label may be paid"))


@pytest.fixture
def opgfn_fits(monkeypatch):
    """The (archs, values, directions) of every OPGFNGenerator.fit (the real fit still runs)."""
    calls: list[tuple] = []
    real = OPGFNGenerator.fit

    def spy(self, archs=None, values=None, directions=None, **kw):
        calls.append((archs, None if values is None else np.asarray(values), directions))
        return real(self, archs, values, directions, **kw)

    monkeypatch.setattr(OPGFNGenerator, "fit", spy)
    return calls


# ---------------------------------------------------------------------------------- 1. OP-GFN
def test_opgfn_guide_fits_the_order_reward_on_paid_labels(nb201, opgfn_fits) -> None:
    out = nagen.generate(space="nb201", n=60, method="opgfn", guide=ACC, guide_labels=100, seed=0)
    (archs, values, dirs), = opgfn_fits
    # the reward is fitted on the paid labels: the table's values of the labelled cells
    assert values.shape == (len(archs), 1) and out.labels_used == len(archs) >= 95
    assert np.allclose(values[:, 0], nb201.query_many(archs, ACC)) and dirs == ["max"]
    # no fake accuracy: the only prediction is the learned order score
    assert all(set(g.predicted) == {"order_score"} for g in out) and len(out) == 60
    assert np.isfinite([g.predicted["order_score"] for g in out]).all()
    plain = nagen.generate(space="nb201", n=60, method="random", seed=0)
    guided_acc = nb201.query_many([g.arch for g in out], ACC).mean()
    plain_acc = nb201.query_many([g.arch for g in plain], ACC).mean()
    assert guided_acc > plain_acc + 5  # measured: 81.8 vs 69.1 (seeds 0-3: +9.5 to +17)


def test_unique_generation_returns_distinct_cells(nb201, capsys) -> None:
    # an OP-GFN fitted on a clear order repeats its favourite cells; unique=True redraws the repeats
    plain = nagen.generate(space="nb201", n=40, method="opgfn", guide=ACC, guide_labels=60, seed=0)
    out = nagen.generate(space="nb201", n=40, method="opgfn", guide=ACC, guide_labels=60, seed=0, unique=True)
    assert len({g.arch.canonical_hash() for g in plain}) < 40
    assert len(out) == 40 and len({g.arch.canonical_hash() for g in out}) == 40 and out.stats.duplicates > 0
    # the distinct ones are still guided: better than random on average
    rnd = nagen.generate(space="nb201", n=40, method="random", seed=0)
    assert nb201.query_many([g.arch for g in out], ACC).mean() > nb201.query_many([g.arch for g in rnd], ACC).mean()
    with pytest.raises(InvalidArgumentError, match="unique must be True or False"):
        nagen.generate(space="nb201", n=2, unique=1)
    from nagen.cli import main

    assert main(["generate", "--method", "random", "--n", "5", "--unique", "--json"]) == 0
    cap = capsys.readouterr()
    assert len({json.loads(x)["arch"] for x in cap.out.splitlines()}) == 5 and "duplicates redrawn" in cap.err


def test_opgfn_several_guides_take_the_tables_directions_and_constraints_filter(opgfn_fits) -> None:
    space = nagen.spaces.get("nb201")
    out = nagen.generate(
        space="nb201", n=10, method="opgfn", guide=[ACC, "params"], constraints={"flops": 1.0e8}, guide_labels=40, seed=1
    )
    (archs, values, dirs), = opgfn_fits
    assert values.shape == (len(archs), 2) and dirs == ["max", "min"]  # a Pareto order, each column its way
    assert out.labels_used == len(archs)  # the accuracy labels are paid; params are counted, not labelled
    assert np.array_equal(values[:, 1], [space.cost(a)["params"] for a in archs])
    assert len(out) == 10 and all(space.cost(g.arch)["flops"] <= 1.0e8 for g in out)  # exact filter
    assert all(set(g.predicted) == {"flops", "order_score"} for g in out)


def test_opgfn_guide_and_constraint_on_one_metric_pay_once(opgfn_fits) -> None:
    out = nagen.generate(space="nb201", n=3, method="opgfn", guide=ACC, constraints=[f"{ACC}>=0"], guide_labels=20, seed=0)
    assert out.labels_used == len(opgfn_fits[0][0]) and len(out) == 3


def test_opgfn_without_guide_stays_uniform_and_refuses_predictor_guides(nothing_spent, opgfn_fits) -> None:
    from nagen.generators.guidance import Guide
    from nagen.predictors.cost import ExactCostPredictor

    out = nagen.generate(space="nb201", n=5, method="opgfn", seed=0)
    assert len(out) == 5 and out.labels_used == 0 and opgfn_fits[0][1] is None  # fitted on no labels: uniform
    guide = Guide(ExactCostPredictor(nagen.spaces.get("nb201"), "params"), 1.0, "min", name="mine")
    with pytest.raises(InvalidGuidanceError, match=r"method 'opgfn' learns its reward .*metric names .*\['mine'\]"):
        nagen.generate(space="nb201", n=2, method="opgfn", guide=guide)
    with pytest.raises(InvalidGuidanceError, match="OPGFNGenerator.fit"):  # a fitted one samples its own reward
        nagen.generate(space="nb201", n=2, guide=ACC, generator=OPGFNGenerator("nb201"))


def test_cli_generate_opgfn_guide(capsys) -> None:
    from nagen.cli import main

    argv = ["generate", "--space", "nb201", "--n", "3", "--method", "opgfn", "--guide", ACC, "--guide-labels", "20", "--json", "--quiet"]
    assert main(argv) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(set(r) == {"arch", "pred_order_score"} for r in rows)


# ---------------------------------------------------------------------------------- 2. one latency model
def test_device_samples_use_the_seed_0_latency_model_whatever_the_seed(meta_calls) -> None:
    a = nagen.generate(n=5, method="random", constraints={"lat_pixel2_ms": 15.0}, device_samples=4, seed=3)
    b = nagen.generate(n=5, method="random", constraints={"lat_pixel2_ms": 15.0}, device_samples=4, seed=2**40)
    assert meta_calls == [("nb201", "lat_pixel2_ms", 0)] * 2  # was the generate seed: a new meta-training per seed
    assert a.device_measurements == b.device_measurements == 4
    assert [g.string for g in a] != [g.string for g in b]  # the seed still drives sampling


# ---------------------------------------------------------------------------------- 3. dict constraints
@pytest.mark.parametrize(
    "constraints, error, fragment",
    [
        ({"lat_pixel2_ms": -1.0}, ConstraintError, "upper bound must be > 0"),
        (["lat_pixel2_ms<=-1"], ConstraintError, "upper bound must be > 0"),
        ({"params": 0}, ConstraintError, "upper bound must be > 0"),
        ({"lat_pixel9_ms": 5.0}, UnknownDeviceError, r"no latency column for device 'pixel9'.*pixel2"),
        (["lat_pixel9_ms<=5"], UnknownDeviceError, r"no latency column for device 'pixel9'.*pixel2"),
        ({"speed": 1.0}, UnknownMetricError, "cannot constrain 'speed'"),
        ({"lat_pixel2_ms": float("inf")}, InvalidGuidanceError, "finite bound"),
    ],
)
def test_dict_constraints_get_the_string_checks_before_anything_is_spent(nothing_spent, constraints, error, fragment) -> None:
    # the dict form used to spend 5 device measurements and fit guides, then fail with
    # "no sampled architecture met the constraints" (or "cannot guide by" listing every metric)
    with pytest.raises(error, match=fragment):
        nagen.generate(n=5, guide=ACC, constraints=constraints, device_samples=5, seed=0)


def test_a_dict_bound_on_a_maximised_metric_is_a_lower_bound() -> None:
    # a negative lower bound is no "upper bound <= 0": accepted, and met by every cell
    out = nagen.generate(n=3, method="random", constraints={ACC: -5.0}, guide_labels=10, seed=0)
    assert len(out) == 3 and out.labels_used == 10 and out.stats.filtered == 0


# ---------------------------------------------------------------------------------- 4. a user's latency column
@pytest.fixture
def register_table():
    names: list[str] = []

    def register(table: Benchmark) -> str:
        nagen.benchmarks.register_loader(table.name, lambda: table, overwrite=True)
        names.append(table.name)
        return table.name

    yield register
    for name in names:
        nagen.benchmarks._loaders.remove(name)
        nagen.benchmarks._tables.pop(name, None)


def test_a_users_latency_column_adapts_the_model_meta_trained_on_the_shipped_table(
    tmp_path, nb201, meta_calls, register_table
) -> None:
    idx = np.random.default_rng(0).permutation(len(nb201))[:300]
    archs = [nb201.archs[i] for i in idx]
    lat = 1.5 * nb201.query_many(archs, "lat_pixel2_ms")
    path = tmp_path / "mine.csv"
    path.write_text("arch,lat_mydev_ms\n" + "".join(f"{nb201.space.format(a)},{v}\n" for a, v in zip(archs, lat)))
    mine = Benchmark.from_csv(path, "nb201", name="test_api_fixes_mine")
    name = register_table(mine)
    bound = float(np.median(lat))
    out = nagen.generate(n=8, method="random", benchmark=name, constraints={"lat_mydev_ms": bound}, device_samples=5, seed=0)
    # meta-trained on the shipped table's source devices (it failed: "no latency column for device '1080ti_1'"),
    # adapted on 5 cells measured in the user's table (a cell outside it could not have been measured)
    assert meta_calls == [("nb201", "lat_mydev_ms", 0)]
    assert out.device_measurements == 5 and len(out) == 8
    assert all(g.predicted["lat_mydev_ms"] <= bound for g in out)
    with pytest.raises(InvalidGuidanceError, match="only 300 measured cells"):
        nagen.generate(n=2, method="random", benchmark=name, constraints={"lat_mydev_ms": bound}, device_samples=400)


def test_a_users_latency_column_without_any_source_table_is_a_named_error(nothing_spent, register_table) -> None:
    space = nagen.spaces.get("nb101")
    archs = list(dict.fromkeys(space.sample(30, 0)))
    name = register_table(Benchmark("test_api_fixes_nb101", space, archs, {"lat_mydev_ms": np.linspace(1, 2, len(archs))}))
    with pytest.raises(MissingSourceDevicesError, match=r"source devices' latencies \(1080ti_1, .*Add those latency columns"):
        nagen.generate(space="nb101", n=2, method="random", benchmark=name, constraints={"lat_mydev_ms": 1.5}, device_samples=5)
    assert issubclass(MissingSourceDevicesError, UnknownMetricError)  # what the old failure raised


def test_a_guide_on_a_table_of_part_of_the_space_labels_only_its_rows(tmp_path, nb201, register_table) -> None:
    # guide cells used to be drawn from the whole space: on a 300-row table the first one without a row failed
    idx = np.random.default_rng(1).permutation(len(nb201))[:300]
    archs = [nb201.archs[i] for i in idx]
    acc = nb201.query_many(archs, "cifar10_valid_12ep")
    path = tmp_path / "part.csv"
    path.write_text("arch,my_acc\n" + "".join(f"{nb201.space.format(a)},{v}\n" for a, v in zip(archs, acc)))
    name = register_table(Benchmark.from_csv(path, "nb201", name="test_api_fixes_part", directions={"my_acc": "max"}))
    out = nagen.generate(n=6, method="opgfn", guide="my_acc", benchmark=name, guide_labels=40, seed=0)
    assert out.labels_used == 40 and len(out) == 6  # 40 distinct rows of the table, each paid once


def test_an_exact_cost_guide_is_counted_not_labelled() -> None:
    """``guide="params"`` once paid guide_labels and fitted a cost GNN to an exact count."""
    import nagen
    import nagen.spaces

    sp = nagen.spaces.get("nb201")
    out = nagen.generate(space="nb201", n=4, guide="params", guide_labels=30, seed=0, steps=5)
    assert out.labels_used == 0
    for g in out:
        assert g.predicted["params"] == sp.cost(g.arch)["params"]
    both = nagen.generate(space="nb201", n=3, method="opgfn", guide=["cifar10_valid_12ep", "params"], guide_labels=20, seed=0)
    assert both.labels_used == 20  # the accuracy labels only


def test_an_unmet_predicted_constraint_names_the_predictor_not_only_the_space() -> None:
    """8.9% of NB201 cells reach 80% valid accuracy, but a GNN fitted on 20 labels predicts none:
    the message blamed the space alone."""
    import nagen
    from nagen.errors import InvalidGuidanceError

    with pytest.raises(InvalidGuidanceError, match=r"filtered by predicted values \(a predictor fitted on 20 labelled cells\).*guide_labels"):
        nagen.generate(space="nb201", n=5, constraints=["cifar10_valid_12ep>=80"], guide_labels=20, seed=0)


def test_a_misspelt_guide_metric_gets_a_suggestion() -> None:
    import nagen
    from nagen.errors import UnknownMetricError

    with pytest.raises(UnknownMetricError, match=r"cannot guide by 'cifar10_valid12ep'.*did you mean 'cifar10_valid_12ep'"):
        nagen.generate(space="nb201", n=2, guide="cifar10_valid12ep")


def test_a_cost_guide_needs_no_table_on_a_space_without_one() -> None:
    """params/FLOPs are counted on the built network, yet ``guide="params"`` on nb101 or a user's
    space asked for a benchmark table they do not have."""
    import nagen
    import nagen.spaces
    from nagen.errors import UnknownBenchmarkError

    fx = nagen.spaces.from_spec({"name": "cost_guide_f5", "ops": ["conv3x3", "skip", "zero"], "num_nodes": 5,
                                 "topology": "fixed", "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [1, 4]]})
    out = nagen.generate(fx, n=3, method="opgfn", guide="params", guide_labels=20, seed=0)
    assert len(out) == 3 and out.labels_used == 0
    # the order learned from counted params: sampling concentrates on cheap cells
    mean_params = np.mean([fx.cost(g.arch)["params"] for g in out])
    assert mean_params < np.mean([fx.cost(a)["params"] for a in fx.enumerate()])
    import nagen.generators as G

    tiny = G.get("diffusion", fx, hidden=16, layers=1, heads=2, seed=0).fit(fx.sample(10, seed=0), steps=5)
    out = nagen.generate(fx, n=2, guide="flops", constraints={"params": 1e9}, generator=tiny, seed=0, steps=5)
    assert len(out) == 2 and out.labels_used == 0
    for g in out:
        assert g.predicted["flops"] == fx.cost(g.arch)["flops"]
    # a metric that needs labels says the space has no table, and what works without one
    with pytest.raises(UnknownBenchmarkError, match=r"cannot guide or constrain by \['paramz'\].*no benchmark table.*did you mean 'params'"):
        nagen.generate(fx, n=2, guide="paramz", seed=0)


def test_a_diffusion_guide_skips_the_empty_cells_of_a_users_table(nb201) -> None:
    # a 30-row table with 3 empty cells failed with "values must be finite" (opgfn and search took it)
    idx = np.random.default_rng(4).permutation(len(nb201))[:30]
    archs = [nb201.archs[i] for i in idx]
    acc = np.asarray(nb201.query_many(archs, "cifar10_valid_12ep"), dtype=float)
    acc[[3, 10, 15]] = np.nan
    table = Benchmark("test_api_fixes_gaps", nb201.space, archs, {"acc": acc})
    out = nagen.generate(n=2, guide="acc", benchmark=table, guide_labels=20, seed=0, steps=5)
    assert len(out) == 2 and out.labels_used == 20  # 20 measured rows drawn, none of the empty ones


def test_a_generator_object_or_checkpoint_decides_the_method() -> None:
    # method was ignored: 'bogus' passed, and 'opgfn' did diffusion guidance while reporting 'opgfn'
    from nagen.errors import UnknownGeneratorError

    ckpt = nagen.api.__file__.replace("api.py", "data/diffusion_nb201.pt")
    with pytest.raises(UnknownGeneratorError, match="bogus"):
        nagen.generate(n=2, method="bogus", generator=ckpt)
    with pytest.raises(InvalidArgumentError, match="does not go with method='opgfn'"):
        nagen.generate(n=2, method="opgfn", guide="params", generator=ckpt)
    opgfn = OPGFNGenerator("nb201", seed=0).fit()
    assert nagen.generate(n=2, method="diffusion", generator=ckpt, steps=5).method == "diffusion"
    assert nagen.generate(n=2, generator=opgfn).method == "opgfn"  # the default method follows the generator


def test_a_bound_the_space_meets_but_the_generator_misses_says_so() -> None:
    # the message said "check they can be met in this space" where a quarter of the space met them
    from nagen.generators.random import RandomGenerator

    class Fixated(RandomGenerator):
        """Samples only NB201's largest cell (all 3x3 convolutions), as a sharply guided model may."""

        def _sample(self, n, seed, guides, **options):
            self.last_stats.drawn += n
            return [self.space.from_op_ids((3,) * 6)] * n

    with pytest.raises(InvalidGuidanceError, match=r"\d+% of 200 random architectures meet them, so the 'random' generator"):
        nagen.generate(n=2, generator=Fixated("nb201").fit(), constraints={"params": 0.8e6})


def test_the_same_guide_is_fitted_once_per_process(monkeypatch) -> None:
    # every generate call refitted its guide GNN (2-3 s, 80% of a call) on the same seeded data
    from nagen.predictors.base import Predictor

    fits = []
    real = Predictor.fit
    monkeypatch.setattr(Predictor, "fit", lambda self, *a, **k: fits.append(type(self).__name__) or real(self, *a, **k))
    monkeypatch.setattr(nagen.api, "_GUIDE_FITS", {})
    a = nagen.generate(n=3, guide="cifar10_valid_12ep", guide_labels=20, seed=5, steps=5)
    b = nagen.generate(n=3, guide="cifar10_valid_12ep", guide_labels=20, seed=5, steps=5)
    assert [x.string for x in a] == [x.string for x in b] and a.labels_used == b.labels_used == 20  # still paid per call
    assert len(fits) == 1
    nagen.generate(n=3, guide="cifar10_valid_12ep", guide_labels=20, seed=6, steps=5)  # other cells: another fit
    assert len(fits) == 2
