"""The ``nagen`` command line: output formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nagen.cli import main


def test_spaces_json(capsys) -> None:
    assert main(["spaces", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"nb201", "nb101", "mbv3"} <= {r["name"] for r in rows}
    assert next(r for r in rows if r["name"] == "nb201")["size"] == 15625


def test_info(capsys) -> None:
    assert main(["info", "--space", "nb201", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["max_nodes"] == 8 and info["benchmarks"] == ["nb201"]
    assert set(info["example_cost"]) == {"params", "flops"}


def test_sample_json_lines_are_seeded(capsys) -> None:
    assert main(["sample", "--space", "nb201", "--n", "4", "--seed", "3", "--metric", "cifar10_test", "--json"]) == 0
    first = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert main(["sample", "--space", "nb201", "--n", "4", "--seed", "3", "--metric", "cifar10_test", "--json"]) == 0
    second = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert first == second and len(first) == 4
    assert all(r["arch"].startswith("|") and 0 < r["cifar10_test"] < 100 and len(r["hash"]) == 32 for r in first)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["sample", "--space", "nope"], "could not resolve search space 'nope'"),
        (["sample", "--space", "nb201", "--metric", "acc"], "no metric 'acc'"),
        (["sample", "--space", "nb201", "--n", "-1"], "--n must be >= 0"),
        (["sample", "--space", "nb201", "--n", "x"], "invalid int value"),
        (["info"], "required: --space"),
        (["frobnicate"], "invalid choice"),
        (["train", "--steps", "1", "--out", "/nonexistent-dir/x.pt", "--quiet"], "folder '/nonexistent-dir' does not exist"),
        (["plot", "arch", "--arch", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--out", "/nonexistent-dir/a.png"],
         "folder '/nonexistent-dir' does not exist"),
        (["generate", "--n", "2", "--steps", "-1", "--quiet"], "--steps must be a positive integer"),
        (["generate", "--n", "2", "--device-samples", "5", "--quiet"], "--device-samples needs a device latency --constraint"),
        (["generate", "--n", "2", "--guide", "cifar10_test", "--guide-labels", "-5", "--quiet"], "--guide-labels must be an integer >= 2"),
        (["train", "--steps", "1", "--hidden", "0", "--out", "h0.pt", "--quiet"], "--hidden must be a positive integer"),
        # messages name the flags, not the Python arguments behind them (used to say "seed", "device_samples", ...)
        (["generate", "--n", "2", "--seed", "-1", "--quiet"], "--seed must be a non-negative integer, got -1"),
        (["generate", "--n", "2", "--scale", "nan", "--quiet"], "--scale must be a finite number >= 0, got nan"),
        (["generate", "--n", "2", "--max-params", "nan", "--quiet"], "--max-params must be a finite number > 0, got nan"),
        (["generate", "--n", "2", "--max-params", "1e6", "--constraint", "params<=2e6", "--quiet"],
         "--max-params and --constraint 'params<=2e+06' both bound params"),
        (["generate", "--n", "2", "--method", "random", "--steps", "5", "--quiet"], "--steps sets reverse-diffusion steps"),
        (["sample", "--space", "nb201", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
        (["train", "--steps", "1", "--layers", "0", "--out", "l0.pt", "--quiet"], "--layers must be a positive integer"),
        (["search", "--objective", "cifar10_test", "--device-samples", "3", "--quiet"], "--device-samples needs a device latency --constraint"),
        (["search", "--objective", "cifar10_test", "--device-samples", "4", "--constraint", "params<=1e6", "--quiet"],
         "--device-samples needs a device latency --constraint"),
        (["search", "--objective", "cifar10_test", "--seed", "-1", "--quiet"], "--seed must be a non-negative integer"),
        (["pareto", "--objectives", "cifar10_test:max,params:min", "--ref-point", "1", "--quiet"], "--ref-point needs 2 finite numbers"),
        (["pareto", "--objectives", "cifar10_test:max,params:min", "--ref-point", "1,nan", "--quiet"], "--ref-point needs 2 finite numbers"),
        (["plot", "ops", "--n", "-1", "--out", "ops.png", "--quiet"], "--n must be a non-negative integer"),
        # empty values are malformed, not "use the default" (used to be silently ignored)
        (["pareto", "--objectives", "cifar10_test:max,params:min", "--ref-point", "", "--quiet"], "--ref-point must be comma-separated numbers"),
        (["pareto", "--objectives", "cifar10_test:max,params:min", "--report", "", "--quiet"], "--report names an empty metric"),
        (["search", "--objective", "cifar10_test", "--report", "", "--quiet"], "report names an empty metric"),
        (["search", "--objective", "cifar10_test", "--budget", "20000", "--quiet"], "budget 20000 exceeds the 15,625 architectures"),
        (["sample", "--space", "nb101", "--benchmark", "nb201", "--metric", "cifar10_test"], "benchmark 'nb201' labels space 'nb201', not 'nb101'"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and err.startswith("nagen: error:")


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nagen", "sample", "--space", "nb201", "--n", "2", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert len(out.splitlines()) == 2


def test_search_json_contract(capsys) -> None:
    argv = ["search", "--space", "nb201", "--objective", "cifar10_test", "--budget", "6", "--seed", "0", "--method", "re", "--json", "--quiet"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    values = [r["value"] for r in out["history"]]
    assert len(values) == 6 and all(r["arch"].startswith("|") for r in out["history"])
    assert out["best"]["value"] == max(values)
    assert {k: out[k] for k in ("space", "objective", "direction", "method", "seed")} == {
        "space": "nb201", "objective": "cifar10_test", "direction": "max", "method": "re", "seed": 0}
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == out  # same seed, same search


def test_search_json_files_of_two_seeds_plot_as_one_line(tmp_path, capsys, monkeypatch) -> None:
    import nagen.plot as NP

    drawn = []
    real_save = NP.save
    monkeypatch.setattr(NP, "save", lambda fig, path: drawn.append(fig) or real_save(fig, path))
    inputs, best = [], []
    for seed in (0, 1):
        argv = ["search", "--objective", "params", "--budget", "4", "--seed", str(seed), "--method", "random", "--json", "--quiet"]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        best.append(np.minimum.accumulate([r["value"] for r in out["history"]]))
        (tmp_path / f"s{seed}.json").write_text(json.dumps(out))
        inputs += ["--input", str(tmp_path / f"s{seed}.json")]
    assert main(["plot", "trace", *inputs, "--out", str(tmp_path / "t.png"), "--quiet"]) == 0
    ax = drawn[-1].axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 1  # one method: one median line, one band
    assert np.allclose(ax.lines[0].get_ydata(), np.median(best, axis=0))  # params is minimised: running min


@pytest.mark.parametrize("method", ["random", "bo"])
def test_pareto_json_contract(capsys, method) -> None:
    argv = ["pareto", "--objectives", "cifar10_test:max,params:min", "--budget", "12", "--method", method, "--json", "--quiet"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["history"]) == 12 and 1 <= len(out["front"]) <= 12 and out["hypervolume"] >= 0
    assert set(out["history"][0]["values"]) == {"cifar10_test", "params"}
    assert out["objectives"] == ["cifar10_test:max", "params:min"] and len(out["ref_point"]) == 2


def test_warnings_are_one_line_on_the_command_line(tmp_path, capsys) -> None:
    # a search whose budget exceeds the distinct cells of a tiny space warns, then returns its labels
    import warnings

    from nagen.cli import main as cli_main

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = cli_main(["search", "--objective", "cifar10_test", "--budget", "3", "--method", "random", "--constraint",
                         "lat_pixel3_ms<=0.001", "--device-samples", "4", "--quiet"])
    err = capsys.readouterr().err
    assert code in (0, 2)
    assert all(line.startswith("nagen: ") for line in err.splitlines()), err


def test_pareto_text_output_shows_reported_values(capsys) -> None:
    argv = ["pareto", "--objectives", "cifar10_valid_12ep:max,params:min", "--budget", "6", "--method", "random",
            "--report", "cifar10_test", "--quiet"]
    assert main(argv) == 0
    front = capsys.readouterr().out.splitlines()[1:]
    assert front and all("cifar10_test=" in line and "(reported)" in line for line in front)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["pareto", "--objectives", "cifar10_test:max"], "at least two"),
        (["pareto", "--objectives", "cifar10_test,params:min"], "no direction"),
        (["pareto", "--objectives", "cifar10_test:max,params:min", "--batch-size", "0"], "--batch-size"),
        (["search", "--objective", "accuracy", "--budget", "3"], "accuracy"),
        (["search", "--objective", "cifar10_test", "--method", "magic"], "magic"),
        (["search", "--objective", "cifar10_test", "--study", "x"], "--storage"),
        (["search", "--objective", "cifar10_test", "--storage", "", "--study", "x"], "--storage"),  # "" is memory
    ],
)
def test_search_and_pareto_bad_input(capsys, argv, fragment) -> None:
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_generate_constraint_side_is_as_written(capsys) -> None:
    assert main(["generate", "--n", "3", "--method", "random", "--constraint", "params>=1e6", "--json", "--quiet"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(r["pred_params"] >= 1e6 for r in rows)


def test_plot_refuses_the_wrong_kind_of_file(tmp_path, capsys) -> None:
    pareto_out = tmp_path / "p.json"
    pareto_out.write_text(json.dumps({"history": [{"arch": "x", "values": {"a": 1.0, "b": 2.0}}]}))
    search_out = tmp_path / "s.json"
    search_out.write_text(json.dumps({"history": [{"arch": "x", "value": 1.0}]}))
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"a": 1}))
    cases = [
        (["plot", "trace", "--input", str(pareto_out), "--out", str(tmp_path / "a.png")], "use 'nagen plot pareto'"),
        (["plot", "pareto", "--input", str(search_out), "--objectives", "a:max,b:min", "--out", str(tmp_path / "a.png")],
         "use 'nagen plot trace'"),
        # without --objectives too: the kind of file is named before the missing flag
        (["plot", "pareto", "--input", str(search_out), "--out", str(tmp_path / "a.png")], "use 'nagen plot trace'"),
        (["plot", "ops", "--input", str(other), "--out", str(tmp_path / "a.png")], "holds no architectures"),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.startswith("nagen: error:"), err


def test_generate_from_a_trained_checkpoint(tmp_path, capsys) -> None:
    ckpt = tmp_path / "g.pt"
    assert main(["train", "--space", "nb101", "--steps", "2", "--hidden", "8", "--layers", "1", "--out", str(ckpt), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["generate", "--space", "nb101", "--n", "2", "--checkpoint", str(ckpt), "--json", "--quiet"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(r["arch"].startswith("input;") for r in rows)
    assert main(["generate", "--n", "2", "--checkpoint", str(tmp_path / "none.pt"), "--quiet"]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys) -> None:
    # used to end in a traceback from deep inside whatever was running
    import nagen.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(nagen.cli, "_cmd_spaces", interrupted)
    assert main(["spaces"]) == 130
    assert capsys.readouterr().err == "nagen: interrupted\n"


def test_generate_zero_results_is_empty_json_lines(capsys) -> None:
    assert main(["generate", "--n", "0", "--guide", "cifar10_test", "--json", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_best_line_says_a_predicted_latency_is_unverified() -> None:
    from nagen.cli import _best_line

    best = {"arch": "a", "value": 70.0, "report": {"cifar100_test": 71.0}, "constraints": {
        "lat_pixel2_ms": {"value": 9.5, "source": "predicted", "ok": True},
        "params": {"value": 5e5, "source": "exact", "ok": True},
        "lat_fpga_ms": {"value": 4.2, "source": "measured", "ok": False},
    }}
    line = _best_line(best)
    assert "lat_pixel2_ms=9.5 (predicted, unverified)" in line and "params=5e+05 (exact, ok)" in line
    assert "lat_fpga_ms=4.2 (measured, VIOLATED)" in line and "cifar100_test=71.0000 (reported)" in line
