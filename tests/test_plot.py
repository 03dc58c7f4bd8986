"""``nagen.plot`` and ``nagen plot``: figures carry the data they are given."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import nagen.plot as NP
from nagen.cli import main
from nagen.errors import NagenError

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_draw_arch_has_one_box_per_node_and_one_arrow_per_edge(nb201) -> None:
    ax = NP.draw_arch(BEST)
    arch = nb201.space.parse(BEST)
    arrows = [t for t in ax.texts if type(t).__name__ == "Annotation"]
    boxes = [t for t in ax.texts if type(t).__name__ == "Text"]
    assert len(boxes) == arch.num_nodes and len(arrows) == len(arch.edges)
    assert "nor_conv_3x3~0" in ax.get_title()
    pruned = NP.draw_arch("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|", pruned=True)
    assert len([t for t in pruned.texts if type(t).__name__ == "Text"]) == 3  # input -> conv -> output


def test_op_distribution_bars_sum_to_one(nb201) -> None:
    archs = nb201.space.sample(50, 0)
    ax = NP.op_distribution("nb201", {"random": archs}, reference=False)
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 5 and abs(sum(heights) - 1.0) < 1e-9


def test_search_traces_median_is_running_best() -> None:
    seeds = [[1.0, 3.0, 2.0, 5.0], [2.0, 1.0, 4.0, 4.0]]
    ax = NP.search_traces({"m": seeds}, optimum=6.0)
    y = ax.lines[0].get_ydata()
    assert np.allclose(y, np.median([[1, 3, 3, 5], [2, 2, 4, 4]], axis=0))
    assert np.allclose(NP.best_so_far([3.0, np.nan, 1.0, 4.0], maximize=False), [3, 3, 1, 1])
    with pytest.raises(NagenError, match="optimum"):
        NP.search_traces({"m": seeds}, regret=True)


def test_pareto_front_marks_the_non_dominated_points() -> None:
    pts = np.array([[90.0, 1.0], [92.0, 2.0], [91.0, 3.0], [85.0, 0.5]])  # (accuracy max, params min)
    ax = NP.pareto_front(pts, directions=("max", "min"), names=("acc", "params"), ref_point=(80.0, 4.0))
    front = ax.collections[1].get_offsets()
    assert sorted(map(tuple, np.asarray(front))) == [(0.5, 85.0), (1.0, 90.0), (2.0, 92.0)]
    with pytest.raises(NagenError, match="directions"):
        NP.pareto_front(pts, directions=("up", "min"))
    with pytest.raises(NagenError, match=r"n x 2 array .* shape \(2, 3\)"):
        NP.pareto_front(np.zeros((2, 3)))
    with pytest.raises(NagenError, match="no point"):
        NP.pareto_front(np.zeros((0, 2)), ref_point=(80.0, 4.0))
    # failed trials (NaN) are skipped, not plotted and not allowed to break the axis limits
    ax = NP.pareto_front(np.vstack([pts, [np.nan, 1.5]]), ref_point=(80.0, 4.0))
    shown = np.vstack([np.asarray(c.get_offsets()) for c in ax.collections[:2]])
    assert len(shown) == 4 and np.isfinite(shown).all()


def test_save_rejects_unknown_suffix(tmp_path) -> None:
    ax = NP.draw_arch(BEST)
    with pytest.raises(NagenError, match=".png"):
        NP.save(ax.figure, tmp_path / "x.jpg")
    assert NP.save(ax.figure, tmp_path / "x.svg").read_text().startswith("<?xml")


def test_cli_plot_trace_and_pareto_files(tmp_path, capsys) -> None:
    search = {"history": [{"arch": BEST, "value": v} for v in (90.0, 93.0, 92.0)], "best": {"arch": BEST, "value": 93.0}}
    (tmp_path / "s.json").write_text(json.dumps(search))
    assert main(["plot", "trace", "--input", str(tmp_path / "s.json"), "--out", str(tmp_path / "t.png"), "--quiet"]) == 0
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    par = {"history": [{"arch": BEST, "values": {"cifar10_test": a, "params": p}} for a, p in ((90, 1e6), (85, 5e5))],
           "front": [], "hypervolume": 0.0}
    (tmp_path / "p.json").write_text(json.dumps(par))
    out = str(tmp_path / "p.png")
    assert main(["plot", "pareto", "--input", str(tmp_path / "p.json"), "--out", out]) == 2
    assert "--objectives" in capsys.readouterr().err
    argv = ["plot", "pareto", "--input", str(tmp_path / "p.json"), "--objectives", "cifar10_test:max,params:min", "--out", out]
    assert main(argv + ["--quiet"]) == 0
    assert main(["plot", "trace", "--input", str(tmp_path / "missing.json"), "--out", out]) == 2
    # the objectives go through the shared parser: a space after the comma is fine, and a missing
    # direction is an error (it used to be read as a silent "max" for params)
    spaced = ["plot", "pareto", "--input", str(tmp_path / "p.json"), "--out", out, "--quiet"]
    assert main(spaced + ["--objectives", "cifar10_test:max, params:min"]) == 0
    capsys.readouterr()
    assert main(spaced + ["--objectives", "cifar10_test:max,params"]) == 2
    assert "params" in capsys.readouterr().err


def test_pareto_front_rejects_malformed_arguments_with_named_errors() -> None:
    from nagen.errors import InvalidArgumentError

    pts = np.array([[90.0, 1.0], [92.0, 2.0]])
    for ref in ((np.nan, 4.0), (80.0,), (80.0, 4.0, 5.0), "ab"):
        with pytest.raises(InvalidArgumentError, match="ref_point must be two finite numbers"):
            NP.pareto_front(pts, ref_point=ref)
    with pytest.raises(InvalidArgumentError, match="names must be two"):
        NP.pareto_front(pts, names=("acc",))
    with pytest.raises(InvalidArgumentError, match=r"true_front must be an n x 2 array .* \(1, 3\)"):
        NP.pareto_front(pts, true_front=[[1.0, 2.0, 3.0]])
    with pytest.raises(InvalidArgumentError, match="array of numbers"):
        NP.pareto_front([["a", "b"]])
    ax = NP.pareto_front(pts, directions=("MAX", "Min"))  # same spelling as objective specs
    assert ax.get_ylabel() == "objective 1 (max)"


def test_search_traces_and_best_so_far_reject_malformed_input() -> None:
    from nagen.errors import InvalidArgumentError

    for traces in ({}, {"m": []}, {"m": [[]]}):
        with pytest.raises(InvalidArgumentError, match="no trace to plot"):
            NP.search_traces(traces)
    with pytest.raises(InvalidArgumentError, match="for one seed write"):
        NP.search_traces({"m": [1.0, 2.0]})
    with pytest.raises(InvalidArgumentError, match="traces are"):
        NP.search_traces([[1.0, 2.0]])
    with pytest.raises(InvalidArgumentError, match="optimum must be a finite number"):
        NP.search_traces({"m": [[1.0]]}, optimum=float("nan"))
    with pytest.raises(InvalidArgumentError, match="flat list"):
        NP.best_so_far([[1.0, 2.0], [3.0, 4.0]])
    # an infinite value is a value, not "nothing yet" (was NaN from there on)
    assert NP.best_so_far([1.0, -np.inf, 2.0], maximize=False).tolist() == [1.0, -np.inf, -np.inf]
    assert np.isnan(NP.best_so_far([np.nan, 2.0])[0])


def test_op_distribution_and_save_edge_cases(tmp_path, nb201) -> None:
    from nagen.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="no sample set"):
        NP.op_distribution("nb201", {}, reference=False)  # was ZeroDivisionError
    ax = NP.op_distribution("nb201", {"strings": [BEST]}, reference=False)  # strings are parsed
    assert abs(sum(p.get_height() for p in ax.patches) - 1.0) < 1e-9
    assert NP.save(ax, tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"  # the Axes every function returns
    (tmp_path / "d.png").mkdir()
    (tmp_path / "f").write_text("")
    for path, match in ((tmp_path / "d.png", "it is a folder"), (tmp_path / "f" / "a.png", "is not a folder")):
        with pytest.raises(InvalidArgumentError, match=match):
            NP.save(ax.figure, path)
    with pytest.raises(InvalidArgumentError, match="dpi must be a positive integer"):
        NP.save(ax.figure, tmp_path / "b.png", dpi=0)
    with pytest.raises(InvalidArgumentError, match="figure or axes"):
        NP.save(None, tmp_path / "b.png")


# ---------------------------------------------------------------- pareto_front geometry
def _plotted_objectives(ax, xy: np.ndarray) -> np.ndarray:
    """Plot coordinates ``(x, y)`` back in objective order (objectives named "a" and "b")."""
    return xy if ax.get_xlabel().startswith("a ") else xy[:, ::-1]


def _shaded_area(ax) -> float:
    """Total shoelace area of the paths of the shaded region (fill_between's PolyCollection)."""
    from matplotlib.collections import PolyCollection

    fills = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(fills) == 1, fills
    area = 0.0
    for path in fills[0].get_paths():
        v = path.vertices
        x, y = v[:, 0], v[:, 1]
        area += 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return area


def _weakly_dominated(v: np.ndarray, front: np.ndarray, directions) -> bool:
    """Whether some row of ``front`` is at least as good as ``v`` in every objective."""
    sign = np.array([1.0 if d == "max" else -1.0 for d in directions])
    return bool(((front * sign) >= v * sign - 1e-12).all(axis=1).any())


@pytest.mark.parametrize("directions", [("max", "max"), ("max", "min"), ("min", "max"), ("min", "min")])
def test_pareto_front_staircase_and_shaded_region_match_the_hypervolume(directions) -> None:
    """The shaded area is the hypervolume and no staircase or region corner lies where no point reaches.

    The points are one layout mirrored (c -> 10 - c) in each minimised column, so the true
    geometry is the same for every direction pair; (0.5, 5) and (4, 0.2) are on the front but
    worse than the reference in one objective, and (1.5, 1.5) is dominated.
    """
    from nagen.multiobjective import hypervolume, non_dominated

    base = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.5, 1.5], [0.5, 5.0], [4.0, 0.2]])
    base_ref = np.array([0.7, 0.5])
    flip = np.array([d == "min" for d in directions])
    pts = np.where(flip, 10.0 - base, base)
    ref = np.where(flip, 10.0 - base_ref, base_ref)
    ax = NP.pareto_front(pts, directions=directions, names=("a", "b"), ref_point=ref)
    hv = hypervolume(pts, list(directions), ref)
    assert hv == pytest.approx(0.3 * 2.5 + 1.0 * 1.5 + 1.0 * 0.5)  # boxes of (1, 3), (2, 2), (3, 1) above (0.7, 0.5)
    assert _shaded_area(ax) == pytest.approx(hv, rel=1e-6)
    front = pts[non_dominated(pts, list(directions))]
    sign = np.array([1.0 if d == "max" else -1.0 for d in directions])
    # the staircase: the first line drawn; it passes through every front point and each of its
    # corners is weakly dominated by a front point (none sits in an empty region)
    stairs = _plotted_objectives(ax, np.asarray(ax.lines[0].get_xydata()))
    assert {tuple(p) for p in front} <= {tuple(v) for v in stairs}
    assert all(_weakly_dominated(v, front, directions) for v in stairs), stairs
    # the shaded region's vertices: each weakly dominated by a front point and no worse than the reference
    from matplotlib.collections import PolyCollection

    fill = next(c for c in ax.collections if isinstance(c, PolyCollection))
    verts = _plotted_objectives(ax, np.vstack([p.vertices for p in fill.get_paths()]))
    assert all(_weakly_dominated(v, front, directions) for v in verts), verts
    assert ((verts * sign) >= ref * sign - 1e-12).all(), verts
    matplotlib.pyplot.close(ax.figure)


def test_pareto_front_both_maximised_has_corners_between_the_points() -> None:
    """The reviewer's case: (1, 3), (2, 2), (3, 1), both maximised, reference (0, 0)."""
    ax = NP.pareto_front([[1, 3], [2, 2], [3, 1]], directions=["max", "max"], names=("a", "b"), ref_point=[0, 0])
    stairs = {tuple(v) for v in _plotted_objectives(ax, np.asarray(ax.lines[0].get_xydata()))}
    assert stairs == {(1.0, 3.0), (1.0, 2.0), (2.0, 2.0), (2.0, 1.0), (3.0, 1.0)}  # corners (1, 2) and (2, 1)
    assert _shaded_area(ax) == pytest.approx(6.0)
    matplotlib.pyplot.close(ax.figure)


def test_pareto_front_true_front_staircase_follows_the_directions() -> None:
    true = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    for directions in (("max", "max"), ("min", "min"), ("max", "min"), ("min", "max")):
        flip = np.array([d == "min" for d in directions])
        T = np.where(flip, -true, true)
        ax = NP.pareto_front(T, directions=directions, names=("a", "b"), true_front=T)
        dashed = next(line for line in ax.lines if line.get_linestyle() == "--")
        corners = _plotted_objectives(ax, np.asarray(dashed.get_xydata()))
        assert len(corners) == 5 and all(_weakly_dominated(v, T, directions) for v in corners), (directions, corners)
        matplotlib.pyplot.close(ax.figure)


# ---------------------------------------------------------------- search_runs / nagen plot trace
def _run(values, method="re", seed=0, objective="cifar10_valid_12ep", direction="max", space="nb201") -> dict:
    """A hand-written ``nagen search --json`` object (keys left out when given None)."""
    out = {"history": [{"arch": BEST, "value": float(v)} for v in values],
           "best": {"arch": BEST, "value": float((max if direction != "min" else min)(values))} if values else None,
           "space": space, "objective": objective, "direction": direction, "method": method, "seed": seed}
    return {k: v for k, v in out.items() if v is not None or k == "best"}


def test_search_traces_carry_an_early_stopped_seed_forward() -> None:
    # seed 0 stopped after 2 labels (e.g. it found the optimum): it used to cut the curve to 2 labels
    ax = NP.search_traces({"m": [[1.0, 3.0], [2.0, 1.0, 4.0, 5.0]]})
    line = ax.lines[0]
    assert line.get_xdata().tolist() == [1, 2, 3, 4]
    assert np.allclose(line.get_ydata(), np.median([[1, 3, 3, 3], [2, 2, 4, 5]], axis=0))
    ax = NP.search_traces({"m": [[5.0, 2.0], [4.0, 6.0, 3.0]]}, maximize=False)  # running min, carried forward
    assert np.allclose(ax.lines[0].get_ydata(), np.median([[5, 2, 2], [4, 4, 3]], axis=0))
    assert "25%-75%" in ax.get_legend().get_title().get_text()  # the band is named
    with pytest.raises(NagenError, match=r"no trace to plot for traces\['m'\]: seed\(s\) \[1\] have no value"):
        NP.search_traces({"m": [[1.0], []]})  # was silently dropped with the whole method
    matplotlib.pyplot.close("all")


def test_search_runs_draws_one_line_per_method_over_its_seeds() -> None:
    runs = [_run([90, 93, 92, 94], seed=0), _run([91, 90, 95, 95], seed=1), _run([89, 92, 92, 93], method="random")]
    ax = NP.search_runs(runs)
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # a median line and a band per method
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["re (2 seeds)", "random (1 seed)"]
    assert np.allclose(ax.lines[0].get_ydata(), np.median([[90, 93, 93, 94], [91, 91, 95, 95]], axis=0))
    assert np.allclose(ax.lines[1].get_ydata(), [89, 92, 92, 93])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]  # 25-75% quantiles of the two seeds
    assert band.min() == pytest.approx(np.quantile([90, 91], 0.25)) and band.max() == pytest.approx(np.quantile([94, 95], 0.75))
    assert ax.get_ylabel() == "best cifar10_valid_12ep found" and ax.get_xlabel() == "labels paid"
    # an early-stopped seed (found the optimum after 2 labels) is carried forward, not cut
    ax = NP.search_runs([_run([90, 95]), _run([91, 92, 93, 94], seed=1)])
    assert np.allclose(ax.lines[0].get_ydata(), [90.5, 93.5, 94.0, 94.5])
    matplotlib.pyplot.close("all")


def test_search_runs_minimises_when_the_runs_say_so(tmp_path) -> None:
    runs = [_run([5.0, 3.0, 4.0], objective="params", direction="min"), _run([4.0, 6.0, 1.0], seed=1, objective="params", direction="min")]
    ax = NP.search_runs(runs)
    assert np.allclose(ax.lines[0].get_ydata(), np.median([[5, 3, 3], [4, 4, 1]], axis=0))  # running min
    with pytest.raises(NagenError, match="asked to maximise, but the runs say their objective 'params' is minimised"):
        NP.search_runs(runs, maximize=True)
    # files without a method (old files) are a line each, named after the file; --minimize still works
    old = [{"history": r["history"], "best": r["best"]} for r in runs]
    paths = []
    for k, r in enumerate(old):
        paths.append(tmp_path / f"old{k}.json")
        paths[-1].write_text(json.dumps(r))
    ax = NP.search_runs(paths, maximize=False)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"{p} (1 seed)" for p in paths]
    assert np.allclose(ax.lines[1].get_ydata(), [4, 4, 1])
    matplotlib.pyplot.close("all")


def test_search_runs_reject_what_is_no_search_json_with_named_errors(tmp_path) -> None:
    from nagen.errors import InvalidArgumentError

    good = _run([90.0, 91.0])
    lines = tmp_path / "gen.json"
    lines.write_text('{"arch": "a"}\n{"arch": "b"}\n')  # 'nagen generate --json' output
    cases = [
        ([{"a": 1}], r"'runs\[0\]' is not the output of 'nagen search --json' \(no \"history\"\)"),
        ([lines], "is not the output of 'nagen search --json' .not one JSON object"),
        ([tmp_path / "missing.json"], "cannot read .*missing.json"),
        ([{"history": [{"arch": BEST, "values": {"a": 1.0}}]}], "use 'nagen plot pareto'"),
        ([{"history": [{"arch": BEST, "value": "high"}]}], r"history\[0\] has value 'high', not a number"),
        ([good, _run([])], r"'runs\[1\]' has an empty history"),
        ([good, _run([90.0], objective="cifar100_valid_12ep")],
         r"different objectives in one figure: objective differs \('runs\[0\]' has 'cifar10_valid_12ep', 'runs\[1\]' has 'cifar100_valid_12ep'\)"),
        ([good, _run([90.0], direction="min")], "different objectives in one figure: direction differs"),
        ([good, _run([90.0], space="nb101")], "different objectives in one figure: space differs"),
        ([], "no run to plot"),
    ]
    for runs, match in cases:
        with pytest.raises(InvalidArgumentError, match=match):
            NP.search_runs(runs)
    with pytest.raises(InvalidArgumentError, match="sources must name each"):
        NP.search_runs([good], sources=["a", "b"])
    with pytest.raises(InvalidArgumentError, match="runs must be a list"):
        NP.search_runs(good)


def test_cli_plot_trace_groups_seeds_and_names_bad_files(tmp_path, capsys, monkeypatch) -> None:
    drawn = []
    real_save = NP.save
    monkeypatch.setattr(NP, "save", lambda fig, path: drawn.append(fig) or real_save(fig, path))
    files = []
    for k, run in enumerate([_run([90, 93, 92]), _run([91, 90, 95], seed=1), _run([92, 92, 94], method="bo")]):
        files += ["--input", str(tmp_path / f"r{k}.json")]
        (tmp_path / f"r{k}.json").write_text(json.dumps(run))
    out = str(tmp_path / "t.png")
    assert main(["plot", "trace", *files, "--out", out, "--quiet"]) == 0
    ax = drawn[-1].axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    assert np.allclose(ax.lines[0].get_ydata(), [90.5, 92.0, 94.0])
    (tmp_path / "e.json").write_text(json.dumps(_run([])))
    (tmp_path / "m.json").write_text(json.dumps(_run([1.0, 2.0], objective="params", direction="min")))
    for extra, fragment in (("e.json", "has an empty history"), ("m.json", "different objectives in one figure")):
        assert main(["plot", "trace", *files, "--input", str(tmp_path / extra), "--out", out]) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.startswith("nagen: error:") and err.count("\n") == 1, err
    # --minimize against a file that says it maximises is refused, not silently obeyed
    assert main(["plot", "trace", *files, "--minimize", "--out", out]) == 2
    assert "asked to minimise" in capsys.readouterr().err
    matplotlib.pyplot.close("all")


def test_search_runs_keep_setups_apart_and_refuse_a_seed_twice() -> None:
    """Runs of one method with other surrogates were pooled as seeds, and one file given twice
    counted as two seeds."""
    gnn = dict(_run([90, 93], seed=0, method="bo"), setup={"batch_size": 1, "surrogate": "gnn", "initial": "zc"})
    gp0 = dict(_run([91, 92], seed=0, method="bo"), setup={"batch_size": 1, "surrogate": "auto", "initial": "zc"})
    gp1 = dict(_run([89, 94], seed=1, method="bo"), setup={"batch_size": 1, "surrogate": "auto", "initial": "zc"})
    ax = NP.search_runs([gnn, gp0, gp1, _run([88, 90], method="re")])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "bo [surrogate=gnn] (1 seed)", "bo [surrogate=auto] (2 seeds)", "re (1 seed)"
    ]
    with pytest.raises(NagenError, match=r"'runs\[0\]' and 'runs\[1\]' are the same run \(method 'bo', seed 1"):
        NP.search_runs([gp1, gp1])
    matplotlib.pyplot.close("all")


def test_search_json_records_the_setup() -> None:
    import nagen

    res = nagen.search("nb201", "cifar10_valid_12ep", budget=3, seed=0, method="re").to_dict()
    assert res["setup"] == {"batch_size": 1}
    res = nagen.search("nb201", "cifar10_valid_12ep", budget=6, seed=0, surrogate="gp").to_dict()
    assert res["setup"] == {"batch_size": 1, "surrogate": "gp", "initial": "zc"}


def test_pareto_front_draws_a_pareto_result_with_its_own_axes_and_reference_point() -> None:
    from nagen.multiobjective import Objective, ParetoResult

    hist = [{"arch": f"a{i}", "values": {"acc": a, "params": p, "lat": l}}
            for i, (a, p, l) in enumerate([(90.0, 3.0, 1.0), (92.0, 5.0, 2.0), (89.0, 4.0, 0.5), (93.0, 9.0, 3.0)])]
    objs = [Objective("acc", "max"), Objective("params", "min"), Objective("lat", "min")]
    r = ParetoResult(history=hist, front=hist, hypervolume=1.0, ref_point={"acc": 85.0, "params": 10.0, "lat": 4.0}, objectives=objs)
    # three objectives: which two to draw must be said, and the message names the option
    with pytest.raises(NagenError, match=r"draws two objectives, got 3.*pick two with objectives="):
        NP.pareto_front(r)
    ax = NP.pareto_front(r, objectives="acc:max,params:min")
    assert ax.get_xlabel() == "params (min)" and ax.get_ylabel() == "acc (max)"  # cost on x, accuracy on y
    # the result's reference point is drawn for the chosen pair
    ref = [c for c in ax.collections if c.get_label() == "reference point"][0]
    assert ref.get_offsets().tolist() == [[10.0, 85.0]]
    # a to_dict() (as saved by 'nagen pareto --json') draws the same; (90, 3), (92, 5), (93, 9) are the front
    ax2 = NP.pareto_front(r.to_dict(), objectives=["acc:max", "params:min"])
    assert [c.get_label() for c in ax2.collections if c.get_label().startswith("labelled: front")] == ["labelled: front (3)"]
    with pytest.raises(NagenError, match="objectives= picks two objectives of a pareto result"):
        NP.pareto_front(np.zeros((3, 2)), objectives="acc:max,params:min")
    with pytest.raises(NagenError, match=r"objectives \['x'\] are not in its values"):
        NP.pareto_front(r, objectives="acc:max,x:min")
