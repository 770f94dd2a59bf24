"""KNN-Shapley at scale: N valued rows × M target rows, d = 64, synthetic class-structured data.

Prints wall time, process CPU time and peak RSS (ru_maxrss; ``/usr/bin/time -v`` agrees) and
writes ``benchmarks/results/scale_knn.md``:

    /usr/bin/time -v python benchmarks/scale_knn.py --n 100000 --m 5000
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core import Problem, get_valuator


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--m", type=int, default=5_000)
    p.add_argument("--d", type=int, default=64)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (10, args.d)).astype(np.float32)
    y, yt = rng.integers(0, 10, args.n), rng.integers(0, 10, args.m)
    x = centers[y] + rng.normal(size=(args.n, args.d)).astype(np.float32)
    xt = centers[yt] + rng.normal(size=(args.m, args.d)).astype(np.float32)
    problem = Problem.from_arrays(x, y, xt, yt)
    cpu0, start = time.process_time(), time.perf_counter()
    result = get_valuator("knn_shapley").fit(problem)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    line = (f"knn_shapley N={args.n:,} M={args.m:,} d={args.d}: wall {seconds:.1f} s, CPU {cpu:.1f} s, "
            f"peak RSS {rss_gib:.2f} GiB (whole process, data included), "
            f"values finite={np.isfinite(result.values).all()}")
    print(line)
    out = Path(__file__).parent / "results" / "scale_knn.md"
    out.write_text(f"# KNN-Shapley at scale\n\nMachine: {machine_line()}\n\n"
                   f"Command: `python {' '.join(sys.argv)}`\n\n{line}\n\n"
                   "Wall time depends on how busy the machine is; CPU time is the process's user + system time.\n")


if __name__ == "__main__":
    main()
