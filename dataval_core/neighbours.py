"""Nearest neighbours of every row among all rows, in one chunked pass on the compute backend.

The data-issue checks (:mod:`dataval_core.data_issues`) need, for each row, its nearest
other rows (duplicate groups), its nearest valued row and nearest reference row, and its
distance to the k-th nearest reference row (the outlier score). All of them come from one
brute-force pass: rows are taken in chunks of :data:`CHUNK_CELLS` distance cells, as in
:mod:`dataval_core.methods.knn_shapley`, so memory stays bounded at 100,000 rows, and each chunk
is a task on the compute backend (threads, or Ray). Candidates are picked on float32
squared distances from one matrix product; their distances are then recomputed exactly in
float64, so identical rows are at distance 0 and ties go to the lower row index. Results
are keyed by chunk, so they do not depend on where the chunks ran.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend, get_backend
from .progress import Reporter

#: distance cells (query rows × all rows) per chunk; each cell costs about 16 bytes of temporaries
CHUNK_CELLS = 2**23


@dataclass(frozen=True)
class Neighbours:
    """Each row's neighbours among the other rows, in the caller's row order.

    Attributes:
        top_index: the ``k`` nearest other rows, nearest first, shape (n, k).
        top_distance: their Euclidean distances (float64), shape (n, k).
        valued_index: the nearest other valued row, -1 when there is none, shape (n,).
        valued_distance: its distance, NaN when there is none, shape (n,).
        reference_index: the nearest other reference row, -1 when there is none, shape (n,).
        reference_distance: its distance, NaN when there is none, shape (n,).
        reference_kth: distance to the ``k_reference``-th nearest other reference row, NaN when
            the reference has fewer than two rows, shape (n,).
        k_reference: the rank used for ``reference_kth`` (``min(k, reference rows - 1)``), 0 when none.
    """

    top_index: np.ndarray
    top_distance: np.ndarray
    valued_index: np.ndarray
    valued_distance: np.ndarray
    reference_index: np.ndarray
    reference_distance: np.ndarray
    reference_kth: np.ndarray
    k_reference: int


def nearest_neighbours(x: np.ndarray, is_reference: np.ndarray, k: int, *, backend: str | Backend | None = None,
                       reporter: Reporter | None = None) -> Neighbours:
    """Exact nearest neighbours of every row of ``x`` (Euclidean), self excluded.

    Args:
        x: the rows in the embedding, shape (n, d), n >= 2.
        is_reference: True for reference rows, shape (n,).
        k: neighbours kept per row (capped at n - 1).
        backend: where the chunks run (``"local"``, ``"ray"`` or a backend); the result does not depend on it.
        reporter: progress ("nearest neighbours", rows done) and the cancel flag.

    Raises:
        ValueError: fewer than two rows, or ``is_reference`` of another length.
    """
    x = np.asarray(x, dtype=np.float32)
    is_reference = np.asarray(is_reference, dtype=bool)
    n = len(x)
    if n < 2 or len(is_reference) != n:
        raise ValueError(f"Nearest neighbours need at least two rows and one reference flag per row; got {n} rows "
                         f"and {len(is_reference)} flags.")
    order = np.concatenate([np.flatnonzero(~is_reference), np.flatnonzero(is_reference)])
    xo = x[order] - x.mean(axis=0)  # centred: the float32 products lose less to cancellation
    n_valued, m = int((~is_reference).sum()), int(is_reference.sum())
    k = max(1, min(k, n - 1))
    k_ref = max(0, min(k, m - 1))
    xo = np.ascontiguousarray(xo)
    shared = {"x": xo, "minus_2x": -2.0 * xo, "sq": np.einsum("ij,ij->i", xo, xo), "n_valued": n_valued, "k": k,
              "k_ref": k_ref}
    chunk = int(max(1, min(n, CHUNK_CELLS // n)))
    tasks = [(start, min(n, start + chunk)) for start in range(0, n, chunk)]
    parts = [part for _, part in get_backend(backend).map(
        chunk_neighbours, tasks, reporter or Reporter(), "nearest neighbours", shared=shared,
        units=[b - a for a, b in tasks], ordered=True)]
    joined = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n)  # internal position of each caller row

    def rows(key: str) -> np.ndarray:
        return joined[key][back]

    def index(key: str) -> np.ndarray:
        idx = rows(key)
        return np.where(idx >= 0, order[np.maximum(idx, 0)], -1)

    return Neighbours(top_index=index("top"), top_distance=rows("top_d"), valued_index=index("valued"),
                      valued_distance=rows("valued_d"), reference_index=index("reference"),
                      reference_distance=rows("reference_d"), reference_kth=rows("kth"), k_reference=k_ref)


def chunk_neighbours(shared: dict[str, Any], start: int, stop: int) -> dict[str, np.ndarray]:
    """Neighbours of internal rows ``start:stop`` (valued rows first, then reference rows)."""
    x, n_valued, k, k_ref = shared["x"], shared["n_valued"], shared["k"], shared["k_ref"]
    q = x[start:stop]
    # ‖x‖² − 2⟨q, x⟩: each row's squared distances less its own ‖q‖², which orders them the same
    d = q @ shared["minus_2x"].T
    d += shared["sq"]
    rows = np.arange(stop - start)
    d[rows, rows + start] = np.inf  # never its own neighbour
    top, top_d = _top_k(x, q, d, k)
    out = {"top": top, "top_d": top_d}
    for key, lo, hi in (("valued", 0, n_valued), ("reference", n_valued, len(x))):
        idx = np.full(len(q), -1, dtype=np.int64)
        dist = np.full(len(q), np.nan)
        if hi > lo:
            best = d[:, lo:hi].argmin(axis=1)
            found = np.isfinite(d[rows, lo + best])
            idx[found] = lo + best[found]
            dist[found] = np.sqrt(((x[idx[found]].astype(np.float64) - q[found]) ** 2).sum(axis=1))
        out[key], out[f"{key}_d"] = idx, dist
    kth = np.full(len(q), np.nan)
    if k_ref:
        ref = np.partition(d[:, n_valued:], k_ref - 1, axis=1)[:, k_ref - 1] + shared["sq"][start:stop]
        kth = np.sqrt(np.maximum(ref, 0.0)).astype(np.float64)
    out["kth"] = kth
    return out


def _top_k(x: np.ndarray, q: np.ndarray, d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of each query, with float64 distances, nearest first (ties: lower index first).

    Candidates are every entry of ``d`` up to the row's k-th smallest (a partition and a mask: about half the
    cost of an argpartition), so ties at the k-th place are all weighed.
    """
    kth = np.partition(d, k - 1, axis=1)[:, k - 1:k]
    flat = np.flatnonzero(d <= kth)
    row, col = np.divmod(flat, d.shape[1])
    diff = x[col].astype(np.float64) - q[row]
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    order = np.lexsort((col, dist, row))
    row, col, dist = row[order], col[order], dist[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row)  # place within its row
    keep = rank < k
    return col[keep].reshape(len(q), k), dist[keep].reshape(len(q), k)
