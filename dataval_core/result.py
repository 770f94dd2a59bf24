"""The one result type every valuation method returns."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata


class ResultStatus(StrEnum):
    """How a method's run ended, as stored with the run (the values are the stored strings)."""

    OK = "ok"
    NOT_CONVERGED = "not_converged"


def overall_status(results: Iterable[ValuationResult]) -> ResultStatus:
    """The status of a run made of several fits: the first that is not ``ok``, else ``ok``."""
    return next((r.status for r in results if r.status != ResultStatus.OK), ResultStatus.OK)


@dataclass(frozen=True)
class ValuationResult:
    """Values per valued sample, aligned to ``ids``; **higher value = more useful**.

    Attributes:
        ids: sample ids, shape (n,).
        values: float64 values, shape (n,), finite.
        method: registry name of the method.
        params: the method's parameters as a plain dict.
        seed: the seed the run used.
        embedding: name of the features the method saw.
        timings: seconds per stage (``total`` included).
        suggested_labels: per-sample suggested class name (``None`` entries where the
            method has no suggestion), or ``None`` when the method cannot suggest.
        extras: named per-sample arrays (first axis n), e.g. influence by training phase.
        status: a :class:`ResultStatus` (a plain string is read as one, so stored values load).
    """

    ids: np.ndarray
    values: np.ndarray
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    embedding: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    suggested_labels: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    status: ResultStatus = ResultStatus.OK

    def __post_init__(self):
        ids = np.asarray(self.ids).astype(str, copy=False)  # no copy of a million ids that are str already
        values = np.asarray(self.values, dtype=np.float64)
        if ids.ndim != 1 or values.shape != ids.shape:
            raise ValueError(f"values has shape {values.shape} but there are {ids.shape[0]} ids.")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{self.method} produced {int((~np.isfinite(values)).sum())} non-finite values.")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "status", ResultStatus(self.status))
        if self.suggested_labels is not None:
            sug = np.asarray(self.suggested_labels, dtype=object)
            if sug.shape != ids.shape:
                raise ValueError("suggested_labels must have one entry per id.")
            object.__setattr__(self, "suggested_labels", sug)
        for name, arr in self.extras.items():
            if np.asarray(arr).shape[0] != ids.shape[0]:
                raise ValueError(f"extra {name!r} must have one row per id.")

    @property
    def ranks(self) -> np.ndarray:
        """1 = lowest value (inspect first); ties broken by position for stability."""
        return rankdata(self.values, method="ordinal").astype(np.int64)

    @property
    def percentiles(self) -> np.ndarray:
        """Each value's percentile among the run's values, 0 (lowest: most suspicious) to 100 (highest).

        Comparable across methods whose raw values live on very different scales.
        """
        n = len(self.values)
        return np.zeros(n) if n < 2 else 100.0 * (self.ranks - 1) / (n - 1)

    def lowest(self, k: int) -> np.ndarray:
        """Ids of the ``k`` lowest-valued samples, lowest first."""
        return self.ids[np.argsort(self.values, kind="stable")[:k]]

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"id": self.ids, "value": self.values, "rank": self.ranks})
        frame["suggested_label"] = (self.suggested_labels if self.suggested_labels is not None
                                    else np.full(len(self.ids), None, dtype=object))
        return frame


#: runs keyed by run name, or a sequence of runs (named by :func:`run_names`)
Results = Mapping[str, ValuationResult] | Sequence[ValuationResult]


def run_names(results: Results) -> dict[str, ValuationResult]:
    """Runs keyed by name: a mapping is kept as is; a sequence is keyed by method name
    (``knn_shapley``, ``knn_shapley_2``, … when a method ran more than once)."""
    if isinstance(results, Mapping):
        return {str(k): v for k, v in results.items()}
    named: dict[str, ValuationResult] = {}
    for r in results:
        name, n = r.method, 1
        while name in named:
            n += 1
            name = f"{r.method}_{n}"
        named[name] = r
    return named
