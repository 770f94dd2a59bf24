"""GPU scale check: the default method at 50,000 rows beside knn_shapley, and sava at 1M and 10M rows,
each with the defaults (lava/sava ``solver=auto``: Sinkhorn on CUDA when torch sees a GPU).

Run by ``benchmarks/gpu_check.sh`` after the CPU = CUDA parity check, within what is left of its
5 minutes (``--budget``): a run whose projected time (from the run before it) does not fit is
skipped and says so, so the script always ends in time. Data: the 10-class mixture of
``scale_consensus.py`` (centres N(0, 0.35²), unit noise, 20 % uniform flips, 5,000 clean reference
rows). Prints wall time and AUROC of −value against the flips per run; times are in-process
(imports and data generation excluded).

    python benchmarks/gpu_scale.py --budget 150
    python benchmarks/gpu_scale.py --budget 60 --rows 20000 200000   # a small dry run on CPU
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def mixture(n: int, m: int, d: int, seed: int = 0, block: int = 1_000_000):
    """(x, noisy y, x_target, y_target, flipped), float32, generated in blocks (10M x 64 is 2.5 GB)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.35, (10, d)).astype(np.float32)
    y = rng.integers(0, 10, n)
    x = np.empty((n, d), dtype=np.float32)
    for i in range(0, n, block):
        x[i:i + block] = centres[y[i:i + block]] + rng.standard_normal((min(block, n - i), d), dtype=np.float32)
    yt = rng.integers(0, 10, m)
    xt = centres[yt] + rng.standard_normal((m, d), dtype=np.float32)
    flipped = rng.random(n) < 0.2
    noisy = np.where(flipped, (y + rng.integers(1, 10, n)) % 10, y)
    return x, noisy, xt, yt, flipped


def timed_fit(method: str, data) -> tuple[float, float, str]:
    """(seconds, AUROC, status) of one default fit."""
    from dataval_core import Problem, get_valuator

    x, y, xt, yt, flipped = data
    problem = Problem.from_arrays(x, y, xt, yt)
    t = time.perf_counter()
    result = get_valuator(method, seed=0).fit(problem)
    seconds = time.perf_counter() - t
    return seconds, roc_auc_score(flipped, -np.asarray(result.values)), str(result.status)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=150.0, help="seconds this script may take")
    p.add_argument("--consensus-rows", type=int, default=50_000)
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="sava sizes, ascending")
    args = p.parse_args()
    import torch

    start = time.perf_counter()
    left = lambda: args.budget - (time.perf_counter() - start)  # noqa: E731
    print(f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu (no GPU seen)'}")
    data = mixture(args.consensus_rows, 5_000, 32)
    knn_s, knn_auc, _ = timed_fit("knn_shapley", data)
    print(f"knn_shapley {args.consensus_rows:,} x 32: {knn_s:.1f} s, AUROC {knn_auc:.4f}", flush=True)
    cons_s, cons_auc, status = timed_fit("consensus", data)
    print(f"consensus {args.consensus_rows:,} x 32: {cons_s:.1f} s ({cons_s / knn_s:.2f}x knn_shapley), "
          f"AUROC {cons_auc:.4f}, status {status}", flush=True)
    per_row = None
    for n in args.rows:
        projected = None if per_row is None else per_row * n * 1.3  # data generation and slack included
        if projected is not None and projected > left():
            print(f"sava {n:,} x 64: skipped, projected {projected:.0f} s > {left():.0f} s left", flush=True)
            continue
        t = time.perf_counter()
        data = mixture(n, 5_000, 64)
        sava_s, sava_auc, status = timed_fit("sava", data)
        per_row = (time.perf_counter() - t) / n
        print(f"sava {n:,} x 64 (defaults): {sava_s:.1f} s, AUROC {sava_auc:.4f}, status {status}", flush=True)
        del data
    print(f"scale check done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
