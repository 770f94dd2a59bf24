"""LAVA: learning-agnostic data valuation by optimal transport (Just et al., ICLR 2023).

One OT problem between the uniform measure on the labelled valued rows and the one on
the labelled target rows, with the label-augmented ground cost of
:mod:`dataval_core.methods._ot`. A row's raw score is the calibrated gradient of the OT
cost w.r.t. its mass (positive = it pulls the valued set away from the target); the
value is minus (that gradient + ``relabel_weight`` x the relabel gain: how much cheaper
the row would be to transport under its best label), so **higher = more useful**; the
suggested label is the class of the nearest target row. The problem is dense (n × m), so
LAVA estimates its memory first and refuses politely when it would not fit; ``sava``
solves the same problem in batches with memory independent of n.

Differences from the reference code, on purpose: the embedding is computed once, not
inside every cost evaluation; every row is valued (no silent 10k subsample); W is
computed once, with exact OT on a stratified sample, between the classes of the clean
target set (the reference compares valued class c, whose noisy labels blur it, with
target class c'), and weighted 0.5 (the best on held-in seeds of MNIST with confusable-pair
flips); the label term is not halved twice; potentials come from exact OT by default; the
relabel gain is added to the gradient (``relabel_weight = 0`` gives the paper's score),
because on confusable-pair flips the gradient alone ranks flips poorly (both measured in
``benchmarks/results/ot_pair_flips.md``); the suggestion is the nearest target row's class,
not the class that receives the row's mass (that one mostly repeats the given label).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..params import MEMORY_GB, param
from ..problem import Problem
from ..progress import Reporter
from ..result import ResultStatus
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
    summary = "LAVA (Just et al. 2023): calibrated gradient of the OT distance to the target set; dense, exact."
    low_value = ("how much moving the sample would lower the optimal-transport distance to the target set; low = far "
                 "from target samples of its class.")
    cost = ("one dense optimal-transport problem, valued × target rows: memory grows with their product and is "
            "refused above max_memory_gb (then use sava).")
    Params = LavaParams
    default_embedding = "target_trained"

    def _compute(self, problem: Problem, params: LavaParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        n, m, d = problem.n, len(problem.x_target), problem.x.shape[1]
        solver = _ot.resolve_solver(params.solver, params.device)
        check_memory(n, m, d, solver, params.max_memory_gb)
        device = _ot.resolve_device(params.device, solver)
        stages, timings = 2, {}
        reporter.update("label cost", 0, stages, "W between classes")
        t = time.perf_counter()
        w = _ot.label_cost(problem.x, problem.y, problem.x_target, problem.y_target, problem.classes,
                           per_class=params.label_samples, rng=rng, map_fn=_ot.checked_map(reporter, "label cost"))
        timings["label_cost"] = time.perf_counter() - t
        what = f"{n:,} x {m:,}, {solver} on {device}"
        reporter.update("OT solve", 1, stages, what)
        t = time.perf_counter()
        x = np.asarray(problem.x)
        # one call that can take minutes: in a helper thread, so a cancel is honoured within 0.1 s
        scores = _ot.run_checked(lambda: _ot.pair_scores(
            x, problem.y, problem.x_target, problem.y_target, w, label_weight=params.label_weight,
            relabel_weight=params.relabel_weight, solver=solver, reg=params.reg, device=device),
            reporter, "OT solve", 1, stages, what)
        timings["ot_solve"] = time.perf_counter() - t
        reporter.update("OT solve", stages, stages, "done")
        return Output(values=-scores.harm, suggested=scores.nearest_class,
                      extras={"calibrated_gradient": scores.gradient, "relabel_gain": scores.gain,
                              "potential": scores.potential},
                      status=ResultStatus.OK if scores.converged else ResultStatus.NOT_CONVERGED, timings=timings)
