"""The Map page in AppTest: a PCA map drawn from a finished run, with its caption."""
from __future__ import annotations

from test_app import (  # noqa: F401  (fixtures below come from there too)
    errors,
    new_app,
    seeded_session,
    workspace_dir,
)


def test_pca_map_draws_with_a_measured_caption(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.switch_page("app_pages/4_map.py").run()
    assert not errors(at)
    assert not any("about a minute longer" in c.value for c in at.caption)  # the old, unmeasured promise
    assert any("measured on 2 cores" in c.value for c in at.caption)
    at.segmented_control(key="map_layout").set_value("PCA (instant)").run()
    at.button(key="map_draw").click().run()
    from ui import state

    jobs = state._jobs(str(workspace_dir.resolve()))
    record = state._workspace(str(workspace_dir.resolve())).dataset_record(key)
    run = state._workspace(str(workspace_dir.resolve())).list_runs(key)[0]
    from ui import mapview

    assert jobs.wait(mapview.job_id(record, run, "pca"), timeout=60).status == "done"
    at.run()
    assert not errors(at)
    assert any("PCA" in c.value and "points" in c.value for c in at.caption)


def test_pca_preview_shows_while_umap_runs_then_umap_replaces_it(workspace_dir, tmp_path):
    import threading

    from ui import mapview, state

    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    ws = state._workspace(str(workspace_dir.resolve()))
    jobs = state._jobs(str(workspace_dir.resolve()))
    record, run = ws.dataset_record(key), ws.list_runs(key)[0]
    ds = ws.load_dataset(key)
    preview = jobs.submit_task(mapview.job_id(record, run, "pca"), mapview.map_task(ds, run, "pca"))
    assert jobs.wait(preview, timeout=60).status == "done"
    release = threading.Event()
    pca_result = jobs.result(preview)

    def slow_umap(progress, cancel):  # stands in for a long UMAP fit: the page must not wait for it
        release.wait(60)
        return pca_result

    umap_job = jobs.submit_task(mapview.job_id(record, run, "auto"), slow_umap)
    try:
        at = new_app(sid)
        at.switch_page("app_pages/4_map.py").run()
        assert not errors(at)
        assert any(c.value == "Showing PCA until UMAP is done." for c in at.caption)
        assert at.get("plotly_chart")
        assert "percentile: " in at.get("plotly_chart")[0].proto.spec  # hover: percentiles compare across runs
    finally:
        release.set()
    assert jobs.wait(umap_job, timeout=60).status == "done"
    at.run()
    assert not errors(at)
    assert not any(c.value == "Showing PCA until UMAP is done." for c in at.caption)


def test_map_and_review_follow_the_same_selected_run(workspace_dir, tmp_path):
    """One run choice for both pages: a run picked on Map is the one Review opens ("Open in Review" from a
    lava map shows lava), and a run picked on Review is the one Map draws."""
    from dataval_core.jobs import JobManager
    from ui import state

    sid, key, knn = seeded_session(workspace_dir, tmp_path)
    ws = state._workspace(str(workspace_dir.resolve()))
    jobs = JobManager(ws, max_workers=1)
    rnd = jobs.submit_run(key, ws.load_dataset(key), "random")
    assert jobs.wait(rnd, timeout=60).status == "done"
    jobs.shutdown()
    at = new_app(sid)
    at.switch_page("app_pages/4_map.py").run()
    assert not errors(at)
    assert at.selectbox(key="map_run").value == knn  # the same default as Review's: the best run
    at.selectbox(key="map_run").set_value(rnd).run()
    at.switch_page("app_pages/3_review.py").run()
    assert not errors(at)
    assert at.selectbox(key="rv_run").value == rnd
    at.selectbox(key="rv_run").set_value(knn).run()
    at.switch_page("app_pages/4_map.py").run()
    assert at.selectbox(key="map_run").value == knn
