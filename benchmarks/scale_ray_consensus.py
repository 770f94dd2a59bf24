"""The default method (consensus) on a Ray cluster: 1 vs 2 nodes simulated on this machine.

Each node count runs in a fresh driver process on a fresh ``ray.cluster_utils.Cluster`` whose
nodes have one CPU each; consensus gets ``backend="ray"``, so its members that fan out
(knn_shapley's target chunks, data_oob's bags, sava's batch pairs below 20,000 rows) run as
Ray tasks while the rest (the learned space, dvgs, the probe's bookkeeping) runs in the driver.
Data: the 10-class mixture of ``gpu_scale.py`` (d = 32, 20 % flips, 5,000 clean reference rows).
Prints fit time, the speed-up and whether both runs gave the same values; appends a section
to ``benchmarks/results/scale_consensus.md``:

    python benchmarks/scale_ray_consensus.py --n 50000
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine_line
from gpu_scale import mixture
from scale_ray import one_cpu_cluster


def child(n: int, nodes: int) -> dict:
    """One consensus fit on a fresh ``nodes``-node cluster (one CPU each); a JSON-able record."""
    from sklearn.metrics import roc_auc_score

    from dataval_core import Problem, get_valuator

    with one_cpu_cluster(nodes):
        x, y, xt, yt, flipped = mixture(n, 5_000, 32)
        problem = Problem.from_arrays(x, y, xt, yt)
        t = time.perf_counter()
        result = get_valuator("consensus", seed=0, backend="ray").fit(problem)
        fit_s = time.perf_counter() - t
        return {"n": n, "nodes": nodes, "fit_s": fit_s, "auroc": float(roc_auc_score(flipped, -result.values)),
                "timings": {k: round(v, 1) for k, v in result.timings.items()},
                "checksum": float(np.sum(result.values * np.arange(1, n + 1) / n))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale_consensus.md"))
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.n, args.child)))
        return
    records = []
    for nodes in (1, 2):
        out = subprocess.run([sys.executable, __file__, "--child", str(nodes), "--n", str(args.n)],
                             capture_output=True, text=True, cwd=ROOT, check=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise SystemExit(f"{nodes} node(s) failed: {out.stderr[-2000:]}")
        records.append(json.loads(lines[-1]))
        print(records[-1], flush=True)
    one, two = records
    same = abs(one["checksum"] - two["checksum"]) <= 1e-9 * max(1.0, abs(one["checksum"]))
    rows = [f"| {r['nodes']} | {r['fit_s']:.1f} | {r['auroc']:.4f} | "
            + ", ".join(f"{k} {v}" for k, v in r["timings"].items()) + " |" for r in records]
    section = [f"## consensus on Ray, 1 vs 2 nodes (1 CPU each), N = {args.n:,} × 32 vs 5,000", "",
               f"Machine: {machine_line()}", "", f"Command: `python benchmarks/{Path(__file__).name} "
               f"{' '.join(sys.argv[1:])}`", "",
               "Each run: a fresh driver and `ray.cluster_utils.Cluster` on this 2-core machine; the driver's own "
               "work (learned space, dvgs, the probe) shares the cores with the nodes.", "",
               "| nodes | fit s | AUROC | timings s |", "|---|---|---|---|", *rows, "",
               f"Speed-up 1 → 2 nodes: {one['fit_s'] / two['fit_s']:.2f}x; same values on both: {same}.", ""]
    with Path(args.out).open("a") as f:
        f.write("\n" + "\n".join(section))
    print(f"speed-up {one['fit_s'] / two['fit_s']:.2f}x, same values {same}")


if __name__ == "__main__":
    main()
