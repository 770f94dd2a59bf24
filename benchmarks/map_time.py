"""Map time (``dataval_core.projection.map_coordinates``): numba compile, warm-up, 5k and 50k points.

The data are sklearn's 8×8 digits (1797 × 64) repeated with Gaussian jitter, so the map has
real class structure. Each measurement runs in a fresh Python process, as a new server would:

* ``cold``: the first UMAP map (5,000 points) in a process, numba compile included;
* ``cache``: the same, twice, with ``NUMBA_CACHE_DIR`` set: the second process shows what
  numba's disk cache saves (umap-learn marks few of its functions cacheable);
* ``warm``: ``warm_up_umap()`` (what the app runs in a background thread at start), then the
  5,000-point map: what a user waits once the warm-up is done;
* ``big``: after the warm-up, 50,000 points: PCA (shown at once), then UMAP with its progress
  events (the longest gap between events, and the time before the first layout event, which is
  the nearest-neighbour search and initial layout that report nothing).

Wall and process CPU seconds (the machine is shared; CPU time is the steadier number).
Writes ``benchmarks/results/map_time.md``.

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/map_time.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

OUT = Path(__file__).resolve().parent / "results" / "map_time.md"


def digits_like(n: int, seed: int = 0) -> np.ndarray:
    x = load_digits().data.astype(np.float32)
    rng = np.random.default_rng(seed)
    rows = x[rng.integers(0, len(x), n)]
    return rows + rng.normal(0, 1.0, rows.shape).astype(np.float32)


def timed_map(n: int, method: str) -> dict:
    from dataval_core.projection import map_coordinates

    stamps = []
    wall, cpu = time.perf_counter(), time.process_time()
    r = map_coordinates(digits_like(n), np.arange(n), seed=0, method=method,
                        progress=lambda p: stamps.append((time.perf_counter(), p.stage)))
    end = time.perf_counter()
    times = [wall] + [t for t, _ in stamps] + [end]
    layout = [t for t, stage in stamps if stage == "UMAP layout"]
    return {"n": n, "method": method, "note": r.note, "wall": end - wall, "cpu": time.process_time() - cpu,
            "events": len(stamps), "max_gap": float(np.max(np.diff(times))),
            "before_layout": (layout[0] - wall) if layout else None}


def child(mode: str) -> None:
    out: dict = {"mode": mode}
    if mode in ("warm", "big"):
        from dataval_core.projection import warm_up_umap

        wall, cpu = time.perf_counter(), time.process_time()
        warm_up_umap()
        out["warm_up"] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    if mode == "big":
        out["maps"] = [timed_map(50_000, "pca"), timed_map(50_000, "umap")]
    else:
        out["maps"] = [timed_map(5_000, "umap")]
    print(json.dumps(out))


def run_child(mode: str, env: dict | None = None) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", mode], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--skip-big", action="store_true", help="leave out the 50,000-point run")
    args = p.parse_args()
    if args.child:
        child(args.child)
        return
    load_start = os.getloadavg()[0]
    results = {"cold": run_child("cold")}
    print("cold", results["cold"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        first = run_child("cold", {"NUMBA_CACHE_DIR": tmp})
        results["cache"] = run_child("cold", {"NUMBA_CACHE_DIR": tmp})
        print("cache", first, results["cache"], flush=True)
    results["warm"] = run_child("warm")
    print("warm", results["warm"], flush=True)
    if not args.skip_big:
        results["big"] = run_child("big")
        print("big", results["big"], flush=True)
    load = f"1-min load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"

    def row(label: str, m: dict) -> str:
        gap = f"{m['max_gap']:.1f}"
        before = f"{m['before_layout']:.1f}" if m["before_layout"] is not None else "–"
        return (f"| {label} | {m['n']:,} | {m['note']} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['events']} | "
                f"{gap} | {before} |")

    w = results["warm"]["warm_up"]
    lines = ["# Map time", "", f"Machine: {machine_line()}; {load} (the machine is shared, so times vary).", "",
             f"Command: `python {' '.join(sys.argv)}`", "",
             ("64-d embeddings (sklearn digits repeated with N(0, 1) jitter), seed 0, no map cache. Each row is a "
             "fresh Python process, as after a server start."), "",
             (f"`warm_up_umap()` (the app runs it in a background thread at the first page view) took "
             f"**{w['wall']:.0f} s** wall ({w['cpu']:.0f} s CPU)."), "",
             ("| process | points | what ran | wall (s) | CPU (s) | progress events | longest gap between events (s) "
             "| time before the first layout event (s) |"),
             "|---|---:|---|---:|---:|---:|---:|---:|",
             row("first map, no warm-up (numba compiles)", results["cold"]["maps"][0]),
             row("first map, numba disk cache filled by an earlier process", results["cache"]["maps"][0]),
             row("first map after the warm-up", results["warm"]["maps"][0])]
    if "big" in results:
        lines += [row("after the warm-up: PCA", results["big"]["maps"][0]),
                  row("after the warm-up: UMAP", results["big"]["maps"][1])]
    lines += ["", ("Before the UMAP layout epochs (which report progress and honour cancel) come the nearest-neighbour "
              "search and the initial layout, one call each that reports nothing: the last column.")]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
