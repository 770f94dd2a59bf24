"""knn_shapley and data_oob beside pyDVL 0.10 on the same arrays, in the same run.

Data: a 10-class Gaussian mixture in d = 64 (centres N(0, 0.5²) per coordinate, unit noise),
10 % of valued labels flipped uniformly to another class, a clean target set.

- knn_shapley (N valued x M target, K = 10) vs ``pydvl.valuation.KNNShapleyValuation``
  with ``KNeighborsClassifier(10)``. pyDVL asks ``kneighbors`` for all N neighbours of a
  whole batch of target points at once (16 bytes per cell: 8 GB at 100,000 x 5,000), so
  it is fed the same target rows in blocks of ``--pydvl-block`` points and the block means
  are averaged: the same quantity, its own code, bounded memory. Spearman between the two.
- data_oob (``--oob-n`` rows, 200 trees, 2 cores) vs ``DataOOBValuation`` over a fitted
  ``RandomForestClassifier(200, max_features="sqrt", n_jobs=2)`` (time = forest fit +
  valuation). AUROC of the flips by -value for both.

Reports wall and process CPU time (threads included). Needs ``make bench-deps`` (pyDVL).

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/peers_speed.py \\
        --out benchmarks/results/peers_speed.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def mixture(n: int, m: int, d: int = 64, flip: float = 0.1, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.5, (10, d)).astype(np.float32)
    y, yt = rng.integers(0, 10, n), rng.integers(0, 10, m)
    x = centres[y] + rng.normal(size=(n, d)).astype(np.float32)
    xt = centres[yt] + rng.normal(size=(m, d)).astype(np.float32)
    noisy = rng.random(n) < flip
    y_obs = y.copy()
    y_obs[noisy] = (y[noisy] + rng.integers(1, 10, noisy.sum())) % 10
    return x, y_obs, xt, yt, noisy


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def knn_rows(n: int, m: int, block: int, pydvl_m: int) -> list[str]:
    from joblib import parallel_config
    from pydvl.valuation import Dataset, KNNShapleyValuation
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import KNeighborsClassifier

    from dataval_core import Problem, get_valuator

    x, y, xt, yt, noisy = mixture(n, m)
    ours, wall, cpu = timed(lambda: get_valuator("knn_shapley", {"k": 10}).fit(Problem.from_arrays(x, y, xt, yt)))
    pydvl_m = min(pydvl_m or m, m)

    def pydvl():
        train = Dataset(x, y)
        total = np.zeros(n)
        with parallel_config(n_jobs=1):
            for start in range(0, pydvl_m, block):
                test = Dataset(xt[start:min(start + block, pydvl_m)], yt[start:min(start + block, pydvl_m)])
                v = KNNShapleyValuation(KNeighborsClassifier(10), test, progress=False).fit(train)
                total += v.result.values[np.argsort(v.result.indices)] * len(test)
        return total / pydvl_m

    theirs, p_wall, p_cpu = timed(pydvl)
    same = ours if pydvl_m == m else get_valuator("knn_shapley", {"k": 10}).fit(
        Problem.from_arrays(x, y, xt[:pydvl_m], yt[:pydvl_m]))
    rho = spearmanr(same.values, theirs).statistic
    scale = m / pydvl_m
    note = "" if pydvl_m == m else (f"; pyDVL ran the first {pydvl_m:,} of the {m:,} target points (its cost is linear "
                                    f"in them), times x{scale:g} to the full set")
    return [(f"| knn_shapley {n:,} x {m:,} | dataval | {wall:.1f} | {cpu:.1f} | "
             f"{roc_auc_score(noisy, -ours.values):.4f} | |"),
            (f"| | pyDVL KNNShapleyValuation (blocks of {block}) | {p_wall * scale:.1f} | {p_cpu * scale:.1f} | "
             f"{roc_auc_score(noisy, -theirs):.4f} | Spearman {rho:.6f} on the same target points, "
             f"CPU ratio ours/pyDVL {cpu / (p_cpu * scale):.2f}{note} |")]


def oob_rows(n: int, trees: int) -> list[str]:
    from pydvl.valuation import DataOOBValuation, Dataset
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    from dataval_core import Problem, get_valuator

    x, y, xt, yt, noisy = mixture(n, 100, seed=1)
    problem = Problem.from_arrays(x, y, xt, yt)
    ours, wall, cpu = timed(lambda: get_valuator("data_oob", {"n_estimators": trees, "n_jobs": 2}).fit(problem))

    def pydvl():
        forest = RandomForestClassifier(trees, max_features="sqrt", n_jobs=2, random_state=0).fit(x, y)
        v = DataOOBValuation(forest).fit(Dataset(x, y))
        return v.result.values[np.argsort(v.result.indices)]

    theirs, p_wall, p_cpu = timed(pydvl)
    return [(f"| data_oob {n:,} rows, {trees} trees | dataval (n_jobs=2) | {wall:.1f} | {cpu:.1f} | "
            f"{roc_auc_score(noisy, -ours.values):.4f} | |"),
            (f"| | pyDVL DataOOBValuation + RandomForest(n_jobs=2) | {p_wall:.1f} | {p_cpu:.1f} | "
            f"{roc_auc_score(noisy, -theirs):.4f} | wall ratio ours/pyDVL {wall / p_wall:.2f} |")]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--knn-n", type=int, default=100_000)
    p.add_argument("--knn-m", type=int, default=5_000)
    p.add_argument("--pydvl-block", type=int, default=250)
    p.add_argument("--pydvl-targets", type=int, default=0, help="pyDVL on the first K target points only (0 = all)")
    p.add_argument("--oob-n", type=int, default=20_000)
    p.add_argument("--trees", type=int, default=200)
    p.add_argument("--only", choices=("oob", "knn"), help="run one comparison (each is under a minute of CPU)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    from _machine import machine_line

    rows = ["| run | implementation | wall s | CPU s | AUROC flips | comparison |", "|---|---|---|---|---|---|"]
    if args.only != "knn":
        rows += oob_rows(args.oob_n, args.trees)
        print("\n".join(rows), flush=True)
    if args.only != "oob":
        rows += knn_rows(args.knn_n, args.knn_m, args.pydvl_block, args.pydvl_targets)
    text = (f"# knn_shapley and data_oob beside pyDVL 0.10\n\nMachine: {machine_line()}\n\n"
            f"Command: `{' '.join(['python', *sys.argv])}`\n\n" + "\n".join(rows) + "\n\n"
            "CPU = process user + system time, threads included (wall time is skewed on the shared machine). "
            "Data: 10-class Gaussian mixture, d = 64, 10 % flipped labels.\n")
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
