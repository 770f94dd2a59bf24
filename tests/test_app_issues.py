"""AppTest: Review's data-issue views (one decision per duplicate group, in one step), the Data page's warning
about reference copies, and the Export page's option to leave out exact copies."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from dataval_core.io import load_dataset
from ui.sessions import AppWorkspace

from test_app import _rerun_until, errors, image_zip, new_app, session_with_run, workspace_dir  # noqa: F401 (workspace_dir: fixture)

#: the planted files: an exact copy of a/000.png filed under class b, a valued copy of the reference image c/000.png
CONFLICT = ("a/000.png", "b/dup.png")
REF, REF_COPY = "c/000.png", "c/refcopy.png"


def issues_session(workspace_dir: Path, tmp_path: Path) -> tuple[str, str]:
    """A session holding the tiny image set plus the planted copies, a 4-image reference, and a knn_shapley run."""

    root = tmp_path / "images"
    with zipfile.ZipFile(io.BytesIO(image_zip())) as zf:
        zf.extractall(root)
    (root / CONFLICT[1]).write_bytes((root / CONFLICT[0]).read_bytes())
    (root / REF_COPY).write_bytes((root / REF).read_bytes())
    ds = load_dataset(root)
    ds = ds.replace(is_target=[i in (REF, "a/007.png", "b/007.png", "c/007.png") for i in ds.ids])
    sid, key, _ = session_with_run(workspace_dir, ds)
    return sid, key


def show(at, choice: str, ready: str):
    """Pick ``choice`` in Review's Show box and rerun until the issues job drew a button whose key starts ``ready``."""
    at.switch_page("app_pages/3_review.py").run()
    at.selectbox(key="rv_status").set_value(choice).run()
    return _rerun_until(at, lambda a: any(b.key.startswith(ready) for b in a.button))


def workspace(workspace_dir: Path) -> AppWorkspace:
    from ui import state

    return state._workspace(str(workspace_dir.resolve()))


def test_a_conflicting_group_is_decided_at_once_in_one_step(workspace_dir, tmp_path):
    sid, key = issues_session(workspace_dir, tmp_path)
    at = show(new_app(sid), "Conflicting duplicates", "rv_group_drop_")
    assert not errors(at)
    (drop,) = [b for b in at.button if b.key.startswith("rv_group_drop_")]  # one conflicting group
    assert any("labels **a, b** · exact copies" in m.value for m in at.markdown)
    drop.click().run()
    assert not errors(at)
    ws = workspace(workspace_dir)
    current = ws.decisions(key).set_index("id")["action"].to_dict()
    assert current == {CONFLICT[0]: "drop", CONFLICT[1]: "drop"}
    assert ws.undo_last_step(key, sid) == 2 and ws.decisions(key).empty  # the two rows were one step
    group = drop.key.removeprefix("rv_group_drop_")
    at.selectbox(key=f"rv_group_pick_{group}").set_value("a").run()
    at.button(key=f"rv_group_relabel_{group}").click().run()
    relabeled = ws.decisions(key).set_index("id")
    assert relabeled["action"].tolist() == ["relabel", "relabel"] and set(relabeled["new_label"]) == {"a"}
    assert set(relabeled["method"]) == {"issues:conflicting_duplicates"}


def test_reference_copies_view_data_warning_and_export_option(workspace_dir, tmp_path):
    sid, key = issues_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.switch_page("app_pages/6_export.py").run()
    at.toggle(key="exp_dedupe").set_value(True).run()
    assert any("1 extra copy of exact duplicates" in c.value for c in at.caption)  # c/refcopy.png, as c/000.png
    at = show(at, "Copies of reference rows", "rv_issue_drop_")
    assert [b.key for b in at.button if b.key.startswith("rv_issue_drop_")] == [f"rv_issue_drop_{REF_COPY}"]
    assert any(f"`{REF}`" in c.value and "the reference row it copies" in c.value for c in at.caption)
    at.button(key=f"rv_issue_drop_{REF_COPY}").click().run()
    assert workspace(workspace_dir).decisions(key)["id"].tolist() == [REF_COPY]
    at.selectbox(key="rv_status").set_value("Outliers").run()
    assert not errors(at)

    at.switch_page("app_pages/1_data.py").run()
    assert any("holds exact copies of 1 valued row" in w.value for w in at.warning)

    at.switch_page("app_pages/6_export.py").run()
    at.toggle(key="exp_dedupe").set_value(True).run()
    assert not errors(at)
    # c/refcopy.png is dropped now; a/000.png and b/dup.png carry two labels, so no copy is left out
    assert any("0 extra copies" in c.value for c in at.caption)


@pytest.mark.parametrize("choice", ["Near duplicates", "Outliers"])
def test_every_issue_view_draws(workspace_dir, tmp_path, choice):
    sid, _ = issues_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.switch_page("app_pages/3_review.py").run()
    at.selectbox(key="rv_status").set_value(choice).run()
    _rerun_until(at, lambda a: any("Distances in the **raw** embedding" in c.value for c in a.caption))
    assert not errors(at)


def test_table_groups_and_copies_read_as_columns_side_by_side(workspace_dir):
    """A table: each group's rows (and each reference copy beside its reference row) as columns of one table."""
    import numpy as np
    from test_data_issues import planted_table

    from dataval_core.io import load_frame

    frame, rows = planted_table()
    is_target = np.zeros(len(frame), dtype=bool)
    is_target[rows["exact_src"] + list(range(60, 90))] = True
    ds = load_frame(frame, "label").replace(is_target=is_target)
    sid, key, _ = session_with_run(workspace_dir, ds)
    at = show(new_app(sid), "Conflicting duplicates", "rv_group_drop_")
    tables = [t.value for t in at.dataframe]
    assert len(tables) == 3 and all(t.shape == (6, 2) for t in tables)  # 6 features x the group's 2 rows
    assert {tuple(t.columns) for t in tables} == {(str(a), str(b)) for a, b in zip(rows["conflict_src"],
                                                                                   rows["conflict"])}
    at.selectbox(key="rv_status").set_value("Copies of reference rows").run()
    _rerun_until(at, lambda a: any(b.key.startswith("rv_issue_drop_") for b in a.button))
    assert {tuple(t.value.columns) for t in at.dataframe} == {(str(c), str(s)) for s, c in zip(rows["exact_src"],
                                                                                               rows["exact"])}
    at.switch_page("app_pages/1_data.py").run()
    assert any("holds exact copies of 3 valued rows" in w.value for w in at.warning)
