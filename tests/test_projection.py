"""Map coordinates: PCA path, size switch and note, disk cache, UMAP (slow: numba compile)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from dataval_core.progress import Cancelled
from dataval_core.projection import map_coordinates


def blobs(n: int = 120, d: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 5, (3, d))
    return (centers[np.arange(n) % 3] + rng.normal(size=(n, d))).astype(np.float32)


def test_auto_uses_pca_above_the_limit_and_says_so():
    x = blobs()
    events = []
    r = map_coordinates(x, np.arange(len(x)), pca_above=100, progress=events.append)
    assert r.method_used == "pca" and not r.from_cache
    assert r.note == "PCA (UMAP is used up to 100 points; this has 120)"
    assert list(r.frame.columns) == ["id", "x", "y"] and r.frame["id"].tolist() == [str(i) for i in range(120)]
    assert np.isfinite(r.frame[["x", "y"]].to_numpy()).all()
    # the three blobs stay apart in 2-D
    xy = r.frame[["x", "y"]].to_numpy()
    centroids = np.array([xy[np.arange(120) % 3 == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(xy[np.arange(120) % 3 == c] - centroids[c], axis=1).mean() for c in range(3))
    assert min(np.linalg.norm(centroids[a] - centroids[b]) for a, b in [(0, 1), (0, 2), (1, 2)]) > 2 * spread
    assert events[-1].fraction == 1.0


def test_cache_hit_returns_the_same_coordinates(tmp_path):
    x = blobs()
    first = map_coordinates(x, np.arange(len(x)), method="pca", seed=3, cache_dir=tmp_path)
    again = map_coordinates(x, [f"s{i}" for i in range(len(x))], method="pca", seed=3, cache_dir=tmp_path)
    assert again.from_cache and not first.from_cache
    np.testing.assert_array_equal(first.frame[["x", "y"]], again.frame[["x", "y"]])
    assert again.frame["id"].iloc[0] == "s0"
    assert [p.suffix for p in tmp_path.iterdir()] == [".npy"]
    changed = x.copy()
    changed[0, 0] += 1
    assert not map_coordinates(changed, np.arange(len(x)), method="pca", seed=3, cache_dir=tmp_path).from_cache
    assert not map_coordinates(x, np.arange(len(x)), method="pca", seed=4, cache_dir=tmp_path).from_cache


def test_tiny_and_bad_inputs():
    assert map_coordinates(np.zeros((0, 4)), []).frame.empty
    one_column = map_coordinates(np.arange(5.0)[:, None], np.arange(5), method="pca").frame
    assert one_column["y"].tolist() == [0] * 5 and one_column["x"].tolist() == [-2, -1, 0, 1, 2]
    with pytest.raises(ValueError, match="2-D"):
        map_coordinates(np.zeros(5), np.arange(5))
    with pytest.raises(ValueError, match="ids"):
        map_coordinates(np.zeros((5, 3)), np.arange(4))
    with pytest.raises(ValueError, match="map method"):
        map_coordinates(np.zeros((5, 3)), np.arange(5), method="tsne")
    bad = blobs(10, 4)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        map_coordinates(bad, np.arange(10), method="pca")
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        map_coordinates(blobs(), np.arange(120), cancel=flag)


@pytest.mark.slow
def test_umap_is_seeded_and_cached(tmp_path):
    """Slow only because the first UMAP fit in a process compiles numba code (~1 min)."""
    x = blobs(150)
    a = map_coordinates(x, np.arange(150), cache_dir=tmp_path)
    assert a.method_used == "umap" and a.note == "UMAP of the first 50 principal components"
    b = map_coordinates(x, np.arange(150))
    np.testing.assert_allclose(a.frame[["x", "y"]], b.frame[["x", "y"]], rtol=1e-5)
    assert map_coordinates(x, np.arange(150), cache_dir=tmp_path).from_cache


@pytest.mark.slow
def test_umap_layout_reports_epochs_and_cancels_between_them():
    """Slow: the first UMAP fit in a process compiles numba code (~1 min)."""
    x = blobs(300)
    events = []
    map_coordinates(x, np.arange(300), method="umap", progress=events.append)
    layout = [e for e in events if e.stage == "UMAP layout"]
    assert layout and layout[-1].done == layout[-1].total > 1
    flag = threading.Event()

    def cancel_in_layout(p):
        if p.stage == "UMAP layout":
            flag.set()

    with pytest.raises(Cancelled):
        map_coordinates(x, np.arange(300), method="umap", progress=cancel_in_layout, cancel=flag)


def test_warm_up_is_off_in_tests_and_started_once(monkeypatch):
    from dataval_core import projection

    assert projection.warm_up_umap_in_background() is None  # tests/conftest.py sets DATAVAL_UMAP_WARMUP=0
    started = []
    monkeypatch.setenv("DATAVAL_UMAP_WARMUP", "1")
    monkeypatch.setattr(projection, "warm_up_umap", lambda: started.append(1))
    monkeypatch.setattr(projection, "_warm_thread", None)
    first = projection.warm_up_umap_in_background()
    assert projection.warm_up_umap_in_background() is first
    first.join(5)
    assert started == [1]


def test_exact_knn_matches_sklearn_and_reports_progress():
    from sklearn.neighbors import NearestNeighbors

    from dataval_core.progress import Reporter
    from dataval_core.projection import _exact_knn

    x = blobs(600, 8)
    events = []
    idx, dist = _exact_knn(x, 10, Reporter(events.append), chunk=64)
    ref_d, ref_i = NearestNeighbors(n_neighbors=10).fit(x).kneighbors(x)
    assert (idx[:, 0] == np.arange(600)).all() and (dist[:, 0] == 0).all()
    np.testing.assert_array_equal(np.sort(idx, 1), np.sort(ref_i, 1))
    np.testing.assert_allclose(dist, ref_d, atol=1e-3)
    assert events[-1].stage == "UMAP nearest neighbours" and events[-1].done == events[-1].total == 600
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        _exact_knn(x, 10, Reporter(cancel=flag), chunk=64)


@pytest.mark.slow
def test_umap_on_our_exact_neighbours_reports_them(monkeypatch):
    """Slow (numba compile). The path used from 4,096 points, exercised on 300 by lowering the switch."""
    from dataval_core import projection

    monkeypatch.setattr(projection, "EXACT_KNN_FROM", 100)
    x = blobs(300)
    events = []
    r = map_coordinates(x, np.arange(300), method="umap", progress=events.append)
    stages = [e.stage for e in events]
    assert "UMAP nearest neighbours" in stages and "UMAP layout" in stages
    xy = r.frame[["x", "y"]].to_numpy()
    assert np.isfinite(xy).all()
    centroids = np.array([xy[np.arange(300) % 3 == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(xy[np.arange(300) % 3 == c] - centroids[c], axis=1).mean() for c in range(3))
    assert min(np.linalg.norm(centroids[a] - centroids[b]) for a, b in [(0, 1), (0, 2), (1, 2)]) > 2 * spread
