"""Background work for the app: valuation runs and other long tasks off the UI thread.

A :class:`JobManager` runs jobs on a small thread pool. Each job has a cancel flag
and a progress snapshot (stage, done/total, elapsed, ETA) that pages poll; errors
become one readable line (the traceback goes to the log, never to the UI).
Valuation runs are recorded in the :class:`~dataval_core.workspace.Workspace` as they
are queued, and their values are saved there when they finish, so a page reload
or a second browser tab sees them and nothing is lost when the run ends.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .dataset import Dataset
from .errors import one_line_error
from .progress import ACTIVE_STATES, CancelFlag, Cancelled, EtaSmoother, Progress, ProgressCallback, RunState
from .run_process import RunProcess, backend_spec
from .workspace import RunRecord, Workspace

log = logging.getLogger(__name__)

#: finished jobs (and their task results) kept in memory; older ones are forgotten first
MAX_FINISHED_JOBS = 64
Task = Callable[[ProgressCallback, CancelFlag], Any]
#: ``0`` runs valuations on the job threads of the server process instead of a process each
RUN_PROCESS_ENV = "DATAVAL_RUN_PROCESS"


#: part of the bar for features a finished run of this dataset already built (they come from the cache)
CACHED_EMBEDDING_SHARE = 0.02


def run_plan(history: Sequence[RunRecord], method: str, embedding: str | None) -> tuple[float | None, float | None]:
    """How a new run's progress is drawn, from the dataset's earlier runs: the part of the bar for building its
    features, and the seconds it is expected to take (for the ETA before it reports any progress).

    Features a finished run already built with this embedding come from the cache, so they get a sliver of the
    bar (None: the runner's default for the embedding). The expected seconds are the method time of the last
    finished run with the same method and embedding (whose features are cached now), else None.
    """
    done = [r for r in history if r.status == RunState.DONE]
    cached = embedding is not None and any(r.embedding == embedding for r in done)
    same = [r for r in done if r.method == method and r.embedding == embedding and "method" in r.timings]
    return (CACHED_EMBEDDING_SHARE if cached else None), (float(same[-1].timings["method"]) if same else None)


@dataclass(frozen=True)
class JobSnapshot:
    """What a page shows about one job at one moment.

    Attributes:
        job_id: the run id (valuation runs) or task id.
        status: a :class:`~dataval_core.progress.RunState` (``queued``, ``running``, ``done``, ``failed``
            or ``cancelled``).
        stage: current stage name reported by the engine.
        done: units of the stage finished.
        total: units in the stage.
        message: the engine's detail text.
        elapsed: seconds since the job started running (0 while queued).
        eta: estimated seconds left in the whole job (:class:`~dataval_core.progress.EtaSmoother`: steady, it
            does not restart with each stage), None when unknown.
        error: one-line error when ``status == "failed"``.
        overall: fraction of the whole job done, across its stages; it never goes back.
    """

    job_id: str
    status: RunState
    stage: str
    done: int
    total: int
    message: str
    elapsed: float
    eta: float | None
    error: str | None
    overall: float = 0.0

    @property
    def fraction(self) -> float:
        """The bar's fraction: the whole job's, never the current stage's alone."""
        return 1.0 if self.status == RunState.DONE else min(1.0, max(0.0, self.overall))

    @property
    def stage_fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE_STATES


class _Job:
    """Mutable job state, touched only under the manager's lock."""

    def __init__(self, job_id: str, expected_s: float | None = None):
        self.job_id = job_id
        self.cancel = threading.Event()
        self.status = RunState.QUEUED
        self.stage = "queued"
        self.done = 0
        self.total = 0
        self.message = ""
        self.started: float | None = None
        self.overall = 0.0
        self.eta = EtaSmoother(expected_s=expected_s)
        self.ended: float | None = None
        self.error: str | None = None
        self.result: Any = None
        self.future: Future | None = None


class JobManager:
    """Runs jobs on a thread pool and tracks their progress.

    One manager serves the whole server process (the app keeps it in
    ``st.cache_resource``); jobs are addressed by id, and pages only ask about
    the runs of datasets their session may see.

    Args:
        workspace: where runs are recorded and their values saved.
        max_workers: jobs running at once; later ones wait as ``queued``.
        runs_in_process: value each run in its own process (:mod:`~dataval_core.run_process`), from the
            record's stored dataset, so the pages' script runs never wait on it; False runs it on the job
            thread from the dataset given (scripts that hold a dataset no workspace stores). None (default):
            True unless ``$DATAVAL_RUN_PROCESS`` is ``0``.
    """

    def __init__(self, workspace: Workspace, max_workers: int = 2, *, runs_in_process: bool | None = None):
        self.workspace = workspace
        if runs_in_process is None:
            runs_in_process = os.environ.get(RUN_PROCESS_ENV, "1") != "0"
        self.runs_in_process = runs_in_process
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dataval-job")
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._spare: RunProcess | None = None

    # -- submitting -----------------------------------------------------------------------
    def submit_run(self, key: str, dataset: Dataset, method: str, *, embedding: str | None = None,
                   params: Mapping[str, Any] | None = None, seed: int = 0, backend: Any = None) -> str:
        """Queue a valuation run of ``method`` on dataset record ``key``; returns the run id.

        ``backend`` (``"local"``, ``"ray"`` or a ``Backend``) is where its tasks compute.

        The run is recorded at once; its values are saved to the workspace when it
        finishes. Parameter errors surface as a failed run with a one-line message.
        """
        share, expected_s = run_plan(self.workspace.list_runs(key), method, embedding)
        run_id = self.workspace.create_run(key, method, embedding=embedding, params=dict(params or {}), seed=seed)

        def work(progress: ProgressCallback, cancel: CancelFlag) -> None:
            self.workspace.set_run_status(run_id, RunState.RUNNING)
            if self.runs_in_process:
                self._run_process().run({"root": str(self.workspace.root), "key": key, "run_id": run_id,
                                         "method": method, "embedding": embedding, "params": dict(params or {}),
                                         "seed": seed, "backend": backend_spec(backend), "embedding_share": share},
                                        progress, cancel)
                return
            from .runner import run_valuation  # heavy (torch); imported in the worker, not at app start

            result = run_valuation(dataset, method, embedding=embedding, params=dict(params or {}), seed=seed,
                                   progress=progress, cancel=cancel, cache_dir=self.workspace.cache_dir,
                                   backend=backend, embedding_share=share)
            self.workspace.save_result(run_id, result)

        def on_end(status: RunState, error: str | None) -> None:
            if status != RunState.DONE:
                self.workspace.set_run_status(run_id, status, error=error)

        self._start(run_id, work, on_end, expected_s=expected_s)
        return run_id

    def _run_process(self) -> RunProcess:
        """The spare run process (a new one if there is none), and a new spare started for the next run."""
        with self._lock:
            child, self._spare = self._spare, None
        if child is None or not child.alive():
            child = RunProcess()
        spare = RunProcess()
        with self._lock:
            self._spare, old = spare, self._spare
        if old is not None:  # two runs started at once: one spare is enough
            old.close()
        return child

    def submit_task(self, job_id: str, task: Task) -> str:
        """Queue ``task(progress, cancel)`` under ``job_id`` unless that job is queued, running or done.

        The check and the insert happen under one lock hold, so two sessions asking for the
        same job at once start it once. The task's return value is kept in memory (see
        :meth:`result`) among the last :data:`MAX_FINISHED_JOBS` finished jobs; a failed or
        cancelled task is started again.
        """
        self._start(job_id, task, None, unless_live=True)
        return job_id

    def _start(self, job_id: str, work: Task, on_end: Callable[[RunState, str | None], None] | None, *,
               unless_live: bool = False, expected_s: float | None = None) -> None:
        job = _Job(job_id, expected_s)
        with self._lock:
            old = self._jobs.get(job_id)
            if unless_live and old is not None and old.status not in (RunState.FAILED, RunState.CANCELLED):
                return
            self._jobs.pop(job_id, None)  # re-inserted last: the newest job of this id
            self._jobs[job_id] = job
            job.future = self._pool.submit(self._body, job, work, on_end)

    def _forget_old(self) -> None:
        """Drop the oldest finished jobs beyond :data:`MAX_FINISHED_JOBS` (called under the lock)."""
        finished = sorted((j.ended or 0.0, j.job_id) for j in self._jobs.values() if j.status not in ACTIVE_STATES)
        for _, job_id in finished[:max(0, len(finished) - MAX_FINISHED_JOBS)]:
            del self._jobs[job_id]

    def _body(self, job: _Job, work: Task, on_end: Callable[[RunState, str | None], None] | None) -> None:
        def progress(p: Progress) -> None:
            with self._lock:
                job.stage, job.done, job.total, job.message = p.stage, p.done, p.total, p.message
                job.overall = max(job.overall, p.fraction if p.overall is None else p.overall)

        with self._lock:
            job.status, job.started = RunState.RUNNING, time.monotonic()
            job.stage = "starting"
        status, error, result = RunState.DONE, None, None
        try:
            if job.cancel.is_set():
                raise Cancelled("cancelled before it started")
            result = work(progress, job.cancel)
        except Cancelled:
            status = RunState.CANCELLED
        except Exception as exc:  # every failure becomes a one-line status
            log.exception("job %s failed", job.job_id)
            status, error = RunState.FAILED, one_line_error(exc)
        if on_end is not None:
            try:
                on_end(status, error)
            except Exception as exc:
                log.exception("job %s: could not record its end", job.job_id)
                status, error = RunState.FAILED, one_line_error(exc)
        with self._lock:
            job.status, job.error, job.result, job.ended = status, error, result, time.monotonic()
            self._forget_old()

    # -- observing ------------------------------------------------------------------------
    def snapshot(self, job_id: str) -> JobSnapshot | None:
        """The job's progress now, or None if this process never ran it."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            now = job.ended or time.monotonic()
            elapsed = 0.0 if job.started is None else now - job.started
            eta = job.eta.update(now, elapsed, job.overall) if job.status == RunState.RUNNING else None
            return JobSnapshot(job_id, job.status, job.stage, job.done, job.total, job.message, elapsed, eta,
                               job.error, job.overall)

    def result(self, job_id: str) -> Any:
        """The return value of a finished task (None for runs, whose values are in the workspace)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.result

    def cancel(self, job_id: str) -> None:
        """Ask the job to stop at its next progress point (a queued job never starts)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            job.cancel.set()

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the job finishes (or ``timeout`` seconds pass); for scripts and tests."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.future is not None:
            try:
                job.future.result(timeout=timeout)
            except TimeoutError:
                pass
        return self.snapshot(job_id)

    def shutdown(self) -> None:
        """Cancel every job and stop the pool."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()
