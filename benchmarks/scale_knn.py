"""KNN-Shapley at scale: N valued rows × M target rows, d = 64, synthetic class-structured data.

Run under ``/usr/bin/time -v`` for peak memory (the script also prints ru_maxrss):

    /usr/bin/time -v python benchmarks/scale_knn.py --n 100000 --m 5000
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

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
    start = time.perf_counter()
    result = get_valuator("knn_shapley").fit(problem)
    seconds = time.perf_counter() - start
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"knn_shapley N={args.n} M={args.m} d={args.d}: {seconds:.1f} s, peak RSS {rss_gib:.2f} GiB, "
          f"values finite={np.isfinite(result.values).all()}")


if __name__ == "__main__":
    main()
