"""Background jobs: runs saved to the workspace, progress snapshots, cancel, one-line errors."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dataval_core.dataset import Dataset
from dataval_core.errors import one_line_error
from dataval_core.jobs import JobManager
from dataval_core.progress import Reporter
from dataval_core.workspace import Workspace


def _blobs_dataset(n: int = 60) -> Dataset:
    import pandas as pd

    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    table = pd.DataFrame({"a": rng.normal(y * 3, 1), "b": rng.normal(-y * 3, 1), "label": y})
    return Dataset(ids=np.arange(n).astype(str), labels=y, classes=("0", "1"), task="classification",
                   modality="table", is_target=np.arange(n) >= n - 20, table=table, label_column="label",
                   feature_columns=("a", "b"), name="blobs")


@pytest.fixture
def setup(tmp_path):
    ws = Workspace(tmp_path / "ws")
    jobs = JobManager(ws, max_workers=1)
    record = ws.add_dataset("s", _blobs_dataset())
    yield ws, jobs, record
    jobs.shutdown()


def _wait_until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_run_is_saved_to_the_workspace(setup):
    ws, jobs, record = setup
    run_id = jobs.submit_run(record.key, ws.load_dataset(record.key), "knn_shapley", params={"k": 3}, seed=1)
    snap = jobs.wait(run_id, timeout=60)
    assert snap.status == "done" and snap.fraction == 1.0 and snap.elapsed > 0
    run = ws.run_record(run_id)
    assert run.status == "done" and run.params["k"] == 3 and run.timings["total"] > 0
    assert len(ws.load_result(run_id).values) == 40


def test_bad_parameters_fail_with_one_line(setup):
    ws, jobs, record = setup
    run_id = jobs.submit_run(record.key, ws.load_dataset(record.key), "knn_shapley", params={"k": -1})
    snap = jobs.wait(run_id, timeout=60)
    assert snap.status == "failed" and "\n" not in snap.error and "'k' parameter" in snap.error
    assert ws.run_record(run_id).error == snap.error


def _stepper(release: threading.Event, steps: int = 50):
    def task(progress, cancel):
        reporter = Reporter(progress, cancel)
        for i in range(steps):
            reporter.update("stepping", i + 1, steps)
            release.wait(0.05)
        return "finished"

    return task


def test_progress_eta_and_cancel(setup):
    _, jobs, _ = setup
    jobs.submit_task("t1", _stepper(threading.Event()))
    # the ETA reads the pace once a second of the run has passed (the first events say little)
    _wait_until(lambda: (s := jobs.snapshot("t1")).status == "running" and s.elapsed >= 1.1 and s.done < 50)
    snap = jobs.snapshot("t1")
    assert snap.stage == "stepping" and snap.total == 50 and snap.eta is not None and snap.eta > 0
    jobs.cancel("t1")
    assert jobs.wait("t1", timeout=10).status == "cancelled"


def test_queued_job_cancelled_before_it_starts_and_task_result(setup):
    _, jobs, _ = setup
    release = threading.Event()
    jobs.submit_task("first", _stepper(release, steps=3))
    jobs.submit_task("second", _stepper(release, steps=3))
    assert jobs.snapshot("second").status == "queued"
    jobs.cancel("second")
    release.set()
    assert jobs.wait("first", timeout=10).status == "done" and jobs.result("first") == "finished"
    assert jobs.wait("second", timeout=10).status == "cancelled"
    assert jobs.submit_task("first", _stepper(release)) == "first" and jobs.snapshot("first").status == "done"


def test_unexpected_errors_become_one_line(setup):
    _, jobs, _ = setup

    def boom(progress, cancel):
        raise RuntimeError("disk on fire\nTraceback details")

    jobs.submit_task("boom", boom)
    snap = jobs.wait("boom", timeout=10)
    assert snap.status == "failed" and snap.error == "RuntimeError: disk on fire"
    assert one_line_error(ValueError("x" * 500)).endswith("…")
    assert one_line_error(KeyError()) == "Unexpected KeyError."


def test_same_job_submitted_at_once_from_many_sessions_runs_once(setup):
    """Check and insert happen under one lock hold: sessions racing on one job id start one run."""
    import sys

    _, jobs, _ = setup
    calls = []

    def task(progress, cancel):
        calls.append(1)
        return "map"

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over often, so a gap between check and insert would be hit
    try:
        for round_ in range(20):
            gate = threading.Barrier(8)

            def submit():
                gate.wait()
                jobs.submit_task(f"map:{round_}", task)

            sessions = [threading.Thread(target=submit) for _ in range(8)]
            for t in sessions:
                t.start()
            for t in sessions:
                t.join()
            assert jobs.wait(f"map:{round_}", timeout=10).status == "done"
    finally:
        sys.setswitchinterval(interval)
    assert len(calls) == 20


def test_finished_task_results_are_bounded(setup, monkeypatch):
    import dataval_core.jobs as jobs_module

    _, jobs, _ = setup
    monkeypatch.setattr(jobs_module, "MAX_FINISHED_JOBS", 3)
    for i in range(6):
        jobs.submit_task(f"t{i}", lambda progress, cancel, i=i: i)
        assert jobs.wait(f"t{i}", timeout=10).status == "done"
    assert [jobs.snapshot(f"t{i}") is None for i in range(6)] == [True, True, True, False, False, False]
    assert jobs.result("t5") == 5 and jobs.result("t0") is None


def test_run_states_are_one_vocabulary(setup):
    from dataval_core.progress import RunState

    ws, jobs, record = setup
    run_id = jobs.submit_run(record.key, ws.load_dataset(record.key), "random")
    snap = jobs.wait(run_id, timeout=60)
    assert snap.status is RunState.DONE and snap.finished
    assert ws.run_record(run_id).status == RunState.DONE
