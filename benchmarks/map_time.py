"""Map time (``dataval_core.projection.map_coordinates``) at 5k and 50k points, 64-d embeddings.

The data are sklearn's 8×8 digits (1797 × 64) repeated with Gaussian jitter, so the
map has real class structure. Each size is timed with a cold disk cache (first call)
and again with the cache warm. The first UMAP fit in a process also compiles numba
code (UMAP's and, above 4,096 points, pynndescent's); that cost is measured
separately on 4,500 points before everything else, so the rows show what every
later map costs. Wall time depends on how busy the shared machine is, so the
process CPU time is reported too (UMAP runs single-threaded when seeded, so on an
idle machine wall ≈ CPU for it). Writes ``benchmarks/results/map_time.md``.

    python benchmarks/map_time.py [--sizes 5000 50000] [--umap-at 50000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

from dataval_core.projection import map_coordinates  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "map_time.md"
FORCED_NOTE = ('Forced UMAP at 50,000 points is the reason the app switches to PCA above 20,000. On this synthetic '
               'data it is also slowed by the data: each of the 1,797 digits appears about 28 times with small '
               "jitter, so UMAP's neighbour graph is not fully connected and its spectral initialisation (lobpcg) "
               'warned that it did not converge; a real 50k embedding may take less, but still minutes on 2 cores.')


def digits_like(n: int, seed: int = 0) -> np.ndarray:
    x = load_digits().data.astype(np.float32)
    rng = np.random.default_rng(seed)
    rows = x[rng.integers(0, len(x), n)]
    return rows + rng.normal(0, 1.0, rows.shape).astype(np.float32)


def timed(x: np.ndarray, cache: Path, method: str = "auto") -> tuple[float, float, str, bool]:
    """(wall s, process CPU s, note, from_cache) of one map call."""
    wall, cpu = time.perf_counter(), time.process_time()
    r = map_coordinates(x, np.arange(len(x)), seed=0, cache_dir=cache, method=method)
    return time.perf_counter() - wall, time.process_time() - cpu, r.note, r.from_cache


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000])
    p.add_argument("--umap-at", type=int, nargs="*", default=[50_000],
                   help="sizes also timed with UMAP forced (above the automatic PCA limit)")
    args = p.parse_args()
    rows = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        compile_s, compile_cpu, _, _ = timed(digits_like(4_500, seed=99), cache, "umap")
        print(f"first UMAP in the process (4,500 points, incl. numba compile): {compile_s:.1f} s wall, "
              f"{compile_cpu:.1f} s CPU", flush=True)
        runs = [(n, "auto") for n in args.sizes] + [(n, "umap") for n in args.umap_at]
        for n, method in runs:
            x = digits_like(n)
            cold, cold_cpu, note, _ = timed(x, cache, method)
            warm, _, _, hit = timed(x, cache, method)
            assert hit, "the second call should come from the cache"
            rows.append((n, method, note, cold, cold_cpu, warm))
            print(f"{n:>7,} {method:<5} {note}: first {cold:.1f} s ({cold_cpu:.1f} s CPU), cached {warm:.2f} s",
                  flush=True)
    load = f"1-min load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    lines = ["# Map time", "", f"Machine: {machine_line()}; {load} (the machine is shared, so times vary).", "",
             "64-d embeddings (sklearn digits repeated with N(0, 1) jitter), seed 0. "
             "`auto` = UMAP up to 20,000 points, PCA above (the app's default). "
             "First call = cold disk cache; cached = the same call again (reads the `.npy`).", "",
             f"The first UMAP fit in a process took **{compile_s:.0f} s** wall ({compile_cpu:.0f} s CPU) on 4,500 "
             "points, almost all numba compilation; it ran before the rows below, which are what every later "
             "map costs (numba's disk cache does not remove the compile).", "",
             "| points | method | what ran | first call, wall (s) | first call, CPU (s) | cached call (s) |",
             "|---:|---|---|---:|---:|---:|"]
    lines += [f"| {n:,} | {m} | {note} | {cold:.1f} | {cpu:.1f} | {warm:.2f} |"
              for n, m, note, cold, cpu, warm in rows]
    if any(m == "umap" and n > 20_000 for n, m, *_ in rows):
        lines += ["", FORCED_NOTE]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
