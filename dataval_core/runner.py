"""One call from a dataset to a valuation result: embed, then run the method."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from . import crossfit
from .dataset import Dataset
from .embeddings import build_problem
from .progress import CancelFlag, ProgressCallback, as_reporter
from .registry import get_spec
from .result import ValuationResult
from .targets import DEFAULT_FOLDS, reference_mode

#: part of a run's progress bar for building features: raw features are immediate, the others are not
RAW_EMBEDDING_SHARE, BUILT_EMBEDDING_SHARE = 0.02, 0.35


def embedding_share_for(embedding: str) -> float:
    """The default part of a run's overall progress that building the ``embedding`` features covers."""
    return RAW_EMBEDDING_SHARE if embedding == "raw" else BUILT_EMBEDDING_SHARE


def run_valuation(dataset: Dataset, method: str, *, embedding: str | None = None, params: Any = None,
                  seed: int = 0, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
                  cache_dir: str | Path | None = None, backend: Any = None,
                  embedding_share: float | None = None) -> ValuationResult:
    """Value the non-target rows of ``dataset`` with ``method`` (registry name).

    Without target rows every row is valued by cross-fitting, and a reference marked noisy is
    cleaned first (:mod:`dataval_core.crossfit`).

    The result's timings hold ``embedding`` (building the feature matrix, reading the
    images included), ``method`` (the valuation itself, with the method's own stages)
    and ``total`` (both).

    Raises:
        ValueError: unknown method or embedding, bad parameters, or unusable data
            (``DataError``); the message is meant for the user as is.
        Cancelled: when ``cancel`` is set during the run.

    ``backend`` (``"local"``, ``"ray"`` or a :class:`~dataval_core.backend.Backend`) says
    where the methods that fan out, and the pretrained image embeddings, run their tasks; the values do
    not depend on it.

    ``embedding_share`` is the part of the run's overall progress (``Progress.overall``) that building the
    features covers (default :func:`embedding_share_for`); the method's stages fill the rest.
    """
    cls = get_spec(method).load()
    valuator = cls(params, seed=seed, backend=backend)
    valuator.resolved_params()  # reject bad parameters before any expensive embedding work
    reporter = as_reporter(progress, cancel)
    mode = reference_mode(dataset)
    if mode != "trusted":
        run = crossfit.value_every_row if mode == "none" else crossfit.value_with_noisy_reference
        return run(dataset, cls, params=params, embedding=embedding or cls.default_embedding, seed=seed,
                   reporter=reporter, cache_dir=cache_dir, backend=backend,
                   folds=int(dataset.meta.get("folds", DEFAULT_FOLDS)))
    name = embedding or cls.default_embedding
    share = embedding_share_for(name) if embedding_share is None else min(max(embedding_share, 0.0), 0.9)
    start = time.perf_counter()
    problem = build_problem(dataset, name, seed=seed, cache_dir=cache_dir, progress=reporter.within(0.0, share),
                            backend=backend)
    embedding_s = time.perf_counter() - start
    result = valuator.fit(problem, progress=reporter.within(share, 1.0))
    method_s = result.timings.get("total", 0.0)
    timings = {**result.timings, "embedding": embedding_s, "method": method_s, "total": embedding_s + method_s}
    return dataclasses.replace(result, timings=timings)
