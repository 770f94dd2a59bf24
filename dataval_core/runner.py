"""One call from a dataset to a valuation result: embed, then run the method."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from .dataset import Dataset
from .embeddings import build_problem
from .progress import CancelFlag, ProgressCallback, as_reporter
from .registry import get_spec
from .result import ValuationResult


def run_valuation(dataset: Dataset, method: str, *, embedding: str | None = None, params: Any = None,
                  seed: int = 0, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
                  cache_dir: str | Path | None = None, backend: Any = None) -> ValuationResult:
    """Value the non-target rows of ``dataset`` with ``method`` (registry name).

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
    start = time.perf_counter()
    problem = build_problem(dataset, embedding or cls.default_embedding, seed=seed, cache_dir=cache_dir,
                            progress=reporter, backend=backend)
    embedding_s = time.perf_counter() - start
    result = valuator.fit(problem, progress=reporter)
    method_s = result.timings.get("total", 0.0)
    timings = {**result.timings, "embedding": embedding_s, "method": method_s, "total": embedding_s + method_s}
    return dataclasses.replace(result, timings=timings)
