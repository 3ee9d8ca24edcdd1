"""The run store: one SQLite file per sweep directory holding the plan, statuses and records.

A run is identified by the hash of its training config (plus the corpus it trains on), so
putting the same plan in twice adds nothing and re-running a sweep never retrains what is
done.  Statuses: ``planned`` -> ``running`` -> ``done`` | ``failed`` (with the error text);
a run left ``running`` by a killed process is picked up again (its checkpoint resumes it), and
an interrupted one (Ctrl-C) goes back to ``planned`` with a note.

Faults (issue 13): one process writes a results folder at a time -- the first write takes an
exclusive lock (``store.sqlite.lock``, ``flock``, holding the owner's PID; the kernel drops it
when the owner dies, so a killed sweep leaves no stale lock) and a second writer is refused with
a message naming the owner; readers (``sweep status``) never need it.  A file that is not a
sound SQLite database is refused with a one-line error naming it and is never written to; a
failed write (a full disk) rolls its transaction back and says which file it could not write.

:class:`RunStore` is the interface; :class:`SQLiteRunStore` the embedded default (WAL mode, so
readers such as ``scalinglab sweep status`` never block the writer).  A SQLAlchemy /
PostgreSQL store for clusters can implement the same methods later; :func:`open_store` is
where its URL scheme would be dispatched.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.records import RunRecord, records_to_frame, write_runs

STATUSES = ("planned", "running", "done", "failed")
STORE_FILE = "store.sqlite"
STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
SCHEMA_VERSION = 1
LOCK_SUFFIX = ".lock"


class StoreBusy(ScalingLabError):
    """Another live process is writing this results folder."""


class StoreCorrupt(ScalingLabError):
    """The store file is not a sound SQLite database (it is left untouched)."""


def config_hash(config: dict[str, Any], corpus: str) -> str:
    """A short stable hash of a training config and its corpus (the run's identity)."""
    text = json.dumps({"config": config, "corpus": corpus}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class StoredRun:
    """One run as the store knows it.  Times in seconds (Unix epoch for started/finished)."""

    key: str
    name: str
    role: str                     # "sweep" or "validation"
    config: dict[str, Any]
    status: str = "planned"
    error: str | None = None
    attempts: int = 0
    checkpoint_dir: str | None = None
    planned_flops: float = 0.0    # FLOPs the plan expects (branches included)
    spent_flops: float = 0.0      # FLOPs actually spent (branches included)
    started_at: float | None = None
    finished_at: float | None = None
    wall_seconds: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class RunStore(ABC):
    """What a sweep needs from storage; implement it for another database."""

    @abstractmethod
    def add_runs(self, runs: Iterable[StoredRun]) -> int:
        """Insert runs not already present (by key); returns how many were new."""

    @abstractmethod
    def runs(self, status: str | None = None, role: str | None = None) -> list[StoredRun]:
        """Runs in plan order, optionally filtered by status and role."""

    @abstractmethod
    def get(self, key: str) -> StoredRun:
        """One run by key (ScalingLabError if absent)."""

    @abstractmethod
    def mark_running(self, key: str, checkpoint_dir: str | None) -> None: ...

    @abstractmethod
    def mark_done(self, key: str, records: list[RunRecord], wall_seconds: float,
                  spent_flops: float, meta: dict[str, Any] | None = None) -> None:
        """Store a finished run's records and timings atomically with its status."""

    @abstractmethod
    def mark_failed(self, key: str, error: str, meta: dict[str, Any] | None = None) -> None:
        """Mark a run failed with the reason; ``meta`` (e.g. a stderr tail) is merged in."""

    @abstractmethod
    def mark_interrupted(self, key: str, note: str) -> None:
        """Put a run stopped on request back to ``planned`` (its checkpoint resumes it)."""

    @abstractmethod
    def records(self, role: str | None = None) -> pd.DataFrame:
        """Records of done runs as a DataFrame with the record columns."""

    @abstractmethod
    def set_meta(self, name: str, value: Any) -> None: ...

    @abstractmethod
    def get_meta(self, name: str, default: Any = None) -> Any: ...

    def counts(self) -> dict[str, int]:
        """Number of runs in each status."""
        out = dict.fromkeys(STATUSES, 0)
        for run in self.runs():
            out[run.status] += 1
        return out

    def export(self, path: str | Path, role: str | None = None) -> Path:
        """Write the records of done runs to CSV or Parquet (chosen by the suffix)."""
        return write_runs(self.records(role), path)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY, position INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    config TEXT NOT NULL, status TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL,
    checkpoint_dir TEXT, planned_flops REAL NOT NULL, spent_flops REAL NOT NULL,
    started_at REAL, finished_at REAL, wall_seconds REAL, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT NOT NULL REFERENCES runs(key), ordinal INTEGER NOT NULL, row TEXT NOT NULL,
    PRIMARY KEY (key, ordinal));
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = ("key", "name", "role", "config", "status", "error", "attempts", "checkpoint_dir",
            "planned_flops", "spent_flops", "started_at", "finished_at", "wall_seconds", "meta")


class SQLiteRunStore(RunStore):
    """The embedded store: a SQLite file in WAL mode; each write is its own transaction.

    ``path`` is a sweep directory (the store is ``store.sqlite`` inside) or a file whose name
    ends in .sqlite, .sqlite3 or .db.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir() or self.path.suffix not in STORE_SUFFIXES:
            self.path = self.path / STORE_FILE  # a sweep directory
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock: _WriterLock | None = None
        existed = self.path.is_file() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise ScalingLabError(f"cannot open run store {str(self.path)!r}: {exc}") from None
        try:
            has_schema = existed and self._check_integrity() and self._has_schema()
            self._db.execute("PRAGMA journal_mode=WAL")  # only once the file checks out
            self._db.execute("PRAGMA synchronous=NORMAL")
            if not has_schema:  # idempotent: needs no writer lock
                with self._transaction(lock=False):
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self._db.execute(statement)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreCorrupt(f"run store {str(self.path)!r} is damaged ({exc}); it was left "
                               f"as it is: restore it from a copy, or move it aside to start "
                               f"the sweep afresh") from None
        except BaseException:
            self._db.close()
            raise
        if self.get_meta("schema_version") is None:
            with self._transaction(lock=False):
                self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                                 ("schema_version", json.dumps(SCHEMA_VERSION)))

    def _check_integrity(self) -> bool:
        """True, or ``sqlite3.DatabaseError`` unless the file is a sound database."""
        rows = self._db.execute("PRAGMA quick_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            raise sqlite3.DatabaseError("; ".join(str(r[0]) for r in rows[:3]))
        return True

    def _has_schema(self) -> bool:
        """True for a run store; False for an empty database; refuses any other database."""
        names = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if names and not {"runs", "records", "meta"} <= names:
            raise sqlite3.DatabaseError(f"a SQLite database but not a run store (tables "
                                        f"{', '.join(sorted(names))})")
        return bool(names)

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SQLiteRunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def _transaction(self, lock: bool = True):
        """A write transaction; ``lock``: first take this folder's writer lock."""
        if lock and self._lock is None:
            self._lock = _WriterLock.acquire(self.path)
        return _Transaction(self._db, self.path)

    def add_runs(self, runs: Iterable[StoredRun]) -> int:
        added = 0
        with self._transaction():
            position = self._db.execute("SELECT COALESCE(MAX(position), -1) FROM runs"
                                        ).fetchone()[0]
            for run in runs:
                position += 1
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (run.key, position, run.name, run.role, json.dumps(run.config),
                     run.status, run.error, run.attempts, run.checkpoint_dir,
                     run.planned_flops, run.spent_flops, run.started_at, run.finished_at,
                     run.wall_seconds, json.dumps(run.meta)))
                added += cursor.rowcount
        return added

    def mark_running(self, key: str, checkpoint_dir: str | None) -> None:
        self.get(key)
        with self._transaction():
            self._db.execute("UPDATE runs SET status='running', attempts=attempts+1, "
                             "checkpoint_dir=?, started_at=COALESCE(started_at, ?), error=NULL "
                             "WHERE key=?", (checkpoint_dir, time.time(), key))

    def mark_done(self, key: str, records: list[RunRecord], wall_seconds: float,
                  spent_flops: float, meta: dict[str, Any] | None = None) -> None:
        run = self.get(key)
        merged = {**run.meta, **(meta or {})}
        with self._transaction():
            self._db.execute("DELETE FROM records WHERE key=?", (key,))
            self._db.executemany("INSERT INTO records VALUES (?,?,?)",
                                 [(key, i, json.dumps(r.to_dict()))
                                  for i, r in enumerate(records)])
            self._db.execute("UPDATE runs SET status='done', error=NULL, finished_at=?, "
                             "wall_seconds=?, spent_flops=?, meta=? WHERE key=?",
                             (time.time(), wall_seconds, spent_flops, json.dumps(merged), key))

    def mark_failed(self, key: str, error: str, meta: dict[str, Any] | None = None) -> None:
        run = self.get(key)
        merged = {**run.meta, **(meta or {})}
        with self._transaction():
            self._db.execute("UPDATE runs SET status='failed', error=?, finished_at=?, meta=? "
                             "WHERE key=?", (error, time.time(), json.dumps(merged), key))

    def mark_interrupted(self, key: str, note: str) -> None:
        self.get(key)
        with self._transaction():
            self._db.execute("UPDATE runs SET status='planned', error=? "
                             "WHERE key=? AND status!='done'", (note, key))

    def set_meta(self, name: str, value: Any) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (name, json.dumps(value)))

    # -- reading ---------------------------------------------------------------------------
    def get_meta(self, name: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])

    def runs(self, status: str | None = None, role: str | None = None) -> list[StoredRun]:
        if status is not None and status not in STATUSES:
            raise ScalingLabError(f"unknown run status {status!r}; use {', '.join(STATUSES)}")
        query = f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE 1=1"
        args: list[Any] = []
        if status is not None:
            query, args = query + " AND status=?", [*args, status]
        if role is not None:
            query, args = query + " AND role=?", [*args, role]
        return [_run_from_row(row) for row in self._db.execute(query + " ORDER BY position",
                                                               args)]

    def get(self, key: str) -> StoredRun:
        row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE key=?",
                               (key,)).fetchone()
        if row is None:
            raise ScalingLabError(f"run {key!r} is not in the store {str(self.path)!r}")
        return _run_from_row(row)

    def run_records(self, key: str) -> list[RunRecord]:
        rows = self._db.execute("SELECT row FROM records WHERE key=? ORDER BY ordinal", (key,))
        return [RunRecord(**json.loads(r[0])) for r in rows]

    def records(self, role: str | None = None) -> pd.DataFrame:
        query = ("SELECT records.row FROM records JOIN runs ON runs.key = records.key "
                 "WHERE runs.status='done'")
        args: tuple = ()
        if role is not None:
            query, args = query + " AND runs.role=?", (role,)
        rows = self._db.execute(query + " ORDER BY runs.position, records.ordinal", args)
        return records_to_frame([RunRecord(**json.loads(r[0])) for r in rows])


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit link.

    A SQLite error (a full disk, a damaged file) rolls back and becomes one ScalingLabError
    naming the file; the database is left as it was before the transaction.
    """

    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db, self.path = db, path

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ScalingLabError(f"cannot write run store {str(self.path)!r}: {exc}") from None

    def __exit__(self, exc_type, exc: BaseException | None, *rest: object) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        except sqlite3.Error as error:
            if exc_type is None:
                with _suppress_sqlite():
                    self.db.execute("ROLLBACK")
                raise ScalingLabError(f"cannot write run store {str(self.path)!r}: "
                                      f"{error}") from None
        if isinstance(exc, sqlite3.Error):
            raise ScalingLabError(f"cannot write run store {str(self.path)!r}: {exc}") from None


class _suppress_sqlite:  # noqa: N801 -- used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, *rest: object) -> bool:
        return exc_type is not None and issubclass(exc_type, sqlite3.Error)


class _WriterLock:
    """An exclusive ``flock`` on ``<store>.lock`` for the life of this process's writers.

    Shared by every store of this process on the same file (reference counted), refused to any
    other process while held.  The file records the owner's PID, host and command line for
    the refusal message; the kernel releases the lock when its owner exits or is killed.
    """

    _held: dict[str, _WriterLock] = {}

    def __init__(self, key: str, fd: int):
        self.key, self.fd, self.count = key, fd, 1

    @classmethod
    def acquire(cls, store: Path) -> _WriterLock:
        path = store.with_name(store.name + LOCK_SUFFIX)
        key = os.path.realpath(path)
        held = cls._held.get(key)
        if held is not None:
            held.count += 1
            return held
        try:
            import fcntl  # noqa: PLC0415 -- POSIX only
        except ImportError:  # no flock (Windows): single-writer is then up to the user
            return cls(key, -1)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = _read_owner(fd)
            os.close(fd)
            raise StoreBusy(f"results folder {str(store.parent)!r} is in use by another "
                            f"process ({owner}); wait for it to finish or stop it, then run "
                            f"again -- two processes must not write one sweep") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.time(),
                                 "command": " ".join(sys.argv)[:300]}).encode())
        lock = cls._held[key] = cls(key, fd)
        return lock

    def release(self) -> None:
        self.count -= 1
        if self.count > 0 or self.fd < 0:
            return
        self._held.pop(self.key, None)
        os.close(self.fd)  # closing the descriptor drops the flock


def _read_owner(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data["since"]))
        return (f"pid {data['pid']} on {data['host']}, since {since}: "
                f"{data.get('command', '?')}")
    except (ValueError, KeyError, TypeError, OSError):
        return "owner unknown"


def _run_from_row(row: tuple) -> StoredRun:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["config"] = json.loads(data["config"])
    data["meta"] = json.loads(data["meta"])
    return StoredRun(**data)


def open_store(location: str | Path) -> RunStore:
    """A store from a sweep directory, a ``.sqlite`` path or a ``sqlite:///path`` URL."""
    text = str(location)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        if scheme != "sqlite":
            raise ScalingLabError(f"store URL scheme {scheme!r} is not supported yet; "
                                  f"use a directory, a .sqlite file or sqlite:///path")
        text = text.split("://", 1)[1][1:]  # sqlite:///rel.sqlite, sqlite:////abs.sqlite
    return SQLiteRunStore(text)
