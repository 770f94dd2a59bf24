"""The valuator protocol and the base class that gives every method the same shape.

A method subclasses :class:`BaseValuator`, declares ``name``, its metadata (``summary``,
``low_value``, ``cost``, ``supports_regression``, ``needs_reference``: what the registry, the CLI,
the app and docs/methods.md show), a frozen ``Params`` dataclass, and implements
:meth:`BaseValuator._compute`. The base class validates
parameters, checks the task is supported, times the run, wires progress and
cancellation, and builds the :class:`~dataval_core.result.ValuationResult`.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import params as _params
from .backend import Backend, get_backend
from .dataset import CLASSIFICATION, REGRESSION, DataError
from .problem import Problem
from .progress import CancelFlag, ProgressCallback, Reporter, as_reporter
from .result import ResultStatus, ValuationResult


@dataclass(frozen=True)
class NoParams:
    """A method without tunable parameters."""


@dataclass(frozen=True)
class Output:
    """What a method's ``_compute`` returns; the base class turns it into a result."""

    values: np.ndarray
    suggested: np.ndarray | None = None  # int class codes, -1 = no suggestion
    extras: Mapping[str, np.ndarray] | None = None
    status: ResultStatus = ResultStatus.OK
    timings: Mapping[str, float] | None = None


class BaseValuator(ABC):
    """Stores parameters and seed (sklearn style); :meth:`fit` validates and runs.

    Args:
        params: a ``Params`` instance, a mapping of overrides, or None for defaults.
        seed: the run's seed; the same seed gives identical values.
        backend: where independent tasks run: ``"local"`` (default), ``"ray"`` or a
            :class:`~dataval_core.backend.Backend`; the values do not depend on it.
    """

    name: ClassVar[str] = ""
    #: one line: what the method computes
    summary: ClassVar[str] = ""
    #: what its value is and what a low one means, one line (values do not compare across methods)
    low_value: ClassVar[str] = ""
    #: what a run costs, one line: what its time and memory grow with
    cost: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    supports_regression: ClassVar[bool] = False
    #: False for methods that never read the target (reference) rows; they value every row directly
    needs_reference: ClassVar[bool] = True
    #: True for methods that hand tasks to their ``backend``; the others compute in this process whatever it is
    uses_backend: ClassVar[bool] = False
    #: embedding used when the caller does not choose one (see ``dataval_core.embeddings``)
    default_embedding: ClassVar[str] = "raw"
    #: torch intra-op threads while the method runs (None: the caller's; see ``torch_models.torch_threads``)
    torch_threads: ClassVar[int | None] = None

    @classmethod
    def tasks(cls) -> tuple[str, ...]:
        """The label kinds it values: classification, and regression where supported."""
        return (CLASSIFICATION, REGRESSION) if cls.supports_regression else (CLASSIFICATION,)

    def __init__(self, params: Any = None, *, seed: int = 0, backend: Any = None):
        self.params = params
        self.seed = seed
        self.backend = backend

    def compute_backend(self) -> Backend:
        """The backend the methods that fan out use (``self.backend`` resolved)."""
        return get_backend(self.backend)

    def resolved_params(self) -> Any:
        if isinstance(self.params, self.Params):
            _params.validate(self.params, self.name)
            return self.params
        return _params.build(self.Params, self.params, self.name)

    def fit(self, problem: Problem, *, progress: ProgressCallback | Reporter | None = None,
            cancel: CancelFlag | None = None) -> ValuationResult:
        params = self.resolved_params()
        if not problem.is_classification and not self.supports_regression:
            raise ValueError(f"{self.name} supports classification only; this dataset has a numeric "
                             f"(regression) label. Try lossval, dvgs or data_oob.")
        if self.needs_reference and len(problem.x_target) == 0:
            raise DataError(f"{self.name} values rows against a reference (target) set, and this one is empty.")
        reporter = as_reporter(progress, cancel)
        reporter.check()
        start = time.perf_counter()
        if self.torch_threads is None:
            out = self._compute(problem, params, np.random.default_rng(self.seed), reporter)
        else:
            from .torch_models import torch_threads

            with torch_threads(self.torch_threads):
                out = self._compute(problem, params, np.random.default_rng(self.seed), reporter)
        reporter.check()  # a cancel that arrived with the last progress event still cancels
        total = time.perf_counter() - start
        suggested = None
        if out.suggested is not None:
            # code -1 picks the trailing None; entries share the class-name objects (8 bytes a row)
            names = np.asarray((*problem.classes, None), dtype=object)
            suggested = names[np.asarray(out.suggested).astype(np.int32, copy=False)]
        timings = dict(out.timings or {})
        timings["total"] = total
        return ValuationResult(ids=problem.ids, values=out.values, method=self.name,
                               params=_params.as_dict(params), seed=self.seed, embedding=problem.embedding,
                               timings=timings, suggested_labels=suggested, extras=dict(out.extras or {}),
                               status=out.status)

    @abstractmethod
    def _compute(self, problem: Problem, params: Any, rng: np.random.Generator, reporter: Reporter) -> Output:
        """Compute values (higher = more useful) for ``problem.x``; report progress via ``reporter``."""
