"""A two-node Ray cluster on this machine with one node killed mid-run: Ray reruns the lost
tasks and the run gives the values it gives on one node; without retries the run fails
with a clear message and no values."""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from dataval_core import backend as backend_mod
from dataval_core.backend import BackendError, RayBackend
from dataval_core.progress import Reporter

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


def _value(size, i):
    """A second or so of real computation, seeded by the task index."""
    rng = np.random.default_rng(i)
    return sum(float(np.sort(rng.random(size))[size // 2]) for _ in range(20))


def _work(shared, i):
    """``_value``, with start and end marks named by the node it runs on."""
    size, folder = shared
    node = ray.get_runtime_context().get_node_id()
    (folder / f"{node}-{i}.start").touch()
    value = _value(size, i)
    (folder / f"{node}-{i}.done").touch()
    return value


@pytest.fixture()
def two_nodes():
    if ray.is_initialized():
        ray.shutdown()
    # quick death detection: a killed node is declared dead in about a second
    config = {"health_check_period_ms": 200, "health_check_failure_threshold": 3, "health_check_timeout_ms": 200}
    cluster = cluster_utils.Cluster(initialize_head=True,
                                    head_node_args={"num_cpus": 1, "_system_config": config})
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _run_killing_a_node(cluster, backend, folder, n_tasks=12, size=400_000):
    """Map ``_work`` over ``n_tasks`` tasks; a watcher kills the second node while one of
    the tasks is running on it (its start mark is there, its end mark is not)."""
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    folder.mkdir()
    killed = threading.Event()

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = [f for f in folder.glob(f"{node.node_id}-*.start") if not f.with_suffix(".done").exists()]
            if running:
                cluster.remove_node(node, allow_graceful=False)
                killed.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return dict(backend.map(_work, [(i,) for i in range(n_tasks)], Reporter(), "work", shared=(size, folder)))
    finally:
        watcher.join()
        assert killed.is_set(), "no task ran on the second node"


def test_a_killed_node_is_retried_or_fails_clearly(two_nodes, monkeypatch, tmp_path):
    expected = {i: _value(400_000, i) for i in range(12)}
    # Ray's retries rerun the lost tasks on the surviving node: complete and exact
    assert _run_killing_a_node(two_nodes, RayBackend(), tmp_path / "a") == expected
    # no retries allowed: the run stops with one clear line and yields no values as complete
    monkeypatch.setattr(backend_mod, "RAY_MAX_RETRIES", 0)
    with pytest.raises(BackendError, match="Ray lost a worker in 'work'"):
        _run_killing_a_node(two_nodes, RayBackend(), tmp_path / "b")
