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


def run_valuation(dataset: Dataset, method: str, *, embedding: str | None = None, params: Any = None,
                  seed: int = 0, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
                  cache_dir: str | Path | None = None, backend: Any = None) -> ValuationResult:
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
    start = time.perf_counter()
    problem = build_problem(dataset, embedding or cls.default_embedding, seed=seed, cache_dir=cache_dir,
                            progress=reporter, backend=backend)
    embedding_s = time.perf_counter() - start
    result = valuator.fit(problem, progress=reporter)
    method_s = result.timings.get("total", 0.0)
    timings = {**result.timings, "embedding": embedding_s, "method": method_s, "total": embedding_s + method_s}
    return dataclasses.replace(result, timings=timings)
