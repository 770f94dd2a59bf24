"""Optimal-transport machinery shared by ``lava`` and ``sava`` (private).

Both methods value a labelled sample z_i = (x_i, y_i) by how much moving probability
mass onto it changes the OT distance between the valued set and the clean target set
(Just et al., "LAVA: Data Valuation without Pre-Specified Learning Algorithms", ICLR 2023;
Kessler et al., "SAVA: Scalable Learning-Agnostic Data Valuation", ICLR 2025). The pieces:

1. the label-to-label cost ``W[c, c']``: the exact OT distance (squared-Euclidean
   ground cost, i.e. W2²) between the embedded target rows of class c and those of
   class c' (the clean set; see :func:`label_cost`); computed once per run from a seeded
   stratified sample;
2. the label-augmented ground cost between labelled points,
   ``C_ij = ||x_i - x'_j||² + label_weight * W[y_i, y'_j]`` (the OTDD definition; see
   :func:`augmented_cost` for how this differs from the reference code);
3. the dual potentials of OT between the uniform measures on the two sets, from POT
   (exact network simplex, or log-stabilised entropic Sinkhorn);
4. the calibrated gradient of the OT cost w.r.t. the mass on each valued point;
5. the relabel gain (ours, see :func:`relabel_terms`): how much cheaper the row's
   transport would be under its best label than under its given one, from the same
   solve's target potentials. The row's harm score is gradient + ``relabel_weight`` x
   gain; the valuators flip its sign so that higher value = more useful.

Cost matrices and Sinkhorn solves run on CUDA when ``device`` resolves to it
(:func:`resolve_device`; torch, float64, the same log-domain iteration as on CPU); the
exact network simplex exists on CPU only.
"""
from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np

from ..params import MAX_OT_SIDE, param
from ..progress import Reporter
from ..rows import read_rows

T = TypeVar("T")
#: seconds between the cancel checks made while a solve runs in its helper thread
POLL_S = 0.1
#: seconds between progress events while one solve runs (the contract asks for at most 2 s)
PROGRESS_EVERY_S = 1.0

#: network-simplex iteration cap; POT's default (1e5) stops early on 2000 x 2000 problems
EMD_MAX_ITER = 10_000_000
#: Sinkhorn stopping threshold on the marginal violation (float64 reaches it reliably)
SINKHORN_STOP = 1e-6
SINKHORN_MAX_ITER = 10_000
SOLVERS = ("auto", "exact", "sinkhorn")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class OTParams:
    """Parameters of the OT problem itself, shared by ``lava`` and ``sava``."""

    solver: str = param("auto", choices=SOLVERS,
                        help="auto: sinkhorn on CUDA when torch sees a GPU (and device is not cpu), else exact; "
                             "exact: network simplex duals (CPU); sinkhorn: entropic, log-stabilised duals.")
    reg: float = param(0.05, low=0.0, high=10.0, low_open=True,
                       help="Entropic regularisation relative to the mean cost (sinkhorn only).")
    label_weight: float = param(0.5, low=0.0, high=100.0,
                                help="Weight of the label-to-label cost W in the ground cost.")
    label_samples: int = param(1000, low=2, high=MAX_OT_SIDE,
                               help="Rows per class (each side) used to compute the label cost W.")
    relabel_weight: float = param(1.0, low=0.0, high=100.0,
                                  help="Weight of the relabel gain (how much cheaper a row's transport is under "
                                       "its best label) added to LAVA's calibrated gradient; 0 = plain LAVA. "
                                       "Finds flips between confusable classes that the gradient alone misses.")
    device: str = param("auto", choices=DEVICES,
                        help="Where cost matrices and Sinkhorn solves run: auto = CUDA when present and the "
                             "solver is sinkhorn, else CPU. The exact solver runs on CPU only.")


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


def run_checked(fn: Callable[[], T], reporter: Reporter, stage: str, done: int, total: int,
                message: str = "") -> T:
    """``fn()`` in a helper thread while this thread checks the cancel flag every :data:`POLL_S`
    and reports ``stage`` (``done`` of ``total``, elapsed seconds in the message) every
    :data:`PROGRESS_EVERY_S`.

    One dense OT solve is a single call into POT's C code that can take minutes; POT's network
    simplex and numpy release the GIL, so the helper runs at full speed while the caller stays
    responsive. On cancel :class:`~dataval_core.progress.Cancelled` is raised at once; the helper
    cannot be stopped midway, it finishes its call in the background and its result is dropped.
    An exception in ``fn`` is raised here.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    helper = threading.Thread(target=target, name=f"dataval: {stage}", daemon=True)
    start = last = time.monotonic()
    helper.start()
    while True:
        helper.join(POLL_S)
        if not helper.is_alive():
            break
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            reporter.update(stage, done, total, f"{message} ({time.monotonic() - start:.0f} s)".lstrip())
            last = time.monotonic()
        else:
            reporter.check()
    if "error" in box:
        raise box["error"]
    return box["value"]


def checked_map(reporter: Reporter, stage: str) -> Callable[..., list]:
    """A ``map``-like function for :func:`label_cost`: each call runs under :func:`run_checked`
    (cancel within 0.1 s, progress while one class pair is solved), then ``stage`` reports the
    pairs done."""
    def map_fn(fn: Callable, *iterables) -> list:
        items = list(zip(*iterables))
        out = []
        for i, args in enumerate(items):
            out.append(run_checked(partial(fn, *args), reporter, stage, i, len(items),
                                   f"class pair {i + 1} of {len(items)}"))
            reporter.update(stage, i + 1, len(items), f"class pair {i + 1} of {len(items)}")
        return out
    return map_fn


def stratified_rows(y: np.ndarray, cls: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of class ``cls``: all of them, or a seeded sample of ``cap``."""
    rows = np.flatnonzero(y == cls)
    if len(rows) > cap:
        rows = np.sort(rng.choice(rows, size=cap, replace=False))
    return rows


def label_cost(x: np.ndarray, y: np.ndarray, x_target: np.ndarray, y_target: np.ndarray,
               classes: tuple[str, ...], *, per_class: int, rng: np.random.Generator,
               map_fn: Callable | None = None, source: str = "target") -> np.ndarray:
    """Label-to-label cost W[c, c'] = W2² between class-conditional embedded sets.

    ``source="target"`` (the default) measures it on the clean target set alone:
    W[c, c] = 0 and W[c, c'] = W2²(target rows of c, target rows of c'). ``"valued"``
    compares the valued rows of c with the target rows of c' (the OTDD/LAVA recipe);
    the valued labels are the noisy ones, so a flipped class's rows pull W[c, c] up and
    W[c, pair of c] down, just for the confusable pairs where the label term matters
    most (benchmarks/results/ot_pair_flips.md).

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
    if source not in ("target", "valued"):
        raise ValueError(f"Unknown label-cost source {source!r}; use 'target' or 'valued'.")
    target_x = {int(c): np.asarray(x_target[stratified_rows(y_target, c, per_class, rng)], dtype=np.float64)
                for c in target_cls}
    w = np.full((n_classes, n_classes), np.nan)
    if source == "target":
        pairs = [(c, c2) for c in target_x for c2 in target_x if c < c2]
        costs = (map_fn or map)(emd_cost, [target_x[c] for c, _ in pairs], [target_x[c2] for _, c2 in pairs])
        for (c, c2), cost in zip(pairs, costs):
            w[c, c2] = w[c2, c] = cost
        for c in target_x:
            w[c, c] = 0.0
        return w
    valued_x = {int(c): read_rows(x, stratified_rows(y, c, per_class, rng)).astype(np.float64)
                for c in valued_cls}
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


def resolve_solver(solver: str, device: str) -> str:
    """``"exact"`` or ``"sinkhorn"``: ``auto`` is Sinkhorn on CUDA when torch sees a GPU and ``device`` is not
    ``cpu`` (there it is the faster solver; ``benchmarks/gpu_check.sh`` compares them on a GPU machine, and no
    GPU result is stored yet), else the exact solver (on CPU Sinkhorn is far slower per pair:
    ``benchmarks/results/profile_sava_pair.md``)."""
    if solver not in SOLVERS:
        raise ValueError(f"Unknown OT solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
    if solver != "auto":
        return solver
    import torch

    return "sinkhorn" if device != "cpu" and torch.cuda.is_available() else "exact"


def resolve_device(device: str, solver: str) -> str:
    """``"cuda"`` or ``"cpu"``: where cost matrices and solves run.

    ``auto`` picks CUDA when torch sees a GPU and the solver is ``sinkhorn`` (the exact
    network simplex has no GPU version, so moving its cost matrix would only add copies).

    Raises:
        ValueError: ``cuda`` asked for with the exact solver, or without a GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"Unknown device {device!r}; choose one of {', '.join(DEVICES)}.")
    if device == "cpu" or (device == "auto" and solver != "sinkhorn"):
        return "cpu"
    import torch

    if device == "cuda":
        if solver != "sinkhorn":
            raise ValueError("The exact OT solver runs on CPU only; use solver=sinkhorn on CUDA, or device=cpu.")
        if not torch.cuda.is_available():
            raise ValueError("device=cuda, but torch sees no CUDA GPU here; use device=auto or cpu.")
        return "cuda"
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class PairScores:
    """Per-row results of one OT problem between valued rows and target rows.

    Attributes:
        harm: calibrated gradient + relabel_weight x relabel gain, shape (n,); positive = harmful.
        gradient: LAVA's calibrated gradient, shape (n,).
        gain: relabel gain relative to the median row of the same label, shape (n,).
        potential: valued-side dual potentials, shape (n,).
        nearest_class: class of the target row nearest in feature distance, shape (n,).
        nearest_dist: its squared feature distance, shape (n,).
        cost: transport cost of the solve.
        converged: False when the solver hit its iteration cap.
    """

    harm: np.ndarray
    gradient: np.ndarray
    gain: np.ndarray
    potential: np.ndarray
    nearest_class: np.ndarray
    nearest_dist: np.ndarray
    cost: float
    converged: bool


def relabel_terms(cost, g, y, y_target, w, label_weight: float, xp=np):
    """Relabel gain and nearest target class of each valued row, from one solve's cost and target duals.

    With target potentials g, the c-transform ``f_i(c) = min_j C_ij(c) - g_j`` is what
    row i would cost the transport if its label were c (for exact OT, ``f_i(y_i)`` is its
    own potential). The gain ``f_i(y_i) - min_c f_i(c)`` is how much a relabel would save:
    it is zero for a row whose given label is already its cheapest and large for a flip,
    while the part of f_i that no label changes (a row far from all targets) cancels. On
    confusable-pair flips it lifts lava's AUROC (benchmarks/results/ot_pair_flips.md). The
    suggested label is the class of the nearest target row in feature distance: the target
    duals carry per-class offsets that make ``argmin_c f_i(c)`` a poor label, while the nearest
    target row is right for most flips (same file).

    Args:
        cost: augmented cost, shape (n, m) (numpy, or torch with ``xp=torch``).
        g: target potentials, shape (m,).
        y: valued class codes, shape (n,), int.
        y_target: target class codes, shape (m,), int, sorted.
        w: label cost W, shape (C, C), NaN for classes absent on a side.
        label_weight: the weight of W in ``cost``.
        xp: ``numpy`` or ``torch``; all array arguments live in that library.

    Returns:
        ``(gain, nearest_class, nearest_dist)``, each shape (n,).
    """
    def rowmin(a):
        return a.min(1) if xp is np else a.min(1).values

    # y_target sorted by class (pair_scores sorts): each class is a contiguous column slice, a view
    classes_t = xp.unique(y_target)
    stops = [int(v) for v in (xp.searchsorted(y_target, classes_t, side="right"))]
    spans = list(zip([0] + stops[:-1], stops))
    wf = xp.where(xp.isnan(w), xp.full_like(w, float("inf")), w)[:, classes_t]
    own = label_weight * wf[y]  # row i's label term towards each target class (finite)
    near = xp.stack([rowmin(cost[:, a:b]) for a, b in spans], 1) - own  # squared feature distances
    h = xp.stack([rowmin(cost[:, a:b] - g[a:b]) for a, b in spans], 1) - own
    candidates = [c for c in range(len(w)) if bool(xp.isfinite(wf[c]).all())]
    best = rowmin(xp.stack([rowmin(h + label_weight * wf[c][None, :]) for c in candidates], 1))
    gain = rowmin(h + own) - best
    for c in xp.unique(y):  # centre per given label: removes the class-level offsets of the duals
        rows = y == c
        gain[rows] -= xp.median(gain[rows]) if xp is np else xp.quantile(gain[rows], 0.5)
    return gain, classes_t[near.argmin(1)], rowmin(near)


def _sinkhorn_torch(cost, reg: float):
    """Log-domain Sinkhorn between uniform measures on a torch cost (any device), in the
    units of :func:`solve_duals`: potentials (f, g), plan, transport cost, converged."""
    import torch

    n, m = cost.shape
    scale = float(cost.mean()) or 1.0
    k = -cost / (scale * reg)
    log_a = torch.full((n,), -np.log(n), dtype=cost.dtype, device=cost.device)
    log_b = torch.full((m,), -np.log(m), dtype=cost.dtype, device=cost.device)
    f = torch.zeros(n, dtype=cost.dtype, device=cost.device)
    g = torch.zeros(m, dtype=cost.dtype, device=cost.device)
    converged = False
    for it in range(SINKHORN_MAX_ITER):
        f = log_a - torch.logsumexp(k + g[None, :], dim=1)
        g = log_b - torch.logsumexp(k + f[:, None], dim=0)
        if it % 10 == 9:
            err = float((torch.exp(k + f[:, None] + g[None, :]).sum(1) - torch.exp(log_a)).abs().sum())
            if err < SINKHORN_STOP:
                converged = True
                break
    plan = torch.exp(k + f[:, None] + g[None, :])
    return scale * reg * f, scale * reg * g, plan, float((plan * cost).sum()), converged


def pair_scores(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, w: np.ndarray, *,
                label_weight: float, relabel_weight: float, solver: str, reg: float,
                device: str = "cpu", use_torch: bool | None = None) -> PairScores:
    """Cost, OT solve and per-row scores of valued rows ``(xa, ya)`` against target rows ``(xb, yb)``.

    ``device`` is a resolved device (:func:`resolve_device`). By default ``"cpu"`` builds
    the cost in numpy and solves with POT, and any other device builds it and runs
    Sinkhorn in torch there; ``use_torch=True`` runs the torch code on ``"cpu"`` too (the
    tests check it against POT that way). The target rows are taken in class order (a
    copy of ``xb``); the order of the target rows does not change the valued rows' scores.
    """
    order = np.argsort(np.asarray(yb), kind="stable")
    xb, yb = np.asarray(xb)[order], np.asarray(yb)[order]
    if not (device != "cpu" if use_torch is None else use_torch):
        cost = augmented_cost(xa, ya, xb, yb, w, label_weight)
        duals = solve_duals(cost, solver, reg)
        gain, near_c, near_d = relabel_terms(cost, duals.g, np.asarray(ya), np.asarray(yb), w, label_weight)
        f, total, converged = duals.f, duals.cost, duals.converged
    else:
        if solver != "sinkhorn":
            raise ValueError("The exact OT solver runs on CPU only; use solver=sinkhorn on CUDA, or device=cpu.")
        import torch

        dev = torch.device(device)
        ta, tb = (torch.as_tensor(np.asarray(v), dtype=torch.float64, device=dev) for v in (xa, xb))
        tya, tyb = (torch.as_tensor(np.asarray(v, dtype=np.int64), device=dev) for v in (ya, yb))
        tw = torch.as_tensor(w, dtype=torch.float64, device=dev)
        tcost = ((ta * ta).sum(1)[:, None] + (tb * tb).sum(1)[None, :] - 2.0 * ta @ tb.T).clamp_(min=0.0)
        tcost += label_weight * tw[tya[:, None], tyb[None, :]]
        tf, tg, _, total, converged = _sinkhorn_torch(tcost, reg)
        gain, near_c, near_d = (v.cpu().numpy() for v in
                                relabel_terms(tcost, tg, tya, tyb, tw, label_weight, xp=torch))
        f = tf.cpu().numpy()
        del tcost
    gradient = calibrated_gradient(f)
    return PairScores(gradient + relabel_weight * gain, gradient, gain, f, near_c.astype(np.int32), near_d,
                      total, converged)


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
