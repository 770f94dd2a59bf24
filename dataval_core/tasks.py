"""Engine steps the app runs as background jobs and the CLI runs in the foreground.

Each takes plain arguments (a dataset, results, a cache folder) that the caller resolves
first, so a worker thread never touches UI state, and reports progress / honours cancel
through the usual callback and flag. :func:`as_task` binds the arguments into the
``task(progress, cancel)`` form :meth:`dataval_core.jobs.JobManager.submit_task` runs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import Dataset
from .embeddings import build_problem
from .progress import CancelFlag, ProgressCallback, as_reporter
from .projection import MapResult, map_coordinates
from .result import ValuationResult


def dataset_map(dataset: Dataset, embedding: str | None, *, seed: int = 0, method: str = "auto",
                pca_above: int = 20_000, cache_dir: str | Path | None = None,
                progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> MapResult:
    """2-D map of the valued rows: embed them as a run did, then lay them out (cached on disk).

    Args:
        dataset: the dataset (its target rows are left out of the map).
        embedding: the embedding name the run used (``None``: ``raw``).
        seed: the run's seed (embedding and layout).
        method: :func:`~dataval_core.projection.map_coordinates`'s ``"auto"``, ``"umap"`` or ``"pca"``.
        pca_above: with ``"auto"``, PCA instead of UMAP above this many points.
        cache_dir: where embeddings and coordinates are cached.
    """
    reporter = as_reporter(progress, cancel)
    problem = build_problem(dataset, embedding, seed=seed, cache_dir=cache_dir, progress=reporter)
    return map_coordinates(problem.x, problem.ids, seed=seed, cache_dir=cache_dir, method=method,
                           pca_above=pca_above, progress=reporter)


def removal_curves(dataset: Dataset, results: Mapping[str, ValuationResult], *,
                   cache_dir: str | Path | None = None, progress: ProgressCallback | None = None,
                   cancel: CancelFlag | None = None) -> pd.DataFrame:
    """Point-removal curve of every run (see :func:`~dataval_core.evaluation.point_removal_curve`).

    Each run is scored on its own embedding and seed. Returns the curves stacked, with a
    ``run`` column holding the run's name (the mapping's key).
    """
    from .evaluation import point_removal_curve

    reporter = as_reporter(progress, cancel)
    frames = []
    for name, result in results.items():
        problem = build_problem(dataset, result.embedding or None, seed=result.seed, cache_dir=cache_dir,
                                progress=reporter)
        if list(problem.ids) != list(result.ids):
            raise ValueError(f"Run {name!r} valued other samples than this dataset's valued rows.")
        frames.append(point_removal_curve(problem, result.values, seed=result.seed, progress=reporter)
                      .assign(run=name))
    return pd.concat(frames, ignore_index=True)


def as_task(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[ProgressCallback, CancelFlag], Any]:
    """``step(*args, **kwargs)`` as a job body ``task(progress, cancel)``."""
    def task(progress: ProgressCallback, cancel: CancelFlag) -> Any:
        return step(*args, **kwargs, progress=progress, cancel=cancel)

    return task
