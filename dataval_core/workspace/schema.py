"""The SQLite schema, its migrations, and the plumbing every concern of the store builds on.

:class:`StoreBase` opens one SQLite connection per call (so the store is safe to use from
several threads), brings the schema to :data:`SCHEMA_VERSION` when the workspace is opened,
and turns I/O faults into :class:`~.faults.WorkspaceError`.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .faults import WorkspaceError, _faults, _read_only

ENV_VAR = "DATAVAL_WORKSPACE"
DEFAULT_ROOT = ".dataval"

#: version 1: the schema before versioning (a workspace at ``user_version`` 0 may already hold these tables)
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, created REAL NOT NULL, current_dataset TEXT);
CREATE TABLE IF NOT EXISTS datasets (
    key TEXT PRIMARY KEY, content_hash TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL,
    modality TEXT NOT NULL, n INTEGER NOT NULL, info TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session_datasets (
    session_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (session_id, key));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, dataset_key TEXT NOT NULL, method TEXT NOT NULL, embedding TEXT,
    params TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, error TEXT,
    timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, finished REAL, owner TEXT);
CREATE INDEX IF NOT EXISTS runs_by_dataset ON runs (dataset_key);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset_key TEXT NOT NULL, session_id TEXT NOT NULL,
    id TEXT NOT NULL, action TEXT NOT NULL, old_label TEXT, new_label TEXT, run_id TEXT,
    method TEXT, value REAL, rank INTEGER, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_by_dataset ON decisions (dataset_key, id);
"""


def _migrate_v1(con: sqlite3.Connection) -> None:
    """The original tables (kept as they were, so a pre-versioning workspace passes through unchanged)."""
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            con.execute(statement)


def _migrate_v2(con: sqlite3.Connection) -> None:
    """Run status kept with the run, the deciding session in the audit log, access modes and share keys."""
    con.execute("ALTER TABLE runs ADD COLUMN result_status TEXT NOT NULL DEFAULT 'ok'")
    con.execute("ALTER TABLE decisions ADD COLUMN session TEXT")
    con.execute("UPDATE decisions SET session = session_tag(session_id)")
    con.execute("ALTER TABLE session_datasets ADD COLUMN mode TEXT NOT NULL DEFAULT 'owner'")
    con.execute("ALTER TABLE session_datasets ADD COLUMN via TEXT")
    con.execute("UPDATE session_datasets SET mode = 'write' WHERE session_id != "
                "(SELECT owner FROM datasets d WHERE d.key = session_datasets.key)")
    con.execute("CREATE TABLE share_keys (key_hash TEXT PRIMARY KEY, dataset_key TEXT NOT NULL, "
                "created_by TEXT NOT NULL, mode TEXT NOT NULL, created REAL NOT NULL, expires REAL, revoked REAL)")


def _migrate_v3(con: sqlite3.Connection) -> None:
    """Decision steps: each click or bulk action is one undoable step over a range of the log."""
    con.execute("CREATE TABLE decision_steps (step INTEGER PRIMARY KEY AUTOINCREMENT, dataset_key TEXT NOT NULL, "
                "session_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, undoes INTEGER, "
                "time TEXT NOT NULL)")
    con.execute("CREATE INDEX decision_steps_by_session ON decision_steps (dataset_key, session_id)")


def _migrate_v4(con: sqlite3.Connection) -> None:
    """Decision events: the idempotency key of the click that wrote a row, and a ledger of every key seen
    (also clicks that changed nothing), so a replayed or duplicated event never writes twice."""
    con.execute("ALTER TABLE decisions ADD COLUMN event TEXT")
    con.execute("CREATE TABLE decision_events (dataset_key TEXT NOT NULL, event TEXT NOT NULL, "
                "session_id TEXT NOT NULL, rows INTEGER NOT NULL, time TEXT NOT NULL, "
                "PRIMARY KEY (dataset_key, event))")


def _migrate_v5(con: sqlite3.Connection) -> None:
    """Tags and a note per sample: an append-only log (latest row per sample in force) and its event ledger."""
    con.execute("CREATE TABLE annotations (seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset_key TEXT NOT NULL, "
                "id TEXT NOT NULL, tags TEXT NOT NULL, note TEXT NOT NULL, session TEXT, event TEXT, "
                "time TEXT NOT NULL)")
    con.execute("CREATE INDEX annotations_by_dataset ON annotations (dataset_key, id)")
    con.execute("CREATE TABLE annotation_events (dataset_key TEXT NOT NULL, event TEXT NOT NULL, "
                "time TEXT NOT NULL, PRIMARY KEY (dataset_key, event))")


#: schema migrations in order; migration ``i`` takes a workspace from ``user_version`` i to i + 1
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_v1,
    _migrate_v2,
    _migrate_v3,
    _migrate_v4,
    _migrate_v5,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def session_tag(session_id: str | None) -> str | None:
    """The public name of a session in the audit log: a hash, so the log never holds the secret sid."""
    return None if session_id is None else "s_" + hashlib.sha256(session_id.encode()).hexdigest()[:10]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreBase:
    """Plumbing shared by the store's concerns: the folder, connections, queries and the schema version.

    Args:
        root: the folder; defaults to ``$DATAVAL_WORKSPACE`` or ``./.dataval``.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get(ENV_VAR) or DEFAULT_ROOT).resolve()
        self.db_path = self.root / "workspace.sqlite"
        self._usage: tuple[float, int] | None = None  # (time measured, bytes)
        #: run states this process could not write (full or read-only disk): reads show them anyway
        self._unsaved_status: dict[str, tuple[str, str | None]] = {}
        self._lock = threading.Lock()
        with _faults(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            with closing(self._connect(create=True)) as con:
                con.execute("PRAGMA journal_mode=WAL")
                self._migrate(con)

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        mode = "?mode=rwc" if create else "?mode=rw"
        if not create and _read_only(self.root) and not Path(f"{self.db_path}-wal").exists():
            mode = "?immutable=1"  # a read-only disk: reads still work (nothing is left in a WAL); writes fail
        con = sqlite3.connect(self.db_path.as_uri() + mode, uri=True, timeout=30)
        # WAL with NORMAL sync: a commit survives the app being killed (kill -9), only the newest commits
        # could be lost if the machine itself loses power; FULL's flush to disk on every commit held the write
        # lock so long under load that 16 sessions' clicks queued behind it for minutes
        con.execute("PRAGMA synchronous=NORMAL")
        con.row_factory = sqlite3.Row
        con.create_function("session_tag", 1, session_tag, deterministic=True)
        return con

    @staticmethod
    def _migrate(con: sqlite3.Connection) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`, one migration per transaction."""
        con.isolation_level = None
        while True:
            con.execute("BEGIN IMMEDIATE")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                con.execute("ROLLBACK")
                if version > SCHEMA_VERSION:
                    raise WorkspaceError("This workspace was written by a newer dataval; upgrade dataval to open it.",
                                         "newer")
                return
            try:
                _MIGRATIONS[version](con)
                con.execute(f"PRAGMA user_version = {version + 1}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with _faults(self.root), closing(self._connect()) as con:
            return con.execute(sql, tuple(args)).fetchall()

    def _execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        with _faults(self.root), closing(self._connect()) as con, con:
            count = con.execute(sql, tuple(args)).rowcount
        if self._unsaved_status:
            self._save_pending_states()
        return count

    def _save_pending_states(self) -> None:
        """Write run states the disk refused earlier, now that a write went through."""
        with self._lock:
            pending = dict(self._unsaved_status)
        try:
            with _faults(self.root), closing(self._connect()) as con, con:
                for run_id, (status, error) in pending.items():
                    con.execute("UPDATE runs SET status = ?, error = ?, finished = ? WHERE run_id = ?",
                                (status, error, time.time(), run_id))
        except WorkspaceError:
            return
        with self._lock:
            for run_id in pending:
                self._unsaved_status.pop(run_id, None)

    def _folder(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        with _faults(self.root):
            path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def cache_dir(self) -> Path:
        """Folder for the engine's on-disk caches (embeddings, map coordinates)."""
        return self._folder("cache")

    def export_dir(self, key: str) -> Path:
        """Folder for files built for download from dataset record ``key``."""
        return self._folder("exports", key)
