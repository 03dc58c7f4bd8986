"""benchmarks/*.py command lines: a bad argument is a one-line usage error (exit 2) before any work;
search.py's table only shows the budgets that ran and its dumps keep the settings of a row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nagen.benchmarks
import nagen.spaces

ROOT = Path(__file__).resolve().parents[1]

# (script, argv, the bad value the message must name): each would otherwise start expensive work
# (or fail late with a traceback / print an empty table)
CASES = [
    # one label or one measurement: accepted once, then a traceback after the first fit (stop 25)
    ("predictors", ["--sizes", "1"], "'1' is not an integer in 2.."),
    ("generation", ["--labels", "1"], "expected an integer >= 2"),
    ("latency", ["--ks", "1"], "'1' is not an integer >= 2"),
    ("latency_loso", ["--ks", "1"], "'1' is not an integer >= 2"),
    ("gflownet", ["--parts", "foo"], "foo"),
    ("gflownet", ["--datasets", "foo"], "foo"),
    ("gflownet", ["--methods", "foo"], "foo"),
    ("gflownet", ["--budgets", "-5"], "-5"),
    ("gflownet", ["--costs", "foo"], "foo"),
    ("gflownet", ["--seeds", "-2"], "-2"),
    ("gflownet", ["--mo-methods", "MO-GA"], "MO-GA"),
    ("hardware", ["--parts", "3", "--methods", "foo"], "foo"),
    ("hardware", ["--parts", "3", "--datasets", "foo"], "foo"),
    ("hardware", ["--pairs", "pixel2"], "pixel2"),
    ("hardware", ["--parts", "split", "--splits", "x"], "'x'"),
    # adaptation needs 2 measurements (reference_archs refuses 1: every run failed), verification 1 of the 10
    ("hardware", ["--parts", "split", "--splits", "1"], "'1' is not an integer in 2..9"),
    ("hardware", ["--parts", "split", "--splits", "5,10"], "'10' is not an integer in 2..9"),
    ("hardware", ["--parts", "3", "--re-seeds", "-1"], "-1"),
    ("search", ["--methods", "foo"], "foo"),
    ("search", ["--from-dump", "/nonexist.jsonl"], "/nonexist.jsonl"),
    ("search", ["--transfer-ceiling", "--datasets", "foo"], "foo"),
    ("search", ["--methods", "transfer", "--transfer-budget", "-1"], "-1"),
    ("search", ["--seeds", "-1", "--methods", "re"], "-1"),
    # --quick used to drop the rows it does not run and print an empty table
    ("search", ["--quick", "--methods", "opgfn,diffusion"], "--quick does not run 'opgfn'; it runs bo, bo+zc"),
    ("search", ["--quick", "--methods", "re,bananas"], "'bananas'"),
    ("predictors", ["--datasets", "foo"], "foo"),
    ("predictors", ["--seeds", "-1"], "-1"),
    ("predictors", ["--models", "gnn,foo"], "foo"),
    ("spaces", ["--spaces", "foo"], "foo"),
    ("spaces", ["--repeats", "-1"], "-1"),
    ("latency", ["--ks", "-5"], "-5"),
    ("latency", ["--seeds", "-1"], "-1"),
    ("latency_loso", ["--weights", "foo"], "foo"),
    ("latency_loso", ["--ks", "0"], "'0'"),
    ("generation", ["--steps", "-1"], "-1"),
    ("generation", ["--steps", "0"], "'0'"),
    ("generation", ["--seeds", "0", "--skip-quality"], "'0'"),
    ("transfer_generation", ["--datasets", "cifar10,foo"], "foo"),
    ("transfer_generation", ["--labels", "1"], "at least 2"),
    ("transfer_generation", ["--n", "0"], "'0'"),
    ("transfer_generation", ["--parts", "pool,foo"], "foo"),
    ("transfer_generation", ["--parts", "latency", "--bound", "-1"], "-1"),
    # the device used to be checked after the generate and pool parts had run
    ("transfer_generation", ["--parts", "generate,pool,latency", "--device", "pixel9"], "no 'lat_pixel9_ms' column"),
]
#: one case per script also runs as ``python benchmarks/<name>.py`` (exit status, import of _cli)
SUBPROCESS = {}
for case in CASES:
    SUBPROCESS.setdefault(case[0], case)


# from a review of the scripts (checked in-process only: each used to start work, or fail late)
REVIEW_CASES = [
    # 1. an unwritable --dump was reported as a failed seed after the first run, rc 0
    ("search", ["--methods", "re", "--seeds", "2", "--datasets", "cifar10_test", "--dump", "/nonexistent/x.jsonl"],
     "cannot append to '/nonexistent/x.jsonl'"),
    # 5. numbers checked right after parsing (used to fail after tuning / meta-training / section 1)
    ("gflownet", ["--opgfn-beta", "-5"], "'-5' is not a finite number > 0"),
    ("gflownet", ["--opgfn-beta", "nan"], "'nan'"),
    ("gflownet", ["--opgfn-beta", "inf"], "'inf'"),
    ("gflownet", ["--opgfn-beta", "0"], "'0'"),
    ("gflownet", ["--opgfn-beta", "8,16"], "one number expected"),
    ("gflownet", ["--tb-betas", "16,inf"], "'inf'"),
    ("transfer_generation", ["--scale", "nan"], "'nan' is not a finite number >= 0"),
    ("transfer_generation", ["--scale", "-1"], "'-1'"),
    ("generation", ["--scale", "nan"], "'nan' is not a finite number >= 0"),
    ("generation", ["--scale", "inf"], "'inf'"),
    ("generation", ["--scale", "x"], "'x'"),
    # 6. inputs that used to be truncated, ignored or repeated
    ("hardware", ["--pairs", "pixel2:18.9"], "pixel2:18.9"),
    ("hardware", ["--pairs", "pixel2:18,pixel2:18.0"], "given twice"),
    ("search", ["--methods=", "--datasets", "cifar10_test"], "argument --methods: no name given"),
    ("search", ["--methods", "re,re", "--datasets", "cifar10_test"], "'re' given twice"),
    ("search", ["--methods", "re", "--datasets", "cifar10_test,cifar10_test"], "'cifar10_test' given twice"),
    ("search", ["--datasets", ""], "argument --datasets: no name given"),
    ("search", ["--quick", "--seeds", "5"], "--quick runs 3 seeds"),
    ("search", ["--seeds", "0", "--methods", "re"], "expected a positive integer, got '0'"),
    ("search", ["--bo-seeds", "0", "--methods", "bo"], "expected a positive integer, got '0'"),
    ("gflownet", ["--methods", "RE,RE"], "'RE' given twice"),
]


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("script,argv,bad", list(SUBPROCESS.values()), ids=list(SUBPROCESS))
def test_script_exits_2_with_a_one_line_error(script: str, argv: list[str], bad: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), *argv],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert bad in _error_line(res.stderr)
    assert res.stdout == ""  # nothing ran
    assert time.perf_counter() - t0 < 60


@pytest.mark.parametrize("script,argv,bad", CASES + REVIEW_CASES, ids=[f"{c[0]}:{' '.join(c[1])}" for c in CASES + REVIEW_CASES])
def test_bad_argument_is_rejected_before_any_work(script, argv, bad, benchmark_script, monkeypatch, capsys) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    bench = benchmark_script(script)
    monkeypatch.setattr(nagen.benchmarks, "load", no_work)  # every run loads a table or builds a space first
    monkeypatch.setattr(nagen.spaces, "get", no_work)
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert bad in _error_line(err)


def test_quick_search_table_shows_only_the_budgets_that_ran(benchmark_script) -> None:
    search = benchmark_script("search")
    runs = [[50.0] * 50, [60.0] * 50]  # 50 labels, never the top 0.1% nor the optimum
    row = search.summarise(runs, "cifar10_test", 50)
    assert search.columns(50) == [
        "best@25", "best@50", "labels to top 0.1%", "found optimum", "median labels to optimum", "optimum within 5",
    ]  # fmt: skip
    assert set(row) == set(search.columns(50)) and "best@100" not in row
    assert row["labels to top 0.1%"] == ">50" and row["median labels to optimum"] == ">50"
    assert search.columns() == search.COLUMNS and "best@100" in search.COLUMNS  # the full run's table is unchanged
    assert search.summarise(runs, "cifar10_test")["median labels to optimum"] == ">100"


def test_dump_keeps_transfer_settings_apart_and_prints_the_column_line(tmp_path, capsys, benchmark_script) -> None:
    search = benchmark_script("search")
    dump = tmp_path / "runs.jsonl"
    recs = [
        search.dump_record("cifar10_test", "transfer", 0, [80.0, 90.0], 100, "consensus", None, 10),
        search.dump_record("cifar10_test", "transfer", 0, [70.0], 20, "meta", 20, 10),
        search.dump_record("cifar10_test", "transfer", 1, [75.0], 20, "meta", 20, 10),
        {"dataset": "cifar10_test", "method": "re", "seed": 3, "values": [1.0, 2.0]},  # an older record: no settings
    ]
    dump.write_text("".join(json.dumps(r) + "\n" for r in recs))
    search.main(["--from-dump", str(dump), "--datasets", "cifar10_test", "--methods", "transfer,re"])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == search.HEADER
    rows = {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith("| cifar10_test |")}
    assert set(rows) == {"transfer (consensus)", "transfer (meta, 20 labels max)", "re"}
    assert "| 1 | 90.00 ± 0.00 |" in rows["transfer (consensus)"]  # seed 0 of the other setting does not overwrite it
    meta = [c.strip() for c in rows["transfer (meta, 20 labels max)"].strip("|").split("|")]
    # a 20-label run has no best@25/50/100 cell and "not reached" means within its 20 labels
    assert meta[2] == "2" and meta[3:6] == ["–"] * 3 and meta[6] == ">20" and meta[8] == ">20" and meta[-1] == "0-1"


def test_quick_search_runs_its_rows_and_live_labels_match_the_dump_labels(tmp_path, capsys, monkeypatch, benchmark_script) -> None:
    search = benchmark_script("search")
    opt = nagen.benchmarks.load("nb201").optimum("cifar10_test").value
    monkeypatch.setattr(search, "run", lambda metric, seed, budget, method, **kw: [90.0, opt])  # no study
    monkeypatch.setattr(search, "run_transfer", lambda metric, seed, budget, epochs, method="consensus": [opt])
    dump = tmp_path / "runs.jsonl"
    argv = ["--datasets", "cifar10_test", "--methods", "re,transfer", "--transfer-method", "meta",
            "--transfer-budget", "5", "--meta-epochs", "3", "--dump", str(dump)]  # fmt: skip
    search.main(["--quick", *argv])  # rows --quick runs are accepted
    live = [line.split(" | ")[1] for line in capsys.readouterr().out.splitlines() if line.startswith("| cifar10_test |")]
    search.main(["--from-dump", str(dump), "--datasets", "cifar10_test", "--methods", "re,transfer"])
    dumped = [line.split(" | ")[1] for line in capsys.readouterr().out.splitlines() if line.startswith("| cifar10_test |")]
    # one label function: the live transfer row also names its meta-training epochs
    assert live == dumped == ["re", "transfer (meta, 5 labels max, 3 meta epochs)"]
    search.main(["--quick", "--datasets", "cifar10_test"])  # no --methods: the default rows --quick runs
    rows = [line.split(" | ")[1] for line in capsys.readouterr().out.splitlines() if line.startswith("| cifar10_test |")]
    assert rows == [*search.QUICK_METHODS[:-1], "transfer (consensus)"]


def test_predictor_time_columns_are_the_largest_size_not_the_last(benchmark_script) -> None:
    predictors = benchmark_script("predictors")
    res = {
        ("cifar10_test", "gnn", 500): {"fit": [5.0, 7.0, 6.0], "predict": [0.5] * 3, "cover90": [0.9] * 3},
        ("cifar10_test", "gnn", 10): {"fit": [1.0] * 3, "predict": [0.1] * 3, "cover90": []},
    }
    lines = predictors.calibration_table(res, ["cifar10_test"], ["gnn"], [500, 10]).splitlines()
    assert lines[0] == "| dataset | model | n=500 cover90 | n=10 cover90 | fit s (n=max) | predict s (1,000) |"
    assert lines[2] == "| cifar10_test | gnn | 0.900 | - | 6.00 | 0.500 |"
    assert all(line.count("|") == lines[0].count("|") for line in lines)
