"""In headless Chromium, against a real ``streamlit run`` with ``DATAVAL_PASSWORD`` set: an uninvited browser sees
only the login page on every URL, nothing is minted for a planted ``?sid=``, and the password lets it in."""
from __future__ import annotations

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, settle, shot, start_server

from dataval_core.workspace import Workspace

pytestmark = pytest.mark.browser

PASSWORD = "a demo for the stakeholders"


@pytest.fixture
def browser():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_uninvited_browser_sees_only_the_login_page(tmp_path, monkeypatch, browser):
    monkeypatch.setenv("DATAVAL_PASSWORD", PASSWORD)
    proc, url = start_server(tmp_path / "ws", tmp_path / "streamlit.log")
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.set_default_timeout(WAIT_MS)
        for path in ("", "/review?sid=" + "ab" * 16, "/export"):
            page.goto(url + path)
            page.get_by_text("This server is private").wait_for()
            settle(page)
            body = page.inner_text("body")
            assert "One-click demo" not in body and "No dataset chosen yet" not in body, path
            assert page.locator("[data-testid=stSidebarNav]").count() == 0, path  # no page menu
        shot(page, "login_only", tmp_path)
        assert not Workspace(tmp_path / "ws").session_exists("ab" * 16)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.keyboard.press("Enter")
        settle(page)
        page.get_by_text("One-click demo").wait_for()
        settle(page)
        assert "ab" * 16 not in page.url
    finally:
        proc.terminate()
        proc.wait(timeout=20)

