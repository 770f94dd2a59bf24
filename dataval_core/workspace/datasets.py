"""Uploads and datasets: uploaded bytes, extracted files, and dataset records with their stored rows."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import Dataset
from .access import Access
from .budget import Budget
from .faults import WorkspaceError, _faults


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


def _safe_name(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
    return base[:120]


class Datasets(Budget, Access):
    """Uploaded files and dataset records (one per session and content, files stored once per content)."""

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
        """Store ``dataset`` as a record owned by ``session_id`` (registered if new).

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
