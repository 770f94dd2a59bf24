"""Exact KNN-Shapley (Jia et al., "Efficient task-specific data valuation for nearest
neighbor algorithms", VLDB 2019).

For a target point j, sort the valued points by distance (α_1 nearest … α_N):

    s_{α_N} = 1[y_{α_N} = y_j] / N
    s_{α_i} = s_{α_{i+1}} + (1[y_{α_i} = y_j] − 1[y_{α_{i+1}} = y_j]) · min(K, i) / (K · i)

and the value is the mean over target points. The recursion is evaluated for a chunk of
target points at once, as a forward cumulative sum from the farthest point, so memory is
O(chunk · N) and 100,000 × 5,000 runs in bounded memory. Each chunk ranks the valued
points by one SIMD sort of 64-bit keys (distance bits above, row index below) instead of
a stable argsort: several times faster (``benchmarks/results/method_design_notes.md``), and
ties still go to the lower row index, so the values
are those of a stable sort on any machine. Chunks are independent tasks on the compute
backend (threads, or Ray tasks sharing the arrays through the object store), summed in
chunk order so the values do not depend on where they ran.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, Output

#: cells (target points × valued points) per chunk; each cell costs ~50 bytes of temporaries
CHUNK_CELLS = 2**23
#: valued points per nearest-target query block of the suggested labels (a cancel check before each)
VOTE_ROWS = 16384


@dataclass(frozen=True)
class KNNShapleyParams:
    k: int = param(10, low=1, high=1000, help="Neighbours in the KNN utility (K).")


class KNNShapleyValuator(BaseValuator):
    """Exact KNN-Shapley against the target set; suggested label = majority of the K nearest target points."""

    name = "knn_shapley"
    summary = "Exact KNN-Shapley (Jia et al. 2019) against the target set; fast, strong baseline."
    low_value = ("Shapley value of the sample in a k-nearest-neighbour classifier scored on the target set; low "
                 "(below 0) = its label disagrees with its neighbours.")
    cost = ("a distance and a sort of the valued rows per target row, in chunks of bounded memory, spread over "
            "the cores (or a Ray cluster); no training.")
    uses_backend = True  # target chunks are backend tasks
    Params = KNNShapleyParams

    def _compute(self, problem: Problem, params: KNNShapleyParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        x = np.asarray(problem.x, dtype=np.float32)
        xt = np.asarray(problem.x_target, dtype=np.float32)
        n, m, k = len(x), len(xt), params.k
        # weight of rank i (1-based) in the recursion, min(K, i) / (K i), indexed from the
        # farthest point: far_weight[j] belongs to rank N - j (j = 1..N-1; j = 0 unused)
        far_weight = np.zeros(n)
        ranks = np.arange(n - 1, 0, -1)
        far_weight[1:] = np.minimum(k, ranks) / (k * ranks)
        shared = {"x": x, "sq": np.einsum("ij,ij->i", x, x), "y": np.asarray(problem.y), "xt": xt,
                  "yt": np.asarray(problem.y_target), "far_weight": far_weight}
        chunk = int(max(1, min(m, CHUNK_CELLS // n)))
        tasks = [(start, min(m, start + chunk)) for start in range(0, m, chunk)]
        values = np.zeros(n)
        backend = self.compute_backend()
        for _, part in backend.map(chunk_values, tasks, reporter, "KNN-Shapley over target points", shared=shared,
                                   units=[b - a for a, b in tasks], ordered=True):
            values += part
        values /= m
        return Output(values, suggested=_knn_vote(x, xt, problem.y_target, problem.n_classes, k, reporter))


def chunk_values(shared: dict, start: int, stop: int) -> np.ndarray:
    """Sum over target points ``start:stop`` of their KNN-Shapley values, shape (N,)."""
    x, y, far_weight = shared["x"], shared["y"], shared["far_weight"]
    n = len(x)
    d = shared["sq"][None, :] - 2.0 * (shared["xt"][start:stop] @ x.T)  # ‖x‖² − 2⟨x_t, x⟩: the distance order
    far = _farthest_first(d)
    match = y[far] == shared["yt"][start:stop, None]
    s = np.empty(far.shape)  # s[:, j]: value of the point at rank N - j, by the recursion from the farthest
    np.subtract(match[:, 1:], match[:, :-1], out=s[:, 1:], dtype=np.float64)
    s[:, 1:] *= far_weight[1:]
    s[:, 0] = match[:, 0] / n
    np.cumsum(s, axis=1, out=s)
    return np.bincount(far.ravel(), weights=s.ravel(), minlength=n)


def _farthest_first(d: np.ndarray) -> np.ndarray:
    """Row-wise column order of ``d`` (float32) from largest to smallest, equal entries by
    descending index (the reverse of a stable ascending argsort), as int64.

    Sorts 64-bit keys: the order-preserving bits of ``-d`` above, ``N - 1 - index`` below.
    Keys are unique, so the result does not depend on the sort algorithm.
    """
    n = d.shape[1]
    bits = np.negative(d, out=d).view(np.uint32)
    sign = bits >> 31
    flipped = np.where(sign.astype(bool), ~bits, bits | np.uint32(0x80000000))  # IEEE order -> unsigned order
    keys = flipped.astype(np.uint64) << np.uint64(32)
    del bits, sign, flipped
    keys |= np.arange(n - 1, -1, -1, dtype=np.uint64)
    keys.sort(axis=1)
    keys &= np.uint64(0xFFFFFFFF)
    out = keys.view(np.int64)
    np.subtract(n - 1, out, out=out)
    return out


def _knn_vote(x: np.ndarray, xt: np.ndarray, yt: np.ndarray, n_classes: int, k: int,
              reporter: Reporter | None = None) -> np.ndarray:
    """Majority class among each valued point's k nearest target points.

    Queried :data:`VOTE_ROWS` valued points at a time, with a cancel check before each block
    (and progress after it when there are several): 100,000 points take seconds.
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(xt))).fit(xt)
    out = np.empty(len(x), dtype=np.int64)
    starts = range(0, len(x), VOTE_ROWS)
    for i, start in enumerate(starts):
        if reporter is not None:
            reporter.check()
        _, idx = nn.kneighbors(x[start:start + VOTE_ROWS])
        counts = np.zeros((len(idx), n_classes))
        np.add.at(counts, (np.repeat(np.arange(len(idx)), idx.shape[1]), yt[idx].ravel()), 1)
        out[start:start + len(idx)] = counts.argmax(1)
        if reporter is not None and len(starts) > 1:
            reporter.update("suggested labels", i + 1, len(starts))
    return out
