"""AppTest: the Valuate page draws one bar for the whole run, with its overall percent and a steady ETA."""
from __future__ import annotations

import threading

from dataval_core.progress import Reporter, RunState
from tests.test_app import errors, new_app, seeded_session, workspace_dir  # noqa: F401  (fixture)


def _progress_texts(at) -> list[tuple[float, str]]:
    out = []
    for el in at.get("progress"):
        proto = el.proto
        out.append((proto.value / 100.0, proto.text))
    return out


def test_valuate_shows_the_overall_fraction_across_stages(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)
    from ui import state

    ws = state._workspace(str(workspace_dir.resolve()))
    jobs = state._jobs(str(workspace_dir.resolve()))
    run_id = ws.create_run(key, "lava", embedding="raw", params={}, seed=0)
    reached, release = threading.Event(), threading.Event()

    def two_stages(progress, cancel):
        reporter = Reporter(progress, cancel)
        features = reporter.within(0.0, 0.4)
        features.update("embedding (raw)", 1, 1)
        method = reporter.within(0.4, 1.0)
        for i in range(1, 11):
            method.update("OT solve", i, 20)
        reached.set()
        release.wait(30)

    jobs.submit_task(run_id, two_stages)
    try:
        assert reached.wait(30)
        at.switch_page("app_pages/2_valuate.py").run()
        assert not errors(at)
        bars = [(f, t) for f, t in _progress_texts(at) if "lava" in t]
        assert len(bars) == 1
        fraction, text = bars[0]
        # the method's second stage, half done: the bar shows the whole run's share, not the stage's 0.5
        assert 0.4 < fraction < 0.9 and f"{jobs.snapshot(run_id).fraction:.0%}" in text
        assert "OT solve 10/20" in text and ("left" in text)
    finally:
        release.set()
        jobs.wait(run_id, timeout=30)
        ws.set_run_status(run_id, RunState.CANCELLED)
