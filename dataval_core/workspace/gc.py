"""Housekeeping: prune what has not been used for a while, and shrink the workspace to a size."""
from __future__ import annotations

import json
import shutil
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

from ..progress import RunState
from .budget import folder_bytes
from .datasets import Datasets
from .faults import _faults
from .runs import Runs


class Gc(Datasets, Runs):
    """:meth:`gc` and the removals it is made of."""

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
                                      ("decision_steps", "dataset_key"), ("annotations", "dataset_key"),
                                      ("annotation_events", "dataset_key"), ("runs", "dataset_key"),
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
