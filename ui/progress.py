"""Live progress of background runs: a polling fragment with bars, ETA and cancel buttons."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import streamlit as st

from dataval_core.progress import ACTIVE_STATES, RunState
from dataval_core.workspace import DatasetRecord, RunRecord, WorkspaceError

from . import actions, state

POLL_S = 1.0


@contextmanager
def _workspace_fault_as_one_line() -> Iterator[None]:
    """A polling fragment reruns on its own, outside the page's guard: a workspace fault there (a disk that
    filled up mid-run) is one line in place of the bars, and the next poll tries again."""
    try:
        yield
    except WorkspaceError as exc:
        st.error(f"Progress cannot be read from the workspace right now. {exc}", icon=":material/error:")


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
        left = f"about {_seconds(snap.eta)} left" if snap.eta is not None else "estimating the time left"
        text = (f"**{run.label}** — {snap.fraction:.0%} · {snap.stage}{step} · elapsed {_seconds(snap.elapsed)} · "
                f"{left}")
    c1.progress(snap.fraction, text=text)
    c2.button("Cancel", key=f"cancel_{run.run_id}", on_click=actions.cancel_run, args=(run.run_id,),
              icon=":material/stop_circle:")


def _demo_done(on_finish_page: str | None) -> None:
    """Go to ``on_finish_page`` once the demo's run is done (however early it finished); forget a failed one."""
    demo = st.session_state.get("demo_run")
    if not demo:
        return
    try:
        status = state.workspace().run_record(demo).status
    except KeyError:
        status = RunState.FAILED
    if status in ACTIVE_STATES:
        return
    st.session_state.pop("demo_run", None)
    if status == RunState.DONE and on_finish_page:
        st.switch_page(on_finish_page)


def runs_monitor(record: DatasetRecord, on_finish_page: str | None = None) -> None:
    """Progress bars for the dataset's queued and running runs, refreshed every second.

    Polling goes on until every run seen active (and the demo's run) is observed
    finished, even when it finished before the page was drawn; then the whole page
    reruns (to show the results), or with ``on_finish_page`` and a demo run pending,
    it switches to that page.
    """
    try:
        _demo_done(on_finish_page)
        watching = bool(_active(record)) or bool(st.session_state.get("demo_run"))
    except WorkspaceError:
        watching = True  # the fragment says what is wrong in one line, and its next polls try again

    @st.fragment(run_every=POLL_S if watching else None)
    def monitor() -> None:
        with _workspace_fault_as_one_line():
            now = _active(record)
            for run in now:
                _bar(run)
            if not now:
                st.caption("Nothing running.")
            _demo_done(on_finish_page)
            if watching and not now:
                st.rerun(scope="app")

    monitor()


def runs_table(record: DatasetRecord) -> None:
    """All runs of the dataset with status, honest timings and parameters; errors shown in one line.

    ``submit→done`` is the wall time from the click to the saved values (waiting in the
    queue and loading included); ``embedding`` (features, reading images included) and
    ``method`` are the run's own stages.
    """
    runs = state.workspace().list_runs(record.key)
    if not runs:
        st.caption("No runs yet.")
        return
    # the run's label names its method and embedding
    frame = pd.DataFrame([{"run": r.label, "status": r.status_text, **run_seconds(r),
                           "params": ", ".join(f"{k}={v}" for k, v in r.params.items()),
                           "seed": r.seed, "message": r.error or ""} for r in reversed(runs)])
    if not frame["message"].any():
        frame = frame.drop(columns="message")  # an empty column only for failed runs' errors
    number = st.column_config.NumberColumn
    st.dataframe(frame, hide_index=True, column_config={
        "submit→done s": number(format="%.1f", help="From the click on Run to the saved values: queue, loading, "
                                                     "embedding and method."),
        "queue + loading s": number(format="%.1f", help="Waiting for a free worker, loading the libraries and "
                                                         "saving the values."),
        "embedding s": number(format="%.1f", help="Building the features (reading the images included)."),
        "method s": number(format="%.1f", help="The valuation method itself.")})
    for r in runs[::-1]:
        if r.status == RunState.FAILED:
            st.error(f"{r.label} failed: {r.error}")
            break


def run_seconds(run: RunRecord) -> dict[str, float | None]:
    """Wall seconds from submit to done, split into queue + loading, embedding and method (None where unknown)."""
    wall = run.finished - run.created if run.finished is not None else None
    embedding, method = run.timings.get("embedding"), run.timings.get("method", run.timings.get("total"))
    rest = None
    if wall is not None and embedding is not None and method is not None:
        rest = max(0.0, wall - embedding - method)
    return {"submit→done s": wall, "queue + loading s": rest, "embedding s": embedding, "method s": method}


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
        if now is None or now.finished:
            st.rerun(scope="app")
        step = f" {now.done}/{now.total}" if now.total > 1 else ""
        st.progress(now.fraction, text=f"{label} — {now.stage}{step} · elapsed {_seconds(now.elapsed)}")

    poll()
    return None
