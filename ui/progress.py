"""Live progress of background runs: a polling fragment with bars, ETA and cancel buttons."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dataval_core.progress import ACTIVE_STATES, RunState
from dataval_core.workspace import DatasetRecord, RunRecord

from . import actions, state

POLL_S = 1.0


def _seconds(s: float | None) -> str:
    if s is None:
        return "…"
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def _active(record: DatasetRecord) -> list[RunRecord]:
    return [r for r in state.workspace().list_runs(record.key) if r.status in ACTIVE_STATES]


def _bar(run: RunRecord) -> None:
    snap = state.jobs().snapshot(run.run_id)
    c1, c2 = st.columns([6, 1], vertical_alignment="bottom")
    if snap is None:
        c1.progress(0.0, text=f"**{run.label}** — running in another server process")
        return
    if snap.status == RunState.QUEUED:
        text = f"**{run.label}** — queued, waiting for a free worker"
    else:
        step = f" {snap.done}/{snap.total}" if snap.total > 1 else ""
        text = (f"**{run.label}** — {snap.stage}{step} · elapsed {_seconds(snap.elapsed)}"
                f" · ETA {_seconds(snap.eta)}")
    c1.progress(snap.fraction, text=text)
    c2.button("Cancel", key=f"cancel_{run.run_id}", on_click=actions.cancel_run, args=(run.run_id,),
              icon=":material/stop_circle:")


def runs_monitor(record: DatasetRecord, on_finish_page: str | None = None) -> None:
    """Progress bars for the dataset's queued and running runs, refreshed every second.

    When the last active run ends, the whole page reruns (to show the results); with
    ``on_finish_page`` and a demo run pending, it switches to that page instead.
    """
    active = _active(record)

    @st.fragment(run_every=POLL_S if active else None)
    def monitor() -> None:
        now = _active(record)
        for run in now:
            _bar(run)
        if not now:
            st.caption("Nothing running.")
        if active and not now:
            demo = st.session_state.pop("demo_run", None)
            if on_finish_page and demo and state.workspace().run_record(demo).status == RunState.DONE:
                st.switch_page(on_finish_page)
            st.rerun(scope="app")

    monitor()


def runs_table(record: DatasetRecord) -> None:
    """All runs of the dataset with status, timings and parameters; errors shown in one line."""
    runs = state.workspace().list_runs(record.key)
    if not runs:
        st.caption("No runs yet.")
        return
    frame = pd.DataFrame([{"run": r.label, "method": r.method, "embedding": r.embedding or "default",
                           "status": r.status, "seconds": r.timings.get("total"),
                           "params": ", ".join(f"{k}={v}" for k, v in r.params.items()),
                           "seed": r.seed, "message": r.error or ""} for r in reversed(runs)])
    if not frame["message"].any():
        frame = frame.drop(columns="message")  # an empty column only for failed runs' errors
    st.dataframe(frame, hide_index=True, column_config={"seconds": st.column_config.NumberColumn(format="%.1f")})
    for r in runs[::-1]:
        if r.status == RunState.FAILED:
            st.error(f"{r.label} failed: {r.error}")
            break


def task_result(job_id: str, label: str) -> Any:
    """Progress of a background task (polled every second) and its result once it is done.

    Returns None while the task is queued or running, after drawing its progress bar;
    a failure is shown as one line.
    """
    snap = state.jobs().snapshot(job_id)
    if snap is None:
        return None
    if snap.status == RunState.DONE:
        return state.jobs().result(job_id)
    if snap.status == RunState.FAILED:
        st.error(f"{label} failed: {snap.error}")
        return None
    if snap.status == RunState.CANCELLED:
        st.caption(f"{label} was cancelled.")
        return None

    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        now = state.jobs().snapshot(job_id)
        if now.finished:
            st.rerun(scope="app")
        step = f" {now.done}/{now.total}" if now.total > 1 else ""
        st.progress(now.fraction, text=f"{label} — {now.stage}{step} · elapsed {_seconds(now.elapsed)}")

    poll()
    return None
