"""Workspace persistence: datasets, runs, decisions, per-session scoping."""
from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np
import pandas as pd
import pytest

from dataval_core.dataset import Dataset
from dataval_core.progress import RunState
from dataval_core.result import ResultStatus, ValuationResult
from dataval_core.workspace import Workspace
from ui.sessions import new_session_id


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


def test_same_content_same_session_reuses_record_other_session_gets_its_own(ws):
    ds = _table_dataset()
    a, b = new_session_id(), new_session_id()
    rec_a = ws.add_dataset(a, ds)
    assert ws.add_dataset(a, ds).key == rec_a.key
    rec_b = ws.add_dataset(b, ds)
    assert rec_b.key != rec_a.key and rec_b.content_hash == rec_a.content_hash
    assert [r.key for r in ws.list_datasets(a)] == [rec_a.key]
    assert not ws.can_access(b, rec_a.key)


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
    assert [r.key for r in again.list_datasets("s")] == [rec.key]
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


def _result(ids=("0", "1", "2"), status="ok") -> ValuationResult:
    return ValuationResult(ids=np.array(ids), values=np.arange(len(ids), dtype=float), method="lava", seed=0,
                           embedding="raw", timings={"total": 0.1}, status=status)


def test_not_converged_survives_save_and_load_and_shows_in_tables_and_report(ws):
    from dataval_core.report import html_report

    rec = ws.add_dataset("s", _table_dataset())
    run_id = ws.create_run(rec.key, "lava", embedding=None, params={}, seed=0)
    ws.save_result(run_id, _result(status="not_converged"))
    again = Workspace(ws.root)
    assert again.load_result(run_id).status is ResultStatus.NOT_CONVERGED  # stored as its string, read as the enum
    record = again.run_record(run_id)
    assert record.status is RunState.DONE and record.result_status is ResultStatus.NOT_CONVERGED
    assert again.run_record(run_id).status_text == "done · not converged"
    with closing(sqlite3.connect(ws.db_path)) as con:
        stored = con.execute("SELECT status, result_status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    assert stored == ("done", "not_converged")
    with pytest.raises(ValueError, match="not a valid ResultStatus"):
        _result(status="maybe")
    html = html_report(again.load_dataset(rec.key), {"lava": again.load_result(run_id)}, None)
    assert "Status: not_converged" in html


#: the schema of workspaces written before versioning (user_version 0), verbatim
_OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, created REAL NOT NULL, current_dataset TEXT);
CREATE TABLE IF NOT EXISTS datasets (
    key TEXT PRIMARY KEY, content_hash TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL,
    modality TEXT NOT NULL, n INTEGER NOT NULL, info TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session_datasets (
    session_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (session_id, key));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, dataset_key TEXT NOT NULL, method TEXT NOT NULL, embedding TEXT,
    params TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, error TEXT,
    timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, finished REAL, owner TEXT);
CREATE INDEX IF NOT EXISTS runs_by_dataset ON runs (dataset_key);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset_key TEXT NOT NULL, session_id TEXT NOT NULL,
    id TEXT NOT NULL, action TEXT NOT NULL, old_label TEXT, new_label TEXT, run_id TEXT,
    method TEXT, value REAL, rank INTEGER, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_by_dataset ON decisions (dataset_key, id);
"""


def test_old_workspace_opens_and_upgrades(tmp_path):
    import sqlite3

    from dataval_core.workspace import SCHEMA_VERSION, session_tag
    from ui.sessions import AppWorkspace

    root = tmp_path / "old"
    root.mkdir()
    con = sqlite3.connect(root / "workspace.sqlite")
    con.executescript(_OLD_SCHEMA)
    con.execute("INSERT INTO sessions VALUES ('a' || hex(randomblob(15)), 1.0, 'ds_old')")
    owner = con.execute("SELECT session_id FROM sessions").fetchone()[0]
    con.execute("INSERT INTO datasets VALUES ('ds_old', 'h', ?, 'toy', 'table', 3, '{}', 1.0)", (owner,))
    con.execute("INSERT INTO session_datasets VALUES (?, 'ds_old')", (owner,))
    con.execute("INSERT INTO session_datasets VALUES ('friend', 'ds_old')")
    con.execute("INSERT INTO runs VALUES ('run_old', 'ds_old', 'lava', NULL, '{}', 0, 'done', NULL, '{}', 1.0, 2.0, "
                "'1:x')")
    con.execute("INSERT INTO decisions (dataset_key, session_id, id, action, time) "
                "VALUES ('ds_old', ?, '0', 'drop', '2026-01-01T00:00:00.000Z')", (owner,))
    con.commit()
    con.close()

    ws = Workspace(root)
    with sqlite3.connect(root / "workspace.sqlite") as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert ws.run_record("run_old").result_status == "ok"
    log = ws.decision_log("ds_old")
    assert log["session"].tolist() == [session_tag(owner)]
    assert ws.access_mode(owner, "ds_old") == "owner" and ws.access_mode("friend", "ds_old") == "write"
    assert AppWorkspace(root).session_exists(owner)  # the app still knows the sessions
    Workspace(root)  # opening again migrates nothing twice


def test_newer_workspace_is_refused_with_one_line(tmp_path):
    import sqlite3

    from dataval_core.workspace import WorkspaceError

    Workspace(tmp_path / "ws")
    with sqlite3.connect(tmp_path / "ws" / "workspace.sqlite") as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(WorkspaceError, match="newer dataval"):
        Workspace(tmp_path / "ws")


def test_size_budget_refuses_new_uploads_and_runs(tmp_path, monkeypatch):
    from dataval_core.workspace import WorkspaceError

    monkeypatch.setenv("DATAVAL_MAX_WORKSPACE_GB", "0.0002")  # 200 kB
    ws = Workspace(tmp_path / "ws")
    rec = ws.add_dataset("s", _table_dataset())
    ws.store_upload("a.csv", b"x" * 50_000)
    with pytest.raises(WorkspaceError, match="size budget") as err:
        ws.store_upload("b.csv", b"y" * 200_000)
    assert err.value.reason == "over_budget" and not list((tmp_path / "ws" / "uploads").glob("*/b.csv*"))
    ws.store_upload("c.csv", b"z" * 100_000)
    ws.usage_bytes(max_age=0)
    with pytest.raises(WorkspaceError, match="DATAVAL_MAX_WORKSPACE_GB"):
        ws.create_run(rec.key, "random", embedding=None, params={}, seed=0)
    monkeypatch.setenv("DATAVAL_MAX_WORKSPACE_GB", "lots")
    with pytest.raises(ValueError, match="DATAVAL_MAX_WORKSPACE_GB"):
        Workspace(tmp_path / "ws")


def test_gc_prunes_old_datasets_runs_and_caches_and_dry_run_keeps_them(ws):
    import os
    import time

    old = ws.add_dataset("s", _table_dataset())
    run_id = ws.create_run(old.key, "random", embedding=None, params={}, seed=0)
    ws.save_result(run_id, _result())
    ws.record_decisions(old.key, "s", [{"id": "0", "action": "drop"}])
    (ws.cache_dir / "emb.npy").write_bytes(b"0" * 1000)
    upload = ws.store_upload("x.csv", b"a,b\n1,2\n")
    fresh = ws.add_dataset("t", _table_dataset(n=16))
    failed = ws.create_run(fresh.key, "random", embedding=None, params={}, seed=1)
    ws.set_run_status(failed, "failed", error="boom")
    kept = ws.create_run(fresh.key, "random", embedding=None, params={}, seed=2)
    ws.save_result(kept, _result())
    month = 31 * 86400
    ws._execute("UPDATE datasets SET created = created - ? WHERE key = ?", (month, old.key))
    ws._execute("UPDATE runs SET created = created - ?, finished = finished - ?", (month, month))
    ws._execute("UPDATE decisions SET time = '2020-01-01T00:00:00.000Z'")
    stamp = time.time() - month
    for path in (ws.cache_dir / "emb.npy", upload.parent):
        os.utime(path, (stamp, stamp))

    planned = ws.gc(dry_run=True)
    assert {kind for kind, _, _ in planned} == {"cache", "upload", "run", "dataset"}
    assert ws.list_runs(old.key) and (ws.cache_dir / "emb.npy").exists()  # nothing removed yet
    removed = ws.gc()
    assert sorted(n for _, n, _ in removed) == sorted(n for _, n, _ in planned)
    assert [r.key for r in ws.list_datasets()] == [fresh.key]
    assert [r.run_id for r in ws.list_runs(fresh.key)] == [kept]  # a finished run stays with its dataset
    assert not (ws.root / "runs" / f"{run_id}.parquet").exists() and not upload.exists()
    assert ws.load_dataset(fresh.key).name == "toy"
    ws.record_decisions(fresh.key, "t", [{"id": "1", "action": "keep"}])
    ws._execute("UPDATE datasets SET created = created - ? WHERE key = ?", (month, fresh.key))
    assert ws.gc(older_than_days=30, max_gb=1e-12)[-1][0] == "dataset"  # the size policy removes it too
    assert ws.list_datasets() == []


def test_health_reports_a_writable_workspace(ws):
    from dataval_core.workspace import check_workspace

    health = check_workspace(ws.root)
    assert health.ok and health.message.startswith("ok")


def test_cli_gc_dry_run_lists_and_keeps_then_gc_removes(ws, capsys):
    import os
    import time

    from dataval_core.cli import main

    (ws.cache_dir / "old.npy").write_bytes(b"0" * 2_000_000)
    stamp = time.time() - 40 * 86400
    os.utime(ws.cache_dir / "old.npy", (stamp, stamp))
    assert main(["gc", "--workspace", str(ws.root), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "would remove cache    cache/old.npy  (2.0 MB)" in out.out and "dry run" in out.err
    assert (ws.cache_dir / "old.npy").exists()
    assert main(["gc", "--workspace", str(ws.root)]) == 0 and not (ws.cache_dir / "old.npy").exists()
    assert main(["gc", "--workspace", str(ws.root), "--older-than", "-1"]) == 1
    capsys.readouterr()
    assert main(["health", "--workspace", str(ws.root)]) == 0 and ": ok (" in capsys.readouterr().out
