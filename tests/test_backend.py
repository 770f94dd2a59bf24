"""The compute backends: Ray gives the local values; progress, cancel and task errors behave the same.

One local Ray (``num_cpus=2``, conftest's ``local_ray``) serves the whole module; it is shut down at the end.
"""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from conftest import make_blobs_problem

from dataval_core import Problem
from dataval_core.backend import (
    BackendError,
    LocalBackend,
    RayBackend,
    RowSource,
    Work,
    get_backend,
)
from dataval_core.methods import knn_shapley
from dataval_core.progress import Cancelled, Reporter
from dataval_core.registry import get_valuator

ray = pytest.importorskip("ray")


def test_an_unreachable_cluster_fails_fast_with_one_line():
    if ray.is_initialized():
        pytest.skip("needs a process without a Ray connection")
    start = time.monotonic()
    with pytest.raises(BackendError, match="no Ray cluster answers at 127.0.0.1:1"):
        RayBackend("127.0.0.1:1").connect()
    assert time.monotonic() - start < 10


@pytest.fixture(scope="module")
def medium():
    return make_blobs_problem(n_valued=300, n_target=100, flip_rate=0.1, seed=5)[0]


@pytest.mark.parametrize(("name", "params"), [("sava", {"batch_size": 64}), ("knn_shapley", {}),
                                              ("data_oob", {"n_estimators": 30})])
def test_ray_gives_the_local_values(local_ray, medium, name, params):
    local = get_valuator(name, params, seed=3).fit(medium)
    remote = get_valuator(name, params, seed=3, backend=local_ray).fit(medium)
    np.testing.assert_allclose(remote.values, local.values, rtol=0, atol=1e-9)
    assert list(remote.suggested_labels) == list(local.suggested_labels)
    assert remote.status == local.status


def test_ray_workers_read_sava_batches_from_the_shared_file(local_ray, medium, tmp_path):
    np.save(tmp_path / "x.npy", medium.x)
    mapped = dataclasses.replace(medium, x=np.load(tmp_path / "x.npy", mmap_mode="r"))
    source = RowSource.of(mapped.x)
    assert source.array is None and source.path == str(tmp_path / "x.npy")  # rows travel by path, not by value
    local = get_valuator("sava", {"batch_size": 64}, seed=1).fit(medium)
    remote = get_valuator("sava", {"batch_size": 64}, seed=1, backend=local_ray).fit(mapped)
    np.testing.assert_allclose(remote.values, local.values, rtol=0, atol=1e-9)


def test_knn_chunks_on_ray_count_as_progress(local_ray, medium, monkeypatch):
    monkeypatch.setattr(knn_shapley, "CHUNK_CELLS", medium.n * 10)  # ten target points a task
    events = []
    get_valuator("knn_shapley", backend=local_ray).fit(medium, progress=events.append)
    done = [p.done for p in events if p.stage.startswith("KNN")]
    assert done == sorted(done) and done[-1] == len(medium.x_target) and len(done) == 11  # 0, then each task


def _square(shared, i):
    return shared * i * i


def _fail_on_three(shared, i):
    if i == 3:
        raise ValueError("task three is bad")
    return i


def _slow(shared, i):
    """Works ``seconds``, then leaves a mark in ``folder``."""
    folder, seconds = shared
    time.sleep(seconds)
    (folder / str(i)).touch()
    return i


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_cancel_stops_the_outstanding_tasks_within_two_seconds(local_ray, backend, tmp_path):
    be = local_ray if backend == "ray" else LocalBackend()
    flag = threading.Event()
    asked = []

    def progress(p):
        if p.done >= 1 and not flag.is_set():
            asked.append(time.monotonic())
            flag.set()

    with pytest.raises(Cancelled):
        list(be.map(_slow, [(i,) for i in range(40)], Reporter(progress, flag), "slow", shared=(tmp_path, 0.5),
                    work=Work(max_workers=2)))
    assert time.monotonic() - asked[0] < 2
    if backend == "ray":
        # 6 tasks were in flight (2 CPUs); once the cluster is idle again, the cancelled ones
        # have not finished: the one that triggered the cancel, its twin, and under load at most one
        # task per CPU that started before the cancel reached it
        deadline = time.monotonic() + 30
        while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ray.available_resources().get("CPU", 0) == 2
        assert len(list(tmp_path.iterdir())) <= 4  # fewer than the 6 in flight, and far from all 40


def test_pretrained_image_features_fan_out_to_ray_in_file_order(local_ray, monkeypatch):
    """Chunks of image files run as Ray tasks (each worker reads its own files and loads the network
    once); the features equal the local ones exactly, in file order, and progress counts images."""
    from dataval_core.embeddings import embed, extract, pretrained
    from dataval_core.samples import load_sample
    from dataval_core.targets import split_target

    if not pretrained.available():
        pytest.skip("the optional 'pretrained' extra is not installed")
    monkeypatch.setattr(extract, "CHUNK", 4)  # three chunks of files, so the order matters
    ds = load_sample("mnist")
    keep = np.concatenate([np.flatnonzero(ds.labels == c)[:5] for c in range(2)])
    small = split_target(ds.replace(**{f: getattr(ds, f)[keep] for f in ("ids", "labels", "is_target")}), 0.3,
                         seed=0)
    local, _ = embed(small, pretrained.NAME)
    events = []
    remote, _ = embed(small, pretrained.NAME, backend=local_ray, progress=events.append)
    np.testing.assert_array_equal(remote, local)
    done = [e.done for e in events if e.stage.startswith("embedding") and e.total == len(small)]
    assert done[-1] == len(small) and done == sorted(done) and len(done) == 4  # 0, then three chunks
    single = [extract._chunk_features(pretrained._batch_features, small.image_paths()[i:i + 1]) for i in (0, 7)]
    np.testing.assert_allclose(np.vstack(single), local[[0, 7]], rtol=1e-4, atol=1e-5)  # no row depends on its batch


def test_get_backend_names():
    assert isinstance(get_backend(None), LocalBackend) and isinstance(get_backend("ray", "h:1"), RayBackend)
    assert get_backend("ray", "h:1").address == "h:1"
    with pytest.raises(ValueError, match="Unknown backend 'dask'"):
        get_backend("dask")


def test_ray_address_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATAVAL_RAY_ADDRESS", "10.1.2.3:6379")
    assert RayBackend().address == "10.1.2.3:6379"
    assert RayBackend("other:1").address == "other:1"


def test_cli_backend_ray_matches_local(local_ray, tmp_path):
    """`dataval value ... --backend ray` joins the running Ray and writes the local values."""
    import pandas as pd

    from dataval_core.cli import main

    rng = np.random.default_rng(0)
    problem, _ = make_blobs_problem(n_valued=150, n_target=50, seed=2)
    frame = pd.DataFrame(np.vstack([problem.x, problem.x_target]), columns=[f"f{i}" for i in range(5)])
    frame["label"] = np.concatenate([problem.y, problem.y_target])
    frame["trusted"] = np.arange(len(frame)) >= problem.n
    frame = frame.iloc[rng.permutation(len(frame))]
    frame.to_csv(tmp_path / "d.csv", index=False)
    common = ["value", str(tmp_path / "d.csv"), "--label", "label", "--target-col", "trusted", "--method",
              "knn_shapley", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "local.csv")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray.csv"), "--backend", "ray"]) == 0
    local, remote = pd.read_csv(tmp_path / "local.csv"), pd.read_csv(tmp_path / "ray.csv")
    np.testing.assert_allclose(remote["value"], local["value"], rtol=0, atol=1e-9)


def test_problem_without_memmap_ships_its_array():
    problem = Problem.from_arrays(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1])
    assert RowSource.of(problem.x).array is not None


def test_valuate_page_runs_on_ray_says_where_and_gets_the_local_values(local_ray, tmp_path, monkeypatch):
    from ui import state

    from test_app import new_app, seeded_session

    workspace_dir = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(workspace_dir))
    sid, key, local_run = seeded_session(workspace_dir, tmp_path)  # knn_shapley, seed 0, on this machine
    at = new_app(sid)
    at.switch_page("app_pages/2_valuate.py").run()
    assert any("this machine" in c.value for c in at.caption)
    at.radio(key="val_backend").set_value("Ray cluster").run()
    assert any("Ray cluster running on this machine" in c.value for c in at.caption)
    at.multiselect(key="val_methods").set_value(["knn_shapley"]).run()
    at.button(key="val_run").click().run()
    assert not at.exception and not at.error
    ws, jobs = state._workspace(str(workspace_dir.resolve())), state._jobs(str(workspace_dir.resolve()))
    (ray_run,) = [r for r in ws.list_runs(key) if r.run_id != local_run]
    assert jobs.wait(ray_run.run_id, timeout=60).status == "done"
    np.testing.assert_allclose(ws.load_result(ray_run.run_id).values, ws.load_result(local_run).values,
                               rtol=0, atol=1e-9)
