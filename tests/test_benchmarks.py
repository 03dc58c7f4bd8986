"""Benchmark tables: the shipped NB201 table and user CSVs."""

from __future__ import annotations

import gzip
import math
import re

import numpy as np
import pytest

import nagen.benchmarks
import nagen.spaces
from nagen.benchmarks import Benchmark
from nagen.errors import (
    ArchitectureNotInTableError,
    InvalidArchitectureError,
    InvalidTableError,
    UnknownBenchmarkError,
    UnknownMetricError,
)

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
BEST_C100 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def nb():
    return nagen.benchmarks.load("nb201")


def test_shipped_table_matches_published_optima(nb) -> None:
    assert len(nb) == 15625 and "nb201" in nagen.benchmarks.names()
    assert nb.optimum("cifar10_test") == (nb.space.parse(BEST_C10), 94.373333)
    assert nb.optimum("cifar100_test").value == 73.513333
    assert nb.space.format(nb.optimum("cifar100_test").arch) == BEST_C100
    assert nb.optimum("imagenet16_test").value == 47.311111
    assert nb.archs[6111] == nb.space.parse(BEST_C10)  # row order is the NB201 index


def test_all_columns_are_shipped(nb) -> None:
    accs = {f"{d}_test" for d in ("cifar10", "cifar100", "imagenet16")}
    accs |= {f"{d}_{s}_12ep" for d in ("cifar10", "cifar100", "imagenet16") for s in ("valid", "test")}
    lats = {m for m in nb.metrics if m.startswith("lat_")}
    assert accs <= set(nb.metrics) and {"params", "flops"} <= set(nb.metrics)
    assert len(lats) == 27 and {"lat_pixel2_ms", "lat_eyeriss_ms", "lat_titan_rtx_256_ms"} <= lats
    assert all(nb.direction(m) == "min" for m in lats | {"params", "flops"})
    assert all(nb.direction(m) == "max" for m in accs)
    assert not any(np.isnan(nb.values(m)).any() for m in nb.metrics)


def test_values_digit_for_digit(nb) -> None:
    """Row 0 of ../shared/data/nb201.csv and nb201_latency.csv, and the official params/FLOPs."""
    a = nb.archs[0]
    assert nb.query(a, "cifar10_test") == 85.863333
    assert nb.query(a, "cifar10_valid_12ep") == 63.364
    assert nb.query(a, "lat_raspi4_ms") == 10.481977
    assert nb.query(a, "lat_1080ti_1_ms") == 10.754371
    assert nb.query(a, "params") == 129306 and nb.query(a, "flops") == 15647370
    assert nb.query(a, "params") == nb.space.cost(a)["params"]


def test_query_accepts_strings_and_many(nb) -> None:
    v = nb.query_many([BEST_C10, nb.archs[0]], "cifar10_test")
    assert v.tolist() == [94.373333, 85.863333]
    assert BEST_C10 in nb and "garbage" not in nb


def test_percentile(nb) -> None:
    assert nb.percentile("cifar10_test", 94.373333) == 100.0
    assert nb.percentile("cifar10_test", 0.0) == 0.0
    assert 40 < nb.percentile("cifar10_test", float(np.median(nb.values("cifar10_test")))) < 60
    fastest = nb.optimum("lat_pixel2_ms").value
    assert nb.percentile("lat_pixel2_ms", fastest) == 100.0
    with pytest.raises(ValueError):
        nb.percentile("cifar10_test", float("nan"))


def test_values_are_read_only(nb) -> None:
    with pytest.raises(ValueError):
        nb.values("cifar10_test")[0] = 0.0


def test_errors(nb) -> None:
    with pytest.raises(UnknownMetricError, match="available metrics"):
        nb.query(BEST_C10, "cifar10_accuracy")
    with pytest.raises(InvalidArchitectureError):
        nb.query("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "cifar10_test")
    with pytest.raises(UnknownBenchmarkError, match="nb201"):
        nagen.benchmarks.load("nb999")


CSV = """arch,acc,lat_ms,note
|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|,91.5,3.2,a
|skip_connect~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|,88.0,,b
"input;nor_conv_1x1<0;none<0;none<1;none<0;none<1;none<2,3;output<4,5,6",70.0,1.0,c
"""


def test_from_csv(tmp_path) -> None:
    p = tmp_path / "mine.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write(CSV)
    t = Benchmark.from_csv(p, "nb201", directions={"acc": "max"})
    assert t.name == "mine" and t.metrics == ["acc", "lat_ms"] and len(t) == 3
    assert t.direction("lat_ms") == "min"
    assert math.isnan(t.query("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|", "lat_ms"))
    assert t.optimum("lat_ms").value == 1.0 and t.optimum("acc").value == 91.5
    with pytest.raises(ArchitectureNotInTableError, match="no row"):
        t.query(BEST_C10, "acc")


@pytest.mark.parametrize(
    "text, kwargs, fragment",
    [
        ("arch,acc\n|bad|,1\n", {}, "line 2"),
        ("name,acc\nx,1\n", {}, "no column 'arch'"),
        (CSV, {"metric_columns": ["acc", "nope"]}, "not in the header"),
        (CSV, {"metric_columns": ["note"]}, "not a number"),
        (CSV + CSV.splitlines()[1] + "\n", {}, "same architecture"),
        (CSV, {"directions": {"acc": "up"}}, "'max' or 'min'"),
        (CSV, {"directions": {"zzz": "max"}}, "not metric columns"),
        ("arch,acc\n" + CSV.splitlines()[1].split(",")[0] + ",inf\n", {}, "'inf', not a number \\(a finite one"),
        ("arch,acc,acc\n" + CSV.splitlines()[1].split(",")[0] + ",1,2\n", {}, r"column\(s\) \['acc'\] more than once"),
        ("arch,acc,lat_ms\n" + CSV.splitlines()[1].split(",")[0] + ",90\n", {}, "line 2: fewer fields"),
        ("arch,acc\n" + CSV.splitlines()[1].split(",")[0] + ",90,1\n", {}, "line 2: more fields"),
        ("arch,acc\n", {}, "no data rows"),
        (CSV + CSV.splitlines()[1] + "\n", {}, "lines 2 and 5 hold the same architecture"),
    ],
)
def test_from_csv_errors(tmp_path, text, kwargs, fragment) -> None:
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(InvalidTableError, match=fragment):
        Benchmark.from_csv(p, nagen.spaces.get("nb201"), **kwargs)


def test_load_and_percentile_refuse_wrong_types(nb) -> None:
    with pytest.raises(UnknownBenchmarkError, match="a name, e.g. 'nb201', or a nagen.benchmarks.Benchmark"):
        nagen.benchmarks.load(["nb201"])
    assert nagen.benchmarks.load(nb) is nb  # a table object passes through: every benchmark= takes one
    with pytest.raises(ValueError, match="must be a number"):
        nb.percentile("cifar10_test", True)
    assert nagen.benchmarks.load("nb201") is nagen.benchmarks.load("nb201")  # still loaded once


def test_direction_guess_uses_whole_words() -> None:
    from nagen.benchmarks import _guess_direction

    for name in ("lat_pixel2_ms", "params", "n_params", "flops", "model_size", "train_time", "energy_mJ", "latency"):
        assert _guess_direction(name) == "min", name
    for name in ("relative_accuracy", "top1_latest", "bleu_translation", "cifar10_valid_12ep", "timeliness"):
        assert _guess_direction(name) == "max", name


def test_from_csv_missing_file(tmp_path) -> None:
    with pytest.raises(InvalidTableError, match="no such CSV"):
        Benchmark.from_csv(tmp_path / "absent.csv", "nb201")


A1 = CSV.splitlines()[1].split(",")[0]
A2 = CSV.splitlines()[2].split(",")[0]


@pytest.mark.parametrize(
    "data, kwargs, metrics",
    [
        # Excel's "CSV UTF-8" starts with a byte-order mark, which glued onto 'arch'
        (f"arch,acc\n{A1},1\n{A2},2\n".encode("utf-8-sig"), {}, ["acc"]),
        (f"arch,acc\r\n{A1},1\r\n{A2},2\r\n".encode(), {}, ["acc"]),
        (f'arch,acc,note\n{A1},1,"a, b"\n{A2},2,c\n'.encode(), {}, ["acc"]),
        (f"arch, acc\n{A1},1\n{A2},2\n".encode(), {}, ["acc"]),  # blanks after a comma are not part of the name
        (f"arch,acc,lat\n{A1},1,2\n{A2},2,3\n".encode(), {"metric_columns": "lat"}, ["lat"]),  # one name, not letters
    ],
)
def test_from_csv_reads_common_csv_dialects(tmp_path, data, kwargs, metrics) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    t = Benchmark.from_csv(p, "nb201", **kwargs)
    assert t.metrics == metrics and len(t) == 2
    assert t.query(A1, metrics[0]) == (1.0 if metrics == ["acc"] else 2.0)


@pytest.mark.parametrize(
    "name, data, kwargs, fragment",
    [
        ("t.csv", "arch,acc,note\nx,1,caf\xe9\n".encode("latin-1"), {}, "cannot read it as a UTF-8 CSV file"),
        ("t.csv.gz", b"arch,acc\n", {}, r"cannot read it as a UTF-8 CSV \(gzip\) file"),
        ("t.csv", f"arch,acc\n{A1},1\n".encode(), {"metric_columns": ["arch"]}, "cannot also be a metric column"),
        ("t.csv", f"arch,acc\n{A1},1\n".encode(), {"directions": ["max"]}, "directions must map metric names"),
    ],
)
def test_from_csv_unreadable_inputs_raise_invalid_table(tmp_path, name, data, kwargs, fragment) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(InvalidTableError, match=fragment):
        Benchmark.from_csv(p, "nb201", **kwargs)


def test_from_csv_default_name_is_the_stem(tmp_path) -> None:
    p = tmp_path / "runs.v2.csv"
    p.write_text(f"arch,acc\n{A1},1\n")
    assert Benchmark.from_csv(p, "nb201").name == "runs.v2"


def test_unmeasured_column_percentile_and_wrong_argument_types(tmp_path, nb) -> None:
    from fractions import Fraction

    from nagen.errors import InvalidArgumentError

    p = tmp_path / "t.csv"
    p.write_text(f"arch,acc,lat_ms\n{A1},1,\n{A2},2,\n")
    t = Benchmark.from_csv(p, "nb201", metric_columns=["acc", "lat_ms"])  # an all-empty column is loaded only when named
    with pytest.raises(InvalidTableError, match="'lat_ms' of table 't' has no values"):
        t.percentile("lat_ms", 1.0)  # was NaN with a RuntimeWarning
    assert t.percentile("acc", Fraction(3, 2)) == 50.0  # a number, so accepted
    with pytest.raises(UnknownMetricError, match=r"no metric \['cifar10_test'\]"):
        nb.query(BEST_C10, ["cifar10_test"])  # was a bare "unhashable type" TypeError
    with pytest.raises(InvalidArgumentError, match="query_many takes an iterable of architectures.*use query"):
        nb.query_many(BEST_C10, "cifar10_test")  # was parsed character by character
    with pytest.raises(InvalidArgumentError, match="got NoneType"):
        nb.query_many(None, "cifar10_test")
    assert nb.query_many(iter([BEST_C10]), "cifar10_test").tolist() == [94.373333]
    assert nb.query_many([], "cifar10_test").shape == (0,)


def test_constructor_validates_rows_columns_and_directions(nb) -> None:
    from nagen.benchmarks import Metric

    s = nb.space.format(nb.archs[0])
    t = Benchmark("t", "nb201", [s], {"a": [1.0]})  # a string row was stored unparsed: never found again
    assert t.query(nb.archs[0], "a") == 1.0 and t.space is nb.space
    with pytest.raises(InvalidTableError, match="row 0: .*not in space 'nb201'"):
        Benchmark("t", nb.space, [nagen.spaces.get("nb101").sample(1, 0)[0]], {"a": [1.0]})
    with pytest.raises(InvalidTableError, match="column 'a' of table 't' holds values that are not numbers"):
        Benchmark("t", nb.space, nb.archs[:1], {"a": ["x"]})
    with pytest.raises(InvalidTableError, match=r"direction is 'max' or 'min', got \{'a': 'up'\}"):
        Benchmark("t", nb.space, nb.archs[:1], {"a": [1.0]}, {"a": Metric("a", "up")})  # was silently "min"


# ---------------------------------------------------------------------- constructor, directions, CSV lines
def test_constructor_refuses_non_string_metric_names_and_bad_metrics_with_named_errors(nb) -> None:
    from nagen.benchmarks import Metric

    archs = list(nb.archs[:3])
    with pytest.raises(InvalidTableError, match="metric \\(column\\) name must be a string, got int 0"):
        Benchmark("t", "nb201", archs, {0: [1, 2, 3]})
    with pytest.raises(InvalidTableError, match="columns must map metric names"):
        Benchmark("t", "nb201", archs, [("acc", [1, 2, 3])])
    with pytest.raises(InvalidTableError, match="metrics must map metric names"):
        Benchmark("t", "nb201", archs, {"acc": [1, 2, 3]}, metrics=["max"])
    with pytest.raises(InvalidTableError, match=r"metrics\['acc'\] must be a Metric or 'max'/'min', got int 1"):
        Benchmark("t", "nb201", archs, {"acc": [1, 2, 3]}, metrics={"acc": 1})
    with pytest.raises(InvalidTableError, match="metrics describes 'acc_typo', which is not a column"):
        Benchmark("t", "nb201", archs, {"acc": [1, 2, 3]}, metrics={"acc_typo": "min"})
    with pytest.raises(InvalidTableError, match=r"metrics\['acc'\] describes another metric, 'lat'"):
        Benchmark("t", "nb201", archs, {"acc": [1, 2, 3]}, metrics={"acc": Metric("lat", "min")})
    with pytest.raises(InvalidTableError, match=r"direction is 'max' or 'min', got \{'acc': 'up'\}"):
        Benchmark("t", "nb201", archs, {"acc": [1, 2, 3]}, metrics={"acc": "up"})
    # a direction word overrides the guess: "err" alone would be minimised
    t = Benchmark("t", "nb201", archs, {"acc": [1, 2, 3], "err": [3, 2, 1]}, metrics={"err": "max"})
    assert (t.direction("acc"), t.direction("err")) == ("max", "max") and t.optimum("err").value == 3.0
    assert t.metric("err") == Metric("err", "max")


def test_error_and_loss_columns_are_guessed_minimised_and_nb201_directions_are_kept(tmp_path, nb) -> None:
    from nagen.benchmarks import _guess_direction

    for name in ("test_error", "val_loss", "top1_err", "error_rate", "Top-1 Error", "train_nll", "regret"):
        assert _guess_direction(name) == "min", name
    for name in ("terror_score", "lossless_ratio", "cifar10_valid_12ep", "accuracy"):
        assert _guess_direction(name) == "max", name
    # the shipped table's columns keep their directions (described or guessed)
    for m in nb.metrics:
        expect = "min" if m.startswith("lat_") or m in ("params", "flops") else "max"
        assert nb.direction(m) == expect == _guess_direction(m), m
    p = tmp_path / "e.csv"
    p.write_text(f"arch,test_error\n{A1},5\n{A2},50\n")
    t = Benchmark.from_csv(p, "nb201")
    assert t.direction("test_error") == "min" and t.optimum("test_error").value == 5.0
    assert Benchmark.from_csv(p, "nb201", directions={"test_error": "max"}).optimum("test_error").value == 50.0


@pytest.mark.parametrize(
    "text, kwargs, fragment",
    [
        (f"arch,acc\n{A1},1\n\n\n{A2},oops\n", {"metric_columns": ["acc"]}, "t.csv line 5: column 'acc' holds 'oops'"),
        (f"arch,acc\n{A1},1\n\n{A1},2\n", {}, "lines 2 and 4 hold the same architecture"),
        (f'arch,acc,note\n{A1},1,"two\nlines"\n{A2},x,c\n', {"metric_columns": ["acc"]}, "line 4: column 'acc' holds 'x'"),
        (f"arch,acc\n\n{A1},1,2\n", {}, "line 3: more fields"),
        (f"arch,acc\n\n|bad|,1\n", {}, "line 3: "),
    ],
)
def test_from_csv_errors_name_the_physical_file_line(tmp_path, text, kwargs, fragment) -> None:
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(InvalidTableError, match=fragment):
        Benchmark.from_csv(p, "nb201", **kwargs)


def test_from_csv_skips_all_empty_columns_unless_named(tmp_path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"arch,acc,notes,\n{A1},1,,\n{A2},2, ,\n")  # a blank notes column and a trailing comma
    assert Benchmark.from_csv(p, "nb201").metrics == ["acc"]
    t = Benchmark.from_csv(p, "nb201", metric_columns=["acc", "notes"])
    assert t.metrics == ["acc", "notes"] and np.isnan(t.values("notes")).all()
    # a direction given for it declares it a metric too (measured later)
    t = Benchmark.from_csv(p, "nb201", directions={"notes": "min"})
    assert "notes" in t.metrics and t.direction("notes") == "min"
    p.write_text(f"arch,notes\n{A1},\n{A2},\n")
    with pytest.raises(InvalidTableError, match=r"no numeric metric columns found.*skipped \['notes'\], empty in every row"):
        Benchmark.from_csv(p, "nb201")


def test_from_csv_reads_a_generator_of_metric_columns_once(tmp_path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"arch,acc,lat_ms\n{A1},1,3\n{A2},2,4\n")
    t = Benchmark.from_csv(p, "nb201", metric_columns=(c for c in ["lat_ms", "acc"]))
    assert t.metrics == ["lat_ms", "acc"] and t.query(A2, "lat_ms") == 4.0
    with pytest.raises(InvalidTableError, match="not in the header"):
        Benchmark.from_csv(p, "nb201", metric_columns=(c for c in ["acc", "nope"]))
    with pytest.raises(InvalidTableError, match="metric_columns must be column names, got int 3"):
        Benchmark.from_csv(p, "nb201", metric_columns=3)


# ---------------------------------------------------------------------- CSV numbers, paths, loaders
@pytest.mark.parametrize(
    "cell, why",
    [
        ("1_000", "not a number"),  # float() reads digit separators: loaded as 1000.0
        ("+1_0.5", "not a number"),
        ("\u0661\u0662", "not a number"),  # Arabic-Indic digits: float() read 12.0
        ("\uff11\uff12", "not a number"),  # full-width digits: float() read 12.0
        ("1e400", r"a number too large for a float \(it would be read as inf\)"),
        ("-1e400", r"a number too large for a float \(it would be read as -inf\)"),
        ("inf", "not a number"),
        ("-Infinity", "not a number"),
    ],
)
def test_from_csv_refuses_what_only_python_float_reads(tmp_path, cell, why) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f'arch,acc,lat_ms\n{A1},1,2\n\n{A2},2,"{cell}"\n', encoding="utf-8")
    # named or found by default: a column with one such cell is reported, not loaded or silently dropped
    for kwargs in ({}, {"metric_columns": ["acc", "lat_ms"]}):
        with pytest.raises(InvalidTableError, match=rf"t\.csv line 4: column 'lat_ms' holds '{re.escape(cell)}', {why}") as e:
            Benchmark.from_csv(p, "nb201", **kwargs)
        assert "finite decimal number such as 91.5" in str(e.value) and "empty or nan if not measured" in str(e.value)


@pytest.mark.parametrize(
    "cell, value",
    [("91.5", 91.5), ("-3", -3.0), ("+3", 3.0), (".5", 0.5), ("5.", 5.0), ("1.2e-3", 1.2e-3), ("1E+2", 100.0),
     (" 7 ", 7.0), ("", math.nan), ("nan", math.nan), (" NaN ", math.nan), ("-nan", math.nan)],
)
def test_from_csv_reads_decimal_numbers_and_missing_cells(tmp_path, cell, value) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f'arch,acc,lat_ms\n{A1},1,2\n{A2},2,"{cell}"\n')
    got = Benchmark.from_csv(p, "nb201").query(A2, "lat_ms")
    assert got == value or (math.isnan(value) and math.isnan(got))


def test_from_csv_paths_and_header_after_blank_lines(tmp_path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(f"\n\narch,acc\n{A1},1\n{A2},oops\n")
    # a blank line above the header was read as a header of no columns: "line 2: more fields than the header's 0"
    with pytest.raises(InvalidTableError, match="t.csv line 5: column 'acc' holds 'oops'"):
        Benchmark.from_csv(p, "nb201", metric_columns=["acc"])
    p.write_text(f"\narch,acc\n{A1},1\n{A2},2\n")
    assert Benchmark.from_csv(p, "nb201").values("acc").tolist() == [1.0, 2.0]
    for bad in (None, 3):  # was a bare TypeError from Path()
        with pytest.raises(InvalidTableError, match=f"path must be a file path .*got {type(bad).__name__}"):
            Benchmark.from_csv(bad, "nb201")
    with pytest.raises(InvalidTableError, match="is a directory, not a CSV file"):  # was "no such CSV file"
        Benchmark.from_csv(tmp_path, "nb201")
    g = tmp_path / "RUNS.CSV.GZ"  # was read as plain text: "cannot read it as a UTF-8 CSV file"
    g.write_bytes(gzip.compress(f"arch,acc\n{A1},1\n".encode()))
    t = Benchmark.from_csv(g, "nb201")
    assert t.name == "RUNS" and t.query(A1, "acc") == 1.0


def test_constructor_refuses_text_columns_and_archs_that_are_not_rows(nb) -> None:
    archs = list(nb.archs[:2])
    for col in (["1_000", "2"], np.array(["inf", "2"]), [1.0, "2"], [None, "2"]):  # NumPy read the text as float() does
        with pytest.raises(InvalidTableError, match="column 'a' of table 't' holds values that are not numbers: text"):
            Benchmark("t", "nb201", archs, {"a": col})
    assert np.isnan(Benchmark("t", "nb201", archs, {"a": [1.0, None]}).values("a")[1])  # None: not measured, as before
    with pytest.raises(InvalidTableError, match=r"column 'a' of table 't' holds inf in row 1 \('\|.*'\); values are finite"):
        Benchmark("t", "nb201", archs, {"a": [1.0, np.inf]})  # was the optimum of every search
    with pytest.raises(InvalidTableError, match="holds booleans"):
        Benchmark("t", "nb201", archs, {"a": np.array([True, False])})
    for bad in (None, 3):  # was a bare TypeError from enumerate()
        with pytest.raises(InvalidTableError, match=f"archs must be a sequence of architectures.*got {type(bad).__name__}"):
            Benchmark("t", "nb201", bad, {"a": []})


def test_register_loader_checks_the_loader_and_takes_overwrite(nb) -> None:
    from nagen.errors import DuplicateRegistrationError, InvalidArgumentError

    name = "test_benchmarks_loader"
    t1 = Benchmark(name, "nb201", nb.archs[:1], {"a": [1.0]})
    t2 = Benchmark(name, "nb201", nb.archs[:1], {"a": [2.0]})
    try:
        with pytest.raises(InvalidArgumentError, match="loader must be callable, got int 5"):  # load() raised a bare TypeError
            nagen.benchmarks.register_loader(name, 5)
        nagen.benchmarks.register_loader(name, lambda: 42)
        with pytest.raises(InvalidTableError, match=f"loader of benchmark table '{name}' returned int, not a Benchmark"):
            nagen.benchmarks.load(name)  # was returned as the table
        # the duplicate error says "pass overwrite=True", which register_loader did not take
        with pytest.raises(DuplicateRegistrationError, match="overwrite=True"):
            nagen.benchmarks.register_loader(name, lambda: t1)
        nagen.benchmarks.register_loader(name, lambda: t1, overwrite=True)
        assert nagen.benchmarks.load(name) is t1 and nagen.benchmarks.load(name) is t1
        nagen.benchmarks.register_loader(name, lambda: t2, overwrite=True)
        assert nagen.benchmarks.load(name) is t2  # not the replaced loader's cached table
        assert nagen.benchmarks.load("nb201") is nb  # other tables stay loaded
    finally:
        nagen.benchmarks._loaders.remove(name)
        nagen.benchmarks._tables.pop(name, None)


def test_a_space_without_a_table_says_so() -> None:
    # callers look a space's table up by the space's name; the message must not suggest a table the user never typed
    from nagen.errors import UnknownBenchmarkError

    with pytest.raises(UnknownBenchmarkError, match="space 'nb101' has no benchmark table .*TrainingLabeller"):
        nagen.benchmarks.load("nb101")
    with pytest.raises(UnknownBenchmarkError, match="did you mean 'nb201'"):
        nagen.benchmarks.load("nb210")  # a mistyped table name still gets the suggestion
