"""How well values find known bad samples, and what removing them does to a model.

All functions take values where **higher = more useful**, so "inspect the lowest
first" is the detection order.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from .problem import Problem
from .progress import CancelFlag, ProgressCallback, Reporter, as_reporter
from .result import ValuationResult


def _check(values: np.ndarray, is_noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=float)
    is_noisy = np.asarray(is_noisy, dtype=bool)
    if values.shape != is_noisy.shape:
        raise ValueError(f"{len(values)} values but {len(is_noisy)} noise flags.")
    return values, is_noisy


def detection_metrics(values: np.ndarray, is_noisy: np.ndarray) -> dict[str, float]:
    """AUROC(noisy, −value), precision and recall at k = #noisy, and the 2-means F1.

    Raises:
        ValueError: when every sample or no sample is noisy (AUROC is undefined).
    """
    values, is_noisy = _check(values, is_noisy)
    k = int(is_noisy.sum())
    if k == 0 or k == len(values):
        raise ValueError("Detection metrics need both noisy and clean samples.")
    lowest = np.argsort(values, kind="stable")[:k]
    hits = int(is_noisy[lowest].sum())
    return {"auroc": float(roc_auc_score(is_noisy, -values)), "precision_at_k": hits / k,
            "recall_at_k": hits / k, "k": k, "kmeans_f1": kmeans_f1(values, is_noisy)}


def kmeans_f1(values: np.ndarray, is_noisy: np.ndarray) -> float:
    """F1 of the low cluster of an exact 1-D 2-means on the values (OpenDataVal's noisy_detection).

    Exact: in 1-D the optimal 2-means split is a threshold on the sorted values, found
    here by scanning all split points with cumulative sums (O(n log n)).
    """
    values, is_noisy = _check(values, is_noisy)
    order = np.argsort(values, kind="stable")
    v = values[order]
    n = len(v)
    csum, csq = np.cumsum(v), np.cumsum(v * v)
    left = np.arange(1, n)  # size of the low cluster
    sse_low = csq[left - 1] - csum[left - 1] ** 2 / left
    right = n - left
    sse_high = (csq[-1] - csq[left - 1]) - (csum[-1] - csum[left - 1]) ** 2 / right
    cut = int(left[np.argmin(sse_low + sse_high)])
    predicted = np.zeros(n, dtype=bool)
    predicted[order[:cut]] = True
    tp = int((predicted & is_noisy).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / predicted.sum(), tp / is_noisy.sum()
    return float(2 * precision * recall / (precision + recall))


def detection_curve(values: np.ndarray, is_noisy: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Fraction of noisy samples found vs fraction inspected (lowest value first)."""
    values, is_noisy = _check(values, is_noisy)
    found = np.concatenate([[0], np.cumsum(is_noisy[np.argsort(values, kind="stable")])])
    inspected = np.linspace(0, 1, points)
    counts = np.round(inspected * len(values)).astype(int)
    return pd.DataFrame({"fraction_inspected": inspected,
                         "fraction_found": found[counts] / max(1, int(is_noisy.sum()))})


#: folds of the point-removal curve when there is no reference to score on
CURVE_FOLDS = 3


def point_removal_curve(problem: Problem, values: np.ndarray, fractions: Sequence[float] = (0, .05, .1, .2, .3, .4),
                        *, seed: int = 0, repeats: int = 3, progress: ProgressCallback | Reporter | None = None,
                        cancel: CancelFlag | None = None) -> pd.DataFrame:
    """Retrain a simple model after removing the lowest-valued x% vs a random x%.

    The model (logistic regression, or ridge for regression) is trained on the
    valued rows that remain and scored on the target rows (clean by assumption):
    accuracy for classification, R² for regression. Without target rows (every row
    valued) it is scored in :data:`CURVE_FOLDS` folds: trained on the remaining rows
    outside a fold, scored on all of that fold's rows (their noise lowers both curves
    alike). The random strategy is averaged over ``repeats`` seeded draws. Progress
    (and cancellation) once per fraction.

    Returns:
        DataFrame with columns fraction, strategy ("lowest" | "random"), score.
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    values = np.asarray(values, dtype=float)
    if len(values) != problem.n:
        raise ValueError(f"{len(values)} values for {problem.n} valued samples.")
    x, xt = np.asarray(problem.x), np.asarray(problem.x_target)
    rng = np.random.default_rng(seed)
    order = np.argsort(values, kind="stable")

    y = np.asarray(problem.y)
    fold = np.random.default_rng([seed, 5]).permutation(problem.n) % CURVE_FOLDS

    def fit_score(train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
        if problem.is_classification:
            if len(np.unique(y[train])) < 2:
                return float("nan")
            model = LogisticRegression(max_iter=500).fit(x[train], y[train])
        else:
            model = Ridge().fit(x[train], y[train])
        return float(model.score(x_test, y_test))

    def score(keep: np.ndarray) -> float:
        if len(xt):
            return fit_score(keep, xt, np.asarray(problem.y_target))
        return float(np.nanmean([fit_score(keep[fold[keep] != f], x[fold == f], y[fold == f])
                                 for f in range(CURVE_FOLDS)]))

    reporter = as_reporter(progress, cancel)
    rows = []
    for i, frac in enumerate(fractions):
        reporter.update("point removal", i, len(fractions))
        drop = int(round(frac * problem.n))
        rows.append({"fraction": frac, "strategy": "lowest", "score": score(order[drop:])})
        rand = [score(rng.permutation(problem.n)[drop:]) for _ in range(repeats)]
        rows.append({"fraction": frac, "strategy": "random", "score": float(np.nanmean(rand))})
    reporter.update("point removal", len(fractions), len(fractions))
    return pd.DataFrame(rows)


def rank_agreement(results: Sequence[ValuationResult], k: int) -> pd.DataFrame:
    """Pairwise Spearman correlation and bottom-k overlap (|A∩B| / k) between runs on the same ids."""
    rows = []
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            if not np.array_equal(a.ids, b.ids):
                raise ValueError(f"Runs {a.method} and {b.method} value different samples.")
            overlap = len(set(a.lowest(k)) & set(b.lowest(k))) / max(1, min(k, len(a.ids)))
            rows.append({"run_a": a.method, "run_b": b.method,
                         "spearman": float(spearmanr(a.values, b.values).statistic), "bottom_k_overlap": overlap})
    return pd.DataFrame(rows, columns=["run_a", "run_b", "spearman", "bottom_k_overlap"])


def flagged_by_several(results: Sequence[ValuationResult], k: int) -> pd.DataFrame:
    """Samples in the bottom k of several runs: id, number of runs flagging it, which runs."""
    hits: dict[str, list[str]] = {}
    for r in results:
        for i in r.lowest(k):
            hits.setdefault(i, []).append(r.method)
    frame = pd.DataFrame({"id": list(hits), "n_runs": [len(v) for v in hits.values()],
                          "runs": [", ".join(v) for v in hits.values()]})
    return frame.sort_values(["n_runs", "id"], ascending=[False, True], ignore_index=True)
