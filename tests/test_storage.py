"""SQLite study storage: URLs, schema version, atomic reservations, immutability, stale trials."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from nagen.storage import (
    DuplicateStudyError,
    SQLiteStorage,
    StorageError,
    StorageVersionError,
    StudyNotFoundError,
    get_storage,
)


@pytest.fixture(params=["file", "path", "memory"])
def store(request, tmp_path):
    """Every storage mode runs the same tests (Optuna's STORAGE_MODES)."""
    if request.param == "file":
        return SQLiteStorage(f"sqlite:///{tmp_path / 'a.db'}")
    if request.param == "path":
        return SQLiteStorage(tmp_path / "b.db")
    return SQLiteStorage("sqlite:///:memory:")


def test_create_reopen_and_conflict(store):
    cfg = {"space": "nb201", "seed": 0}
    assert store.create_study("s", cfg) == cfg
    assert store.create_study("s", cfg) == cfg  # re-open: same config
    with pytest.raises(DuplicateStudyError, match="seed: stored 0, given 1"):
        store.create_study("s", {"space": "nb201", "seed": 1})
    assert store.study_names() == ["s"]
    with pytest.raises(StudyNotFoundError, match="stored studies are"):
        store.study_config("nope")


def test_reserve_dedups_by_hash_and_respects_budget(store):
    store.create_study("s", {})
    got = store.reserve("s", [("a", "h1"), ("b", "h2"), ("a2", "h1")], budget=10)
    assert [(t.number, t.arch) for t in got] == [(0, "a"), (1, "b")]  # h1 twice: reserved once
    assert store.reserve("s", [("c", "h2")]) == []  # equivalent to a reserved trial
    got = store.reserve("s", [("c", "h3"), ("d", "h4")], budget=3)
    assert [t.arch for t in got] == ["c"]  # budget counts every trial


def test_finish_is_committed_and_immutable(store):
    store.create_study("s", {})
    (t,) = store.reserve("s", [("a", "h1")])
    store.finish("s", t.number, "complete", {"acc": 90.5})
    (r,) = store.trials("s")
    assert r.state == "complete" and r.values == {"acc": 90.5} and r.finished is not None
    with pytest.raises(StorageError, match="immutable"):
        store.finish("s", t.number, "failed", reason="x")
    with pytest.raises(ValueError, match="finite"):
        (u,) = store.reserve("s", [("b", "h2")])
        store.finish("s", u.number, "complete", {"acc": float("nan")})
    store.finish("s", u.number, "failed", reason="boom")
    assert [t.state for t in store.trials("s")] == ["complete", "failed"]
    assert store.trials("s", ["failed"])[0].reason == "boom"


def test_adopts_running_trials_of_dead_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = SQLiteStorage(url)
    store.create_study("s", {})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    import socket

    store.reserve("s", [("a", "h1")], owner=f"{socket.gethostname()}:{pid}")  # that process has exited
    store.reserve("s", [("b", "h2")], owner="otherhost:1")  # cannot be checked: assumed alive
    adopted = store.adopt_stale("s")
    assert [t.arch for t in adopted] == ["a"]
    assert store.adopt_stale("s") == []


def test_adopts_trials_of_zombies_reused_pids_and_released_owners(tmp_path):
    import os
    import socket

    from nagen.storage import RELEASED, _start_ticks, owner_id

    store = SQLiteStorage(f"sqlite:///{tmp_path / 'z.db'}")
    store.create_study("s", {})
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):  # exited but not reaped: it still answers kill(pid, 0)
        if _start_ticks(zombie.pid) is None or open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.02)
    host, pid = socket.gethostname(), os.getpid()
    store.reserve("s", [("a", "h1")], owner=f"{host}:{zombie.pid}:{_start_ticks(zombie.pid) or 0}")
    store.reserve("s", [("b", "h2")], owner=f"{host}:{pid}:1")  # this pid, but an earlier process (start time 1)
    store.reserve("s", [("c", "h3")], owner=owner_id())  # this very process: alive
    store.reserve("s", [("d", "h4")], owner=f"{host}:{pid}:{_start_ticks(pid)}x")  # unparseable owner: assumed alive
    adopted = store.adopt_stale("s", owner="someone-else:1:1")
    assert [t.arch for t in adopted] == ["a", "b"]
    zombie.wait()
    assert store.release("s", [2, 3], owner=owner_id()) == 1  # only its own running trials
    assert [t.arch for t in store.adopt_stale("s", owner="someone-else:1:1")] == ["c"]
    assert RELEASED not in {t.owner for t in store.trials("s")}


def test_schema_version_mismatch_names_the_fix(tmp_path):
    path = tmp_path / "old.db"
    SQLiteStorage(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE nagen_schema SET version = 0")
    conn.commit()
    conn.close()
    with pytest.raises(StorageVersionError, match=r"schema version 0.*s\.upgrade\("):
        SQLiteStorage(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE nagen_schema SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StorageVersionError, match="pip install -U nagen"):
        SQLiteStorage(path)


def test_bad_urls():
    with pytest.raises(StorageError, match="SQLite only"):
        SQLiteStorage("postgresql://u@h/db")
    with pytest.raises(StorageError, match="does not exist"):
        SQLiteStorage("sqlite:///no/such/folder/x.db")
    assert isinstance(get_storage("sqlite:///:memory:"), SQLiteStorage)
    with pytest.raises(StorageError, match="got 5"):
        get_storage(5)
    with pytest.raises(StorageError, match="SQLite only"):
        SQLiteStorage("sqlite+aiosqlite:///x.db")  # another driver: not the standard-library one
    assert SQLiteStorage("sqlite://").in_memory  # SQLAlchemy's in-memory spelling
    with pytest.raises(StorageError, match="malformed SQLite URL"):
        SQLiteStorage("sqlite://x.db")


def test_a_missing_study_in_an_empty_database_says_it_holds_none(tmp_path):
    with pytest.raises(StudyNotFoundError, match="it holds no study"):
        SQLiteStorage(f"sqlite:///{tmp_path}/e.db").delete_study("x")


def test_sqlalchemy_pysqlite_url_is_the_same_file(tmp_path):
    # SQLAlchemy spells the standard-library driver out; both URLs must open one database
    a = SQLiteStorage(f"sqlite:///{tmp_path}/s.db")
    a.create_study("x", {"space": "nb201"})
    b = SQLiteStorage(f"sqlite+pysqlite:///{tmp_path}/s.db")
    assert "x" in b.study_names()


def test_upgrade_refuses_missing_and_foreign_files_without_creating_them(tmp_path):
    from nagen.storage import upgrade

    missing = tmp_path / "typo.db"
    with pytest.raises(StorageError, match="no study database"):
        upgrade(f"sqlite:///{missing}")
    assert not missing.exists()
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database")
    with pytest.raises(StorageError, match="not a nagen study database"):
        upgrade(foreign)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StorageError, match="not a nagen study database"):
        upgrade(other)


def test_pickle_reopens(tmp_path):
    import pickle

    store = SQLiteStorage(tmp_path / "p.db")
    store.create_study("s", {"k": 1})
    again = pickle.loads(pickle.dumps(store))
    assert again.study_config("s") == {"k": 1}
    with pytest.raises(StorageError, match="in-memory"):
        pickle.dumps(SQLiteStorage("sqlite:///:memory:"))


def test_trials_see_other_connections_and_parse_finished_trials_once(tmp_path, monkeypatch):
    """Finished trials are kept between reads; running ones, new ones and a re-created study are re-read."""
    import json

    import nagen.storage as storage_module

    url = f"sqlite:///{tmp_path / 'k.db'}"
    reader, writer = SQLiteStorage(url), SQLiteStorage(url)
    writer.create_study("s", {})
    a, b = writer.reserve("s", [("a", "h1"), ("b", "h2")])
    writer.finish("s", a.number, "complete", {"acc": 1.0})
    assert [(t.arch, t.state) for t in reader.trials("s")] == [("a", "complete"), ("b", "running")]
    writer.finish("s", b.number, "failed", reason="boom")  # was running at the last read: re-read
    writer.reserve("s", [("c", "h3")])  # new
    got = reader.trials("s")
    assert [(t.arch, t.state, t.reason) for t in got] == [("a", "complete", ""), ("b", "failed", "boom"), ("c", "running", "")]
    assert reader.trials("s", ["complete"]) == got[:1]
    loads = []
    real = json.loads
    monkeypatch.setattr(storage_module.json, "loads", lambda text: loads.append(text) or real(text))
    reader.trials("s")
    assert loads == []  # nothing finished since: nothing parsed again
    monkeypatch.undo()
    # deleted and created again under the same name (by another connection): nothing stale survives
    writer.delete_study("s")
    assert reader.trials("s") == []
    time.sleep(0.01)  # a distinct creation time
    writer.create_study("s", {})
    (d,) = writer.reserve("s", [("d", "h9")])
    writer.finish("s", d.number, "complete", {"acc": 2.0})
    assert [(t.number, t.arch, t.values) for t in reader.trials("s")] == [(0, "d", {"acc": 2.0})]


def test_sqlite_failures_inside_a_write_become_named_storage_errors(tmp_path):
    """A locked or failing database raises StorageError naming what was written; nothing half-written."""

    store = SQLiteStorage(tmp_path / "f.db")
    store.create_study("s", {})
    real = store._conn

    class Failing:
        """Forwards to the real connection but fails on the first INSERT (a full disk, say)."""

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    store._conn = Failing()
    with pytest.raises(StorageError, match=r"reserving trials of study 's' in .*f\.db.* failed: database or disk is full"):
        store.reserve("s", [("a", "h1")])
    with pytest.raises(StorageError, match=r"claiming a lat_ms measurement for study 's'.*disk is full"):
        store.reserve_measurement("s", "lat_ms", "a", "h1", limit=3)
    store._conn = real
    assert store.trials("s") == [] and store.measurements("s") == []  # rolled back
    assert [t.arch for t in store.reserve("s", [("a", "h1")])] == ["a"]  # the write lock was released


def test_processes_opening_one_new_database_together_do_not_fail_on_the_journal_mode(tmp_path) -> None:
    # switching to WAL is not covered by SQLite's busy timeout: two processes opening a new study at
    # once failed with "database is locked" (seen in CI in the two-process test)
    import sqlite3
    import threading

    from nagen.storage import _enable_wal

    for trial in range(30):
        path = str(tmp_path / f"s{trial}.db")
        barrier, errors = threading.Barrier(6), []

        def open_it() -> None:
            conn = sqlite3.connect(path, timeout=5, isolation_level=None)
            barrier.wait()
            try:
                _enable_wal(conn, 5)
            except sqlite3.Error as e:
                errors.append(str(e))
            finally:
                conn.close()

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with sqlite3.connect(path) as c:
            assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
