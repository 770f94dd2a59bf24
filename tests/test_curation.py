"""Decision steps: undo, revert to undecided, idempotent bulk writes, and the export that follows them."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from dataval_core.dataset import Dataset
from dataval_core.export import current_decisions, export_plan
from dataval_core.workspace import UNDECIDED, Workspace, WorkspaceError


def _dataset(n: int = 8) -> Dataset:
    table = pd.DataFrame({"a": np.arange(n, dtype=float), "label": ["p", "q"] * (n // 2)})
    return Dataset(ids=np.arange(n).astype(str), labels=np.array([0, 1] * (n // 2)), classes=("p", "q"),
                   task="classification", modality="table", is_target=np.arange(n) >= n - 2, table=table,
                   label_column="label", feature_columns=("a",), name="toy")


@pytest.fixture
def ws_key(tmp_path):
    ws = Workspace(tmp_path / "ws")
    return ws, ws.add_dataset("s", _dataset()).key


def _state(ws: Workspace, key: str) -> dict[str, str]:
    cur = ws.decisions(key)
    return dict(zip(cur["id"], cur["action"]))


def test_undo_restores_each_step_in_turn_and_the_log_keeps_every_step(ws_key):
    ws, key = ws_key
    ws.record_decisions(key, "s", [{"id": "0", "action": "keep"}])
    ws.record_decisions(key, "s", [{"id": "0", "action": "drop"}, {"id": "1", "action": "drop"},
                                   {"id": "2", "action": "relabel", "new_label": "p"}])
    assert _state(ws, key) == {"0": "drop", "1": "drop", "2": "relabel"}
    assert ws.undo_last_step(key, "s") == 3  # the bulk step, as one
    assert _state(ws, key) == {"0": "keep"}
    assert ws.undo_last_step(key, "s") == 1
    assert _state(ws, key) == {}
    assert ws.undo_last_step(key, "s") == 0 and not ws.can_undo(key, "s")
    log = ws.decision_log(key)
    assert len(log) == 4 + 3 + 1 and (log["action"] == UNDECIDED).sum() == 3


def test_undo_is_per_session_and_never_clobbers_a_later_change(ws_key):
    ws, key = ws_key
    from ui.sessions import AppWorkspace

    app = AppWorkspace(ws.root)
    for editor in ("a", "b"):
        app.open_shared(editor, app.create_share_key("s", key, write=True))
    ws.record_decisions(key, "a", [{"id": "0", "action": "drop"}, {"id": "1", "action": "drop"}])
    ws.record_decisions(key, "b", [{"id": "1", "action": "keep"}])
    assert ws.undo_last_step(key, "a") == 1  # only id 0: b changed id 1 since
    assert _state(ws, key) == {"1": "keep"}
    assert not ws.can_undo(key, "a") and ws.can_undo(key, "b")


def test_undo_survives_a_new_workspace_object(ws_key, tmp_path):
    ws, key = ws_key
    ws.record_decisions(key, "s", [{"id": "3", "action": "drop"}])
    again = Workspace(tmp_path / "ws")  # a server restart or a reload
    assert again.can_undo(key, "s") and again.undo_last_step(key, "s") == 1
    assert again.decisions(key).empty


def test_revert_to_undecided_leaves_export_and_current_decisions(ws_key):
    ws, key = ws_key
    ws.record_decisions(key, "s", [{"id": "0", "action": "drop"}, {"id": "1", "action": "drop"}])
    ws.record_decisions(key, "s", [{"id": "0", "action": UNDECIDED}])
    assert _state(ws, key) == {"1": "drop"}
    plan = export_plan(_dataset(), ws.decision_log(key))
    assert plan.set_index("id").loc["0", "action"] == "undecided" and int(plan["exported"].sum()) == 7
    assert current_decisions(ws.decision_log(key))["id"].tolist() == ["1"]


def test_skip_unchanged_makes_a_repeated_bulk_action_write_once(ws_key):
    ws, key = ws_key
    rows = [{"id": str(i), "action": "drop"} for i in range(4)]
    assert ws.record_decisions(key, "s", rows, skip_unchanged=True) == 4
    assert ws.record_decisions(key, "s", rows, skip_unchanged=True) == 0
    assert len(ws.decision_log(key)) == 4
    assert ws.undo_last_step(key, "s") == 4  # the no-op repeat is not a step to undo


def test_a_failed_write_saves_nothing(ws_key):
    ws, key = ws_key
    with sqlite3.connect(ws.db_path) as con:  # a real SQLite failure on the third row, as a full disk would give
        con.execute("CREATE TRIGGER fail BEFORE INSERT ON decisions WHEN NEW.id = '2' "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    with pytest.raises(WorkspaceError, match="disk is full"):
        ws.record_decisions(key, "s", [{"id": str(i), "action": "drop"} for i in range(4)])
    assert ws.decision_log(key).empty and not ws.can_undo(key, "s")


def test_counts_with_a_separate_target_file_equal_the_exported_rows(tmp_path):
    from dataval_core.export import export_counts, export_dataset
    from dataval_core.io import load_dataset
    from dataval_core.report import html_report
    from dataval_core.targets import with_target_file

    rng = np.random.default_rng(0)
    for name, n in (("train.csv", 30), ("target.csv", 12)):
        pd.DataFrame({"x": rng.normal(size=n), "label": ["a", "b", "c"] * (n // 3)}).to_csv(tmp_path / name,
                                                                                            index=False)
    ds = with_target_file(load_dataset(tmp_path / "train.csv", label="label"),
                          load_dataset(tmp_path / "target.csv", label="label"))
    assert len(ds) == 42
    log = pd.DataFrame({"id": ["0", "1", "2"], "action": ["drop", "relabel", "keep"], "new_label": [None, "c", None],
                        "time": ["t1", "t2", "t3"]})
    counts = export_counts(ds, log)
    out = pd.read_csv(export_dataset(ds, log, tmp_path / "clean.csv"))
    assert counts["exported"] == len(out) == 29 and counts["target_file_rows"] == 12
    assert counts["undecided"] + counts["keep"] + counts["relabel"] == len(out) and counts["drop"] == 1
    page = html_report(ds, [], log)
    assert f"The cleaned export has {len(out)} rows; the 12 rows of the separate target file are not exported" in page


def test_run_timings_split_embedding_and_method_and_percentiles_run_0_to_100():
    from dataval_core.runner import run_valuation

    ds = _dataset(40)
    res = run_valuation(ds, "random", embedding="pca:1")
    t = res.timings
    assert t["embedding"] > 0 and t["method"] > 0 and t["total"] == pytest.approx(t["embedding"] + t["method"])
    pct = res.percentiles
    assert pct[np.argmin(res.values)] == 0 and pct[np.argmax(res.values)] == 100
    assert np.all(np.diff(pct[np.argsort(res.values, kind="stable")]) > 0)


def test_values_csv_has_a_percentile_beside_each_value():
    from dataval_core.export import values_table
    from dataval_core.result import ValuationResult

    ds = _dataset(8)
    res = ValuationResult(ds.ids[:6], np.array([5.0, -3.0, 0.1, 2.0, 9.0, 1.0]), "lava")
    table = values_table(ds, {"lava": res})
    assert table["percentile__lava"].iloc[:6].tolist() == [80.0, 0.0, 20.0, 60.0, 100.0, 40.0]
    assert table["percentile__lava"].iloc[6:].isna().all()


def test_curation_summaries_and_truth_flags(tmp_path):
    from dataval_core.curation import (
        class_summary,
        label_confusion,
        runs_flagging,
        suggestion_confidence,
        truth_from_column,
        truth_from_ids,
    )
    from dataval_core.dataset import DataError
    from dataval_core.result import ValuationResult

    ids = np.array(["a", "b", "c", "d"])
    one = ValuationResult(ids, np.array([0.0, 1.0, 2.0, 3.0]), "knn_shapley",
                          suggested_labels=np.array(["p", "q", None, "p"], dtype=object))
    two = ValuationResult(ids, np.array([3.0, 0.0, 2.0, 1.0]), "data_oob",
                          suggested_labels=np.array(["p", "p", "q", None], dtype=object))
    assert runs_flagging([one, two], ids, low=40).tolist() == [1, 2, 0, 1]
    conf = suggestion_confidence(one, [one, two])
    assert conf[0] == 1.0 and conf[1] == 0.5 and np.isnan(conf[2]) and np.isnan(conf[3])
    frame = pd.DataFrame({"id": ids, "label": ["p", "p", "q", "q"], "value": one.values,
                          "percentile": one.percentiles, "suggested": one.suggested_labels,
                          "action": ["drop", None, None, "keep"]})
    summary = class_summary(frame, low=40).set_index("class")
    assert summary.loc["p", ["samples", "low", "dropped", "undecided"]].tolist() == [2, 2, 1, 1]
    conf_cells = label_confusion(frame).set_index(["given", "suggested"])
    assert conf_cells.loc[("q", "p"), "ids"] == ["d"] and conf_cells.loc[("p", "q"), "count"] == 1

    ds = _dataset(8)
    ds.table["bad"] = ["yes", "no", "no", "bad", "no", "no", "no", "no"]
    assert truth_from_column(ds, "bad").tolist() == [True, False, False, True] + [False] * 4
    assert truth_from_ids(ds, [" 2", "5", "zz"]).sum() == 2
    with pytest.raises(DataError, match="None of the 1 ids"):
        truth_from_ids(ds, ["zz"])
    ds.table["none"] = False
    with pytest.raises(DataError, match="marks no valued row"):
        truth_from_column(ds, "none")


def test_runs_table_splits_submit_to_done_into_its_parts(tmp_path):
    from dataval_core.jobs import JobManager
    from ui.progress import run_seconds

    ws = Workspace(tmp_path / "ws")
    ds = _dataset(40)
    key = ws.add_dataset("s", ds).key
    jobs = JobManager(ws, max_workers=1)
    run_id = jobs.submit_run(key, ds, "random", embedding="pca:1")
    assert jobs.wait(run_id, timeout=60).status == "done"
    jobs.shutdown()
    parts = run_seconds(ws.run_record(run_id))
    assert all(v is not None and v >= 0 for v in parts.values())
    assert parts["submit→done s"] == pytest.approx(parts["queue + loading s"] + parts["embedding s"]
                                                   + parts["method s"])


def test_review_table_joins_a_run_to_its_dataset_decisions_and_noise():
    from dataval_core.curation import review_table
    from dataval_core.dataset import DataError
    from dataval_core.noise import inject_label_noise
    from dataval_core.result import ValuationResult

    ds = inject_label_noise(_dataset(8), 0.5, seed=0)  # 3 of the 6 valued rows flipped
    valued = ds.ids[~ds.is_target][::-1]  # a run's own order, not the dataset's
    res = ValuationResult(valued, np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0]), "knn_shapley",
                          suggested_labels=np.array(["p", None, "q", None, "q", "p"], dtype=object))
    other = ValuationResult(valued, np.arange(6.0), "data_oob")
    decisions = pd.DataFrame({"id": ["0", "5"], "action": ["drop", "relabel"], "new_label": [None, "p"]})
    table = review_table(ds, res, decisions, [other])
    assert table["id"].tolist() == ["0", "1", "2", "3", "4", "5"]  # lowest value first
    assert table["rank"].tolist() == [1, 2, 3, 4, 5, 6] and table["percentile"].iloc[-1] == 100
    assert table["label"].tolist() == ds.label_names()[:6].tolist()
    assert table["suggested"].tolist() == ["p", "q", None, "q", None, "p"]
    assert table["action"].tolist() == ["drop", None, None, None, None, "relabel"]
    assert table["new_label"].iloc[-1] == "p"
    assert table["flagged_by"].tolist() == [1, 0, 0, 0, 0, 1]  # lowest 10% of each run: "0" and "5"
    assert table["noisy"].sum() == 3
    flipped = table[table["noisy"]]
    assert (flipped["original"] != flipped["label"]).all()
    assert review_table(ds, res)["action"].isna().all()
    with pytest.raises(DataError, match="1 id.s. are not in the dataset, e.g. 'zz'"):
        ds.positions(["3", "zz"])
    assert ds.positions(np.array(["7", "0"])).tolist() == [7, 0]
