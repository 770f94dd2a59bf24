"""Decisions as events, in headless Chromium against a real ``streamlit run``.

(a) 24 per-card clicks 0.2 s apart, without waiting for the page to redraw: after a
reload every sample is stored (and shown) as clicked, one log row per click. The server's
script runs start SCRIPT_START_DELAY late, as on a busy server, so each click arrives while
the previous click's run is still waiting to start (Streamlit's fast reruns dropped such
clicks: 24 of 24 here, 10 of 24 under real load).
(b) 8 browser sessions (contexts), each on its own dataset, do bulk Drop / Keep / Drop on
their page while a valuation run goes on in the same server: no log row that no click
made, and every session ends on its last action.

The workspace is seeded without the UI (a small image dataset with a finished
knn_shapley run per session, and 5,000 MNIST digits whose consensus run is the load).
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from test_app import image_zip
from test_browser import WAIT_MS, require_browser, settle, start_server

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1024, "height": 900}
N_SESSIONS = 8
#: bulk actions of every session, in order (the last one is the state each must end in)
BULKS = ("drop", "keep", "drop")
#: cards on each of the 8 sessions' pages (a page-wide bulk writes them all)
BULK_CARDS = 12
#: seconds every script run of the test server waits before it starts (longer than the clicks' spacing)
SCRIPT_START_DELAY = 0.3


def css_key(key: str) -> str:
    """Streamlit's CSS class suffix for a widget key (characters other than letters, digits, - and _ become -)."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in key)


def seed_sessions(root: Path, tmp: Path, n: int) -> list[tuple[str, str]]:
    """``n`` sessions, each with its own record of one 36-image dataset (27 valued) and a finished knn_shapley
    run; returns (session id, record key) pairs. The run is computed once and saved to every record."""
    from dataval_core.io import load_dataset
    from dataval_core.jobs import JobManager
    from dataval_core.targets import split_target
    from ui.sessions import AppWorkspace

    zpath = tmp / "cards.zip"
    zpath.write_bytes(image_zip(per_class=12))
    ds = split_target(load_dataset(zpath, workdir=tmp / "cards"), 0.25)
    ws = AppWorkspace(root)
    out = []
    for _ in range(n):
        sid = ws.mint_session()
        out.append((sid, ws.add_dataset(sid, ds).key))
    jobs = JobManager(ws, max_workers=1)
    first = jobs.submit_run(out[0][1], ds, "knn_shapley")
    assert jobs.wait(first, timeout=120).status == "done"
    jobs.shutdown()
    result = ws.load_result(first)
    for _, key in out[1:]:
        run_id = ws.create_run(key, "knn_shapley", embedding=result.embedding, params=dict(result.params),
                               seed=result.seed)
        ws.save_result(run_id, result)
    return out


def seed_loader(root: Path) -> tuple[str, str]:
    """A session whose current dataset is the bundled MNIST sample with no reference: its default run (consensus
    on every row, cross-fitted: ten fits, minutes) loads the server for as long as the bulk actions take."""
    from dataval_core.samples import load_sample
    from ui.sessions import AppWorkspace

    ws = AppWorkspace(root)
    sid = ws.mint_session()
    return sid, ws.add_dataset(sid, load_sample("mnist")).key


def start_valuation(browser, url: str, root: Path, sid: str, key: str, wait_ms: float = WAIT_MS):
    """Click Run (the default consensus) on Valuate in a new browser session; return once the run is running
    (each step may take ``wait_ms``; the load benchmark gives a cold, loaded server longer)."""
    from dataval_core.workspace import Workspace

    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(wait_ms)
    page.goto(f"{url}/valuate?sid={sid}")
    page.get_by_role("button", name="Run", exact=True).click()
    ws = Workspace(root)
    deadline = time.monotonic() + wait_ms / 1000
    while time.monotonic() < deadline:  # the workspace is the state waited on
        if any(r.status == "running" for r in ws.list_runs(key)):
            return ctx
        page.wait_for_timeout(100)
    raise AssertionError("the valuation run never started")


def run_active(root: Path, key: str) -> bool:
    from dataval_core.workspace import Workspace

    return any(r.status in ("queued", "running") for r in Workspace(root).list_runs(key))


def log_rows(root: Path, key: str) -> list[tuple[str, str, str | None]]:
    """(id, action, event) of every row in the record's decisions log, oldest first."""
    with sqlite3.connect(root / "workspace.sqlite") as con:
        return con.execute("SELECT id, action, event FROM decisions WHERE dataset_key = ? ORDER BY seq",
                           (key,)).fetchall()


def current(rows: list[tuple[str, str, str | None]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for sample_id, action, _ in rows:
        out[sample_id] = action
    return {i: a for i, a in out.items() if a != "undecided"}


def card_ids(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('[class*=st-key-card_]')].map("
                         "c => c.querySelector('[data-testid=stCaptionContainer] code').innerText)")


def shown_choice(page) -> dict[str, str | None]:
    """Per card on screen, the decision its chosen (primary) button names (None: undecided)."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[class*=st-key-card_]')].map(c => {
        const id = c.querySelector('[data-testid=stCaptionContainer] code').innerText;
        const chosen = ['keep', 'drop'].filter(a => c.querySelector(`[class*=st-key-rv_${a}_] button[kind=primary]`));
        return [id, chosen.length === 1 ? chosen[0] : null]; }))""")


def open_review(ctx, url: str, sid: str, size: int = 24):
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}/review?sid={sid}&show=All&size={size}")
    return page


def wait_cards(page, n: int = 24) -> None:
    """Wait until ``n`` cards are drawn with their decision buttons (these mount a moment after the cards)."""
    page.locator(f".st-key-card_{n - 1}").wait_for()
    page.wait_for_function(f"() => document.querySelectorAll('[class*=st-key-rv_drop_] button').length === {n}")
    settle(page)


def all_chosen(page, action: str, n: int = 24) -> None:
    """Wait until every card on the page shows ``action`` as its stored decision."""
    page.wait_for_function(f"() => document.querySelectorAll('[class*=st-key-rv_{action}_] button[kind=primary]')"
                           f".length === {n}")
    settle(page)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("decisions")
    root = tmp / "ws"
    sessions = seed_sessions(root, tmp, N_SESSIONS + 1)
    loader = seed_loader(root)
    proc, url = start_server(root, tmp / "streamlit.log", script_start_delay=SCRIPT_START_DELAY)
    yield url, root, sessions, loader
    proc.kill()  # a valuation run may still be going: no graceful shutdown to wait for
    proc.wait(timeout=20)


def test_24_card_clicks_0_2_s_apart_are_all_saved_as_clicked(server, browser):
    url, root, sessions, _ = server
    sid, key = sessions[-1]
    ctx = browser.new_context(viewport=VIEWPORT)
    page = open_review(ctx, url, sid)
    wait_cards(page)
    ids = card_ids(page)
    assert len(ids) == 24
    clicked = {i: ("drop" if n % 2 == 0 else "keep") for n, i in enumerate(ids)}
    for i, action in clicked.items():  # no waiting for the page: the 0.2 s spacing is what is tested
        page.locator(f".st-key-rv_{action}_{css_key(i)} button").click()
        page.wait_for_timeout(200)
    page.get_by_text("· 24 of 27 decided").wait_for()
    settle(page)
    page.reload()
    wait_cards(page)
    assert current(log_rows(root, key)) == clicked
    assert len(log_rows(root, key)) == 24  # one row per click, none twice
    assert len({e for *_, e in log_rows(root, key)}) == 24  # each with its own click's key
    assert shown_choice(page) == clicked  # after the reload, each card shows what was stored
    ctx.close()


def test_8_sessions_bulk_drop_keep_drop_during_a_valuation_run(server, browser):
    url, root, sessions, (loader_sid, loader_key) = server
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(N_SESSIONS)]
    pages = [open_review(ctx, url, sid, BULK_CARDS) for ctx, (sid, _) in zip(contexts, sessions)]
    for page in pages:
        wait_cards(page, BULK_CARDS)
    loader = start_valuation(browser, url, root, loader_sid, loader_key)  # the load, from here to the end
    shown = [card_ids(page) for page in pages]
    for action in BULKS:  # every session asks, then all confirm at once; the next bulk follows without a pause
        yes = f"Yes, {action} all {BULK_CARDS} samples on this page"
        for page in pages:
            page.locator(".st-key-rv_bulk").get_by_role("button", name=f"{action.capitalize()} {BULK_CARDS}").click()
            page.get_by_role("button", name=yes).wait_for()
        for page in pages:
            page.get_by_role("button", name=yes).click()
    for page in pages:
        all_chosen(page, BULKS[-1], BULK_CARDS)
    assert run_active(root, loader_key), "the valuation run ended before the bulks did: nothing was under load"

    for ids, (_, key) in zip(shown, sessions):
        rows = log_rows(root, key)
        per_event: dict[str | None, int] = {}
        for *_, event in rows:
            per_event[event] = per_event.get(event, 0) + 1
        # three clicks, three writes of the whole page: no row that no click made
        assert sorted(per_event.values()) == [BULK_CARDS] * 3 and None not in per_event, per_event
        assert current(rows) == {i: BULKS[-1] for i in ids}  # the final state is the last action
    for ctx in contexts:
        ctx.close()
    loader.close()
