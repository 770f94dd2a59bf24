"""End to end in headless Chromium: upload an image zip, run, drop two samples, export.

Starts ``streamlit run app.py`` on a free port with a temporary workspace and drives
it with Playwright (Debian's ``/usr/bin/chromium``, no downloaded browser). Saves a
screenshot of every page under ``tests/artifacts/``.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from ui.layout import NAV

from test_app import image_zip

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: ``python -c`` launcher of ``streamlit run`` whose script threads each wait SCRIPT_START_DELAY seconds before
#: taking their first request: what a busy server does to them, on purpose and every time
DELAYED_SERVER = """
import os, sys, time
from streamlit.runtime.scriptrunner import script_runner
_run = script_runner.ScriptRunner._run_script_thread
def _late(self):
    time.sleep(float(os.environ["SCRIPT_START_DELAY"]))
    _run(self)
script_runner.ScriptRunner._run_script_thread = _late
from streamlit.web.cli import main
main(sys.argv[1:], prog_name="streamlit")
"""


def start_server(workspace: Path, log_path: Path, timeout: float = 60,
                 script_start_delay: float = 0) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on a free port; returns the process and its URL once healthy.

    ``script_start_delay``: every script run's thread starts that many seconds late (a loaded server, made
    reproducible), so a click that arrives before the previous click's run has started is tested."""
    port = free_port()
    env = {**os.environ, "DATAVAL_WORKSPACE": str(workspace), "SCRIPT_START_DELAY": str(script_start_delay)}
    env.pop("DATAVAL_RUN_PROCESS", None)  # the server as deployed: each valuation run in its own process
    log = open(log_path, "wb")
    launch = ["-c", DELAYED_SERVER] if script_start_delay else ["-m", "streamlit"]
    proc = subprocess.Popen([sys.executable, *launch, "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"streamlit did not start; see {log_path}")


def require_browser():
    """Skip the calling test or fixture, with how to fix it, when Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install it with 'apt-get install -y chromium'")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("browser")
    proc, url = start_server(tmp / "ws", tmp / "streamlit.log")
    yield url, tmp
    proc.terminate()
    proc.wait(timeout=20)


def settle(page, timeout_ms: float = WAIT_MS) -> None:
    """Wait until the app is connected, no script run is in progress and no element is stale.

    Callers first wait for something only the run they triggered draws, so this never
    returns on the state from before the run. ``timeout_ms``: the load benchmark waits longer.
    """
    page.wait_for_function("() => { const app = document.querySelector('[data-testid=stApp]');"
                           " return app && app.dataset.testConnectionState === 'CONNECTED'"
                           " && app.dataset.testScriptState === 'notRunning'"
                           " && !document.querySelector('[data-stale=true]'); }", timeout=timeout_ms)


def go(page, title: str) -> None:
    """Open a page from Streamlit's sidebar menu; wait for its URL (``?sid=`` kept) and its title."""
    path = {t: p for _, _, t, _, p in NAV}[title]
    page.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).click()
    page.wait_for_url(re.compile(rf"/{re.escape(path)}\?(.*&)?sid=\w+"))
    page.get_by_role("heading", name=title, exact=True).wait_for()
    settle(page)


def shot(page, name: str, directory: Path = ARTIFACTS) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main section, so the viewport is
    stretched to the content's height for the picture, then put back."""
    directory.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1500)  # charts and dataframes draw on a canvas after the run ends
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...['stMain', 'stMainBlockContainer', 'stSidebarContent'].map("
                           "t => document.querySelector(`[data-testid=${t}]`)?.scrollHeight || 0))")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 6000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def card_id(page, i: int) -> str:
    return page.locator(f".st-key-card_{i} [data-testid=stCaptionContainer] code").first.inner_text()


def test_upload_run_drop_two_export(server, browser):
    url, tmp = server
    zpath = tmp / "tiny.zip"
    zpath.write_bytes(image_zip())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.get_by_text("dataval — find and fix bad training samples").wait_for()
    settle(page)
    shot(page, "0_home")

    go(page, "Data")
    page.get_by_role("radio", name="Upload a file").click()
    page.locator("input[type=file]").set_input_files(str(zpath))  # waits for the uploader the click drew
    page.get_by_text("Loaded tiny").wait_for()
    settle(page)
    page.get_by_role("button", name="Use this dataset").click()
    page.get_by_text("tiny is now the current dataset").wait_for()
    settle(page)
    shot(page, "1_data")

    go(page, "Valuate")
    page.get_by_text("No trusted reference: all 24 images are valued in 5 rotating folds.").first.wait_for()
    page.get_by_role("button", name="Run", exact=True).click()
    # consensus in 5 rotating folds, torch loading first
    page.locator("[data-testid=stSidebar]").get_by_text("1 done").wait_for(timeout=180_000)
    settle(page)
    shot(page, "2_valuate")

    go(page, "Review")
    page.locator(".st-key-card_0").wait_for()
    shot(page, "3_review")
    dropped = []
    for _ in range(2):
        sample = card_id(page, 0)
        page.locator(".st-key-card_0").get_by_role("button", name="Drop", exact=True).click()
        page.wait_for_function(f"() => !document.querySelector('.st-key-card_0 code')"
                               f" || document.querySelector('.st-key-card_0 code').innerText !== {sample!r}")
        settle(page)
        dropped.append(sample)
    assert len(set(dropped)) == 2

    go(page, "Map")
    page.locator(".st-key-map_layout").get_by_role("radio", name="PCA (instant)").click()
    page.get_by_role("button", name="Draw the map").click()  # the click carries the layout just chosen
    plot = page.locator("[data-testid=stPlotlyChart] .nsewdrag").first
    plot.wait_for()
    settle(page)
    box = plot.bounding_box()
    # lasso (the chart's default drag mode) around the left 60% of the plot
    x0, y0, x1, y1 = box["x"] + 3, box["y"] + 3, box["x"] + box["width"] * 0.6, box["y"] + box["height"] - 3
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in [(x1, y0), (x1, y1), (x0, y1), (x0, y0 + 2)]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.get_by_text("samples selected").wait_for()
    settle(page)
    n_picked = int(page.get_by_text("samples selected").inner_text().split()[0].replace(",", ""))
    page.wait_for_function("() => document.querySelectorAll('.st-key-map_picked [data-testid=stImageCaption]')"
                           f".length === {min(n_picked, 24)}")  # the thumbnails draw after the count
    picked = set(page.locator(".st-key-map_picked [data-testid=stImageCaption]").all_inner_texts())
    assert 0 < n_picked < 24 and len(picked) == n_picked  # part of the 24 valued images, all shown
    shot(page, "4_map")
    page.get_by_role("button", name="Open in Review").click()
    page.get_by_text(f"Showing only the {n_picked} samples you selected").wait_for()
    settle(page)
    page.locator(".st-key-rv_status").click()  # show decided ones too: the two drops may be among them
    page.get_by_role("option", name="All", exact=True).click()
    page.wait_for_function(f"() => document.querySelectorAll('[class*=st-key-card_]').length === {n_picked}")
    settle(page)
    shown = page.evaluate("() => [...document.querySelectorAll('[class*=st-key-card_]')].map("
                          "c => c.querySelector('[data-testid=stCaptionContainer] code').innerText)")
    assert set(shown) == picked and len(shown) == n_picked
    page.get_by_role("button", name="Show all").click()
    page.wait_for_function("() => document.querySelectorAll('[class*=st-key-card_]').length === 24")
    settle(page)

    go(page, "Compare & check")
    shot(page, "5_compare")
    go(page, "Export")
    page.get_by_text("Decisions log").wait_for()
    shot(page, "6_export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Cleaned dataset").click()
    out = tmp / "cleaned.zip"
    info.value.save_as(out)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    with zipfile.ZipFile(zpath) as zf:
        original = set(zf.namelist())
    assert names == original - set(dropped)

    page.reload()  # the ?sid= in the URL restores the session on its page
    page.get_by_role("heading", name="Export", exact=True).wait_for()
    page.locator("[data-testid=stSidebar]").get_by_text("1 done").wait_for()

    other = browser.new_context().new_page()  # a second browser session sees none of it
    other.goto(url)
    other.get_by_text("No dataset yet").wait_for()
    other.close()
    page.close()
