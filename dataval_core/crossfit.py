"""Every row valued without a trusted reference, and a reference marked noisy cleaned first.

Most curators have one noisy dataset and no clean subset. Holding a fraction out as the
reference would leave those rows unvalued and still treat their flips as truth, so when no
reference is given (:func:`~dataval_core.targets.no_reference`) every row is valued by
**cross-fitting**:

1. The rows are split into ``folds`` stratified folds (seeded).
2. **First pass:** each fold in turn is the reference, and every other row is valued against it,
   so each row is valued ``folds − 1`` times, never against itself.
3. **Cleaning:** of the :data:`CLEAN_SHARE` of rows the first pass values lowest, those whose
   suggested label differs from their own are left out of every reference (at most half of a
   class, so no class disappears from a reference).
4. **Second pass:** as the first, against the cleaned folds.
5. **Merging:** each run's values are rank-normalised to [0, 1] (0 = lowest), so runs against
   different references share one scale, and a row's value is the mean over its runs.

Each fold as the *reference* (:data:`SCHEME`), not each fold as the valued rows: the methods
see their valued rows as the training set (KNN-Shapley's neighbours, OT's source measure), and
a fifth of the data is too sparse for that. On the tuning runs this scored higher everywhere
(``benchmarks/results/every_row.md``).

Methods that need no reference (``data_oob``, ``random``) value every row in one run. With a
reference marked ``noisy`` (:func:`~dataval_core.targets.mark_reference`), the first pass runs
over all rows, the reference rows it suspects most are dropped from the reference, and the
valued rows are valued once against what remains.

Embeddings learned from the reference (``target_trained``, ``cross_fitted``) are learned again
for each reference; every other embedding is computed once for all rows.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from .dataset import CLASSIFICATION, DataError, Dataset
from .embeddings import build_problem, learned
from .embeddings.core import LEARNED_EMBEDDINGS
from .problem import Problem
from .progress import Reporter
from .result import ValuationResult, overall_status
from .targets import DEFAULT_FOLDS, stratified_folds
from .valuator import BaseValuator

#: ``"valued_fold"``: each fold is valued against the other folds; ``"reference_fold"``: each fold is the
#: reference for all other rows, so every row is valued K − 1 times against K − 1 references
SCHEME = "reference_fold"
#: share of rows the first pass values lowest that never serve in a reference (benchmarks/results/crossfit.md)
CLEAN_SHARE = 0.2
#: the first pass's method: ``None`` = the run's own method, else a registry name (regression: ``data_oob``).
#: The run's own: knn_shapley as consensus's cleaner halves its cost but lost 0.004 AUROC on average on the
#: tuning runs (0.028 on one)
FIRST_PASS: str | None = None
#: clean only low rows whose first-pass suggestion differs from their label (when the method suggests)
CLEAN_DISAGREEING_ONLY = True
#: a class never loses more than this share of its rows to cleaning
MAX_CLASS_CLEANED = 0.5


@dataclass(frozen=True)
class Features:
    """The valued-row features of all rows, and how to get a reference's learned features."""

    problem: Problem  # every row valued; x in the run's embedding, or raw for a learned one
    learned_kind: str | None  # "target_trained" / "cross_fitted" when features are learned per reference
    seed: int

    def pair(self, valued: np.ndarray, reference: np.ndarray, reporter: Reporter) -> Problem:
        """The problem valuing rows ``valued`` against rows ``reference``."""
        p = self.problem
        y = np.asarray(p.y)
        if self.learned_kind is None:
            return Problem(ids=p.ids[valued], x=np.asarray(p.x[valued]), y=y[valued],
                           x_target=np.asarray(p.x[reference]), y_target=y[reference], classes=p.classes,
                           task=p.task, embedding=p.embedding, image_shape=p.image_shape)
        rows = np.concatenate([valued, reference])
        build = learned.target_trained_features if self.learned_kind == "target_trained" \
            else learned.cross_fitted_features
        feats = build(np.asarray(p.x[rows]), y[rows], np.arange(len(valued), len(rows)), image_shape=p.image_shape,
                      task=p.task, n_classes=p.n_classes, seed=self.seed, reporter=reporter)
        return Problem(ids=p.ids[valued], x=feats[:len(valued)], y=y[valued], x_target=feats[len(valued):],
                       y_target=y[reference], classes=p.classes, task=p.task, embedding=self.learned_kind)


def suspects(scores: np.ndarray, y: np.ndarray, task: str, share: float,
             suggested: np.ndarray | None = None) -> np.ndarray:
    """Rows among the ``share`` with the lowest ``scores`` (and, where the first pass suggests labels,
    whose ``suggested`` class code differs from the label), at most :data:`MAX_CLASS_CLEANED` of any class."""
    n = len(scores)
    order = np.argsort(scores, kind="stable")[:int(round(share * n))]
    if suggested is not None and CLEAN_DISAGREEING_ONLY:
        order = order[(suggested[order] >= 0) & (suggested[order] != np.asarray(y)[order])]
    out = np.zeros(n, dtype=bool)
    if task != CLASSIFICATION:
        out[order] = True
        return out
    y = np.asarray(y, dtype=np.int64)
    cap = np.floor(MAX_CLASS_CLEANED * np.bincount(y)).astype(int)
    taken = np.zeros_like(cap)
    for i in order:
        if taken[y[i]] < cap[y[i]]:
            taken[y[i]] += 1
            out[i] = True
    return out


class CrossFit:
    """Runs one method over folds (see module docstring); ``make`` builds a fresh valuator per fit."""

    def __init__(self, make: Callable[[int], BaseValuator], features: Features, *, folds: int, seed: int,
                 reporter: Reporter, total_fits: int):
        self.make, self.features, self.folds, self.seed = make, features, folds, seed
        self.reporter, self.total_fits = reporter, total_fits
        self.fits = 0

    def fit_pair(self, valued: np.ndarray, reference: np.ndarray, seed: int, label: str) -> ValuationResult:
        part = self.reporter.scaled(f"{label}: ")
        problem = self.features.pair(valued, reference, part)
        result = self.make(seed).fit(problem, progress=part)
        self.fits += 1
        self.reporter.update("cross-fitting", self.fits, self.total_fits, label)
        return result

    def rotate(self, pool: np.ndarray, excluded: np.ndarray, seeds: np.ndarray, label: str) -> Merged:
        """Value ``pool`` in rotating folds (see :data:`SCHEME`); references never hold ``excluded`` rows (a mask
        over all rows) and never the rows they value."""
        y = np.asarray(self.features.problem.y)[pool]
        task = self.features.problem.task
        fold = stratified_folds(y, task, self.folds, self.seed)
        runs = []
        for f in range(self.folds):
            in_fold = fold == f
            valued, reference = (in_fold, ~in_fold) if SCHEME == "valued_fold" else (~in_fold, in_fold)
            kept = reference & ~excluded[pool]
            if task == CLASSIFICATION:  # a class the cleaning emptied from this reference keeps its rows
                kept |= reference & np.isin(y, np.setdiff1d(y[reference], y[kept]))
            rows = pool[valued]
            result = self.fit_pair(rows, pool[kept], int(seeds[f]), f"{label}, fold {f + 1}/{self.folds}")
            runs.append((rows, result))
        return merge_runs(self.features.problem, pool, fold, runs)


@dataclass(frozen=True)
class Merged:
    """Per-row results of a rotation over ``rows``: mean within-run percentile, voted suggestion, joined extras."""

    rows: np.ndarray
    fold: np.ndarray
    values: np.ndarray  # in [0, 1], 0 = lowest
    suggested: np.ndarray | None  # class codes, -1 = none
    extras: dict[str, np.ndarray]
    runs: list[ValuationResult]


def merge_runs(problem: Problem, pool: np.ndarray, fold: np.ndarray,
               runs: list[tuple[np.ndarray, ValuationResult]]) -> Merged:
    """Join runs that each valued some rows of ``pool``: a row's value is the mean of its percentiles
    (rank-normalised within each run, so runs against different references share one scale);
    its suggestion is the most frequent one; float extras are averaged, others kept from its last run."""
    n = len(problem.ids)
    where = np.full(n, -1)
    where[pool] = np.arange(len(pool))
    total, count = np.zeros(len(pool)), np.zeros(len(pool))
    classes = problem.classes
    votes = np.zeros((len(pool), len(classes)), dtype=np.int64) if classes else None
    shared = set.intersection(*(set(r.extras) for _, r in runs))
    extras: dict[str, np.ndarray] = {}
    lookup = {c: i for i, c in enumerate(classes)}
    for rows, res in runs:
        at = where[rows]
        total[at] += (rankdata(res.values, method="average") - 1) / max(len(rows) - 1, 1)
        count[at] += 1
        if votes is not None and res.suggested_labels is not None:
            codes = np.array([lookup.get(s, -1) for s in res.suggested_labels])
            ok = codes >= 0
            np.add.at(votes, (at[ok], codes[ok]), 1)
        for key in shared:
            arr = np.asarray(res.extras[key])
            out = extras.setdefault(key, np.zeros((len(pool), *arr.shape[1:]),
                                                  dtype=np.float64 if arr.dtype.kind == "f" else arr.dtype))
            out[at] = out[at] + arr if arr.dtype.kind == "f" else arr
    for key, arr in extras.items():
        if arr.dtype.kind == "f":
            extras[key] = arr / count.reshape(-1, *([1] * (arr.ndim - 1)))
    suggested = None
    if votes is not None and all(r.suggested_labels is not None for _, r in runs):
        suggested = np.where(votes.sum(1) > 0, votes.argmax(1), -1)
    return Merged(pool, fold, total / np.maximum(count, 1), suggested, extras, [r for _, r in runs])


def _result(problem: Problem, merged: Merged, method: str, seed: int, timings: dict[str, float]) -> ValuationResult:
    """The run's result from the second rotation: its merged values, suggestions and extras."""
    runs = merged.runs
    for r in runs:
        for stage, seconds in r.timings.items():
            if stage != "total":
                timings[stage] = timings.get(stage, 0.0) + seconds
    suggested = None
    if merged.suggested is not None:
        suggested = np.asarray((*problem.classes, None), dtype=object)[merged.suggested]
    extras = {**merged.extras, "fold": merged.fold.astype(np.int64)}
    status = overall_status(runs)
    return ValuationResult(ids=problem.ids[merged.rows], values=merged.values, method=method,
                           params=runs[0].params, seed=seed, embedding=runs[0].embedding, timings=timings,
                           suggested_labels=suggested, extras=extras, status=status)


def value_every_row(dataset: Dataset, cls: type[BaseValuator], *, params: Any, embedding: str, seed: int,
                    reporter: Reporter, cache_dir: str | Path | None, backend: Any,
                    folds: int = DEFAULT_FOLDS) -> ValuationResult:
    """Value every row of ``dataset`` (no target rows) with ``cls``: cross-fitted, or directly when it needs no
    reference. ``timings`` holds ``embedding``, ``first_pass`` and ``second_pass`` (seconds)."""
    features, embedding_s = _features(dataset, embedding, seed, reporter, cache_dir, backend)
    n = len(dataset)
    start = time.perf_counter()
    if not cls.needs_reference:
        result = cls(params, seed=seed, backend=backend).fit(features.problem, progress=reporter)
        return replace(result, timings={**result.timings, "embedding": embedding_s,
                                        "total": embedding_s + time.perf_counter() - start})
    folds = _fold_count(features.problem, folds)
    seeds = np.random.default_rng([seed, 43]).integers(0, 2**31 - 1, size=(2, folds))
    fitter = CrossFit(_first_pass_maker(cls, params, features.problem, backend), features, folds=folds, seed=seed,
                      reporter=reporter, total_fits=2 * folds)
    everyone = np.arange(n)
    first = fitter.rotate(everyone, np.zeros(n, dtype=bool), seeds[0], "first pass")
    fitter.make = lambda s: cls(params, seed=s, backend=backend)
    first_s = time.perf_counter() - start
    suspected = suspects(first.values, features.problem.y, features.problem.task, CLEAN_SHARE, first.suggested)
    second = fitter.rotate(everyone, suspected, seeds[1], "second pass")
    total = time.perf_counter() - start
    timings = {"embedding": embedding_s, "first_pass": first_s, "second_pass": total - first_s,
               "method": total, "total": embedding_s + total}
    return _result(features.problem, second, cls.name, seed, timings)


def value_with_noisy_reference(dataset: Dataset, cls: type[BaseValuator], *, params: Any, embedding: str,
                               seed: int, reporter: Reporter, cache_dir: str | Path | None, backend: Any,
                               folds: int = DEFAULT_FOLDS) -> ValuationResult:
    """Value the valued rows against the given reference less the reference rows a cross-fitted first pass
    over all rows suspects most (:data:`CLEAN_SHARE` of the reference)."""
    features, embedding_s = _features(dataset.replace(is_target=np.zeros(len(dataset), dtype=bool)), embedding,
                                      seed, reporter, cache_dir, backend)
    folds = _fold_count(features.problem, folds)
    start = time.perf_counter()
    seeds = np.random.default_rng([seed, 44]).integers(0, 2**31 - 1, size=folds + 1)
    fitter = CrossFit(_first_pass_maker(cls, params, features.problem, backend), features, folds=folds, seed=seed,
                      reporter=reporter, total_fits=folds + 1)
    n = len(dataset)
    first = fitter.rotate(np.arange(n), np.zeros(n, dtype=bool), seeds[:folds], "cleaning the reference")
    fitter.make = lambda s: cls(params, seed=s, backend=backend)
    first_s = time.perf_counter() - start
    ref = dataset.target_index
    dropped = suspects(first.values[ref], np.asarray(features.problem.y)[ref], features.problem.task, CLEAN_SHARE,
                       None if first.suggested is None else first.suggested[ref])
    result = fitter.fit_pair(dataset.valued_index, ref[~dropped], int(seeds[folds]),
                             "valuing against the cleaned reference")
    total = time.perf_counter() - start
    timings = {**{k: v for k, v in result.timings.items() if k != "total"}, "embedding": embedding_s,
               "first_pass": first_s, "second_pass": total - first_s, "method": total, "total": embedding_s + total}
    extras = {**result.extras, "reference_rows_dropped": np.full(result.values.shape, int(dropped.sum()))}
    return replace(result, timings=timings, extras=extras)


def _first_pass_maker(cls: type[BaseValuator], params: Any, problem: Problem, backend: Any
                      ) -> Callable[[int], BaseValuator]:
    """A valuator factory for the first pass (see :data:`FIRST_PASS`)."""
    if FIRST_PASS is None:
        return lambda s: cls(params, seed=s, backend=backend)
    from .registry import get_spec

    first = get_spec(FIRST_PASS if problem.is_classification else "data_oob").load()
    return lambda s: first(None, seed=s, backend=backend)


def _features(dataset: Dataset, embedding: str, seed: int, reporter: Reporter, cache_dir, backend
              ) -> tuple[Features, float]:
    start = time.perf_counter()
    kind = embedding.partition(":")[0]
    learned_kind = kind if kind in LEARNED_EMBEDDINGS else None
    problem = build_problem(dataset, "raw" if learned_kind else embedding, seed=seed, cache_dir=cache_dir,
                            progress=reporter, backend=backend)
    return Features(problem, learned_kind, seed), time.perf_counter() - start


def _fold_count(problem: Problem, folds: int) -> int:
    """``folds``, fewer for a tiny dataset (each fold keeps 2 rows, and a class's rows reach every fold
    when it has at least 2); an error below 4 rows."""
    if folds < 2:
        raise DataError(f"Cross-fitting needs at least 2 folds, got {folds}.")
    if problem.n < 4:
        rows = "images" if problem.image_shape is not None else "rows"
        raise DataError(f"Valuing every row without a reference needs at least 4 {rows} (2 folds of 2); this "
                        f"dataset has {problem.n}. Give a reference set instead.")
    if problem.is_classification:  # every class in every fold where its rows allow
        counts = np.bincount(np.asarray(problem.y, dtype=np.int64))
        folds = min(folds, max(2, int(counts[counts > 0].min())))
    return min(folds, problem.n // 2)
