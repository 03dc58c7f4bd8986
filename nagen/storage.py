"""Study storage: an embedded SQLite database that loses no label.

>>> from nagen.storage import get_storage
>>> store = get_storage("sqlite:///nagen.db")          # doctest: +SKIP
>>> store.trials("my-study")                           # doctest: +SKIP

Supported URLs: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
``sqlite:///:memory:`` (one process only), the same with SQLAlchemy's explicit driver
(``sqlite+pysqlite:///...``) and plain file paths. Other SQLAlchemy URLs
(``postgresql://``, ``mysql://``) are **not** supported: the backend is the standard-library
``sqlite3`` module, so no server and no extra dependency is needed.

Guarantees (as Optuna's RDB storage, ``optuna/storages/_rdb``):

* every write is one ``BEGIN IMMEDIATE`` transaction, and the database runs in WAL mode with
  ``synchronous=FULL``, so a label is on disk before the next proposal and a process killed at
  any instant leaves the file consistent;
* two processes (or threads with their own ``SQLiteStorage``) on one study serialise their
  writes; the ``UNIQUE(study, hash)`` constraint makes a second reservation of an equivalent
  architecture impossible, so no architecture is labelled twice;
* finished trials (``complete``/``failed``) are immutable;
* a ``running`` trial whose owning process died (same host, pid gone) holds no label; a
  resumed study takes it over (:meth:`SQLiteStorage.adopt_stale`) and labels it, unless its
  process died :data:`MAX_DEATHS` times with it (then it is failed, with the reason).

The schema carries a version; opening a database written by another schema version fails with
the exact fix (:class:`StorageVersionError`).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nagen.errors import InvalidArgumentError, NagenError

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteStorage",
    "StorageError",
    "StorageVersionError",
    "StudyNotFoundError",
    "DuplicateStudyError",
    "TrialRecord",
    "TrialState",
    "get_storage",
    "owner_id",
    "storage_exists",
    "upgrade",
]

#: the schema this module writes; bump it and add a step to ``_MIGRATIONS`` when tables change
SCHEMA_VERSION = 1

TrialState = Literal["running", "complete", "failed"]
_STATES = ("running", "complete", "failed")


class StorageError(NagenError, RuntimeError):
    """The study database could not be read or written (the SQLite error is chained)."""


class StorageVersionError(StorageError):
    """The database was written by another schema version; the message gives the fix."""


class StudyNotFoundError(NagenError, KeyError):
    """No study of that name in the storage."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DuplicateStudyError(NagenError, ValueError):
    """A study of that name exists with a different configuration."""


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study, as stored.

    Attributes:
        number: position in proposal order (0, 1, ...).
        arch: the architecture string (``space.format``).
        hash: its canonical hash (equal for equivalent architectures).
        state: ``"running"``, ``"complete"`` or ``"failed"``.
        values: objective name -> value (empty unless complete).
        reason: why a failed trial failed; for a running one adopted after its process died,
            how many times that happened (see :data:`MAX_DEATHS`); empty otherwise.
        owner: ``host:pid:start@ns`` of the process that reserved it (see :func:`owner_id`).
        started, finished: UNIX timestamps (``finished`` is None while running).
    """

    number: int
    arch: str
    hash: str
    state: TrialState
    values: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    owner: str = ""
    started: float = 0.0
    finished: float | None = None


@dataclass
class _KeptTrials:
    """The finished trials of one study parsed so far (see :meth:`SQLiteStorage.trials`)."""

    created: float  # the study row's creation time: another value means deleted and re-created
    done: dict[int, TrialRecord] = field(default_factory=dict)
    last: int = -1  # the largest trial number read
    open: list[int] = field(default_factory=list)  # numbers that were running at the last read


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (Linux), else None: ``[0]`` is
    the state, ``[19]`` the start time in clock ticks since boot."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces and parentheses


def _start_ticks(pid: int) -> str | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), else None.

    With the pid it identifies a process for good: a pid is reused (a container restart runs
    the new study as pid 1 again) but never with the same start time.
    """
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


#: deaths of a trial's process (while it ran) after which the trial is failed, not adopted again
MAX_DEATHS = 3
_DEATHS = re.compile(r"adopted after its process died: (\d+) time")

#: the owner of a trial whose process gave it up (interrupted) before labelling it: adoptable by anyone
RELEASED = "released"


def _pid_namespace() -> str:
    """The inode of this process's PID namespace (Linux), else ``""``.

    Why: two containers may share a host name (``--network host``) and one database yet number
    their processes apart; a pid read in the other's namespace names another process or none.
    """
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _owner_parts(owner: str) -> tuple[str, str, str]:
    """``(host, host:pid:start, ns)`` of an owner id (``ns`` empty when not recorded; a host name
    holds no '@')."""
    base, _, ns = owner.partition("@")
    return base.split(":")[0], base, ns


def owner_id() -> str:
    """``host:pid:start@ns`` of this process (``start``: its start time where the OS tells, see
    :func:`_start_ticks`; ``@ns``: its PID namespace, where known): the owner recorded on the
    trials it reserves."""
    pid = os.getpid()
    ns = _pid_namespace()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or 0}" + (f"@{ns}" if ns else "")


def _owner_alive(owner: str) -> bool:
    """False when ``owner`` is a process of this host that no longer runs: gone, a zombie, or
    its pid now belongs to a later process; also False for :data:`RELEASED`.

    Owners on other hosts, or in another PID namespace of this host (another container), cannot
    be checked and are assumed alive. ``host:pid`` owners (written before start times were
    recorded) are checked by pid only, ``host:pid:start`` ones (before namespaces were) as of this
    namespace.
    """
    if owner == RELEASED:
        return False
    _, owner, ns = _owner_parts(owner)
    if ns and ns != _pid_namespace():
        return True
    parts = owner.split(":")
    if len(parts) >= 3 and parts[-1].isdigit() and parts[-2].isdigit():
        host, pid, start = ":".join(parts[:-2]), parts[-2], parts[-1]
    else:
        host, _, pid = owner.rpartition(":")
        start = "0"
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    fields = _proc_stat(int(pid))
    if fields is None:
        return True  # no /proc to read (not Linux): the process exists
    if fields[0] in ("Z", "X"):  # exited but not reaped yet: it still answers kill(pid, 0)
        return False
    now = fields[19] if len(fields) > 19 else None
    return not (start != "0" and now is not None and now != start)


def unchecked_host(owner: str) -> str | None:
    """Where ``owner`` runs when this process cannot tell whether it lives, as
    :meth:`SQLiteStorage.release_host` takes it: ``host`` for another machine, ``host@ns`` for
    another PID namespace (container) of this one (:func:`_owner_alive` assumes both alive);
    else None."""
    if owner == RELEASED:
        return None
    host, _, ns = _owner_parts(owner)
    if host != socket.gethostname():
        return host
    return f"{host}@{ns}" if ns and ns != _pid_namespace() else None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS nagen_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    arch TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    value_json TEXT,
    reason TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    finished REAL,
    PRIMARY KEY (study, number),
    UNIQUE (study, hash)
);
CREATE TABLE IF NOT EXISTS measurements (
    study TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    arch TEXT NOT NULL,
    hash TEXT NOT NULL,
    value REAL,
    created REAL NOT NULL,
    PRIMARY KEY (study, metric, hash)
);
"""

# version -> SQL that brings a database from that version to version + 1
_MIGRATIONS: dict[int, str] = {}


def _parse_url(url: str | os.PathLike[str]) -> str:
    """The sqlite3 database argument for a ``sqlite:///`` URL or a plain path."""
    if not isinstance(url, (str, os.PathLike)):
        raise StorageError(f"storage must be a 'sqlite:///path' URL, a file path or a SQLiteStorage, got {url!r}")
    text = os.fspath(url)
    if not text.strip():
        # sqlite3.connect("") opens a private temporary database: every label would be lost
        raise StorageError(f"storage names no file (got {text!r}); write 'sqlite:///nagen.db', a path, or 'sqlite:///:memory:'")
    if "://" not in text:
        return os.path.expanduser(text)
    scheme, _, rest = text.partition("://")
    if scheme != "sqlite" and scheme != "sqlite+pysqlite":  # SQLAlchemy's name for the same standard-library driver
        raise StorageError(
            f"unsupported storage URL {text!r}: nagen stores studies in SQLite only; "
            "use 'sqlite:///path/to/file.db' or a plain file path"
        )
    if not rest:
        return ":memory:"  # SQLAlchemy's spelling of an in-memory SQLite database
    if not rest.startswith("/"):
        raise StorageError(f"malformed SQLite URL {text!r}; write 'sqlite:///relative.db' or 'sqlite:////abs/path.db'")
    path = rest[1:]
    if not path:
        raise StorageError(f"SQLite URL {text!r} names no file; write 'sqlite:///nagen.db'")
    if "?" in path:
        # sqlite3 would create a file named 'q.db?timeout=10': SQLAlchemy's query options are not read here
        raise StorageError(
            f"SQLite URL {text!r} carries query options ({path[path.index('?'):]!r}), which nagen does not read; "
            "drop them (a lock timeout is SQLiteStorage(url, timeout=...))"
        )
    return path if path == ":memory:" else os.path.expanduser(path)


def _rollback(conn: sqlite3.Connection) -> None:
    """End ``conn``'s open transaction, if any, discarding it (never raises: the caller is
    already handling the error or interrupt that got here)."""
    try:
        if getattr(conn, "in_transaction", True):  # a wrapped connection may not say: ROLLBACK anyway
            conn.execute("ROLLBACK")
    except sqlite3.Error:  # e.g. "no transaction is active"
        pass


def storage_exists(url: str | os.PathLike[str]) -> bool:
    """True when ``url`` names an existing database file (never creates one; in-memory: False)."""
    path = _parse_url(url)
    return path != ":memory:" and os.path.isfile(path)


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch a database to WAL mode, waiting out other processes that open it at the same moment.

    Changing the journal mode needs a lock SQLite does not wait for through the busy timeout:
    two processes opening one new study together failed with "database is locked". WAL is
    stored in the file, so once one process set it the others only read it.
    """
    deadline = time.monotonic() + max(float(timeout), 1.0)
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SQLiteStorage:
    """Studies and trials in one SQLite file.

    Args:
        url: ``sqlite:///path``, a plain path (``~`` is expanded), or ``sqlite:///:memory:`` (a new,
            empty database each time one is opened: nothing re-opens it, not even in the same process).
        timeout: seconds a writer waits for another process's transaction to finish.

    Raises:
        StorageError: bad URL, unreadable file.
        StorageVersionError: the file was written by another schema version.

    Thread-safety: one connection per object guarded by a lock; use one object per process
    (it is re-opened after pickling, so it can be sent to workers).
    """

    def __init__(self, url: str | os.PathLike[str] = "sqlite:///nagen.db", *, timeout: float = 120.0) -> None:
        self.path = _parse_url(url)  # first: it names a non-path argument (storage=5) in a StorageError
        self.url = os.fspath(url)
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._kept: dict[str, _KeptTrials] = {}
        self._connect()

    # ------------------------------------------------------------------ connection
    @property
    def in_memory(self) -> bool:
        """True for ``:memory:`` databases (not shareable between processes)."""
        return self.path == ":memory:"

    @property
    def directory(self) -> Path:
        """The folder holding the database (the working directory for in-memory ones)."""
        return Path.cwd() if self.in_memory else Path(self.path).resolve().parent

    def _connect(self) -> None:
        if not self.in_memory:
            parent = Path(self.path).parent
            if str(parent) and not parent.exists():
                raise StorageError(f"cannot create study database {self.path!r}: folder {str(parent)!r} does not exist")
        try:
            # isolation_level=None: autocommit; every write opens its own BEGIN IMMEDIATE below
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            # another application's database must not be changed (WAL mode, nagen's tables) nor half-read
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "nagen_schema" not in tables:
                conn.close()
                raise StorageError(
                    f"{self.url!r} is not a nagen study database (it holds other tables: {sorted(tables)[:5]}); "
                    "give a new file or one nagen created"
                )
            if "nagen_schema" in tables:
                # before WAL and CREATE TABLE: a file of another schema version is refused untouched
                row = conn.execute("SELECT version FROM nagen_schema").fetchone()
                if row is not None and int(row[0]) != SCHEMA_VERSION:
                    conn.close()
                    self._refuse_version(int(row[0]))
            if not self.in_memory:
                _enable_wal(conn, self.timeout)  # readers never block the writer
            conn.execute("PRAGMA synchronous=FULL")  # a committed label survives a crash
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
            with self._write("creating the schema") as c:
                # statement by statement: executescript() would COMMIT the open transaction
                for stmt in _SCHEMA.strip().split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                row = c.execute("SELECT version FROM nagen_schema").fetchone()
                if row is None:
                    c.execute("INSERT INTO nagen_schema (version) VALUES (?)", (SCHEMA_VERSION,))
                    version = SCHEMA_VERSION
                else:
                    version = int(row[0])
        except sqlite3.Error as e:
            raise StorageError(f"cannot open study database {self.url!r}: {e}") from e
        if version != SCHEMA_VERSION:  # another process wrote the version between the two reads
            self.close()
            self._refuse_version(version)

    def _refuse_version(self, version: int) -> None:
        """Raise the :class:`StorageVersionError` of a database of schema ``version``, with its fix."""
        if version < SCHEMA_VERSION:
            fix = f"back it up, then run: python -c \"import nagen.storage as s; s.upgrade({self.url!r})\""
        else:
            fix = "upgrade nagen (pip install -U nagen) or open it with the nagen version that wrote it"
        raise StorageVersionError(
            f"study database {self.url!r} has schema version {version}, this nagen reads version {SCHEMA_VERSION}; {fix}"
        )

    def close(self) -> None:
        """Close the connection (the object re-opens it when pickled and loaded elsewhere)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        if self.in_memory:
            raise StorageError("an in-memory study database cannot be shared with another process; use a file")
        return {"url": self.url, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], timeout=state["timeout"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.url!r})"

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: takes the write lock up front, so a read-check-write
        sequence (e.g. "is this hash free? then insert") cannot interleave with another process.

        Any SQLite failure inside it (a locked or corrupt file, a full disk) is rolled back and
        raised as a :class:`StorageError` saying ``what`` was being written, so callers never
        see a raw ``sqlite3`` exception; errors the body raises itself pass through unchanged.
        """
        with self._lock:
            conn = self._check_open()
            try:
                try:
                    # inside the guard: an interrupt (Ctrl-C) that lands while BEGIN waits for another
                    # process's lock is raised once BEGIN has taken the lock, and must not leave it held
                    conn.execute("BEGIN IMMEDIATE")
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            except sqlite3.Error as e:
                raise StorageError(f"{what} in {self.url!r} failed: {e}") from e

    def _check_open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"storage {self.url!r} is closed")
        return self._conn

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._check_open().execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise StorageError(f"reading {self.url!r} failed: {e}") from e

    # ------------------------------------------------------------------ studies
    def create_study(self, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Create study ``name`` with ``config`` or return the stored config when it exists.

        Raises:
            DuplicateStudyError: it exists with a different config (the differing keys are named).
        """
        text = json.dumps(dict(config), sort_keys=True)
        with self._write(f"creating study {name!r}") as c:
            row = c.execute("SELECT config FROM studies WHERE name = ?", (name,)).fetchone()
            if row is None:
                c.execute("INSERT INTO studies (name, config, created) VALUES (?, ?, ?)", (name, text, time.time()))
                return json.loads(text)
        stored = json.loads(row[0])
        wanted = json.loads(text)
        if stored != wanted:
            diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
            detail = ", ".join(f"{k}: stored {stored.get(k)!r}, given {wanted.get(k)!r}" for k in diff)
            raise DuplicateStudyError(
                f"study {name!r} already exists in {self.url!r} with another configuration ({detail}); "
                "re-open it with the same arguments (or nagen.study.load_study), or pick another name"
            )
        return stored

    def study_config(self, name: str) -> dict[str, Any]:
        """The stored config of study ``name``.

        Raises:
            StudyNotFoundError: no such study (the message lists the stored ones).
        """
        rows = self._read("SELECT config FROM studies WHERE name = ?", (name,))
        if not rows:
            from nagen.errors import choices_hint

            raise StudyNotFoundError(
                f"no study named {name!r} in {self.url!r}; "
                + (f"stored studies are {choices_hint(names)}" if (names := self.study_names()) else "it holds no study")
            )
        return json.loads(rows[0][0])

    def study_names(self) -> list[str]:
        """Names of the stored studies, sorted."""
        return [r[0] for r in self._read("SELECT name FROM studies ORDER BY name")]

    def delete_study(self, name: str) -> None:
        """Delete a study and its trials."""
        self.study_config(name)
        with self._write(f"deleting study {name!r}") as c:
            c.execute("DELETE FROM trials WHERE study = ?", (name,))
            c.execute("DELETE FROM measurements WHERE study = ?", (name,))
            c.execute("DELETE FROM studies WHERE name = ?", (name,))
        self._kept.pop(name, None)

    # ------------------------------------------------------------------ measurements
    def reserve_measurement(self, study: str, metric: str, arch: str, hash: str, limit: int) -> bool:
        """Claim one of ``limit`` measurements of ``metric`` (e.g. a device latency) for ``arch``.

        True when the claim was recorded (fewer than ``limit`` exist and ``arch`` has none);
        checked and written in one transaction, so two processes never exceed ``limit``.
        A claim whose value never arrives (the process died) is re-measured by
        :meth:`measurements` callers via ``pending``.
        """
        with self._write(f"claiming a {metric} measurement for study {study!r}") as c:
            n = c.execute("SELECT COUNT(*) FROM measurements WHERE study = ? AND metric = ?", (study, metric)).fetchone()[0]
            dup = c.execute(
                "SELECT 1 FROM measurements WHERE study = ? AND metric = ? AND hash = ?", (study, metric, hash)
            ).fetchone()
            if n >= limit or dup:
                return False
            c.execute(
                "INSERT INTO measurements (study, metric, arch, hash, value, created) VALUES (?, ?, ?, ?, NULL, ?)",
                (study, metric, arch, hash, time.time()),
            )
        return True

    def finish_measurement(self, study: str, metric: str, hash: str, value: float) -> None:
        """Store the measured ``value`` of a claimed measurement (committed before returning)."""
        with self._write(f"recording a {metric} measurement of study {study!r}") as c:
            c.execute(
                "UPDATE measurements SET value = ? WHERE study = ? AND metric = ? AND hash = ?", (float(value), study, metric, hash)
            )

    def measurements(self, study: str, metric: str | None = None) -> list[tuple[str, str, str, float | None]]:
        """``(metric, arch, hash, value)`` of ``study``'s measurements in claim order (value None: not finished)."""
        sql = "SELECT metric, arch, hash, value FROM measurements WHERE study = ?"
        args: list[Any] = [study]
        if metric is not None:
            sql += " AND metric = ?"
            args.append(metric)
        return [tuple(r) for r in self._read(sql + " ORDER BY rowid", args)]  # type: ignore[misc]

    # ------------------------------------------------------------------ trials
    def trials(self, study: str, states: Sequence[TrialState] | None = None) -> list[TrialRecord]:
        """Trials of ``study`` in proposal (``number``) order, optionally only some states.

        Every call sees what any process has committed. Finished trials are immutable
        (:meth:`finish` refuses to change them), so they are parsed once and kept; a call reads
        only trials that are new or were running at the previous call (a study re-read every
        round stays linear in its length). The kept ones are dropped when the study was deleted
        and created again. The records are shared between calls: treat them as read-only.
        """
        with self._lock:
            conn = self._check_open()
            try:
                try:
                    conn.execute("BEGIN")  # one snapshot for the study row and its trials
                    row = conn.execute("SELECT created FROM studies WHERE name = ?", (study,)).fetchone()
                    if row is None:
                        self._kept.pop(study, None)
                        return []
                    kept = self._kept.get(study)
                    if kept is None or kept.created != row[0]:
                        kept = self._kept[study] = _KeptTrials(row[0])
                    sql = (
                        "SELECT number, arch, hash, state, value_json, reason, owner, started, finished "
                        "FROM trials WHERE study = ? AND number > ?"
                    )
                    args: list[Any] = [study, kept.last]
                    if len(kept.open) > 500:  # beyond SQLite's variable limit on old builds: one range
                        args[1] = min(kept.open) - 1
                    elif kept.open:
                        sql += f" OR study = ? AND number IN ({','.join('?' * len(kept.open))})"
                        args += [study, *kept.open]
                    rows = conn.execute(sql, args).fetchall()
                finally:
                    _rollback(conn)  # a read-only snapshot: ending it commits nothing
            except sqlite3.Error as e:
                raise StorageError(f"reading the trials of study {study!r} in {self.url!r} failed: {e}") from e
            running: dict[int, TrialRecord] = {}
            for number, arch, h, state, vj, reason, owner, started, finished in rows:
                values = {k: float(v) for k, v in json.loads(vj).items()} if vj else {}
                rec = TrialRecord(number, arch, h, state, values, reason, owner, started, finished)
                (running if state == "running" else kept.done)[number] = rec
                kept.last = max(kept.last, number)
            kept.open = sorted(running)
            merged = {**kept.done, **running}
            out = [merged[n] for n in sorted(merged)]
        if states is not None:
            out = [t for t in out if t.state in states]
        return out

    def reserve(
        self,
        study: str,
        candidates: Sequence[tuple[str, str]],
        budget: int | None = None,
        owner: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> list[TrialRecord]:
        """Atomically reserve trials for ``(arch string, canonical hash)`` candidates.

        In one ``BEGIN IMMEDIATE`` transaction: skip candidates whose hash the study already
        holds (in any state), stop when the study would exceed ``budget`` trials, insert the
        rest as ``running``. Returns the reserved trials (possibly fewer than asked, or none).

        Raises:
            StudyNotFoundError: no such study (deleted meanwhile).
            DuplicateStudyError: ``config`` is given and the stored one differs (the study was
                deleted and re-created with another configuration since the caller opened it).
        """
        owner = owner or owner_id()
        now = time.time()
        out: list[TrialRecord] = []
        with self._write(f"reserving trials of study {study!r}") as c:
            row = c.execute("SELECT config FROM studies WHERE name = ?", (study,)).fetchone()
            if row is None:
                raise StudyNotFoundError(f"no study named {study!r} in {self.url!r}")
            if config is not None and json.loads(row[0]) != json.loads(json.dumps(dict(config), sort_keys=True)):
                raise DuplicateStudyError(
                    f"study {study!r} in {self.url!r} was re-created with another configuration since it was opened "
                    "here; re-open it (nagen.load_study) to continue it"
                )
            taken = {r[0] for r in c.execute("SELECT hash FROM trials WHERE study = ?", (study,))}
            count = len(taken)
            row = c.execute("SELECT MAX(number) FROM trials WHERE study = ?", (study,)).fetchone()
            number = -1 if row[0] is None else int(row[0])
            for arch, h in candidates:
                if budget is not None and count >= budget:
                    break
                if h in taken:
                    continue
                number += 1
                c.execute(
                    "INSERT INTO trials (study, number, arch, hash, state, owner, started) VALUES (?, ?, ?, ?, 'running', ?, ?)",
                    (study, number, arch, h, owner, now),
                )
                taken.add(h)
                count += 1
                out.append(TrialRecord(number, arch, h, "running", {}, "", owner, now, None))
        return out

    def finish(
        self,
        study: str,
        number: int,
        state: TrialState,
        values: Mapping[str, float] | None = None,
        reason: str = "",
        *,
        labeller_of: str | None = None,
    ) -> bool:
        """Record the outcome of a running trial (committed before this returns); returns whether
        it was recorded.

        Args:
            labeller_of: the owner that labelled it. Given, a trial another process finished
                meanwhile (it took this owner for dead and labelled the trial too) is left as
                recorded, with a warning, and ``False`` is returned, instead of an error.

        Raises:
            StorageError: the trial is not running (finished trials are immutable) or unknown.
        """
        if state not in ("complete", "failed"):
            raise InvalidArgumentError(f"a trial finishes as 'complete' or 'failed', not {state!r}")
        vj = None
        if state == "complete":
            vals = {k: float(v) for k, v in (values or {}).items()}
            if not vals or not all(math.isfinite(v) for v in vals.values()):
                raise InvalidArgumentError(f"a complete trial needs finite values, got {values!r}")
            vj = json.dumps(vals, sort_keys=True)
        with self._write(f"recording trial {number} of study {study!r}") as c:
            row = c.execute("SELECT state FROM trials WHERE study = ? AND number = ?", (study, number)).fetchone()
            if row is None:
                raise StorageError(f"study {study!r} has no trial {number}")
            if row[0] != "running":
                if labeller_of is None:
                    raise StorageError(f"trial {number} of study {study!r} is already {row[0]}; finished trials are immutable")
                import warnings

                warnings.warn(
                    f"trial {number} of study {study!r} was recorded ({row[0]}) meanwhile by another process, which took "
                    f"this one ({labeller_of}) for dead and labelled it too; the first record stands",
                    stacklevel=2,
                )
                return False
            c.execute(
                "UPDATE trials SET state = ?, value_json = ?, reason = ?, finished = ? WHERE study = ? AND number = ?",
                (state, vj, str(reason), time.time(), study, number),
            )
        return True

    def adopt_stale(self, study: str, owner: str | None = None, *, own: bool = False) -> list[TrialRecord]:
        """Take over ``running`` trials whose owner process is gone (same host); returns them.

        Such a trial was reserved but its label was never recorded (its process was killed).
        The caller labels it now, so a resumed study finishes exactly the batch the killed one
        started, and ends where an uninterrupted run would. A trial whose process died
        :data:`MAX_DEATHS` times while it was running is marked ``failed`` instead (with the
        reason): a label that crashes its process must not stop the study for good. ``own=True``: ``owner``'s own running
        trials too (the caller knows that none of its labels is in flight: an interrupt hit
        between reserving and labelling, and the process lived on).
        """
        owner = owner or owner_id()
        with self._write(f"adopting stale trials of study {study!r}") as c:
            rows = c.execute(
                "SELECT number, owner, reason FROM trials WHERE study = ? AND state = 'running' ORDER BY number", (study,)
            ).fetchall()
            dead = []
            charged: set[str] = set()
            for n, o, reason in rows:  # in trial-number order
                handed_back = (own and o == owner) or o == RELEASED  # by a live process: no death
                if not handed_back and (o == owner or _owner_alive(o)):
                    continue
                # a label that kills its process (a segfault or out-of-memory inside the labeller, run
                # inline) would kill every resumed run again: count the deaths, give up after a few. Only
                # a dead owner's lowest running trial is charged: a batch is labelled in number order and
                # commits each label, so that is the one it died on; the later ones may never have started
                m = _DEATHS.search(reason or "")
                deaths = (int(m.group(1)) if m else 0) + (not handed_back and o not in charged)
                if not handed_back:
                    charged.add(o)
                if deaths >= MAX_DEATHS:
                    c.execute(
                        "UPDATE trials SET state = 'failed', reason = ?, finished = ? WHERE study = ? AND number = ?",
                        (f"its process died while it was being labelled, {deaths} times (a crash inside the labeller, "
                         "e.g. out of memory or a segfault, or the run was killed each time); not retried", time.time(),
                         study, n),
                    )
                    continue
                dead.append(n)
                c.execute(
                    "UPDATE trials SET owner = ?, reason = ? WHERE study = ? AND number = ?",
                    (owner, f"adopted after its process died: {deaths} time(s)" if deaths else reason, study, n),
                )
        if not dead:
            return []
        return [t for t in self.trials(study, ["running"]) if t.number in set(dead)]


    def release_host(self, study: str, host: str) -> int:
        """Give up every running trial of ``study`` reserved by a process on ``host``; returns how many.

        A process on another machine cannot be checked, so its trials are assumed to be in work
        for ever; when that machine's run is known to be gone (a killed job resumed elsewhere),
        this hands them to the next :meth:`adopt_stale`, which labels them. ``host@ns`` releases
        only the trials of PID namespace ``ns`` of ``host`` (a gone container that shared the host
        name with live ones; the study's warning names it so).

        Raises:
            InvalidArgumentError: ``host`` is not a non-empty host name.
        """
        if not isinstance(host, str) or not host or ":" in host:
            raise InvalidArgumentError(
                f"host must be a machine name as in a trial's owner 'host:pid:start@ns', or 'host@ns' for one PID "
                f"namespace (container) of it, got {host!r}"
            )
        name, _, ns = host.partition("@")

        def matches(o: str) -> bool:
            o_host, _, o_ns = _owner_parts(o)
            return o_host == name and (not ns or o_ns == ns)

        with self._write(f"releasing the trials of host {host!r} in study {study!r}") as c:
            rows = c.execute("SELECT number, owner FROM trials WHERE study = ? AND state = 'running'", (study,)).fetchall()
            mine = [n for n, o in rows if o != RELEASED and matches(o)]
            for n in mine:
                c.execute("UPDATE trials SET owner = ? WHERE study = ? AND number = ?", (RELEASED, study, n))
        return len(mine)

    def release(self, study: str, numbers: Sequence[int], owner: str | None = None) -> int:
        """Give up ``owner``'s still-running trials ``numbers`` (an interrupted process that stays
        alive); returns how many. The next :meth:`adopt_stale` of any process labels them, as it
        would after a kill."""
        owner = owner or owner_id()
        if not numbers:
            return 0
        with self._write(f"releasing trials of study {study!r}") as c:
            marks = ",".join("?" * len(numbers))
            cur = c.execute(
                f"UPDATE trials SET owner = ? WHERE study = ? AND state = 'running' AND owner = ? AND number IN ({marks})",
                (RELEASED, study, owner, *[int(n) for n in numbers]),
            )
            return int(cur.rowcount)


def get_storage(storage: str | os.PathLike[str] | SQLiteStorage | None) -> SQLiteStorage:
    """A storage object from a URL, a path, an existing storage, or None (``sqlite:///nagen.db``)."""
    if isinstance(storage, SQLiteStorage):
        return storage
    return SQLiteStorage("sqlite:///nagen.db" if storage is None else storage)


def upgrade(url: str | os.PathLike[str]) -> int:
    """Migrate a database written by an older schema to :data:`SCHEMA_VERSION`; returns the new version.

    Raises:
        StorageVersionError: the database is newer than this nagen, or no migration path exists.
        StorageError: no database file at ``url``, or the file is not a nagen study database.
    """
    path = _parse_url(url)
    if not storage_exists(url):  # sqlite3.connect would create an empty file for a mistyped path
        raise StorageError(f"no study database at {os.fspath(url)!r}: nothing to upgrade")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT version FROM nagen_schema").fetchone()
        except sqlite3.DatabaseError as e:  # not a database, or one without nagen's tables
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"{os.fspath(url)!r} is not a nagen study database ({e})") from e
        version = SCHEMA_VERSION if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            raise StorageVersionError(f"{os.fspath(url)!r} is schema {version}, newer than this nagen ({SCHEMA_VERSION})")
        while version < SCHEMA_VERSION:
            if version not in _MIGRATIONS:
                conn.execute("ROLLBACK")
                raise StorageVersionError(
                    f"no migration from schema {version} to {SCHEMA_VERSION}; export the trials with the nagen "
                    "version that wrote the file and start a new database"
                )
            for stmt in _MIGRATIONS[version].split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            version += 1
        conn.execute("UPDATE nagen_schema SET version = ?", (version,))
        conn.execute("COMMIT")
        return version
    finally:
        conn.close()


def cache_dir() -> Path:
    """``$NAGEN_CACHE``, else ``$XDG_CACHE_HOME/nagen``, else ``~/.cache/nagen``: where
    meta-trained models are kept.

    Per user, never a shared temporary folder: cached models are pickles, and loading one that
    another user planted in ``/tmp`` would run their code.
    """
    env = os.environ.get("NAGEN_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "nagen"
    try:
        return Path.home() / ".cache" / "nagen"
    except RuntimeError:  # no home folder to be found: a private folder in the temporary one
        return _private_tmp_cache()


def _private_tmp_cache() -> Path:
    """``<tmp>/nagen-cache-<uid>``, created owner-only; when it exists but another user owns it
    or others may write to it (planted before us), a fresh private folder for this process."""
    import tempfile

    if not hasattr(os, "getuid"):
        return Path(tempfile.gettempdir()) / "nagen-cache"
    path = Path(tempfile.gettempdir()) / f"nagen-cache-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if path.is_dir() and not path.is_symlink() and st.st_uid == os.getuid() and not st.st_mode & 0o022:
            return path
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="nagen-cache-"))


def save_atomic(obj: Any, path: Path, writer: Callable[[Any, str], None] | None = None, *, mode: int | None = None) -> None:
    """Write ``obj`` to ``path`` through a temporary file and a rename, so concurrent processes
    never read a half-written file and a crash leaves the old file or the new one. ``writer(obj,
    file name)`` does the writing (default ``torch.save``); ``mode``: the file's permissions
    (default: the temporary file's, owner only).

    The data reaches the disk before the rename (``fsync``), or a power cut could leave the new
    name on an empty file. A process killed mid-write leaves its ``.<name>.*.tmp`` file behind
    (nothing can remove it), named after the file it was writing.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if writer is None:
            import torch

            writer = torch.save
        writer(obj, tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
