"""The default method at scale: ``dataval value`` with consensus beside knn_shapley, whole process, one run.

A 10-class Gaussian mixture (centres N(0, ``--spread``²) in d dimensions, unit noise; hard enough that
no method finds every flip), ``--flip`` uniform label flips in the valued rows, and a clean
reference of ``--m`` rows, written to Parquet. Each method is one ``dataval value`` process on those
files: wall time (start to exit, imports and reading the Parquet included), peak RSS (the child's
``ru_maxrss``) and AUROC of −value against the flips. Times are given as a ratio to the first method's,
since absolute times drift on a shared machine. Appends a section to
``benchmarks/results/scale_consensus.md`` (``--out`` to change):

    python benchmarks/scale_consensus.py --n 50000 --methods knn_shapley consensus
    python benchmarks/scale_consensus.py --n 50000 --methods data_oob "data_oob:max_bag_rows=100000000"
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line


def mixture(n: int, m: int, d: int, spread: float, flip: float, seed: int):
    """(valued frame with flipped labels, reference frame, flip flags)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (10, d))
    y, yt = rng.integers(0, 10, n), rng.integers(0, 10, m)
    x = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    xt = (centres[yt] + rng.normal(size=(m, d))).astype(np.float32)
    flipped = rng.random(n) < flip
    noisy = np.where(flipped, (y + rng.integers(1, 10, n)) % 10, y)
    cols = [f"x{j}" for j in range(d)]
    valued = pd.DataFrame(x, columns=cols).assign(y=noisy.astype(str))
    target = pd.DataFrame(xt, columns=cols).assign(y=yt.astype(str))
    return valued, target, flipped


def run_cli(spec: str, data: Path, target: Path, out: Path, seed: int) -> tuple[float, float]:
    """One ``dataval value`` process for ``spec`` (``method`` or ``method:k=v;k=v``): (wall s, peak RSS GiB)."""
    method, _, params = spec.partition(":")
    cmd = [sys.executable, "-m", "dataval_core.cli", "value", str(data), "--label", "y", "--target", str(target),
           "--method", method, "--seed", str(seed), "--quiet", "--out", str(out)]
    for kv in filter(None, params.split(";")):
        cmd += ["--param", kv]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{spec} failed:\n{err}")
    return seconds, usage.ru_maxrss / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--m", type=int, default=5_000)
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--spread", type=float, default=0.35)
    p.add_argument("--flip", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", default=["knn_shapley", "consensus"])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale_consensus.md"))
    args = p.parse_args()
    valued, target, flipped = mixture(args.n, args.m, args.d, args.spread, args.flip, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data, ref = Path(tmp) / "valued.parquet", Path(tmp) / "target.parquet"
        valued.to_parquet(data)
        target.to_parquet(ref)
        del valued, target
        for spec in args.methods:
            out = Path(tmp) / "values.csv"
            seconds, rss = run_cli(spec, data, ref, out, args.seed)
            got = pd.read_csv(out, dtype={"id": str})
            got = got[got["role"] == "valued"]
            got = got.iloc[np.argsort(got["id"].astype(int).to_numpy())]
            auroc = roc_auc_score(flipped, -got["value"].to_numpy())
            rows.append((spec, seconds, rss, auroc))
            print(f"{spec}: wall {seconds:.1f} s ({seconds / rows[0][1]:.2f}x {rows[0][0]}), "
                  f"peak RSS {rss:.2f} GiB, AUROC {auroc:.4f}", flush=True)
    lines = [f"| `{s}` | {t:.1f} | {t / rows[0][1]:.2f} | {r:.2f} | {a:.4f} |" for s, t, r, a in rows]
    report = [f"## N = {args.n:,} × d = {args.d} vs {args.m:,} reference rows", "",
              f"Machine: {machine_line()}", "",
              f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`", "",
              f"10-class mixture, centres N(0, {args.spread}²), {args.flip:.0%} uniform flips, seed {args.seed}. "
              f"Whole `dataval value` process per method (Parquet in, VALUES.csv out), one after another.", "",
              f"| method | wall s | × {rows[0][0]} | peak RSS GiB | AUROC |", "|---|---|---|---|---|", *lines, ""]
    out = Path(args.out)
    head = "" if out.exists() else "# The default method at scale (each section is one run)\n\n"
    with out.open("a") as f:
        f.write(head + "\n".join(report) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
