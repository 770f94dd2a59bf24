"""The app's persistence layer: one workspace folder with SQLite and Parquet.

Layout under the workspace root (``$DATAVAL_WORKSPACE``, default ``./.dataval/``)::

    workspace.sqlite            sessions, datasets, runs, decisions (the audit log)
    uploads/<sha>/<name>        uploaded files, content-addressed
    files/<sha>/                what loaders extract from an upload (image folders)
    datasets/<hash>/            a dataset's rows, table copy and description (Parquet + JSON)
    runs/<run_id>.parquet       values of one finished run
    cache/                      embeddings and map coordinates (written by the engine)
    exports/<dataset_key>/      files built for download

A *dataset record* (``ds_…``) is one curation project: a dataset (stored once per
content hash) owned by the browser session that created it, with its runs and
decisions. A session sees only its own records and those it opened with a share key
its owner made (:meth:`Workspace.create_share_key`, :meth:`Workspace.open_shared`):
view-only unless the owner allowed edits, until revoked or expired. Everything is plain data (Parquet, JSON, SQLite):
no pickle, so reading a workspace never executes code. Safe to use from several
threads: each call opens its own SQLite connection.

Faults (a missing, read-only or full workspace, or one over its size budget
``$DATAVAL_MAX_WORKSPACE_GB``) raise one exception type, :class:`WorkspaceError`, with a
line written for the user; a write that raised was not saved. The schema carries its
version in ``PRAGMA user_version`` and older workspaces are upgraded when opened.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import Dataset
from .decisions import ACTIONS, DECISION_COLUMNS, UNDECIDED, check_event_key
from .progress import RunState
from .result import ValuationResult

ENV_VAR = "DATAVAL_WORKSPACE"
BUDGET_ENV_VAR = "DATAVAL_MAX_WORKSPACE_GB"
DEFAULT_ROOT = ".dataval"
#: run states; ``interrupted`` marks a run whose server process ended before it finished
RUN_STATES = tuple(RunState)
#: states of a run that has not finished
_ACTIVE = (RunState.QUEUED, RunState.RUNNING)
#: access a session has to a dataset record: its creator, or a share key's holder (edit or view only)
ACCESS_MODES = ("owner", "write", "read")
#: the one message for a share key that is wrong, expired or revoked (it never says which)
SHARE_KEY_INVALID = "This share key is not valid: it is wrong, has expired or was revoked."
_EXTRA_1D = "extra."
_EXTRA_2D = "extra2d."
#: identifies this server process in ``runs.owner`` (pid alone is reused across container restarts)
_PROCESS_TOKEN = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"

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


#: schema migrations in order; migration ``i`` takes a workspace from ``user_version`` i to i + 1
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_v1,
    _migrate_v2,
    _migrate_v3,
    _migrate_v4,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class WorkspaceError(OSError):
    """The workspace cannot be used as asked (missing, read-only, full or over budget).

    The message is one line for the user and names no server path; ``reason`` is one of
    ``missing``, ``read_only``, ``full``, ``over_budget``, ``newer`` or ``io``. A write that
    raised this was not saved.
    """

    def __init__(self, message: str, reason: str = "io"):
        super().__init__(message)
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[0])


class AccessError(PermissionError):
    """This session may not do that to the dataset (read-only share, invalid share key)."""

    def __str__(self) -> str:
        return str(self.args[0])


#: free bytes under which a disk I/O error from SQLite is taken for a full disk
_FULL_BELOW_BYTES = 1 << 20
_FAULT_MESSAGES = {
    "full": "The workspace disk is full, so nothing more can be saved. Free some space (or run `dataval gc`) "
            "and try again.",
    "read_only": "The workspace is read-only for this server, so nothing can be saved. Ask the admin to make it "
                 "writable.",
    "missing": "The workspace folder is missing or cannot be opened. Ask the admin to check it "
               "(`dataval health`).",
}


def _disk_nearly_full(root: Path | None) -> bool:
    try:
        return root is not None and shutil.disk_usage(root).free < _FULL_BELOW_BYTES
    except OSError:
        return False


def _read_only(root: Path | None) -> bool:
    """Whether ``root`` exists but cannot be written (read-only mount or no permission)."""
    try:
        return root is not None and root.is_dir() and (
            bool(os.statvfs(root).f_flag & os.ST_RDONLY) or not os.access(root, os.W_OK))
    except OSError:
        return False


def _fault(exc: BaseException, root: Path | None = None) -> WorkspaceError:
    """The :class:`WorkspaceError` for an ``OSError`` or ``sqlite3.Error`` raised by workspace I/O under ``root``.

    SQLite reports a full disk as ``SQLITE_FULL`` or, when its journal cannot grow, as a
    disk I/O error; the latter counts as full when the disk has almost no space left.
    """
    if isinstance(exc, WorkspaceError):
        return exc
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text or \
            ("disk i/o error" in text and _disk_nearly_full(root)):
        reason = "full"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text or "read-only" in text or \
            ("unable to open" in text and _read_only(root)):
        reason = "read_only"
    elif code == errno.ENOENT or "unable to open" in text or "no such table" in text:
        reason = "missing"
    else:
        return WorkspaceError(f"The workspace could not be used ({type(exc).__name__}: {str(exc)[:120]}).", "io")
    return WorkspaceError(_FAULT_MESSAGES[reason], reason)


@contextmanager
def _faults(root: Path | None = None) -> Iterator[None]:
    """Turn I/O and SQLite failures inside the block into one :class:`WorkspaceError` (see :func:`_fault`)."""
    try:
        yield
    except (WorkspaceError, AccessError):
        raise
    except (OSError, sqlite3.Error) as exc:
        raise _fault(exc, root) from exc


def session_tag(session_id: str | None) -> str | None:
    """The public name of a session in the audit log: a hash, so the log never holds the secret sid."""
    return None if session_id is None else "s_" + hashlib.sha256(session_id.encode()).hexdigest()[:10]


def _key_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def budget_bytes() -> float | None:
    """The workspace size budget from ``$DATAVAL_MAX_WORKSPACE_GB`` in bytes (None: no budget)."""
    raw = os.environ.get(BUDGET_ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        gb = float(raw)
    except ValueError:
        gb = -1.0
    if not 0 < gb < float("inf"):
        raise ValueError(f"{BUDGET_ENV_VAR} must be a positive number of GB, got {raw!r}.")
    return gb * 1e9


def human_size(nbytes: float) -> str:
    """A byte count in the unit that reads best: ``"512 bytes"``, ``"640 KB"``, ``"3.4 MB"``, ``"1.25 GB"``."""
    if nbytes < 1e3:
        return f"{nbytes:.0f} bytes"
    if nbytes < 1e6:
        return f"{nbytes / 1e3:.0f} KB"
    if nbytes < 1e9:
        return f"{nbytes / 1e6:.1f} MB"
    return f"{nbytes / 1e9:.2f} GB"


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return total


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset entry of the workspace (a curation project).

    Attributes:
        key: record id (``ds_…``), the handle pages keep in session state.
        content_hash: :meth:`Dataset.content_hash`; files live under ``datasets/<content_hash>``.
        owner: session id that created the record.
        name: display name.
        modality: ``"table"`` or ``"image"``.
        n: number of samples (valued and target).
        info: facts for the UI, e.g. ``{"target": "20% stratified hold-out", "noise": ...}``.
        created: creation time (Unix seconds).
    """

    key: str
    content_hash: str
    owner: str
    name: str
    modality: str
    n: int
    info: Mapping[str, Any]
    created: float


@dataclass(frozen=True)
class RunRecord:
    """One valuation run as stored: parameters, state and timings (values live in Parquet)."""

    run_id: str
    dataset_key: str
    method: str
    embedding: str | None
    params: Mapping[str, Any]
    seed: int
    status: str
    error: str | None
    timings: Mapping[str, float]
    created: float
    finished: float | None
    result_status: str = "ok"

    @property
    def label(self) -> str:
        """A short human label, e.g. ``knn_shapley · raw · #3f2a``."""
        return f"{self.method} · {self.embedding or 'default'} · #{self.run_id[-4:]}"

    @property
    def status_text(self) -> str:
        """The state as shown in tables: ``done``, or ``done · not converged`` when the method says so."""
        if self.status == RunState.DONE and self.result_status != "ok":
            return f"done · {self.result_status.replace('_', ' ')}"
        return self.status


@dataclass(frozen=True)
class ShareKey:
    """One share key of a dataset record, as its owner sees it (the key itself is shown once, at creation).

    Attributes:
        key_id: public handle (a prefix of the key's hash), used to revoke it.
        dataset_key: the record it opens.
        mode: ``read`` (view only) or ``write`` (may decide and run too).
        created: creation time (Unix seconds).
        expires: expiry time, None for never.
        revoked: revocation time, None while not revoked.
    """

    key_id: str
    dataset_key: str
    mode: str
    created: float
    expires: float | None
    revoked: float | None

    @property
    def active(self) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > time.time())


@dataclass(frozen=True)
class Health:
    """What :func:`check_workspace` found: ``ok`` and one line for people, plus the sizes behind it."""

    ok: bool
    message: str
    root: str
    used_bytes: int
    budget_bytes: float | None
    free_bytes: int | None


def new_session_id() -> str:
    """A fresh, unguessable session id (128 bits); register it with :meth:`Workspace.mint_session`."""
    return secrets.token_hex(16)


def _safe_name(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
    return base[:120]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that queued a run (``pid:token``) may still be running it."""
    if owner == _PROCESS_TOKEN:
        return True
    pid = int(owner.split(":")[0]) if owner else 0
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Workspace:
    """A workspace folder; see the module docstring for its layout.

    Args:
        root: the folder; defaults to ``$DATAVAL_WORKSPACE`` or ``./.dataval``.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get(ENV_VAR) or DEFAULT_ROOT).resolve()
        self.db_path = self.root / "workspace.sqlite"
        self.max_bytes = budget_bytes()
        self._usage: tuple[float, int] | None = None  # (time measured, bytes)
        #: run states this process could not write (full or read-only disk): reads show them anyway
        self._unsaved_status: dict[str, tuple[str, str | None]] = {}
        self._lock = threading.Lock()
        with _faults(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            with closing(self._connect(create=True)) as con:
                con.execute("PRAGMA journal_mode=WAL")
                self._migrate(con)

    # -- plumbing -------------------------------------------------------------------------
    def _connect(self, create: bool = False) -> sqlite3.Connection:
        mode = "?mode=rwc" if create else "?mode=rw"
        if not create and _read_only(self.root) and not Path(f"{self.db_path}-wal").exists():
            mode = "?immutable=1"  # a read-only disk: reads still work (nothing is left in a WAL); writes fail
        con = sqlite3.connect(self.db_path.as_uri() + mode, uri=True, timeout=30)
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

    # -- size budget ----------------------------------------------------------------------
    def usage_bytes(self, max_age: float = 10.0) -> int:
        """Bytes the workspace holds on disk (measured at most every ``max_age`` seconds)."""
        with self._lock:
            if self._usage is not None and time.monotonic() - self._usage[0] < max_age:
                return self._usage[1]
        used = folder_bytes(self.root)
        with self._lock:
            self._usage = (time.monotonic(), used)
        return used

    def check_budget(self, adding: int = 0) -> None:
        """Raise :class:`WorkspaceError` when the workspace (plus ``adding`` bytes) exceeds its size budget."""
        if self.max_bytes is None:
            return
        used = self.usage_bytes()
        if used + adding > self.max_bytes:
            raise WorkspaceError(
                f"The workspace has reached its size budget ({human_size(used)} of {human_size(self.max_bytes)}, "
                f"{BUDGET_ENV_VAR}), so new uploads and runs are refused. Ask the admin to run `dataval gc`.",
                "over_budget")

    # -- sessions -------------------------------------------------------------------------
    def mint_session(self) -> str:
        """A new session id, registered as minted by this server; the app accepts no other."""
        session_id = new_session_id()
        self._execute("INSERT INTO sessions (session_id, created) VALUES (?, ?)", (session_id, time.time()))
        return session_id

    def session_exists(self, session_id: str) -> bool:
        """Whether ``session_id`` was minted here (a sid made up elsewhere is not)."""
        return bool(session_id) and bool(self._query("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)))

    def ensure_session(self, session_id: str) -> None:
        """Register ``session_id`` (idempotent); for engine callers that bring their own id."""
        self._execute("INSERT OR IGNORE INTO sessions (session_id, created) VALUES (?, ?)",
                      (session_id, time.time()))

    def current_dataset(self, session_id: str) -> str | None:
        """The dataset record the session last worked on, if it may still see it."""
        rows = self._query("SELECT current_dataset FROM sessions WHERE session_id = ?", (session_id,))
        key = rows[0]["current_dataset"] if rows else None
        return key if key and self.can_access(session_id, key) else None

    def set_current_dataset(self, session_id: str, key: str | None) -> None:
        """Remember the session's current dataset record (restored after a reload)."""
        self.ensure_session(session_id)
        self._execute("UPDATE sessions SET current_dataset = ? WHERE session_id = ?", (key, session_id))

    # -- uploads --------------------------------------------------------------------------
    def store_upload(self, name: str, data: bytes) -> Path:
        """Save uploaded bytes under ``uploads/<sha>/<safe name>`` and return the path.

        Refused with :class:`WorkspaceError` when it would exceed the size budget; a
        failed write leaves no partial file.
        """
        sha = hashlib.sha256(data).hexdigest()[:16]
        path = self.root / "uploads" / sha / _safe_name(name)
        if path.exists():
            return path
        self.check_budget(len(data))
        tmp = path.with_suffix(path.suffix + ".part")
        try:
            with _faults(self.root):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
                tmp.replace(path)
        except WorkspaceError:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def _files_sha(self, source: Path) -> str:
        return source.parent.name if source.parent.parent == self.root / "uploads" else \
            hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]

    def files_dir(self, source: Path) -> Path:
        """Where loaders may extract ``source`` (one folder per uploaded file)."""
        return self._folder("files", self._files_sha(source))

    def discard_files(self, source: Path) -> None:
        """Remove what loaders extracted from ``source`` (called when the upload is rejected)."""
        shutil.rmtree(self.root / "files" / self._files_sha(source), ignore_errors=True)
        with self._lock:
            self._usage = None

    # -- datasets -------------------------------------------------------------------------
    def add_dataset(self, session_id: str, dataset: Dataset, info: Mapping[str, Any] | None = None) -> DatasetRecord:
        """Store ``dataset`` for ``session_id`` and make it the session's current dataset.

        The same content added again by the same session returns the existing record
        (with its runs and decisions); another session always gets its own record.
        """
        self.ensure_session(session_id)
        content_hash = dataset.content_hash()
        existing = self._query("SELECT key FROM datasets WHERE owner = ? AND content_hash = ?",
                               (session_id, content_hash))
        if existing:
            key = existing[0]["key"]
        else:
            with _faults(self.root):
                self._write_dataset_files(dataset, content_hash)
            key = "ds_" + uuid.uuid4().hex[:12]
            with _faults(self.root), closing(self._connect()) as con, con:
                con.execute(
                    "INSERT INTO datasets (key, content_hash, owner, name, modality, n, info, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, content_hash, session_id, dataset.name, dataset.modality, len(dataset),
                     json.dumps(dict(info or {}), default=str), time.time()))
                con.execute("INSERT OR IGNORE INTO session_datasets (session_id, key, mode) VALUES (?, ?, 'owner')",
                            (session_id, key))
        self.set_current_dataset(session_id, key)
        return self.dataset_record(key)

    def _write_dataset_files(self, dataset: Dataset, content_hash: str) -> None:
        folder = self.root / "datasets" / content_hash
        if (folder / "dataset.json").exists():
            return
        self.check_budget()
        folder.mkdir(parents=True, exist_ok=True)
        rows = pd.DataFrame({"id": dataset.ids, "label": dataset.labels, "is_target": dataset.is_target})
        if dataset.original_labels is not None:
            rows["original_label"] = dataset.original_labels
        if dataset.feature_noise is not None:
            rows["feature_noise"] = np.asarray(dataset.feature_noise, dtype=np.float64)
        rows.to_parquet(folder / "rows.parquet", index=False)
        if dataset.table is not None:
            dataset.table.to_parquet(folder / "table.parquet", index=False)
        image_root = None
        if dataset.image_root is not None:
            root = Path(dataset.image_root).resolve()
            image_root = str(root.relative_to(self.root)) if root.is_relative_to(self.root) else str(root)
        desc = {"classes": list(dataset.classes), "task": dataset.task, "modality": dataset.modality,
                "label_column": dataset.label_column, "feature_columns": list(dataset.feature_columns),
                "image_root": image_root, "name": dataset.name, "source_format": dataset.source_format,
                "meta": dict(dataset.meta)}
        tmp = folder / "dataset.json.part"
        tmp.write_text(json.dumps(desc, default=str, indent=1))
        tmp.replace(folder / "dataset.json")

    def load_dataset(self, key: str) -> Dataset:
        """The :class:`Dataset` of record ``key`` as it was stored."""
        folder = self.root / "datasets" / self.dataset_record(key).content_hash
        with _faults(self.root):
            desc = json.loads((folder / "dataset.json").read_text())
            rows = pd.read_parquet(folder / "rows.parquet")
            table = pd.read_parquet(folder / "table.parquet") if (folder / "table.parquet").exists() else None
        image_root = None
        if desc["image_root"] is not None:
            image_root = Path(desc["image_root"])
            image_root = image_root if image_root.is_absolute() else self.root / image_root
        return Dataset(
            ids=rows["id"].to_numpy(dtype=str), labels=rows["label"].to_numpy(), classes=tuple(desc["classes"]),
            task=desc["task"], modality=desc["modality"], is_target=rows["is_target"].to_numpy(dtype=bool),
            table=table, label_column=desc["label_column"], feature_columns=tuple(desc["feature_columns"]),
            image_root=image_root,
            original_labels=rows["original_label"].to_numpy() if "original_label" in rows else None,
            feature_noise=rows["feature_noise"].to_numpy() if "feature_noise" in rows else None,
            name=desc["name"], source_format=desc["source_format"], meta=desc["meta"])

    def dataset_record(self, key: str) -> DatasetRecord:
        """The record ``key``; raises ``KeyError`` if there is none."""
        rows = self._query("SELECT * FROM datasets WHERE key = ?", (key,))
        if not rows:
            raise KeyError(f"No dataset {key!r} in the workspace.")
        r = rows[0]
        return DatasetRecord(r["key"], r["content_hash"], r["owner"], r["name"], r["modality"], r["n"],
                             json.loads(r["info"]), r["created"])

    #: a session's grants that still hold: its own records, and shares whose key is neither revoked nor expired
    _LIVE_GRANTS = ("SELECT sd.key, sd.mode FROM session_datasets sd LEFT JOIN share_keys k ON k.key_hash = sd.via "
                    "WHERE sd.session_id = ? AND (sd.via IS NULL OR (k.revoked IS NULL AND "
                    "(k.expires IS NULL OR k.expires > ?)))")

    def list_datasets(self, session_id: str | None = None) -> list[DatasetRecord]:
        """Records the session may see (its own and those opened with a live share key), newest first.

        With ``session_id=None``: every record in the workspace (for admin tools).
        """
        if session_id is None:
            rows = self._query("SELECT key FROM datasets ORDER BY created DESC")
        else:
            rows = self._query(f"SELECT d.key FROM datasets d JOIN ({self._LIVE_GRANTS}) g ON g.key = d.key "
                               "ORDER BY d.created DESC", (session_id, time.time()))
        return [self.dataset_record(r["key"]) for r in rows]

    def access_mode(self, session_id: str, key: str) -> str | None:
        """``owner``, ``write`` or ``read`` (see :data:`ACCESS_MODES`), or None when the session may not see ``key``."""
        rows = self._query(f"SELECT mode FROM ({self._LIVE_GRANTS}) WHERE key = ?", (session_id, time.time(), key))
        return rows[0]["mode"] if rows else None

    def can_access(self, session_id: str, key: str) -> bool:
        """Whether ``session_id`` created record ``key`` or opened it with a share key that still holds."""
        return self.access_mode(session_id, key) is not None

    def can_write(self, session_id: str, key: str) -> bool:
        """Whether ``session_id`` may record decisions and start runs on ``key`` (owner or edit share)."""
        return self.access_mode(session_id, key) in ("owner", "write")

    def _require_write(self, session_id: str, key: str) -> None:
        """Raise :class:`AccessError` unless ``session_id`` may change record ``key`` right now (checked at each
        write, so a revoked or expired edit key stops a page that is already open)."""
        mode = self.access_mode(session_id, key)
        if mode == "read":
            raise AccessError("This dataset was shared with you view-only, so decisions cannot be saved.")
        if mode is None:
            raise AccessError("This dataset is no longer open to this session (its share key was revoked or has "
                              "expired), so decisions cannot be saved.")

    # -- share keys -----------------------------------------------------------------------
    def create_share_key(self, session_id: str, key: str, *, write: bool = False,
                         days: float | None = 7.0) -> str:
        """A new share key (192 random bits) that opens record ``key``; only its owner may make one.

        Args:
            write: let holders decide and run too; the default is view only.
            days: the key expires after this many days (None: until revoked).

        Returns:
            the key; only its hash is stored, so it cannot be shown again.
        """
        if self.access_mode(session_id, key) != "owner":
            raise AccessError("Only the session that created this dataset can share it.")
        token = "dv_" + secrets.token_urlsafe(24)
        expires = None if days is None else time.time() + days * 86400
        self._execute("INSERT INTO share_keys (key_hash, dataset_key, created_by, mode, created, expires) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (_key_hash(token), key, session_id, "write" if write else "read", time.time(), expires))
        return token

    def share_keys(self, key: str) -> list[ShareKey]:
        """The share keys of record ``key``, newest first (revoked and expired ones included)."""
        rows = self._query("SELECT * FROM share_keys WHERE dataset_key = ? ORDER BY created DESC", (key,))
        return [ShareKey(r["key_hash"][:12], r["dataset_key"], r["mode"], r["created"], r["expires"], r["revoked"])
                for r in rows]

    def revoke_share_key(self, session_id: str, key: str, key_id: str) -> None:
        """Revoke share key ``key_id`` of record ``key``: holders lose access at once."""
        if self.access_mode(session_id, key) != "owner":
            raise AccessError("Only the session that created this dataset can revoke its share keys.")
        self._execute("UPDATE share_keys SET revoked = ? WHERE dataset_key = ? AND substr(key_hash, 1, 12) = ? "
                      "AND revoked IS NULL", (time.time(), key, key_id))

    def open_shared(self, session_id: str, token: str) -> DatasetRecord:
        """Open the record a share key points to; the session gets the key's mode until it is revoked or expires.

        A wrong, expired or revoked key raises :class:`AccessError` with the one message
        :data:`SHARE_KEY_INVALID`, so a guess learns nothing.
        """
        digest = _key_hash(token)
        rows = self._query("SELECT key_hash, dataset_key, mode, expires, revoked FROM share_keys")
        match = [r for r in rows if hmac.compare_digest(r["key_hash"], digest)]
        if not match or match[0]["revoked"] is not None or \
                (match[0]["expires"] is not None and match[0]["expires"] <= time.time()):
            raise AccessError(SHARE_KEY_INVALID)
        grant = match[0]
        key = grant["dataset_key"]
        self.ensure_session(session_id)
        if self.access_mode(session_id, key) not in ("owner", "write"):
            self._execute("INSERT OR REPLACE INTO session_datasets (session_id, key, mode, via) VALUES (?, ?, ?, ?)",
                          (session_id, key, grant["mode"], grant["key_hash"]))
        self.set_current_dataset(session_id, key)
        return self.dataset_record(key)

    # -- runs -----------------------------------------------------------------------------
    def create_run(self, key: str, method: str, *, embedding: str | None, params: Mapping[str, Any],
                   seed: int) -> str:
        """Add a queued run for record ``key`` and return its id (refused over the size budget)."""
        self.check_budget()
        run_id = "run_" + uuid.uuid4().hex[:12]
        self._execute("INSERT INTO runs (run_id, dataset_key, method, embedding, params, seed, status, created, owner) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (run_id, key, method, embedding, json.dumps(dict(params), default=str), int(seed),
                       str(RunState.QUEUED),
                       time.time(), _PROCESS_TOKEN))
        return run_id

    def set_run_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """Move a run to ``status`` (one of ``RUN_STATES``) with an optional one-line error."""
        if status not in RUN_STATES:
            raise ValueError(f"Unknown run status {status!r}.")
        finished = time.time() if status not in _ACTIVE else None
        try:
            self._execute("UPDATE runs SET status = ?, error = ?, finished = ? WHERE run_id = ?",
                          (str(status), error, finished, run_id))
        except WorkspaceError as exc:
            # the disk refused the state: this process still shows it (and why), so no run stays "running"
            with self._lock:
                self._unsaved_status[run_id] = (str(status), error or str(exc))
            raise
        with self._lock:
            self._unsaved_status.pop(run_id, None)

    def save_result(self, run_id: str, result: ValuationResult) -> None:
        """Write the run's values to Parquet, then mark it ``done`` with its timings and result status.

        When the values cannot be written the run is marked ``failed`` with the reason
        (in memory when even that write fails) and :class:`WorkspaceError` is raised.
        """
        frame = result.to_frame()
        frame["suggested_label"] = [None if v is None or v != v else str(v) for v in frame["suggested_label"]]
        for name, arr in result.extras.items():
            arr = np.asarray(arr)
            if arr.ndim == 1:
                frame[f"{_EXTRA_1D}{name}"] = arr
            else:
                flat = arr.reshape(len(arr), -1)
                for j in range(flat.shape[1]):
                    frame[f"{_EXTRA_2D}{name}.{j}"] = flat[:, j]
        path = self.root / "runs" / f"{run_id}.parquet"
        tmp = path.with_suffix(".part")
        try:
            with _faults(self.root):
                path.parent.mkdir(exist_ok=True)
                frame.to_parquet(tmp, index=False)
                tmp.replace(path)
            self._execute("UPDATE runs SET status = ?, error = NULL, finished = ?, timings = ?, embedding = ?, "
                          "params = ?, result_status = ? WHERE run_id = ?",
                          (str(RunState.DONE), time.time(), json.dumps(dict(result.timings)), result.embedding or None,
                           json.dumps(dict(result.params), default=str), result.status, run_id))
        except WorkspaceError as exc:
            tmp.unlink(missing_ok=True)
            failure = WorkspaceError(f"The run finished but its values could not be saved: {exc}", exc.reason)
            try:
                self.set_run_status(run_id, RunState.FAILED, error=str(failure))
            except WorkspaceError:
                pass  # set_run_status keeps the state in memory
            raise failure from exc
        with self._lock:
            self._unsaved_status.pop(run_id, None)

    def _run_record(self, r: sqlite3.Row) -> RunRecord:
        status, error = r["status"], r["error"]
        unsaved = self._unsaved_status.get(r["run_id"])
        if unsaved is not None:
            status, error = unsaved
        elif status in _ACTIVE and not _owner_alive(r["owner"]):
            status = RunState.INTERRUPTED
        return RunRecord(r["run_id"], r["dataset_key"], r["method"], r["embedding"], json.loads(r["params"]),
                         r["seed"], status, error, json.loads(r["timings"]), r["created"], r["finished"],
                         r["result_status"])

    def run_record(self, run_id: str) -> RunRecord:
        """The stored record of ``run_id``; raises ``KeyError`` if there is none."""
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise KeyError(f"No run {run_id!r} in the workspace.")
        return self._run_record(rows[0])

    def list_runs(self, key: str, status: str | None = None) -> list[RunRecord]:
        """Runs of record ``key``, oldest first, optionally only those in ``status``."""
        rows = self._query("SELECT * FROM runs WHERE dataset_key = ? ORDER BY created", (key,))
        runs = [self._run_record(r) for r in rows]
        return [r for r in runs if status is None or r.status == status]

    def load_result(self, run_id: str) -> ValuationResult:
        """The :class:`ValuationResult` of a finished run."""
        rec = self.run_record(run_id)
        with _faults(self.root):
            frame = pd.read_parquet(self.root / "runs" / f"{run_id}.parquet")
        extras: dict[str, np.ndarray] = {}
        columns_2d: dict[str, list[str]] = {}
        for col in frame.columns:
            if col.startswith(_EXTRA_1D):
                extras[col[len(_EXTRA_1D):]] = frame[col].to_numpy()
            elif col.startswith(_EXTRA_2D):
                columns_2d.setdefault(col[len(_EXTRA_2D):].rpartition(".")[0], []).append(col)
        extras.update({name: frame[cols].to_numpy() for name, cols in columns_2d.items()})
        sug = np.array([None if pd.isna(v) else str(v) for v in frame["suggested_label"]], dtype=object)
        suggested = None if all(v is None for v in sug) else sug
        return ValuationResult(ids=frame["id"].to_numpy(dtype=str), values=frame["value"].to_numpy(),
                               method=rec.method, params=rec.params, seed=rec.seed, embedding=rec.embedding or "",
                               timings=rec.timings, suggested_labels=suggested, extras=extras,
                               status=rec.result_status)

    # -- decisions ------------------------------------------------------------------------
    def record_decisions(self, key: str, session_id: str, rows: Iterable[Mapping[str, Any]], *,
                         skip_unchanged: bool = False, event: str | None = None) -> int:
        """Append decisions as one undoable step (each row a mapping with the ``DECISION_COLUMNS`` but ``time``).

        Action ``undecided`` sets a sample back to no decision. The latest row per
        sample id wins; the full log stays as the audit trail. With ``skip_unchanged``,
        rows that would not change a sample's current decision are not written, so
        applying the same bulk action twice writes it once. The rows and their step
        are written in one transaction: either all are saved or none (the error is raised).

        Args:
            event: the idempotency key of the click that asked for this write (see
                :func:`~dataval_core.decisions.new_event_key`). It is stored with every row
                and in a ledger of events, in the same transaction; an event already in the
                ledger for this record writes nothing, so a replayed or duplicated click
                is written at most once. ``None``: no such check (scripts, the CLI).

        Returns:
            The number of rows written (0 for an event seen before).

        Raises:
            ValueError: an unknown action or a malformed event key.
            AccessError: the session may not write to ``key``.
            WorkspaceError: the workspace refused the write (nothing was saved).
        """
        self._require_write(session_id, key)
        if event is not None:
            check_event_key(event)
        stamp = _now_iso()
        tag = session_tag(session_id)
        values = []
        for row in rows:
            if row["action"] not in ACTIONS + (UNDECIDED,):
                raise ValueError(f"Unknown action {row['action']!r}; use one of {', '.join(ACTIONS)} or {UNDECIDED}.")
            value = row.get("value")
            rank = row.get("rank")
            values.append((key, session_id, str(row["id"]), row["action"],
                           None if row.get("old_label") is None else str(row["old_label"]),
                           None if row.get("new_label") is None else str(row["new_label"]),
                           row.get("run_id"), row.get("method"),
                           None if value is None else float(value), None if rank is None else int(rank), stamp,
                           tag, event))
        with _faults(self.root), closing(self._connect()) as con, con:
            con.execute("BEGIN IMMEDIATE")
            if event is not None and self._event_seen(con, key, event):
                return 0
            if skip_unchanged:
                values = [v for v in values if self._current_action(con, key, v[2]) != (v[3], v[5])]
            written = self._write_step(con, key, session_id, values, stamp)
            self._log_event(con, key, session_id, event, written, stamp)
            return written

    @staticmethod
    def _event_seen(con: sqlite3.Connection, key: str, event: str) -> bool:
        return con.execute("SELECT 1 FROM decision_events WHERE dataset_key = ? AND event = ?",
                           (key, event)).fetchone() is not None

    @staticmethod
    def _log_event(con: sqlite3.Connection, key: str, session_id: str, event: str | None, rows: int,
                   stamp: str) -> None:
        if event is not None:
            con.execute("INSERT INTO decision_events (dataset_key, event, session_id, rows, time) "
                        "VALUES (?, ?, ?, ?, ?)", (key, event, session_id, rows, stamp))

    def event_seen(self, key: str, event: str) -> bool:
        """Whether a decision event with this idempotency key was already applied to record ``key``."""
        return bool(self._query("SELECT 1 FROM decision_events WHERE dataset_key = ? AND event = ?", (key, event)))

    @staticmethod
    def _current_action(con: sqlite3.Connection, key: str, sample_id: str) -> tuple[str, str | None]:
        row = con.execute("SELECT action, new_label FROM decisions WHERE dataset_key = ? AND id = ? "
                          "ORDER BY seq DESC LIMIT 1", (key, sample_id)).fetchone()
        return (UNDECIDED, None) if row is None else (row["action"], row["new_label"])

    @staticmethod
    def _write_step(con: sqlite3.Connection, key: str, session_id: str, values: list[tuple], stamp: str,
                    undoes: int | None = None) -> int:
        if not values:
            return 0
        con.executemany("INSERT INTO decisions (dataset_key, session_id, id, action, old_label, new_label, "
                        "run_id, method, value, rank, time, session, event) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        last = con.execute("SELECT max(seq) FROM decisions").fetchone()[0]  # the write lock makes seqs contiguous
        con.execute("INSERT INTO decision_steps (dataset_key, session_id, first_seq, last_seq, undoes, time) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (key, session_id, last - len(values) + 1, last, undoes, stamp))
        return len(values)

    def undo_last_step(self, key: str, session_id: str, *, event: str | None = None) -> int:
        """Undo the session's latest decision step on record ``key`` that is not undone yet.

        Each sample of that step goes back to the decision it had before (or to
        ``undecided``), unless a later step of anyone changed its decision since. The undo is
        itself appended to the log as a step, so the audit trail keeps every click.

        Args:
            event: the Undo click's idempotency key, as for :meth:`record_decisions`: a
                click seen before undoes nothing more.

        Returns:
            The number of samples set back (0 when there is nothing to undo, or for an event seen before).
        """
        self._require_write(session_id, key)
        if event is not None:
            check_event_key(event)
        stamp = _now_iso()
        tag = session_tag(session_id)
        with _faults(self.root), closing(self._connect()) as con, con:
            con.execute("BEGIN IMMEDIATE")
            if event is not None and self._event_seen(con, key, event):
                return 0
            step = con.execute(
                "SELECT step, first_seq, last_seq FROM decision_steps s WHERE dataset_key = ? AND session_id = ? "
                "AND undoes IS NULL AND NOT EXISTS (SELECT 1 FROM decision_steps u WHERE u.undoes = s.step) "
                "ORDER BY step DESC LIMIT 1", (key, session_id)).fetchone()
            if step is None:
                self._log_event(con, key, session_id, event, 0, stamp)
                return 0
            rows = con.execute("SELECT * FROM decisions WHERE dataset_key = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                               (key, step["first_seq"], step["last_seq"])).fetchall()
            values = []
            for row in {r["id"]: r for r in rows}.values():  # a sample's last row within the step
                if self._current_action(con, key, row["id"]) != (row["action"], row["new_label"]):
                    continue  # changed again after this step: leave the newer decision alone
                prior = con.execute("SELECT * FROM decisions WHERE dataset_key = ? AND id = ? AND seq < ? "
                                    "ORDER BY seq DESC LIMIT 1", (key, row["id"], step["first_seq"])).fetchone()
                if prior is None:
                    values.append((key, session_id, row["id"], UNDECIDED, row["old_label"], None, row["run_id"],
                                   row["method"], row["value"], row["rank"], stamp, tag, event))
                else:
                    values.append((key, session_id, row["id"], prior["action"], prior["old_label"],
                                   prior["new_label"], prior["run_id"], prior["method"], prior["value"],
                                   prior["rank"], stamp, tag, event))
            if not values:  # every sample was changed since: mark the step undone, nothing to restore
                con.execute("INSERT INTO decision_steps (dataset_key, session_id, first_seq, last_seq, undoes, time) "
                            "VALUES (?, ?, 0, -1, ?, ?)", (key, session_id, step["step"], stamp))
                self._log_event(con, key, session_id, event, 0, stamp)
                return 0
            written = self._write_step(con, key, session_id, values, stamp, undoes=step["step"])
            self._log_event(con, key, session_id, event, written, stamp)
            return written

    def can_undo(self, key: str, session_id: str) -> bool:
        """Whether the session has a decision step on record ``key`` that :meth:`undo_last_step` would undo."""
        return bool(self._query(
            "SELECT 1 FROM decision_steps s WHERE dataset_key = ? AND session_id = ? AND undoes IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM decision_steps u WHERE u.undoes = s.step) LIMIT 1", (key, session_id)))

    def decision_log(self, key: str) -> pd.DataFrame:
        """Every decision on record ``key`` in the order made (the audit trail).

        Columns ``DECISION_COLUMNS`` and ``session``: the :func:`session_tag` of the session that made it.
        """
        with _faults(self.root), closing(self._connect()) as con:
            frame = pd.read_sql_query(f"SELECT {', '.join(DECISION_COLUMNS)}, session FROM decisions "
                                      "WHERE dataset_key = ? ORDER BY seq", con, params=(key,))
        return frame

    def decisions(self, key: str) -> pd.DataFrame:
        """The current decision per sample (latest row per id; samples set back to undecided left out)."""
        log = self.decision_log(key)
        latest = log.drop_duplicates("id", keep="last")
        return latest[latest["action"] != UNDECIDED].reset_index(drop=True)

    # -- housekeeping ---------------------------------------------------------------------
    def gc(self, *, older_than_days: float = 30.0, max_gb: float | None = None,
           dry_run: bool = False) -> list[tuple[str, str, int]]:
        """Prune what has not been used for ``older_than_days``, then shrink to ``max_gb`` if given.

        The age pass removes cache and export files, uploads and extracted files no dataset
        uses, failed/cancelled/interrupted runs, and dataset records (with their runs,
        decisions and share keys) with no activity since the cutoff. The size pass then
        removes caches, exports and unused uploads, then the least recently active
        datasets, oldest first, until the workspace fits ``max_gb``.

        Returns:
            ``(kind, name, bytes)`` per item removed (or that would be, with ``dry_run``).
        """
        cutoff = time.time() - older_than_days * 86400
        removed: list[tuple[str, str, int]] = []
        activity = self._dataset_activity()
        doomed = {key for key, last in activity.items() if last < cutoff}
        files = self._loose_files(keep={k for k in activity if k not in doomed})
        for kind, path, mtime in files:
            if mtime < cutoff:
                removed.append(self._remove_path(kind, path, dry_run))
        for key in set(activity) - doomed:
            for run in self.list_runs(key):
                if run.created < cutoff and run.status in (RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED):
                    removed.append(self._remove_run(run.run_id, dry_run))
        for key in sorted(doomed, key=lambda k: activity[k]):
            removed.append(self._remove_dataset(key, dry_run))
        if max_gb is not None:
            limit = max_gb * 1e9
            used = folder_bytes(self.root) - (sum(b for _, _, b in removed) if dry_run else 0)
            gone = {name for _, name, _ in removed}
            for kind, path, _ in sorted(files, key=lambda f: f[2]):
                if used <= limit:
                    break
                if str(path.relative_to(self.root)) not in gone:
                    item = self._remove_path(kind, path, dry_run)
                    removed.append(item)
                    used -= item[2]
            for key in sorted(set(activity) - doomed, key=lambda k: activity[k]):
                if used <= limit:
                    break
                item = self._remove_dataset(key, dry_run)
                removed.append(item)
                used -= item[2]
        if not dry_run:
            self._execute("DELETE FROM sessions WHERE created < ? AND session_id NOT IN "
                          "(SELECT session_id FROM session_datasets)", (cutoff,))
            with self._lock:
                self._usage = None
        return removed

    def _dataset_activity(self) -> dict[str, float]:
        """Last activity per dataset record: its creation, its newest run, its newest decision."""
        last = {r["key"]: r["created"] for r in self._query("SELECT key, created FROM datasets")}
        for r in self._query("SELECT dataset_key, MAX(COALESCE(finished, created)) AS t FROM runs "
                             "GROUP BY dataset_key"):
            if r["dataset_key"] in last:
                last[r["dataset_key"]] = max(last[r["dataset_key"]], r["t"])
        for r in self._query("SELECT dataset_key, MAX(time) AS t FROM decisions GROUP BY dataset_key"):
            if r["dataset_key"] in last:
                stamp = datetime.fromisoformat(r["t"]).timestamp()
                last[r["dataset_key"]] = max(last[r["dataset_key"]], stamp)
        return last

    def _loose_files(self, keep: set[str]) -> list[tuple[str, Path, float]]:
        """Cache files, export folders, uploads, and extracted files no kept dataset uses, with their mtimes."""
        used_files = set()
        marks = ",".join("?" * len(keep))
        for r in self._query(f"SELECT content_hash FROM datasets WHERE key IN ({marks})", sorted(keep)):
            desc = self.root / "datasets" / r["content_hash"] / "dataset.json"
            try:
                image_root = json.loads(desc.read_text()).get("image_root") or ""
            except (OSError, ValueError):
                continue
            parts = Path(image_root).parts
            if len(parts) >= 2 and parts[0] == "files":
                used_files.add(parts[1])
        out = []
        for kind, folder in (("cache", "cache"), ("export", "exports"), ("upload", "uploads"), ("files", "files")):
            base = self.root / folder
            if not base.is_dir():
                continue
            for entry in base.iterdir():
                if kind == "files" and entry.name in used_files:
                    continue
                try:
                    out.append((kind, entry, entry.stat().st_mtime))
                except FileNotFoundError:
                    continue
        return out

    def _remove_path(self, kind: str, path: Path, dry_run: bool) -> tuple[str, str, int]:
        size = folder_bytes(path) if path.is_dir() else path.stat().st_size if path.exists() else 0
        if not dry_run:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return kind, str(path.relative_to(self.root)), size

    def _remove_run(self, run_id: str, dry_run: bool) -> tuple[str, str, int]:
        path = self.root / "runs" / f"{run_id}.parquet"
        size = path.stat().st_size if path.exists() else 0
        if not dry_run:
            self._execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            path.unlink(missing_ok=True)
        return "run", run_id, size

    def _remove_dataset(self, key: str, dry_run: bool) -> tuple[str, str, int]:
        record = self.dataset_record(key)
        runs = [r["run_id"] for r in self._query("SELECT run_id FROM runs WHERE dataset_key = ?", (key,))]
        size = sum(self._remove_run(run_id, True)[2] for run_id in runs)
        shared = self._query("SELECT 1 FROM datasets WHERE content_hash = ? AND key != ?", (record.content_hash, key))
        folder = self.root / "datasets" / record.content_hash
        if not shared:
            size += folder_bytes(folder)
        if not dry_run:
            with _faults(self.root), closing(self._connect()) as con, con:
                for table, column in (("decisions", "dataset_key"), ("decision_events", "dataset_key"),
                                      ("decision_steps", "dataset_key"), ("runs", "dataset_key"),
                                      ("share_keys", "dataset_key"), ("session_datasets", "key"),
                                      ("datasets", "key")):
                    con.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))
                con.execute("UPDATE sessions SET current_dataset = NULL WHERE current_dataset = ?", (key,))
            for run_id in runs:
                (self.root / "runs" / f"{run_id}.parquet").unlink(missing_ok=True)
            if not shared:
                shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(self.root / "exports" / key, ignore_errors=True)
        return "dataset", f"{key} ({record.name})", size


def check_workspace(root: str | Path | None = None, probe_bytes: int = 1 << 16) -> Health:
    """Whether the workspace can be opened and written now (for ``dataval health`` and the app's banner).

    A workspace that does not exist yet is reported missing, not created. Opens (and migrates) it,
    writes and removes a ``probe_bytes`` file, takes SQLite's write lock, and compares its size with
    the budget. Never raises.
    """
    path = Path(root or os.environ.get(ENV_VAR) or DEFAULT_ROOT).resolve()
    used, budget, free = 0, None, None
    try:
        budget = budget_bytes()
        if not (path / "workspace.sqlite").is_file():  # a check never creates one (e.g. on an unmounted disk)
            raise WorkspaceError(_FAULT_MESSAGES["missing"], "missing")
        ws = Workspace(path)
        used = folder_bytes(ws.root)
        free = shutil.disk_usage(ws.root).free
        probe = ws.root / f".health-{os.getpid()}-{threading.get_ident()}"
        try:
            with _faults(ws.root), open(probe, "wb") as fh:
                fh.write(b"\0" * probe_bytes)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            probe.unlink(missing_ok=True)
        with _faults(ws.root), closing(ws._connect()) as con:
            con.isolation_level = None
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
        if budget is not None and used > budget:
            return Health(False, f"over its size budget: {human_size(used)} of {human_size(budget)} used "
                                 f"({BUDGET_ENV_VAR}); run `dataval gc`", str(path), used, budget, free)
    except (WorkspaceError, ValueError) as exc:
        return Health(False, f"unwritable: {exc}", str(path), used, budget, free)
    size = f"{human_size(used)} used" + (f" of {human_size(budget)} budget" if budget is not None else "")
    return Health(True, f"ok ({size}, {human_size(free)} free on disk)", str(path), used, budget, free)
