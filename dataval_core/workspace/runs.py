"""Valuation runs: their records and states in SQLite, their values in ``runs/<run_id>.parquet``."""
from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..progress import RunState
from ..result import ResultStatus, ValuationResult
from .budget import Budget
from .faults import WorkspaceError, _faults

#: run states; ``interrupted`` marks a run whose server process ended before it finished
RUN_STATES = tuple(RunState)
#: states of a run that has not finished
_ACTIVE = (RunState.QUEUED, RunState.RUNNING)
_EXTRA_1D = "extra."
_EXTRA_2D = "extra2d."
#: identifies this server process in ``runs.owner`` (pid alone is reused across container restarts)
_PROCESS_TOKEN = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


@dataclass(frozen=True)
class RunRecord:
    """One valuation run as stored: parameters, state and timings (values live in Parquet).

    ``status`` is where the run is (queued … done); ``result_status`` how a done run's method ended.
    Both are stored as their string values.
    """

    run_id: str
    dataset_key: str
    method: str
    embedding: str | None
    params: Mapping[str, Any]
    seed: int
    status: RunState
    error: str | None
    timings: Mapping[str, float]
    created: float
    finished: float | None
    result_status: ResultStatus = ResultStatus.OK

    @property
    def label(self) -> str:
        """A short human label, e.g. ``knn_shapley · raw · #3f2a``."""
        return f"{self.method} · {self.embedding or 'default'} · #{self.run_id[-4:]}"

    @property
    def status_text(self) -> str:
        """The state as shown in tables: ``done``, or ``done · not converged`` when the method says so."""
        if self.status == RunState.DONE and self.result_status != ResultStatus.OK:
            return f"done · {self.result_status.replace('_', ' ')}"
        return self.status


class Runs(Budget):
    """Queued, running and finished runs; a run whose server process is gone reads as ``interrupted``."""

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

    def set_run_status(self, run_id: str, status: RunState, *, error: str | None = None) -> None:
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
                         r["seed"], RunState(status), error, json.loads(r["timings"]), r["created"],
                         r["finished"], ResultStatus(r["result_status"]))

    def run_record(self, run_id: str) -> RunRecord:
        """The stored record of ``run_id``; raises ``KeyError`` if there is none."""
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise KeyError(f"No run {run_id!r} in the workspace.")
        return self._run_record(rows[0])

    def list_runs(self, key: str, status: RunState | None = None) -> list[RunRecord]:
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
