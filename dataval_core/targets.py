"""Choosing the target (reference) set: the rows methods value against.

Four ways, each returning a new :class:`Dataset` (the input is never changed): no
reference at all, so every row is valued by cross-fitting (:func:`no_reference`, the
default of the CLI and the app), a stratified random fraction (:func:`split_target`), a
boolean column marking trusted rows (:func:`target_from_column`), or a separately loaded
file of the same schema appended as target rows (:func:`with_target_file`). A given
reference is trusted unless :func:`mark_reference` says it is noisy (then it is cleaned
before use, see :mod:`dataval_core.crossfit`). Choose the target before injecting noise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .dataset import CLASSIFICATION, IMAGE, REGRESSION, TABLE, DataError, Dataset

#: folds of the cross-fitting that values every row when no reference is given
DEFAULT_FOLDS = 5
#: how far a given reference is trusted: ``noisy`` is cleaned by a first pass before use
REFERENCE_TRUST = ("trusted", "noisy")
#: ids of rows appended from a target file start with this
TARGET_PREFIX = "target:"
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def _check_fresh(ds: Dataset) -> None:
    if ds.meta.get("target_file_rows"):
        raise DataError("This dataset already has target-file rows appended; start again from the loaded data.")
    if ds.noisy is not None and ds.noisy.any():
        raise DataError("Choose the target set before injecting noise, so that the target stays clean.")


def _restore_marker_column(ds: Dataset) -> tuple[str, ...]:
    """Feature columns with a previous target-marker column put back, in table order."""
    marker = ds.meta.get("target_column")
    if marker is None or ds.table is None or marker in ds.feature_columns:
        return ds.feature_columns
    keep = set(ds.feature_columns) | {marker}
    return tuple(c for c in ds.table.columns if c in keep)


def _without(meta, key: str) -> dict:
    return {k: v for k, v in meta.items() if k != key}


def _class_quotas(counts: np.ndarray, frac: float, total: int) -> np.ndarray:
    """Per-class target counts summing to ``total``: proportional, at least one per class of
    two or more rows, and always leaving one row of each class valued."""
    exact = counts * frac
    cap = np.where(counts >= 2, counts - 1, 0)
    quota = np.minimum(np.floor(exact).astype(int), cap)
    quota = np.where((quota == 0) & (cap > 0), 1, quota)
    remainder = exact - quota
    while quota.sum() < total and np.any(quota < cap):
        grow = np.where(quota < cap, remainder, -np.inf)
        i = int(np.argmax(grow))
        quota[i] += 1
        remainder[i] -= 1
    while quota.sum() > total and np.any(quota > 1):
        shrink = np.where(quota > 1, remainder, np.inf)
        i = int(np.argmin(shrink))
        quota[i] -= 1
        remainder[i] += 1
    return quota


def reference_mode(dataset: Dataset) -> str:
    """``"none"`` (no reference: cross-fitting), ``"trusted"`` or ``"noisy"`` (a given reference)."""
    if not dataset.is_target.any():
        return "none"
    return str(dataset.meta.get("reference", "trusted"))


def describe_mode(dataset: Dataset) -> str:
    """One sentence for the UI and the CLI: which reference mode is in use and how many rows are valued."""
    folds = int(dataset.meta.get("folds", DEFAULT_FOLDS))
    n, n_ref = len(dataset), int(dataset.is_target.sum())
    rows = "images" if dataset.modality == "image" else "rows"
    mode = reference_mode(dataset)
    if mode == "none":
        return f"No trusted reference: all {n:,} {rows} are valued in {folds} rotating folds."
    source = dataset.meta.get("target", "given")
    trust = "Noisy reference, cleaned first of what a first pass suspects" if mode == "noisy" else "Trusted reference"
    if dataset.meta.get("target_file_rows"):
        return f"{trust}: all {n - n_ref:,} {rows} are valued against {n_ref:,} {rows} of a separate file."
    return (f"{trust} ({source}): {n - n_ref:,} {rows} are valued; {n_ref:,} {rows} are not valued because "
            "they are the reference.")


def stratified_folds(y: np.ndarray, task: str, folds: int, seed: int) -> np.ndarray:
    """Fold number per row: each class (regression: each value quantile) dealt round the folds in a seeded order."""
    rng = np.random.default_rng([seed, 41])
    n = len(y)
    if task == CLASSIFICATION:
        groups = np.asarray(y, dtype=np.int64)
    else:
        groups = np.minimum(rankdata(y, method="ordinal") * folds // (n + 1), folds - 1)
    fold = np.empty(n, dtype=np.int64)
    offset = 0
    for g in np.unique(groups):
        rows = rng.permutation(np.flatnonzero(groups == g))
        fold[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)  # the next class starts where this one stopped, so fold sizes stay even
    return fold



def no_reference(ds: Dataset, folds: int = DEFAULT_FOLDS) -> Dataset:
    """No reference set: every row is valued, in ``folds`` rotating folds (:mod:`dataval_core.crossfit`).

    Raises:
        DataError: ``folds`` out of range, or noise already injected.
    """
    if not 2 <= folds <= 20:
        raise DataError(f"The number of cross-fitting folds must be from 2 to 20, got {folds}.")
    _check_fresh(ds)
    if ds.task == CLASSIFICATION and np.all(np.bincount(np.asarray(ds.labels, dtype=int)) <= 1):
        rows = "images" if ds.modality == IMAGE else "rows"
        raise DataError(f"Every class has a single {rows[:-1]} ({len(ds)} {rows}, {ds.n_classes} classes), so no "
                        f"{rows[:-1]} can be checked against others of its class; each class needs at least 2 {rows}.")
    meta = {**_without(_without(ds.meta, "target_column"), "reference"), "folds": folds,
            "target": f"none: every row is valued in {folds} rotating folds"}
    return ds.replace(is_target=np.zeros(len(ds), dtype=bool), feature_columns=_restore_marker_column(ds), meta=meta)


def mark_reference(ds: Dataset, trust: str) -> Dataset:
    """Say how far the given reference is trusted: ``"trusted"`` (used as is) or ``"noisy"`` (cleaned first).

    Raises:
        DataError: an unknown ``trust``, or no reference rows to mark.
    """
    if trust not in REFERENCE_TRUST:
        raise DataError(f"The reference must be 'trusted' or 'noisy', got {trust!r}.")
    if not ds.is_target.any():
        raise DataError("There is no reference to mark as trusted or noisy; give a target file, column or fraction.")
    return ds.replace(meta={**ds.meta, "reference": trust})


def split_target(ds: Dataset, frac: float = 0.2, seed: int = 0) -> Dataset:
    """Hold out a seeded random fraction of the rows as the target set.

    Classification is stratified by label: each class contributes about ``frac``
    of its rows, at least one when it has two or more, and keeps at least one
    valued row. Regression draws plain random rows. The same seed gives the same split.

    Args:
        ds: the loaded dataset (no noise injected yet).
        frac: fraction of rows in the target set, in (0, 1).
        seed: random seed.

    Returns:
        A copy with ``is_target`` set (about ``round(frac * n)`` rows).

    Raises:
        DataError: ``frac`` out of range, too few rows, or noise already injected.
    """
    if not 0 < frac < 1:
        raise DataError(f"The target fraction must be between 0 and 1 (exclusive), got {frac}.")
    _check_fresh(ds)
    n = len(ds)
    rows = "images" if ds.modality == IMAGE else "rows"
    if n < 3:
        raise DataError(f"At least 3 {rows} are needed to hold out a target set; this dataset has {n}.")
    total = min(max(int(round(frac * n)), 1), n - 2)
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    if ds.task == REGRESSION:
        mask[rng.choice(n, size=total, replace=False)] = True
    else:
        labels = np.asarray(ds.labels, dtype=int)
        counts = np.bincount(labels, minlength=ds.n_classes)
        quotas = _class_quotas(counts, frac, total)
        if quotas.sum() == 0:
            raise DataError(f"Every class has a single {rows[:-1]} ({n} {rows}, {ds.n_classes} classes), so none can "
                            f"be held out as a target while keeping one to value; each class needs at least 2 {rows}.")
        for c, k in enumerate(quotas):
            if k:
                mask[rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)] = True
    meta = {**_without(ds.meta, "target_column"), "target": f"{frac:.0%} stratified random hold-out (seed {seed})"
            if ds.task == CLASSIFICATION else f"{frac:.0%} random hold-out (seed {seed})"}
    return ds.replace(is_target=mask, feature_columns=_restore_marker_column(ds), meta=meta)


def _as_bool(column: pd.Series, name: str) -> np.ndarray:
    if column.isna().any():
        raise DataError(f"Target column {name!r} has {int(column.isna().sum())} missing value(s); "
                        "mark every row true or false.")
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=bool)
    text = column.astype(str).str.strip().str.lower()
    unknown = sorted(set(text) - _TRUE - _FALSE)
    if unknown:
        raise DataError(f"Target column {name!r} is not boolean-like (values such as {unknown[0]!r}); "
                        "use true/false, yes/no or 1/0.")
    return text.isin(_TRUE).to_numpy()


def target_from_column(ds: Dataset, column: str) -> Dataset:
    """Use a boolean-like table column to mark the trusted (target) rows.

    The column stops being a feature column (it describes trust, not the sample).

    Args:
        ds: a table dataset (no noise injected yet).
        column: a column of true/false, yes/no or 1/0 values; true marks a target row.

    Returns:
        A copy with ``is_target`` from the column.

    Raises:
        DataError: not a table, unknown column, the label/id column, values that are
            not boolean-like, or a split that leaves either side empty.
    """
    _check_fresh(ds)
    if ds.modality != TABLE or ds.table is None:
        raise DataError("A target column needs a table dataset; for images use a fraction or a target file.")
    if column not in ds.table.columns:
        raise DataError(f"Target column {column!r} not found; available columns: "
                        f"{', '.join(map(str, ds.table.columns))}.")
    if column in (ds.label_column, ds.meta.get("id_column")):
        raise DataError(f"Column {column!r} is the label or id column; pick a boolean column of trusted rows.")
    mask = _as_bool(ds.table[column], column)
    if mask.all() or not mask.any():
        side = "valued" if mask.all() else "target"
        raise DataError(f"Target column {column!r} leaves the {side} set empty; it must mark some rows true "
                        "and some false.")
    features = tuple(c for c in _restore_marker_column(ds) if c != column)
    if not features:
        raise DataError(f"No feature columns are left once {column!r} marks the target set.")
    meta = {**ds.meta, "target_column": column, "target": f"rows where {column!r} is true"}
    return ds.replace(is_target=mask, feature_columns=features, meta=meta)


def _class_names_as_numbers(target: Dataset) -> np.ndarray:
    try:
        return np.asarray(target.classes, dtype=float)[target.labels]
    except ValueError:
        raise DataError("The target file's labels are not numbers, but the dataset is a regression task.") from None


def with_target_file(ds: Dataset, target_ds: Dataset) -> Dataset:
    """Append every row of a separately loaded dataset as target rows.

    The rows of ``ds`` all become valued rows. Appended ids get the prefix
    ``target:`` so they stay unique. Target labels are mapped onto ``ds``'s classes
    by name. For images, the appended files stay where they are: their folder is
    recorded in ``meta["image_roots"]`` and :meth:`Dataset.image_paths` resolves them.

    Args:
        ds: the dataset to value (no noise injected yet).
        target_ds: the target file, loaded with the same label (and task) settings.

    Returns:
        The combined dataset: ``len(ds) + len(target_ds)`` rows, the new ones targets.

    Raises:
        DataError: different modality, task or columns, or target classes that ``ds`` lacks.
    """
    _check_fresh(ds)
    if ds.modality != target_ds.modality:
        raise DataError(f"The target file holds {target_ds.modality}s but the dataset holds {ds.modality}s.")
    target_labels = target_ds.labels if target_ds.original_labels is None else target_ds.original_labels
    if ds.task == REGRESSION:
        if target_ds.task == REGRESSION:
            y_target = np.asarray(target_labels, dtype=float)
        else:
            y_target = _class_names_as_numbers(target_ds.replace(labels=target_labels))
        classes: tuple[str, ...] = ()
    else:
        if target_ds.task != CLASSIFICATION:
            raise DataError("The target file's labels look like a regression target, but the dataset has classes.")
        unknown = sorted(set(target_ds.classes) - set(ds.classes))
        if unknown:
            raise DataError(f"The target file has class(es) the dataset lacks: {', '.join(unknown[:10])}.")
        code_of = {c: i for i, c in enumerate(ds.classes)}
        remap = np.array([code_of[c] for c in target_ds.classes], dtype=np.int64)
        y_target = remap[np.asarray(target_labels, dtype=int)]
        classes = ds.classes
    n, m = len(ds), len(target_ds)
    changes: dict[str, Any] = dict(
        ids=np.concatenate([ds.ids, np.char.add(TARGET_PREFIX, target_ds.ids.astype(str))]),
        labels=np.concatenate([np.asarray(ds.labels), y_target.astype(np.asarray(ds.labels).dtype)]),
        classes=classes,
        is_target=np.concatenate([np.zeros(n, dtype=bool), np.ones(m, dtype=bool)]),
        feature_columns=_restore_marker_column(ds),
    )
    meta = {**_without(ds.meta, "target_column"), "target_file_rows": m, "target": f"{m} rows from {target_ds.name}"}
    if ds.modality == TABLE:
        changes["table"] = _append_table(ds, target_ds)
    else:
        meta["image_roots"] = {**dict(ds.meta.get("image_roots", {})), TARGET_PREFIX: str(target_ds.image_root)}
    if ds.original_labels is not None:
        changes["original_labels"] = np.concatenate([ds.original_labels, changes["labels"][n:]])
    if ds.feature_noise is not None:
        changes["feature_noise"] = np.concatenate([ds.feature_noise, np.zeros(m)])
    return ds.replace(meta=meta, **changes)


def _append_table(ds: Dataset, target_ds: Dataset) -> pd.DataFrame:
    assert ds.table is not None and target_ds.table is not None  # both are tables (modality checked)
    ours, theirs = list(map(str, ds.table.columns)), list(map(str, target_ds.table.columns))
    missing = [c for c in ours if c not in theirs]
    extra = [c for c in theirs if c not in ours]
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:10])}"] if missing else []) + \
                ([f"extra {', '.join(extra[:10])}"] if extra else [])
        raise DataError(f"The target file's columns differ from the dataset's: {'; '.join(parts)}.")
    if target_ds.label_column != ds.label_column:
        raise DataError(f"The target file was loaded with label {target_ds.label_column!r}, "
                        f"the dataset with {ds.label_column!r}.")
    return pd.concat([ds.table, target_ds.table[ds.table.columns]], ignore_index=True)


def load_target_file(ds: Dataset, path: str | Path, *, workdir: str | Path | None = None) -> Dataset:
    """Load a separate target file with ``ds``'s label, id column and task, and append it (:func:`with_target_file`).

    The CLI's ``--target`` and the app's "separate file" choice both come here, so their
    checks and messages are the same; every error names the target file.

    Raises:
        DataError: the file cannot be loaded, or does not match ``ds``; the message starts with its name.
    """
    from .io import load_dataset
    from .samples import load_sample

    name = str(path)
    try:
        if name.startswith("sample:"):
            target = load_sample(name.split(":", 1)[1])
        else:
            label = ds.label_column if ds.modality == TABLE else ds.meta.get("label_column")
            target = load_dataset(path, label=label, id_column=ds.meta.get("id_column"), task=ds.task,
                                  workdir=workdir)
        return with_target_file(ds, target)
    except DataError as exc:
        text = str(exc)
        raise DataError(f"Target file {Path(name).name}: {text[:1].lower() + text[1:]}") from None
