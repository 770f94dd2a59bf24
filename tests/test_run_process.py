"""Valuation runs in their own process (the app's default): same values as in a thread, progress, cancel
within 2 s, one-line failures, a killed process fails its run (and a dead spare is replaced), and a lower CPU
priority than the server."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from test_jobs import _blobs_dataset, _wait_until

from dataval_core.jobs import JobManager
from dataval_core.run_process import NICENESS
from dataval_core.workspace import Workspace


@pytest.fixture
def setup(tmp_path):
    ws = Workspace(tmp_path / "ws")
    jobs = JobManager(ws, max_workers=1, runs_in_process=True)
    record = ws.add_dataset("s", _blobs_dataset(2000))
    yield ws, jobs, record
    jobs.shutdown()


def _run_children() -> list[int]:
    """Pids of this process's children that are valuation runs (other tests' spares included)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"dataval_core.run_process" in cmd:
                pids.append(int(pid))
    return pids


def test_a_run_in_its_process_gives_the_values_of_a_run_in_a_thread(setup):
    ws, jobs, record = setup
    in_thread = JobManager(ws, max_workers=1, runs_in_process=False)
    try:
        runs = [m.submit_run(record.key, ws.load_dataset(record.key), "knn_shapley", params={"k": 5}, seed=3)
                for m in (jobs, in_thread)]
        for m, run_id in zip((jobs, in_thread), runs):
            assert m.wait(run_id, timeout=120).status == "done"
    finally:
        in_thread.shutdown()
    a, b = (ws.load_result(r) for r in runs)
    np.testing.assert_array_equal(a.values, b.values)
    assert list(a.ids) == list(b.ids) and list(a.suggested_labels) == list(b.suggested_labels)
    assert ws.run_record(runs[0]).timings["total"] > 0


def test_cancel_stops_the_process_within_2_s_and_a_failure_is_one_line(setup):
    ws, jobs, record = setup
    before = set(_run_children())
    run_id = jobs.submit_run(record.key, ws.load_dataset(record.key), "dvemb", params={"epochs": 500})
    _wait_until(lambda: jobs.snapshot(run_id).done > 0 or jobs.snapshot(run_id).finished, timeout=120)
    assert jobs.snapshot(run_id).status == "running"  # computing, in its process
    spare = jobs._spare.pid  # started for the next run, the engine already imported
    (child,) = set(_run_children()) - before - {spare}
    for pid in (child, spare):  # niced, each leading its own session (where the kernel groups CPU by session)
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + NICENESS
        assert os.getsid(pid) == pid
    asked = time.monotonic()
    jobs.cancel(run_id)
    assert jobs.wait(run_id, timeout=10).status == "cancelled"
    assert time.monotonic() - asked < 2.0
    assert ws.run_record(run_id).status == "cancelled" and set(_run_children()) - before == {spare}

    failed = jobs.submit_run(record.key, ws.load_dataset(record.key), "knn_shapley", params={"k": -1})
    snap = jobs.wait(failed, timeout=120)
    assert snap.status == "failed" and "\n" not in snap.error and snap.error.startswith("The 'k' parameter")


def test_a_killed_run_process_fails_its_run_with_a_reason(setup):
    ws, jobs, record = setup
    before = set(_run_children())
    run_id = jobs.submit_run(record.key, ws.load_dataset(record.key), "dvemb", params={"epochs": 500})
    _wait_until(lambda: jobs.snapshot(run_id).done > 0, timeout=120)
    for pid in set(_run_children()) - before:  # the run's process and the spare, as the OOM killer would
        os.kill(pid, signal.SIGKILL)
    snap = jobs.wait(run_id, timeout=30)
    assert snap.status == "failed" and "ended unexpectedly" in snap.error and "-9" in snap.error
    assert ws.run_record(run_id).status == "failed"
    again = jobs.submit_run(record.key, ws.load_dataset(record.key), "knn_shapley")  # a dead spare is replaced
    assert jobs.wait(again, timeout=120).status == "done"
