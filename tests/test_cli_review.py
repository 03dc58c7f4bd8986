"""The ``nagen`` command line: fixes from a user review (repeated flags, ``plot ops --checkpoint``,
one-line checkpoint errors, metric discovery, ignored generate flags, subcommand help hints,
``--n 0`` summary, self-describing pareto files)."""

from __future__ import annotations

import json

import pytest

import nagen.api
from nagen.cli import build_parser, main


from cli_run import run_cli as _run  # noqa: E402


@pytest.fixture(scope="module")
def nb201_checkpoint(tmp_path_factory):
    """The shipped NB201 diffusion model saved as a file (no training)."""
    from nagen.generators.diffusion import DiffusionGenerator

    return DiffusionGenerator.pretrained("nb201").save(tmp_path_factory.mktemp("ckpt") / "nb201.pt")


# ------------------------------------------------------------------------- 1. repeated flags accumulate
@pytest.mark.parametrize(
    "argv, dest",
    [
        (["search", "--objective", "x", "--report", "a", "--report", "b"], "report"),
        (["search", "--objective", "x", "--transfer-from", "a", "--transfer-from", "b"], "transfer_from"),
        (["generate", "--transfer-from", "a", "--transfer-from", "b"], "transfer_from"),
        (["pareto", "--objectives", "a", "--objectives", "b"], "objectives"),
        (["pareto", "--objectives", "a,b", "--report", "a", "--report", "b"], "report"),
        (["plot", "pareto", "--out", "f.png", "--objectives", "a", "--objectives", "b"], "objectives"),
    ],
)
def test_repeated_single_value_flags_are_joined_as_a_comma_list(argv, dest) -> None:
    # argparse kept only the last occurrence ("b")
    assert getattr(build_parser().parse_args(argv), dest) == "a,b"


def test_search_reports_every_repeated_report_metric(capsys) -> None:
    argv = ["search", "--objective", "cifar10_valid_12ep", "--budget", "3", "--method", "random",
            "--report", "cifar10_test", "--report", "cifar100_test", "--json", "--quiet"]
    assert main(argv) == 0
    assert set(json.loads(capsys.readouterr().out)["best"]["report"]) == {"cifar10_test", "cifar100_test"}


def test_pareto_objectives_may_be_repeated(capsys) -> None:
    argv = ["pareto", "--objectives", "cifar10_test:max", "--objectives", "params:min", "--budget", "4",
            "--method", "random", "--json", "--quiet"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["objectives"] == ["cifar10_test:max", "params:min"]


def test_repeated_flag_help_says_so() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command, flag in [("search", "--report"), ("search", "--transfer-from"), ("pareto", "--report"),
                          ("pareto", "--objectives"), ("generate", "--transfer-from"), ("plot", "--objectives")]:
        action = next(a for a in sub[command]._actions if flag in a.option_strings)
        assert "comma-separated or repeated" in action.help, (command, flag)


# ------------------------------------------------------------------------- 2. plot ops --checkpoint
def test_plot_ops_generates_from_the_checkpoint_with_a_progress_bar(tmp_path, generate_calls, nb201_checkpoint) -> None:
    from nagen.generators.diffusion import DiffusionGenerator

    out = str(tmp_path / "ops.png")
    assert main(["plot", "ops", "--space", "nb201", "--n", "4", "--checkpoint", str(nb201_checkpoint), "--out", out]) == 0
    assert isinstance(generate_calls[-1]["generator"], DiffusionGenerator) and generate_calls[-1]["progress"] is True
    assert main(["plot", "ops", "--space", "nb201", "--n", "4", "--out", out, "--quiet"]) == 0
    assert generate_calls[-1]["generator"] is None and generate_calls[-1]["progress"] is False


def test_plot_ops_from_a_checkpoint_trains_nothing(tmp_path, monkeypatch, capsys, nb201_checkpoint) -> None:
    from nagen.generators.diffusion import DiffusionGenerator

    def no_fit(self, *args, **kwargs):
        raise AssertionError("plot ops --checkpoint trained a model")

    monkeypatch.setattr(DiffusionGenerator, "fit", no_fit)
    out = tmp_path / "ops.png"
    argv = ["plot", "ops", "--space", "nb201", "--n", "5", "--checkpoint", str(nb201_checkpoint), "--out", str(out), "--quiet"]
    assert main(argv) == 0 and out.is_file()


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["trace", "--input", "x.json"], "does nothing with 'plot trace'"),
        (["ops", "--input", "x.json"], "does nothing with --input"),
    ],
)
def test_plot_checkpoint_where_nothing_is_generated_is_refused(tmp_path, capsys, nb201_checkpoint, extra, fragment) -> None:
    argv = ["plot", *extra, "--checkpoint", str(nb201_checkpoint), "--out", str(tmp_path / "a.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


# ------------------------------------------------------------------------- 3. not a checkpoint: one line
@pytest.mark.parametrize("command", ["generate", "plot"])
def test_a_file_that_is_no_checkpoint_is_one_line(tmp_path, capsys, command) -> None:
    bogus = tmp_path / "some_file.py"
    bogus.write_text("print('hello')\n")
    argv = {"generate": ["generate", "--n", "3", "--checkpoint", str(bogus), "--quiet"],
            "plot": ["plot", "ops", "--n", "3", "--checkpoint", str(bogus), "--out", str(tmp_path / "o.png"), "--quiet"]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    # was torch's whole weights_only explanation, several lines long
    assert err.count("\n") == 1, err
    assert f"{bogus} is not a nagen generator checkpoint (UnpicklingError: " in err and "weights_only" not in err


def test_a_checkpoint_of_another_space_keeps_its_message(capsys, nb201_checkpoint) -> None:
    assert main(["generate", "--space", "nb101", "--n", "2", "--checkpoint", str(nb201_checkpoint), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "was trained on space 'nb201', not 'nb101'" in err and err.count("\n") == 1


# ------------------------------------------------------------------------- 4. info lists the metrics
def test_info_json_lists_each_tables_metrics_with_direction(capsys) -> None:
    assert main(["info", "--space", "nb201", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["benchmarks"] == ["nb201"] and {"name", "size", "example", "example_cost"} <= set(info)
    metrics = info["metrics"]["nb201"]
    assert metrics["cifar10_valid_12ep"] == "max" and metrics["lat_pixel2_ms"] == "min" and metrics["params"] == "min"


def test_info_text_shows_the_metrics_compactly(capsys) -> None:
    assert main(["info", "--space", "nb201"]) == 0
    lines = capsys.readouterr().out.splitlines()
    block = "\n".join(lines[next(k for k, line in enumerate(lines) if line.startswith("metrics nb201")):])
    assert "max: cifar10_test" in block and "cifar10_valid_12ep" in block and "min: params, flops" in block
    assert "lat_<device>_ms for 27 devices:" in block and "pixel2" in block and "lat_pixel2_ms" not in block
    assert all(len(line) <= 130 for line in lines[-6:])  # wrapped, not one 800-character line


def test_info_of_a_space_without_a_table_says_so(capsys) -> None:
    assert main(["info", "--space", "nb101", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == {}
    assert main(["info", "--space", "nb101"]) == 0
    assert "no benchmark table" in capsys.readouterr().out


# ------------------------------------------------------------------------- 5. ignored generate flags
@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--method", "opgfn", "--guide", "cifar10_test", "--scale", "50"], "--scale weights the metric guides of --method diffusion"),
        (["--method", "random", "--scale", "2"], "--method random is not steered by it"),
        (["--method", "random", "--max-params", "1e6", "--constraint-scale", "3"], "--method random applies constraints as filters only"),
        (["--method", "opgfn", "--guide", "cifar10_test", "--max-params", "1e6", "--constraint-scale", "3"], "--constraint-scale"),
        (["--method", "random", "--guide-labels", "20"], "--guide-labels sets the labelled cells"),
        (["--method", "random", "--max-params", "1e6", "--guide-labels", "20"], "nothing is fitted"),
        (["--guide-labels", "20"], "nothing is fitted"),  # diffusion without a guide fits nothing either
    ],
)
def test_generate_refuses_flags_the_method_ignores(capsys, generate_calls, extra, fragment) -> None:
    assert main(["generate", "--n", "2", *extra, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and not generate_calls  # refused before any work


@pytest.mark.parametrize(
    "extra, passed",
    [
        (["--scale", "2", "--guide", "cifar10_test"], {"scale": 2.0}),
        (["--constraint-scale", "0", "--max-params", "1e6"], {"constraint_scale": 0.0}),
        (["--method", "opgfn", "--guide", "cifar10_test", "--guide-labels", "20"], {"guide_labels": 20}),  # the OP-GFN reward's labels
        # a latency bound fits a cost predictor on labelled cells, whatever the method
        (["--method", "random", "--constraint", "lat_pixel2_ms<=18", "--guide-labels", "20"], {"guide_labels": 20}),
    ],
)
def test_generate_passes_the_flags_a_method_uses(generate_calls, extra, passed) -> None:
    assert main(["generate", "--n", "2", *extra, "--quiet"]) == 0
    assert {k: generate_calls[-1].get(k) for k in passed} == passed


def test_generate_leaves_unset_weights_to_the_library(generate_calls) -> None:
    assert main(["generate", "--n", "2", "--method", "random", "--quiet"]) == 0
    assert "constraint_scale" not in generate_calls[-1] and "guide_labels" not in generate_calls[-1]


# ------------------------------------------------------------------------- 6. unrecognized arguments
@pytest.mark.parametrize("command", [["generate"], ["search", "--objective", "cifar10_test"], ["plot", "ops", "--out", "o.png"]])
def test_unrecognized_argument_points_to_the_subcommand_help(capsys, command) -> None:
    assert _run([*command, "--bogus", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"nagen: error: unrecognized arguments: --bogus 1 (see 'nagen {command[0]} --help')\n"


def test_unrecognized_argument_before_the_subcommand_points_to_nagen_help(capsys) -> None:
    assert _run(["--bogus", "spaces"]) == 2
    assert "(see 'nagen --help')" in capsys.readouterr().err


# ------------------------------------------------------------------------- 7. --n 0 summary
def test_generate_nothing_prints_no_nan_validity(capsys) -> None:
    assert main(["generate", "--n", "0", "--method", "random"]) == 0
    err = capsys.readouterr().err
    assert "0 architectures, validity –," in err and "nan" not in err


# ------------------------------------------------------------------------- 8. self-describing pareto files
def test_pareto_json_says_how_it_was_run(capsys) -> None:
    argv = ["pareto", "--objectives", "cifar10_test:max,params:min", "--budget", "4", "--method", "random", "--seed", "3",
            "--json", "--quiet"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("space", "method", "seed", "objectives")} == {
        "space": "nb201", "method": "random", "seed": 3, "objectives": ["cifar10_test:max", "params:min"]}
    assert len(out["ref_point"]) == 2 and all(isinstance(v, float) for v in out["ref_point"])


@pytest.fixture
def drawn_fronts(monkeypatch):
    """The keywords of every ``nagen.plot.pareto_front`` call (the real drawing still runs)."""
    import nagen.plot as NP

    calls: list[dict] = []
    real = NP.pareto_front
    monkeypatch.setattr(NP, "pareto_front", lambda pts, **kw: calls.append(kw) or real(pts, **kw))
    return calls


def test_plot_pareto_reads_the_objectives_from_the_file(tmp_path, capsys, drawn_fronts) -> None:
    argv = ["pareto", "--objectives", "cifar10_test:max,params:min", "--budget", "4", "--method", "random", "--json", "--quiet"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(out))
    assert main(["plot", "pareto", "--input", str(path), "--out", str(tmp_path / "a.png"), "--quiet"]) == 0
    assert drawn_fronts[-1]["names"] == ["cifar10_test", "params"] and drawn_fronts[-1]["ref_point"] == out["ref_point"]
    # an explicit --objectives still works, and the file's reference point follows its order
    argv = ["plot", "pareto", "--input", str(path), "--objectives", "params:min,cifar10_test:max", "--out", str(tmp_path / "b.png")]
    assert main(argv + ["--quiet"]) == 0
    assert drawn_fronts[-1]["names"] == ["params", "cifar10_test"] and drawn_fronts[-1]["ref_point"] == out["ref_point"][::-1]


def test_plot_pareto_objectives_flag_picks_two_of_a_files_three(tmp_path, capsys, drawn_fronts) -> None:
    # the file's objectives used to win over the flag: "draws two objectives, got 3" whatever was passed
    rows = [{"arch": f"a{k}", "values": {"acc": 90.0 - k, "params": 1e5 * (3 - k), "lat": 1.0 + k}} for k in range(3)]
    data = {"history": rows, "front": rows, "hypervolume": 1.0, "objectives": ["acc:max", "params:min", "lat:min"],
            "ref_point": {"acc": 80.0, "params": 4e5, "lat": 5.0}}  # ParetoResult.to_json's {metric: value} form
    path = tmp_path / "p3.json"
    path.write_text(json.dumps(data))
    argv = ["plot", "pareto", "--input", str(path), "--objectives", "acc:max", "--objectives", "lat:min", "--out", str(tmp_path / "c.png"), "--quiet"]
    assert main(argv) == 0
    assert drawn_fronts[-1]["names"] == ["acc", "lat"] and drawn_fronts[-1]["ref_point"] == [80.0, 5.0]
    assert main(["plot", "pareto", "--input", str(path), "--out", str(tmp_path / "d.png"), "--quiet"]) == 2
    assert "pick two with --objectives" in capsys.readouterr().err


def test_sample_counts_params_of_a_space_without_table(capsys) -> None:
    """`nagen info` says params are counted; `nagen sample --metric params` refused a space with no table."""
    import json as _json
    from pathlib import Path

    import nagen.spaces
    from nagen.cli import main

    spec = str(Path(__file__).parent.parent / "examples/spaces/tiny_dag.json")
    assert main(["sample", "--space", spec, "--n", "3", "--metric", "params", "--json"]) == 0
    rows = [_json.loads(x) for x in capsys.readouterr().out.splitlines()]
    sp = nagen.spaces.from_spec(spec)
    assert len(rows) == 3 and all(r["params"] == sp.cost(r["arch"])["params"] for r in rows)
