"""Where one sava batch pair spends its CPU time, and what that implies at 1M x 5,000.

One (valued batch x target batch) problem like those of ``benchmarks/scale_ot.py`` (10
Gaussian classes in d = 64, centres N(0, 3²), unit noise), one BLAS thread (as sava's
workers run), process CPU time per stage (the machine is shared, so wall time is skewed):
the label-augmented cost, the exact OT solve (POT's network simplex), the relabel terms, and
for comparison the Sinkhorn solve sava would use with ``solver=sinkhorn`` (log-stabilised,
``reg`` 0.05 of the mean cost, the default), which is not part of the total.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice .venv/bin/python benchmarks/profile_sava_pair.py \\
        --out benchmarks/results/profile_sava_pair.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine_line
from dataval_core.methods import _ot


def cpu_ms(fn, seconds: float = 3.0) -> float:
    t, k = time.process_time(), 0
    while time.process_time() - t < seconds:
        fn()
        k += 1
    return 1e3 * (time.process_time() - t) / k


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", nargs="+", default=["1024x1000", "2048x1000"])
    p.add_argument("--n", type=int, default=1_000_000, help="valued rows of the extrapolation")
    p.add_argument("--m", type=int, default=5_000, help="target rows of the extrapolation")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n_classes, d = 10, 64
    centers = rng.normal(0, 3, (n_classes, d))
    w = np.full((n_classes, n_classes), 100.0)
    np.fill_diagonal(w, 0.0)
    rows = []
    for shape in args.shapes:
        nb, mb = (int(v) for v in shape.split("x"))
        ya, yb = np.arange(nb) % n_classes, np.sort(np.arange(mb) % n_classes)
        xa = centers[ya] + rng.normal(size=(nb, d))
        xb = centers[yb] + rng.normal(size=(mb, d))
        cost = _ot.augmented_cost(xa, ya, xb, yb, w, 1.0)
        duals = _ot.solve_duals(cost, "exact")
        stage = {"cost": cpu_ms(lambda: _ot.augmented_cost(xa, ya, xb, yb, w, 1.0)),
                 "exact solve": cpu_ms(lambda: _ot.solve_duals(cost, "exact")),
                 "relabel terms": cpu_ms(lambda: _ot.relabel_terms(cost, duals.g, ya, yb, w, 1.0))}
        total = sum(stage.values())
        stage["sinkhorn solve"] = cpu_ms(lambda: _ot.solve_duals(cost, "sinkhorn", 0.05))
        pairs = -(-args.n // nb) * -(-args.m // mb)
        rows.append((shape, stage, total, pairs, pairs * total / 1e3))
        print(rows[-1], flush=True)
    if args.out:
        lines = ["# sava: CPU time of one batch pair", "", f"Machine: {machine_line()}", "",
                 f"Command: `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice .venv/bin/python {' '.join(sys.argv)}`",
                 "", "Process CPU time per call, one BLAS thread (the machine was shared: wall time would be "
                 f"skewed, CPU time much less so). *CPU s at {args.n:,} x {args.m:,}*: pairs x total, the CPU "
                 "work of all batch pairs of that run.", "",
                 "| pair | cost ms | exact solve ms | relabel terms ms | total ms | pairs | CPU s at "
                 f"{args.n:,} x {args.m:,} | sinkhorn solve ms (not in total) |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for shape, stage, total, pairs, cpu in rows:
            lines.append(f"| {shape} | {stage['cost']:.1f} | {stage['exact solve']:.1f} | "
                         f"{stage['relabel terms']:.1f} | {total:.1f} | {pairs:,} | {cpu:.0f} | "
                         f"{stage['sinkhorn solve']:.0f} |")
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
