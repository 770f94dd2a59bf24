"""Decisions under load in headless Chromium: lost clicks, writes nobody made, sessions not on their last action.

Set-up (not timed): a fresh workspace with ``--sessions`` sessions, each with its own record
of a 36-image dataset (27 valued, one finished knn_shapley run), and a session holding the
bundled 5,000 MNIST digits. Then ``streamlit run app.py`` on a free port, driven by
Playwright with Debian's ``/usr/bin/chromium``. The MNIST session starts a consensus run
from Valuate: that run goes on in the server the whole time (checked at the end).

Measured, with every session in its own browser context (``--sessions``, default 16):

* **per-card clicks**: each session clicks Drop or Keep on each of its 24 cards, 0.2-0.5 s
  apart (seeded), without waiting for the page to redraw, all sessions at once; after a
  reload, a click whose sample is not stored as clicked is **lost**;
* **bulk Drop / Keep / Drop** on each session's page (asked, then confirmed in every
  session at once, the next bulk right after): a log row that is not part of one of
  the 3 bulk writes of 24 rows is a **write nobody made**; a session whose stored state
  is not all Drop at the end is **not on its last action**.

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/decisions_load.py [--sessions 16]

Writes ``benchmarks/results/decisions_load.md``.
"""
from __future__ import annotations

import argparse
import datetime
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from _machine import machine_line
from test_browser_decisions import (
    BULKS,
    VIEWPORT,
    card_ids,
    css_key,
    current,
    log_rows,
    open_review,
    run_active,
    seed_loader,
    seed_sessions,
    start_valuation,
    wait_cards,
)

from test_browser import CHROMIUM, CHROMIUM_ARGS, settle, start_server

OUT = ROOT / "benchmarks" / "results" / "decisions_load.md"
WAIT_MS = 300_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    rng = random.Random(args.seed)
    command = "flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/decisions_load.py" + (
        f" --sessions {args.sessions}" if args.sessions != 16 else "")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        root = tmp / "ws"
        clickers = seed_sessions(root, tmp, args.sessions)
        (tmp / "b").mkdir()
        bulkers = seed_sessions(root, tmp / "b", args.sessions)
        loader_sid, loader_key = seed_loader(root)
        proc, url = start_server(root, tmp / "streamlit.log")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                clicks, bulks = [], []
                for sessions, into in ((clickers, clicks), (bulkers, bulks)):
                    for sid, _ in sessions:
                        page = open_review(browser.new_context(viewport=VIEWPORT), url, sid)
                        page.set_default_timeout(WAIT_MS)
                        into.append(page)
                for page in clicks + bulks:
                    wait_cards(page)
                loader = start_valuation(browser, url, root, loader_sid, loader_key)
                print(f"{len(clicks) + len(bulks)} sessions on Review; the consensus run on MNIST goes on",
                      flush=True)

                # per-card clicks, 0.2-0.5 s apart, the sessions in turn (one click each per round)
                wanted = [{i: rng.choice(("drop", "keep")) for i in card_ids(page)} for page in clicks]
                t = time.perf_counter()
                for n in range(24):
                    for page, plan in zip(clicks, wanted):
                        sample, action = list(plan.items())[n]
                        page.locator(f".st-key-rv_{action}_{css_key(sample)} button").click()
                    clicks[0].wait_for_timeout(rng.uniform(200, 500))
                for page in clicks:  # each session's count reaches 24 decided, or stops short (a lost click)
                    try:
                        page.get_by_text("· 24 of 27 decided").wait_for(timeout=60_000)
                    except PlaywrightTimeout:
                        pass
                    settle(page)
                    page.reload()
                    wait_cards(page)
                click_s = time.perf_counter() - t
                lost = sum(current(log_rows(root, key)).get(i) != a
                           for (_, key), plan in zip(clickers, wanted) for i, a in plan.items())
                click_rows = sum(len(log_rows(root, key)) for _, key in clickers)
                print(f"per-card: {lost} of {24 * len(clicks)} clicks lost, {click_rows} rows", flush=True)

                # bulk Drop / Keep / Drop in every session, confirmed everywhere at once
                shown = [card_ids(page) for page in bulks]
                t = time.perf_counter()
                for action in BULKS:
                    yes = f"Yes, {action} all 24 samples on this page"
                    for page in bulks:
                        page.locator(".st-key-rv_bulk").get_by_role("button", name=f"{action.capitalize()} 24").click()
                        page.get_by_role("button", name=yes).wait_for()
                    for page in bulks:
                        page.get_by_role("button", name=yes).click()
                for page in bulks:
                    page.wait_for_function("() => document.querySelectorAll('[class*=st-key-rv_drop_] "
                                           "button[kind=primary]').length === 24")
                    settle(page)
                bulk_s = time.perf_counter() - t
                still_running = run_active(root, loader_key)
                invented = off = 0
                for ids, (_, key) in zip(shown, bulkers):
                    rows = log_rows(root, key)
                    per_event: dict = {}
                    for *_, event in rows:
                        per_event[event] = per_event.get(event, 0) + 1
                    bulk_rows = sum(c for e, c in per_event.items() if e is not None and c == 24)
                    invented += len(rows) - min(bulk_rows, 24 * len(BULKS))
                    off += current(rows) != {i: BULKS[-1] for i in ids}
                print(f"bulk: {invented} writes nobody made, {off} sessions not on their last action; "
                      f"run still going: {still_running}", flush=True)
                loader.close()
                browser.close()
        finally:
            proc.kill()
            proc.wait(timeout=20)
    total = time.perf_counter() - started
    n = args.sessions
    text = f"""# Decisions under load (headless Chromium)

Machine: {machine_line()}.

Date: {datetime.date.today():%Y-%m-%d}. Command: `{command}`

Set-up: one `streamlit run app.py` server; {2 * n} browser sessions (Playwright contexts on Debian's Chromium, \
1024x900), each with its own record of a 36-image dataset (27 valued, one finished knn_shapley run), Review opened \
with *Show: All*, 24 cards a page. Meanwhile a {'' if still_running else 'NOT '}still-running consensus run on the \
bundled 5,000 MNIST digits, started from Valuate in another session, loads the same server process. Whole benchmark \
{total:.0f} s wall.

| measure | result |
|---|---:|
| per-card clicks ({n} sessions x 24 cards, Drop or Keep, 0.2-0.5 s apart, no wait for redraws) | {24 * n} clicks in \
{click_s:.0f} s |
| clicks lost (not stored as clicked after a reload) | **{lost}** |
| log rows written by those clicks | {click_rows} (one per click: {24 * n}) |
| bulk Drop / Keep / Drop ({n} sessions, 24 samples each, confirmed in every session at once) | {bulk_s:.0f} s |
| writes nobody made (log rows outside the 3 bulk writes of 24 per session) | **{invented}** |
| sessions whose final state is not their last action (Drop) | **{off}** of {n} |
| the valuation run was still going at the end | {'yes' if still_running else 'no'} |

Before this change (issue 18, a user walk in Chromium): 12 of 132 per-card clicks lost; 237 writes nobody made and \
4 of 16 sessions not on their last action with a valuation run going.
"""
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
