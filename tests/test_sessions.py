"""Sessions and share keys (ui/sessions.py): minted ids, each session's current dataset, share keys on the store."""
from __future__ import annotations

import pytest
from test_workspace import _table_dataset

from dataval_core.workspace import SCHEMA_VERSION, Workspace
from ui.sessions import SHARE_KEY_INVALID, AppWorkspace, new_session_id


@pytest.fixture
def ws(tmp_path):
    return AppWorkspace(tmp_path / "ws")


def test_adding_a_dataset_makes_it_current_and_a_reload_restores_it(ws):
    sid = new_session_id()
    rec = ws.add_dataset(sid, _table_dataset())
    assert ws.current_dataset(sid) == rec.key
    again = AppWorkspace(ws.root)  # a server restart or a reload
    assert again.current_dataset(sid) == rec.key
    ws.set_current_dataset(sid, None)
    assert again.current_dataset(sid) is None


def test_engine_add_dataset_leaves_the_current_dataset_alone(ws):
    sid = ws.mint_session()
    first = ws.add_dataset(sid, _table_dataset())
    Workspace(ws.root).add_dataset(sid, _table_dataset(noisy=False))  # an engine caller, e.g. a script
    assert ws.current_dataset(sid) == first.key and len(ws.list_datasets(sid)) == 2


def test_opening_a_share_key_grants_the_record_and_makes_it_current(ws):
    a, b = new_session_id(), new_session_id()
    rec_a = ws.add_dataset(a, _table_dataset())
    assert not ws.can_access(b, rec_a.key)
    ws.open_shared(b, ws.create_share_key(a, rec_a.key))
    assert ws.can_access(b, rec_a.key) and ws.current_dataset(b) == rec_a.key
    assert Workspace(ws.root).access_mode(b, rec_a.key) == "read"  # the grant lives in the store


def test_the_app_schema_is_the_store_schema(tmp_path):
    import sqlite3

    AppWorkspace(tmp_path / "app")
    Workspace(tmp_path / "engine")
    tables = []
    for name in ("app", "engine"):
        with sqlite3.connect(tmp_path / name / "workspace.sqlite") as con:
            assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            tables.append(con.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall())
    assert tables[0] == tables[1]


def test_audit_log_names_the_session_without_its_secret_id(ws):
    from dataval_core.workspace import session_tag

    owner, friend = ws.mint_session(), ws.mint_session()
    rec = ws.add_dataset(owner, _table_dataset())
    ws.open_shared(friend, ws.create_share_key(owner, rec.key, write=True))
    ws.record_decisions(rec.key, owner, [{"id": "0", "action": "drop"}])
    ws.record_decisions(rec.key, friend, [{"id": "1", "action": "keep"}])
    log = ws.decision_log(rec.key)
    assert log["session"].tolist() == [session_tag(owner), session_tag(friend)]
    assert owner not in log.to_csv() and friend not in log.to_csv()


def test_share_keys_are_long_view_only_by_default_revocable_and_say_nothing_when_wrong(ws):
    from dataval_core.workspace import AccessError

    owner, viewer, other = ws.mint_session(), ws.mint_session(), ws.mint_session()
    rec = ws.add_dataset(owner, _table_dataset())
    token = ws.create_share_key(owner, rec.key)
    assert len(token) >= 3 + 22  # 24 random bytes: 192 bits
    ws.open_shared(viewer, token)
    assert ws.access_mode(viewer, rec.key) == "read" and not ws.can_write(viewer, rec.key)
    with pytest.raises(AccessError, match="view-only"):
        ws.record_decisions(rec.key, viewer, [{"id": "0", "action": "drop"}])
    assert ws.decision_log(rec.key).empty
    with pytest.raises(AccessError):
        ws.create_share_key(viewer, rec.key)  # only the owner shares

    expired = ws.create_share_key(owner, rec.key, days=-1)
    messages = set()
    for bad in (rec.key, token[:-1] + ("A" if token[-1] != "A" else "B"), expired):
        with pytest.raises(AccessError) as err:
            ws.open_shared(other, bad)
        messages.add(str(err.value))
    (key_id,) = [k.key_id for k in ws.share_keys(rec.key) if k.active]
    ws.revoke_share_key(owner, rec.key, key_id)
    with pytest.raises(AccessError) as err:
        ws.open_shared(other, token)
    messages.add(str(err.value))
    assert messages == {SHARE_KEY_INVALID}
    assert not ws.can_access(viewer, rec.key) and ws.list_datasets(viewer) == []  # revoking cut access


def test_decisions_need_a_live_grant_at_each_write(ws):
    """A session that never opened the dataset, or whose edit key was revoked while its page
    was open, cannot save or undo; the owner's log is untouched."""
    from dataval_core.workspace import AccessError

    owner, editor, stranger = ws.mint_session(), ws.mint_session(), ws.mint_session()
    rec = ws.add_dataset(owner, _table_dataset())
    with pytest.raises(AccessError, match="no longer open"):
        ws.record_decisions(rec.key, stranger, [{"id": "0", "action": "drop"}])
    ws.open_shared(editor, ws.create_share_key(owner, rec.key, write=True))
    assert ws.record_decisions(rec.key, editor, [{"id": "1", "action": "keep"}]) == 1
    (key_id,) = [k.key_id for k in ws.share_keys(rec.key) if k.active]
    ws.revoke_share_key(owner, rec.key, key_id)
    with pytest.raises(AccessError, match="revoked"):
        ws.record_decisions(rec.key, editor, [{"id": "2", "action": "drop"}])
    with pytest.raises(AccessError):
        ws.undo_last_step(rec.key, editor)
    assert ws.decision_log(rec.key)["id"].tolist() == ["1"]


def test_minted_sessions_only(ws):
    sid = ws.mint_session()
    assert len(sid) == 32 and ws.session_exists(sid)
    assert not ws.session_exists("0" * 32) and not ws.session_exists("")
