"""One backend contract over the registry: every method gives the local values on Ray, and a method
that declares ``uses_backend`` hands its tasks to the backend it was given (consensus through its members).

The backends here are the real ones with a call log (:class:`Counting`): the work still runs on
local threads or Ray tasks. One local Ray (conftest's ``local_ray``) serves the whole module.
"""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import make_blobs_problem

from dataval_core import get_valuator, list_valuators
from dataval_core.backend import Backend, LocalBackend, RayBackend, RowSource, Work, get_backend
from dataval_core.io import load_frame
from dataval_core.registry import get_spec
from dataval_core.rows import WorkerRows
from dataval_core.runner import run_valuation
from dataval_core.targets import no_reference

pytest.importorskip("ray")

#: smaller-than-default settings where the default is slow (as in test_contract.py)
FAST = {"data_oob": {"n_estimators": 40}}
METHODS = [s.name for s in list_valuators()]
#: the task function of each method that fans out (what its backend.map runs)
TASK_FN = {"knn_shapley": "chunk_values", "data_oob": "fit_bags", "sava": "_solve_group"}


class Counting:
    """A real backend that logs each ``map`` call as (task function's name, number of tasks)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    def map(self, fn, tasks, *args, **kwargs):
        tasks = list(tasks)
        self.calls.append((fn.__name__, len(tasks)))
        return super().map(fn, tasks, *args, **kwargs)  # type: ignore[misc]

    def fns(self) -> set[str]:
        return {name for name, _ in self.calls}


class CountingLocal(Counting, LocalBackend):
    pass


class CountingRay(Counting, RayBackend):
    pass


def assert_same_result(remote, local):
    np.testing.assert_allclose(remote.values, local.values, rtol=0, atol=1e-9)
    if local.suggested_labels is None:
        assert remote.suggested_labels is None
    else:
        assert list(remote.suggested_labels) == list(local.suggested_labels)
    assert remote.status == local.status


@pytest.mark.parametrize("name", METHODS)
def test_ray_gives_the_local_values_and_gets_the_tasks(local_ray, blobs, name):
    problem, _ = blobs
    local, ray = CountingLocal(), CountingRay()
    a = get_valuator(name, FAST.get(name), seed=3, backend=local).fit(problem)
    b = get_valuator(name, FAST.get(name), seed=3, backend=ray).fit(problem)
    assert_same_result(b, a)
    if get_spec(name).load().uses_backend:
        assert ray.calls and local.calls, f"{name} declares uses_backend but never called its backend"
        expected = {TASK_FN[name]} if name in TASK_FN else set(TASK_FN.values())  # consensus: every member's
        assert expected <= ray.fns() and expected <= local.fns()
    else:
        assert ray.calls == [] and local.calls == [], f"{name} calls the backend: declare uses_backend = True"


def test_consensus_members_run_on_its_backend(local_ray, blobs):
    """Each member fit (and each probe fit) of the default portfolio reaches the backend: 2 knn_shapley,
    1 data_oob and 1 sava member, each run on the data and on the probe copy."""
    problem, _ = blobs
    ray = CountingRay()
    result = get_valuator("consensus", seed=0, backend=ray).fit(problem)
    counts = {fn: sum(1 for name, _ in ray.calls if name == fn) for fn in TASK_FN.values()}
    assert counts["chunk_values"] == 4 and counts["fit_bags"] == 2 and counts["_solve_group"] >= 2
    members = [k[len("value:"):] for k in result.extras if k.startswith("value:")]
    assert {f"member:{m}" for m in members} | {f"probe:{m}" for m in members} <= set(result.timings)


@pytest.fixture(scope="module")
def every_row():
    """The blobs as a table with no reference: every row valued by cross-fitting."""
    problem, _ = make_blobs_problem()
    frame = pd.DataFrame(np.asarray(problem.x), columns=[f"f{i}" for i in range(problem.x.shape[1])])
    frame["label"] = [f"c{c}" for c in np.asarray(problem.y)]
    return no_reference(load_frame(frame, "label"))


@pytest.mark.parametrize("name", ["knn_shapley", "consensus"])
def test_cross_fitted_runs_give_the_local_values_on_ray(local_ray, every_row, name):
    local, ray = CountingLocal(), CountingRay()
    a = run_valuation(every_row, name, seed=2, backend=local)
    b = run_valuation(every_row, name, seed=2, backend=ray)
    assert list(b.ids) == list(every_row.ids)
    assert_same_result(b, a)
    np.testing.assert_array_equal(b.extras["fold"], a.extras["fold"])
    # both passes fit every fold on the backend (5 folds × 2 passes; consensus: several members each)
    assert sum(1 for fn, _ in ray.calls if fn == "chunk_values") >= 10
    assert sum(1 for fn, _ in local.calls if fn == "chunk_values") >= 10


@pytest.mark.parametrize(("method", "note"), [("dvgs", True), ("knn_shapley", False)])
def test_cli_says_when_a_method_computes_here_despite_ray(local_ray, blobs, tmp_path, capsys, method, note):
    from dataval_core.cli import main

    problem, _ = blobs
    frame = pd.DataFrame(np.asarray(problem.x), columns=[f"f{i}" for i in range(problem.x.shape[1])])
    frame["label"] = [f"c{c}" for c in np.asarray(problem.y)]
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert main(["value", str(tmp_path / "d.csv"), "--label", "label", "--target-frac", "0.3", "--method", method,
                 "--backend", "ray", "--quiet", "--out", str(tmp_path / "v.csv")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "computes on this machine" in ln]
    if note:
        assert lines == [f"dataval: {method} has no tasks to spread and computes on this machine; the cluster runs "
                         "only the pretrained image embeddings for it (methods that use the cluster: knn_shapley, "
                         "data_oob, sava, consensus)."]
    else:
        assert lines == []


class Isolated(Backend):
    """A third backend, written as one class and nothing else: each task runs in this process, one at a
    time, on pickled copies of its function, shared data and arguments (as a remote worker gets them); it
    reads its own rows (:class:`WorkerRows`) and cannot see the cancel flag (``checkpoint`` is a no-op)."""

    name = "isolated"
    title = "isolated copies"

    def __init__(self, address=None):
        super().__init__(address)
        self.calls: list[str] = []

    def describe(self) -> str:
        return "this process, one pickled task at a time"

    def describe_target(self) -> str:
        return self.describe()

    def rows(self, x):
        return WorkerRows(RowSource.of(x))

    def map(self, fn, tasks, reporter, stage, *, shared=None, units=None, ordered=False, work: Work | None = None):
        tasks = list(tasks)
        self.calls.append(fn.__name__)
        units = units or [1] * len(tasks)
        copied = pickle.loads(pickle.dumps(shared))
        reporter.update(stage, 0, sum(units))
        for i, task in enumerate(tasks):
            reporter.check()
            f, args = pickle.loads(pickle.dumps((fn, task() if callable(task) else task)))
            yield i, f(copied, *args)
            reporter.update(stage, sum(units[:i + 1]), sum(units))


@pytest.mark.parametrize("name", METHODS)
def test_a_third_backend_in_one_class_gives_the_local_values(blobs, name):
    """No method asks which backend it has: one that only implements the Backend interface (rows read by the
    task, no cancel flag in tasks, no worker cap honoured) gets every method's local values."""
    problem, _ = blobs
    other = Isolated()
    a = get_valuator(name, FAST.get(name), seed=3, backend=LocalBackend()).fit(problem)
    b = get_valuator(name, FAST.get(name), seed=3, backend=other).fit(problem)
    assert_same_result(b, a)
    if name in TASK_FN:
        assert TASK_FN[name] in other.calls
    assert bool(other.calls) == get_spec(name).load().uses_backend


def test_backends_say_where_they_will_compute_without_connecting():
    assert get_backend("local").describe_target().startswith("this machine (")
    assert get_backend("ray", "h:1").describe_target() == "the Ray cluster at h:1"
    assert Isolated().describe_target() == "this process, one pickled task at a time"
