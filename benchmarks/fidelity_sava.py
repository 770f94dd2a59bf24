"""How closely does batched ``sava`` reproduce dense ``lava``? Spearman of the two value
vectors, and each method's AUROC for finding label flips, on a Gaussian mixture.

Data: ``--classes`` Gaussian clusters in ``--d`` dimensions (centres N(0, sep²)), unit
noise; the valued set has ``--flip`` of its labels changed uniformly to another class, the
target set is clean. Raw features go straight into ``Problem.from_arrays``.

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/fidelity_sava.py \\
        --out benchmarks/results/fidelity_sava.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine_line
from dataval_core import Problem, get_valuator
from dataval_core.methods.lava import check_memory


def make_data(n: int, m: int, d: int, n_classes: int, flip: float, sep: float, seed: int):
    """Gaussian mixture; returns (problem, flipped mask)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, sep, (n_classes, d))
    y, yt = rng.integers(0, n_classes, n), rng.integers(0, n_classes, m)
    x = centers[y] + rng.normal(size=(n, d))
    xt = centers[yt] + rng.normal(size=(m, d))
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, int(round(flip * n)), replace=False)] = True
    y_obs = y.copy()
    y_obs[flipped] = (y[flipped] + rng.integers(1, n_classes, flipped.sum())) % n_classes
    return Problem.from_arrays(x, y_obs, xt, yt), flipped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[5_000, 20_000], help="valued rows (one run each)")
    p.add_argument("--m", type=int, default=2_000, help="target rows")
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--flip", type=float, default=0.2)
    p.add_argument("--sep", type=float, default=1.0, help="std of the class centres (noise std is 1)")
    p.add_argument("--solver", nargs="+", default=["exact"], help="for both methods; one lava run each")
    p.add_argument("--batch-size", type=int, nargs="+", default=[1024], help="sava batch sizes to try")
    p.add_argument("--outer-reg", type=float, nargs="+", default=[0.01], help="sava outer_reg values to try")
    p.add_argument("--n-jobs", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-memory-gb", type=float, default=8.0, help="lava's memory limit")
    p.add_argument("--out", type=Path, help="write a markdown report here")
    args = p.parse_args()

    rows = []
    for n in args.n:
        problem, flipped = make_data(n, args.m, args.d, args.classes, args.flip, args.sep, args.seed)
        for solver in args.solver:
            need = check_memory(n, args.m, args.d, solver, args.max_memory_gb)
            t = time.perf_counter()
            lava = get_valuator("lava", {"solver": solver, "max_memory_gb": args.max_memory_gb},
                                seed=args.seed).fit(problem)
            t_lava = time.perf_counter() - t
            for batch_size in args.batch_size:
                for outer_reg in args.outer_reg:
                    t = time.perf_counter()
                    sava = get_valuator("sava", {"solver": solver, "batch_size": batch_size, "outer_reg": outer_reg,
                                                 "n_jobs": args.n_jobs}, seed=args.seed).fit(problem)
                    t_sava = time.perf_counter() - t
                    row = dict(n=n, m=args.m, solver=solver, batch_size=batch_size, outer_reg=outer_reg,
                               rho=spearmanr(lava.values, sava.values).statistic,
                               rho_clean=spearmanr(lava.values[~flipped], sava.values[~flipped]).statistic,
                               auc_lava=roc_auc_score(flipped, -lava.values),
                               auc_sava=roc_auc_score(flipped, -sava.values), t_lava=t_lava, t_sava=t_sava,
                               lava_gb=need / 2**30, status=f"{lava.status}/{sava.status}")
                    rows.append(row)
                    print(", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in row.items()), flush=True)

    if args.out:
        lines = [
            "# SAVA fidelity to LAVA",
            "",
            f"Machine: {machine_line()}",
            "",
            f"Command: `flock /tmp/dataval-bench.lock .venv/bin/python {' '.join(sys.argv)}`",
            "",
            f"Data: Gaussian mixture, {args.classes} classes, d = {args.d}, centres N(0, {args.sep}²) per "
            f"coordinate, unit noise; {args.flip:.0%} of valued labels flipped uniformly to another class; "
            f"clean target set of {args.m:,} rows; raw features; seed {args.seed}. The same solver for both "
            "methods (lava solved once per N and solver). *Spearman clean*: over the rows whose labels were "
            "not flipped.",
            "",
            "| N valued | M target | solver | sava batch | outer_reg | Spearman(sava, lava) | Spearman clean "
            "| AUROC flips, lava | AUROC flips, sava | lava s | sava s | lava est. GB | status lava/sava |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(f"| {r['n']:,} | {r['m']:,} | {r['solver']} | {r['batch_size']} | {r['outer_reg']:g} "
                         f"| {r['rho']:.3f} | {r['rho_clean']:.3f} | {r['auc_lava']:.3f} | {r['auc_sava']:.3f} "
                         f"| {r['t_lava']:.1f} | {r['t_sava']:.1f} | {r['lava_gb']:.2f} | {r['status']} |")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
