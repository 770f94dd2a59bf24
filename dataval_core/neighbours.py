"""Nearest neighbours of every row among all rows, in one chunked pass on the compute backend.

The data-issue checks (:mod:`dataval_core.data_issues`) need, for each row, its nearest
other rows (duplicate groups), its nearest valued row and nearest reference row, and its
distance to the k-th nearest reference row (the outlier score). All of them come from one
brute-force pass: rows are taken in chunks of :data:`CHUNK_CELLS` distance cells, as in
:mod:`dataval_core.methods.knn_shapley`, so memory stays bounded at 100,000 rows, and each chunk
is a task on the compute backend (threads, or Ray). Candidates are picked on float32
squared distances from one matrix product; small distances, where that product loses
precision, are computed again from the rows in float64, so identical rows are at distance 0
and ties go to the lower row index. Results
are keyed by chunk, so they do not depend on where the chunks ran.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from .backend import Backend, get_backend
from .progress import Reporter

#: distance cells (query rows × all rows) per chunk; each cell costs about 6 bytes of temporaries
CHUNK_CELLS = 2**23
#: columns per block: a block's minimum bounds its distances (see :func:`chunk_neighbours`)
BLOCK = 16
#: products (rows × columns × features) below this run on one BLAS thread
SMALL_PRODUCT = 2 * 10**9
#: squared distances below this fraction of ‖q‖² + ‖x‖² are computed again from the rows (see :func:`_sorted`)
RECOMPUTE = 1e-2


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
    xo = np.ascontiguousarray(x[order] - x.mean(axis=0))  # centred: the float32 products lose less to cancellation
    n_valued, m = int((~is_reference).sum()), int(is_reference.sum())
    k = max(1, min(k, n - 1))
    shared = {"x": xo, "k": k, "k_ref": max(0, min(k, m - 1)), **_columns(xo, n_valued)}
    chunk = int(max(1, min(n, CHUNK_CELLS // len(shared["col_row"]))))
    tasks = [(start, min(n, start + chunk)) for start in range(0, n, chunk)]
    # a small product runs faster on one BLAS thread than waking the others (16 ms against 0.3 ms for 613 rows)
    small = n * len(shared["col_row"]) * x.shape[1] < SMALL_PRODUCT
    with _blas().limit(limits=1, user_api="blas") if small else nullcontext():
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
                      reference_distance=rows("reference_d"), reference_kth=rows("kth"),
                      k_reference=shared["k_ref"])


@cache
def _blas() -> ThreadpoolController:
    """The process's thread pools, found once (finding them takes about 0.4 ms)."""
    return ThreadpoolController()


def _columns(xo: np.ndarray, n_valued: int) -> dict[str, Any]:
    """The distance matrix's columns: the valued rows, then the reference rows, each part padded to whole
    blocks of :data:`BLOCK`; each column is ``[-2 x, ‖x‖²]``, so that one product with ``[q, 1]`` gives
    ``‖x‖² − 2⟨q, x⟩``, which orders a query's distances as its squared distances do."""
    n, m = n_valued, len(xo) - n_valued
    pad_v, pad_r = -n % BLOCK, -m % BLOCK
    col_row = np.concatenate([np.arange(n), np.full(pad_v, -1), n + np.arange(m), np.full(pad_r, -1)])
    real = col_row >= 0
    xa = np.zeros((len(col_row), xo.shape[1] + 1), dtype=np.float32)
    xa[real, :-1] = -2.0 * xo
    xa[real, -1] = np.einsum("ij,ij->i", xo, xo)
    col_of_row = np.flatnonzero(real)  # the column of each internal row
    wide = xo.astype(np.float64)
    return {"xa": xa, "col_row": col_row, "pad": np.flatnonzero(~real), "col_of_row": col_of_row,
            "split": n + pad_v, "sq": np.einsum("ij,ij->i", wide, wide)}


def chunk_neighbours(shared: dict[str, Any], start: int, stop: int) -> dict[str, np.ndarray]:
    """Neighbours of internal rows ``start:stop`` (valued rows first, then reference rows).

    Each part of the columns is cut into strided blocks (block j of a part of B·M columns holds columns
    j, j + M, …, j + (B−1)·M), whose minima cost one elementwise pass. A row's k nearest lie in its k blocks of
    smallest minimum, and its nearest valued (reference) row in the valued (reference) block of smallest
    minimum, so only those blocks are searched.
    """
    x, k, k_ref, split = shared["x"], shared["k"], shared["k_ref"], shared["split"]
    q = x[start:stop]
    rows = np.arange(len(q))
    d = np.hstack([q, np.ones((len(q), 1), dtype=np.float32)]) @ shared["xa"].T
    d[:, shared["pad"]] = np.inf
    d[rows, shared["col_of_row"][start:stop]] = np.inf  # never its own neighbour
    parts = [(lo, hi, d[:, lo:hi].reshape(len(q), BLOCK, (hi - lo) // BLOCK).min(axis=1))
             for lo, hi in ((0, split), (split, d.shape[1]))]
    out = dict(zip(("top", "top_d"), _top_k(x, shared["sq"], start, d, parts, shared["col_row"], k)))
    for key, (lo, hi, minima) in zip(("valued", "reference"), parts):
        idx = np.full(len(q), -1, dtype=np.int64)
        dist = np.full(len(q), np.nan)
        if hi > lo:
            cols = _block_columns(minima.argmin(axis=1)[:, None], lo, hi)[:, 0]  # (rows, BLOCK)
            best = np.take_along_axis(cols, np.take_along_axis(d, cols, 1).argmin(axis=1)[:, None], 1)[:, 0]
            found = np.isfinite(d[rows, best])
            idx[found] = shared["col_row"][best[found]]
            dist[found] = np.sqrt(((x[idx[found]].astype(np.float64) - q[found]) ** 2).sum(axis=1))
        out[key], out[f"{key}_d"] = idx, dist
    out["kth"] = np.full(len(q), np.nan)
    if k_ref:
        ref = np.partition(d[:, split:], k_ref - 1, axis=1)[:, k_ref - 1] + shared["sq"][start:stop]
        out["kth"] = np.sqrt(np.maximum(ref, 0.0)).astype(np.float64)
    return out


def _block_columns(blocks: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The columns of blocks ``blocks`` (numbered within the part ``lo:hi``), shape ``blocks.shape + (BLOCK,)``."""
    return lo + blocks[..., None] + np.arange(BLOCK) * ((hi - lo) // BLOCK)


def _top_k(x: np.ndarray, sq: np.ndarray, start: int, d: np.ndarray, parts: list, col_row: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of queries ``start:`` and their distances, nearest first (ties: lower index
    first), searched in each part's ``k`` blocks of smallest minimum (in the whole row for a small set)."""
    if 4 * k * BLOCK >= d.shape[1]:  # a small set: a partition of the whole row costs less than the search
        cols = np.argpartition(d, k - 1, axis=1)[:, :k]
    else:
        cands = []
        for lo, hi, minima in parts:
            if hi > lo:
                kb = min(k, minima.shape[1])
                blocks = np.argpartition(minima, kb - 1, axis=1)[:, :kb]
                cands.append(_block_columns(blocks, lo, hi).reshape(len(d), -1))
        cols = np.concatenate(cands, axis=1)
        near = np.argpartition(np.take_along_axis(d, cols, 1), k - 1, axis=1)[:, :k]
        cols = np.take_along_axis(cols, near, 1)
    squared = np.take_along_axis(d, cols, 1).astype(np.float64) + sq[start:start + len(d), None]
    return _sorted(x, sq, start, col_row[cols], squared)


def _sorted(x: np.ndarray, sq: np.ndarray, start: int, candidates: np.ndarray,
            squared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidate rows of queries ``start:`` with their distances, nearest first (ties: lower index first).

    ``squared`` comes from the float32 product, whose error is a small fraction of ``‖q‖² + ‖x‖²``; where the
    squared distance is below :data:`RECOMPUTE` of that, it is computed again from the rows' difference in
    float64, so identical rows are at distance 0 and near duplicates are measured exactly.
    """
    queries = start + np.arange(len(candidates))[:, None]
    close = squared < RECOMPUTE * (sq[candidates] + sq[queries])
    if close.any():
        i, j = np.nonzero(close)
        diff = x[candidates[i, j]].astype(np.float64) - x[start + i]
        squared[i, j] = np.einsum("ij,ij->i", diff, diff)
    dist = np.sqrt(np.maximum(squared, 0.0))
    order = np.lexsort((candidates, dist), axis=-1)
    return np.take_along_axis(candidates, order, axis=1), np.take_along_axis(dist, order, axis=1)
