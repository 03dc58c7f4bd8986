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
