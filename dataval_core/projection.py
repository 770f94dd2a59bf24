"""2-D map coordinates of an embedding for the Map page.

UMAP (umap-learn, seeded) or PCA to 2-D. Inputs wider than 50 dimensions are first
reduced to 50 with PCA (standard practice before UMAP; faster, same layout). UMAP's
nearest-neighbour search (ours, exact, from 4,096 points) and its layout epochs report
progress and honour cancel; building the graph and the initial layout are single calls.
The first UMAP fit in a process compiles numba code (about 20 s of CPU here; numba's disk
cache cut only about a third of the compile in ``benchmarks/map_time.py``, as most of
umap-learn's functions are not marked cacheable), so the app calls
:func:`warm_up_umap_in_background` once at start. Results are cached on disk as ``.npy``
keyed by a content hash of the input, so reopening the map is instant.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .progress import CancelFlag, ProgressCallback, Reporter, as_reporter

#: UMAP is fitted on at most this many dimensions (PCA first when wider)
UMAP_MAX_DIMS = 50
#: bumped when the algorithm or its settings change, so stale cache files are not reused
_CACHE_VERSION = "map-v3"
_METHODS = ("auto", "umap", "pca")
#: UMAP starts from a spectral layout up to this size and from PCA above: with the spectral start a 50,000-point
#: fit took 14 min and its solver (lobpcg) warned that it did not converge (``benchmarks/map_time.py``)
SPECTRAL_MAX_POINTS = 20_000
#: from this size the neighbours are found by :func:`_exact_knn` (progress, cancel); below, UMAP's exact search
EXACT_KNN_FROM = 4_096


@dataclass(frozen=True)
class MapResult:
    """Map coordinates and how they were made.

    Attributes:
        frame: columns ``id``, ``x``, ``y`` (float32), one row per input row, input order.
        method_used: ``"umap"`` or ``"pca"``.
        note: one line for the UI, e.g. ``"PCA (UMAP is used up to 20,000 points; this has 50,000)"``.
        from_cache: True when the coordinates were read from the disk cache.
        seconds: wall time of the call.
    """

    frame: pd.DataFrame
    method_used: str
    note: str
    from_cache: bool
    seconds: float


def map_coordinates(x: np.ndarray, ids, *, seed: int = 0, cache_dir: str | Path | None = None,
                    method: str = "auto", pca_above: int = 20_000,
                    progress: ProgressCallback | Reporter | None = None,
                    cancel: CancelFlag | None = None) -> MapResult:
    """2-D coordinates of the rows of ``x`` for a scatter plot.

    Args:
        x: embedding, shape (n, d); any float dtype, may be a memory map.
        ids: sample ids, shape (n,).
        seed: random seed (UMAP and randomized PCA); the same seed gives the same map.
        cache_dir: folder for cached coordinates (``None``: no caching).
        method: ``"auto"`` (UMAP up to ``pca_above`` points, else PCA), ``"umap"`` or ``"pca"``.
        pca_above: the ``auto`` size limit for UMAP.
        progress: callback or :class:`~dataval_core.progress.Reporter` for stage events.
        cancel: flag checked between stages.

    Returns:
        A :class:`MapResult`.

    Raises:
        ValueError: ``x`` is not 2-D, has non-finite values, or ``ids``/``method`` do not fit.
        Cancelled: the cancel flag was set.
    """
    start = time.perf_counter()
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    ids = np.asarray(ids).astype(str)
    if method not in _METHODS:
        raise ValueError(f"Unknown map method {method!r}; use one of {', '.join(_METHODS)}.")
    if np.ndim(x) != 2:
        raise ValueError(f"The embedding must be 2-D (rows x features), got shape {np.shape(x)}.")
    n = len(x)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} embedding rows.")
    used = method if method != "auto" else ("umap" if n <= pca_above else "pca")
    note = _note(used, n, method, pca_above, x.shape[1])
    reporter = as_reporter(progress, cancel)
    reporter.update("map", 0, 3, "hashing the embedding")
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"map_{_cache_key(x, seed, used)}.npy"
        if cache_file.is_file():
            coords = np.load(cache_file, allow_pickle=False)
            reporter.update("map", 3, 3, "read from cache")
            return MapResult(_frame(ids, coords), used, note, True, time.perf_counter() - start)
    coords = _compute(x, used, seed, reporter)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.stem}.{uuid.uuid4().hex}.part.npy")  # unique per writer
        np.save(tmp, coords, allow_pickle=False)
        tmp.replace(cache_file)
    reporter.update("map", 3, 3, "done")
    return MapResult(_frame(ids, coords), used, note, False, time.perf_counter() - start)


def _note(used: str, n: int, method: str, pca_above: int, d: int) -> str:
    if used == "pca":
        if method == "auto":
            return f"PCA (UMAP is used up to {pca_above:,} points; this has {n:,})"
        return "PCA"
    return f"UMAP of the first {min(UMAP_MAX_DIMS, n)} principal components" if d > UMAP_MAX_DIMS else "UMAP"


def _cache_key(x: np.ndarray, seed: int, used: str) -> str:
    """SHA-256 of the embedding bytes (hashed in row chunks, so memory maps stay on disk)."""
    h = hashlib.sha256(repr((_CACHE_VERSION, used, int(seed), x.shape, str(x.dtype))).encode())
    step = max(1, (64 << 20) // max(1, x.shape[1] * x.dtype.itemsize))
    for i in range(0, len(x), step):
        h.update(np.ascontiguousarray(x[i:i + step]).tobytes())
    return h.hexdigest()[:24]


def _frame(ids: np.ndarray, coords: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "x": coords[:, 0], "y": coords[:, 1]})


def _compute(x: np.ndarray, used: str, seed: int, reporter: Reporter) -> np.ndarray:
    """Coordinates, shape (n, 2), float32."""
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("The embedding has NaN or infinite values; a map cannot be drawn.")
    n, d = x.shape
    if n < 3 or d < 2:
        # too few rows or columns to project: the centred first (up to two) features
        out = np.zeros((n, 2), dtype=np.float32)
        if n:
            out[:, : min(d, 2)] = x[:, : min(d, 2)] - x[:, : min(d, 2)].mean(axis=0)
        return out
    if used == "pca":
        reporter.update("map", 1, 3, f"PCA of {n:,} points")
        return _pca(x, 2, seed)
    if d > UMAP_MAX_DIMS:
        reporter.update("map", 1, 3, f"PCA to {UMAP_MAX_DIMS} dimensions")
        x = _pca(x, UMAP_MAX_DIMS, seed)
    reporter.update("map", 2, 3, f"UMAP of {n:,} points")
    return _umap(x, seed, reporter)


class _EpochSink:
    """A file for umap's tqdm bar: turns its ``n/total`` lines into progress events (and cancel checks)."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def write(self, text: str) -> None:
        found = re.findall(r"(\d+)/(\d+)", text)
        if found:
            done, total = map(int, found[-1])
            self.reporter.update("UMAP layout", done, total, "epochs")

    def flush(self) -> None:
        pass


def _umap(x: np.ndarray, seed: int, reporter: Reporter, n_epochs: int | None = None) -> np.ndarray:
    import umap  # lazy: importing umap-learn (numba, pynndescent) takes seconds

    n = len(x)
    k = min(15, n - 1)
    bar = {"disable": False, "file": _EpochSink(reporter), "bar_format": "{n}/{total}", "mininterval": 0.5}
    init = "random" if n <= 20 else "spectral" if n <= SPECTRAL_MAX_POINTS else "pca"
    knn: tuple[Any, Any, Any] = (None, None, None)
    if n >= EXACT_KNN_FROM:
        knn = (*_exact_knn(x, k, reporter), None)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=0.1, random_state=seed, n_jobs=1,
                        init=init, n_epochs=n_epochs, tqdm_kwds=bar, precomputed_knn=knn)
    with warnings.catch_warnings():  # "no search index: transform unavailable" (the map never transforms)
        warnings.filterwarnings("ignore", message="precomputed_knn")
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def _exact_knn(x: np.ndarray, k: int, reporter: Reporter, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self first, Euclidean), in row chunks with progress and cancel checks.

    Replaces UMAP's own NN-descent from ``EXACT_KNN_FROM`` points, which is one call without progress
    or cancel (about 30 s wall at 50,000 points on a busy 2-core machine). Costs O(n²·d): about 18 s
    of CPU at 50,000 × 50 (one torch thread, matrix product + top-k).
    """
    import torch

    from .torch_models import torch_threads

    n = len(x)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    sq = (xt * xt).sum(1)
    indices = np.empty((n, k), dtype=np.int32)
    dists = np.empty((n, k), dtype=np.float32)
    last = time.monotonic()
    with torch_threads(1), torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            d2 = torch.addmm(sq[None, :], xt[start:stop], xt.T, alpha=-2.0).add_(sq[start:stop, None])
            d2[torch.arange(stop - start), torch.arange(start, stop)] = -1.0  # the point itself comes first
            value, index = torch.topk(d2, k, dim=1, largest=False, sorted=True)
            indices[start:stop] = index.numpy()
            dists[start:stop] = value.clamp_min(0.0).sqrt().numpy()
            if time.monotonic() - last >= 0.5 or stop == n:
                last = time.monotonic()
                reporter.update("UMAP nearest neighbours", stop, n)
            else:
                reporter.check()
    return indices, dists


_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def warm_up_umap() -> None:
    """Compile UMAP's numba code now: one small fit on each path (UMAP's own neighbours, and ours from 4,096 points)."""
    rng = np.random.default_rng(0)
    for n in (200, EXACT_KNN_FROM):
        _umap(rng.normal(size=(n, 8)).astype(np.float32), 0, Reporter(), n_epochs=5)


def warm_up_umap_in_background() -> threading.Thread | None:
    """Start :func:`warm_up_umap` in a daemon thread, once per process; later calls return the same thread.

    Set ``DATAVAL_UMAP_WARMUP=0`` to skip it (tests: it costs about 20 s of CPU per process).
    """
    global _warm_thread
    if os.environ.get("DATAVAL_UMAP_WARMUP", "1") == "0":
        return None
    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=warm_up_umap, name="umap-warm-up", daemon=True)
            _warm_thread.start()
        return _warm_thread


def _pca(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    k = min(k, x.shape[1], x.shape[0])
    solver = "randomized" if min(x.shape) > 4 * k else "full"
    out = PCA(n_components=k, svd_solver=solver, random_state=seed).fit_transform(x)
    return np.asarray(out, dtype=np.float32)
