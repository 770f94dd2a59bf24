"""SAVA: scalable learning-agnostic data valuation (Kessler, Le, Nguyen; ICLR 2025).

Hierarchical OT. The valued rows are split into K batches and the target rows into L
batches (seeded, class-stratified partitions, each batch's rows kept in file order). Every
batch pair (k, l) is a small LAVA problem: its label-augmented cost, dual potentials,
harm score ``H^{kl}`` (calibrated gradient + relabel gain, see ``lava``) and OT cost
``C̄_kl``. An outer OT between batches, with probability marginals 1/K and 1/L, gives the
plan ``π̄``; a row i of batch k gets ``s_i = K · Σ_l π̄_kl H^{kl}_i`` (a π̄-weighted
average over target batches) and value ``-s_i``, so **higher = more useful**. The
suggested label is the class of the nearest target row over all target batches. With one
batch on each side this is exactly LAVA.

Memory is O(batch_size²) per worker plus 10 bytes per valued row and target batch (the
stored per-pair scores, nearest classes and distances), never O(n · m): the valued rows are read batch by
batch from ``problem.x`` (a read-only ``np.memmap`` is fine and its pages are released
after each read, so resident memory stays flat), and the label cost W is computed once
from a stratified sample. The batch pairs (and W's class pairs) are tasks on the compute
backend (:mod:`dataval_core.backend`), which receive the target batches and W once and one
valued batch per task; the backend decides who reads that batch's rows (this machine: the
driver, as the task is submitted; Ray: each worker, from the shared file) and how tasks run.
sava tells it that exact solves on large problems hold the GIL (the local backend then uses
worker processes) and the ``n_jobs`` cap. Results are stored by batch index, so they do not
depend on scheduling, worker kind or backend.

Differences from the reference code, on purpose: W from the whole target set (a
stratified sample, as ``lava``), not from the first batch pair; outer marginals normalised (the reference's
ones-vectors of lengths K and L cannot be balanced when K ≠ L); the outer entropic OT
runs in the log domain (``outer_reg = 0`` makes it exact); potentials, plan and pair cost
come from the same solve; batches are class-stratified rather than purely random (see
:func:`stratified_batches`: in random batches the per-pair class imbalance is priced by
the duals and drowns the label-noise signal), so class-sorted files still give mixed
batches; K = number of batches of ``batch_size`` rows with a tail shorter than half a
batch merged (a 1-row batch would make the calibrated gradient divide by zero), and the
rows are dealt evenly, so batch sizes differ by at most one row.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..backend import Backend, Work, checkpoint
from ..params import CORES, MAX_OT_SIDE, param
from ..problem import Problem
from ..progress import Reporter
from ..result import ResultStatus
from ..rows import release_pages
from ..valuator import BaseValuator, Output
from . import _ot


@dataclass(frozen=True)
class SavaParams(_ot.OTParams):
    """The OT parameters plus the batches, the outer OT and the workers."""

    batch_size: int = param(2048, low=16, high=MAX_OT_SIDE,
                            help="Rows per valued and per target batch. Larger batches track lava more closely "
                                 "at about the same total CPU time; memory per worker grows with its square "
                                 "(measured: benchmarks/results/fidelity_sava.md).")
    outer_reg: float = param(0.01, low=0.0, high=10.0,
                             help="Entropic regularisation of the outer OT between batches, relative to the "
                                  "largest batch-pair cost (the reference's 0.01); 0 = exact outer OT.")
    n_jobs: int = param(0, low=0, high=CORES, help="Workers solving batch pairs; 0 = all local cores.")
    parallel: str = param("auto", choices=("auto", "processes", "threads"),
                          help="Worker kind: processes run exact solves in parallel (POT holds the GIL) "
                               "but take ~1 s each to start; auto picks processes for large problems.")


def batch_bounds(n: int, batch_size: int) -> np.ndarray:
    """Batch boundaries, shape (K + 1,): batches of ``batch_size`` rows, except that a
    tail shorter than half a batch is merged into the previous batch."""
    k = max(1, n // batch_size + (1 if n % batch_size >= batch_size / 2 else 0))
    bounds = np.minimum(np.arange(k + 1) * batch_size, n)
    bounds[-1] = n
    return bounds


def stratified_batches(y: np.ndarray, n_batches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Seeded class-stratified partition of ``range(len(y))`` into ``n_batches`` batches.

    Rows are shuffled, grouped by class and dealt round-robin, so every batch holds its
    class's share of each class (±1 row) and batch sizes differ by at most one row. Each
    batch's rows are returned in ascending (file) order.

    Why stratify: exact OT duals price class-mass imbalance. In a purely random batch
    pair, a class that happens to be over-represented on the valued side makes all its
    rows look harmful in that pair, a noise term as large as the label-noise signal
    itself at batch sizes of a few hundred; with stratified batches every pair sees the
    global class proportions, as LAVA does.

    Returns:
        A list of ``n_batches`` int arrays of row indices.
    """
    y = np.asarray(y)
    order = rng.permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]
    batch = np.empty(len(y), dtype=np.int32)
    batch[order] = np.arange(len(y), dtype=np.int32) % n_batches
    grouped = np.argsort(batch, kind="stable").astype(np.int32)  # int32: 4 bytes a row for the whole run
    return np.split(grouped, np.cumsum(np.bincount(batch, minlength=n_batches))[:-1])


__all__ = ["SavaParams", "SavaValuator", "batch_bounds", "outer_plan", "release_pages", "stratified_batches",
           "use_processes"]  # release_pages: for callers that stream a memory-mapped problem (CLI, benchmarks)


def outer_plan(pair_cost: np.ndarray, reg: float) -> _ot.Duals:
    """Plan of the outer OT between the K valued and L target batches, marginals 1/K, 1/L.

    ``reg > 0``: entropic OT on ``pair_cost / max(pair_cost)`` (as the reference code),
    log-domain Sinkhorn. Stratified batch pairs have nearly equal costs, and the exact
    plan of such a problem is an arbitrary vertex that scores each valued batch against
    one or two target batches only; the entropic plan spreads each valued batch over the
    target batches it is close to, so its values average over more target rows.
    ``reg = 0``: exact OT (network simplex).
    """
    if reg == 0 or pair_cost.size == 1:
        return _ot.solve_duals(pair_cost, "exact")
    ot = _ot._ot()
    k, l = pair_cost.shape
    scale = float(pair_cost.max()) or 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, log = ot.sinkhorn(np.full(k, 1.0 / k), np.full(l, 1.0 / l), pair_cost / scale, reg,
                                method="sinkhorn_log", stopThr=1e-9, numItermax=100_000, log=True)
    converged = not any("converge" in str(w.message).lower() for w in caught)
    f = scale * np.asarray(log["log_u"]) * reg
    g = scale * np.asarray(log["log_v"]) * reg
    return _ot.Duals(f, g, plan, float(np.sum(plan * pair_cost)), converged)


def _solve_group(state: dict, k: int, valued, yk: np.ndarray, ls: tuple[int, ...]):
    """OT of valued batch k against target batches ``ls``. ``valued`` is what ``state["x"]`` (the
    backend's :class:`~dataval_core.rows.Rows` of the valued rows) took for the batch: its rows, or their
    indices when the worker reads them itself.

    Returns ``(k, [(l, pair cost, harm score, nearest target class, its distance, converged), ...])``.
    """
    xk = np.asarray(state["x"].read(valued), dtype=np.float64)
    out = []
    for l in ls:
        checkpoint()
        s = _ot.pair_scores(xk, yk, state["target_x"][l], state["target_y"][l], state["w"],
                            label_weight=state["label_weight"], relabel_weight=state["relabel_weight"],
                            solver=state["solver"], reg=state["reg"], device=state["device"])
        out.append((l, s.cost, s.harm.astype(np.float32), s.nearest_class, s.nearest_dist.astype(np.float32),
                    s.converged))
    return k, out


def _apply(fn, *args):
    return fn(*args)


def use_processes(parallel: str, n: int, m: int) -> bool:
    """Whether the exact solves are worth worker processes (POT's network simplex holds the GIL,
    so threads do not run solves in parallel; processes cost ~1 s each to start). The backend
    decides whether it has processes to give (one worker, or a cluster, has none)."""
    if parallel == "threads":
        return False
    return parallel == "processes" or n * m >= PROCESS_MIN_ENTRIES


#: ``parallel="auto"`` uses processes from this many valued x target rows (≈ 5 s of solves)
PROCESS_MIN_ENTRIES = 20_000_000


class SavaValuator(BaseValuator):
    """Batched (hierarchical) LAVA; memory independent of the number of valued rows."""

    name = "sava"
    summary = ("SAVA (Kessler et al. 2025): LAVA by hierarchical OT over batch pairs; memory flat in N, "
               "streams from disk.")
    low_value = "the same as lava, computed in batches (scales to large sets); low = far from its class in the target."
    cost = ("one small transport problem per pair of valued and target batches: memory set by batch_size, not by "
            "the rows; spread over the cores (or a Ray cluster).")
    uses_backend = True  # label costs and batch pairs are backend tasks
    Params = SavaParams
    default_embedding = "target_trained"

    def _compute(self, problem: Problem, params: SavaParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        timings = {}
        n, m = problem.n, len(problem.x_target)
        n_k = len(batch_bounds(n, params.batch_size)) - 1
        n_l = len(batch_bounds(m, params.batch_size)) - 1
        backend = self.compute_backend()
        solver = _ot.resolve_solver(params.solver, params.device)
        device = _ot.resolve_device(params.device, solver)
        # what the work is like; the backend decides workers, threads or processes, BLAS threads and row reads
        work = Work(max_workers=params.n_jobs, holds_gil=device == "cpu" and use_processes(params.parallel, n, m),
                    small_blas=True)
        workers = min(backend.workers(work), n_k * n_l)

        y = np.asarray(problem.y)
        v_batches = stratified_batches(y, n_k, rng)
        target_rows = stratified_batches(problem.y_target, n_l, rng)
        pairs = _PairScores.empty(n, n_k, n_l, problem.n_classes)
        groups = _pair_groups(n_k, n_l, workers)

        reporter.update("label cost", 0, 1, "W between classes")
        t = time.perf_counter()
        w = _ot.label_cost(problem.x, y, problem.x_target, problem.y_target, problem.classes,
                           per_class=params.label_samples, rng=rng, map_fn=_label_cost_map(backend, reporter, work))
        release_pages(problem.x)
        timings["label_cost"] = time.perf_counter() - t

        # sent once per worker (Ray: through the object store); each task carries what the backend's
        # rows took for its valued batch: the rows (read here), or their indices (read by the worker)
        rows = backend.rows(problem.x)
        state = {"target_x": [np.asarray(problem.x_target[r], dtype=np.float64) for r in target_rows],
                 "target_y": [np.asarray(problem.y_target)[r] for r in target_rows], "w": w,
                 "label_weight": params.label_weight, "relabel_weight": params.relabel_weight,
                 "solver": solver, "reg": params.reg, "device": device, "x": rows}

        def task(k: int, ls: tuple[int, ...]) -> tuple:
            return k, rows.take(v_batches[k]), y[v_batches[k]], ls

        tasks = [partial(task, *g) for g in groups]  # built when submitted: few batches in memory
        t = time.perf_counter()
        for _, (k, out) in backend.map(_solve_group, tasks, reporter, "batch pairs", shared=state,
                                       units=[len(g[1]) for g in groups], work=work):
            pairs.add(k, v_batches[k], out)
        timings["batch_pairs"] = time.perf_counter() - t

        reporter.update("outer OT", 0, 1, f"{n_k} x {n_l} batch costs")
        t = time.perf_counter()
        outer = outer_plan(pairs.pair_cost, params.outer_reg)
        values, suggested = pairs.combine(outer.plan, v_batches)
        timings["outer_ot"] = time.perf_counter() - t
        reporter.update("outer OT", 1, 1, "done")
        status = ResultStatus.OK if pairs.converged.all() and outer.converged else ResultStatus.NOT_CONVERGED
        return Output(values=values, suggested=suggested, status=status, timings=timings)


def _pair_groups(n_k: int, n_l: int, workers: int) -> list[tuple[int, tuple[int, ...]]]:
    """The tasks, as (valued batch, its target batches): a task per valued batch (all its target batches: one
    read of its rows, from disk when x is memory-mapped) when there are enough to keep the workers busy, else
    a task per pair."""
    if n_k >= 2 * workers:
        return [(k, tuple(range(n_l))) for k in range(n_k)]
    return [(k, (l,)) for k in range(n_k) for l in range(n_l)]


def _label_cost_map(backend: Backend, reporter: Reporter, work: Work):
    """A ``map`` that computes W's class pairs as backend tasks, in order."""
    def label_map(fn, *iterables):
        tasks = list(zip(*iterables))
        return [c for _, c in backend.map(_apply, tasks, reporter, "label cost", shared=fn, ordered=True, work=work)]
    return label_map


@dataclass(frozen=True)
class _PairScores:
    """What the batch pairs give: per valued row and target batch l its harm score, nearest target class and
    that class's distance, shape (n, L); per batch pair (k, l) its OT cost and whether it converged, (K, L)."""

    harm: np.ndarray
    nearest: np.ndarray
    nearest_dist: np.ndarray
    pair_cost: np.ndarray
    converged: np.ndarray

    @classmethod
    def empty(cls, n: int, n_k: int, n_l: int, n_classes: int) -> _PairScores:
        return cls(np.empty((n, n_l), dtype=np.float32),
                   np.empty((n, n_l), dtype=np.int16 if n_classes < 2**15 else np.int32),
                   np.empty((n, n_l), dtype=np.float32), np.empty((n_k, n_l)), np.ones((n_k, n_l), dtype=bool))

    def add(self, k: int, rows: np.ndarray, out: list[tuple]) -> None:
        """Store valued batch ``k``'s (``rows``) results, as :func:`_solve_group` returns them."""
        for l, cost, harm, near, near_dist, ok in out:
            self.harm[rows, l] = harm
            self.nearest[rows, l] = near
            self.nearest_dist[rows, l] = near_dist
            self.pair_cost[k, l] = cost
            self.converged[k, l] = ok

    def combine(self, plan: np.ndarray, v_batches: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Values ``-K · Σ_l π̄_kl H^{kl}_i`` under the outer ``plan`` (K, L), and each row's suggested class
        (the nearest target row's over all target batches)."""
        n = len(self.harm)
        weights = plan * len(v_batches)  # rows sum to 1: a weighted average over target batches
        values = np.empty(n)
        for k, rows in enumerate(v_batches):
            values[rows] = -(self.harm[rows].astype(np.float64) @ weights[k])
        suggested = self.nearest[np.arange(n), np.argmin(self.nearest_dist, axis=1)].astype(np.int32)
        return values, suggested
