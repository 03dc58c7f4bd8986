"""Storage robustness from a "never lose a run" review: an interrupt while waiting for the write
lock, a newer database refused untouched, owners in another PID namespace, a label that kills
its process, a trial two processes labelled, URL query options, the per-user cache folder and
atomic files."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import nagen.storage as storage
from nagen.storage import SQLiteStorage, StorageError, StorageVersionError


def _dead_owner() -> str:
    """The owner id of a process of this host that has exited."""
    out = subprocess.run([sys.executable, "-c", "import nagen.storage as s; print(s.owner_id())"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class _InterruptedBegin:
    """A connection whose ``BEGIN IMMEDIATE`` takes the lock, then meets a Ctrl-C (as when it
    lands while SQLite waits out another process's transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args):
        out = self.conn.execute(sql, *args)
        if sql == "BEGIN IMMEDIATE":
            raise KeyboardInterrupt
        return out

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_an_interrupt_as_begin_takes_the_lock_leaves_no_transaction_open(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'i.db'}"
    store = SQLiteStorage(url)
    store.create_study("s", {})
    real = store._conn
    store._conn = _InterruptedBegin(real)
    with pytest.raises(KeyboardInterrupt):  # the interrupt itself, not a StorageError in its place
        store.reserve("s", [("a", "h1")])
    store._conn = real
    # the lock was held for as long as the process lived: the next write here failed ("cannot start a
    # transaction within a transaction") and every other process's writes timed out
    assert not real.in_transaction
    other = SQLiteStorage(url, timeout=0.5)
    assert [t.arch for t in other.reserve("s", [("b", "h2")])] == ["b"]
    assert [t.arch for t in store.reserve("s", [("a", "h1")])] == ["a"]


def test_a_database_of_a_newer_schema_is_refused_without_being_changed(tmp_path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE nagen_schema (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO nagen_schema VALUES (?)", (storage.SCHEMA_VERSION + 1,))
    conn.execute("CREATE TABLE runs (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StorageVersionError, match="upgrade nagen"):
        SQLiteStorage(path)
    conn = sqlite3.connect(path)
    tables = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert tables == ["nagen_schema", "runs"] and mode == "delete"  # no nagen tables added, not switched to WAL


def test_an_owner_in_another_pid_namespace_is_never_taken_for_dead(tmp_path, monkeypatch) -> None:
    dead = _dead_owner()
    assert ("@" in dead) == Path("/proc/self/ns/pid").exists()  # the namespace is part of the owner where known
    host_pid_start = dead.partition("@")[0]
    # this process's namespace, fixed so that the test runs on every system
    monkeypatch.setattr(storage, "_pid_namespace", lambda: "1000")
    assert storage.owner_id().endswith("@1000")
    dead = f"{host_pid_start}@1000"
    assert not storage._owner_alive(dead) and not storage._owner_alive(host_pid_start)
    # another container sharing this host name and database: its pids are not ours to look up
    other_ns = f"{host_pid_start}@1001"
    assert storage._owner_alive(other_ns)
    assert storage.unchecked_host(dead) is None and storage.unchecked_host("elsewhere:1:1@5") == "elsewhere"
    assert storage.unchecked_host(other_ns) == f"{socket.gethostname()}@1001"
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'n.db'}")
    store.create_study("s", {})
    store.reserve("s", [("a", "h1")], owner=other_ns)
    store.reserve("s", [("b", "h2")], owner=dead)
    assert [t.arch for t in store.adopt_stale("s")] == ["b"]
    # the warning's 'host@ns' releases that container's trials only, not this namespace's live ones
    store.reserve("s", [("c", "h3")], owner=storage.owner_id())
    assert store.release_host("s", storage.unchecked_host(other_ns)) == 1
    assert {t.arch: t.owner for t in store.trials("s", ["running"])}["c"] == storage.owner_id()


def test_a_trial_whose_process_dies_max_deaths_times_is_failed_not_adopted_again(tmp_path) -> None:
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'p.db'}")
    store.create_study("s", {})
    store.reserve("s", [("a", "h1")], owner=_dead_owner())
    for death in range(1, storage.MAX_DEATHS):
        (t,) = store.adopt_stale("s", owner=f"adopter-{death}:1:1")
        assert t.state == "running" and f"died: {death} time" in t.reason
        # the adopter dies on it too (the label crashes its process)
        store._conn.execute("UPDATE trials SET owner = ? WHERE number = 0", (_dead_owner(),))
    assert store.adopt_stale("s") == []
    (t,) = store.trials("s")
    assert t.state == "failed" and f"died while it was being labelled, {storage.MAX_DEATHS} times" in t.reason
    # a batch dies on its first label: only that trial is charged, the later ones may never have started
    store.create_study("batch", {})
    store.reserve("batch", [("c", "h3"), ("d", "h4"), ("e", "h5")], owner=_dead_owner())
    for _ in range(storage.MAX_DEATHS):
        adopted = store.adopt_stale("batch", owner="adopter:1:1")
        store._conn.execute("UPDATE trials SET owner = ? WHERE study = 'batch' AND state = 'running'", (_dead_owner(),))
    states = {t.arch: (t.state, t.reason) for t in store.trials("batch")}
    assert states["c"][0] == "failed" and [states[a][0] for a in "de"] == ["running", "running"]
    assert all("died" not in states[a][1] for a in "de")
    # handed back by a live process (an interrupt): no death is counted
    store.reserve("s", [("b", "h2")], owner="me:1:1")
    for _ in range(storage.MAX_DEATHS + 1):
        store.release("s", [1], owner="me:1:1")
        assert [t.arch for t in store.adopt_stale("s", owner="me:1:1")] == ["b"]


def test_a_trial_another_process_recorded_meanwhile_is_not_recorded_twice(tmp_path) -> None:
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'r.db'}")
    store.create_study("s", {})
    store.reserve("s", [("a", "h1")], owner="me:1:1")
    assert store.finish("s", 0, "complete", {"acc": 1.0}, labeller_of="other:2:2")
    with pytest.warns(UserWarning, match="recorded .complete. meanwhile by another process"):
        assert not store.finish("s", 0, "complete", {"acc": 2.0}, labeller_of="me:1:1")
    assert store.trials("s")[0].values == {"acc": 1.0}  # the first record stands
    with pytest.raises(StorageError, match="immutable"):  # without an owner it is an error, as before
        store.finish("s", 0, "failed", reason="x")


def test_url_query_options_are_refused_not_made_part_of_the_file_name(tmp_path) -> None:
    with pytest.raises(StorageError, match=r"query options \('\?timeout=10'\)"):
        SQLiteStorage(f"sqlite:///{tmp_path / 'q.db'}?timeout=10")
    assert list(tmp_path.iterdir()) == []


def test_a_named_study_in_memory_is_refused_by_search_and_the_cli(capsys) -> None:
    from nagen.errors import InvalidArgumentError
    from nagen.search_api import search

    for mem in ("sqlite:///:memory:", "sqlite://", SQLiteStorage("sqlite:///:memory:")):
        with pytest.raises(InvalidArgumentError, match="needs a storage file"):
            search(budget=2, method="random", study="mine", storage=mem)
    from cli_run import run_cli

    assert run_cli(["search", "--objective", "cifar10_test", "--budget", "2", "--method", "random",
                    "--storage", "sqlite:///:memory:", "--study", "mine", "--json"]) == 2
    assert "not one in memory" in capsys.readouterr().err


def test_the_cache_folder_is_per_user(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NAGEN_CACHE", str(tmp_path / "mine"))
    assert storage.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("NAGEN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert storage.cache_dir() == tmp_path / "xdg" / "nagen"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # not a shared temporary folder: the cached models are pickles, which run code when loaded
    assert storage.cache_dir() == tmp_path / "home" / ".cache" / "nagen"
    # no home at all: a private folder in the temporary one, never one someone else made there first
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = storage._private_tmp_cache()
    assert mine == tmp_path / f"nagen-cache-{os.getuid()}" and (mine.stat().st_mode & 0o777) == 0o700
    mine.chmod(0o777)  # as if planted, writable by all
    other = storage._private_tmp_cache()
    assert other != mine and other.parent == tmp_path and (other.stat().st_mode & 0o777) == 0o700


def test_save_atomic_sets_the_mode_and_names_its_temporary_file_after_the_target(tmp_path, monkeypatch) -> None:
    target = tmp_path / "model.pt"
    storage.save_atomic({"x": 1}, target, mode=0o644)
    assert target.exists() and (target.stat().st_mode & 0o777) == 0o644
    seen = []

    def dies(obj, name):
        seen.append(Path(name).name)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        storage.save_atomic({"x": 2}, target, writer=dies)
    assert seen[0].startswith(".model.pt.") and seen[0].endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # removed; the old file intact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch

        assert torch.load(target) == {"x": 1}
    assert os.access(target, os.R_OK)
