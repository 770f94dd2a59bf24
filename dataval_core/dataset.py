"""The dataset type every loader returns and every method reads.

A :class:`Dataset` holds all rows of one upload: stable ids, labels (class names
kept), the raw inputs (a table, or image files under a root folder), which rows
form the target (validation) set, and — after noise injection — the truth.
It is immutable; helpers return modified copies via :meth:`Dataset.replace`.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CLASSIFICATION = "classification"
REGRESSION = "regression"
TABLE = "table"
IMAGE = "image"

#: at most this many distinct integer label values are read as classes, not a regression target
MAX_CLASSES_FOR_INTEGER_LABELS = 50


class DataError(ValueError):
    """Bad input data; the message is shown verbatim to the user (one line, specific)."""


@dataclass(frozen=True)
class Dataset:
    """One labeled dataset.

    Attributes:
        ids: stable sample ids, shape (n,) (row number or id column for tables,
            path inside the zip/folder for images).
        labels: int class codes into ``classes`` (classification) or floats (regression).
        classes: class names, ``()`` for regression.
        task: ``"classification"`` or ``"regression"``.
        modality: ``"table"`` or ``"image"``.
        is_target: True for rows of the target (validation) set, which are never valued.
        table: the original rows (tables only), same order as ``ids``; label column included.
        label_column: name of the label column (tables).
        feature_columns: columns the methods may use (tables).
        image_root: folder holding the image files; ``ids`` are paths relative to it.
        original_labels: labels before noise injection (``None`` if no noise was injected).
        feature_noise: per-row std of injected Gaussian feature noise (``None`` if none).
        name: a short display name.
        source_format: ``csv``, ``parquet``, ``images`` or ``images-manifest``.
        meta: free-form extra facts (e.g. imputation policy applied); ``meta["notes"]`` holds
            the loader's decisions shown to the user (see :attr:`notes`).
    """

    ids: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    task: str
    modality: str
    is_target: np.ndarray
    table: pd.DataFrame | None = None
    label_column: str | None = None
    feature_columns: tuple[str, ...] = ()
    image_root: Path | None = None
    original_labels: np.ndarray | None = None
    feature_noise: np.ndarray | None = None
    name: str = "dataset"
    source_format: str = "csv"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.ids)
        ids = np.asarray(self.ids).astype(str)
        if len(set(ids.tolist())) != n:
            raise DataError("Sample ids are not unique.")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "is_target", np.asarray(self.is_target, dtype=bool))
        for name in ("labels", "is_target"):
            if len(getattr(self, name)) != n:
                raise DataError(f"{name} has {len(getattr(self, name))} entries for {n} samples.")
        if self.task not in (CLASSIFICATION, REGRESSION):
            raise ValueError(f"task must be {CLASSIFICATION!r} or {REGRESSION!r}, got {self.task!r}")
        if self.modality not in (TABLE, IMAGE):
            raise ValueError(f"modality must be {TABLE!r} or {IMAGE!r}, got {self.modality!r}")

    # -- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the loader decided for the user (task chosen and why, images resized, ...), one sentence each."""
        return tuple(self.meta.get("notes", ()))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def valued_index(self) -> np.ndarray:
        return np.flatnonzero(~self.is_target)

    @property
    def target_index(self) -> np.ndarray:
        return np.flatnonzero(self.is_target)

    @property
    def noisy(self) -> np.ndarray | None:
        """True where injected noise changed the row (label flip or feature noise)."""
        if self.original_labels is None and self.feature_noise is None:
            return None
        flags = np.zeros(len(self), dtype=bool)
        if self.original_labels is not None:
            flags |= self.original_labels != self.labels
        if self.feature_noise is not None:
            flags |= self.feature_noise > 0
        return flags

    def label_names(self, labels: np.ndarray | None = None) -> np.ndarray:
        """Labels as display values: class names for classification, numbers for regression."""
        labels = self.labels if labels is None else labels
        if self.task == REGRESSION:
            return np.asarray(labels, dtype=float)
        return np.asarray(self.classes, dtype=object)[np.asarray(labels, dtype=int)]

    def positions(self, ids: Sequence[object] | np.ndarray | pd.Series) -> np.ndarray:
        """The row of each of ``ids`` (sample ids, e.g. a result's): the one id → row join.

        Raises:
            DataError: some of ``ids`` are not sample ids of this dataset.
        """
        wanted = np.asarray(ids)
        pos = pd.Index(self.ids).get_indexer(wanted)
        if (pos < 0).any():
            missing = wanted[pos < 0]
            raise DataError(f"{len(missing):,} id(s) are not in the dataset, e.g. {str(missing[0])!r}.")
        return pos

    def image_paths(self) -> list[Path]:
        """Image files, one per row: ``image_root / id``, except ids starting with a prefix in
        ``meta["image_roots"]`` (rows appended from a target upload), which live under that folder."""
        if self.image_root is None:
            raise ValueError("This dataset has no images.")
        extra = {prefix: Path(root) for prefix, root in self.meta.get("image_roots", {}).items()}
        if not extra:
            return [self.image_root / i for i in self.ids]
        paths = []
        for i in self.ids:
            prefix = next((p for p in extra if i.startswith(p)), None)
            paths.append(self.image_root / i if prefix is None else extra[prefix] / i[len(prefix):])
        return paths

    def replace(self, **changes) -> Dataset:
        return dataclasses.replace(self, **changes)

    def content_hash(self) -> str:
        """A hash of everything that determines what methods see (inputs, labels, split)."""
        h = hashlib.sha256()
        h.update("\0".join(self.ids.tolist()).encode())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        h.update(self.is_target.tobytes())
        h.update(repr((self.classes, self.task, self.modality, self.feature_columns)).encode())
        if self.feature_noise is not None:
            h.update(np.ascontiguousarray(self.feature_noise).tobytes())
        if self.table is not None:
            h.update(pd.util.hash_pandas_object(self.table, index=False).to_numpy().tobytes())
        if self.image_root is not None:
            for p in self.image_paths():
                st = p.stat()
                h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
        return h.hexdigest()[:16]


def infer_task(values: pd.Series | np.ndarray, task: str | None = None) -> tuple[str, str]:
    """The task for a label column and a sentence saying why it was chosen.

    Strings and booleans are classes; integers with at most
    ``MAX_CLASSES_FOR_INTEGER_LABELS`` distinct values are classes; other numbers
    are a regression target. An explicit ``task`` wins. The reason is shown to the
    user (CLI stderr, the app's Data page), so a choice is never silent.
    """
    if task is not None:
        if task not in (CLASSIFICATION, REGRESSION):
            raise DataError(f"The task must be {CLASSIFICATION!r} or {REGRESSION!r}, got {task!r}.")
        return task, f"Task: {task} (chosen explicitly)."
    s = pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return CLASSIFICATION, "Task: classification (the labels are text or true/false)."
    as_float = s.astype(float)
    if not (np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float))):
        return REGRESSION, "Task: regression (the labels are numbers with fractions)."
    distinct = int(s.nunique())
    if distinct <= MAX_CLASSES_FOR_INTEGER_LABELS:
        return CLASSIFICATION, f"Task: classification ({distinct} distinct integer labels)."
    return REGRESSION, (f"Task: regression, because the labels are integers with {distinct} distinct values "
                        f"(more than {MAX_CLASSES_FOR_INTEGER_LABELS}); choose the task 'classification' "
                        "(--task classification) if they are class codes.")


def encode_labels(values: pd.Series | np.ndarray, task: str | None = None) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Turn raw label values into (codes or floats, class names, task).

    The task comes from :func:`infer_task` unless ``task`` is given. Raises
    :class:`DataError` on missing labels or a single class.
    """
    s = pd.Series(values)
    if s.isna().any():
        bad = int(s.isna().sum())
        raise DataError(f"The label column has {bad} missing (NaN/empty) value(s); fill or drop those rows first.")
    if len(s) == 0:
        raise DataError("The dataset has no rows.")
    task, _ = infer_task(s, task)
    if task == REGRESSION:
        y = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise DataError("A regression label column must hold only finite numbers.")
        return y, (), REGRESSION
    uniques = np.asarray(pd.unique(s))
    try:
        uniques = np.sort(uniques)
    except TypeError:
        uniques = np.sort(uniques.astype(str))
        s = s.astype(str)
    if len(uniques) < 2:
        raise DataError(f"The label column has only one class ({str(uniques[0])!r}); "
                        "valuation needs at least two.")
    lookup = {u: i for i, u in enumerate(uniques.tolist())}
    codes = s.map(lookup).to_numpy(dtype=np.int64)
    names = tuple(str(u) for u in uniques.tolist())
    return codes, names, CLASSIFICATION
