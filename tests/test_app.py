"""AppTest: a smoke test per page, the main flow, reload restore, and session isolation."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from dataval_core.export import export_dataset
from dataval_core.io import load_dataset
from dataval_core.registry import get_spec, list_valuators
from dataval_core.targets import split_target
from ui.sessions import AppWorkspace, new_session_id

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["app_pages/0_home.py", "app_pages/1_data.py", "app_pages/2_valuate.py", "app_pages/3_review.py",
         "app_pages/4_map.py", "app_pages/5_compare.py", "app_pages/6_export.py"]
TIMEOUT = 60


def image_zip(per_class: int = 8, classes=("a", "b", "c")) -> bytes:
    """A tiny class-folder zip of 8x8 PNGs whose brightness depends on the class."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for c, name in enumerate(classes):
            for i in range(per_class):
                arr = np.clip(rng.normal(40 + 80 * c, 20, (8, 8)), 0, 255).astype(np.uint8)
                png = io.BytesIO()
                Image.fromarray(arr, "L").save(png, format="PNG")
                zf.writestr(f"{name}/{i:03d}.png", png.getvalue())
    return buf.getvalue()


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch):
    path = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(path))
    return path


def new_app(sid: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if sid:
        at.query_params["sid"] = sid
    return at.run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error] + [str(e.value) for e in at.exception]


def session_with_run(workspace_dir: Path, ds, method: str = "knn_shapley",
                     timeout: float = 60) -> tuple[str, str, str]:
    """A new session holding ``ds`` and one finished ``method`` run (no UI involved): (sid, dataset key, run id)."""
    from dataval_core.jobs import JobManager

    ws = AppWorkspace(workspace_dir)
    sid = new_session_id()
    record = ws.add_dataset(sid, ds)
    jobs = JobManager(ws, max_workers=1)
    run_id = jobs.submit_run(record.key, ds, method)
    assert jobs.wait(run_id, timeout=timeout).status == "done"
    jobs.shutdown()
    return sid, record.key, run_id


def seeded_session(workspace_dir: Path, tmp_path: Path) -> tuple[str, str, str]:
    """A session with a small image dataset and one finished knn_shapley run (no UI involved)."""
    zpath = tmp_path / "tiny.zip"
    zpath.write_bytes(image_zip())
    return session_with_run(workspace_dir, split_target(load_dataset(zpath, workdir=tmp_path / "tiny"), 0.25))


@pytest.mark.parametrize("page", PAGES)
def test_page_without_dataset(workspace_dir, page):
    at = new_app()
    at.switch_page(page).run()
    assert not at.exception
    assert not at.error
    if page not in PAGES[:2]:
        assert "No dataset chosen yet" in at.info[0].value


@pytest.mark.parametrize("page", PAGES)
def test_page_with_dataset_and_run(workspace_dir, tmp_path, page):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)  # a reload: the session id in the URL restores the dataset
    assert at.session_state["dataset_key"] == key
    at.switch_page(page).run()
    assert not errors(at)
    if page == "app_pages/2_valuate.py":  # what each method is comes from its class
        (table,) = [t.value for t in at.table if "what a low value means" in t.value.columns]
        assert table.set_index("method")["what a low value means"].to_dict() == {
            s.name: s.load().low_value for s in list_valuators()}
    if page == "app_pages/3_review.py":
        assert any(b.key.startswith("rv_drop_") for b in at.button)
        assert get_spec("knn_shapley").load().low_value in at.selectbox(key="rv_run").help
    if page == "app_pages/6_export.py":
        assert len(at.download_button) == 6  # cleaned, values, decisions, annotations, report, zip


def test_main_flow_upload_run_review_export(workspace_dir):
    at = new_app()
    at.switch_page("app_pages/1_data.py").run()
    at.segmented_control(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="data_upload").upload("tiny.zip", image_zip(), "application/zip").run()
    assert not errors(at)
    assert at.radio(key="data_target_kind").value == "None: value every row"  # the default: no reference
    at.button(key="data_use").click().run()
    assert not errors(at)
    key = at.session_state["dataset_key"]
    assert key and any("tiny is now the current dataset" in s.value for s in at.success)

    at.switch_page("app_pages/2_valuate.py").run()
    mode = "No trusted reference: all 24 images are valued in 5 rotating folds."
    assert any(mode in i.value for i in at.info) and any(mode in c.value for c in at.sidebar.caption)
    at.multiselect(key="val_methods").set_value(["knn_shapley", "random"]).run()
    at.button(key="val_run").click().run()
    assert not errors(at)
    from ui import state

    ws = state._workspace(str(workspace_dir.resolve()))
    jobs = state._jobs(str(workspace_dir.resolve()))
    runs = ws.list_runs(key)
    assert len(runs) == 2
    for r in runs:
        assert jobs.wait(r.run_id, timeout=60).status == "done"
    ds = ws.load_dataset(key)
    carved = set(split_target(ds, 0.2, seed=0).ids[split_target(ds, 0.2, seed=0).is_target])  # the old default

    at.switch_page("app_pages/3_review.py").run()
    assert not errors(at)
    on_cards = [b.key.removeprefix("rv_drop_") for b in at.button if b.key.startswith("rv_drop_")]
    assert len(on_cards) == 24 and carved <= set(on_cards)  # every row is reviewable, the old 20 % included
    drop = next(b for b in at.button if b.key.startswith("rv_drop_") and b.key.removeprefix("rv_drop_") in carved)
    first_id = drop.key.removeprefix("rv_drop_")
    drop.click().run()
    assert not errors(at)
    decisions = ws.decisions(key)
    assert decisions["id"].tolist() == [first_id] and decisions["action"].tolist() == ["drop"]

    at.switch_page("app_pages/6_export.py").run()
    assert not errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Dropped"] == "1" and metrics["Rows out"] == "23"
    out = export_dataset(ws.load_dataset(key), ws.decision_log(key), workspace_dir / "out.zip")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert first_id not in names and len(names) == 23


def test_demo_button_starts_knn_shapley_on_noisy_mnist(workspace_dir):
    at = new_app()
    at.button(key="demo").click().run(timeout=120)
    assert not errors(at)
    from ui import state

    ws = state._workspace(str(workspace_dir.resolve()))
    record = ws.dataset_record(at.session_state["dataset_key"])
    ds = ws.load_dataset(record.key)
    assert record.name == "mnist" and ds.meta["label_noise"]["rows"] == 400
    (run,) = ws.list_runs(record.key)
    assert run.method == "knn_shapley"
    assert state._jobs(str(workspace_dir.resolve())).wait(run.run_id, timeout=300).status == "done"
    # the demo's promise: Review opens on the lowest-valued digits, mostly the injected flips (base rate 10%)
    at.switch_page("app_pages/3_review.py").run()
    assert not errors(at)
    cards = [c.value for c in at.caption if "· value `" in c.value]
    assert len(cards) == 24
    flipped = sum("injected flip" in c for c in cards)
    assert flipped >= 18, f"only {flipped} of 24 cards on the demo's first Review page are injected flips"


def test_two_sessions_never_see_each_other(workspace_dir, tmp_path):
    sid_a, key_a, run_a = seeded_session(workspace_dir, tmp_path)
    a = new_app(sid_a)
    b = new_app()
    assert a.session_state["dataset_key"] == key_a
    assert b.session_state["dataset_key"] is None
    b.switch_page("app_pages/1_data.py").run()
    b.segmented_control(key="data_source").set_value("Your datasets").run()
    assert not any(key_a in m.value for m in b.markdown)
    b.session_state["dataset_key"] = key_a  # even a forged key shows nothing without opening it on purpose
    b.switch_page("app_pages/3_review.py").run()
    assert "No dataset chosen yet" in b.info[0].value

    a.switch_page("app_pages/3_review.py").run()
    next(b for b in a.button if b.key.startswith("rv_drop_")).click().run()
    from ui import state

    ws = state._workspace(str(workspace_dir.resolve()))
    assert len(ws.decisions(key_a)) == 1
    b.switch_page("app_pages/1_data.py").run()
    b.segmented_control(key="data_source").set_value("Your datasets").run()
    b.text_input(key="data_shared").input(key_a).run()  # the record's key is no share key
    b.button(key="data_open_shared").click().run()
    assert "share key is not valid" in b.error[0].value and not ws.can_access(b.session_state["sid"], key_a)
    b.text_input(key="data_shared").input(ws.create_share_key(sid_a, key_a)).run()
    b.button(key="data_open_shared").click().run()
    assert b.session_state["dataset_key"] == key_a  # opened on purpose: now shared


def _rerun_until(at: AppTest, done, timeout: float = TIMEOUT) -> AppTest:
    """Rerun the script until ``done(at)`` holds (the background job finished and the page drew it)."""
    import time

    end = time.monotonic() + timeout
    while not done(at.run()):
        assert not errors(at), errors(at)
        assert time.monotonic() < end, "the background task did not finish"
    return at


@pytest.mark.parametrize("page, button", [("app_pages/4_map.py", "map_draw"),
                                          ("app_pages/5_compare.py", "cmp_removal")])
def test_background_tasks_draw_their_figures(workspace_dir, tmp_path, page, button):
    """The map and point-removal jobs (dataval_core.tasks) run off the script thread and their figure appears."""
    sid, _, _ = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.switch_page(page).run()
    if page == "app_pages/4_map.py":
        at.segmented_control(key="map_layout").set_value("PCA (instant)").run()
    assert not at.get("plotly_chart")  # the seeded dataset has no injected noise: no other chart on these pages
    at.button(key=button).click().run()
    _rerun_until(at, lambda a: len(a.get("plotly_chart")) > 0)
    assert not errors(at)


def test_compare_warns_that_curves_on_learned_features_are_optimistic(workspace_dir, tmp_path):
    from dataval_core.jobs import JobManager

    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    ws = AppWorkspace(workspace_dir)
    jobs = JobManager(ws, max_workers=1)
    run_id = jobs.submit_run(key, ws.load_dataset(key), "knn_shapley", embedding="target_trained")
    assert jobs.wait(run_id, timeout=60).status == "done"
    jobs.shutdown()
    at = new_app(sid)
    at.switch_page("app_pages/5_compare.py").run()
    runs = at.multiselect(key="cmp_runs")
    runs.set_value(runs.options).run()  # both knn_shapley runs (preselected: the newest of each method)
    warned = {}
    for embedding in ("raw", "target_trained"):
        at.segmented_control(key="cmp_removal_embedding").set_value(embedding).run()
        warned[embedding] = any("optimistic" in w.value for w in at.warning)
    assert warned == {"raw": False, "target_trained": True}
