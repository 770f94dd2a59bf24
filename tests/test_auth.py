"""Access control in the app: the password gate, server-minted session ids, share keys from the sidebar, and
rejected uploads leaving nothing behind."""
from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dataval_core.workspace import Workspace
from ui.sessions import AppWorkspace

from test_app import image_zip, seeded_session

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 60
PAGES = ["app_pages/0_home.py", "app_pages/1_data.py", "app_pages/3_review.py", "app_pages/6_export.py"]


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch):
    path = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(path))
    monkeypatch.delenv("DATAVAL_PASSWORD", raising=False)
    return path


@pytest.fixture
def fresh_throttle():
    from ui import auth

    auth._throttle.clear()
    yield
    auth._throttle.clear()


def sessions_in(workspace_dir: Path) -> int:
    with sqlite3.connect(workspace_dir / "workspace.sqlite") as con:
        return con.execute("SELECT count(*) FROM sessions").fetchone()[0]


def only_login(at: AppTest) -> bool:
    """The page shows the login form and nothing of the app (no menu, no demo, no dataset)."""
    return (not at.exception and [t.key for t in at.text_input] == ["login_password"]
            and [b.key for b in at.button] == ["login_submit"] and not at.sidebar.children
            and "sid" not in at.session_state)


@pytest.mark.parametrize("page", PAGES)
def test_with_a_password_an_uninvited_visitor_sees_only_the_login_page(workspace_dir, monkeypatch, page,
                                                                       fresh_throttle):
    monkeypatch.setenv("DATAVAL_PASSWORD", "correct horse")
    sid, _, _ = seeded_session(workspace_dir, workspace_dir.parent)
    before = sessions_in(workspace_dir)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sid"] = sid  # even a valid session link
    at.run()
    at.switch_page(page).run()
    assert only_login(at)
    at.text_input(key="login_password").input("wrong")
    at.button(key="login_submit").click().run()
    assert only_login(at) and at.error[0].value == "Wrong password."
    assert sessions_in(workspace_dir) == before  # nothing was minted for the visitor


def test_login_lets_in_and_restores_the_session(workspace_dir, monkeypatch, fresh_throttle):
    monkeypatch.setenv("DATAVAL_PASSWORD", "correct horse")
    sid, key, _ = seeded_session(workspace_dir, workspace_dir.parent)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sid"] = sid
    at.run()
    at.text_input(key="login_password").input("correct horse")
    at.button(key="login_submit").click().run()
    assert not at.exception and at.session_state["sid"] == sid and at.session_state["dataset_key"] == key
    assert at.button(key="demo")  # the Home page itself


def test_wrong_passwords_are_rate_limited(workspace_dir, monkeypatch, fresh_throttle):
    from ui import auth

    monkeypatch.setenv("DATAVAL_PASSWORD", "correct horse")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    for _ in range(auth.MAX_FAILURES):
        at.text_input(key="login_password").input("guess")
        at.button(key="login_submit").click().run()
    at.text_input(key="login_password").input("correct horse")
    at.button(key="login_submit").click().run()
    assert only_login(at) and at.error[0].value.startswith("Too many wrong passwords")


def test_password_from_the_secrets_file(workspace_dir, fresh_throttle):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = {"password": "from secrets"}
    at.run()
    assert only_login(at)
    at.text_input(key="login_password").input("from secrets")
    at.button(key="login_submit").click().run()
    assert not at.exception and "sid" in at.session_state


def test_without_a_password_the_app_is_open(workspace_dir):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.text_input and at.button(key="demo")


def test_a_sid_the_server_did_not_mint_is_refused(workspace_dir):
    planted = "0123456789abcdef" * 2
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["sid"] = planted
    at.run()
    assert not at.exception
    assert at.session_state["sid"] != planted and at.query_params["sid"] == at.session_state["sid"]
    assert "not one this server started" in at.warning[0].value
    assert not AppWorkspace(workspace_dir).session_exists(planted)
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)
    again.query_params["sid"] = at.session_state["sid"]  # a minted one is kept (a reload)
    again.run()
    assert again.session_state["sid"] == at.session_state["sid"] and not again.warning


def test_owner_makes_and_revokes_a_view_only_share_key_from_the_sidebar(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    owner = AppTest.from_file(APP, default_timeout=TIMEOUT)
    owner.query_params["sid"] = sid
    owner.run()
    owner.button(key="share_make").click().run()
    token = owner.session_state["share_new"]
    assert token.startswith("dv_") and len(token) >= 27

    friend = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    friend.switch_page("app_pages/1_data.py").run()
    friend.segmented_control(key="data_source").set_value("Your datasets").run()
    friend.text_input(key="data_shared").input(token).run()
    friend.button(key="data_open_shared").click().run()
    assert friend.session_state["dataset_key"] == key
    ws = Workspace(workspace_dir)
    assert ws.access_mode(friend.session_state["sid"], key) == "read"

    (revoke,) = [b for b in owner.button if b.key.startswith("share_revoke_")]
    revoke.click().run()
    assert not ws.can_access(friend.session_state["sid"], key)
    friend.switch_page("app_pages/3_review.py").run()
    assert "No dataset chosen yet" in friend.info[0].value


def test_a_rejected_upload_leaves_nothing_under_files(workspace_dir):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/x.png", b"\0" * (64 << 20))  # 64 MB of zeros in a 64 kB zip, not an image
        zf.writestr("b/y.png", b"\0")
    for name, data in (("bomb.zip", buf.getvalue()), ("one.zip", image_zip(classes=("a",)))):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
        at.switch_page("app_pages/1_data.py").run()
        at.segmented_control(key="data_source").set_value("Upload a file").run()
        at.file_uploader(key="data_upload").upload(name, data, "application/zip").run()
        assert not at.exception and len(at.error) == 1, name
        assert not any((workspace_dir / "files").iterdir()), name
