"""One overall progress fraction across a run's stages, and a steady ETA (issue 18, deliverable 4)."""
from __future__ import annotations

import numpy as np
import pytest

from dataval_core.embeddings import extract
from dataval_core.jobs import CACHED_EMBEDDING_SHARE, run_plan
from dataval_core.progress import CHILD_SHARE, EtaSmoother, Progress, Reporter, RunState
from dataval_core.workspace.runs import RunRecord


def _overall(events: list[Progress]) -> list[float]:
    return [e.overall for e in events if e.overall is not None]


def _nondecreasing(xs: list[float]) -> bool:
    return all(b >= a - 1e-12 for a, b in zip(xs, xs[1:]))


def test_overall_never_falls_back_between_stages_and_phases():
    events: list[Progress] = []
    root = Reporter(events.append)
    embed = root.within(0.0, 0.35)
    for i in range(0, 201, 25):
        embed.update("embedding (pretrained)", i, 200)
    after_embedding = events[-1].overall
    method = root.within(0.35, 1.0)
    method.update("label cost", 0, 3)
    for i in range(1, 4):
        method.update("OT solve", i, 3)
    method.update("suggested labels", 1, 1)
    xs = _overall(events)
    assert _nondecreasing(xs)
    # the embedding filled its own share, and the method's first stage started there, not at 0
    assert after_embedding == pytest.approx(0.35 * 0.8) and events[-6].overall >= after_embedding
    assert 0.35 < xs[-1] <= 1.0
    # every stage moved the bar: the embedding's progress is visible while it runs
    assert len(set(xs[:9])) == 9


def test_sub_tasks_fill_their_parent_units_in_order():
    """Consensus-like: members (sub-tasks) run, then the parent counts them; each member covers its sixth."""
    events: list[Progress] = []
    root = Reporter(events.append)
    ends = []
    for k in range(6):
        member = root.scaled(f"member {k}: ")
        member.update("label cost", 0, 1)
        for i in range(1, 5):
            member.update("OT solve", i, 4)
        root.update("members, then the probe", k + 1, 6)
        ends.append(root.overall)
    xs = _overall(events)
    assert _nondecreasing(xs)
    assert ends[0] < 0.3  # six units: the first member does not fill the bar (a flat stage list would)
    assert CHILD_SHARE * 0.5 < ends[0]
    # each later member's own events move the bar within its unit, and the parent ends where it counted
    assert all(b - a > 0.05 for a, b in zip(ends, ends[1:]))
    assert ends[-1] == pytest.approx(0.8)
    assert events[-1].stage == "members, then the probe" and events[-2].stage.startswith("member 5: ")


def test_a_real_run_reports_one_nondecreasing_overall(tmp_path):
    from dataval_core.runner import run_valuation
    from tests.test_jobs import _blobs_dataset

    events: list[Progress] = []
    run_valuation(_blobs_dataset(), "knn_shapley", embedding="pca:2", params={"k": 3}, progress=events.append,
                  cache_dir=tmp_path)
    xs = _overall(events)
    assert len(xs) == len(events) >= 2 and _nondecreasing(xs) and xs[-1] > 0.5
    stages = [e.stage for e in events]
    assert len(set(stages)) >= 2  # more than one stage, and the bar never went back across them


def test_eta_does_not_jump_with_the_readings():
    """The readings from the issue (22 -> 38 -> 90 -> 23 s, one a second): the shown ETA moves a little."""
    eta = EtaSmoother(tau_s=8.0)
    shown = []
    for t, reading in enumerate([22.0, 38.0, 90.0, 23.0]):
        elapsed = 10.0 + t
        fraction = elapsed / (elapsed + reading)  # the fraction whose pace gives this reading
        shown.append(eta.update(100.0 + t, elapsed, fraction))
    assert shown[0] == pytest.approx(22.0)
    assert all(abs(b - a) < 10.0 for a, b in zip(shown, shown[1:])), shown


def test_eta_converges_to_the_time_left_and_does_not_depend_on_polling():
    def run(step: float) -> float | None:
        eta, value, t = EtaSmoother(tau_s=8.0), None, 0.0
        while t < 60.0:
            t += step
            # a 100 s run whose first 5 s report at half pace (e.g. loading the network)
            fraction = t / 200.0 if t < 5 else (2.5 + (t - 5)) / 97.5
            value = eta.update(t, t, fraction)
        return value

    fast, slow = run(0.1), run(1.0)
    truth = 100.0 - 60.0  # the run ends at t = 100
    assert fast is not None and slow is not None
    assert abs(fast - truth) < 0.1 * truth and abs(slow - fast) < 0.05 * truth


def test_eta_before_any_progress_uses_the_expected_duration():
    assert EtaSmoother().update(1.0, 0.5, 0.0) is None
    eta = EtaSmoother(expected_s=30.0)
    assert eta.update(1.0, 2.0, 0.0) == pytest.approx(28.0)
    assert eta.update(1.0, 2.0, 1.0) == pytest.approx(28.0)  # no time passed, so no weight yet
    assert eta.update(60.0, 61.0, 1.0) == pytest.approx(0.0)


def test_small_image_sets_are_read_in_several_chunks():
    assert extract.chunk_size(200) == 32 and -(-200 // extract.chunk_size(200)) >= 7  # 0/200 moved in 7 steps
    assert extract.chunk_size(10) == extract.BATCH
    assert extract.chunk_size(100_000) == extract.CHUNK
    assert all(extract.chunk_size(n) % extract.BATCH == 0 for n in (1, 33, 500, 2047, 5000))


def _run(method: str, embedding: str, status: RunState, method_s: float) -> RunRecord:
    return RunRecord(run_id=f"r{method}{embedding}", dataset_key="k", method=method, embedding=embedding, params={},
                     seed=0, status=status, error=None, timings={"method": method_s, "embedding": 9.0}, created=0.0,
                     finished=1.0)


def test_run_plan_reads_the_earlier_runs():
    history = [_run("lava", "pretrained", RunState.DONE, 12.0), _run("sava", "raw", RunState.FAILED, 3.0),
               _run("lava", "pretrained", RunState.DONE, 14.0)]
    assert run_plan(history, "lava", "pretrained") == (CACHED_EMBEDDING_SHARE, 14.0)
    assert run_plan(history, "knn_shapley", "pretrained") == (CACHED_EMBEDDING_SHARE, None)  # features cached
    assert run_plan(history, "sava", "raw") == (None, None)  # a failed run counts for nothing
    assert run_plan([], "lava", None) == (None, None)


def test_job_snapshot_fraction_is_the_overall_one(tmp_path):
    import threading

    from dataval_core.jobs import JobManager
    from dataval_core.workspace import Workspace

    jobs = JobManager(Workspace(tmp_path / "ws"), max_workers=1)
    release, seen = threading.Event(), []

    def task(progress, cancel):
        reporter = Reporter(progress, cancel)
        for stage in ("first", "second"):
            for i in range(1, 4):
                reporter.update(stage, i, 3)
                seen.append(jobs.snapshot("t").fraction)
        release.wait(5)

    jobs.submit_task("t", task)
    try:
        for _ in range(500):
            if len(seen) == 6:
                break
            threading.Event().wait(0.01)
        assert len(seen) == 6 and _nondecreasing(seen) and seen[3] > seen[2] > 0
        snap = jobs.snapshot("t")
        assert snap.stage == "second" and snap.stage_fraction == 1.0 and snap.fraction < 1.0
    finally:
        release.set()
        jobs.shutdown()
    assert np.isclose(jobs.snapshot("t").fraction, 1.0)
