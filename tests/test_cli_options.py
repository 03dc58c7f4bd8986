"""The ``nagen`` command line: options that did nothing are refused, the trace legend of runs
whose setups hold different keys, the ``--json`` keys of transfer generation, ``plot ops --n 0``,
and the hint for a plugin package that is not on ``sys.path`` (fixes from a user review)."""

from __future__ import annotations

import json
import os
import sys
import uuid

import matplotlib
import pytest

matplotlib.use("Agg")

import nagen.plot as NP  # noqa: E402
from nagen.cli import _PLOT_OPTIONS, build_parser, main  # noqa: E402

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|"


from cli_run import run_cli as _run  # noqa: E402


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("nagen: error: ") and err.count("\n") == 1, err
    return err


# ------------------------------------------------------------------------- 1. generate: ignored options
@pytest.mark.parametrize(
    "extra, fragment",
    [
        # the transfer guide is the source-trained meta-predictor: no cell is labelled for it
        (["--guide", "cifar10_test", "--transfer-from", "cifar100_test", "--guide-labels", "10"],
         "--transfer-from generation pays no guide labels"),
        (["--guide", "cifar10_test", "--transfer-from", "cifar100_test", "--max-params", "1e6", "--guide-labels", "10"],
         "--transfer-from generation pays no guide labels"),
        (["--constraint-scale", "3"], "--constraint-scale weights the guidance of constraints; none was given"),
        (["--guide", "cifar10_test", "--constraint-scale", "3"], "none was given"),
        # a latency bound with --device-samples is adapted from device measurements, not fitted on labelled cells
        (["--constraint", "lat_pixel2_ms<=18", "--device-samples", "5", "--guide-labels", "20"], "nothing is fitted"),
    ],
)
def test_generate_refuses_options_that_change_nothing(capsys, generate_calls, extra, fragment) -> None:
    assert main(["generate", "--n", "2", *extra, "--quiet"]) == 2
    assert fragment in _one_error_line(capsys)
    assert not generate_calls  # refused before any work


@pytest.mark.parametrize(
    "extra, passed",
    [
        # a table-metric bound is fitted on labelled cells in a transfer generation too
        (["--guide", "cifar10_test", "--transfer-from", "cifar100_test", "--constraint", "cifar10_valid_12ep>=80",
          "--guide-labels", "20"], {"guide_labels": 20, "transfer_from": "cifar100_test"}),
        (["--constraint-scale", "3", "--max-params", "1e6"], {"constraint_scale": 3.0}),
        (["--constraint-scale", "3", "--constraint", "flops<=100"], {"constraint_scale": 3.0}),
        (["--guide", "cifar10_test", "--constraint", "lat_pixel2_ms<=18", "--device-samples", "5", "--guide-labels", "20"],
         {"guide_labels": 20, "device_samples": 5}),
    ],
)
def test_generate_still_passes_options_that_are_used(generate_calls, extra, passed) -> None:
    assert main(["generate", "--n", "2", *extra, "--quiet"]) == 0
    assert {k: generate_calls[-1].get(k) for k in passed} == passed


# ------------------------------------------------------------------------- 1. plot: options of another kind
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["arch", "--arch", ARCH, "--input", "f.json"],
         "--input does nothing with 'plot arch'; it is an option of 'plot ops', 'plot trace' and 'plot pareto' only"),
        (["arch", "--arch", ARCH, "--n", "5"], "--n does nothing with 'plot arch'; it is an option of 'plot ops' only"),
        (["arch", "--arch", ARCH, "--seed", "0"], "--seed does nothing with 'plot arch'"),  # 0 is given, though falsy
        (["arch", "--arch", ARCH, "--minimize"], "--minimize does nothing with 'plot arch'; it is an option of 'plot trace' only"),
        (["pareto", "--input", "p.json", "--arch", ARCH], "--arch does nothing with 'plot pareto'; it is an option of 'plot arch' only"),
        (["pareto", "--input", "p.json", "--minimize"], "--minimize does nothing with 'plot pareto'"),
        (["pareto", "--input", "p.json", "--space", "nb201"],
         "--space does nothing with 'plot pareto'; it is an option of 'plot arch' and 'plot ops' only"),
        (["trace", "--input", "t.json", "--pruned"], "--pruned does nothing with 'plot trace'; it is an option of 'plot arch' only"),
        (["trace", "--input", "t.json", "--objectives", "a:max,b:min"],
         "--objectives does nothing with 'plot trace'; it is an option of 'plot pareto' only"),
        (["trace", "--input", "t.json", "--space", "nb101"], "--space does nothing with 'plot trace'"),
        (["ops", "--pruned"], "--pruned does nothing with 'plot ops'"),
        (["ops", "--input", "g.json", "--n", "5"], "--n sets the generation of 'nagen plot ops' without --input; it does nothing with --input"),
        (["ops", "--input", "g.json", "--seed", "3"], "--seed sets the generation of 'nagen plot ops' without --input"),
    ],
)
def test_plot_refuses_options_the_kind_does_not_use(tmp_path, capsys, generate_calls, argv, fragment) -> None:
    out = tmp_path / "x.png"
    # the input files need not exist: the option is refused before anything is read or drawn
    assert main(["plot", *argv, "--out", str(out), "--quiet"]) == 2
    assert fragment in _one_error_line(capsys)
    assert not out.exists() and not generate_calls


def test_every_plot_option_is_in_the_table() -> None:
    # a new plot option must say which kinds use it, or it is silently ignored by the others again
    plot = next(a for a in build_parser()._actions if a.dest == "command").choices["plot"]
    every_kind = {"help", "kind", "out", "quiet", "plugin_after"}
    tabled = {d for dests in _PLOT_OPTIONS.values() for d in dests}
    assert {a.dest for a in plot._actions} - every_kind == tabled
    # "given" is "not None / not False": a non-None default would count as given and be refused
    assert all(plot.get_default(d) in (None, False) for d in tabled)


def test_plot_takes_the_options_of_its_kind(tmp_path, capsys) -> None:
    out = tmp_path / "cell.png"
    assert main(["plot", "arch", "--arch", ARCH, "--space", "nb201", "--pruned", "--out", str(out), "--quiet"]) == 0
    assert out.is_file()
    rows = tmp_path / "gen.json"  # 'nagen generate --json' lines
    rows.write_text("".join(json.dumps({"arch": ARCH}) + "\n" for _ in range(3)))
    out = tmp_path / "ops.png"
    assert main(["plot", "ops", "--input", str(rows), "--space", "nb201", "--out", str(out), "--quiet"]) == 0
    assert out.is_file()


def test_plot_ops_defaults_apply_when_not_given(tmp_path, generate_calls) -> None:
    # the parser's defaults are None (to tell given from not given); the documented ones are used
    assert main(["plot", "ops", "--out", str(tmp_path / "o.png"), "--quiet"]) == 0
    call = generate_calls[-1]
    assert (call["n"], call["seed"], call["space"].name) == (1000, 0, "nb201")
    assert main(["plot", "ops", "--n", "7", "--seed", "2", "--out", str(tmp_path / "p.png"), "--quiet"]) == 0
    assert (generate_calls[-1]["n"], generate_calls[-1]["seed"]) == (7, 2)


# ------------------------------------------------------------------------- 4. plot ops --n 0
def test_plot_ops_of_no_sample_is_refused_up_front(tmp_path, capsys, generate_calls) -> None:
    # it used to generate nothing, then fail in op_distribution ("sample group 'diffusion' is empty")
    assert main(["plot", "ops", "--space", "nb201", "--n", "0", "--out", str(tmp_path / "x.png")]) == 2
    assert "--n must be >= 1" in _one_error_line(capsys)
    assert not generate_calls


# ------------------------------------------------------------------------- 2. trace legend
def _search(values: list[float], seed: int, setup: dict) -> dict:
    best = max(values)
    return {"history": [{"arch": ARCH, "value": v} for v in values], "best": {"arch": ARCH, "value": best},
            "space": "nb201", "objective": "cifar10_valid_12ep", "direction": "max", "method": "bo", "seed": seed,
            "setup": setup}


def test_trace_legend_shows_only_the_settings_a_run_has(tmp_path, capsys) -> None:
    gp = _search([90.0, 91.0], 0, {"batch_size": 1, "surrogate": "gp_wl+zc", "initial": "zc"})
    gnn = _search([89.0, 92.0], 0, {"batch_size": 1, "surrogate": "gnn", "initial": "zc", "surrogate_options": {"epochs": 50}})
    ax = NP.search_runs([gp, gnn])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # was "bo [surrogate=gp_wl+zc, surrogate_options=?] (1 seed)"
    assert labels == ["bo [surrogate=gp_wl+zc] (1 seed)", "bo [surrogate=gnn, surrogate_options={'epochs': 50}] (1 seed)"]
    assert not any("?" in label for label in labels)
    # the CLI draws the same files without error
    paths = []
    for name, run in (("bo.json", gp), ("bo_gnn.json", gnn)):
        (tmp_path / name).write_text(json.dumps(run))
        paths += ["--input", str(tmp_path / name)]
    assert main(["plot", "trace", *paths, "--out", str(tmp_path / "t.png"), "--quiet"]) == 0
    matplotlib.pyplot.close("all")


def test_trace_setting_set_to_null_or_empty_is_the_same_as_absent() -> None:
    # one configuration: seeds of it are pooled, under a plain method name, not split into "k=None" and "k=?" lines
    runs = [_search([90.0, 91.0], 0, {"surrogate": "gnn"}),
            _search([89.0, 93.0], 1, {"surrogate": "gnn", "surrogate_options": None}),
            _search([88.0, 92.0], 2, {"surrogate": "gnn", "surrogate_options": {}})]
    assert NP._run_labels(runs, ["a", "b", "c"]) == ["bo", "bo", "bo"]
    ax = NP.search_runs(runs)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bo (3 seeds)"]
    # a run that does set it still gets its own line, labelled by what it sets
    runs.append(_search([80.0, 81.0], 0, {"surrogate": "gnn", "surrogate_options": {"members": 3}}))
    assert NP._run_labels(runs, ["a", "b", "c", "d"]) == ["bo", "bo", "bo", "bo [surrogate_options={'members': 3}]"]
    matplotlib.pyplot.close("all")


# ------------------------------------------------------------------------- 3. --json keys of transfer generation
def test_generate_help_documents_the_transfer_score_key(capsys) -> None:
    assert _run(["generate", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert '"pred_order_score"' in help_text
    assert '--transfer-from gives "pred_transfer_score"' in help_text


# ------------------------------------------------------------------------- 5. plugin package not on sys.path
@pytest.fixture
def isolated(monkeypatch):
    """A plugin's side effects (sys.path, PYTHONPATH, sys.modules) undone after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("NAGEN_PLUGINS", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    before = set(sys.modules)
    yield monkeypatch
    for module in set(sys.modules) - before:
        if module.startswith("nagen_opt_plugin_"):
            del sys.modules[module]


@pytest.mark.parametrize("spec", ["my_pkg_{}.spaces", "my_pkg_{}"])
def test_a_missing_plugin_package_hints_at_sys_path(isolated, capsys, spec) -> None:
    spec = spec.format(uuid.uuid4().hex[:8])
    assert main(["--plugin", spec, "spaces"]) == 2
    err = _one_error_line(capsys)
    top = spec.split(".")[0]
    assert f"plugin {spec!r} could not be imported: ModuleNotFoundError: No module named {top!r}" in err
    assert "PYTHONPATH=." in err and "python -m nagen" in err and ".py file path" in err


def test_the_hint_also_follows_nagen_plugins(isolated, capsys) -> None:
    isolated.setenv("NAGEN_PLUGINS", f"my_pkg_{uuid.uuid4().hex[:8]}.spaces")
    assert main(["spaces"]) == 2
    assert "PYTHONPATH=." in _one_error_line(capsys)


def test_no_sys_path_hint_when_the_package_was_found(isolated, tmp_path, capsys) -> None:
    # the package is importable: its missing submodule is the user's typo, not a path problem
    assert main(["--plugin", "nagen.no_such_submodule_xyz", "spaces"]) == 2
    err = _one_error_line(capsys)
    assert "No module named 'nagen.no_such_submodule_xyz'" in err and "PYTHONPATH" not in err
    # a dependency the plugin itself lacks: installing it is the fix, not the path
    name = f"nagen_opt_plugin_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text("import no_such_dependency_xyz\n")
    assert main(["--plugin", str(path), "spaces"]) == 2
    err = _one_error_line(capsys)
    assert "No module named 'no_such_dependency_xyz'" in err and "PYTHONPATH" not in err


def test_search_whose_labels_all_failed_is_an_error_not_an_empty_success(monkeypatch, capsys) -> None:
    """A search whose every label failed printed nothing (or an empty history with --json) and exited 0."""
    import json

    import nagen.search_api
    from nagen.search_api import SearchResult

    def all_failed(**kwargs):
        return SearchResult([], None, [("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "UnknownOpError: op 'skip'")], "s", "sqlite:///:memory:")

    monkeypatch.setattr(nagen.search_api, "search", all_failed)
    assert main(["search", "--objective", "cifar10_test", "--budget", "1", "--json", "--quiet"]) == 2
    cap = capsys.readouterr()
    assert json.loads(cap.out)["failed"][0]["reason"].startswith("UnknownOpError")
    assert "1 of 1 labels failed; first: UnknownOpError" in cap.err and "every label of study 's' failed" in cap.err

    def some_failed(**kwargs):
        return SearchResult([("a", 1.0)], ("a", 1.0), [("b", "NaN label")], "s", "sqlite:///:memory:")

    monkeypatch.setattr(nagen.search_api, "search", some_failed)
    assert main(["search", "--objective", "cifar10_test", "--budget", "2"]) == 0
    assert "1 of 2 labels failed; first: NaN label" in capsys.readouterr().err


def test_scale_without_a_guide_is_refused(capsys) -> None:
    assert _run(["generate", "--n", "2", "--scale", "5", "--quiet"]) == 2
    assert "--scale weights the metric guides; no --guide was given" in capsys.readouterr().err


def test_benchmark_takes_a_csv_of_ones_own_measurements(tmp_path, capsys) -> None:
    """``nagen search`` suggested ``benchmark=`` for a space without a table but had no such option."""
    import nagen.spaces

    spec = {"name": "cli_csv_space", "ops": ["conv3x3", "skip", "zero"], "num_nodes": 5, "topology": "fixed",
            "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4], [1, 4]]}
    spec_path = tmp_path / "space.json"
    spec_path.write_text(json.dumps(spec))
    space = nagen.spaces.from_spec(spec)
    rows = [(space.format(a), 50 + k, 1 + k % 3) for k, a in enumerate(space.enumerate())]
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("arch,acc,lat_ms\n" + "".join(f'"{a}",{v},{lat}\n' for a, v, lat in rows))
    best = max(v for _, v, _ in rows)
    assert main(["search", "--space", str(spec_path), "--benchmark", str(csv_path), "--objective", "acc", "--budget", "27",
                 "--method", "random", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["history"]) > 0 and out["best"]["value"] == max(h["value"] for h in out["history"])
    assert out["best"]["value"] <= best
    assert main(["pareto", "--space", str(spec_path), "--benchmark", str(csv_path), "--objectives", "acc:max,lat_ms:min",
                 "--budget", "6", "--method", "random", "--quiet", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["history"]) == 6
    assert _run(["search", "--space", str(spec_path), "--benchmark", str(tmp_path / "nope.csv"), "--objective", "acc"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_registered_table_name_wins_over_a_file_of_that_name(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb201").write_text("notes\n")
    assert main(["sample", "--space", "nb201", "--n", "1", "--metric", "cifar10_test", "--benchmark", "nb201"]) == 0
    assert "cifar10_test=" in capsys.readouterr().out


def test_guide_labels_with_only_counted_guides_is_refused_unless_opgfn_orders_them(capsys) -> None:
    assert _run(["generate", "--n", "2", "--guide", "params", "--guide-labels", "20", "--quiet"]) == 2
    assert "counted exactly and fitted on nothing with --method diffusion" in capsys.readouterr().err
