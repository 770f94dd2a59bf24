"""LAVA and SAVA: duals against an independent LP solve, SAVA = LAVA on one batch pair,
determinism under threads, memory refusal, missing classes, suggested labels, memmap input
and the merged tail batch."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import make_blobs_problem
from scipy.optimize import linprog

from dataval_core import Problem, get_valuator
from dataval_core.methods import _ot
from dataval_core.methods.sava import (
    batch_bounds,
    outer_plan,
    release_pages,
    stratified_batches,
    use_processes,
)


def fit(name, problem, seed=0, **params):
    return get_valuator(name, params, seed=seed).fit(problem)


def _sqdist(xa, xb):
    return ((np.asarray(xa, float)[:, None, :] - np.asarray(xb, float)[None, :, :]) ** 2).sum(-1)


def _lp_primal_cost(cost):
    """OT cost between uniform measures by scipy's LP solver (primal)."""
    n, m = cost.shape
    a_eq = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    b_eq = np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    res = linprog(cost.ravel(), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun


def _lp_duals(cost):
    """Dual potentials (f, g) by scipy's LP solver on the dual LP.

    max <a, f> + <b, g>  s.t.  f_i + g_j <= C_ij.  Unique up to a constant when the
    problem is non-degenerate (n and m coprime with uniform weights).
    """
    n, m = cost.shape
    c = -np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    rows = np.arange(n * m)
    a_ub = np.zeros((n * m, n + m))
    a_ub[rows, rows // m] = 1.0
    a_ub[rows, n + rows % m] = 1.0
    res = linprog(c, A_ub=a_ub, b_ub=cost.ravel(), bounds=(None, None), method="highs")
    assert res.status == 0
    return res.x[:n], res.x[n:]


def _coprime_problem(seed=0):
    """7 valued rows (2 classes) and 5 target rows: uniform weights 1/7, 1/5 make the OT
    problem non-degenerate, so the duals are unique up to the additive constant."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    yt = np.array([0, 0, 1, 1, 1])
    centers = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, -1.0]])
    x = centers[y] + rng.normal(0, 0.7, (7, 3))
    xt = centers[yt] + rng.normal(0, 0.7, (5, 3))
    return Problem.from_arrays(x, y, xt, yt)


def _independent_cost(problem, label_weight=0.5):
    """The label-augmented cost rebuilt from scratch: W by LP between target classes."""
    x, xt = problem.x.astype(float), problem.x_target.astype(float)
    w = np.zeros((problem.n_classes, problem.n_classes))
    for c in range(problem.n_classes):
        for c2 in range(problem.n_classes):
            if c != c2:
                w[c, c2] = _lp_primal_cost(_sqdist(xt[problem.y_target == c], xt[problem.y_target == c2]))
    return _sqdist(x, xt) + label_weight * w[problem.y[:, None], problem.y_target[None, :]], w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lava_duals_and_values_match_an_lp_solve(seed):
    problem = _coprime_problem(seed)
    cost, w = _independent_cost(problem)
    w_engine = _ot.label_cost(problem.x, problem.y, problem.x_target, problem.y_target, problem.classes,
                              per_class=1000, rng=np.random.default_rng(0))
    np.testing.assert_allclose(w_engine, w, rtol=1e-5, atol=1e-6)

    result = fit("lava", problem)
    f_lp, g_lp = _lp_duals(cost)
    f = result.extras["potential"]
    # potentials agree after removing the additive constant
    np.testing.assert_allclose(f - f.mean(), f_lp - f_lp.mean(), rtol=1e-4, atol=1e-4)
    # value = -(f_i - mean of the other f_j)
    n = len(f_lp)
    cg = np.array([f_lp[i] - np.delete(f_lp, i).mean() for i in range(n)])
    np.testing.assert_allclose(result.extras["calibrated_gradient"], cg, rtol=1e-4, atol=1e-4)
    # relabel gain: row i's c-transform under its own label minus under its cheapest label
    d = _sqdist(problem.x, problem.x_target)
    yt = problem.y_target
    ct = np.array([[min(d[i, j] + 0.5 * w[c, yt[j]] - g_lp[j] for j in range(len(yt))) for c in range(2)]
                   for i in range(n)])
    gain = ct[np.arange(n), problem.y] - ct.min(1)
    gain -= np.array([np.median(gain[problem.y == c]) for c in problem.y])
    np.testing.assert_allclose(result.extras["relabel_gain"], gain, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(result.values, -(cg + gain), rtol=1e-4, atol=1e-4)
    plain = fit("lava", problem, relabel_weight=0.0)
    np.testing.assert_allclose(plain.values, -cg, rtol=1e-4, atol=1e-4)


def test_calibrated_gradient_ignores_the_constant():
    f = np.random.default_rng(0).normal(size=9)
    cg = _ot.calibrated_gradient(f)
    np.testing.assert_allclose(cg, [f[i] - np.delete(f, i).mean() for i in range(9)])
    np.testing.assert_allclose(_ot.calibrated_gradient(f + 3.7), cg)


def test_exact_duals_satisfy_the_lp_conditions():
    rng = np.random.default_rng(3)
    cost = rng.uniform(size=(11, 6))
    duals = _ot.solve_duals(cost, "exact")
    np.testing.assert_allclose(duals.plan.sum(1), 1 / 11)
    np.testing.assert_allclose(duals.plan.sum(0), 1 / 6)
    assert (duals.f[:, None] + duals.g[None, :] <= cost + 1e-9).all()  # dual feasible
    assert duals.cost == pytest.approx(duals.f.mean() + duals.g.mean(), abs=1e-9)  # strong duality
    assert duals.cost == pytest.approx(_lp_primal_cost(cost), abs=1e-9)


def test_sinkhorn_duals_are_close_to_exact_ones():
    problem = _coprime_problem(0)
    exact = fit("lava", problem).values
    entropic = fit("lava", problem, solver="sinkhorn", reg=0.01).values
    assert np.corrcoef(exact, entropic)[0, 1] > 0.95


def test_sava_with_one_batch_pair_equals_lava(blobs):
    blobs, _ = blobs
    assert blobs.n <= 128 and len(blobs.x_target) <= 128
    lava = fit("lava", blobs, seed=3)
    sava = fit("sava", blobs, seed=3, batch_size=128)
    np.testing.assert_allclose(sava.values, lava.values, rtol=1e-5, atol=1e-6)
    assert list(sava.suggested_labels) == list(lava.suggested_labels)


@pytest.fixture(scope="module")
def medium():
    return make_blobs_problem(n_valued=300, n_target=100, n_classes=4, d=6, seed=5)


def test_sava_is_deterministic_with_several_batches_and_workers(medium):
    problem, _ = medium
    a = fit("sava", problem, seed=7, batch_size=64, n_jobs=2, parallel="threads")
    b = fit("sava", problem, seed=7, batch_size=64, n_jobs=2, parallel="threads")
    np.testing.assert_array_equal(a.values, b.values)
    assert list(a.suggested_labels) == list(b.suggested_labels)
    serial = fit("sava", problem, seed=7, batch_size=64, n_jobs=1)
    np.testing.assert_allclose(serial.values, a.values, rtol=1e-6, atol=1e-9)
    other = fit("sava", problem, seed=8, batch_size=64, n_jobs=2)
    assert not np.array_equal(other.values, a.values)  # the seed drives the batch partition


def test_sava_worker_processes_give_the_thread_result(medium):
    """Spawned worker processes (the path large problems take) change nothing."""
    problem, _ = medium
    threads = fit("sava", problem, seed=7, batch_size=64, n_jobs=2, parallel="threads")
    procs = fit("sava", problem, seed=7, batch_size=64, n_jobs=2, parallel="processes")
    np.testing.assert_array_equal(procs.values, threads.values)
    assert list(procs.suggested_labels) == list(threads.suggested_labels)
    assert use_processes("auto", 100_000, 5_000) and not use_processes("auto", 300, 100)
    assert use_processes("processes", 300, 100) and not use_processes("threads", 100_000, 5_000)


def test_sava_with_several_batches_tracks_lava_and_finds_flips(medium):
    problem, noisy = medium
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    lava = fit("lava", problem).values
    sava = fit("sava", problem, batch_size=128, n_jobs=2).values
    # 2 batches of 150 rows are far from LAVA's 300 x 100 problem; benchmarks/fidelity_sava.py
    # measures the agreement at the default batch size (Spearman ~0.9)
    assert spearmanr(lava, sava).statistic > 0.5
    assert roc_auc_score(noisy, -lava) > 0.95
    assert roc_auc_score(noisy, -sava) > 0.85


def test_batches_are_class_stratified_and_even():
    y = np.repeat([0, 1, 2], [50, 30, 21])
    batches = stratified_batches(y, 4, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(101))
    assert all((np.diff(b) > 0).all() for b in batches)  # file order inside a batch
    assert {len(b) for b in batches} <= {25, 26}
    for c, count in [(0, 50), (1, 30), (2, 21)]:
        assert {int((y[b] == c).sum()) for b in batches} <= {count // 4, count // 4 + 1}


def test_outer_plan_spreads_over_near_equal_batches():
    pair_cost = np.array([[10.0, 10.05], [10.02, 10.0], [10.0, 10.01]])
    entropic = outer_plan(pair_cost, 0.01).plan
    np.testing.assert_allclose(entropic.sum(1), 1 / 3, atol=1e-8)
    np.testing.assert_allclose(entropic.sum(0), 1 / 2, atol=1e-8)
    assert (entropic > 0.05).all()
    exact = outer_plan(pair_cost, 0.0).plan
    assert (exact == 0).sum() >= 1  # a vertex of the transport polytope


def test_lava_refuses_a_problem_too_big_and_suggests_sava(blobs):
    blobs, _ = blobs
    with pytest.raises(ValueError, match=r"lava needs about .* GB .*Use sava") as info:
        fit("lava", blobs, max_memory_gb=1e-6)
    assert "90 valued x 45 target rows" in str(info.value)


@pytest.mark.parametrize("name", ["lava", "sava"])
def test_valued_class_missing_from_target_is_named(name):
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(12, 3)), rng.normal(size=(6, 3))
    y = np.array([0, 1, 2] * 4)
    yt = np.array([0, 1] * 3)
    problem = Problem.from_arrays(x, y, xt, yt, classes=("cat", "dog", "emu"))
    with pytest.raises(ValueError, match=r"Class 'emu' has valued rows \(4\) but none in the target set"):
        fit(name, problem)


@pytest.mark.parametrize("name", ["lava", "sava"])
def test_suggested_label_is_the_nearest_target_class(name):
    """A row sitting in class B's cluster but labelled A is suggested B; the rest keep theirs."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [6.0, 0.0]])
    y = np.array([0] * 10 + [1] * 10 + [0])
    x = centers[[0] * 10 + [1] * 10 + [1]] + rng.normal(0, 0.5, (21, 2))
    yt = np.array([0] * 10 + [1] * 12)
    xt = centers[yt] + rng.normal(0, 0.5, (22, 2))
    problem = Problem.from_arrays(x, y, xt, yt, classes=("A", "B"))
    result = fit(name, problem, **({"batch_size": 32} if name == "sava" else {}))
    assert result.suggested_labels[20] == "B"
    assert list(result.suggested_labels[:20]) == ["A"] * 10 + ["B"] * 10


def test_sava_reads_a_memmap_like_an_array(medium, tmp_path):
    problem, _ = medium
    path = tmp_path / "x.npy"
    np.save(path, problem.x)
    mapped = np.load(path, mmap_mode="r")
    mm_problem = Problem.from_arrays(mapped, problem.y, problem.x_target, problem.y_target,
                                     classes=problem.classes, ids=problem.ids)
    in_memory = fit("sava", problem, batch_size=64, n_jobs=2)
    from_disk = fit("sava", mm_problem, batch_size=64, n_jobs=2)
    np.testing.assert_array_equal(from_disk.values, in_memory.values)
    release_pages(mm_problem.x)  # a plain view of the map is handled too
    np.testing.assert_array_equal(np.asarray(mm_problem.x), problem.x)


@pytest.mark.parametrize("extra", [1, 3, 7])
def test_short_tail_batch_is_merged(extra):
    bs = 16
    bounds = batch_bounds(2 * bs + extra, bs)
    assert list(bounds) == [0, bs, 2 * bs + extra]
    problem, _ = make_blobs_problem(n_valued=2 * bs + extra, n_target=20, n_classes=2, d=3, seed=extra)
    result = fit("sava", problem, batch_size=bs)
    assert len(result.values) == problem.n
    assert np.isfinite(result.values).all()
    assert result.status == "ok"


def test_batch_bounds_keep_a_long_tail_as_its_own_batch():
    assert list(batch_bounds(40, 16)) == [0, 16, 32, 40]  # 8 = half a batch: kept
    assert list(batch_bounds(10, 16)) == [0, 10]  # fewer rows than a batch: one batch


@pytest.mark.slow
def test_sava_spawned_workers_give_the_thread_result(medium, monkeypatch):
    """The spawn path (taken when the host process runs other threads, e.g. Streamlit)."""
    import multiprocessing

    from dataval_core import backend

    problem, _ = medium
    threads = fit("sava", problem, seed=7, batch_size=64, n_jobs=2, parallel="threads")
    monkeypatch.setattr(backend, "_process_context", lambda: multiprocessing.get_context("spawn"))
    spawned = fit("sava", problem, seed=7, batch_size=64, n_jobs=2, parallel="processes")
    np.testing.assert_array_equal(spawned.values, threads.values)


def _scores(problem, w, **kw):
    return _ot.pair_scores(problem.x, problem.y, problem.x_target, problem.y_target, w, label_weight=1.0,
                           relabel_weight=1.0, solver="sinkhorn", reg=0.05, **kw)


def test_torch_path_matches_pot_on_cpu(medium):
    """The code that runs on CUDA, run on CPU: same costs, potentials and scores as numpy + POT."""
    problem, _ = medium
    w = _ot.label_cost(problem.x, problem.y, problem.x_target, problem.y_target, problem.classes,
                       per_class=1000, rng=np.random.default_rng(0))
    pot = _scores(problem, w)
    torch_cpu = _scores(problem, w, use_torch=True)
    assert pot.converged and torch_cpu.converged
    np.testing.assert_allclose(torch_cpu.gradient, pot.gradient, rtol=1e-3, atol=1e-3 * np.abs(pot.gradient).max())
    np.testing.assert_allclose(torch_cpu.harm, pot.harm, rtol=1e-3, atol=1e-3 * np.abs(pot.harm).max())
    np.testing.assert_array_equal(torch_cpu.nearest_class, pot.nearest_class)
    assert torch_cpu.cost == pytest.approx(pot.cost, rel=1e-5)


def test_device_auto_picks_cpu_without_a_gpu_and_cuda_is_refused_clearly(blobs):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: benchmarks/gpu_check.sh covers it")
    problem, _ = blobs
    assert _ot.resolve_device("auto", "sinkhorn") == "cpu"
    assert _ot.resolve_device("auto", "exact") == "cpu"
    with pytest.raises(ValueError, match="exact OT solver runs on CPU only"):
        _ot.resolve_device("cuda", "exact")
    for name in ("lava", "sava"):
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            fit(name, problem, solver="sinkhorn", device="cuda")
        auto = fit(name, problem, solver="sinkhorn", device="auto")
        cpu = fit(name, problem, solver="sinkhorn", device="cpu")
        np.testing.assert_array_equal(auto.values, cpu.values)


def test_solver_auto_is_sinkhorn_on_a_gpu_else_exact(monkeypatch):
    import torch

    from dataval_core.methods import _ot

    assert _ot.resolve_solver("exact", "auto") == "exact" and _ot.resolve_solver("sinkhorn", "cpu") == "sinkhorn"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _ot.resolve_solver("auto", "auto") == "exact"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # what a GPU machine reports
    assert _ot.resolve_solver("auto", "auto") == "sinkhorn" and _ot.resolve_solver("auto", "cuda") == "sinkhorn"
    assert _ot.resolve_solver("auto", "cpu") == "exact"  # the user kept it on the CPU: the exact solver there
    with pytest.raises(ValueError, match="Unknown OT solver"):
        _ot.resolve_solver("simplex", "auto")
