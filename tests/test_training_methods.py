"""Training-based valuators (lossval, dvgs, dvemb) and their shared torch core."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import make_blobs_problem
from sklearn.datasets import make_blobs
from sklearn.metrics import roc_auc_score

from dataval_core import torch_models
from dataval_core.methods.dvemb import dvemb_recursion, dvemb_trajectory
from dataval_core.problem import Problem
from dataval_core.registry import get_valuator

FAST = {
    "lossval": {"epochs": 30, "batch_size": 16, "hidden": "16", "lr": 0.05, "sinkhorn_iters": 10},
    "dvgs": {"epochs": 20, "target_batch_size": 16, "hidden": "16", "lr": 0.01, "scores_per_restart": 10},
    "dvemb": {"epochs": 3, "batch_size": 8, "hidden": "16", "lr": 0.1, "proj_dim": 32},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread avoids thread hand-off overhead on shared 2-core machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def blobs(n: int = 80, m: int = 40, flip: float = 0.2, seed: int = 0):
    """Three well-separated blobs; ``flip`` of the valued labels moved to another class."""
    x, y = make_blobs(n + m, n_features=4, centers=3, cluster_std=1.0, random_state=seed)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    yv = y[:n].copy()
    noisy = np.zeros(n, bool)
    idx = rng.choice(n, int(flip * n), replace=False)
    noisy[idx] = True
    yv[idx] = (yv[idx] + rng.integers(1, 3, len(idx))) % 3
    return Problem.from_arrays(x[:n], yv, x[n:], y[n:]), noisy


@pytest.fixture(scope="module")
def noisy_blobs():
    return blobs()


@pytest.mark.parametrize("task,which", [("classification", "all"), ("classification", "last"),
                                        ("regression", "all"), ("reconstruction", "last")])
def test_per_sample_grads_match_single_backward(task, which):
    torch.manual_seed(0)
    x = torch.randn(7, 5)
    out = {"classification": 3, "regression": 1, "reconstruction": 5}[task]
    model = torch_models.make_mlp(5, out, (6, 4), seed=1)
    target = {"classification": torch.randint(0, 3, (7,)), "regression": torch.randn(7, 1), "reconstruction": x}[task]
    names = torch_models.grad_param_names(model, which)
    chunks = list(torch_models.per_sample_grads(model, x, target, task, names=names, chunk_size=3))
    assert [s for s, _ in chunks] == [0, 3, 6]
    got = torch.cat([g for _, g in chunks])
    assert got.shape == (7, torch_models.n_grad_params(model, names))
    for i in range(7):
        loss = torch_models.per_sample_loss(model(x[i:i + 1]), target[i:i + 1], task).sum()
        torch.testing.assert_close(got[i], torch_models.flat_grad(model, loss, names), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch,task,which", [("mlp", "classification", "all"), ("mlp", "regression", "last"),
                                             ("mlp", "reconstruction", "all"), ("cnn", "classification", "last"),
                                             ("cnn", "classification", "all")])
def test_per_sample_grad_dots_match_materialised_grads(arch, task, which):
    """The dense-layer shortcut (δᵀVa, ‖δ‖²‖a‖²) and the CNN fallback agree with explicit per-sample gradients."""
    torch.manual_seed(0)
    if arch == "mlp":
        x = torch.randn(11, 5)
        out = {"classification": 3, "regression": 1, "reconstruction": 5}[task]
        model = torch_models.make_mlp(5, out, (6, 4), seed=1)
    else:
        x = torch.rand(11, 1 * 8 * 8)
        out = 3
        model = torch_models.make_cnn((1, 8, 8), out, width=2, embed_dim=4, seed=1)
    target = {"classification": torch.randint(0, 3, (11,)), "regression": torch.randn(11, 1), "reconstruction": x}[task]
    names = torch_models.grad_param_names(model, which)
    g = torch.cat([g for _, g in torch_models.per_sample_grads(model, x, target, task, names=names)])
    vec = torch.randn(g.shape[1])
    chunks = list(torch_models.per_sample_grad_dots(model, x, target, task, vec, names=names, chunk_size=4))
    assert [s for s, _, _ in chunks] == [0, 4, 8]
    torch.testing.assert_close(torch.cat([d for _, d, _ in chunks]), g @ vec, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.cat([q for _, _, q in chunks]), (g * g).sum(1), rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())  # no side effect on .grad


def test_random_projection_is_seeded_and_norm_preserving():
    a = torch_models.random_projection(500, 200, seed=3)
    assert torch.equal(a, torch_models.random_projection(500, 200, seed=3))
    assert not torch.equal(a, torch_models.random_projection(500, 200, seed=4))
    g = torch.randn(50, 500)
    ratio = ((g @ a).norm(dim=1) / g.norm(dim=1)).mean()
    assert abs(float(ratio) - 1) < 0.1


def _explicit_embeddings(grads, etas):
    """η_t ∏_{k>t}(I − η_k H_k) g with H_k = Σ_{z∈B_k} g gᵀ, the product built explicitly."""
    p = grads[0].shape[1]
    out = [None] * len(grads)
    a = torch.eye(p, dtype=torch.float64)
    for t in range(len(grads) - 1, -1, -1):
        out[t] = etas[t] * grads[t] @ a.T
        a = a @ (torch.eye(p, dtype=torch.float64) - etas[t] * grads[t].T @ grads[t])
    return out


def test_dvemb_recursion_equals_explicit_product():
    model = torch_models.make_mlp(3, 2, (4,), seed=0).double()
    gen = torch.Generator().manual_seed(0)
    grads, etas = [], []
    for _ in range(5):  # per-sample gradients of a tiny model at five parameter points
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
        x = torch.randn(3, 3, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 2, (3,), generator=gen)
        grads.append(torch.cat([g for _, g in torch_models.per_sample_grads(model, x, y, "classification")]))
        etas.append(0.3 / 3)
    store = torch.cat(grads).numpy().copy()
    dvemb_recursion(store, [0, 3, 6, 9, 12, 15], etas)
    expected = torch.cat(_explicit_embeddings(grads, etas)).numpy()
    np.testing.assert_allclose(store, expected, rtol=1e-10, atol=1e-12)


def test_dvemb_trajectory_matches_replayed_sgd():
    """End to end: replay the same SGD run, build (I − ηH) products explicitly, dot with the target gradient."""
    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    xt, yt = x[:4] + 0.1, y[:4]
    model = torch_models.make_mlp(3, 2, (4,), seed=2).double()
    replay = torch_models.make_mlp(3, 2, (4,), seed=2).double()
    traj = dvemb_trajectory(model, x, y, xt, yt, "classification", epochs=2, batch_size=4, lr=0.5, order_seed=7,
                            proj_dim=0, proj_seed=0)
    grads, etas, samples = [], [], []
    opt = torch.optim.SGD(replay.parameters(), lr=0.5)
    gen = torch_models.torch_generator(7)
    for idx in [b for _ in range(2) for b in torch_models.batch_order(12, 4, gen)]:
        grads.append(torch.cat([g for _, g in torch_models.per_sample_grads(replay, x[idx], y[idx], "classification")]))
        etas.append(0.5 / len(idx))
        samples.append(idx.numpy())
        opt.zero_grad()
        torch_models.per_sample_loss(replay(x[idx]), y[idx], "classification").mean().backward()
        opt.step()
    names = torch_models.grad_param_names(replay)
    g_val = torch_models.flat_grad(replay, torch_models.per_sample_loss(replay(xt), yt, "classification").mean(), names)
    expected = torch.cat(_explicit_embeddings(grads, etas)) @ g_val
    np.testing.assert_array_equal(traj.sample, np.concatenate(samples))
    np.testing.assert_allclose(traj.contribution, expected.numpy(), rtol=1e-8, atol=1e-12)
    assert traj.n_steps == 6


@pytest.mark.parametrize("method", ["lossval", "dvgs", "dvemb"])
def test_same_seed_same_values_and_flips_rank_low(method, noisy_blobs):
    problem, noisy = noisy_blobs
    events = []
    a = get_valuator(method, FAST[method], seed=3).fit(problem, progress=events.append)
    b = get_valuator(method, FAST[method], seed=3).fit(problem)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape == (problem.n,) and np.all(np.isfinite(a.values))
    assert events and events[-1].done == events[-1].total
    assert roc_auc_score(noisy, -a.values) > 0.8
    c = get_valuator(method, FAST[method], seed=4).fit(problem)
    assert not np.array_equal(a.values, c.values)


def test_seeded_values_ignore_threads_drawing_from_torchs_global_rng(noisy_blobs):
    """Weights and batches come from private generators: jobs running beside threads that
    draw from torch's global RNG (as other app jobs do) give the serial values exactly."""
    problem, _ = noisy_blobs
    methods = ("lossval", "dvgs", "dvemb")
    serial = {m: get_valuator(m, FAST[m], seed=5).fit(problem).values for m in methods}
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            torch.randn(256)

    drawers = [threading.Thread(target=draw) for _ in range(2)]
    for t in drawers:
        t.start()
    try:
        results: list[tuple[str, np.ndarray]] = []  # three runs of each method at once
        jobs = [threading.Thread(target=lambda m=m: results.append(
            (m, get_valuator(m, FAST[m], seed=5).fit(problem).values))) for m in methods for _ in range(3)]
        for t in jobs:
            t.start()
        for t in jobs:
            t.join()
    finally:
        stop.set()
        for t in drawers:
            t.join()
    assert len(results) == 9
    for m, values in results:
        np.testing.assert_array_equal(values, serial[m])


def test_dvemb_phases_sum_to_value(noisy_blobs):
    problem, _ = noisy_blobs
    res = get_valuator("dvemb", FAST["dvemb"], seed=0).fit(problem)
    phases = sum(res.extras[k] for k in ("influence_early", "influence_middle", "influence_late"))
    np.testing.assert_allclose(phases, res.values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["lossval", "dvgs", "dvemb"])
def test_regression_path(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=90)
    noisy = np.zeros(60, bool)
    noisy[:12] = True
    yv = y[:60].copy()
    if method == "dvemb":
        # DVEmb is first order in the final target gradient: zero-mean label noise leaves the
        # fit unbiased (target gradient ≈ 0), so only a systematic shift is visible to it
        yv[:12] += 6.0
        params = {}
    else:
        yv[:12] += rng.choice([-6.0, 6.0], 12)
        params = FAST[method]
    problem = Problem.from_arrays(x[:60], yv, x[60:], y[60:], task="regression")
    res = get_valuator(method, params, seed=0).fit(problem)
    assert np.all(np.isfinite(res.values)) and res.suggested_labels is None
    assert roc_auc_score(noisy, -res.values) > 0.75


def test_dvgs_autoencoder_ranks_noisy_rows_low():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(140, 2))
    x = (z @ rng.normal(size=(2, 6))).astype(np.float32)  # rows on a 2-d plane in 6-d
    noisy = np.zeros(100, bool)
    noisy[:20] = True
    x[:20] += rng.normal(scale=2.0, size=(20, 6)).astype(np.float32)
    problem = Problem.from_arrays(x[:100], np.zeros(100, int), x[100:], np.zeros(40, int), classes=("a", "b"))
    params = dict(FAST["dvgs"], mode="autoencoder")
    res = get_valuator("dvgs", params, seed=0).fit(problem)
    assert res.suggested_labels is None
    assert roc_auc_score(noisy, -res.values) > 0.8


def test_bad_parameters_raise_readable_errors(noisy_blobs):
    problem, _ = noisy_blobs
    with pytest.raises(ValueError, match="hidden"):
        get_valuator("dvgs", {"hidden": "12,x"}).fit(problem)
    with pytest.raises(ValueError, match="proj_dim"):
        get_valuator("dvemb", {"grad_params": "all", "proj_dim": 0}).fit(problem)


# Cancellation of lossval, dvgs and dvemb inside each of their stages (setup, training, dvemb's recursion):
# tests/test_cancel_latency.py.


def test_dvemb_target_gradient_averaged_over_last_epoch_points():
    """target_points=1 is the paper's final-model gradient; more points average the last epoch's gradients."""
    problem, noisy = make_blobs_problem(n_valued=120, n_target=60, seed=1)
    one = get_valuator("dvemb", {"target_points": 1, "epochs": 3}, seed=0).fit(problem)
    many = get_valuator("dvemb", {"target_points": 5, "epochs": 3}, seed=0).fit(problem)
    assert not np.allclose(one.values, many.values)
    assert roc_auc_score(noisy, -many.values) > 0.8
