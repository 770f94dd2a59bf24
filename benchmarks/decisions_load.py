"""16 browser sessions and a consensus run in one server: time to Review, progress that stands still, decisions.

Set-up (not timed): a fresh workspace with 2 x ``--sessions`` sessions, each with its own
record of a 36-image dataset (27 valued, one finished knn_shapley run), and a session holding
the bundled 5,000 MNIST digits. Then ``streamlit run app.py`` on a free port, driven by
Playwright with Debian's ``/usr/bin/chromium``: ``--sessions`` browser contexts (default 16)
plus one on Valuate. The server process carries a probe thread that reads the JobManager's
progress of every job every 0.25 s (the workspace stores a run's status, not its progress),
and with ``--stacks S`` a ``faulthandler`` dump of every thread's stack every S seconds.

In order, with the consensus run (started from Valuate by the MNIST session) going on:

* **Review under load** (issue 18, item 2): all sessions open Review at once (24 cards a
  page, *Show: All*); per session, the seconds from its navigation to its 24 cards drawn
  with their Drop buttons (measured in the page, ``performance.now()``). Done twice: on the
  first records, and again when every session moves to its second record for the bulks.
* **progress on Valuate** (item 2): the MNIST session sits on Valuate; twice a second the page
  records the progress bar's value and text (stage, percent, done/total; the elapsed time and
  ETA left out). A stretch in which the page showed the same progress while the server's job
  progress changed is the page standing still; the server's own longest stretch without a
  change is given next to it.
* **per-card clicks** (item 1): each session clicks Drop or Keep on each of its 24 cards,
  0.2-0.5 s apart (seeded), without waiting for the page to redraw, all sessions in turn; after a
  reload, a click whose sample is not stored as clicked is **lost**;
* **bulk Drop / Keep / Drop** (item 1) on each session's second record (asked, then confirmed
  in every session at once, the next bulk right after): a log row that is not part of one of
  the 3 bulk writes of 24 rows is a **write nobody made**; a session whose stored state is not
  all Drop at the end is **not on its last action**.

A session that times out (``--wait`` seconds per step) is counted in the table, not fatal.

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/decisions_load.py [--sessions 16] [--stacks 1]

Writes ``benchmarks/results/decisions_load.md``.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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
    run_active,
    seed_loader,
    seed_sessions,
    start_valuation,
)

from test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, settle

OUT = ROOT / "benchmarks" / "results" / "decisions_load.md"
CARDS = 24
REVIEW_GOAL_S = 10.0
STILL_GOAL_S = 5.0

#: run in the server process before ``streamlit run``: every JobManager made is kept, and a daemon thread
#: appends [time, job id, status, stage, done, total, overall] of each of its jobs to PROBE_PATH every 0.25 s;
#: every rerun request that carries a button's click appends [time, [widget ids]] to CLICKS_PATH;
#: with STACKS_S, another appends [time, [[thread name, [frames, most recent first]], ...]] every STACKS_S seconds
#: (sys._current_frames: taken holding the GIL, so safe; faulthandler's dumps crashed the server)
SERVER = """
import json, os, sys, threading, time
import dataval_core.jobs as jobs
managers = []
_init = jobs.JobManager.__init__
def _keep(self, *a, **k):
    _init(self, *a, **k)
    managers.append(self)
jobs.JobManager.__init__ = _keep
def _probe(path):
    with open(path, "a") as f:
        while True:
            for m in list(managers):
                with m._lock:
                    rows = [[time.time(), j.job_id, str(j.status), j.stage, j.done, j.total, j.overall]
                            for j in m._jobs.values()]
                for r in rows:
                    f.write(json.dumps(r) + "\\n")
            f.flush()
            time.sleep(0.25)
def _stacks(path, every):
    me = threading.get_ident()
    with open(path, "w") as f:
        while True:
            time.sleep(every)
            names = {t.ident: t.name for t in threading.enumerate()}
            out = []
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                while frame is not None and len(stack) < 80:
                    stack.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                    frame = frame.f_back
                out.append([names.get(ident, "?"), stack])
            f.write(json.dumps([time.time(), out]) + "\\n")
            f.flush()
from streamlit.runtime import app_session
_rerun = app_session.AppSession.request_rerun
_clicks = open(os.environ["CLICKS_PATH"], "a")
def _logged(self, client_state):
    if client_state is not None:
        keys = [w.id for w in client_state.widget_states.widgets
                if w.WhichOneof("value") == "trigger_value" and w.trigger_value]
        if keys:
            _clicks.write(json.dumps([time.time(), keys]) + "\\n")
            _clicks.flush()
    return _rerun(self, client_state)
app_session.AppSession.request_rerun = _logged
threading.Thread(target=_probe, args=(os.environ["PROBE_PATH"],), daemon=True, name="bench-probe").start()
if os.environ.get("STACKS_S"):
    threading.Thread(target=_stacks, args=(os.environ["STACKS_PATH"], float(os.environ["STACKS_S"])), daemon=True,
                     name="bench-stacks").start()
from streamlit.web.cli import main
main(sys.argv[1:], prog_name="streamlit")
"""

#: in every document of a Review context: performance.now() when the page first shows its cards' Drop buttons
CARDS_AT = ("(() => { const check = () => {"
            f" if (document.querySelectorAll('[class*=st-key-rv_drop_] button').length >= {CARDS})"
            " window.__cardsAt = performance.now(); else setTimeout(check, 100); }; check(); })();")

#: on Valuate: twice a second, [Date.now(), the progress text, the bar's value] (null: no bar drawn)
SAMPLE_PROGRESS = """() => { window.__prog = []; setInterval(() => {
    const el = document.querySelector('[data-testid=stProgress]');
    const bar = el && el.querySelector('[role=progressbar]');
    window.__prog.push([Date.now(), el ? el.innerText : null, bar ? bar.getAttribute('aria-valuenow') : null]);
  }, 500); }"""


def start_server(root: Path, tmp: Path, stacks_s: float | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATAVAL_WORKSPACE": str(root), "PROBE_PATH": str(tmp / "probe.jsonl"),
           "STACKS_PATH": str(tmp / "stacks.jsonl"), "STACKS_S": str(stacks_s or ""),
           "CLICKS_PATH": str(tmp / "clicks.jsonl")}
    log = open(tmp / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)  # the server is not listening yet: nothing in a page to wait on
    proc.kill()
    raise RuntimeError(f"the server did not start; see {tmp / 'streamlit.log'}")


def open_all(pages, url: str | None, sids: list[str] | None, wait_ms: float, timeout_error) -> list[float | None]:
    """Every page opens Review at once; per page, seconds from its navigation to its cards (None: timed out)."""
    for page, sid in zip(pages, sids or []):  # no sids: the pages are loading already
        page.goto(f"{url}/review?sid={sid}&show=All&size={CARDS}", wait_until="commit")
    deadline = time.monotonic() + wait_ms / 1000
    out: list[float | None] = []
    for page in pages:
        try:
            page.wait_for_function("() => window.__cardsAt !== undefined",
                                   timeout=max(1.0, (deadline - time.monotonic()) * 1000))
            out.append(page.evaluate("() => window.__cardsAt") / 1000)
        except timeout_error:
            out.append(None)
    return out


def open_summary(seconds: list[float | None]) -> dict:
    drawn = [s for s in seconds if s is not None]
    return {"median": statistics.median(drawn) if drawn else float("nan"), "max": max(drawn, default=float("nan")),
            "over": sum(s > REVIEW_GOAL_S for s in drawn), "timed_out": len(seconds) - len(drawn), "n": len(seconds)}


def shown_progress(text: str | None, value: str | None) -> tuple | None:
    """What the Valuate bar says about the run's progress: its value and text without elapsed time and ETA."""
    if text is None:
        return None
    return value, text.split(" · elapsed")[0].strip()


def stillness(page_samples: list, probe: list, job_id: str) -> dict:
    """Longest stretches without change: of the server's job progress while it runs, and of the page's shown
    progress while the server's changed (the page standing still although the run advanced)."""
    server = [(t, (stage, done, total, round(overall, 6))) for t, j, status, stage, done, total, overall in probe
              if j == job_id and status.lower().endswith("running")]
    if not server:
        return {"server_still": float("nan"), "page_still": float("nan"), "page_gap": float("nan"),
                "page_behind": float("nan"), "window": 0.0, "changes": 0}
    t0, t1 = server[0][0], server[-1][0]
    changes = [t for (t, s), (_, prev) in zip(server[1:], server) if s != prev]
    edges = [t0, *changes, t1]
    server_still = max(b - a for a, b in zip(edges, edges[1:]))
    samples = [(t / 1000, shown_progress(text, value)) for t, text, value in page_samples if t0 <= t / 1000 <= t1]
    page_still = page_gap = page_behind = 0.0
    start = 0
    for i in range(1, len(samples) + 1):
        if i == len(samples) or samples[i][1] != samples[start][1]:
            a, b = samples[start][0], samples[min(i, len(samples) - 1)][0]
            page_gap = max(page_gap, b - a)
            moved = [t for t in changes if a < t <= b]
            if moved:  # the server's progress moved while the page showed the same
                page_still = max(page_still, b - a)
                page_behind = max(page_behind, b - moved[0])
            start = i
    return {"server_still": server_still, "page_still": page_still, "page_gap": page_gap, "page_behind": page_behind,
            "window": t1 - t0,
            "changes": len(changes), "samples": len(samples)}


IDLE = re.compile(r"/(threading|selectors|queue|socket|ssl|asyncio/\w+|concurrent/futures/\w+)\.py:\d+ "
                  r"(wait|select|get|_worker|run_forever|_run_once|accept|recv\w*|acquire|_wait_for_tstate_lock)$")


def ours(stack: list[str]) -> str | None:
    """The most recent frame in this project's code, as ``path:line function`` relative to the repository."""
    root = str(ROOT) + "/"
    frame = next((f for f in stack if f.startswith(root) and "/.venv/" not in f), None)
    return None if frame is None else frame[len(root):]


def stack_summary(path: Path, top: int = 12) -> dict:
    """From the server's stack samples: per thread kind (Streamlit script runs, valuation jobs), how often each
    project frame (the most recent of ours) and each innermost frame was on a busy thread's stack, and how many
    script runs were going at once. Idle threads (waiting in a lock, queue or selector) are left out; a busy
    thread may be waiting for the GIL."""
    out = {"samples": 0, "script": collections.Counter(), "script_inner": collections.Counter(),
           "job": collections.Counter(), "job_inner": collections.Counter(), "runs_at_once": []}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        _, threads = json.loads(line)
        out["samples"] += 1
        runs = 0
        for name, stack in threads:
            kind = "script" if name.startswith("ScriptRunner") else "job" if name.startswith("dataval-job") else None
            if kind is None or not stack or IDLE.search(stack[0]):
                continue
            runs += kind == "script"
            out[kind][ours(stack) or "(no project frame)"] += 1
            out[kind + "_inner"][stack[0].replace(str(ROOT) + "/", "")] += 1
        out["runs_at_once"].append(runs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait", type=float, default=300, help="seconds a session may take for one step")
    ap.add_argument("--stacks", type=float, default=None, help="dump the server's thread stacks every S seconds")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "decisions_load",
                    help="where the server's log, the progress probe and the stacks are copied")
    args = ap.parse_args()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    wait_ms = args.wait * 1000
    rng = random.Random(args.seed)
    n = args.sessions
    command = "flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/decisions_load.py" + (
        f" --sessions {n}" if n != 16 else "") + (f" --stacks {args.stacks:g}" if args.stacks else "")
    started = time.perf_counter()
    going: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        root = tmp / "ws"
        clickers = seed_sessions(root, tmp, n)
        (tmp / "b").mkdir()
        bulkers = seed_sessions(root, tmp / "b", n)
        loader_sid, loader_key = seed_loader(root)
        proc, url = start_server(root, tmp, args.stacks)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                    *CHROMIUM_ARGS, "--disable-background-timer-throttling", "--disable-renderer-backgrounding"])
                loader = start_valuation(browser, url, root, loader_sid, loader_key, wait_ms)
                valuate = loader.pages[0]
                valuate.evaluate(SAMPLE_PROGRESS)
                from dataval_core.workspace import Workspace
                job_id = next(r.run_id for r in Workspace(root).list_runs(loader_key) if r.status == "running")
                print("the consensus run on MNIST goes on; Valuate samples its progress", flush=True)

                contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(n)]
                pages = []
                for ctx in contexts:
                    ctx.add_init_script(CARDS_AT)
                    pages.append(ctx.new_page())
                    pages[-1].set_default_timeout(wait_ms)
                going["open 1"] = run_active(root, loader_key)
                first = open_all(pages, url, [sid for sid, _ in clickers], wait_ms, PlaywrightTimeout)
                print(f"Review 1: {open_summary(first)}", flush=True)

                # per-card clicks, 0.2-0.5 s apart, the sessions in turn (one click each per round)
                live = [i for i, s in enumerate(first) if s is not None]
                wanted = {i: dict(zip(card_ids(pages[i]), (rng.choice(("drop", "keep")) for _ in range(CARDS))))
                          for i in live}
                going["clicks"] = run_active(root, loader_key)
                t = time.perf_counter()
                not_made = 0
                for k in range(CARDS):
                    for i in live:
                        sample, action = list(wanted[i].items())[k]
                        try:
                            pages[i].locator(f".st-key-rv_{action}_{css_key(sample)} button").click(
                                timeout=wait_ms)
                        except PlaywrightTimeout:
                            not_made += 1
                    pages[0].wait_for_timeout(rng.uniform(200, 500))  # the spacing of the clicks is what is tested
                unsettled = 0
                reopened: list[float | None] = []
                deadline = time.monotonic() + args.wait  # one deadline for all: a lost click never reaches 24
                for i in live:  # each session's count reaches 24 decided, or stops short (a lost click)
                    page = pages[i]
                    try:
                        left = max(1.0, (deadline - time.monotonic()) * 1000)
                        page.get_by_text(f"· {CARDS} of 27 decided").wait_for(timeout=left)
                        settle(page, max(1.0, (deadline - time.monotonic()) * 1000))
                    except PlaywrightTimeout:
                        unsettled += 1
                for i in live:  # then all reload at once
                    pages[i].reload(wait_until="commit")
                reopened = open_all([pages[i] for i in live], None, None, wait_ms, PlaywrightTimeout)
                click_s = time.perf_counter() - t
                lost = sum(current(log_rows(root, clickers[i][1])).get(s) != a
                           for i in live for s, a in wanted[i].items())
                received = {w for line in (tmp / "clicks.jsonl").read_text().splitlines() for w in json.loads(line)[1]}
                unreceived = sum(not any(w.endswith(f"-rv_{a}_{s}") for w in received)
                                 for i in live for s, a in wanted[i].items())
                click_rows = sum(len(log_rows(root, clickers[i][1])) for i in live)
                print(f"per-card: {lost} of {CARDS * len(live)} clicks lost, {click_rows} rows", flush=True)

                # the same browser sessions open their second record: Review at once again, then the bulks
                going["open 2"] = run_active(root, loader_key)
                second = open_all(pages, url, [sid for sid, _ in bulkers], wait_ms, PlaywrightTimeout)
                print(f"Review 2: {open_summary(second)}", flush=True)
                blive = [i for i, s in enumerate(second) if s is not None]
                shown = {i: card_ids(pages[i]) for i in blive}
                going["bulks"] = run_active(root, loader_key)
                t = time.perf_counter()
                bulk_failed: set[int] = set()
                for action in BULKS:
                    yes = f"Yes, {action} all {CARDS} samples on this page"
                    for i in blive:
                        try:
                            pages[i].locator(".st-key-rv_bulk").get_by_role(
                                "button", name=f"{action.capitalize()} {CARDS}").click(timeout=wait_ms)
                            pages[i].get_by_role("button", name=yes).wait_for(timeout=wait_ms)
                        except PlaywrightTimeout:
                            bulk_failed.add(i)
                    for i in blive:
                        if i not in bulk_failed:
                            try:
                                pages[i].get_by_role("button", name=yes).click(timeout=wait_ms)
                            except PlaywrightTimeout:
                                bulk_failed.add(i)
                deadline = time.monotonic() + args.wait  # one deadline for all sessions' last bulk
                for i in blive:
                    try:
                        pages[i].wait_for_function("() => document.querySelectorAll('[class*=st-key-rv_drop_] "
                                                   f"button[kind=primary]').length === {CARDS}",
                                                   timeout=max(1.0, (deadline - time.monotonic()) * 1000))
                        settle(pages[i], max(1.0, (deadline - time.monotonic()) * 1000))
                    except PlaywrightTimeout:
                        bulk_failed.add(i)
                bulk_s = time.perf_counter() - t
                going["end"] = run_active(root, loader_key)
                invented = off = 0
                for i in blive:
                    rows = log_rows(root, bulkers[i][1])
                    per_event: dict = {}
                    for *_, event in rows:
                        per_event[event] = per_event.get(event, 0) + 1
                    bulk_rows = sum(c for e, c in per_event.items() if e is not None and c == CARDS)
                    invented += len(rows) - min(bulk_rows, CARDS * len(BULKS))
                    off += current(rows) != {s: BULKS[-1] for s in shown[i]}
                print(f"bulk: {invented} writes nobody made, {off} sessions not on their last action; "
                      f"run going: {going}", flush=True)

                page_samples = valuate.evaluate("() => window.__prog")
                args.logs.mkdir(parents=True, exist_ok=True)
                (args.logs / "valuate_samples.json").write_text(json.dumps(page_samples))
                for ctx in contexts:
                    ctx.close()
                loader.close()
                browser.close()
        finally:
            server_died = proc.poll()
            proc.kill()
            proc.wait(timeout=20)
            args.logs.mkdir(parents=True, exist_ok=True)
            for name in ("streamlit.log", "probe.jsonl", "stacks.jsonl", "clicks.jsonl"):
                if (tmp / name).exists():
                    shutil.copy(tmp / name, args.logs / name)
            print(f"server log, progress probe and stacks in {args.logs}"
                  + (f"; the server had exited with {server_died}" if server_died is not None else ""), flush=True)
        probe = [json.loads(line) for line in (tmp / "probe.jsonl").read_text().splitlines() if line.strip()]
        prof = stack_summary(tmp / "stacks.jsonl")
    total = time.perf_counter() - started
    still = stillness(page_samples, probe, job_id)
    o1, o2 = open_summary(first), open_summary(second)
    reo = open_summary(reopened)

    def opened(o: dict) -> str:
        return (f"median {o['median']:.1f} s, max {o['max']:.1f} s; **{o['over']}** over {REVIEW_GOAL_S:.0f} s, "
                f"**{o['timed_out']}** not drawn in {args.wait:.0f} s (of {o['n']})")

    review_met = all(o["over"] == 0 and o["timed_out"] == 0 for o in (o1, o2))
    still_met = still["page_still"] <= STILL_GOAL_S and still["server_still"] <= STILL_GOAL_S
    per_session = " ".join("-" if s is None else f"{s:.1f}" for s in first)
    per_session2 = " ".join("-" if s is None else f"{s:.1f}" for s in second)
    stacks = ""
    if prof["samples"]:
        rows = []
        for kind, name in (("script", "script run"), ("job", "valuation job")):
            total_kind = sum(prof[kind].values()) or 1
            rows += [f"| {name} | ours | `{w}` | {c} ({c / total_kind:.0%}) |" for w, c in prof[kind].most_common(10)]
            rows += [f"| {name} | innermost | `{w}` | {c} ({c / total_kind:.0%}) |"
                     for w, c in prof[kind + "_inner"].most_common(6)]
        at_once = prof["runs_at_once"]
        stacks = f"""
## Where the server's time goes

{prof['samples']} samples of every server thread's stack (`sys._current_frames()` from a thread in the server, one \
every {args.stacks:g} s, whole benchmark). Streamlit script runs going at once: mean {statistics.mean(at_once):.1f}, \
max {max(at_once)}. Per busy thread (not waiting in a lock, queue or selector): the most recent frame in this \
project's code (*ours*) and the innermost frame; counts are thread samples, shares of that thread kind's samples. \
The sampler needs the GIL, so it sees threads where they give it up; a busy thread may be waiting for the GIL.

| thread | frame | where | samples |
|---|---|---|---:|
""" + "\n".join(rows) + "\n"
    text = f"""# 16 sessions and a consensus run: Review, progress and decisions under load (headless Chromium)

Machine: {machine_line()}.

Date: {datetime.date.today():%Y-%m-%d}. Command: `{command}`

Set-up: one `streamlit run app.py` server; {n} browser sessions (Playwright contexts on Debian's Chromium, \
1024x900) plus one on Valuate. Each of the {n} has two records of a 36-image dataset (27 valued, one finished \
knn_shapley run): the first for the per-card clicks, the second for the bulks; Review opens with *Show: All*, \
{CARDS} cards a page. A consensus run on the bundled 5,000 MNIST digits (no reference: ten cross-fitted fits), \
started from Valuate, loads the same server process; it was going at: \
{', '.join(f'{k} {"yes" if v else "NO"}' for k, v in going.items())}. \
Each step of a session may take {args.wait:.0f} s before it counts as timed out. \
Whole benchmark {total:.0f} s wall.

## Goal (issue 18, item 2): every session gets Review in <= {REVIEW_GOAL_S:.0f} s

| measure | result |
|---|---|
| {n} sessions open Review at once (first records), navigation to {CARDS} cards drawn | {opened(o1)} |
| the same, when they move to their second records (after the clicks) | {opened(o2)} |
| all reload at once after the per-card clicks | {opened(reo)} |

Per session, first opening (s): {per_session}. Second: {per_session2}.

**Met: {'yes' if review_met else 'NO'}.**

## Goal (issue 18, item 2): progress never stands still for > {STILL_GOAL_S:.0f} s while the run advances

The Valuate page's bar (value, and its text without elapsed time and ETA) sampled every 0.5 s in the page \
({still.get('samples', 0)} samples while the run ran); the run's progress read in the server process every 0.25 s \
(JobManager; the workspace stores a run's status, not its progress): {still['changes']} changes over \
{still['window']:.0f} s of running.

| measure | seconds |
|---|---:|
| longest stretch the page showed the same progress while the server's progress changed | **{still['page_still']:.1f}** |
| longest stretch the page showed the same progress (at all) | {still['page_gap']:.1f} |
| longest the page stayed on a progress after the server's had moved on (the page's lag) | {still['page_behind']:.1f} |
| longest stretch the server's own progress did not change | {still['server_still']:.1f} |

**Met: {'yes' if still_met else 'NO'}.**

## Decisions under load (issue 18, item 1; the counts of tests/test_browser_decisions.py)

| measure | result |
|---|---:|
| per-card clicks ({len(live)} sessions x {CARDS} cards, Drop or Keep, 0.2-0.5 s apart, no wait for redraws) | \
{CARDS * len(live)} clicks in {click_s:.0f} s (clicks and reloads) |
| clicks that could not be made (button not there in {args.wait:.0f} s) | {not_made} |
| sessions whose count did not reach {CARDS} decided / settle in {args.wait:.0f} s | {unsettled} |
| clicks lost (not stored as clicked after a reload) | **{lost}** |
| of those, clicks the server never received (no rerun request carried the button's trigger) | {unreceived} |
| log rows written by those clicks | {click_rows} (one per click: {CARDS * len(live)}) |
| bulk Drop / Keep / Drop ({len(blive)} sessions, {CARDS} samples each, confirmed in every session at once) | \
{bulk_s:.0f} s |
| sessions whose bulks timed out | {len(bulk_failed)} |
| writes nobody made (log rows outside the 3 bulk writes of {CARDS} per session) | **{invented}** |
| sessions whose final state is not their last action (Drop) | **{off}** of {len(blive)} |

Before (issue 18, a user walk in Chromium): 12 of 132 per-card clicks lost; 237 writes nobody made and 4 of 16 \
sessions not on their last action with a valuation run going; 9 of 16 sessions never got Review in 180 s, progress \
froze for about 90 s.
{stacks}
## Notes

"""
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
