"""TransferTask refuses bad input before any work: an unusable cache folder, a bad search budget,
bad generate arguments. Nothing may be half-written (no storage file or study row, no cache file)."""

from __future__ import annotations

import errno
import re
import sqlite3
import tempfile
from pathlib import Path

import pytest

import nagen
from nagen.errors import InvalidArgumentError, InvalidGuidanceError, InvalidSpecError, NagenError
from nagen.predictors.meta import MetaPredictor
from nagen.transfer import SourceConsensus, TransferTask

# meta-trains in about a second (as in test_transfer_review.py)
SMALL = {"hidden": 32, "layers": 2, "steps_per_epoch": 8}
SOURCES = ["cifar100_valid_12ep", "imagenet16_valid_12ep"]
TARGET = "cifar10_valid_12ep"
GP = {"w0": 0.5, "sw": 0.0, "sf": 1.0, "l": 2.0, "sn": 0.3}


@pytest.fixture
def no_work(monkeypatch):
    """Meta-training or the leave-one-source-out choice fails the test: refusals must come first."""

    def boom(*a, **k):
        raise AssertionError("computed before the request was checked")

    monkeypatch.setattr(MetaPredictor, "meta_fit", boom)
    monkeypatch.setattr(SourceConsensus, "choose", boom)


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------ 1. a cache folder that cannot be used
def test_cache_dir_under_a_file_is_refused_when_the_task_is_built(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidSpecError, match=r"'.*f' is a file, so no folder can be created inside it.*writable"):
        TransferTask(SOURCES, TARGET, cache_dir=tmp_path / "f" / "sub")
    monkeypatch.setenv("NAGEN_CACHE", str(tmp_path / "f" / "sub"))
    with pytest.raises(InvalidSpecError, match=r"\(from \$NAGEN_CACHE\)"):  # the default says where it came from
        TransferTask(SOURCES, TARGET)
    with pytest.raises(InvalidSpecError, match="must be a folder path"):
        TransferTask(SOURCES, TARGET, cache_dir=5)


def test_cli_search_with_an_unusable_nagen_cache_is_one_error_line(tmp_path, monkeypatch, capsys, no_work):
    from nagen.cli import main

    (tmp_path / "f").write_text("")
    monkeypatch.setenv("NAGEN_CACHE", str(tmp_path / "f" / "sub"))
    db = tmp_path / "s.db"
    argv = ["search", "--objective", TARGET, "--budget", "2", "--transfer-from", ",".join(SOURCES), "--storage", f"sqlite:///{db}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nagen: error: cache_dir ") and err.count("\n") == 1 and "Traceback" not in err
    assert not db.exists()


@pytest.mark.parametrize("method", ["consensus", "meta"])
@pytest.mark.parametrize("call", ["search", "generate", "proposer"])
def test_a_cache_dir_that_cannot_be_created_is_refused_before_any_work(tmp_path, monkeypatch, no_work, method, call):
    db = tmp_path / "t.db"
    # as under Linux's /proc, which takes no new folder although it looks writable to root: only
    # creating one tells (here on every system: its creation fails, in a writable parent)
    folder = tmp_path / "nagen-test"
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if self == folder:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(InvalidSpecError, match=re.escape(f"'{folder}' cannot be used as the cache folder: No such file") + ".*writable"):
        task = TransferTask(SOURCES, TARGET, cache_dir=folder, method=method, epochs=2, meta_options=SMALL)
        if call == "search":
            task.search(2, storage=f"sqlite:///{db}")
        elif call == "generate":
            task.generate(2)
        else:
            task.proposer()
    assert not db.exists()


def _unwritable(monkeypatch):
    """Every file creation in the cache fails, as in a read-only folder (root may write anywhere else)."""

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_an_unwritable_cache_is_refused_before_training_but_a_filled_one_is_read(tmp_path, monkeypatch):
    filled = tmp_path / "filled"
    trained = TransferTask(SOURCES, TARGET, method="meta", epochs=2, meta_options=SMALL, cache_dir=filled)
    first = [t.arch for t in trained.search(3).history]
    cached = _files(filled)
    assert cached
    _unwritable(monkeypatch)
    calls = []
    monkeypatch.setattr(MetaPredictor, "meta_fit", lambda *a, **k: calls.append(1))
    # read-only, but holding the task's model: nothing to write, so it is used as before
    again = TransferTask(SOURCES, TARGET, method="meta", epochs=2, meta_options=SMALL, cache_dir=filled)
    assert [t.arch for t in again.search(3).history] == first and _files(filled) == cached
    empty = tmp_path / "empty"
    empty.mkdir()
    fresh = TransferTask(SOURCES, TARGET, method="meta", epochs=2, meta_options=SMALL, cache_dir=empty)
    with pytest.raises(InvalidSpecError, match=r"cannot be used as the cache folder: Permission denied \(PermissionError\)"):
        fresh.generate(2)
    # nothing trained (no warning announcing a training that could not be saved either), nothing written
    assert not calls and _files(empty) == []
    # a consensus search with a fixed gp writes nothing in an enumerable space: no probe for it
    assert len(TransferTask(SOURCES, TARGET, gp=GP, cache_dir=empty).search(2).history) == 2


def test_a_large_space_pool_refuses_an_unusable_cache_before_the_study_is_stored(tmp_path, monkeypatch, no_work):
    """Consensus with generated candidates needs the meta-predictor in the first round: refused when
    the proposer is built, not after the study was written to storage."""
    import nagen.study

    monkeypatch.setattr(nagen.study, "ENUMERATE_LIMIT", 1000)  # NB201 as if too large to enumerate
    _unwritable(monkeypatch)
    task = TransferTask(SOURCES, TARGET, gp=GP, generated=5, cache_dir=tmp_path / "c")
    db = tmp_path / "t.db"
    with pytest.raises(InvalidSpecError, match="cannot be used as the cache folder"):
        task.search(2, storage=f"sqlite:///{db}")
    assert not db.exists() and _files(tmp_path / "c") == []


# ------------------------------------------------------------------ 2. search: budget and batch size
@pytest.mark.parametrize(
    "budget, batch_size, fragment",
    [
        (-1, 1, r"budget must be a non-negative integer, got -1"),
        ("a", 1, r"budget must be a non-negative integer, got 'a'"),
        (2.5, 1, r"budget must be a non-negative integer, got 2.5"),
        (True, 1, r"budget must be a non-negative integer, got True"),
        (2, 0, r"batch_size must be a positive integer, got 0"),
        (2, "2", r"batch_size must be a positive integer, got '2'"),
    ],
)
def test_a_bad_budget_or_batch_size_stores_no_study_and_computes_no_prior(tmp_path, no_work, budget, batch_size, fragment):
    task = TransferTask(SOURCES, TARGET, cache_dir=tmp_path / "cache")
    db = tmp_path / "x" / "t.db"
    with pytest.raises(InvalidArgumentError, match=fragment):
        task.search(budget, batch_size=batch_size, storage=f"sqlite:///{db}")
    assert not db.exists() and not db.parent.exists()
    assert _files(tmp_path / "cache") == []  # the leave-one-source-out choice was not computed (nor cached)


def test_search_budget_zero_and_numpy_counts_are_still_taken(tmp_path):
    import numpy as np

    task = TransferTask(SOURCES, TARGET, cache_dir=tmp_path, gp=GP)
    assert len(task.search(0).history) == 0  # as Study.optimize: a re-opened study's total may be 0
    db = tmp_path / "t.db"
    study = task.search(np.int64(3), batch_size=np.int32(2), storage=f"sqlite:///{db}", name="s")
    assert len(study.history) == 3
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from studies").fetchone()[0] == 1


# ------------------------------------------------------------------ 3. generate: arguments before meta-training
@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"seed": -1}, InvalidArgumentError, "seed must be a non-negative integer, got -1"),
        ({"seed": 1.5}, InvalidArgumentError, "seed must be a non-negative integer"),
        ({"unique": "yes"}, InvalidArgumentError, "unique must be True or False"),
        ({"n": 20_000, "unique": True}, InvalidArgumentError, "has only 15,625 architectures"),
        ({"steps": 0}, InvalidArgumentError, "steps must be a positive integer"),
        ({"constraints": {"params": float("nan")}}, InvalidGuidanceError, "needs a finite bound"),
        ({"constraints": ["params<=-1"]}, NagenError, "upper bound must be > 0"),
        ({"constraints": ["nope<=3"]}, NagenError, "nope"),
        ({"constraints": ["cifar10_test>=80"], "guide_labels": 1}, InvalidArgumentError, "guide_labels must be an integer >= 2"),
        ({"constraints": ["cifar10_test>=80"], "guide_labels": 10**6}, InvalidArgumentError, "guide_labels must be at most"),
        ({"guide_labels": "x"}, InvalidArgumentError, "guide_labels must be an integer >= 2"),
        ({"constraint_scale": -1.0}, InvalidGuidanceError, "constraint_scale must be a finite number"),
        ({"device_samples": 3}, InvalidGuidanceError, "device_samples needs a device latency constraint"),
        ({"benchmark": "no_such_table", "constraints": ["cifar10_test>=80"]}, NagenError, "no_such_table"),
        ({"generator": object()}, InvalidArgumentError, "generator must be a nagen Generator"),
    ],
)
def test_generate_arguments_are_checked_before_meta_training(tmp_path, no_work, kwargs, error, fragment):
    task = TransferTask(SOURCES, TARGET, epochs=2, meta_options=SMALL, cache_dir=tmp_path)
    n = kwargs.pop("n", 2)
    with pytest.raises(error, match=fragment):
        task.generate(n, **kwargs)
    assert _files(tmp_path) == []  # no meta-trained model cached


def test_generate_refuses_a_generator_that_cannot_be_guided_before_meta_training(tmp_path, no_work):
    from nagen.generators.random import RandomGenerator

    task = TransferTask(SOURCES, TARGET, epochs=2, meta_options=SMALL, cache_dir=tmp_path)
    gen = RandomGenerator(task.space, seed=0).fit()
    with pytest.raises(InvalidGuidanceError, match="cannot be guided"):
        task.generate(2, generator=gen)
    assert _files(tmp_path) == []


def test_generate_with_n_zero_checks_the_arguments_too(tmp_path, no_work):
    task = TransferTask(SOURCES, TARGET, cache_dir=tmp_path)
    with pytest.raises(InvalidArgumentError, match="unique must be True or False"):
        task.generate(0, unique="yes")  # was passed over for n=0
    assert list(task.generate(0, unique=True, seed=3)) == []


def test_valid_generate_arguments_still_generate(tmp_path):
    task = TransferTask(SOURCES, TARGET, epochs=2, meta_options=SMALL, cache_dir=tmp_path)
    res = task.generate(3, seed=1, steps=5, unique=True, constraints={"params": 1.5e6})
    assert len(res) == 3 and all(r.predicted["params"] <= 1.5e6 for r in res)
    assert task.cache_path.is_file()
    assert len(nagen.generate("nb201", 2, guide=TARGET, transfer_from=task, seed=2)) == 2


def test_an_unknown_study_option_is_refused_before_the_prior(tmp_path, monkeypatch) -> None:
    # it was refused by Study only after proposer() had computed the leave-one-source-out choice
    from nagen.errors import UnknownOptionError
    from nagen.transfer import SourceConsensus, TransferTask

    monkeypatch.setattr(SourceConsensus, "choose", lambda self: (_ for _ in ()).throw(AssertionError("prior computed")))
    task = TransferTask(["cifar100_valid_12ep", "imagenet16_valid_12ep"], "cifar10_valid_12ep", cache_dir=tmp_path)
    with pytest.raises(UnknownOptionError, match="n_inital"):
        task.search(2, n_inital=3)


def test_data_task_encodings_are_refused_and_sources_of_the_other_direction_warned() -> None:
    """task_encoding='data'/'both' was accepted, then every meta-training failed ("task ... has no data"):
    table columns hold no data samples. A latency target with accuracy sources ranked by accuracy."""
    import warnings

    import pytest

    from nagen.errors import InvalidSpecError
    from nagen.transfer import TransferTask

    for enc in ("data", "both"):
        with pytest.raises(InvalidSpecError, match=f"task_encoding='{enc}' needs data samples"):
            TransferTask(["cifar100_test", "imagenet16_test"], "cifar10_test", task_encoding=enc)
    with pytest.warns(UserWarning, match="'lat_pixel3_ms' is minimised but every source"):
        TransferTask(["cifar100_test", "imagenet16_test"], "lat_pixel3_ms")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TransferTask(["lat_pixel2_ms", "cifar100_test"], "lat_pixel3_ms")  # one source of its kind: no warning
        TransferTask(["cifar100_test", "imagenet16_test"], "cifar10_test")
