"""SAVA: scalable learning-agnostic data valuation (Kessler, Le, Nguyen; ICLR 2025).

Hierarchical OT. The valued rows are split into K batches and the target rows into L
batches (seeded random partitions, each batch's rows kept in file order). Every batch
pair (k, l) is a small LAVA problem: its label-augmented cost, dual potentials,
calibrated gradient ``CG^{kl}`` and OT cost ``C̄_kl``. An outer OT between batches,
with probability marginals 1/K and 1/L, gives the plan ``π̄``; a row i of batch k gets
``s_i = K · Σ_l π̄_kl CG^{kl}_i`` (a π̄-weighted average over target batches) and value
``-s_i``, so **higher = more useful**. With one batch on each side this is exactly LAVA.

Memory is O(batch_size²) per worker plus 6 bytes per valued row and target batch (the
stored per-pair gradients and top classes), never O(n · m): the valued rows are read batch by
batch from ``problem.x`` (a read-only ``np.memmap`` is fine and its pages are released
after each read, so resident memory stays flat), and the label cost W is computed once
from a stratified sample. Batch pairs run on a thread pool (POT's network simplex and
numpy's kernels release the GIL); results are stored by pair index, so they do not
depend on scheduling.

Differences from the reference code, on purpose: W from the whole sets (a stratified
sample), not from the first batch pair; outer marginals normalised (the reference's
ones-vectors of lengths K and L cannot be balanced when K ≠ L); exact outer OT instead
of a third Sinkhorn with its own ε; potentials, plan and pair cost come from the same
solve; a short tail batch is merged into the previous one (a 1-row batch would make the
calibrated gradient divide by zero); batches are random, so class-sorted files still
give mixed batches.
"""
from __future__ import annotations

import dataclasses
import mmap
import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, Output
from . import _ot


@dataclass(frozen=True)
class SavaParams:
    """``lava``'s parameters plus the batch size and the worker count."""

    batch_size: int = param(1024, low=16, high=1_000_000, help="Rows per valued and per target batch.")
    solver: str = param("exact", choices=_ot.SOLVERS,
                        help="exact: network simplex duals; sinkhorn: entropic, log-stabilised duals.")
    reg: float = param(0.05, low=0.0, high=10.0, low_open=True,
                       help="Entropic regularisation relative to the mean cost (sinkhorn only).")
    label_weight: float = param(1.0, low=0.0, help="Weight of the label-to-label cost W in the ground cost.")
    label_samples: int = param(1000, low=2, high=1_000_000,
                               help="Rows per class (each side) used to compute the label cost W.")
    n_jobs: int = param(0, low=0, high=1024, help="Threads solving batch pairs; 0 = all local cores.")


def batch_bounds(n: int, batch_size: int) -> np.ndarray:
    """Batch boundaries, shape (K + 1,): batches of ``batch_size`` rows, except that a
    tail shorter than half a batch is merged into the previous batch."""
    k = max(1, n // batch_size + (1 if n % batch_size >= batch_size / 2 else 0))
    bounds = np.minimum(np.arange(k + 1) * batch_size, n)
    bounds[-1] = n
    return bounds


def release_pages(x: np.ndarray) -> None:
    """Drop this process's resident pages of a memory-mapped array (no-op otherwise).

    The data stay in the OS page cache; the next read faults them back in. Keeps the
    resident set of a streaming pass flat instead of growing to the file's size.
    """
    handle = getattr(x, "_mmap", None)
    if isinstance(x, np.memmap) and isinstance(handle, mmap.mmap) and hasattr(handle, "madvise"):
        handle.madvise(mmap.MADV_DONTNEED)


def memmap_problem(problem: Problem, path: str | os.PathLike, chunk_rows: int = 65536) -> Problem:
    """Write ``problem.x`` to a ``.npy`` file in row chunks and reopen it memory-mapped.

    Used by the CLI for inputs larger than RAM and by the scale benchmark.

    Args:
        problem: the problem whose valued features to write.
        path: destination ``.npy`` file (overwritten).
        chunk_rows: rows copied per step.

    Returns:
        The same problem with ``x`` a read-only ``np.memmap`` on ``path``.
    """
    path = Path(path)
    n, d = problem.x.shape
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, chunk_rows):
        out[start:start + chunk_rows] = problem.x[start:start + chunk_rows]
        release_pages(problem.x)
    out.flush()
    del out
    mapped = dataclasses.replace(problem, x=np.load(path, mmap_mode="r"))
    release_pages(mapped.x)
    return mapped


def _blas_single_thread(workers: int):
    """Limit BLAS to one thread per worker while several workers run (avoids oversubscription)."""
    if workers <= 1:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


class SavaValuator(BaseValuator):
    """Batched (hierarchical) LAVA; memory independent of the number of valued rows."""

    name = "sava"
    Params = SavaParams
    default_embedding = "target_trained"

    def _compute(self, problem: Problem, params: SavaParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        timings = {}
        reporter.update("label cost", 0, 1, "W between classes")
        t = time.perf_counter()
        w = _ot.label_cost(problem.x, problem.y, problem.x_target, problem.y_target, problem.classes,
                           per_class=params.label_samples, rng=rng)
        release_pages(problem.x)
        timings["label_cost"] = time.perf_counter() - t

        n, m, n_classes = problem.n, len(problem.x_target), problem.n_classes
        v_perm, t_perm = rng.permutation(n), rng.permutation(m)
        v_bounds, t_bounds = batch_bounds(n, params.batch_size), batch_bounds(m, params.batch_size)
        n_k, n_l = len(v_bounds) - 1, len(t_bounds) - 1
        y = np.asarray(problem.y)
        target_rows = [np.sort(t_perm[t_bounds[l]:t_bounds[l + 1]]) for l in range(n_l)]
        target_x = [np.asarray(problem.x_target[r]) for r in target_rows]
        target_y = [np.asarray(problem.y_target)[r] for r in target_rows]

        gradients = np.empty((n, n_l), dtype=np.float32)
        tops = np.empty((n, n_l), dtype=np.int16 if n_classes < 2**15 else np.int32)
        pair_cost = np.empty((n_k, n_l))
        converged = np.ones((n_k, n_l), dtype=bool)

        def valued_rows(k: int) -> np.ndarray:
            return np.sort(v_perm[v_bounds[k]:v_bounds[k + 1]])

        def solve_pair(k: int, l: int):
            rows = valued_rows(k)
            xk = np.array(problem.x[rows])
            release_pages(problem.x)
            cost = _ot.augmented_cost(xk, y[rows], target_x[l], target_y[l], w, params.label_weight)
            duals = _ot.solve_duals(cost, params.solver, params.reg)
            top = _ot.top_target_class(duals.plan, target_y[l], n_classes)
            return k, l, rows, duals.cost, _ot.calibrated_gradient(duals.f), top, duals.converged

        total = n_k * n_l
        workers = params.n_jobs or len(os.sched_getaffinity(0))
        workers = max(1, min(workers, total))
        pairs = iter([(k, l) for k in range(n_k) for l in range(n_l)])
        done = 0
        reporter.update("batch pairs", 0, total, f"{n_k} x {n_l} batches")
        t = time.perf_counter()
        with _blas_single_thread(workers), ThreadPoolExecutor(workers) as pool:
            pending = {pool.submit(solve_pair, *p) for p in [next(pairs) for _ in range(min(total, 2 * workers))]}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        k, l, rows, cost, gradient, top, ok = fut.result()
                        gradients[rows, l] = gradient
                        tops[rows, l] = top
                        pair_cost[k, l] = cost
                        converged[k, l] = ok
                        done += 1
                        reporter.update("batch pairs", done, total, f"pair {done}/{total}")
                        nxt = next(pairs, None)
                        if nxt is not None:
                            pending.add(pool.submit(solve_pair, *nxt))
            finally:
                for fut in pending:
                    fut.cancel()
        timings["batch_pairs"] = time.perf_counter() - t

        reporter.update("outer OT", 0, 1, f"{n_k} x {n_l} batch costs")
        t = time.perf_counter()
        outer = _ot.solve_duals(pair_cost, "exact")
        weights = outer.plan * n_k  # rows sum to 1: a weighted average over target batches
        values = np.empty(n)
        suggested = np.empty(n, dtype=int)
        for k in range(n_k):
            rows = valued_rows(k)
            values[rows] = -(gradients[rows].astype(np.float64) @ weights[k])
            votes = np.zeros((len(rows), n_classes))
            for l in np.flatnonzero(weights[k] > 0):
                votes[np.arange(len(rows)), tops[rows, l]] += weights[k, l]
            suggested[rows] = np.argmax(votes, axis=1)
        timings["outer_ot"] = time.perf_counter() - t
        reporter.update("outer OT", 1, 1, "done")
        status = "ok" if converged.all() and outer.converged else "not_converged"
        return Output(values=values, suggested=suggested, extras={"calibrated_gradient": -values},
                      status=status, timings=timings)
