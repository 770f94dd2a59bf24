"""Decisions as events: one click is one write, named by an idempotency key the workspace stores with it."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from test_workspace import _table_dataset

from dataval_core.decisions import check_event_key, new_event_key
from dataval_core.workspace import SCHEMA_VERSION, Workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


def _events(ws: Workspace, key: str) -> list[tuple[str, int]]:
    with sqlite3.connect(ws.db_path) as con:
        return con.execute("SELECT event, rows FROM decision_events WHERE dataset_key = ? ORDER BY time, event",
                           (key,)).fetchall()


def test_the_same_event_delivered_twice_writes_once_and_the_key_is_stored_with_the_rows(ws):
    rec = ws.add_dataset("s", _table_dataset())
    event = new_event_key()
    rows = [{"id": "0", "action": "drop"}, {"id": "1", "action": "drop"}]
    assert ws.record_decisions(rec.key, "s", rows, event=event) == 2
    assert ws.record_decisions(rec.key, "s", rows, event=event) == 0  # a replay of the same click
    assert ws.record_decisions(rec.key, "s", [{"id": "0", "action": "keep"}], event=event) == 0
    assert len(ws.decision_log(rec.key)) == 2 and ws.event_seen(rec.key, event)
    with sqlite3.connect(ws.db_path) as con:
        assert con.execute("SELECT DISTINCT event FROM decisions").fetchall() == [(event,)]
    assert ws.record_decisions(rec.key, "s", [{"id": "0", "action": "keep"}], event=new_event_key()) == 1
    assert dict(zip(ws.decisions(rec.key)["id"], ws.decisions(rec.key)["action"])) == {"0": "keep", "1": "drop"}


def test_an_event_that_changed_nothing_is_remembered_so_a_late_replay_cannot_write(ws):
    rec = ws.add_dataset("s", _table_dataset())
    ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], event=new_event_key())
    late = new_event_key()
    assert ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], skip_unchanged=True, event=late) == 0
    ws.record_decisions(rec.key, "s", [{"id": "0", "action": "keep"}], event=new_event_key())
    # the same (no-op) click arrives again after the sample was kept: it must not turn it back to drop
    assert ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], skip_unchanged=True, event=late) == 0
    assert ws.decisions(rec.key)["action"].tolist() == ["keep"]
    assert (late, 0) in _events(ws, rec.key)


def test_concurrent_deliveries_of_one_event_write_once(ws):
    rec = ws.add_dataset("s", _table_dataset())
    event = new_event_key()
    written: list[int] = []
    barrier = threading.Barrier(6)

    def deliver():
        barrier.wait()
        written.append(Workspace(ws.root).record_decisions(rec.key, "s", [{"id": str(i), "action": "drop"}
                                                                           for i in range(5)], event=event))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(written) == [0, 0, 0, 0, 0, 5] and len(ws.decision_log(rec.key)) == 5


def test_an_undo_click_replayed_undoes_one_step(ws):
    rec = ws.add_dataset("s", _table_dataset())
    ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], event=new_event_key())
    ws.record_decisions(rec.key, "s", [{"id": "1", "action": "drop"}], event=new_event_key())
    click = new_event_key()
    assert ws.undo_last_step(rec.key, "s", event=click) == 1
    assert ws.undo_last_step(rec.key, "s", event=click) == 0  # the same click again: the first drop stays
    assert ws.decisions(rec.key)["id"].tolist() == ["0"]


def test_a_failed_write_records_no_event_so_the_retry_can_write(ws):
    rec = ws.add_dataset("s", _table_dataset())
    event = new_event_key()
    with sqlite3.connect(ws.db_path) as con:
        con.execute("CREATE TRIGGER full BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'database or disk "
                    "is full'); END")
    with pytest.raises(OSError):
        ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], event=event)
    assert not ws.event_seen(rec.key, event) and ws.decision_log(rec.key).empty
    with sqlite3.connect(ws.db_path) as con:
        con.execute("DROP TRIGGER full")
    assert ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], event=event) == 1


def test_event_keys_are_checked(ws):
    rec = ws.add_dataset("s", _table_dataset())
    assert check_event_key(new_event_key()) and new_event_key() != new_event_key()
    for bad in ("", "short", "x" * 65, "has space in it", "semi;colon;x"):
        with pytest.raises(ValueError, match="decision event key"):
            ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}], event=bad)
    assert ws.decision_log(rec.key).empty


def test_a_version_3_workspace_gains_the_event_column_and_ledger(tmp_path):
    ws = Workspace(tmp_path / "ws")
    rec = ws.add_dataset("s", _table_dataset())
    ws.record_decisions(rec.key, "s", [{"id": "0", "action": "drop"}])
    with sqlite3.connect(ws.db_path) as con:  # back to the version 3 schema, as an older dataval left it
        con.execute("DROP TABLE annotation_events")  # version 5's tables
        con.execute("DROP TABLE annotations")
        con.execute("DROP TABLE decision_events")  # version 4's
        con.execute("ALTER TABLE decisions DROP COLUMN event")
        con.execute("PRAGMA user_version = 3")
    again = Workspace(tmp_path / "ws")
    with sqlite3.connect(again.db_path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert again.decisions(rec.key)["id"].tolist() == ["0"]
    assert again.record_decisions(rec.key, "s", [{"id": "1", "action": "keep"}], event=new_event_key()) == 1
