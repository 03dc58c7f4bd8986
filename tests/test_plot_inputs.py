"""``nagen.plot`` / ``nagen plot``: malformed run files and arguments are named errors, never
tracebacks or silently wrong figures."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nagen.plot as NP  # noqa: E402
from nagen.cli import main  # noqa: E402
from nagen.errors import InvalidArgumentError  # noqa: E402
from nagen.graph import ArchGraph  # noqa: E402

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _run(values, **keys) -> dict:
    """A hand-written ``nagen search --json`` object with the given top-level keys."""
    out = {"history": [{"arch": BEST, "value": float(v)} for v in values], "space": "nb201",
           "objective": "params", "direction": "min", "method": "re", "seed": 0}
    out.update(keys)
    return out


def _pareto(values, **keys) -> dict:
    out = {"history": [{"arch": BEST, "values": v} for v in values], "front": [], "hypervolume": 0.0,
           "objectives": ["x:max", "y:min"]}
    out.update(keys)
    return out


# ---------------------------------------------------------------- 1. a run's "direction"
@pytest.mark.parametrize("direction", ["sideways", "", "maximise", "minimum"])
def test_search_runs_refuse_an_unknown_direction(direction) -> None:
    """Any direction but "min" used to be drawn as maximised."""
    with pytest.raises(InvalidArgumentError, match=rf"direction {direction!r} .*'max' or 'min'"):
        NP.search_runs([_run([5.0, 1.0], direction=direction)])


def test_search_runs_read_the_direction_case_insensitively_as_minimise() -> None:
    # "MIN" was drawn as maximised: [5, 5] instead of [5, 1]
    ax = NP.search_runs([_run([5.0, 1.0], direction="MIN")])
    assert ax.lines[0].get_ydata().tolist() == [5.0, 1.0]
    # "MIN" and "min" are one direction, not two objectives
    ax = NP.search_runs([_run([5.0, 1.0], direction="MIN"), _run([4.0, 6.0], direction="min", seed=1)])
    assert ax.lines[0].get_ydata().tolist() == [4.5, 2.5]
    with pytest.raises(InvalidArgumentError, match="asked to maximise"):
        NP.search_runs([_run([5.0, 1.0], direction=" Min ")], maximize=True)


def test_cli_plot_trace_refuses_an_unknown_direction(tmp_path, capsys) -> None:
    (tmp_path / "r.json").write_text(json.dumps(_run([5.0, 1.0], direction="sideways")))
    assert main(["plot", "trace", "--input", str(tmp_path / "r.json"), "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "'sideways'" in err and "'max' or 'min'" in err and err.count("\n") == 1, err
    assert not (tmp_path / "t.png").exists()


# ---------------------------------------------------------------- 2. malformed plot JSON
@pytest.mark.parametrize("seed", [[0], {"a": 1}, "0", 1.5, True])
def test_search_runs_refuse_a_seed_that_is_no_integer(seed) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'runs\[0\]'.*seed .*an integer"):
        NP.search_runs([_run([1.0, 2.0], seed=seed)])


def test_search_runs_take_a_run_without_a_seed() -> None:
    run = _run([1.0, 2.0])
    del run["seed"]
    assert NP.search_runs([run, _run([3.0], seed=None)]).lines


def test_cli_plot_trace_names_a_list_seed(tmp_path, capsys) -> None:
    (tmp_path / "r.json").write_text(json.dumps(_run([1.0, 2.0], seed=[0])))
    assert main(["plot", "trace", "--input", str(tmp_path / "r.json"), "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "r.json" in err and "seed [0]" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("bad", [[1], {"a": 1}, "1", True, None])
def test_pareto_front_names_a_value_that_is_no_number(bad) -> None:
    data = _pareto([{"x": 1.0, "y": 2.0}, {"x": bad, "y": 2.0}])
    with pytest.raises(InvalidArgumentError, match=r"history\[1\] has value .* for 'x', not a number"):
        NP.pareto_front(data)


def test_pareto_front_still_skips_failed_labels_written_as_nan() -> None:
    # json.dumps writes a failed label's NaN as NaN: that is a failed trial, not a malformed file
    data = json.loads(json.dumps(_pareto([{"x": 1.0, "y": 2.0}, {"x": float("nan"), "y": 2.0}, {"x": 2.0, "y": 3.0}])))
    ax = NP.pareto_front(data)
    assert sum(len(c.get_offsets()) for c in ax.collections[:2]) == 2


def test_cli_plot_pareto_names_a_malformed_value(tmp_path, capsys) -> None:
    for k, values in enumerate(({"x": [1], "y": 2}, {"x": {"a": 1}, "y": 2})):
        (tmp_path / "p.json").write_text(json.dumps(_pareto([values])))
        assert main(["plot", "pareto", "--input", str(tmp_path / "p.json"), "--out", str(tmp_path / "p.png")]) == 2
        err = capsys.readouterr().err
        assert "p.json" in err and "history[0]" in err and "not a number" in err and err.count("\n") == 1, err


# ---------------------------------------------------------------- 3. a result's ref_point
@pytest.mark.parametrize("ref", [5, [1], [1.0, 2.0, 3.0], "ab", {"x": "a", "y": 1.0}, [1.0, float("inf")], [True, 1.0]])
def test_pareto_front_refuses_a_malformed_result_ref_point(ref) -> None:
    data = _pareto([{"x": 1.0, "y": 2.0}], ref_point=ref)
    with pytest.raises(InvalidArgumentError, match="ref_point"):
        NP.pareto_front(data)
    no_objectives = {k: v for k, v in data.items() if k != "objectives"}
    with pytest.raises(InvalidArgumentError, match="ref_point"):
        NP.pareto_front(no_objectives, objectives="x:max,y:min")


def test_pareto_front_keeps_a_result_ref_point_of_any_valid_form() -> None:
    for ref in ([0.0, 3.0], {"x": 0.0, "y": 3.0}):
        ax = NP.pareto_front(_pareto([{"x": 1.0, "y": 2.0}], ref_point=ref))
        drawn = [c for c in ax.collections if c.get_label() == "reference point"]
        assert drawn[0].get_offsets().tolist() == [[3.0, 0.0]]  # cost on x, the maximised one on y
    # none given, or one for other objectives only: drawn without a reference point
    for ref in (None, {"z": 1.0}):
        ax = NP.pareto_front(_pareto([{"x": 1.0, "y": 2.0}], ref_point=ref))
        assert not [c for c in ax.collections if c.get_label() == "reference point"]


def test_cli_plot_pareto_refuses_a_wrong_length_ref_point(tmp_path, capsys) -> None:
    for ref in (5, [1]):
        (tmp_path / "p.json").write_text(json.dumps(_pareto([{"x": 1.0, "y": 2.0}], ref_point=ref)))
        assert main(["plot", "pareto", "--input", str(tmp_path / "p.json"), "--out", str(tmp_path / "p.png")]) == 2
        err = capsys.readouterr().err
        assert "ref_point" in err and "p.json" in err and err.count("\n") == 1, err
        assert not (tmp_path / "p.png").exists()


# ---------------------------------------------------------------- 4. argument types
def test_draw_arch_refuses_a_title_or_axes_of_the_wrong_type() -> None:
    with pytest.raises(InvalidArgumentError, match=r"draw_arch: title must be a string or None .*got int 5"):
        NP.draw_arch(BEST, title=5)
    with pytest.raises(InvalidArgumentError, match=r"draw_arch: ax must be a matplotlib Axes or None .*got int"):
        NP.draw_arch(BEST, ax=5)
    fig = plt.figure()
    with pytest.raises(InvalidArgumentError, match=r"got Figure.*add_subplot"):
        NP.draw_arch(BEST, ax=fig)
    _, ax = plt.subplots()
    assert NP.draw_arch(BEST, ax=ax, title="mine") is ax and ax.get_title() == "mine"


def test_every_plot_function_refuses_axes_of_the_wrong_type() -> None:
    with pytest.raises(InvalidArgumentError, match="ax must be a matplotlib Axes"):
        NP.search_traces({"m": [[1.0]]}, ax="left")
    with pytest.raises(InvalidArgumentError, match="ax must be a matplotlib Axes"):
        NP.pareto_front(np.array([[1.0, 2.0]]), ax=[1])


@pytest.mark.parametrize("samples", [None, 5, BEST, {"g": None}, {"g": BEST}])
def test_op_distribution_refuses_samples_that_are_no_collection(samples) -> None:
    with pytest.raises(InvalidArgumentError, match="op_distribution: .*list of architectures"):
        NP.op_distribution("nb201", samples)


def test_op_distribution_refuses_a_single_architecture(nb201) -> None:
    with pytest.raises(InvalidArgumentError, match=r"wrap it: \[arch\]"):
        NP.op_distribution("nb201", nb201.space.parse(BEST))


@pytest.mark.parametrize("path", [None, 5, b"x.png"])
def test_save_refuses_a_path_that_is_no_path(path) -> None:
    ax = NP.search_traces({"m": [[1.0]]})
    with pytest.raises(InvalidArgumentError, match=r"save: path must be a file path \(str or Path\)"):
        NP.save(ax, path)


# ---------------------------------------------------------------- 5. zero ops are dead
def test_draw_arch_draws_every_zero_op_dashed() -> None:
    g = ArchGraph(["input", "conv", "zero", "none", "output"], [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)])
    ax = NP.draw_arch(g)
    style = {t.get_text(): t.get_bbox_patch().get_linestyle() for t in ax.texts if type(t).__name__ == "Text"}
    assert style["zero"] == style["none"] == "--"
    assert style["conv"] == "-"
