"""Small fixes from a user review: op_distribution of foreign or empty samples, parse errors that
say the expected format, adapt's minimum, a warning-free 2-point zero-cost fit, ``sample(seed=)``,
and two CLI helpers that now reuse the library's (``_check_method``, ``parse_objectives``)."""

from __future__ import annotations

import json
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import nagen.api
import nagen.benchmarks
import nagen.plot as NP
import nagen.spaces
from nagen.cli import main
from nagen.plot import _result_ref_point as _file_ref_point
from nagen.errors import (
    InvalidArchitectureError,
    InvalidArgumentError,
    InvalidTrainingDataError,
    UnknownOpError,
)
from nagen.spaces import nb101 as nb101_module
from nagen.spaces import nb201 as nb201_module
from nagen.spaces.custom import CustomSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


# ------------------------------------------------------------------------- 1. op_distribution
def test_op_distribution_refuses_archs_of_another_space_naming_both_op_sets() -> None:
    foreign = nagen.spaces.get("nb101").sample(5, rng=0)
    with pytest.raises(InvalidArgumentError) as info:
        NP.op_distribution("nb201", {"from nb101": foreign}, reference=False)
    msg = str(info.value)
    assert "'from nb101'" in msg and "'nb201'" in msg
    used = sorted({op for a in foreign for op in a.ops[1:-1]})
    assert all(op in msg for op in used)  # the foreign ops
    assert all(op in msg for op in NB201_OPS)  # the space's ops
    # one foreign architecture among the space's own is refused too (its ops were silently skipped)
    mixed = [*nagen.spaces.get("nb201").sample(2, rng=0), foreign[0]]
    with pytest.raises(InvalidArgumentError, match=r"1 of the 3 architectures in sample group 'mixed'"):
        NP.op_distribution("nb201", {"mixed": mixed}, reference=True)  # refused before the reference is counted


@pytest.mark.parametrize(
    "samples, group",
    [({"mine": []}, "mine"), ({"ok": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "later": []}, "later"), ([], "generated")],
)
def test_op_distribution_refuses_an_empty_group_by_name(samples, group) -> None:
    for reference in (False, True):
        with pytest.raises(InvalidArgumentError, match=rf"sample group '{group}' is empty"):
            NP.op_distribution("nb201", samples, reference=reference)


def test_op_distribution_names_a_generated_result_instead_of_an_attribute_error() -> None:
    sp = nagen.spaces.get("nb201")
    result = [nagen.api.Generated(a, sp.format(a)) for a in sp.sample(3, rng=0)]
    with pytest.raises(InvalidArgumentError, match=r"holds a Generated.*\[g\.arch for g in result\]"):
        NP.op_distribution(sp, {"gen": result}, reference=False)
    ax = NP.op_distribution(sp, {"gen": [g.arch for g in result]}, reference=False)  # the hint works
    assert abs(sum(p.get_height() for p in ax.patches) - 1.0) < 1e-9


# ------------------------------------------------------------------------- 2. parse errors say the format
def _example(hint: str) -> str:
    return re.search(r"e\.g\. '([^']+)'", hint).group(1)


@pytest.mark.parametrize("text", ["conv3x3", "hello world", "a;b", "", "input>output", "1,2,3"])
def test_nb201_parse_error_names_the_cell_string_format(text) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        nagen.spaces.get("nb201").parse(text)
    assert type(info.value) is InvalidArchitectureError  # the class is kept
    msg = str(info.value)
    assert "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in msg and "e.g. '|nor_conv_3x3~0|+|" in msg


@pytest.mark.parametrize(
    "text",
    ["|nor_conv_3x3~0|", "|nor_conv_3x3~0|+|none~0|none~1|", "|conv|+|a~0|b~1|+|a~0|b~1|c~2|", "|x~0|+|y~0|z~1|+"],
)
def test_nb201_malformed_cell_strings_say_the_format(text) -> None:
    with pytest.raises(InvalidArchitectureError, match=re.escape("e.g. '|nor_conv_3x3~0|+|")):
        nagen.spaces.get("nb201").parse(text)


def test_nb201_parse_of_another_spaces_string_keeps_its_class_and_says_the_format() -> None:
    nb101_string = nagen.spaces.get("nb101").format(nagen.spaces.get("nb101").sample(1, rng=0)[0])
    with pytest.raises(UnknownOpError, match=re.escape("expected an NB201 cell string")):
        nagen.spaces.get("nb201").parse(nb101_string)
    # a well-formed cell string with a wrong op: the op is the problem, and the message lists the ops
    with pytest.raises(UnknownOpError, match="is not an NB201 op; allowed"):
        nagen.spaces.get("nb201").parse("|x~0|+|y~0|z~1|+|a~0|b~1|c~2|")


@pytest.mark.parametrize("text", ["conv3x3", "hello world", "a;b", "", "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|"])
def test_nb101_parse_error_names_the_generic_format(text) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        nagen.spaces.get("nb101").parse(text)
    assert type(info.value) is InvalidArchitectureError
    msg = str(info.value)
    assert "expected an NB101 cell" in msg and "e.g. 'input;conv3x3-bn-relu<0;" in msg and "'op<predecessor indices'" in msg


def test_the_format_examples_are_real_cells_in_format_output() -> None:
    for module, name in ((nb201_module, "nb201"), (nb101_module, "nb101")):
        sp = nagen.spaces.get(name)
        example = _example(module._FORMAT_HINT)
        assert sp.format(sp.parse(example)) == example
    nb201 = nagen.spaces.get("nb201")
    generic = re.search(r"to_string writes it: '([^']+)'", nb201_module._FORMAT_HINT).group(1)
    parts = nb201.parse(_example(nb201_module._FORMAT_HINT)).to_string().split(";")
    assert ";".join([parts[0], *("op" + p[p.index("<"):] for p in parts[1:-1]), parts[-1]]) == generic
    assert nb201.parse(generic.replace("op<", "none<")) == nb201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_valid_strings_still_parse() -> None:
    for name in ("nb101", "nb201"):
        sp = nagen.spaces.get(name)
        for a in sp.sample(5, rng=1):
            assert sp.parse(sp.format(a)) == a and sp.parse(a.to_string()) == a


# ------------------------------------------------------------------------- 3. adapt's minimum
@pytest.fixture(scope="module")
def meta_latency():
    from nagen.benchmarks import Benchmark
    from nagen.predictors.latency import LatencyPredictor

    nb = nagen.benchmarks.load("nb201")
    idx = np.random.default_rng(0).permutation(len(nb))[:200]
    archs = [nb.archs[i] for i in idx]
    cols = {m: nb.values(m)[idx] for m in ("lat_1080ti_1_ms", "lat_silver_4114_ms")}
    tiny = dict(hidden=8, layers=1, free_features=2, steps_per_epoch=2, episodes_per_step=2, query_size=16, batch_size=32)
    model = LatencyPredictor("nb201", seed=0, **tiny).meta_fit(Benchmark("slice", nb.space, archs, cols), devices=["1080ti_1", "silver_4114"], epochs=1)
    return model, archs


def test_adapt_with_too_few_measurements_says_adapt_and_the_minimum(meta_latency) -> None:
    model, archs = meta_latency
    for measured, got in (({}, "got 0"), ({archs[0]: 1.0}, "got 1")):
        with pytest.raises(InvalidTrainingDataError) as info:
            model.adapt(measured)
        msg = str(info.value)
        assert "adapt needs at least 2 measurements of the target device" in msg and got in msg
        assert not re.search(r"\bfit\b", msg)  # not the generic Predictor.fit wording
    assert np.isfinite(model.adapt({archs[0]: 1.0, archs[1]: 2.0}).predict(archs[:3]).mean).all()  # 2 are enough


# ------------------------------------------------------------------------- 4. zero-cost fit on 2 points
@pytest.mark.parametrize("combine", ["bo", "single"])
@pytest.mark.parametrize("transform", ["auto", "zscore", "rank"])
def test_zero_cost_fit_on_two_points_warns_nothing(nb201, combine, transform) -> None:
    from nagen.predictors.zero_cost import ZeroCostPredictor

    archs = [nb201.archs[7], nb201.archs[4242]]
    ZeroCostPredictor("nb201", bo_iters=1, combine=combine).fit(archs, [1.0, 2.0])  # imports (and their deprecations) first
    others = [nb201.archs[k] for k in (1, 100, 9000)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # tied labels: no order to correlate with (numpy's corrcoef warned "invalid value encountered in divide")
        tied = ZeroCostPredictor("nb201", bo_iters=2, combine=combine, transform=transform).fit(archs, [50.0, 50.0])
        assert tied.train_tau_ == 0.0 and np.allclose(tied.predict(archs + others).mean, 50.0)
        y = nb201.query_many(archs, "cifar10_valid_12ep")
        distinct = ZeroCostPredictor("nb201", bo_iters=2, combine=combine, transform=transform).fit(archs, y)
        assert distinct.train_tau_ in (-1.0, 1.0) and np.isfinite(distinct.predict(others).mean).all()
        if distinct.train_tau_ == 1.0:  # the score orders the two as their labels do: the affine map hits both
            np.testing.assert_allclose(distinct.predict(archs).mean, y)


# ------------------------------------------------------------------------- 5. sample(seed=)
def _spaces():
    custom = CustomSpace.from_spec(
        {"name": "review_small_variable", "ops": ["conv3x3", "maxpool3x3"], "num_nodes": 6, "topology": "variable",
         "max_edges": 8, "min_nodes": 3}
    )
    return [nagen.spaces.get("nb101"), nagen.spaces.get("nb201"), nagen.spaces.get("mbv3"), custom]


def test_sample_takes_seed_as_an_alias_of_rng() -> None:
    for sp in _spaces():
        by_seed = sp.sample(4, seed=3)
        assert by_seed == sp.sample(4, rng=3) == sp.sample(4, 3), sp.name
        assert sp.sample(4, seed=np.random.default_rng(3)) == sp.sample(4, rng=np.random.default_rng(3))
        assert len(sp.sample(2, seed=None)) == 2


def test_sample_refuses_rng_and_seed_together_and_names_a_bad_seed() -> None:
    sp = nagen.spaces.get("nb201")
    for call in (lambda: sp.sample(2, rng=0, seed=0), lambda: sp.sample(2, 0, seed=1)):
        with pytest.raises(InvalidArgumentError, match=r"rng= or its alias seed=, not both"):
            call()
    with pytest.raises(InvalidArgumentError, match=r"^seed must be .* got -1"):
        sp.sample(2, seed=-1)
    with pytest.raises(InvalidArgumentError, match=r"^rng must be"):
        sp.sample(2, rng=-1)


# ------------------------------------------------------------------------- 6. CLI reuses the library's helpers
def test_cli_weight_flags_are_judged_by_the_api_check(monkeypatch, capsys, generate_calls) -> None:
    asked: list[tuple] = []
    real = nagen.api._check_method
    monkeypatch.setattr(nagen.api, "_check_method", lambda *a, **k: asked.append(a) or real(*a, **k))
    assert main(["generate", "--n", "2", "--method", "random", "--guide", "cifar10_test", "--scale", "2", "--quiet"]) == 2
    assert "--scale weights the metric guides" in capsys.readouterr().err and not generate_calls
    assert asked and asked[-1][1] == "random" and list(asked[-1][5]) == ["scale"]
    assert main(["generate", "--n", "2", "--method", "random", "--max-params", "1e6", "--constraint-scale", "3", "--quiet"]) == 2
    assert list(asked[-1][5]) == ["constraint_scale"] and "--constraint-scale" in capsys.readouterr().err
    # the decision is the API's: were it to accept the weight, the CLI would pass it on
    monkeypatch.setattr(nagen.api, "_check_method", lambda *a, **k: None)
    assert main(["generate", "--n", "2", "--method", "random", "--guide", "cifar10_test", "--scale", "2", "--quiet"]) == 0
    assert generate_calls[-1]["scale"] == 2.0


def test_file_ref_point_reads_the_files_objectives_with_parse_objectives() -> None:
    # parse_objectives splits at the last ':' (a metric may hold one); the hand-split took "acc"
    data = {"objectives": ["acc:v2:max", " params : min "], "ref_point": [80.0, 4e5]}
    assert _file_ref_point(data, ["acc:v2", "params"]) == [80.0, 4e5]
    assert _file_ref_point(data, ["params", "acc:v2"]) == [4e5, 80.0]
    with pytest.raises(InvalidArgumentError, match=r"'p\.json': its objectives .* has no direction"):
        _file_ref_point({"objectives": ["acc", "params:min"], "ref_point": [1.0, 2.0]}, ["acc", "params"], "'p.json'")


def test_plot_pareto_draws_the_reference_point_of_a_metric_with_a_colon(tmp_path, monkeypatch) -> None:
    drawn: list[dict] = []
    real = NP.pareto_front
    monkeypatch.setattr(NP, "pareto_front", lambda pts, **kw: drawn.append(kw) or real(pts, **kw))
    rows = [{"arch": f"a{k}", "values": {"acc:v2": 90.0 - k, "params": 1e5 * (3 - k)}} for k in range(3)]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"history": rows, "objectives": ["acc:v2:max", "params:min"], "ref_point": [80.0, 4e5]}))
    assert main(["plot", "pareto", "--input", str(path), "--out", str(tmp_path / "p.png"), "--quiet"]) == 0
    assert drawn[-1]["names"] == ["acc:v2", "params"] and drawn[-1]["ref_point"] == [80.0, 4e5]


def test_unique_generation_on_a_small_space_blames_the_space_not_the_model() -> None:
    import json as _json
    import warnings
    from pathlib import Path

    spec = _json.loads((Path(__file__).parent.parent / "examples/spaces/tiny_dag.json").read_text())
    sp = nagen.spaces.from_spec(dict(spec, name="tiny_unique", num_nodes=4, max_edges=4))
    # more than the space holds: refused at once, naming the space's size (it once redrew for seconds)
    with pytest.raises(InvalidArgumentError, match=f"space 'tiny_unique' has only {sp.size:,} architectures"):
        nagen.generate(sp, n=sp.size + 5, method="random", unique=True, seed=0)
    # at most the size, but equivalent cells count once: fewer come back, and the warning blames the space
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = nagen.generate(sp, n=sp.size, method="random", unique=True, seed=0)
    assert len(out) < sp.size
    assert any(f"space 'tiny_unique' has only {sp.size:,} architectures" in str(w.message) for w in caught)
