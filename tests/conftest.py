"""Shared fixtures: tiny seeded problems with label flips at known positions."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

from dataval_core import Problem

settings.register_profile("ci", max_examples=25, deadline=None)
settings.load_profile("ci")
# the models in tests are tiny: one thread avoids oversubscribing CI's two cores
torch.set_num_threads(1)
# the app's background UMAP compile costs about 20 s of CPU per server or AppTest process: not in tests
os.environ.setdefault("DATAVAL_UMAP_WARMUP", "0")
# AppTest flows run their valuations on a job thread (a run process costs ~3 s of imports, and AppTest's job
# managers are never shut down); tests/test_run_process.py and the browser tests' servers use the default
os.environ.setdefault("DATAVAL_RUN_PROCESS", "0")


def make_blobs_problem(n_valued: int = 90, n_target: int = 45, n_classes: int = 3, d: int = 5,
                       flip_rate: float = 0.2, seed: int = 0) -> tuple[Problem, np.ndarray]:
    """Well-separated Gaussian blobs; ``flip_rate`` of valued labels moved to another class."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (n_classes, d))
    y = np.arange(n_valued) % n_classes
    yt = np.arange(n_target) % n_classes
    x = centers[y] + rng.normal(0, 1, (n_valued, d))
    xt = centers[yt] + rng.normal(0, 1, (n_target, d))
    noisy = np.zeros(n_valued, dtype=bool)
    noisy[rng.choice(n_valued, int(round(flip_rate * n_valued)), replace=False)] = True
    y_obs = y.copy()
    y_obs[noisy] = (y[noisy] + rng.integers(1, n_classes, noisy.sum())) % n_classes
    ids = np.array([f"s{i}" for i in range(n_valued)])
    return Problem.from_arrays(x, y_obs, xt, yt, ids=ids), noisy


@pytest.fixture(scope="session")
def blobs():
    return make_blobs_problem()


@pytest.fixture(scope="module")
def local_ray(request):
    """One local Ray (``num_cpus=2``) for the requesting test module, shut down at its end."""
    ray = pytest.importorskip("ray")
    from dataval_core.backend import RayBackend

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(request.module)  # workers cannot import the test module
    yield RayBackend()
    ray.shutdown()


@pytest.fixture(scope="module")
def browser(server):
    """One headless Chromium per browser-test module, beside that module's own ``server`` fixture."""
    from playwright.sync_api import sync_playwright

    from test_browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
