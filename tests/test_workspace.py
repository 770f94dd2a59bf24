"""Workspace persistence: datasets, runs, decisions, per-session scoping."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataval_core.dataset import Dataset
from dataval_core.result import ValuationResult
from dataval_core.workspace import Workspace, new_session_id


def _table_dataset(n: int = 12, noisy: bool = True) -> Dataset:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n).astype("int32"),
                          "cat": pd.Categorical(rng.choice(["x", "y"], n)), "label": ["p", "q"] * (n // 2)})
    labels = np.array([0, 1] * (n // 2))
    original = labels.copy()
    if noisy:
        labels = labels.copy()
        labels[:2] = 1 - labels[:2]
    return Dataset(ids=np.arange(n).astype(str), labels=labels, classes=("p", "q"), task="classification",
                   modality="table", is_target=np.arange(n) >= n - 4, table=table, label_column="label",
                   feature_columns=("a", "b", "cat"), original_labels=original if noisy else None, name="toy",
                   meta={"imputed": "none"})


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


def test_dataset_roundtrip_keeps_everything(ws):
    ds = _table_dataset()
    sid = new_session_id()
    rec = ws.add_dataset(sid, ds, {"target": "last 4 rows"})
    back = ws.load_dataset(rec.key)
    assert back.content_hash() == ds.content_hash()
    np.testing.assert_array_equal(back.original_labels, ds.original_labels)
    assert back.table.dtypes.to_dict() == ds.table.dtypes.to_dict()
    assert rec.info["target"] == "last 4 rows" and rec.n == 12
    assert ws.current_dataset(sid) == rec.key


def test_same_content_same_session_reuses_record_other_session_gets_its_own(ws):
    ds = _table_dataset()
    a, b = new_session_id(), new_session_id()
    rec_a = ws.add_dataset(a, ds)
    assert ws.add_dataset(a, ds).key == rec_a.key
    rec_b = ws.add_dataset(b, ds)
    assert rec_b.key != rec_a.key and rec_b.content_hash == rec_a.content_hash
    assert [r.key for r in ws.list_datasets(a)] == [rec_a.key]
    assert not ws.can_access(b, rec_a.key)
    ws.open_shared(b, ws.create_share_key(a, rec_a.key))
    assert ws.can_access(b, rec_a.key) and ws.current_dataset(b) == rec_a.key


def test_run_values_and_extras_roundtrip(ws):
    rec = ws.add_dataset("s", _table_dataset())
    run_id = ws.create_run(rec.key, "knn_shapley", embedding=None, params={"k": 5}, seed=3)
    assert ws.run_record(run_id).status == "queued"
    ids = np.array(["0", "1", "2"])
    result = ValuationResult(ids=ids, values=np.array([0.3, -0.1, 0.2]), method="knn_shapley", params={"k": 5},
                             seed=3, embedding="raw", timings={"total": 1.5},
                             suggested_labels=np.array(["p", None, "q"], dtype=object),
                             extras={"phase": np.arange(6.0).reshape(3, 2), "w": np.array([1.0, 2.0, 3.0])})
    ws.save_result(run_id, result)
    run = ws.list_runs(rec.key)[0]
    assert (run.status, run.embedding, run.timings["total"], run.params) == ("done", "raw", 1.5, {"k": 5})
    back = ws.load_result(run_id)
    np.testing.assert_array_equal(back.values, result.values)
    assert list(back.suggested_labels) == ["p", None, "q"]
    np.testing.assert_array_equal(back.extras["phase"], result.extras["phase"])
    np.testing.assert_array_equal(back.extras["w"], result.extras["w"])


def test_decisions_latest_wins_and_log_is_kept(ws):
    rec = ws.add_dataset("s", _table_dataset())
    ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop", "old_label": "q"},
                                       {"id": "1", "action": "relabel", "old_label": "p", "new_label": "q",
                                        "run_id": "run_x", "method": "random", "value": 0.1, "rank": 2}])
    ws.record_decisions(rec.key, "s", [{"id": "0", "action": "keep", "old_label": "q"}])
    current = ws.decisions(rec.key).set_index("id")
    assert current.loc["0", "action"] == "keep" and current.loc["1", "new_label"] == "q"
    assert len(ws.decision_log(rec.key)) == 3
    with pytest.raises(ValueError, match="Unknown action"):
        ws.record_decisions(rec.key, "s", [{"id": "0", "action": "delete"}])


def test_everything_survives_a_new_workspace_object(tmp_path):
    ws = Workspace(tmp_path / "ws")
    rec = ws.add_dataset("s", _table_dataset())
    ws.record_decisions(rec.key, "s", [{"id": "3", "action": "drop"}])
    again = Workspace(tmp_path / "ws")
    assert again.current_dataset("s") == rec.key
    assert again.decisions(rec.key)["id"].tolist() == ["3"]


def test_run_of_a_dead_process_reads_as_interrupted(ws):
    rec = ws.add_dataset("s", _table_dataset())
    run_id = ws.create_run(rec.key, "random", embedding=None, params={}, seed=0)
    ws._execute("UPDATE runs SET owner = '999999:gone' WHERE run_id = ?", (run_id,))
    assert ws.run_record(run_id).status == "interrupted"


def test_upload_is_content_addressed(ws):
    p1 = ws.store_upload("../../evil name.csv", b"a,b\n1,2\n")
    p2 = ws.store_upload("evil name.csv", b"a,b\n1,2\n")
    assert p1 == p2 and p1.is_relative_to(ws.root) and p1.name == "evil_name.csv"
