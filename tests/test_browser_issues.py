"""Review's conflicting-duplicates view in headless Chromium against a real ``streamlit run``: the group's images
side by side, one click decides the whole group, and the workspace holds one event for both rows.

The workspace is seeded without the UI (tests/test_app_issues.py: a tiny image set with an exact copy filed
under another class, and a finished knn_shapley run). A screenshot goes to ``tests/artifacts/issues_group.png``.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
from test_app_issues import CONFLICT, issues_session

from test_browser import ARTIFACTS, WAIT_MS, require_browser, settle, start_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("issues")
    sid, key = issues_session(tmp / "ws", tmp)
    proc, url = start_server(tmp / "ws", tmp / "streamlit.log")
    yield url, tmp / "ws", sid, key
    proc.terminate()
    proc.wait(timeout=20)


def log_rows(root: Path, key: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(root / "workspace.sqlite") as con:
        return con.execute("SELECT id, action, event FROM decisions WHERE dataset_key = ? ORDER BY seq",
                           (key,)).fetchall()


def test_conflicting_group_side_by_side_and_one_decision(server, browser):
    url, root, sid, key = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}/review?sid={sid}&show={quote('Conflicting duplicates')}")
    group = page.locator("[class*=st-key-rv_group_]:has([class*=st-key-rv_group_do_])").first
    group.locator("img").nth(1).wait_for()  # the issues job ran and drew both members
    page.wait_for_function("() => [...document.querySelectorAll('[class*=st-key-rv_group_] img')]"
                           ".filter(i => i.complete && i.naturalWidth > 0).length === 2")
    settle(page)
    boxes = [group.locator("img").nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] > boxes[0]["x"] + boxes[0]["width"]
    assert "labels a, b · exact copies" in group.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "issues_group.png"))

    group.get_by_role("button", name="Drop all").click()
    page.wait_for_function("() => [...document.querySelectorAll('[class*=st-key-rv_group_] "
                           "[data-testid=stCaptionContainer]')].filter(c => c.innerText.includes('dropped'))"
                           ".length === 2")
    rows = log_rows(root, key)
    assert sorted((i, a) for i, a, _ in rows) == sorted((i, "drop") for i in CONFLICT)
    assert len({event for _, _, event in rows}) == 1  # one click, one event for the whole group
