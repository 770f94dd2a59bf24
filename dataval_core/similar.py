"""Find-similar: the valued samples nearest one sample, in the embedding of the run under review.

Review's "similar" button on a card asks for these. One query row against all rows is one
matrix-vector product (``|x|² - 2 x·q``, no n × d temporary, so 100,000 rows of 1,280 features
cost one pass over the matrix); the candidates' distances are then computed again from the rows in
float64, so an exact copy is at distance 0 and ties go to the lower row index. The space is
:func:`~dataval_core.data_issues.issue_embedding` of the run's: the run's own, except raw features for
one learned from the labels, which pulls each class together (neighbours there would share the label
rather than the content).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .backend import Backend
from .dataset import DataError, Dataset
from .progress import CancelFlag, ProgressCallback, Reporter, as_reporter

#: neighbours shown by default: two rows of cards
DEFAULT_K = 8
#: candidates re-measured in float64 per neighbour asked for (float32 products order near ties roughly)
_CANDIDATES = 4


def nearest_to(x: np.ndarray, row: int, k: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``x`` nearest row ``row`` (itself left out), nearest first, and their Euclidean distances.

    Args:
        x: the rows, shape (n, d).
        row: the query's position in ``x``.
        k: neighbours wanted (fewer when fewer rows qualify).
        among: True for the rows that may be returned, shape (n,); None: every row.
    """
    x = np.asarray(x)
    n = len(x)
    allowed = np.ones(n, dtype=bool) if among is None else np.asarray(among, dtype=bool).copy()
    allowed[row] = False
    candidates = np.flatnonzero(allowed)
    if k <= 0 or not len(candidates):
        return np.array([], dtype=np.int64), np.array([], dtype=np.float64)
    q = x[row].astype(np.float32)
    xs = x[candidates].astype(np.float32, copy=False)
    rough = np.einsum("ij,ij->i", xs, xs) - 2.0 * (xs @ q)  # |x - q|² - |q|²: the same order
    m = min(len(candidates), max(k * _CANDIDATES, k + 16))
    pick = candidates[np.argpartition(rough, m - 1)[:m]] if m < len(candidates) else candidates
    exact = np.sqrt(((x[pick].astype(np.float64) - x[row].astype(np.float64)) ** 2).sum(axis=1))
    order = np.lexsort((pick, exact))[:k]
    return pick[order], exact[order]


def similar_samples(dataset: Dataset, sample_id: str, embedding: str | None = None, *, k: int = DEFAULT_K,
                    seed: int = 0, cache_dir: str | Path | None = None, backend: str | Backend | None = None,
                    progress: ProgressCallback | Reporter | None = None,
                    cancel: CancelFlag | None = None) -> pd.DataFrame:
    """The ``k`` valued samples nearest ``sample_id`` in the run's embedding (see the module docstring).

    Args:
        dataset: the dataset the run valued.
        sample_id: the sample asked about (valued or reference).
        embedding: the run's embedding (None: raw); the features come from the cache the run filled.
        k: neighbours wanted.
        seed: the run's seed (part of the embedding cache's key).

    Returns:
        Columns ``id``, ``distance`` (Euclidean, in ``space``) and ``space`` (the embedding measured in),
        nearest first; reference rows are left out, since only valued samples get decisions.

    Raises:
        DataError: ``sample_id`` is not a sample of ``dataset``.
    """
    from .data_issues import issue_embedding
    from .embeddings.core import embed

    reporter = as_reporter(progress, cancel)
    matches = np.flatnonzero(dataset.ids == str(sample_id))
    if not len(matches):
        raise DataError(f"No sample has the id {sample_id!r}.")
    space = issue_embedding(embedding)
    x, _ = embed(dataset, space, seed=seed, cache_dir=cache_dir, progress=reporter, backend=backend)
    reporter.update("nearest samples", 0, 1)
    idx, dist = nearest_to(x, int(matches[0]), k, among=~np.asarray(dataset.is_target, dtype=bool))
    reporter.update("nearest samples", 1, 1)
    return pd.DataFrame({"id": dataset.ids[idx].astype(str), "distance": dist, "space": space})
