"""In headless Chromium against a real ``streamlit run``: with ``DATAVAL_PASSWORD`` set an uninvited browser sees
only the login page on every URL and nothing is minted for a planted ``?sid=``; and a server killed with SIGKILL
while its run goes on restarts with every decision and shows the run as interrupted."""
from __future__ import annotations

import signal
import time

import pytest

from dataval_core.workspace import Workspace
from ui.sessions import AppWorkspace

from test_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, require_browser, settle, shot, start_server

pytestmark = pytest.mark.browser

PASSWORD = "a demo for the stakeholders"


@pytest.fixture
def browser():
    sync_api = require_browser()
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
            assert page.locator("[data-testid=stSidebar] [data-testid=stPageLink]").count() == 0, path
        shot(page, "login_only", tmp_path)
        assert not AppWorkspace(tmp_path / "ws").session_exists("ab" * 16)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.keyboard.press("Enter")
        settle(page)
        page.get_by_text("One-click demo").wait_for()
        settle(page)
        assert "ab" * 16 not in page.url
    finally:
        proc.terminate()
        proc.wait(timeout=20)



def test_server_killed_mid_run_restarts_with_every_decision_and_the_run_interrupted(tmp_path, monkeypatch, browser):
    monkeypatch.delenv("DATAVAL_PASSWORD", raising=False)
    root = tmp_path / "ws"
    proc, url = start_server(root, tmp_path / "streamlit.log")
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        settle(page)
        page.get_by_role("button", name="Run the demo").click()  # the server starts knn_shapley on MNIST
        ws = Workspace(root)
        deadline = time.monotonic() + 120
        while not [r for d in ws.list_datasets() for r in ws.list_runs(d.key) if r.status in ("queued", "running")]:
            assert time.monotonic() < deadline, "the demo run never started"
            page.wait_for_timeout(100)
        (record,) = ws.list_datasets()
        sid = record.owner
        acked = 0
        for i in range(0, 40, 5):  # the session decides (as from a second tab) while the run goes on
            acked += ws.record_decisions(record.key, sid, [{"id": str(j), "action": "drop"} for j in range(i, i + 5)])
        (run,) = ws.list_runs(record.key)
        assert run.status in ("queued", "running"), "the run ended before the kill; nothing was tested"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
        proc, url = start_server(root, tmp_path / "streamlit2.log")
        page.goto(f"{url}/valuate?sid={sid}")
        page.get_by_text("interrupted").first.wait_for(state="attached")  # a cell of the runs table (canvas)
        settle(page)
        shot(page, "after_kill_9", tmp_path)
        assert Workspace(root).run_record(run.run_id).status == "interrupted"
        assert len(Workspace(root).decision_log(record.key)) == acked == 40
    finally:
        proc.kill()
        proc.wait(timeout=20)
