"""Optimal-transport machinery shared by ``lava`` and ``sava`` (private).

Both methods value a labelled sample z_i = (x_i, y_i) by how much moving probability
mass onto it changes the OT distance between the valued set and the clean target set
(Just et al., "LAVA: Data Valuation without Pre-Specified Learning Algorithms", ICLR 2023;
Kessler et al., "SAVA: Scalable Learning-Agnostic Data Valuation", ICLR 2025). The pieces:

1. the label-to-label cost ``W[c, c']``: the exact OT distance (squared-Euclidean
   ground cost, i.e. W2²) between the embedded valued rows of class c and the embedded
   target rows of class c'; computed once per run from a seeded stratified sample;
2. the label-augmented ground cost between labelled points,
   ``C_ij = ||x_i - x'_j||² + label_weight * W[y_i, y'_j]`` (the OTDD definition; see
   :func:`augmented_cost` for how this differs from the reference code);
3. the dual potentials of OT between the uniform measures on the two sets, from POT
   (exact network simplex, or log-stabilised entropic Sinkhorn);
4. the calibrated gradient of the OT cost w.r.t. the mass on each valued point, whose
   sign is flipped by the valuators so that higher value = more useful.
"""
from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..params import MAX_OT_SIDE, param

#: network-simplex iteration cap; POT's default (1e5) stops early on 2000 x 2000 problems
EMD_MAX_ITER = 10_000_000
#: Sinkhorn stopping threshold on the marginal violation (float64 reaches it reliably)
SINKHORN_STOP = 1e-6
SINKHORN_MAX_ITER = 10_000
SOLVERS = ("exact", "sinkhorn")


@dataclass(frozen=True)
class OTParams:
    """Parameters of the OT problem itself, shared by ``lava`` and ``sava``."""

    solver: str = param("exact", choices=SOLVERS,
                        help="exact: network simplex duals; sinkhorn: entropic, log-stabilised duals.")
    reg: float = param(0.05, low=0.0, high=10.0, low_open=True,
                       help="Entropic regularisation relative to the mean cost (sinkhorn only).")
    label_weight: float = param(1.0, low=0.0, high=100.0,
                                help="Weight of the label-to-label cost W in the ground cost.")
    label_samples: int = param(1000, low=2, high=MAX_OT_SIDE,
                               help="Rows per class (each side) used to compute the label cost W.")


# Bytes per cost-matrix entry held at the peak of one dense solve (cost + plan +
# solver state), measured with POT 0.9.7 on float64 problems: the network simplex keeps
# an arc list with costs, flows and states; stabilised Sinkhorn keeps the cost, the
# kernel and two temporaries of the same size.
_BYTES_PER_ENTRY = {"exact": 64, "sinkhorn": 40}


def _ot():
    """Import POT without letting it import torch (we only pass numpy arrays)."""
    os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
    import ot

    return ot


def sq_distances(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances in float64, shape (len(xa), len(xb)), clipped at 0."""
    xa = np.asarray(xa, dtype=np.float64)
    xb = np.asarray(xb, dtype=np.float64)
    d = np.einsum("ij,ij->i", xa, xa)[:, None] + np.einsum("ij,ij->i", xb, xb)[None, :]
    d -= 2.0 * (xa @ xb.T)
    np.maximum(d, 0.0, out=d)
    return d


def _file_map(x: np.ndarray) -> mmap.mmap | None:
    """The shared file mapping behind ``x``, if any: ``x`` itself may be an ``np.memmap``
    or a plain view of one (``np.asarray(memmap)``, as ``Problem.from_arrays`` makes)."""
    obj: object = x
    while obj is not None:
        if isinstance(obj, np.memmap):
            # copy-on-write maps ("c") are private: dropping their pages would lose edits
            handle = getattr(obj, "_mmap", None)
            if obj.mode != "c" and isinstance(handle, mmap.mmap) and hasattr(handle, "madvise"):
                return handle
            return None
        obj = getattr(obj, "base", None)
    return None


def release_pages(x: np.ndarray) -> None:
    """Drop this process's resident pages of a memory-mapped array (no-op otherwise).

    The data stay in the OS page cache; the next read faults them back in. Keeps the
    resident set of a streaming pass flat instead of growing to the file's size.
    """
    handle = _file_map(x)
    if handle is not None:
        handle.madvise(mmap.MADV_DONTNEED)


def read_rows(x: np.ndarray, rows: np.ndarray, chunk: int = 128) -> np.ndarray:
    """``x[rows]`` as a new float32 array, read ``chunk`` rows at a time from a memory map,
    releasing the mapped pages after each chunk.

    Each page fault on a file map also maps its neighbours (the kernel's fault-around,
    64 KiB), so one fancy-index read of 1,000 rows scattered over a large file can map
    most of the file at once; chunked reads keep that transient below ``chunk`` x 64 KiB.
    """
    rows = np.asarray(rows)
    if _file_map(x) is None:
        return np.asarray(x[rows], dtype=np.float32)
    out = np.empty((len(rows), x.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), chunk):
        out[start:start + chunk] = x[rows[start:start + chunk]]
        release_pages(x)
    return out


def stratified_rows(y: np.ndarray, cls: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of class ``cls``: all of them, or a seeded sample of ``cap``."""
    rows = np.flatnonzero(y == cls)
    if len(rows) > cap:
        rows = np.sort(rng.choice(rows, size=cap, replace=False))
    return rows


def label_cost(x: np.ndarray, y: np.ndarray, x_target: np.ndarray, y_target: np.ndarray,
               classes: tuple[str, ...], *, per_class: int, rng: np.random.Generator,
               map_fn: Callable | None = None) -> np.ndarray:
    """Label-to-label cost W[c, c'] = W2² between class-conditional embedded sets.

    Computed once per run, from all rows of each class or a seeded sample of
    ``per_class`` rows (not from the first batch as the SAVA reference caches it, so W
    does not depend on batching). Only the rows sampled are read, so ``x`` may be a
    memory-mapped array of any size.

    Args:
        x: valued features, shape (n, d); may be ``np.memmap``.
        y: valued int class codes, shape (n,).
        x_target: target features, shape (m, d).
        y_target: target int class codes, shape (m,).
        classes: class names, used in error messages.
        per_class: at most this many rows per class and side enter a class-pair OT.
        rng: the run's generator (consumed in a fixed order: deterministic per seed).
        map_fn: a ``map``-like callable (e.g. a process pool's ``map``) that applies
            :func:`emd_cost` to the class pairs; the built-in ``map`` when None. The
            result does not depend on it.

    Returns:
        W, shape (C, C), float64. Entries for a class absent from the valued set (row)
        or from the target set (column) are NaN; no labelled pair ever uses them.

    Raises:
        ValueError: a class has valued rows but no target rows. Its samples would have
            no target counterpart, so any value for them would be an artefact; the rule
            is to refuse and name the class rather than invent a cost.
    """
    y = np.asarray(y)
    y_target = np.asarray(y_target)
    n_classes = len(classes)
    valued_cls = np.unique(y)
    target_cls = np.unique(y_target)
    missing = [int(c) for c in valued_cls if c not in set(target_cls.tolist())]
    if missing:
        shown = missing[:5]  # hundreds of class names would bury the reason that follows
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        names = ", ".join(repr(classes[c]) for c in shown) + more
        counts = ", ".join(str(int((y == c).sum())) for c in shown) + (", …" if more else "")
        raise ValueError(f"Class {names} has valued rows ({counts}) but none in the target set; OT valuation "
                         "compares every valued class with target rows of that class. Add target rows of "
                         "that class or drop its valued rows.")
    valued_x = {int(c): read_rows(x, stratified_rows(y, c, per_class, rng)).astype(np.float64)
                for c in valued_cls}
    target_x = {int(c): np.asarray(x_target[stratified_rows(y_target, c, per_class, rng)], dtype=np.float64)
                for c in target_cls}
    w = np.full((n_classes, n_classes), np.nan)
    pairs = [(c, c2) for c in valued_x for c2 in target_x]
    costs = (map_fn or map)(emd_cost, [valued_x[c] for c, _ in pairs], [target_x[c2] for _, c2 in pairs])
    for (c, c2), cost in zip(pairs, costs):
        w[c, c2] = cost
    return w


def emd_cost(xa: np.ndarray, xb: np.ndarray) -> float:
    """Exact OT cost (W2²) between the uniform measures on the rows of ``xa`` and ``xb``."""
    ot = _ot()
    return float(ot.emd2(np.full(len(xa), 1.0 / len(xa)), np.full(len(xb), 1.0 / len(xb)),
                         sq_distances(xa, xb), numItermax=EMD_MAX_ITER))


def augmented_cost(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, w: np.ndarray,
                   label_weight: float) -> np.ndarray:
    """Ground cost between labelled points, shape (len(xa), len(xb)), float64.

    ``C_ij = ||x_i - x'_j||² + label_weight * W[y_i, y'_j]``. Feature and label terms are
    in the same units (W is itself a squared-Euclidean OT cost), so ``label_weight = 1``
    is the OTDD distance d² = ||x - x'||² + W2²(α_y, α_y'). The LAVA reference halves the
    feature cost and then halves W (already built on halved costs) again, which leaves
    the label term at half its OTDD weight; we do not.
    """
    cost = sq_distances(xa, xb)
    cost += label_weight * w[np.asarray(ya)[:, None], np.asarray(yb)[None, :]]
    return cost


@dataclass(frozen=True)
class Duals:
    """Dual solution of one OT problem between uniform measures.

    Attributes:
        f: potentials on the valued side, shape (n,).
        g: potentials on the target side, shape (m,).
        plan: transport plan, shape (n, m).
        cost: transport cost <plan, C> of the solve.
        converged: False when the solver hit its iteration cap.
    """

    f: np.ndarray
    g: np.ndarray
    plan: np.ndarray
    cost: float
    converged: bool


def solve_duals(cost: np.ndarray, solver: str = "exact", reg: float = 0.05,
                a: np.ndarray | None = None, b: np.ndarray | None = None) -> Duals:
    """OT between ``a`` and ``b`` (uniform by default) on ``cost``; potentials and plan.

    ``exact`` is POT's network simplex (``ot.emd(..., log=True)``) with a raised
    iteration cap; its duals are exact but not unique when the problem is degenerate
    (POT returns centred ones). ``sinkhorn`` is POT's log-stabilised Sinkhorn
    (``method="sinkhorn_stabilized"``, which absorbs large scalings into log-domain
    potentials, so it does not underflow) in float64 on ``cost / mean(cost)`` with
    ``ε = reg``; the potentials ``ε·log u`` are scaled back to cost units. POT's pure
    ``sinkhorn_log`` gives the same potentials but was about 50× slower here.

    Args:
        cost: ground cost, shape (n, m), float64.
        solver: ``"exact"`` or ``"sinkhorn"``.
        reg: entropic regularisation relative to the mean cost (Sinkhorn only).
        a: valued marginal, shape (n,), sums to 1.
        b: target marginal, shape (m,), sums to 1.

    Returns:
        The :class:`Duals`.
    """
    ot = _ot()
    n, m = cost.shape
    a = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
    b = np.full(m, 1.0 / m) if b is None else np.asarray(b, dtype=np.float64)
    if solver == "exact":
        plan, log = ot.emd(a, b, cost, numItermax=EMD_MAX_ITER, log=True)
        return Duals(log["u"], log["v"], plan, float(log["cost"]), log["warning"] is None)
    if solver != "sinkhorn":
        raise ValueError(f"Unknown OT solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
    scale = float(cost.mean()) or 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, log = ot.sinkhorn(a, b, cost / scale, reg, method="sinkhorn_stabilized", stopThr=SINKHORN_STOP,
                                numItermax=SINKHORN_MAX_ITER, log=True)
    converged = not any("converge" in str(w.message).lower() for w in caught)
    f = scale * reg * np.asarray(log["logu"], dtype=np.float64)
    g = scale * reg * np.asarray(log["logv"], dtype=np.float64)
    return Duals(f, g, plan, float(np.sum(plan * cost)), converged)


def calibrated_gradient(f: np.ndarray) -> np.ndarray:
    """LAVA's calibrated gradient: ``f_i - mean_{j≠i} f_j``, shape (n,), n ≥ 2.

    It is the derivative of the OT cost when mass moves onto point i from all other
    points equally, so it is invariant to the constant that dual potentials carry.
    Positive = adding mass on i moves the valued set away from the target (harmful).
    """
    f = np.asarray(f, dtype=np.float64)
    n = len(f)
    return f * (1.0 + 1.0 / (n - 1)) - f.sum() / (n - 1)


def top_target_class(plan: np.ndarray, y_target: np.ndarray, n_classes: int) -> np.ndarray:
    """Per valued row, the target class that receives most of its transport mass, shape (n,)."""
    onehot = np.zeros((len(y_target), n_classes))
    onehot[np.arange(len(y_target)), np.asarray(y_target, dtype=int)] = 1.0
    return np.argmax(plan @ onehot, axis=1)


def solve_bytes(n: int, m: int, solver: str) -> int:
    """Estimated peak bytes of one dense OT solve on an (n, m) problem."""
    return int(n) * int(m) * _BYTES_PER_ENTRY[solver]


def available_bytes() -> int:
    """RAM the OS reports as available now (``MemAvailable``), or total RAM as a fallback."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
