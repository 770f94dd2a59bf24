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
decisions. A session sees only its own records unless it opens another on purpose
(:meth:`Workspace.open_dataset`). Everything is plain data (Parquet, JSON, SQLite):
no pickle, so reading a workspace never executes code. Safe to use from several
threads: each call opens its own SQLite connection.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import Dataset
from .decisions import ACTIONS, DECISION_COLUMNS
from .result import ValuationResult

ENV_VAR = "DATAVAL_WORKSPACE"
DEFAULT_ROOT = ".dataval"
#: run states; ``interrupted`` marks a run whose server process ended before it finished
RUN_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
_EXTRA_1D = "extra."
_EXTRA_2D = "extra2d."
#: identifies this server process in ``runs.owner`` (pid alone is reused across container restarts)
_PROCESS_TOKEN = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"

_SCHEMA = """
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

    @property
    def label(self) -> str:
        """A short human label, e.g. ``knn_shapley · raw · #3f2a``."""
        return f"{self.method} · {self.embedding or 'default'} · #{self.run_id[-4:]}"


def new_session_id() -> str:
    """A fresh, unguessable browser-session id."""
    return uuid.uuid4().hex


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
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "workspace.sqlite"
        with closing(self._connect()) as con, con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    # -- plumbing -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with closing(self._connect()) as con:
            return con.execute(sql, tuple(args)).fetchall()

    def _execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        with closing(self._connect()) as con, con:
            con.execute(sql, tuple(args))

    @property
    def cache_dir(self) -> Path:
        """Folder for the engine's on-disk caches (embeddings, map coordinates)."""
        path = self.root / "cache"
        path.mkdir(exist_ok=True)
        return path

    def export_dir(self, key: str) -> Path:
        """Folder for files built for download from dataset record ``key``."""
        path = self.root / "exports" / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- sessions -------------------------------------------------------------------------
    def ensure_session(self, session_id: str) -> None:
        """Register ``session_id`` (idempotent)."""
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
        """Save uploaded bytes under ``uploads/<sha>/<safe name>`` and return the path."""
        sha = hashlib.sha256(data).hexdigest()[:16]
        folder = self.root / "uploads" / sha
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _safe_name(name)
        if not path.exists():
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return path

    def files_dir(self, source: Path) -> Path:
        """Where loaders may extract ``source`` (one folder per uploaded file)."""
        sha = source.parent.name if source.parent.parent == self.root / "uploads" else \
            hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
        path = self.root / "files" / sha
        path.mkdir(parents=True, exist_ok=True)
        return path

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
            self._write_dataset_files(dataset, content_hash)
            key = "ds_" + uuid.uuid4().hex[:12]
            self._execute(
                "INSERT INTO datasets (key, content_hash, owner, name, modality, n, info, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, content_hash, session_id, dataset.name, dataset.modality, len(dataset),
                 json.dumps(dict(info or {}), default=str), time.time()))
            self._execute("INSERT OR IGNORE INTO session_datasets (session_id, key) VALUES (?, ?)",
                          (session_id, key))
        self.set_current_dataset(session_id, key)
        return self.dataset_record(key)

    def _write_dataset_files(self, dataset: Dataset, content_hash: str) -> None:
        folder = self.root / "datasets" / content_hash
        if (folder / "dataset.json").exists():
            return
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

    def list_datasets(self, session_id: str | None = None) -> list[DatasetRecord]:
        """Records the session may see (its own and those it opened), newest first.

        With ``session_id=None``: every record in the workspace (for "open on purpose").
        """
        if session_id is None:
            rows = self._query("SELECT key FROM datasets ORDER BY created DESC")
        else:
            rows = self._query("SELECT d.key FROM datasets d JOIN session_datasets s ON s.key = d.key "
                               "WHERE s.session_id = ? ORDER BY d.created DESC", (session_id,))
        return [self.dataset_record(r["key"]) for r in rows]

    def can_access(self, session_id: str, key: str) -> bool:
        """Whether ``session_id`` created or opened record ``key``."""
        return bool(self._query("SELECT 1 FROM session_datasets WHERE session_id = ? AND key = ?",
                                (session_id, key)))

    def open_dataset(self, session_id: str, key: str) -> DatasetRecord:
        """Let a session work on another session's record on purpose (shares runs and decisions)."""
        record = self.dataset_record(key)
        self.ensure_session(session_id)
        self._execute("INSERT OR IGNORE INTO session_datasets (session_id, key) VALUES (?, ?)", (session_id, key))
        self.set_current_dataset(session_id, key)
        return record

    # -- runs -----------------------------------------------------------------------------
    def create_run(self, key: str, method: str, *, embedding: str | None, params: Mapping[str, Any],
                   seed: int) -> str:
        """Add a queued run for record ``key`` and return its id."""
        run_id = "run_" + uuid.uuid4().hex[:12]
        self._execute("INSERT INTO runs (run_id, dataset_key, method, embedding, params, seed, status, created, owner) "
                      "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                      (run_id, key, method, embedding, json.dumps(dict(params), default=str), int(seed),
                       time.time(), _PROCESS_TOKEN))
        return run_id

    def set_run_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """Move a run to ``status`` (one of ``RUN_STATES``) with an optional one-line error."""
        if status not in RUN_STATES:
            raise ValueError(f"Unknown run status {status!r}.")
        finished = time.time() if status not in ("queued", "running") else None
        self._execute("UPDATE runs SET status = ?, error = ?, finished = ? WHERE run_id = ?",
                      (status, error, finished, run_id))

    def save_result(self, run_id: str, result: ValuationResult) -> None:
        """Write the run's values to Parquet, then mark it ``done`` with its timings."""
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
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".part")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        self._execute("UPDATE runs SET status = 'done', error = NULL, finished = ?, timings = ?, embedding = ?, "
                      "params = ? WHERE run_id = ?",
                      (time.time(), json.dumps(dict(result.timings)), result.embedding or None,
                       json.dumps(dict(result.params), default=str), run_id))

    def _run_record(self, r: sqlite3.Row) -> RunRecord:
        status = r["status"]
        if status in ("queued", "running") and not _owner_alive(r["owner"]):
            status = "interrupted"
        return RunRecord(r["run_id"], r["dataset_key"], r["method"], r["embedding"], json.loads(r["params"]),
                         r["seed"], status, r["error"], json.loads(r["timings"]), r["created"], r["finished"])

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
                               timings=rec.timings, suggested_labels=suggested, extras=extras)

    # -- decisions ------------------------------------------------------------------------
    def record_decisions(self, key: str, session_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append decisions (each a mapping with the ``DECISION_COLUMNS`` except ``time``).

        Returns the number of rows written. The latest row per sample id wins; the full
        log stays as the audit trail.
        """
        stamp = _now_iso()
        values = []
        for row in rows:
            if row["action"] not in ACTIONS:
                raise ValueError(f"Unknown action {row['action']!r}; use one of {', '.join(ACTIONS)}.")
            value = row.get("value")
            rank = row.get("rank")
            values.append((key, session_id, str(row["id"]), row["action"],
                           None if row.get("old_label") is None else str(row["old_label"]),
                           None if row.get("new_label") is None else str(row["new_label"]),
                           row.get("run_id"), row.get("method"),
                           None if value is None else float(value), None if rank is None else int(rank), stamp))
        with closing(self._connect()) as con, con:
            con.executemany("INSERT INTO decisions (dataset_key, session_id, id, action, old_label, new_label, "
                            "run_id, method, value, rank, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        return len(values)

    def decision_log(self, key: str) -> pd.DataFrame:
        """Every decision on record ``key`` in the order made (the audit trail)."""
        with closing(self._connect()) as con:
            frame = pd.read_sql_query(f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions "
                                      "WHERE dataset_key = ? ORDER BY seq", con, params=(key,))
        return frame

    def decisions(self, key: str) -> pd.DataFrame:
        """The current decision per sample (latest row per id), columns ``DECISION_COLUMNS``."""
        log = self.decision_log(key)
        return log.drop_duplicates("id", keep="last").reset_index(drop=True)
