"""End to end in headless Chromium, on a server just started: the one-click demo as the very first action,
then the curator's tools on its Review page (tick + bulk drop, then the ticks;
undo; jump to an id; zoom; four tabs confirming page-wide drops at once), and a table upload scored
against its own truth column with per-row decisions in the Table view.

Screenshots at 1024 px wide go to ``tests/artifacts/`` (``curation_*.png``), and the first screen of the
Review page (grid and table) at 1024×768 and 1400×900 (``curation_*_first_*.png``).
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import pandas as pd
import pytest

from test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    WAIT_MS,
    go,
    require_browser,
    settle,
    shot,
    start_server,
)

pytestmark = pytest.mark.browser
WIDTH = 1024


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("curation")
    proc, url = start_server(tmp / "ws", tmp / "streamlit.log")
    yield url, tmp
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(fresh_server):
    from playwright.sync_api import sync_playwright

    url, _ = fresh_server
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        p = b.new_page(viewport={"width": WIDTH, "height": 900})
        p.set_default_timeout(WAIT_MS)
        p.goto(url)
        p.get_by_text("dataval — find and fix bad training samples").wait_for()
        settle(p)
        yield p
        b.close()


def decisions(tmp: Path) -> dict[str, str]:
    """The current decision per sample id, read from the server's workspace."""
    with sqlite3.connect(tmp / "ws" / "workspace.sqlite") as con:
        rows = con.execute("SELECT id, action FROM decisions ORDER BY seq").fetchall()
    out: dict[str, str] = {}
    for i, a in rows:
        out[i] = a
    return {i: a for i, a in out.items() if a != "undecided"}


def first_screen(page, name: str, width: int, height: int, shown: str) -> dict:
    """Screenshot of what a window of ``width`` × ``height`` shows first, and facts measured on it: the first
    card's top, cards in the first row, labels cut short (an ellipsis) on buttons, the table's height.
    ``shown``: a selector the page must show (the first card, the table) before anything is measured."""
    size = page.viewport_size
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_function(f"() => window.innerWidth === {width}")
    settle(page)
    page.evaluate("() => document.querySelector('[data-testid=stMain]')?.scrollTo(0, 0)")
    page.mouse.move(width - 5, height - 5)  # no tooltip left over from the last click
    page.wait_for_function(f"() => !!document.querySelector({shown!r})"
                           " && !document.querySelector('[data-testid=stMain] [data-testid=stSkeleton]')"
                           " && [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete)")
    page.wait_for_timeout(700)  # the flex rows re-wrap and the table redraws on its canvas
    facts = page.evaluate("""() => {
        const cards = [...document.querySelectorAll('[class*=st-key-card_]')];
        const tops = cards.map(c => Math.round(c.getBoundingClientRect().top));
        const cut = [...document.querySelectorAll('[data-testid=stMain] button')]
            .flatMap(b => [...b.querySelectorAll('[data-testid=stMarkdownContainer] p')])
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => e.innerText);
        const table = document.querySelector('[data-testid=stDataFrame]');
        const row = cards.filter((c, i) => tops[i] === tops[0]);
        return {card_top: tops.length ? tops[0] : null, first_row: row.length,
                card_bottom: Math.max(...row.map(c => c.getBoundingClientRect().bottom)),
                cut: cut, table_top: table ? table.getBoundingClientRect().top : null,
                table_height: table ? table.getBoundingClientRect().height : null};
    }""")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size(size)
    page.wait_for_function(f"() => window.innerWidth === {size['width']}")
    settle(page)
    return facts


def card_ids(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('[class*=st-key-card_]')].map("
                         "c => c.querySelector('[data-testid=stCaptionContainer] code').innerText)")


def test_demo_right_after_server_start_then_review_tools(fresh_server, page):
    _, tmp = fresh_server
    page.get_by_role("button", name="Run the demo").click()
    page.locator(".st-key-card_0").wait_for(timeout=300_000)  # Valuate polls until the run is done, then Review
    settle(page)
    assert page.locator("h1").first.inner_text().startswith("Review")
    page.wait_for_function("() => [...document.querySelectorAll('[class*=st-key-card_] img')].filter("
                           "i => i.complete && i.naturalWidth > 0).length === 24")
    shot(page, "curation_review_1024")
    # the first screen holds the toolbar and whole cards, no card button label is cut short, and the cards
    # fill the width: 4 a row at 1024 px, more when wider
    for width, height, per_row in ((1024, 768, 4), (1280, 800, 5), (1400, 900, 5)):
        facts = first_screen(page, f"curation_review_first_{width}", width, height, ".st-key-card_0")
        assert facts["card_top"] is not None and facts["card_bottom"] <= height, facts  # a whole row of cards
        assert facts["first_row"] >= per_row and facts["cut"] == [], facts
    # the table view of the same page: all 24 rows in view at once, no 10-row box
    page.locator(".st-key-rv_view").get_by_role("radio", name="Table").click()
    page.locator("[data-testid=stDataFrame]").first.wait_for()
    settle(page)
    for width, height in ((1024, 768), (1400, 900)):
        facts = first_screen(page, f"curation_review_table_first_{width}", width, height, "[data-testid=stDataFrame]")
        assert facts["table_top"] < height - 300 and facts["table_height"] >= 35 * 25 and facts["cut"] == [], facts
    page.locator(".st-key-rv_view").get_by_role("radio", name="Grid").click()
    page.locator(".st-key-card_23").wait_for()
    settle(page)

    ids = card_ids(page)
    assert len(ids) == 24
    for i in (0, 1):  # tick the first two cards, then drop them in bulk
        page.locator(f".st-key-card_{i} [data-testid=stCheckbox]").click()
        settle(page)
    page.locator(".st-key-rv_bulk").get_by_role("button", name="Drop 2").click()
    settle(page)
    page.wait_for_function(f"() => document.querySelector('.st-key-card_0 code')?.innerText === {ids[2]!r}")
    settle(page)
    assert decisions(tmp) == {ids[0]: "drop", ids[1]: "drop"}
    now = card_ids(page)
    assert now[:22] == ids[2:24]
    checked = page.evaluate("() => [...document.querySelectorAll('[class*=st-key-card_] input[type=checkbox]')]"
                            ".filter(i => i.checked).map(i => i.closest('[class*=st-key-rv_tick]').className)")
    assert checked == []  # no tick moved up
    assert "this page (24 samples)" in page.locator(".st-key-rv_bulk").inner_text()

    page.locator(".st-key-rv_bulk").get_by_role("button", name="Drop 24").click()  # nothing ticked: asks first
    settle(page)
    page.get_by_role("button", name="Yes, drop all 24 samples on this page").wait_for()
    assert len(decisions(tmp)) == 2
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Yes, drop all 24 samples on this page").wait_for(state="hidden")
    settle(page)  # the run the Cancel started is over (waited on what only it does), so one Undo button is drawn

    page.get_by_role("button", name="Undo").click()
    # the bulk drop was one step: both samples come back
    page.wait_for_function(f"() => document.querySelector('.st-key-card_0 code')?.innerText === {ids[0]!r}")
    settle(page)
    assert decisions(tmp) == {} and card_ids(page) == ids

    target = now[-1]
    page.locator(".st-key-rv_filters button").first.click()  # "Go to id" sits in the Filters popover
    page.locator("[class*=st-key-rv_jump_] input").fill(target)
    page.locator("[class*=st-key-rv_jump_] input").press("Enter")
    settle(page)
    page.keyboard.press("Escape")  # close the popover
    page.locator("[class*=st-key-rv_jump_] input").wait_for(state="hidden")
    page.wait_for_function("() => document.querySelectorAll('[class*=st-key-card_]').length === 1")
    assert card_ids(page) == [target]
    page.locator(".st-key-card_0").locator(f".st-key-rv_zoom_{_key(target)} button").first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    box = dialog.locator("img").first.bounding_box()
    assert box["width"] >= 300  # the 28 px digit, enlarged
    shot(page, "curation_zoom_1024")
    page.keyboard.press("Escape")
    settle(page)
    page.get_by_role("button", name="Show all").click()
    page.wait_for_function("() => document.querySelectorAll('[class*=st-key-card_]').length === 24")
    settle(page)

    # three cards decided in quick succession, without waiting for the page to redraw: none is lost
    for i in range(3):
        page.locator(f".st-key-card_{i}").get_by_role("button", name="Keep", exact=True).click()
    page.get_by_text(re.compile(r"· 3 of [\d,]+ decided")).wait_for()  # the last click's run has saved it
    settle(page)
    assert len(decisions(tmp)) == 3 and set(decisions(tmp).values()) == {"keep"}
    shot(page, "curation_after_keys_1024")

    kept = decisions(tmp)
    # four tabs of this session, on 12-card grid pages 2-5, confirm a page-wide drop at the same moment: all 48 land
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    tabs, shown = [page.context.browser.new_page(viewport={"width": WIDTH, "height": 900}) for _ in range(4)], []
    for number, tab in enumerate(tabs, start=2):
        tab.set_default_timeout(WAIT_MS)
        tab.goto(urlsplit(page.url)._replace(
            query=urlencode({**query, "show": "All", "size": 12, "page": number})).geturl())
        tab.locator(".st-key-card_11").wait_for()
        settle(tab)
        shown.append(card_ids(tab))
        tab.locator(".st-key-rv_bulk").get_by_role("button", name="Drop 12").click()
        tab.get_by_role("button", name="Yes, drop all 12 samples on this page").wait_for()
        settle(tab)
    for tab in tabs:  # no waiting between the clicks: the server takes four reruns at once
        tab.get_by_role("button", name="Yes, drop all 12 samples on this page").click()
    for tab in tabs:
        tab.locator(".st-key-rv_confirm").wait_for(state="detached")
        settle(tab)
        tab.close()
    dropped = {i for ids_on_page in shown for i in ids_on_page}
    assert len(dropped) == 48 and not dropped & set(kept)
    assert decisions(tmp) == {**kept, **{i: "drop" for i in dropped}}


def _key(sample_id: str) -> str:
    """Streamlit's CSS class for a widget key (characters other than letters, digits, - and _ become -)."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in sample_id)


def test_table_truth_column_scoring_and_per_row_decisions(fresh_server, page):
    _, tmp = fresh_server
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame({"x1": rng.normal(y * 2.0, 1), "x2": rng.normal(-y * 2.0, 1),
                          "colour": rng.choice(["red", "blue"], n), "label": np.where(y == 1, "yes", "no")})
    bad = np.arange(n) % 8 == 0
    frame.loc[bad, "label"] = np.where(y[bad] == 1, "no", "yes")
    frame["known_bad"] = bad
    path = tmp / "people.csv"
    frame.to_csv(path, index=False)

    go(page, "Data")
    page.get_by_role("radio", name="Upload a file").click()
    settle(page)
    page.locator("input[type=file]").first.set_input_files(str(path))
    page.get_by_text("Loaded people").wait_for()
    page.get_by_text("one-hot encoded").wait_for()
    settle(page)
    page.get_by_role("button", name="Use this dataset").click()
    page.get_by_text("people is now the current dataset").wait_for()
    settle(page)
    go(page, "Valuate")
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator("[data-testid=stSidebar]").get_by_text("1 done").wait_for(timeout=180_000)  # torch loads first
    settle(page)
    shot(page, "curation_valuate_1024")

    from dataval_core.workspace import Workspace

    ws = Workspace(tmp / "ws")
    (record,) = [d for d in ws.list_datasets() if d.name == "people"]
    assert "known_bad" not in ws.load_dataset(record.key).feature_columns  # left out of the features by default
    go(page, "Compare & check")
    page.get_by_text("Column marking bad rows").wait_for()
    page.get_by_text("valued rows are known bad").wait_for()
    page.locator("[data-testid=stPlotlyChart] .main-svg .scatterlayer").first.wait_for()
    settle(page)
    assert page.get_by_text("also a feature the methods saw").count() == 0
    shot(page, "curation_compare_1024")

    go(page, "Review")
    editor = page.locator("[data-testid=stDataFrame]").first
    editor.wait_for()
    settle(page)
    before = set(decisions(tmp))
    for row in (0, 1):  # tick rows 1 and 2 in the table's first (tick) column
        editor.scroll_into_view_if_needed()
        box = editor.bounding_box()
        page.mouse.click(box["x"] + 30, box["y"] + 35 * (row + 1) + 17)  # select the tick cell, then toggle it
        page.wait_for_function("() => !!document.querySelector('[data-testid=stDataFrame] td[aria-selected=true]')")
        page.keyboard.press(" ")
        page.wait_for_function(f"() => document.querySelector('.st-key-rv_bulk').innerText.includes("
                               f"'the {row + 1} ticked sample')")
        settle(page)
    keep = page.locator(".st-key-rv_bulk").get_by_role("button", name="Keep 2", exact=True)
    keep.click()
    # the ticks clear once the keep is saved: wait on that state before reading the workspace
    page.wait_for_function("() => document.querySelector('.st-key-rv_bulk').innerText.includes('this page')")
    settle(page)
    lowest = set(ws.load_result(ws.list_runs(record.key)[0].run_id).lowest(2))
    assert set(decisions(tmp)) - before == lowest  # exactly the two rows ticked
    page.wait_for_function("() => document.querySelector('.st-key-rv_bulk').innerText.includes('this page')")
    shot(page, "curation_table_1024")

    # one row's decision set in place: first row's decision cell (next to the tick), "drop"
    third = ws.load_result(ws.list_runs(record.key)[0].run_id).lowest(3)[2]  # the first undecided row now
    editor.scroll_into_view_if_needed()
    box = editor.bounding_box()
    page.mouse.click(box["x"] + 30, box["y"] + 35 + 17)
    page.wait_for_function("() => !!document.querySelector('[data-testid=stDataFrame] td[aria-selected=true]')")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.get_by_role("option", name="drop", exact=True).click()
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"· 3 of [\d,]+ decided")).wait_for()
    settle(page)
    assert decisions(tmp)[third] == "drop" and len(decisions(tmp)) == len(before) + 3
    for width, height in ((1024, 768), (1400, 900)):  # a page of 24 rows shows whole: no 10-row box
        facts = first_screen(page, f"curation_table_first_{width}", width, height, "[data-testid=stDataFrame]")
        assert facts["table_top"] < height - 300 and facts["table_height"] >= 35 * 25, facts

    # a click on a given-vs-suggested cell of the overview opens exactly those samples
    page.get_by_text("Overview: classes, and given vs suggested labels").click()
    point = page.locator(".st-key-rv_confusion .scatterlayer .point").first
    point.wait_for()
    settle(page)
    # the overview's table and chart settle their heights after the expander opens: wait until the cell has
    # stayed put for half a second in view, then hover it (plotly picks the clicked point from its hover)
    page.wait_for_function("""() => {
        const el = document.querySelector('.st-key-rv_confusion .scatterlayer .point');
        const r = el.getBoundingClientRect(), key = `${r.x},${r.y}`;
        if (r.top < 0 || r.bottom > window.innerHeight) { el.scrollIntoView({block: 'center'}); window.__still = 0; }
        else { window.__still = window.__cellAt === key ? (window.__still || 0) + 1 : 0; }
        window.__cellAt = key;
        return window.__still >= 30;
    }""")
    pbox = point.bounding_box()
    cx, cy = pbox["x"] + pbox["width"] / 2, pbox["y"] + pbox["height"] / 2
    page.mouse.move(cx, cy)
    page.locator(".st-key-rv_confusion .hoverlayer .hovertext").wait_for()
    page.mouse.click(cx, cy)
    open_cell = page.get_by_role("button", name=re.compile(r"Review the [\d,]+ samples labeled"))
    open_cell.wait_for()
    count = int(re.search(r"Review the ([\d,]+) samples", open_cell.inner_text()).group(1).replace(",", ""))
    settle(page)
    open_cell.click()
    page.get_by_text(f"Showing only the {count:,} samples you selected").wait_for()
    settle(page)
    assert page.get_by_text(re.compile(rf"^{count:,} match")).count() == 1
