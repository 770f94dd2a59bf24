"""Torch thread count for the training loops the engine runs: 1 vs 2 intra-op threads on the same run.

Timed is what the engine runs, nothing stood in for it: lossval, dvgs and dvemb through ``fit``
with their defaults (each method's own training loop, the thread count set the way
``BaseValuator.fit`` sets it, from the class's ``torch_threads``), and ``target_trained``:
``embeddings.learned.target_trained_model``, the training behind the ``target_trained`` and
``cross_fitted`` embeddings and consensus's learned space, with the thread count it reads
(``torch_models.SMALL_MODEL_THREADS``) set to 1 or 2.
Raw features; 20 % target, 20 % uniform label noise, seed 0. ``--max-valued`` keeps a seeded
sample of the valued rows (the target rows stay whole) to keep a run short. Each pair runs back
to back (order alternating) after a warm-up run; wall and process CPU time.
Writes ``benchmarks/results/threads.md``.

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/threads.py --max-valued 1500
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core import torch_models
from dataval_core.embeddings import build_problem, learned
from dataval_core.noise import inject_label_noise
from dataval_core.problem import Problem
from dataval_core.registry import get_spec
from dataval_core.samples import load_sample
from dataval_core.targets import split_target

OUT = Path(__file__).resolve().parent / "results" / "threads.md"


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def problem_for(name: str, max_valued: int | None) -> Problem:
    """The bundled dataset ``name`` on raw features, at most ``max_valued`` valued rows (a seeded sample)."""
    ds = inject_label_noise(split_target(load_sample(name), 0.2, seed=0), 0.2, kind="uniform", seed=0)
    problem = build_problem(ds, "raw", seed=0)
    if max_valued is None or problem.n <= max_valued:
        return problem
    keep = np.sort(np.random.default_rng(0).choice(problem.n, max_valued, replace=False))
    return dataclasses.replace(problem, ids=problem.ids[keep], x=problem.x[keep], y=problem.y[keep])


def method_run(name: str, problem: Problem, threads: int):
    """The method's ``fit`` with ``threads`` as its class's ``torch_threads``."""
    cls = get_spec(name).load()

    def run():
        saved = cls.torch_threads
        cls.torch_threads = threads
        try:
            cls({}, seed=0).fit(problem)
        finally:
            cls.torch_threads = saved
    return run


def target_trained_run(problem: Problem, threads: int):
    """The target_trained net's training on the target rows, as consensus builds its learned space."""
    x_all = np.concatenate([problem.x, problem.x_target])
    labels = np.concatenate([problem.y, problem.y_target])
    target_idx = np.arange(problem.n, len(x_all))

    def run():
        saved = torch_models.SMALL_MODEL_THREADS  # the count train_embedder runs on
        torch_models.SMALL_MODEL_THREADS = threads
        try:
            learned.target_trained_model(x_all, labels, target_idx, image_shape=problem.image_shape,
                                         task=problem.task, n_classes=problem.n_classes, seed=0)
        finally:
            torch_models.SMALL_MODEL_THREADS = saved
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist"])
    p.add_argument("--methods", nargs="+", default=["lossval", "dvgs", "dvemb", "target_trained"])
    p.add_argument("--max-valued", type=int, default=None, help="valued rows kept per dataset (default: all)")
    p.add_argument("--append", action="store_true", help="add rows to the existing results table")
    args = p.parse_args()
    load_start = os.getloadavg()[0]
    rows = []
    for name in args.datasets:
        problem = problem_for(name, args.max_valued)
        for i, method in enumerate(args.methods):
            def make(k, method=method, problem=problem):
                return target_trained_run(problem, k) if method == "target_trained" else \
                    method_run(method, problem, k)
            make(1)()  # warm-up: first calls load kernels
            order = (1, 2) if i % 2 == 0 else (2, 1)
            t = {k: timed(make(k)) for k in order}
            rows.append((name, f"{problem.n:,} / {len(problem.x_target):,}", method, t[1], t[2]))
            print(f"{name:<7} {method:<15} 1 thread {t[1][0]:.1f} s ({t[1][1]:.1f} CPU)  "
                  f"2 threads {t[2][0]:.1f} s ({t[2][1]:.1f} CPU)", flush=True)
            write(rows, load_start, args.append)


def write(rows, load_start: float, append: bool) -> None:
    """Write the table so far (a long run keeps its finished rows); ``append`` keeps earlier runs' rows and lines."""
    load = f"1-min load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} now"
    table = [f"| {name} | {size} | {method} | {one[0]:.1f} | {one[1]:.1f} | {two[0]:.1f} | {two[1]:.1f} | "
             f"{two[0] / one[0]:.2f} |" for name, size, method, one, two in rows]
    runs = [f"- Machine: {machine_line()}; {load}. Command: `python {' '.join(sys.argv)}`"]
    if append and OUT.exists():
        if not hasattr(write, "before"):  # the file as it was when this run started
            old = OUT.read_text().splitlines()
            write.before = ([ln for ln in old if ln.startswith("- Machine:")],
                            [ln for ln in old if ln.startswith("| ") and not ln.startswith("| data")])
        runs = write.before[0] + runs
        table = write.before[1] + table
    lines = ["# Torch threads for the training loops: 1 vs 2", "", "Runs:", "", *runs, "",
             ("Each method with its defaults on raw features through its own `fit` (digits: the MLP "
              "64→128→32→10; MNIST: the small CNN on 28×28 images), 20 % target, 20 % uniform noise, seed 0. "
              "`target_trained` = `embeddings.learned.target_trained_model` on the target rows (the net behind "
              "the target_trained and cross_fitted embeddings and consensus's learned space). Each pair ran back "
              "to back after a warm-up run; wall and process CPU seconds."), "",
             ("| data | valued / target rows | method | 1 thread wall (s) | 1 thread CPU (s) | 2 threads wall (s) | "
              "2 threads CPU (s) | wall 2 / 1 |"), "|---|---|---|---:|---:|---:|---:|---:|", *table]
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
