"""Map time (``dataval_core.mapping.map_coordinates``) at 5k and 50k points, 64-d embeddings.

The data are sklearn's 8×8 digits (1797 × 64) repeated with Gaussian jitter, so the
map has real class structure. Each size is timed with a cold disk cache (first call)
and again with the cache warm. The first UMAP fit in a process also compiles numba
code; that cost is measured separately on 200 points, before everything else, so
the 5k number is what every later map costs. Writes ``benchmarks/results/map_time.md``.

    python benchmarks/map_time.py [--sizes 5000 50000] [--umap-at 50000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

from dataval_core.mapping import map_coordinates  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "map_time.md"


def digits_like(n: int, seed: int = 0) -> np.ndarray:
    x = load_digits().data.astype(np.float32)
    rng = np.random.default_rng(seed)
    rows = x[rng.integers(0, len(x), n)]
    return rows + rng.normal(0, 1.0, rows.shape).astype(np.float32)


def timed(x: np.ndarray, cache: Path, method: str = "auto") -> tuple[float, str, bool]:
    start = time.perf_counter()
    r = map_coordinates(x, np.arange(len(x)), seed=0, cache_dir=cache, method=method)
    return time.perf_counter() - start, r.note, r.from_cache


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[5_000, 50_000])
    p.add_argument("--umap-at", type=int, nargs="*", default=[50_000],
                   help="sizes also timed with UMAP forced (above the automatic PCA limit)")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        compile_s, _, _ = timed(digits_like(200, seed=99), cache, "umap")
        print(f"first UMAP in the process (200 points, numba compile): {compile_s:.1f} s", flush=True)
        runs = [(n, "auto") for n in args.sizes] + [(n, "umap") for n in args.umap_at]
        for n, method in runs:
            x = digits_like(n)
            cold, note, _ = timed(x, cache, method)
            warm, _, hit = timed(x, cache, method)
            assert hit, "the second call should come from the cache"
            rows.append((n, method, note, cold, warm))
            print(f"{n:>7,} {method:<5} {note}: first {cold:.1f} s, cached {warm:.2f} s", flush=True)
    lines = ["# Map time", "", f"Machine: {machine_line()}", "",
             "64-d embeddings (sklearn digits repeated with N(0, 1) jitter), seed 0. "
             "`auto` = UMAP up to 20,000 points, PCA above (the app's default). "
             "First call = cold disk cache; cached = the same call again (reads the `.npy`).", "",
             f"The first UMAP fit in a process additionally costs **{compile_s:.0f} s** of numba compilation "
             "(measured on 200 points before the rows below; numba's disk cache does not remove it).", "",
             "| points | method | what ran | first call (s) | cached call (s) |", "|---:|---|---|---:|---:|"]
    lines += [f"| {n:,} | {m} | {note} | {cold:.1f} | {warm:.2f} |" for n, m, note, cold, warm in rows]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
