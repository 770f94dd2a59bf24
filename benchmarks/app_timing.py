"""How fast the app's pages show up in a real browser (headless Chromium), on the bundled 5k MNIST.

Set-up (not timed): a fresh workspace with the bundled MNIST sample prepared as the
one-click demo does (20% target, 10% confusable-pair label flips), a finished
knn_shapley run, and the run's UMAP coordinates already in the disk cache. Then
``streamlit run app.py`` on a free port, driven by Playwright with Debian's
``/usr/bin/chromium`` (no downloaded browser).

Measured per page (Home, Data, Valuate, Review, Map, Compare & check, Export):

* **first paint**: the browser's first-contentful-paint of a full page load (the URL
  typed in, a new websocket session), from navigation start;
* **content, full load**: from navigation start until the page's main content is on
  screen (see ``CONTENT``: e.g. Review = all 24 card images decoded, Compare = the
  detection chart drawn, Valuate = the runs table);
* **content, sidebar click**: from the click on the page's sidebar link (same session)
  until that content is on screen: the usual way pages are opened.

The first full load of each page in a fresh server (cold: imports, caches) is reported
apart from the median of ``--repeat`` later ones. Then: Review with 100 per page
(from choosing 100 until all 100 images are decoded; first time = thumbnails made,
again = thumbnails cached), drawing the map (coordinates cached on disk), and the
one-click demo in a new browser session (click → Review showing the digits) with the
share of injected flips among the first page of cards.

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/app_timing.py [--repeat 3] [--shots DIR]

Writes ``benchmarks/results/app_timing.md``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from _machine import machine_line

import test_browser as browser_test
from test_browser import CHROMIUM, CHROMIUM_ARGS, start_server

OUT = ROOT / "benchmarks" / "results" / "app_timing.md"
WAIT_MS = 180_000
#: browser window: 1024 px wide, the smallest laptop width the layout must fit without clipping
VIEWPORT = {"width": 1024, "height": 900}
#: targets for the Review page's interactions (seconds)
RUN_SWITCH_TARGET, CARD_CLICK_TARGET = 3.0, 1.5

#: JavaScript: every <img> under ``sel`` is decoded (and there are ``n`` of them)
_IMGS = ("(() => {{ const im = [...document.querySelectorAll('{sel}')]; "
         "return im.length === {n} && im.every(i => i.complete && i.naturalWidth > 0); }})()")


def _title(text: str) -> str:
    return f"[...document.querySelectorAll('h1')].some(h => h.innerText.trim().startsWith({text!r}))"


#: (sidebar label, URL path, JavaScript that is true once the page's main content is on screen)
PAGES = [
    ("Home", "", _title("dataval") + " && [...document.querySelectorAll('[data-testid=stPageLink] span')]"
                                     ".some(s => s.innerText.includes('6. Export'))"),
    ("Data", "data", _title("Data") + " && !!document.querySelector('.st-key-data_source button')"
                                      " && !!document.querySelector('.st-key-data_load_sample button')"),
    ("Valuate", "valuate", _title("Valuate") + " && !!document.querySelector('[data-testid=stDataFrame] canvas')"
                                               " && !!document.querySelector('.st-key-val_run button')"),
    ("Review", "review", _title("Review") + " && " + _IMGS.format(sel="[class*=st-key-card_] img", n=24)),
    ("Map", "map", _title("Map") + " && (!!document.querySelector('.st-key-map_draw button')"
                                   " || !!document.querySelector('[data-testid=stPlotlyChart] .main-svg'))"),
    ("Compare & check", "compare", _title("Compare") + " && !!document.querySelector("
                                                       "'[data-testid=stPlotlyChart] .main-svg .scatterlayer')"),
    ("Export", "export", _title("Export") + " && document.querySelectorAll('[data-testid=stDownloadButton]')"
                                            ".length === 5 && !!document.querySelector('[data-testid=stMetric]')"),
]


def prepare_workspace(root: Path) -> tuple[str, str, dict]:
    """The demo dataset, a finished knn_shapley run and its cached map, in a new workspace."""
    from dataval_core.embeddings import build_problem
    from dataval_core.jobs import JobManager
    from dataval_core.noise import inject_label_noise
    from dataval_core.projection import map_coordinates
    from dataval_core.samples import load_sample
    from dataval_core.targets import split_target
    from ui.actions import DEMO
    from ui.sessions import AppWorkspace, new_session_id

    ws = AppWorkspace(root)
    ds = split_target(load_sample(DEMO["sample"]), DEMO["target_frac"], seed=DEMO["seed"])
    ds = inject_label_noise(ds, DEMO["noise_rate"], DEMO["noise_kind"], seed=DEMO["seed"], mapping=DEMO["pairs"])
    sid = new_session_id()
    record = ws.add_dataset(sid, ds)
    jobs = JobManager(ws, max_workers=1)
    t = time.perf_counter()
    run_id = jobs.submit_run(record.key, ds, DEMO["method"], seed=DEMO["seed"])
    snap = jobs.wait(run_id, timeout=1800)
    assert snap.status == "done", snap
    run_s = time.perf_counter() - t
    other = jobs.submit_run(record.key, ds, "random", seed=DEMO["seed"])  # a second run to switch to on Review
    assert jobs.wait(other, timeout=600).status == "done"
    jobs.shutdown()
    run = ws.run_record(run_id)
    t = time.perf_counter()
    problem = build_problem(ds, run.embedding, seed=run.seed, cache_dir=ws.cache_dir)
    coords = map_coordinates(problem.x, problem.ids, seed=run.seed, cache_dir=ws.cache_dir)
    map_s = time.perf_counter() - t
    info = {"valued": int((~ds.is_target).sum()), "flipped": int(ds.noisy[~ds.is_target].sum()),
            "run_s": run_s, "map_s": map_s, "map_note": coords.note,
            "runs": {ws.run_record(run_id).label: ws.run_record(other).label}}
    print(f"set-up: knn_shapley {run_s:.1f} s, map {map_s:.1f} s ({coords.note})", flush=True)
    return sid, record.key, info


def settle(page) -> None:
    page.wait_for_timeout(200)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=WAIT_MS)


def full_load(page, url: str, path: str, check: str, sid: str) -> tuple[float, float]:
    """(first paint, content visible), both in seconds from navigation start, of one full page load."""
    page.goto("about:blank")
    page.goto(f"{url}/{path}?sid={sid}", wait_until="commit")
    page.wait_for_function(f"() => {check}", timeout=WAIT_MS, polling=20)
    content = page.evaluate("() => performance.now()") / 1000
    fcp = page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
    settle(page)
    return (fcp or float("nan")) / 1000, content


def click_load(page, label: str, check: str) -> float:
    """Seconds from a click on the sidebar link until the page's content is visible."""
    link = page.locator("[data-testid=stSidebarNav]").get_by_text(label, exact=True)
    t = time.perf_counter()
    link.click()
    page.wait_for_function(f"() => {check}", timeout=WAIT_MS, polling=20)
    out = time.perf_counter() - t
    settle(page)
    return out


def choose(page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox with widget key ``key``."""
    page.locator(f".st-key-{key}").click()
    page.get_by_role("option", name=option, exact=True).click()


def shot(page, shots: Path | None, name: str) -> None:
    """The e2e test's full-page screenshot, into ``shots`` when given."""
    if shots is not None:
        browser_test.shot(page, name, shots)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3, help="warm loads per page (the median is reported)")
    p.add_argument("--shots", type=Path, default=None, help="also save a screenshot of each page here")
    p.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sid, key, info = prepare_workspace(tmp / "ws")
        proc, url = start_server(tmp / "ws", tmp / "streamlit.log", timeout=90)
        rows, extra = [], {}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(WAIT_MS)
                for label, path, check in PAGES:
                    cold = full_load(page, url, path, check, sid)
                    warm = [full_load(page, url, path, check, sid) for _ in range(args.repeat)]
                    rows.append({"page": label, "cold_fcp": cold[0], "cold": cold[1],
                                 "fcp": statistics.median(w[0] for w in warm),
                                 "full": statistics.median(w[1] for w in warm)})
                    print(f"{label:<16} cold: paint {cold[0]:.2f} s, content {cold[1]:.2f} s; warm median: "
                          f"paint {rows[-1]['fcp']:.2f} s, content {rows[-1]['full']:.2f} s", flush=True)
                # sidebar clicks, in menu order, each from the previous page, repeated
                page.goto(f"{url}/?sid={sid}")
                settle(page)
                clicks = {label: [] for label, _, _ in PAGES}
                for _ in range(args.repeat):
                    for label, _, check in PAGES[1:] + PAGES[:1]:
                        clicks[label].append(click_load(page, label, check))
                for row in rows:
                    row["click"] = statistics.median(clicks[row["page"]])
                    print(f"{row['page']:<16} sidebar click: {row['click']:.2f} s", flush=True)
                if args.shots:
                    for i, (label, _, check) in enumerate(PAGES):
                        if label != "Map":  # shot below, with the map drawn
                            click_load(page, label, check)
                            shot(page, args.shots, f"{i}_{label.split()[0].lower()}")

                # Review, 100 per page: the 100 lowest-valued images
                click_load(page, "Review", PAGES[3][2])
                hundred = _IMGS.format(sel="[class*=st-key-card_] img", n=100)
                times = []
                for size in ("100", "24", "100"):
                    t = time.perf_counter()
                    choose(page, "rv_size", size)
                    page.wait_for_function(f"() => {hundred if size == '100' else PAGES[3][2]}",
                                           timeout=WAIT_MS, polling=20)
                    times.append(time.perf_counter() - t)
                    settle(page)
                extra["hundred_first"], extra["hundred_again"] = times[0], times[2]
                print(f"Review 100 per page: {times[0]:.2f} s first, {times[2]:.2f} s again", flush=True)
                shot(page, args.shots, "3_review_100")

                # Review: switch the run in the grid, and decide one card, until the new cards' images are decoded
                choose(page, "rv_size", "24")
                settle(page)
                first = "document.querySelector('.st-key-card_0 code')?.innerText"
                (knn_label, random_label), = info["runs"].items()
                switches, clicks_card = [], []
                for _ in range(args.repeat):
                    for label in (random_label, knn_label):
                        before = page.evaluate(f"() => {first}")
                        t = time.perf_counter()
                        choose(page, "rv_run", label)
                        page.wait_for_function(f"() => {first} !== {before!r} && {PAGES[3][2]}", timeout=WAIT_MS,
                                               polling=20)
                        switches.append(time.perf_counter() - t)
                        settle(page)
                for _ in range(args.repeat):
                    before = page.evaluate(f"() => {first}")
                    t = time.perf_counter()
                    page.locator(".st-key-card_0").get_by_role("button", name="Drop", exact=True).click()
                    page.wait_for_function(f"() => {first} !== {before!r} && {PAGES[3][2]}", timeout=WAIT_MS,
                                           polling=20)
                    clicks_card.append(time.perf_counter() - t)
                    settle(page)
                extra["run_switch"], extra["card_click"] = statistics.median(switches), statistics.median(clicks_card)
                extra["run_switch_max"], extra["card_click_max"] = max(switches), max(clicks_card)
                print(f"Review: run switch {extra['run_switch']:.2f} s (max {extra['run_switch_max']:.2f}), card click "
                      f"{extra['card_click']:.2f} s (max {extra['card_click_max']:.2f})", flush=True)

                # the map: click Draw (UMAP coordinates already in the disk cache), then a revisit
                click_load(page, "Map", PAGES[4][2])
                chart = "!!document.querySelector('[data-testid=stPlotlyChart] .main-svg')"
                t = time.perf_counter()
                page.locator(".st-key-map_draw button").click()
                page.wait_for_function(f"() => {chart}", timeout=WAIT_MS, polling=20)
                extra["map_draw"] = time.perf_counter() - t
                settle(page)
                shot(page, args.shots, "4_map")
                revisits = []
                for _ in range(args.repeat):
                    click_load(page, "Home", PAGES[0][2])
                    revisits.append(click_load(page, "Map", _title("Map") + " && " + chart))
                extra["map_revisit"] = statistics.median(revisits)
                print(f"Map: draw (cached coordinates) {extra['map_draw']:.2f} s, revisit {extra['map_revisit']:.2f} s",
                      flush=True)

                # the one-click demo in a new session: click → Review with the lowest-valued digits
                demo = browser.new_context(viewport=VIEWPORT).new_page()
                demo.set_default_timeout(WAIT_MS)
                demo.goto(url)
                demo.wait_for_function(f"() => {PAGES[0][2]}", timeout=WAIT_MS)
                settle(demo)
                t = time.perf_counter()
                demo.get_by_role("button", name="Run the demo").click()
                demo.wait_for_function(f"() => {PAGES[3][2]}", timeout=WAIT_MS, polling=50)
                extra["demo_s"] = time.perf_counter() - t
                settle(demo)
                notes = demo.locator("[class*=st-key-card_] [data-testid=stCaptionContainer]").all_inner_texts()
                extra["demo_cards"] = len(notes)
                extra["demo_flipped"] = sum("injected flip" in n for n in notes)
                print(f"demo: Review after {extra['demo_s']:.1f} s; {extra['demo_flipped']} of "
                      f"{extra['demo_cards']} cards on the first page are injected flips", flush=True)
                shot(demo, args.shots, "demo_review")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    load = f"1-min load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    lines = [
        "# App timing (headless Chromium)", "",
        f"Machine: {machine_line()}; {load} (the machine is shared, so times vary).", "",
        f"Date: {datetime.date.today():%Y-%m-%d}. Command: "
        f"`flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/app_timing.py --repeat {args.repeat}`", "",
        "Data: the bundled MNIST sample (5,000 images 28×28), 20% target set, 10% confusable-pair label flips "
        f"({info['flipped']} of {info['valued']:,} valued images), one finished knn_shapley run "
        f"({info['run_s']:.1f} s in set-up), map coordinates in the disk cache ({info['map_note']}, "
        f"{info['map_s']:.0f} s in set-up incl. numba compile), and a finished random run (to switch to). Browser: "
        f"Debian's Chromium via Playwright, {VIEWPORT['width']}×{VIEWPORT['height']} window, on the same machine as "
        "the server.", "",
        "**First paint** = the browser's first-contentful-paint of a full page load (mostly Streamlit's shell). "
        "**Content** = until the page's main content is on screen: Home the step cards, Data the source picker, "
        "Valuate the runs table, Review all 24 card images decoded, Map the *Draw the map* button (the map "
        "itself: below), Compare the detection chart drawn, Export the five download buttons. "
        "*Full load* times start at navigation start (new browser session over the `?sid=` URL); *sidebar "
        "click* times start at the click (same session). Cold = the first full load of that page in a fresh "
        f"server process; the others are medians of {args.repeat}.", "",
        "| page | first paint, cold (s) | content, cold (s) | first paint (s) | content, full load (s) "
        "| content, sidebar click (s) |",
        "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['page']} | {r['cold_fcp']:.2f} | {r['cold']:.2f} | {r['fcp']:.2f} | {r['full']:.2f} "
              f"| {r['click']:.2f} |" for r in rows]
    lines += [
        "", "## Review: the 100 lowest-valued images", "",
        "Review → *Per page* = 100 (the UI offers 12, 24, 48, 100), timed from choosing 100 until all 100 card "
        "images are decoded in the browser.", "",
        "| | seconds |", "|---|---:|",
        f"| first time (76 new thumbnails made on the server) | {extra['hundred_first']:.2f} |",
        f"| again (24 → 100, thumbnails cached) | {extra['hundred_again']:.2f} |",
        "", "## Review: run switch and card click", "",
        f"In the image grid (24 per page): choosing the other run in *Run* until the new first card and all 24 "
        f"images are shown ({2 * args.repeat} switches), and a click on *Drop* on the first card until the next "
        f"undecided sample has taken its place with all 24 images shown ({args.repeat} clicks).", "",
        "| | median (s) | max (s) | target (s) |", "|---|---:|---:|---:|",
        f"| run switch | {extra['run_switch']:.2f} | {extra['run_switch_max']:.2f} | ≤ {RUN_SWITCH_TARGET:g} |",
        f"| card click | {extra['card_click']:.2f} | {extra['card_click_max']:.2f} | ≤ {CARD_CLICK_TARGET:g} |",
        "", "## Map and demo", "",
        "| | seconds |", "|---|---:|",
        f"| Map: click *Draw the map* → chart drawn (coordinates from the disk cache, {info['valued']:,} points) "
        f"| {extra['map_draw']:.2f} |",
        f"| Map: sidebar click → chart drawn, map already in this server (median of {args.repeat}) "
        f"| {extra['map_revisit']:.2f} |",
        f"| One-click demo, new session: click → Review showing the first 24 digits (load MNIST, inject noise, "
        f"run knn_shapley; same workspace, so the raw-pixel features cached in set-up may be reused) "
        f"| {extra['demo_s']:.1f} |", "",
        f"Demo check: **{extra['demo_flipped']} of the {extra['demo_cards']}** lowest-valued digits on the demo's "
        f"first Review page are injected flips ({extra['demo_flipped'] / max(1, extra['demo_cards']):.0%}; "
        f"the base rate is {info['flipped'] / info['valued']:.0%})."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
