"""Cancel-latency contract: a run stops within 2 s of its cancel flag being set, in every stage.

For every registered method (and for the cross-fitted mode that values every row without a
reference) a timer thread sets the cancel flag :data:`DELAY_S` after the first progress event of
one of the method's stages, i.e. *inside* the stage, and the test measures the time from that
moment until :class:`~dataval_core.progress.Cancelled` reaches the caller. The data are sized so
that each stage lasts well over 2 s uncancelled on a 2-core machine (checked by the ``slow`` test
at the end, and by each case failing when its stage has already ended when the flag is set), so a
method that ignores the flag inside a stage fails here; ``test_a_valuator_that_ignores_the_flag_fails``
shows that the measurement catches one.

A loaded machine (CI, several test runs side by side) slows a run without making it any less
responsive, so the latency counted is the wall time minus the time the caller's thread was
runnable but waiting for a CPU (``/proc/self/task/<tid>/schedstat``, where the kernel has it).
Sleeping or computing 3 s without looking at the flag is counted in full.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dataval_core import Cancelled, Dataset, Progress, list_valuators
from dataval_core.io import load_frame
from dataval_core.problem import Problem
from dataval_core.registry import get_valuator
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample
from dataval_core.targets import no_reference, split_target
from dataval_core.valuator import BaseValuator, Output

#: the contract: Cancelled within this many seconds of the flag being set
GOAL_S = 2.0
#: the flag is set this long after the stage's first event, so it lands inside the stage
DELAY_S = 0.4


def _run_queue_wait_s(tid: int) -> float:
    """Seconds thread ``tid`` of this process has spent runnable but waiting for a CPU (0 where unknown)."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class Latency:
    """What :func:`cancel_latency` measured.

    Attributes:
        stage: the stage (and message) of the last progress event before the flag was set.
        wall_s: seconds from the flag being set to ``Cancelled`` being caught.
        waiting_s: of those, seconds the running thread waited for a CPU (machine load).
        stages: every stage seen, in order of first appearance.
    """

    stage: str
    wall_s: float
    waiting_s: float
    stages: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """The latency counted against the goal: wall time less time spent waiting for a CPU."""
        return max(0.0, self.wall_s - self.waiting_s)

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s ({self.wall_s:.2f} s wall, {self.waiting_s:.2f} s waiting for a CPU)"


def cancel_latency(run: Callable[[Callable[[Progress], None], threading.Event], Any], stage: str,
                   delay_s: float = DELAY_S) -> Latency:
    """Call ``run(progress, cancel)`` and set ``cancel`` ``delay_s`` after the first progress event whose
    stage matches the regular expression ``stage`` (``delay_s=0``: in that event's callback); return how long
    ``Cancelled`` took to come back.

    Fails the test when the run finishes without raising ``Cancelled``, when no event matches, or when
    the matching stage has already ended when the flag is set (the case is too small to test anything).
    """
    flag = threading.Event()
    tid = threading.get_native_id()
    state: dict[str, Any] = {"stage": None, "stages": []}

    def fire() -> None:
        state["set_stage"] = state["stage"]
        state["wait0"] = _run_queue_wait_s(tid)
        state["t0"] = time.perf_counter()
        flag.set()

    timer: threading.Timer | None = None

    def progress(p: Progress) -> None:
        nonlocal timer
        state["stage"] = _label(p)
        if p.stage not in state["stages"]:
            state["stages"].append(p.stage)
        if timer is None and re.search(stage, _label(p)):
            timer = threading.Timer(delay_s, fire)
            if delay_s > 0:
                timer.start()
            else:  # at the event itself, before the method goes on
                fire()

    try:
        run(progress, flag)
    except Cancelled:
        caught, wait1 = time.perf_counter(), _run_queue_wait_s(tid)
    else:
        pytest.fail(f"the run finished without being cancelled (stages seen: {state['stages']}); make the "
                    f"stage {stage!r} longer")
    finally:
        if timer is not None:
            timer.cancel()
    assert "t0" in state, f"cancelled before the flag was set? stages seen: {state['stages']}"
    assert re.search(stage, state["set_stage"] or ""), (
        f"the stage {stage!r} had ended (now {state['set_stage']!r}) when the flag was set: make it longer")
    return Latency(state["set_stage"], caught - state["t0"], max(0.0, wait1 - state["wait0"]),
                   list(state["stages"]))


def _label(p: Progress) -> str:
    """What a case's stage pattern is matched against: the stage, and the message after it (the
    cross-fitting events between folds name the pass in their message)."""
    return f"{p.stage} | {p.message}"


def assert_within_goal(latency: Latency) -> None:
    assert latency.seconds <= GOAL_S, f"stopped {latency} after the flag was set in {latency.stage!r}"


# --- data ---------------------------------------------------------------------------------------------


def blobs(n: int, m: int, d: int = 10, classes: int = 3, seed: int = 0, spread: float = 3.0) -> Problem:
    """``n`` valued and ``m`` target rows of ``classes`` Gaussian blobs in ``d`` dimensions, 10 % flips;
    ``spread`` scales the centres (small: overlapping classes that a net keeps learning for a while)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, spread, (classes, d))
    y, yt = np.arange(n) % classes, np.arange(m) % classes
    x = centers[y] + rng.normal(0, 1, (n, d))
    xt = centers[yt] + rng.normal(0, 1, (m, d))
    flip = rng.random(n) < 0.1
    return Problem.from_arrays(x, np.where(flip, (y + 1) % classes, y), xt, yt)


@functools.cache
def mnist() -> Dataset:
    """The bundled 5,000 MNIST images (a CNN epoch over them takes seconds); loaded once."""
    return load_sample("mnist")


def table(n: int, d: int = 10, classes: int = 3, seed: int = 0, spread: float = 3.0):
    """A table dataset of ``n`` rows (no reference chosen yet)."""
    p = blobs(n, 2, d, classes, seed, spread)
    frame = pd.DataFrame(np.asarray(p.x), columns=[f"f{i}" for i in range(d)]).assign(label=p.y)
    return load_frame(frame, "label", name="blobs")


def fit(method: str, problem: Problem, params: dict | None = None):
    """A run of ``method`` on ``problem`` as :func:`cancel_latency` calls it."""
    return lambda progress, cancel: get_valuator(method, params, seed=0).fit(problem, progress=progress,
                                                                           cancel=cancel)


def valuation(dataset_fn: Callable[[], Any], method: str, params: dict | None = None, embedding: str | None = None):
    """A whole :func:`run_valuation` (embedding, cross-fitting) on the dataset ``dataset_fn`` builds."""
    def run(progress, cancel):
        return run_valuation(dataset_fn(), method, params=params, embedding=embedding, seed=0, progress=progress,
                             cancel=cancel)
    return run


@dataclass(frozen=True)
class Case:
    """One stage of one method: how to run it and the regular expression naming the stage."""

    method: str
    stage: str
    run: Callable[[], Callable]  # built lazily: collecting the tests makes no data
    delay_s: float = DELAY_S
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.method}: {self.stage}" + (f" ({self.note})" if self.note else "")


# Sizes: each stage lasts well over 2 s uncancelled here (see test_each_stage_outlasts_the_goal, slow);
# what comes before the stage is kept short, so the whole file stays well under a minute.
CASES = [
    # nothing to interrupt: one draw; the flag set at its only event still cancels the run
    Case("random", "random values", lambda: fit("random", blobs(1000, 10)), delay_s=0.0),
    Case("knn_shapley", "^KNN-Shapley over target points", lambda: fit("knn_shapley", blobs(20000, 3000))),
    Case("data_oob", "^bagging", lambda: fit("data_oob", blobs(8000, 10))),
    Case("data_oob", "^bagging", lambda: fit("data_oob", blobs(8000, 10), {"n_jobs": 1}), note="one worker"),
    Case("self_confidence", "^cross-validated model", lambda: fit("self_confidence", blobs(60000, 10))),
    Case("lossval", "^target OT",
         lambda: fit("lossval", blobs(200, 40000), {"target_batch_size": 2048, "epochs": 1})),
    Case("lossval", "^train weights and model", lambda: fit("lossval", blobs(20000, 300), {"epochs": 6})),
    Case("dvgs", "^train on target", lambda: fit("dvgs", blobs(300000, 3000), {"epochs": 1})),
    Case("dvemb", "^setup", lambda: fit("dvemb", blobs(5000, 300), {"epochs": 1}), delay_s=0.0),
    Case("dvemb", "^train", lambda: fit("dvemb", blobs(60000, 300), {"epochs": 3})),
    Case("dvemb", "^embed", lambda: fit("dvemb", blobs(15000, 300, d=20),
                                        {"epochs": 1, "grad_params": "all", "hidden": "64", "proj_dim": 1024})),
    Case("lava", "^label cost", lambda: fit("lava", blobs(500, 10000, classes=10))),
    # the cancelled solve itself runs on in its helper thread until POT returns (see _ot.run_checked)
    Case("lava", "^OT solve", lambda: fit("lava", blobs(5000, 3500), {"label_samples": 50})),
    Case("sava", "^label cost", lambda: fit("sava", blobs(500, 10000, classes=10))),
    Case("sava", "^batch pairs", lambda: fit("sava", blobs(8000, 4000), {"label_samples": 50, "parallel": "threads"}),
         note="threads"),
    pytest.param(Case("sava", "^batch pairs", lambda: fit("sava", blobs(8000, 4000), {"label_samples": 50,
                                                                                    "parallel": "processes"}),
                      note="processes"),
                 marks=pytest.mark.slow),  # spawned worker processes: seconds to start (make test-slow runs it)
    Case("consensus", "^consensus: embedding",
         lambda: valuation(lambda: split_target(mnist(), 0.3), "consensus", {"members": "knn_shapley@learned"})),
    Case("consensus", r"^consensus 1/1 knn_shapley@raw: ",
         lambda: fit("consensus", blobs(2000, 60000), {"members": "knn_shapley@raw", "probe_rows": 2000})),
    Case("consensus", r"^consensus probe 1/1 knn_shapley@raw: ",
         lambda: fit("consensus", blobs(2000, 60000), {"members": "knn_shapley@raw", "probe_rows": 2000})),
    # a whole run: the target_trained embedding, and every row valued by cross-fitting
    Case("embedding", "^embedding: training on the target set",
         lambda: valuation(lambda: split_target(mnist(), 0.3), "knn_shapley",
                           embedding="target_trained")),
    Case("crossfit", "^first pass, fold 1/5: embedding",
         lambda: valuation(lambda: no_reference(mnist()), "knn_shapley",
                           embedding="target_trained")),
    Case("crossfit", "first pass", lambda: valuation(lambda: no_reference(table(12000)), "knn_shapley")),
    Case("crossfit", "second pass", lambda: valuation(lambda: no_reference(table(12000)), "knn_shapley")),
]


def test_every_registered_method_has_cases():
    assert {s.name for s in list_valuators()} <= {_case(c).method for c in CASES}


def _case(c) -> Case:
    return c.values[0] if hasattr(c, "values") else c


@pytest.mark.parametrize("case", CASES, ids=[_case(c).id for c in CASES])
def test_cancel_stops_the_run_within_two_seconds(case):
    latency = cancel_latency(case.run(), case.stage, case.delay_s)
    assert_within_goal(latency)


# --- the measurement can fail -------------------------------------------------------------------------


class IgnoresTheFlag(BaseValuator):
    """A deliberately bad method: after its first event it sleeps or computes 3 s without a cancel check."""

    name = "ignores_the_flag"
    needs_reference = False
    busy = False

    def _compute(self, problem, params, rng, reporter):
        reporter.update("work", 0, 1)
        if self.busy:  # 3 s of this thread's CPU time, however loaded the machine is
            start, x = time.thread_time(), 0.0
            while time.thread_time() - start < 3.0:
                x += sum(i * i for i in range(1000))
        else:
            time.sleep(3.0)
        reporter.update("work", 1, 1)
        return Output(np.zeros(problem.n))


@pytest.mark.parametrize("busy", [False, True], ids=["sleeps", "computes"])
def test_a_valuator_that_ignores_the_flag_fails(busy):
    bad = type("Bad", (IgnoresTheFlag,), {"busy": busy})
    problem = blobs(50, 10)
    latency = cancel_latency(lambda progress, cancel: bad().fit(problem, progress=progress, cancel=cancel),
                             "^work", delay_s=0.1)
    assert latency.seconds > 2.5, latency
    with pytest.raises(AssertionError, match="stopped"):
        assert_within_goal(latency)


# --- the cases can fail: each stage lasts longer than the goal --------------------------------------------


def stage_duration(run: Callable, stage: str) -> tuple[float, float]:
    """(seconds from the first event of ``stage`` to the first event of another stage or the run's end,
    longest gap between two progress events in that span less the caller thread's run-queue wait in it),
    uncancelled; the run is stopped there."""
    flag = threading.Event()
    tid = threading.get_native_id()
    times: list[tuple[float, float]] = []  # (time, run-queue wait so far)

    def progress(p: Progress) -> None:
        if flag.is_set():
            return
        if re.search(stage, _label(p)):
            times.append((time.perf_counter(), _run_queue_wait_s(tid)))
        elif times:
            times.append((time.perf_counter(), _run_queue_wait_s(tid)))
            flag.set()

    try:
        run(progress, flag)
    except Cancelled:
        pass
    assert times, f"no event of {stage!r}"
    if not flag.is_set():
        times.append((time.perf_counter(), _run_queue_wait_s(tid)))
    gaps = [(b - a) - (wb - wa) for (a, wa), (b, wb) in zip(times, times[1:])]
    return times[-1][0] - times[0][0], max(gaps)


@pytest.mark.slow
@pytest.mark.parametrize("case", [_case(c) for c in CASES if _case(c).delay_s > 0],
                         ids=[_case(c).id for c in CASES if _case(c).delay_s > 0])
def test_each_stage_outlasts_the_goal(case):
    """Uncancelled, each stage the contract interrupts runs clearly longer than 2 s (else it tests nothing),
    and reports progress at least every 2 s while it runs."""
    duration, longest_gap = stage_duration(case.run(), case.stage)
    assert duration > GOAL_S + 0.5
    assert longest_gap <= GOAL_S, f"no progress event for {longest_gap:.2f} s in {case.stage!r}"
