"""Pretrained image features in chunks of files that a compute backend fans out.

Reading and decoding the images and one forward pass per image dominate a pretrained
embedding of a large image set, and chunks of files are independent: each task opens its
own files (on a cluster they must lie on shared storage, like sava's row file), loads the
network once per worker process and returns float32 features. Chunks come back in file
order, and every chunk runs on one torch thread on whichever backend, so the features are
the same wherever they were computed.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..progress import Reporter

#: image files per task at most: large enough that loading the network per worker is amortised
CHUNK = 256
#: images per forward pass within a task
BATCH = 32
#: a small image set is cut into at least this many tasks, so its progress moves while it is read
MIN_TASKS = 8

_NETWORKS: dict[str, Any] = {}
_NETWORKS_LOCK = threading.Lock()


def network(key: str, build: Callable[[], Any]) -> Any:
    """The network ``key`` of this process, built once (tasks in threads share it: inference only)."""
    with _NETWORKS_LOCK:
        if key not in _NETWORKS:
            _NETWORKS[key] = build()
        return _NETWORKS[key]


def _chunk_features(features: Callable[[Sequence[Path]], np.ndarray], paths: Sequence[Path]) -> np.ndarray:
    """Features of one chunk of files, ``BATCH`` images a pass, on one torch thread."""
    from ..torch_models import torch_threads

    with torch_threads(1):
        return np.concatenate([features(paths[i:i + BATCH]) for i in range(0, len(paths), BATCH)])


def chunk_size(n: int) -> int:
    """Files per task for ``n`` files: :data:`CHUNK`, or less so that at least :data:`MIN_TASKS` tasks report
    progress (200 images in one chunk showed 0/200 until all were done); always whole batches of :data:`BATCH`,
    so the forward passes, and the features, are the same as with one chunk."""
    per_task = -(-max(n, 1) // MIN_TASKS)
    return min(CHUNK, max(BATCH, -(-per_task // BATCH) * BATCH))


def extract_features(paths: Sequence[Path], features: Callable[[Sequence[Path]], np.ndarray], reporter: Reporter,
                     stage: str, backend: Any = None) -> np.ndarray:
    """``features(batch of paths)`` over every path, in chunks run by ``backend`` (None: this machine).

    ``features`` must be a module-level function (it travels to worker processes and Ray
    workers) that gets its network from :func:`network`. Progress counts images done, reported per finished
    chunk (:func:`chunk_size`).
    """
    from ..backend import get_backend

    size = chunk_size(len(paths))
    chunks = [(list(paths[i:i + size]),) for i in range(0, len(paths), size)]
    done = get_backend(backend).map(_chunk_features, chunks, reporter, stage, shared=features,
                                    units=[len(c[0]) for c in chunks], ordered=True)
    return np.concatenate([feats for _, feats in done])
