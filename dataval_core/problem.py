"""What a valuation method sees: embedded valued rows and embedded target rows."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import CLASSIFICATION, DataError


def _all_finite(x: np.ndarray, chunk_rows: int = 65536) -> bool:
    """Finite check in row chunks, so a memory-mapped ``x`` is never loaded whole."""
    return all(np.isfinite(x[i:i + chunk_rows]).all() for i in range(0, len(x), chunk_rows))


@dataclass(frozen=True)
class Problem:
    """Arrays for one valuation run.

    Attributes:
        ids: ids of the valued rows, shape (n,).
        x: valued features, float32, shape (n, d); may be a read-only ``np.memmap`` so
            that methods which stream batches (``sava``) never hold all rows in RAM.
        y: valued labels (int codes or floats), shape (n,).
        x_target: target (reference) features, float32, shape (m, d); m = 0 when a method that needs
            no reference (``data_oob``, ``random``) values every row.
        y_target: target labels, shape (m,).
        classes: class names (``()`` for regression).
        task: ``"classification"`` or ``"regression"``.
        embedding: name of the embedding that produced ``x``.
        image_shape: (channels, height, width) when rows are flattened images, else None.
    """

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    x_target: np.ndarray
    y_target: np.ndarray
    classes: tuple[str, ...]
    task: str
    embedding: str = "raw"
    image_shape: tuple[int, int, int] | None = None

    def __post_init__(self):
        if self.x.ndim != 2 or self.x_target.ndim != 2:
            raise ValueError("x and x_target must be 2-D (rows x features).")
        if len(self.x) != len(self.y) or len(self.x) != len(self.ids):
            raise ValueError(f"x has {len(self.x)} rows, y {len(self.y)}, ids {len(self.ids)}.")
        if len(self.x_target) != len(self.y_target):
            raise ValueError("x_target and y_target differ in length.")
        if self.x.shape[1] != self.x_target.shape[1]:
            raise ValueError("Valued and target features have different widths.")
        if len(self.x) < 2:
            raise DataError("At least two valued samples are needed.")
        if not (_all_finite(self.x) and _all_finite(self.x_target)):
            raise DataError("Features contain NaN or infinite values after preprocessing.")

    @property
    def is_classification(self) -> bool:
        return self.task == CLASSIFICATION

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n(self) -> int:
        return len(self.x)

    @classmethod
    def from_arrays(cls, x, y, x_target, y_target, *, classes=None, task=CLASSIFICATION, ids=None,
                    embedding="raw", image_shape=None) -> Problem:
        """Convenience constructor for tests and notebooks (int labels 0..C-1)."""
        y = np.asarray(y)
        y_target = np.asarray(y_target)
        if classes is None and task == CLASSIFICATION:
            classes = tuple(str(c) for c in range(int(np.concatenate([y, y_target]).max()) + 1))
        if ids is None:  # "0".."n-1" in the narrowest str dtype (astype(str) would take 21 characters a row)
            ids = np.arange(len(x)).astype(f"<U{len(str(max(len(x) - 1, 0)))}")
        ids = np.asarray(ids).astype(str, copy=False)
        return cls(ids, np.asarray(x, dtype=np.float32), y, np.asarray(x_target, dtype=np.float32), y_target,
                   tuple(classes or ()), task, embedding, image_shape)
