"""sava on a Ray cluster: 1 vs 2 nodes simulated on this machine, the driver's memory as N
grows, and the scaling expected at 8 and 64 nodes from the measured per-pair cost and
object-store traffic.

Data: scale_ot's 10-class mixture (d = 64, 20 % flips, 5,000 clean target rows), valued
rows in ``<data-dir>/x.npy`` opened memory-mapped: Ray workers read their batches from
that file themselves (on a real cluster it lies on shared storage). Each (N, nodes) runs
in a fresh driver process on a fresh ``ray.cluster_utils.Cluster`` whose nodes have one
CPU each; the driver resets its peak-RSS mark before ``fit`` and reads ``VmHWM`` after.

Object-store traffic is computed from the array sizes the run sends: the shared state once (target
batches + W, pickled), per task the valued row indices and labels, per result the
calibrated gradients (float32) and top classes (int16) of its rows.

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/scale_ray.py \\
        --n 50000 200000 --out benchmarks/results/scale_ray.md
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_ot import _status_kib, generate


@contextmanager
def one_cpu_cluster(nodes: int):
    """A fresh ``ray.cluster_utils.Cluster`` of ``nodes`` one-CPU nodes, connected; shut down on exit."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 300 * 2**20})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1, object_store_memory=300 * 2**20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        cluster.shutdown()


def child(n: int, nodes: int, data_dir: Path) -> dict:
    """One sava fit on a fresh ``nodes``-node cluster (one CPU each); a JSON-able record."""
    from sklearn.metrics import roc_auc_score

    from dataval_core import Problem, get_valuator
    from dataval_core.methods.sava import SavaParams, batch_bounds, release_pages

    with one_cpu_cluster(nodes):
        x = np.load(data_dir / "x.npy", mmap_mode="r")[:n]
        y, flipped = np.load(data_dir / "y.npy")[:n], np.load(data_dir / "flipped.npy")[:n]
        xt, yt = np.load(data_dir / "xt.npy"), np.load(data_dir / "yt.npy")
        problem = Problem.from_arrays(x, y, xt, yt, ids=np.arange(n).astype(f"U{len(str(n))}"))
        release_pages(problem.x)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS mark (VmHWM)
        rss_before = _status_kib("VmRSS") / 1024
        t, cpu = time.perf_counter(), time.process_time()
        result = get_valuator("sava", seed=0, backend="ray").fit(problem)
        fit_s, driver_cpu = time.perf_counter() - t, time.process_time() - cpu
        peak = _status_kib("VmHWM") / 1024
        bs = SavaParams().batch_size
        n_k, n_l = len(batch_bounds(n, bs)) - 1, len(batch_bounds(len(xt), bs)) - 1
        target_state = xt.size * 8 + problem.n_classes ** 2 * 8  # float64 target batches + W
        return {"n": n, "nodes": nodes, "fit_s": fit_s, "driver_cpu_s": driver_cpu, "rss_before_mib": rss_before,
                "driver_peak_mib": peak, "pairs": n_k * n_l, "n_k": n_k, "n_l": n_l,
                "pairs_s": result.timings.get("batch_pairs"), "label_cost_s": result.timings.get("label_cost"),
                "shared_bytes": target_state, "task_bytes": n * (4 + 8), "result_bytes": n * n_l * (4 + 2),
                "auroc": float(roc_auc_score(flipped, -result.values)),
                "checksum": float(np.sum(result.values * np.arange(1, n + 1) / n))}


def run_child(n: int, nodes: int, data_dir: Path, timeout: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(nodes), "--n", str(n), "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"child N={n} nodes={nodes} failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def paper_lines(records: list[dict]) -> list[str]:
    """Expected time at 8 and 64 nodes from the largest measured run on 2 nodes (its batch geometry scaled to 1M)."""
    two = max((r for r in records if r["nodes"] == 2), key=lambda r: r["n"])
    one = next(r for r in records if r["nodes"] == 1 and r["n"] == two["n"])
    per_pair = one["pairs_s"] / one["pairs"]  # one CPU: seconds of work per batch pair
    n_k = int(np.ceil(one["n_k"] * 1_000_000 / one["n"]))  # valued batches at 1M rows
    n_l = one["n_l"]
    lines = [(f"Measured per-pair cost (1 node, 1 CPU, N = {one['n']:,}): {per_pair:.3f} s a pair "
             f"({one['pairs']} pairs of {one['n_k']} x {one['n_l']} batches); speed-up 1 -> 2 nodes "
             f"{one['pairs_s'] / two['pairs_s']:.2f}x on the pair stage, {one['fit_s'] / two['fit_s']:.2f}x end to end."),
             "",
             (f"On paper, N = 1,000,000 x 5,000 target rows ({n_k} x {n_l} = {n_k * n_l:,} pairs), 8-core nodes, the "
             "measured per-pair cost, the label cost as measured (driver-side, independent of nodes) and the "
             "object-store traffic per run: shared state once per node "
             f"({two['shared_bytes'] / 2**20:.1f} MiB), row indices + labels 12 B a row to the workers, "
             f"gradients + top classes 6 B a row and target batch back to the driver ({6 * n_l} MB at 1M rows)."), "",
             "| nodes x cores | pair stage (ideal) | + label cost | driver ingest (results at ~200 MB/s) | expected |",
             "|---|---|---|---|---|"]
    label = one["label_cost_s"]
    for nodes in (8, 64):
        cpus = nodes * 8
        waves = int(np.ceil(n_k / cpus))  # a task is a valued batch with its n_l target batches
        stage = waves * n_l * per_pair
        ingest = 1_000_000 * n_l * 6 / 200e6
        lines.append(f"| {nodes} x 8 | {stage:.0f} s ({waves} wave{'s' * (waves > 1)} of {n_l} pairs) | {label:.0f} s "
                     f"| {ingest:.2f} s | ~{stage + label + ingest:.0f} s |")
    lines += ["", (f"Once the {n_k} valued-batch tasks fill the CPUs in one or two waves, the label cost W "
              f"(computed once, {label:.0f} s here) and the outer OT on the driver dominate, so more nodes stop "
              "helping: the next lever is larger N (time per node stays flat as N grows with the nodes), "
              f"not more nodes for a fixed N. Total pair work at 1M rows: {n_k * n_l * per_pair / 60:.0f} "
              "CPU-minutes.")]
    return lines


def run_all(ns: list[int], node_counts: list[int], data_dir: Path | None, timeout: float) -> list[dict]:
    """One fresh child per (N, nodes) on data generated once (or found in ``data_dir``)."""
    with tempfile.TemporaryDirectory(prefix="scale_ray-") as tmp:
        data_dir = data_dir or Path(tmp)
        if not (data_dir / "x.npy").exists():
            generate(data_dir, max(ns), 5_000, 64)
        records = []
        for n in ns:
            for nodes in node_counts:
                records.append(run_child(n, nodes, data_dir, timeout))
                print(json.dumps(records[-1]), flush=True)
    return records


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, nargs="+", default=[50_000, 200_000])
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--child", type=int)
    p.add_argument("--out", type=Path)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--records", type=Path, help="render the table from a log of an earlier run (its JSON lines)")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.n[0], args.child, args.data_dir)), flush=True)
        return
    from _machine import machine_line

    if args.records:
        records = [json.loads(ln) for ln in args.records.read_text().splitlines() if ln.startswith("{")]
    else:
        records = run_all(args.n, args.nodes, args.data_dir, args.timeout)
    rows = [("| N | nodes (1 CPU each) | fit s | pair stage s | label cost s | driver peak RSS MiB | "
            "driver RSS before fit MiB | AUROC | values = 1-node values |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        same = next(o["checksum"] for o in records if o["n"] == r["n"]) == r["checksum"]
        rows.append(f"| {r['n']:,} | {r['nodes']} | {r['fit_s']:.1f} | {r['pairs_s']:.1f} | {r['label_cost_s']:.1f} | "
                    f"{r['driver_peak_mib']:.0f} | {r['rss_before_mib']:.0f} | {r['auroc']:.4f} | {same} |")
    ns = sorted({r["n"] for r in records})
    peaks = [max(r["driver_peak_mib"] for r in records if r["n"] == n) for n in ns]
    growth = (f"Driver peak from N = {ns[0]:,} to {ns[-1]:,} ({ns[-1] / ns[0]:g}x rows): {peaks[0]:.0f} -> "
              f"{peaks[-1]:.0f} MiB ({peaks[-1] / peaks[0]:.2f}x). The driver keeps 6 B a row and target batch "
              "(gradients, top classes) plus the run's values; the rows themselves stay in the file.")
    text = "\n".join(["# sava on Ray: 1 vs 2 nodes on one machine\n", f"Machine: {machine_line()}\n",
                      f"Command: `{' '.join(['python', *sys.argv])}`\n", *rows, "", growth, "",
                      *paper_lines(records), ""])
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
