"""Exact KNN-Shapley (Jia et al., "Efficient task-specific data valuation for nearest
neighbor algorithms", VLDB 2019).

For a target point j, sort the valued points by distance (α_1 nearest … α_N):

    s_{α_N} = 1[y_{α_N} = y_j] / N
    s_{α_i} = s_{α_{i+1}} + (1[y_{α_i} = y_j] − 1[y_{α_{i+1}} = y_j]) · min(K, i) / (K · i)

and the value is the mean over target points. The recursion is evaluated for a
chunk of target points at once (a reversed cumulative sum), so memory is
O(chunk · N) and 100,000 × 5,000 runs in bounded memory.
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


@dataclass(frozen=True)
class KNNShapleyParams:
    k: int = param(10, low=1, high=1000, help="Neighbours in the KNN utility (K).")


class KNNShapleyValuator(BaseValuator):
    """Exact KNN-Shapley against the target set; suggested label = majority of the K nearest target points."""

    name = "knn_shapley"
    Params = KNNShapleyParams

    def _compute(self, problem: Problem, params: KNNShapleyParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        x = np.asarray(problem.x, dtype=np.float32)
        xt = np.asarray(problem.x_target, dtype=np.float32)
        n, m, k = len(x), len(xt), params.k
        sq = np.einsum("ij,ij->i", x, x)
        # weight of rank i (1-based) in the recursion: min(K, i) / (K i), for i = 1..N-1
        weight = np.minimum(k, np.arange(1, n)) / (k * np.arange(1, n))
        chunk = int(max(1, min(m, CHUNK_CELLS // n)))
        values = np.zeros(n)
        for start in range(0, m, chunk):
            stop = min(m, start + chunk)
            d = sq[None, :] - 2.0 * (xt[start:stop] @ x.T)  # ‖x‖² − 2⟨x_t, x⟩: same order as the distance
            order = np.argsort(d, axis=1, kind="stable")
            match = (problem.y[order] == problem.y_target[start:stop, None]).astype(np.float64)
            step = (match[:, :-1] - match[:, 1:]) * weight
            s = np.empty_like(match)
            s[:, -1] = match[:, -1] / n
            s[:, :-1] = s[:, -1:] + np.cumsum(step[:, ::-1], axis=1)[:, ::-1]
            values += np.bincount(order.ravel(), weights=s.ravel(), minlength=n)
            reporter.update("KNN-Shapley over target points", stop, m)
        values /= m
        return Output(values, suggested=_knn_vote(x, xt, problem.y_target, problem.n_classes, k))


def _knn_vote(x: np.ndarray, xt: np.ndarray, yt: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Majority class among each valued point's k nearest target points."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(xt))).fit(xt)
    _, idx = nn.kneighbors(x)
    counts = np.zeros((len(x), n_classes))
    np.add.at(counts, (np.repeat(np.arange(len(x)), idx.shape[1]), yt[idx].ravel()), 1)
    return counts.argmax(1)
