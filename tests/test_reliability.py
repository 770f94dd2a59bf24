"""Faults, for real: a full disk (a 2 MB tmpfs), a read-only or missing workspace, kill -9 mid-run, and 16
sessions deciding at once. Every decision is counted: none lost, none shown as saved that was not."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dataval_core.cli import main as cli_main
from dataval_core.io import load_frame
from dataval_core.jobs import JobManager
from dataval_core.targets import split_target
from dataval_core.workspace import Workspace, WorkspaceError, session_tag
from ui.sessions import AppWorkspace

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 60


def small_table(n: int = 40, seed: int = 0):
    """A tiny two-class table dataset with a 25% target set."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "label": ["p", "q"] * (n // 2)})
    return split_target(load_frame(frame, "label", name=f"t{seed}"), 0.25)


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only); unmounted afterwards even when the test fails."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up, then give back ``leave`` bytes; returns the filler file."""
    path = disk / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    os.close(fd)
    return path


def test_full_disk_never_fakes_or_loses_a_decision(small_disk):
    ws = AppWorkspace(small_disk / "ws")
    sid = ws.mint_session()
    record = ws.add_dataset(sid, small_table())
    filler = fill(small_disk, leave=100_000)
    acked, refused = 0, 0
    for i in range(400):
        rows = [{"id": str(j), "action": "drop", "old_label": "p" * 200, "rank": i} for j in range(20)]
        try:
            acked += ws.record_decisions(record.key, sid, rows)
        except WorkspaceError as exc:
            assert exc.reason == "full" and "disk is full" in str(exc) and str(small_disk) not in str(exc)
            refused += 1
            if refused >= 5:
                break
    assert acked > 0 and refused == 5, "the disk never filled up"
    filler.unlink()
    after = Workspace(small_disk / "ws").decision_log(record.key)
    assert len(after) == acked  # every acknowledged write is there, no refused one is
    ws.record_decisions(record.key, sid, [{"id": "0", "action": "keep"}])  # and it works again with space
    assert len(ws.decision_log(record.key)) == acked + 1


def test_full_disk_run_ends_failed_with_the_reason_not_running(small_disk):
    ws = AppWorkspace(small_disk / "ws")
    ds = small_table(20_000)  # values of 15,000 rows: more than the room left, which fits the run's record
    record = ws.add_dataset(ws.mint_session(), ds)
    jobs = JobManager(ws, max_workers=1)
    try:
        filler = fill(small_disk, leave=60_000)
        run_id = jobs.submit_run(record.key, ds, "random")
        snap = jobs.wait(run_id, timeout=60)
    finally:
        jobs.shutdown()
    assert snap.status == "failed" and "disk is full" in snap.error
    run = ws.run_record(run_id)
    assert run.status == "failed" and "could not be saved" in run.error and "disk is full" in run.error
    assert not list((small_disk / "ws" / "runs").glob("*.part"))
    filler.unlink()
    ws.set_current_dataset("x", None)  # any write: the refused state reaches the database
    assert Workspace(small_disk / "ws").run_record(run_id).status == "failed"


def test_read_only_workspace_is_one_message_and_health_says_unwritable(small_disk, monkeypatch, capsys):
    root = small_disk / "ws"
    ws = AppWorkspace(root)
    sid = ws.mint_session()
    record = ws.add_dataset(sid, small_table())
    assert _mount("-o", "remount,ro", str(small_disk)).returncode == 0
    with pytest.raises(WorkspaceError) as err:
        ws.record_decisions(record.key, sid, [{"id": "0", "action": "drop"}])
    assert err.value.reason == "read_only"
    assert ws.decision_log(record.key).empty

    assert cli_main(["health", "--workspace", str(root)]) == 1
    assert "unwritable" in capsys.readouterr().err

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # a new visitor's Home
    assert not at.exception
    assert len(at.error) == 1 and "read-only" in at.error[0].value and str(root) not in at.error[0].value


def test_missing_workspace_is_one_message_on_every_page(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(root))
    AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # the server has opened its workspace
    shutil.rmtree(root)
    for page in ("app_pages/0_home.py", "app_pages/1_data.py", "app_pages/3_review.py"):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        at.switch_page(page).run()
        assert not at.exception, page
        assert len(at.error) == 1 and "missing" in at.error[0].value and str(tmp_path) not in at.error[0].value
    assert cli_main(["health", "--workspace", str(root)]) == 1 and not root.exists()  # reported, not created


_CHILD = """
import sys
import numpy as np, pandas as pd
from dataval_core.io import load_frame
from dataval_core.jobs import JobManager
from dataval_core.targets import split_target
from ui.sessions import AppWorkspace

ws = AppWorkspace(sys.argv[1])
sid = ws.mint_session()
rng = np.random.default_rng(0)
frame = pd.DataFrame(rng.normal(size=(2000, 8)), columns=[f"x{i}" for i in range(8)])
frame["label"] = np.where(frame["x0"] > 0, "p", "q")
ds = split_target(load_frame(frame, "label"), 0.2)
record = ws.add_dataset(sid, ds)
run_id = JobManager(ws).submit_run(record.key, ds, "dvemb", params={"epochs": 400})
print("ids", sid, record.key, run_id, flush=True)
ids = ds.ids[~ds.is_target]
i = 0
while True:
    i += ws.record_decisions(record.key, sid, [{"id": ids[i % len(ids)], "action": "drop"}])
    print("ack", i, flush=True)
"""


def test_kill_9_mid_run_loses_no_decision_and_shows_the_run_interrupted(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(root)], stdout=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)
    try:
        sid, key, run_id = child.stdout.readline().split()[1:]
        ws = Workspace(root)
        acked, deadline = 0, time.monotonic() + 120
        while not (acked >= 50 and ws.run_record(run_id).status == "running"):
            line = child.stdout.readline()
            assert line and time.monotonic() < deadline, "the child never got its run going"
            acked = int(line.split()[1])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        for line in child.stdout:  # acknowledgements still in the pipe
            acked = int(line.split()[1])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    restarted = Workspace(root)
    assert acked <= len(restarted.decision_log(key)) <= acked + 1  # 0 lost; at most the one in flight
    assert restarted.run_record(run_id).status == "interrupted"

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sid"] = sid
    at.run().switch_page("app_pages/2_valuate.py").run()
    assert not at.exception and at.session_state["dataset_key"] == key
    runs = at.dataframe[0].value
    assert runs["status"].tolist() == ["interrupted"]


def test_16_sessions_bulk_deciding_from_threads_lose_nothing(tmp_path):
    ws = AppWorkspace(tmp_path / "ws")
    owner = ws.mint_session()
    shared = ws.add_dataset(owner, small_table(200))
    sessions = [owner] + [ws.mint_session() for _ in range(15)]
    records = {}
    for i, sid in enumerate(sessions):
        if i < 8:  # half work on one shared dataset, half on their own
            if sid != owner:
                ws.open_shared(sid, ws.create_share_key(owner, shared.key, write=True))
            records[sid] = shared.key
        else:
            records[sid] = ws.add_dataset(sid, small_table(200, seed=i)).key
    start = threading.Barrier(len(sessions))
    acked: dict[str, int] = {}
    failures: list[BaseException] = []

    def work(sid: str) -> None:
        try:
            start.wait()
            n = 0
            for step in range(20):
                rows = [{"id": str(j), "action": ("drop", "keep")[step % 2]} for j in range(step, step + 25)]
                n += Workspace(ws.root).record_decisions(records[sid], sid, rows)
            acked[sid] = n
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(sid,)) for sid in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
    logs = pd.concat([ws.decision_log(k) for k in set(records.values())])
    assert len(logs) == sum(acked.values()) == 16 * 20 * 25
    assert logs["session"].value_counts().to_dict() == {session_tag(s): 500 for s in sessions}


def _bulk_app():
    """A page with one bulk action (drop the next 25 valued samples) through the app's own layers."""
    import streamlit as st

    from dataval_core.decisions import new_event_key
    from ui import actions, auth, state

    auth.start_page()
    cur = state.current()
    if cur is not None and st.button("Drop the next 25", key="bulk"):
        record, ds = cur
        ids = ds.ids[~ds.is_target]
        done = st.session_state.get("done", 0)
        actions.decide(record, [{"id": ids[(done + j) % len(ids)], "action": "drop"} for j in range(25)],
                       event=new_event_key())
        st.session_state["done"] = done + 25


def test_16_app_sessions_bulk_deciding_beside_16_writer_threads_lose_nothing(tmp_path, monkeypatch):
    """16 AppTest sessions click bulk actions in turn (AppTest runs one script at a time per process) while 16
    threads, one more tab per session, write bulk decisions to the same datasets at full speed."""
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(tmp_path / "ws"))
    ws = Workspace(tmp_path / "ws")
    apps = [AppTest.from_function(_bulk_app, default_timeout=TIMEOUT).run() for _ in range(16)]
    keys = []
    for i, at in enumerate(apps):
        keys.append(ws.add_dataset(at.session_state["sid"], small_table(100, seed=i)).key)
        at.session_state["dataset_key"] = keys[-1]
        at.run()
    stop = threading.Event()
    written = [0] * len(apps)
    failures: list[BaseException] = []

    def other_tab(i: int) -> None:
        try:
            sid = apps[i].session_state["sid"]
            while not stop.is_set():
                written[i] += Workspace(ws.root).record_decisions(
                    keys[i], sid, [{"id": str(j), "action": "keep"} for j in range(10)])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=other_tab, args=(i,)) for i in range(len(apps))]
    for t in threads:
        t.start()
    try:
        for _ in range(6):
            for at in apps:
                at.button(key="bulk").click().run()
                assert not at.exception and not at.error
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not failures, failures[0]
    clicked = sum(at.session_state["done"] for at in apps)
    saved = sum(len(ws.decision_log(k)) for k in keys)
    assert clicked == 16 * 6 * 25 and saved == clicked + sum(written) and min(written) > 0


def test_a_not_converged_run_says_so_in_the_app_runs_table(tmp_path, monkeypatch):
    from dataval_core.result import ValuationResult

    monkeypatch.setenv("DATAVAL_WORKSPACE", str(tmp_path / "ws"))
    ws = AppWorkspace(tmp_path / "ws")
    sid = ws.mint_session()
    ds = small_table()
    record = ws.add_dataset(sid, ds)
    run_id = ws.create_run(record.key, "lava", embedding=None, params={}, seed=0)
    valued = ds.ids[~ds.is_target]
    ws.save_result(run_id, ValuationResult(ids=valued, values=np.zeros(len(valued)), method="lava",
                                           status="not_converged"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sid"] = sid
    at.run().switch_page("app_pages/2_valuate.py").run()
    assert not at.exception
    assert at.dataframe[0].value["status"].tolist() == ["done · not converged"]


def test_a_full_disk_is_announced_on_every_page_of_a_running_session(small_disk, monkeypatch):
    root = small_disk / "ws"
    ws = AppWorkspace(root)
    sid = ws.mint_session()
    ws.add_dataset(sid, small_table())
    fill(small_disk, leave=40_000)  # room to read (SQLite's WAL index), none for the 64 kB health probe
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sid"] = sid
    at.run()
    for page in ("app_pages/0_home.py", "app_pages/3_review.py", "app_pages/6_export.py"):
        at.switch_page(page).run()
        assert not at.exception, page
        assert any("disk is full" in w.value and str(root) not in w.value for w in at.warning), \
            (page, [w.value for w in at.warning], [e.value for e in at.error])
