"""LossVal's setup and training stages: progress with done/total every ≤ 2 s, cancel within 2 s, chunked target OT."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from dataval_core import torch_models
from dataval_core.methods.lossval import joint_cost, mean_target_cost
from dataval_core.problem import Problem
from dataval_core.progress import Cancelled, as_reporter
from dataval_core.registry import get_valuator


@pytest.fixture(scope="module")
def big_problem():
    """20,000 valued rows at batch 8: 2,500 steps an epoch, several seconds, so per-epoch progress would be late."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (4, 8))
    y = rng.integers(0, 4, 22_000)
    x = (centers[y] + rng.normal(size=(22_000, 8))).astype(np.float32)
    return Problem.from_arrays(x[:20_000], y[:20_000], x[20_000:], y[20_000:])


PARAMS = {"epochs": 2, "batch_size": 8, "hidden": "16"}


def test_cancel_from_the_first_progress_event_stops_within_two_seconds(big_problem):
    flag = threading.Event()
    seen = []

    def progress(p):
        seen.append((time.monotonic(), p))
        flag.set()

    with pytest.raises(Cancelled):
        get_valuator("lossval", PARAMS, seed=0).fit(big_problem, progress=progress, cancel=flag)
    stopped = time.monotonic()
    assert len(seen) == 1
    assert stopped - seen[0][0] < 2.0


def test_progress_counts_steps_with_totals_and_comes_every_two_seconds(big_problem):
    flag = threading.Event()
    seen = []
    start = time.monotonic()

    def progress(p):
        seen.append((time.monotonic(), p))
        training = [e for _, e in seen if e.stage == "train weights and model" and 0 < e.done < e.total]
        if len(training) >= 2:
            flag.set()

    with pytest.raises(Cancelled):
        get_valuator("lossval", PARAMS, seed=0).fit(big_problem, progress=progress, cancel=flag)
    stages = [p.stage for _, p in seen]
    assert stages[0] == "target OT" and "train weights and model" in stages
    train = [p for _, p in seen if p.stage == "train weights and model"]
    assert {p.total for p in train} == {2 * 2_500}  # steps, so an ETA can be formed within the first epoch
    assert [p.done for p in train] == sorted(p.done for p in train)
    times = [start] + [t for t, _ in seen]
    assert max(np.diff(times)) <= 2.0


def test_mean_target_cost_matches_the_full_matrix():
    rng = np.random.default_rng(1)
    xt = torch.as_tensor(rng.normal(size=(50, 3)), dtype=torch.float32)
    yt = torch.as_tensor(rng.integers(0, 3, 50))
    features, labels = mean_target_cost("classification", xt, yt)
    assert features == pytest.approx(float(joint_cost("classification", 0.0)(xt, yt, xt, yt).mean()), rel=1e-5)
    full = joint_cost("classification", 1.0)(xt, yt, xt, yt).mean()
    assert features + labels == pytest.approx(float(full), rel=1e-5)
    yr = torch.as_tensor(rng.normal(size=(50, 1)), dtype=torch.float32)
    _, labels_r = mean_target_cost("regression", xt, yr)
    assert features + labels_r == pytest.approx(float(joint_cost("regression", 1.0)(xt, yr, xt, yr).mean()), rel=1e-5)


def test_whole_target_set_when_the_chunk_is_larger(big_problem):
    small = Problem.from_arrays(big_problem.x[:300], big_problem.y[:300], big_problem.x_target[:100],
                                big_problem.y_target[:100])
    a = get_valuator("lossval", {"epochs": 2, "target_batch_size": 100}, seed=1).fit(small).values
    b = get_valuator("lossval", {"epochs": 2, "target_batch_size": 5000}, seed=1).fit(small).values
    np.testing.assert_array_equal(a, b)
    c = get_valuator("lossval", {"epochs": 2, "target_batch_size": 30}, seed=1).fit(small).values
    assert not np.array_equal(a, c)


def test_torch_threads_is_per_thread_and_restored():
    caller = torch.get_num_threads()
    torch.set_num_threads(2)
    inside = []
    entered, release = threading.Event(), threading.Event()

    def job():
        with torch_models.torch_threads(1):
            inside.append(torch.get_num_threads())
            entered.set()
            release.wait(5)
        inside.append(torch.get_num_threads())

    try:
        worker = threading.Thread(target=job)
        worker.start()
        assert entered.wait(5)
        assert torch.get_num_threads() == 2  # the job thread's setting does not leak into this thread
        release.set()
        worker.join()
        assert inside[0] == 1 and inside[1] == 2
        with torch_models.torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(caller)


@pytest.mark.parametrize("method", ["lossval", "dvgs", "dvemb"])
def test_training_methods_run_on_one_thread_and_restore_the_callers(method, big_problem):
    small = Problem.from_arrays(big_problem.x[:200], big_problem.y[:200], big_problem.x_target[:60],
                                big_problem.y_target[:60])
    caller = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []
    try:
        get_valuator(method, {"epochs": 1, "hidden": "8"}, seed=0).fit(
            small, progress=lambda p: seen.append(torch.get_num_threads()))
        assert seen and set(seen) == {torch_models.SMALL_MODEL_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(caller)


def test_learned_embeddings_train_on_one_thread_and_restore_the_callers(big_problem):
    """target_trained, cross_fitted and consensus's learned space train through train_embedder."""
    from dataval_core.embeddings import learned

    x = np.concatenate([big_problem.x[:200], big_problem.x_target[:60]])
    y = np.concatenate([big_problem.y[:200], big_problem.y_target[:60]])
    caller = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []
    try:
        learned.target_trained_model(x, y, np.arange(200, 260), image_shape=None, task="classification",
                                     n_classes=big_problem.n_classes, seed=0,
                                     reporter=as_reporter(lambda p: seen.append(torch.get_num_threads())))
        assert seen and set(seen) == {torch_models.SMALL_MODEL_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(caller)
