"""benchmarks/*.py after a review: a failed seed or an unwritable dump cannot shrink a row with exit
status 0, numeric options are checked at parse time, and inputs that used to be silently accepted
or ignored (a truncated bound, an empty or repeated name, --quick with --seeds, tuning on reported
seeds, --pairs with --from-dump) are refused, warned about or applied."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nagen.benchmarks
import nagen.spaces

ROOT = Path(__file__).resolve().parents[1]



def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0]


def test_unwritable_dump_exits_2_as_a_script(tmp_path) -> None:
    """The reviewer's command line: it used to print "seed 0 failed: FileNotFoundError", n=1, exit 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    dump = tmp_path / "missing_dir" / "x.jsonl"
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "search.py"), "--methods", "re", "--seeds", "2",
         "--datasets", "cifar10_test", "--dump", str(dump)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "--dump" in _error_line(res.stderr) and res.stdout == ""
    assert not dump.parent.exists()


def test_a_failed_seed_does_not_end_the_row_and_the_exit_status_is_1(tmp_path, capsys, monkeypatch, benchmark_script) -> None:
    search = benchmark_script("search")
    opt = nagen.benchmarks.load("nb201").optimum("cifar10_test").value

    def fake(metric, seed, budget, method, **kw):  # seed 0 fails; seeds 1 and 2 finish
        if seed == 0:
            raise ValueError("boom")
        return [90.0, opt]

    monkeypatch.setattr(search, "run", fake)
    dump = tmp_path / "runs.jsonl"
    with pytest.raises(SystemExit) as exc:
        search.main(["--methods", "re,random", "--seeds", "3", "--datasets", "cifar10_test", "--dump", str(dump)])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    rows = {line.split(" | ")[1]: line for line in captured.out.splitlines() if line.startswith("| cifar10_test |")}
    # the failure is in the table, and the next seeds ran: n = 2 for both rows (not 0 and a break)
    assert rows["re"].startswith("| cifar10_test | re | 2 |") and rows["random"].startswith("| cifar10_test | random | 2 |")
    assert "seed 0 failed: ValueError: boom" in captured.out
    assert "seeds: re/random 3 (0..2)" in captured.out
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("2 seed(s) FAILED") and "cifar10_test / re seed 0" in last
    recs = [json.loads(line) for line in dump.read_text().splitlines()]
    assert sorted((r["method"], r["seed"]) for r in recs) == [("random", 1), ("random", 2), ("re", 1), ("re", 2)]
    # no failure: a normal return
    monkeypatch.setattr(search, "run", lambda metric, seed, budget, method, **kw: [90.0, opt])
    search.main(["--methods", "re", "--seeds", "2", "--datasets", "cifar10_test", "--first-seed", "4"])
    captured = capsys.readouterr()
    assert "FAILED" not in captured.err and "seeds: re/random 2 (4..5)" in captured.out


def test_capped_rows_that_all_reached_the_optimum_fill_the_larger_budgets(tmp_path, capsys, benchmark_script) -> None:
    search = benchmark_script("search")
    opt = nagen.benchmarks.load("nb201").optimum("cifar10_test").value
    reached = [[80.0, opt], [70.0, 75.0, 80.0, opt]]  # both capped at 40 labels, both labelled the optimum (by 4)
    row = search.summarise(reached, "cifar10_test", 40)
    assert row["best@25"] == f"{opt:.2f} ± 0.00"
    assert row["best@50"] == row["best@100"] == f"{opt:.2f} ± 0.00{search.REACHED}"
    assert search.summarise([[80.0, opt], [70.0]], "cifar10_test", 40).keys() == set(search.columns(40))  # one missed it
    dump = tmp_path / "t.jsonl"
    dump.write_text("".join(
        json.dumps(search.dump_record("cifar10_test", "transfer", s, r, 40, "consensus", 40, 10)) + "\n" for s, r in enumerate(reached)
    ))  # fmt: skip
    search.main(["--from-dump", str(dump), "--methods", "transfer", "--datasets", "cifar10_test"])
    out = capsys.readouterr().out
    assert "| best@25 | best@50 | best@100 |" in out
    line = next(line for line in out.splitlines() if line.startswith("| cifar10_test |"))
    assert line.count(f"{opt:.2f} ± 0.00{search.REACHED}") == 2
    note = out.strip().splitlines()[-1]
    assert note.startswith(search.REACHED) and "by label 4 (cap 40)" in note


def test_pairs_accept_whole_milliseconds_and_filter_a_dump(tmp_path, capsys, benchmark_script) -> None:
    hw = benchmark_script("hardware")
    assert hw.parse_pairs("pixel2:18.0,fpga:5") == [("pixel2", 18), ("fpga", 5)]
    with pytest.raises(SystemExit, match="unknown pair 'pixel2:18.9'"):
        hw.parse_pairs("pixel2:18.9")  # used to be truncated to pixel2:18
    rec = {"part": 2, "variant": "test", "seed": 0, "test": 70.0, "true_latency": 4.5, "meets": True, "device_measurements": 7}
    dump = tmp_path / "hw.jsonl"
    dump.write_text(json.dumps(rec | {"device": "fpga", "bound": 5}) + "\n" + json.dumps(rec | {"device": "pixel2", "bound": 18}) + "\n")
    hw.main(["--from-dump", str(dump), "--parts", "2", "--variants", "test", "--pairs", "fpga:5"])
    out = capsys.readouterr().out
    assert "| fpga | ≤ 5 | 1 |" in out and "| pixel2 | ≤ 18 | 0 |" in out  # --pairs used to be ignored here
    assert "Summary over 1 pairs" in out
    hw.main(["--from-dump", str(dump), "--parts", "2", "--variants", "test"])
    assert "| pixel2 | ≤ 18 | 1 |" in capsys.readouterr().out  # without --pairs: every run of the dump


def test_part3_column_takes_the_best_test_among_tied_validation_maxima(benchmark_script) -> None:
    hw = benchmark_script("hardware")
    nb = nagen.benchmarks.load("nb201")
    valid, test = nb.values("cifar100_valid_12ep"), nb.values("cifar100_test")
    tied = sorted(test[valid == valid.max()])
    assert len(tied) == 2 and hw.achievable("cifar100") == tied[-1]  # 73.09, not the first cell's 72.28
    rec = {"part": 3, "dataset": "cifar100", "method": "re", "seed": 0, "archs": [nb.archs[0]], "valid": [1.0]}
    out = hw.part3_table([rec])
    assert "test of valid argmax (ties: max)" in out.splitlines()[0] and f"| {tied[-1]:.2f} |" in out


def test_tuning_on_reported_seeds_is_warned_about(monkeypatch, capsys, benchmark_script) -> None:
    gfn = benchmark_script("gflownet")
    monkeypatch.setattr(gfn, "single_table", lambda *args, **kwargs: "")  # no run
    gfn.main(["--parts", "single", "--datasets", "cifar10", "--seeds", "2", "--tune-seeds", "1,1000"])
    err = capsys.readouterr().err
    assert "WARNING: --tune-seeds [1] are also reported seeds" in err
    gfn.main(["--parts", "single", "--datasets", "cifar10", "--seeds", "2"])  # held-out 1000: no warning
    gfn.main(["--parts", "single", "--datasets", "cifar10", "--seeds", "2", "--tune-seeds", "0", "--methods", "RE"])  # no TB row
    assert "WARNING" not in capsys.readouterr().err


def test_single_table_header_without_tb(benchmark_script) -> None:
    gfn = benchmark_script("gflownet")
    space, table = nagen.spaces.get("nb201"), nagen.benchmarks.load("nb201")
    out = gfn.single_table(space, table, "cifar10", [3, 4], [10], [256.0], None, [1000], ["random"])
    assert "TB beta tuning" not in out  # used to print an empty "TB beta tuning:" line
    assert "2 seeds (3..4)" in out and "standard error" in out
