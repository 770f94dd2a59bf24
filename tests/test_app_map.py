"""The Map page in AppTest: a PCA map drawn from a finished run, with its caption."""
from __future__ import annotations

from test_app import (  # noqa: F401  (fixtures below come from there too)
    errors,
    new_app,
    seeded_session,
    workspace_dir,
)


def test_pca_map_draws_with_a_measured_caption(workspace_dir, tmp_path):  # noqa: F811
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.switch_page("pages/4_map.py").run()
    assert not errors(at)
    assert not any("about a minute" in c.value for c in at.caption)
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
