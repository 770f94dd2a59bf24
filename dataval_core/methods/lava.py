"""LAVA: learning-agnostic data valuation by optimal transport (Just et al., ICLR 2023).

One OT problem between the uniform measure on the labelled valued rows and the one on
the labelled target rows, with the label-augmented ground cost of
:mod:`dataval_core.methods._ot`. A row's raw score is the calibrated gradient of the OT
cost w.r.t. its mass (positive = it pulls the valued set away from the target); the
value is its negative, so **higher = more useful**. The problem is dense (n × m), so
LAVA estimates its memory first and refuses politely when it would not fit; ``sava``
solves the same problem in batches with memory independent of n.

Differences from the reference code, on purpose: the embedding is computed once, not
inside every cost evaluation; every row is valued (no silent 10k subsample); W is
computed once from a stratified sample with exact OT; the label term is not halved
twice; potentials come from exact OT by default.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..params import MEMORY_GB, param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, Output
from . import _ot


@dataclass(frozen=True)
class LavaParams(_ot.OTParams):
    """The OT parameters plus the memory limit of the dense problem."""

    max_memory_gb: float = param(4.0, low=0.0, low_open=True, high=MEMORY_GB,
                                 help="Refuse (and suggest sava) when the dense problem needs more than this.")


def check_memory(n: int, m: int, d: int, solver: str, max_memory_gb: float) -> int:
    """Estimated bytes for dense LAVA; raises ``ValueError`` suggesting ``sava`` if too big.

    The limit is ``max_memory_gb`` or the RAM available now, whichever is smaller.
    """
    need = _ot.solve_bytes(n, m, solver) + n * m * 8 + (n + m) * d * 8
    limit = min(int(max_memory_gb * 2**30), _ot.available_bytes())
    if need > limit:
        raise ValueError(f"lava needs about {need / 2**30:.1f} GB for {n:,} valued x {m:,} target rows "
                         f"(dense {solver} OT), more than the {limit / 2**30:.1f} GB allowed "
                         f"(max_memory_gb or available RAM). Use sava, which solves the same problem in "
                         f"batches with memory independent of the number of rows, or raise max_memory_gb.")
    return need


class LavaValuator(BaseValuator):
    """Exact (dense) LAVA on the embedded valued and target rows."""

    name = "lava"
    Params = LavaParams
    default_embedding = "target_trained"

    def _compute(self, problem: Problem, params: LavaParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        n, m, d = problem.n, len(problem.x_target), problem.x.shape[1]
        check_memory(n, m, d, params.solver, params.max_memory_gb)
        stages, timings = 4, {}
        reporter.update("label cost", 0, stages, "W between classes")
        t = time.perf_counter()
        w = _ot.label_cost(problem.x, problem.y, problem.x_target, problem.y_target, problem.classes,
                           per_class=params.label_samples, rng=rng)
        timings["label_cost"] = time.perf_counter() - t
        reporter.update("cost matrix", 1, stages, f"{n:,} x {m:,}")
        t = time.perf_counter()
        cost = _ot.augmented_cost(np.asarray(problem.x), problem.y, problem.x_target, problem.y_target, w,
                                  params.label_weight)
        timings["cost_matrix"] = time.perf_counter() - t
        reporter.update("OT solve", 2, stages, params.solver)
        t = time.perf_counter()
        duals = _ot.solve_duals(cost, params.solver, params.reg)
        del cost
        timings["ot_solve"] = time.perf_counter() - t
        reporter.update("calibrate", 3, stages, "calibrated gradient")
        gradient = _ot.calibrated_gradient(duals.f)
        suggested = _ot.top_target_class(duals.plan, problem.y_target, problem.n_classes)
        reporter.update("calibrate", stages, stages, "done")
        return Output(values=-gradient, suggested=suggested,
                      extras={"calibrated_gradient": gradient, "potential": duals.f},
                      status="ok" if duals.converged else "not_converged", timings=timings)
