"""Torch thread count for the training methods: 1 vs 2 intra-op threads on the same run.

For lossval, dvgs and dvemb (defaults, raw features: the MLP on digits, the small CNN on MNIST)
and for the ``target_trained`` embedding's training (``torch_models.fit_model`` with the
embedding's settings on the target rows), each run is timed with 1 and with 2 threads back to
back (order alternating), wall and process CPU time. 20 % target, 20 % uniform label noise, seed 0.
Writes ``benchmarks/results/threads.md``.

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/threads.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core import torch_models
from dataval_core.embeddings import build_problem
from dataval_core.embeddings.raw import raw_features
from dataval_core.noise import inject_label_noise
from dataval_core.registry import get_spec
from dataval_core.samples import load_sample
from dataval_core.targets import split_target

OUT = Path(__file__).resolve().parent / "results" / "threads.md"


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def method_run(name: str, problem, threads: int):
    cls = get_spec(name).load()

    def run():
        saved = cls.torch_threads
        cls.torch_threads = threads
        try:
            cls({}, seed=0).fit(problem)
        finally:
            cls.torch_threads = saved
    return run


def embedding_run(ds, threads: int):
    """The target_trained embedding's training, as ``embeddings.core`` runs it."""
    fm = raw_features(ds)
    t = ds.target_index
    epochs = int(np.clip(3000 * 64 / max(len(t), 1), 5, 60))

    def run():
        model = torch_models.make_model(fm.x.shape[1], ds.n_classes, fm.image_shape, hidden=(128, 32), seed=0)
        torch_models.fit_model(model, fm.x[t], ds.labels[t], epochs=epochs, batch_size=64, lr=1e-3, seed=0,
                               threads=threads)
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist"])
    p.add_argument("--methods", nargs="+", default=["lossval", "dvgs", "dvemb", "target_trained"])
    p.add_argument("--append", action="store_true", help="add rows to the existing results table")
    args = p.parse_args()
    load_start = os.getloadavg()[0]
    rows = []
    for name in args.datasets:
        ds = inject_label_noise(split_target(load_sample(name), 0.2, seed=0), 0.2, kind="uniform", seed=0)
        problem = build_problem(ds, "raw", seed=0)
        for i, method in enumerate(args.methods):
            def make(k, ds=ds, method=method, problem=problem):
                return embedding_run(ds, k) if method == "target_trained" else method_run(method, problem, k)
            make(1)()  # warm-up: first calls load kernels
            order = (1, 2) if i % 2 == 0 else (2, 1)
            t = {k: timed(make(k)) for k in order}
            rows.append((name, method, t[1], t[2]))
            print(f"{name:<7} {method:<15} 1 thread {t[1][0]:.1f} s ({t[1][1]:.1f} CPU)  "
                  f"2 threads {t[2][0]:.1f} s ({t[2][1]:.1f} CPU)", flush=True)
            write(rows, load_start, args.append)


def write(rows, load_start: float, append: bool) -> None:
    """Write the table so far (a long run keeps its finished rows); ``append`` keeps earlier runs' rows and lines."""
    load = f"1-min load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} now"
    table = [f"| {name} | {method} | {one[0]:.1f} | {one[1]:.1f} | {two[0]:.1f} | {two[1]:.1f} | "
             f"{two[0] / one[0]:.2f} |" for name, method, one, two in rows]
    runs = [f"- Machine: {machine_line()}; {load}. Command: `python {' '.join(sys.argv)}`"]
    if append and OUT.exists():
        if not hasattr(write, "before"):  # the file as it was when this run started
            old = OUT.read_text().splitlines()
            write.before = ([ln for ln in old if ln.startswith("- Machine:")],
                            [ln for ln in old if ln.startswith("| ") and not ln.startswith("| data")])
        runs = write.before[0] + runs
        table = write.before[1] + table
    lines = ["# Torch threads for the training methods: 1 vs 2", "", "Runs:", "", *runs, "",
             ("Each method with its defaults on raw features (digits: MLP 64→128→32→10 on 1,438 rows; MNIST: the "
              "small CNN on 4,000 28×28 images), 20 % target, 20 % uniform noise, seed 0. `target_trained` = the "
              "embedding's training (`fit_model` on the target rows, its epochs and batch 64). Each pair ran back "
              "to back after a warm-up run; wall and process CPU seconds."), "",
             ("| data | method | 1 thread wall (s) | 1 thread CPU (s) | 2 threads wall (s) | 2 threads CPU (s) | "
              "wall 2 / 1 |"), "|---|---|---:|---:|---:|---:|---:|", *table]
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
