"""`nagen sample` with a partial user table, and why `Benchmark.from_csv` left a column out."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import nagen.benchmarks
import nagen.cli
import nagen.spaces
from nagen.benchmarks import Benchmark
from nagen.errors import InvalidTableError, UnknownMetricError
from nagen.labellers import TableLabeller

from cli_run import run_cli


@pytest.fixture(scope="module")
def cells() -> list[str]:
    """Twelve distinct NB201 cells, in a fixed order (a user's table of part of the space)."""
    space = nagen.spaces.get("nb201")
    return list(dict.fromkeys(space.format(a) for a in space.sample(40, 7)))[:12]


def _write(path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def _records(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# ---------------------------------------------------------------- sample with a partial table
def test_sample_with_a_partial_table_draws_from_its_rows(tmp_path, capsys, cells) -> None:
    p = tmp_path / "partial.csv"
    _write(p, "arch,acc", [f"{a},{70 + k}" for k, a in enumerate(cells)])
    values = {a: 70.0 + k for k, a in enumerate(cells)}
    for seed in range(6):  # drawn from the whole space, nearly every seed hit a cell without a row
        argv = ["sample", "--space", "nb201", "--n", "4", "--seed", str(seed), "--metric", "acc", "--benchmark", str(p), "--json"]
        assert run_cli(argv) == 0, capsys.readouterr().err
        first = _records(capsys)
        assert len(first) == 4 and all(r["acc"] == values[r["arch"]] for r in first)
        assert run_cli(argv) == 0
        assert _records(capsys) == first  # seeded: the same draw again
    # without a table --metric the table still decides what is drawn
    assert run_cli(["sample", "--space", "nb201", "--n", "20", "--seed", "1", "--metric", "params", "--benchmark", str(p), "--json"]) == 0
    drawn = _records(capsys)
    assert len(drawn) == 20 and {r["arch"] for r in drawn} <= set(cells) and all(r["params"] > 0 for r in drawn)
    assert run_cli(["sample", "--space", "nb201", "--n", "0", "--benchmark", str(p)]) == 0
    assert capsys.readouterr().out == ""


def test_sample_with_a_complete_table_is_unchanged(capsys) -> None:
    space, nb = nagen.spaces.get("nb201"), nagen.benchmarks.load("nb201")
    expected = [
        {"arch": space.format(a), "hash": a.canonical_hash(), "cifar10_test": nb.query(a, "cifar10_test")}
        for a in space.sample(5, 3)
    ]
    for extra in ([], ["--benchmark", "nb201"]):
        assert run_cli(["sample", "--space", "nb201", "--n", "5", "--seed", "3", "--metric", "cifar10_test", "--json", *extra]) == 0
        assert _records(capsys) == expected


def test_sample_from_a_table_without_rows_is_one_error_line(monkeypatch, capsys) -> None:
    space = nagen.spaces.get("nb201")
    empty = Benchmark("empty", space, [], {"acc": np.array([])})
    monkeypatch.setattr(nagen.cli, "_benchmark_arg", lambda value, space: empty)
    assert run_cli(["sample", "--space", "nb201", "--n", "2", "--benchmark", "empty.csv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "benchmark 'empty' has no rows to sample --n 2 architectures from" in err


def test_a_bad_benchmark_name_is_refused_without_a_metric(capsys) -> None:
    # it was ignored unless a table --metric was asked for
    assert run_cli(["sample", "--space", "nb201", "--n", "1", "--benchmark", "nb999"]) == 2
    assert "nb999" in capsys.readouterr().err


# ---------------------------------------------------------------- columns from_csv leaves out
def test_a_column_with_a_bad_cell_is_skipped_and_the_unknown_metric_says_where(tmp_path, capsys, cells) -> None:
    p = tmp_path / "typo.csv"
    rows = [f"{a},{70 + k},{k + 1}" for k, a in enumerate(cells)]
    rows[5] = f"{cells[5]},N/A,6"  # file line 7: the header is line 1
    _write(p, "arch,acc,lat_ms", rows)
    t = Benchmark.from_csv(p, "nb201")
    assert t.metrics == ["lat_ms"]
    why = "column 'acc' was not read as a metric: typo.csv line 7 has 'N/A', not a number"
    for ask in (lambda: t.query(cells[0], "acc"), lambda: t.values("acc"), lambda: TableLabeller(t, "acc")):
        with pytest.raises(UnknownMetricError, match=f"has no metric 'acc'; {why}.*available metrics are {{'lat_ms'}}"):
            ask()
    # the search the reviewers ran: one line, exit 2, naming the line and the cell
    assert run_cli(["search", "--space", "nb201", "--benchmark", str(p), "--objective", "acc", "--budget", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err
    assert "typo.csv line 7 has 'N/A', not a number" in t.skipped_columns["acc"]
    # a table pickled to a worker keeps the reason
    assert pickle.loads(pickle.dumps(t)).skipped_columns == t.skipped_columns
    assert pickle.loads(pickle.dumps(t.metrics)).skipped == t.skipped_columns


def test_a_text_column_counts_its_cells_that_are_not_numbers(tmp_path, cells) -> None:
    p = tmp_path / "notes.csv"
    _write(p, "arch,acc,note", [f"{a},{k},run {k}" for k, a in enumerate(cells[:3])])
    t = Benchmark.from_csv(p, "nb201")
    assert t.metrics == ["acc"]
    assert "notes.csv line 2 has 'run 0', not a number, and 2 more of its 3 cells are not numbers either" in t.skipped_columns["note"]
    # a column left out of metric_columns on purpose says so
    t = Benchmark.from_csv(p, "nb201", metric_columns=["acc"])
    with pytest.raises(UnknownMetricError, match=r"column 'note' was not read as a metric: it is not one of the metric_columns \['acc'\]"):
        t.query(cells[0], "note")


def test_an_all_empty_column_is_dropped_and_the_unknown_metric_says_why(tmp_path, cells) -> None:
    p = tmp_path / "blank.csv"
    _write(p, "arch,acc,lat_ms", [f"{a},{k}," for k, a in enumerate(cells[:3])])
    t = Benchmark.from_csv(p, "nb201")
    assert t.metrics == ["acc"]
    with pytest.raises(UnknownMetricError, match=r"column 'lat_ms' was not read as a metric: it is empty in every row of blank.csv"):
        TableLabeller(t, "lat_ms")
    # named (or given a direction), it loads as an unmeasured metric, as before
    assert Benchmark.from_csv(p, "nb201", directions={"lat_ms": "min"}).metrics == ["acc", "lat_ms"]


def test_no_metric_column_left_names_the_bad_cell(tmp_path, cells) -> None:
    p = tmp_path / "only.csv"
    _write(p, "arch,acc", [f"{cells[0]},91.5", f"{cells[1]},N/A"])
    with pytest.raises(InvalidTableError, match=r"no numeric metric columns found.*column 'acc': only.csv line 3 has 'N/A'"):
        Benchmark.from_csv(p, "nb201")


def test_a_table_not_read_from_a_file_skips_nothing() -> None:
    nb = nagen.benchmarks.load("nb201")
    assert nb.skipped_columns == {}
    with pytest.raises(UnknownMetricError, match="did you mean 'cifar10_test'"):
        nb.values("cifar10_tset")


def test_info_lists_a_users_table_and_why_a_column_is_no_metric(tmp_path, capsys, cells) -> None:
    # nagen info showed only the space's own tables: a CSV's metric names could not be looked up
    p = tmp_path / "mine.csv"
    rows = [f"{a},{70 + k},{k + 1}" for k, a in enumerate(cells)]
    rows[5] = f"{cells[5]},N/A,6"
    _write(p, "arch,acc,lat_ms", rows)
    assert nagen.cli.main(["info", "--space", "nb201", "--benchmark", str(p), "--json"]) in (0, None)
    info = json.loads(capsys.readouterr().out)
    assert info["benchmarks"] == ["mine"] and info["metrics"] == {"mine": {"lat_ms": "min"}}
    assert "line 7 has 'N/A'" in info["not_metrics"]["mine: acc"]
