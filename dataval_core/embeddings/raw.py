"""The ``raw`` feature matrix of a dataset: what methods see before any embedding.

Tables: numeric and boolean columns standardised; low-cardinality text/categorical
columns one-hot encoded; missing values imputed (numeric: column median,
categorical: an explicit "missing" category) — the policy is returned so the UI
can state it. Images: pixels in [0, 1], resized to a common small size.
Injected Gaussian feature noise (``Dataset.feature_noise``) is added here, so the
stored table/images stay the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..dataset import IMAGE, DataError, Dataset

#: text columns with more distinct values than this are not one-hot encoded (ids, free text)
MAX_ONE_HOT_LEVELS = 50
#: images are resized to the median side, at most this, for the raw pixel matrix
MAX_RAW_IMAGE_SIDE = 32


@dataclass(frozen=True)
class FeatureMatrix:
    """A float32 matrix for all rows of a dataset, plus how it was made."""

    x: np.ndarray
    columns: tuple[str, ...]
    image_shape: tuple[int, int, int] | None
    notes: tuple[str, ...]


def raw_features(dataset: Dataset, columns: list[str] | None = None) -> FeatureMatrix:
    """Build the raw matrix (n_rows, d) for every row, valued and target alike."""
    if dataset.modality == IMAGE:
        fm = _image_features(dataset)
    else:
        fm = _table_features(dataset, list(columns) if columns is not None else list(dataset.feature_columns))
    if dataset.feature_noise is not None and np.any(dataset.feature_noise > 0):
        x = fm.x.copy()
        rng = np.random.default_rng(int(dataset.meta.get("feature_noise_seed", 0)))
        noise = rng.standard_normal(x.shape).astype(np.float32)
        scale = dataset.feature_noise.astype(np.float32)[:, None]
        # pixels live in [0, 1], so image noise is in pixel units; table columns are standardised
        x += noise * scale
        if fm.image_shape is not None:
            np.clip(x, 0.0, 1.0, out=x)
        fm = FeatureMatrix(x, fm.columns, fm.image_shape,
                           fm.notes + (f"Gaussian feature noise added to {int((scale > 0).sum())} rows.",))
    return fm


def _table_features(dataset: Dataset, columns: list[str]) -> FeatureMatrix:
    if dataset.table is None:
        raise DataError("This dataset has no table.")
    if not columns:
        raise DataError("The table has no feature columns besides the label.")
    table = dataset.table[columns]
    blocks: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    skipped: list[str] = []
    for col in columns:
        s = table[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            v = s.astype(float).to_numpy()
            missing = ~np.isfinite(v)
            if missing.all():
                skipped.append(col)
                continue
            if missing.any():
                v = np.where(missing, np.nanmedian(np.where(missing, np.nan, v)), v)
                notes.append(f"{col}: {int(missing.sum())} missing value(s) imputed with the median.")
            sd = v.std()
            blocks.append(((v - v.mean()) / (sd if sd > 0 else 1.0))[:, None])
            names.append(col)
        else:
            text = s.astype("string").fillna("<missing>")
            levels = pd.unique(text)
            if len(levels) > MAX_ONE_HOT_LEVELS:
                skipped.append(col)
                continue
            if s.isna().any():
                notes.append(f"{col}: {int(s.isna().sum())} missing value(s) kept as a '<missing>' category.")
            names = sorted(str(v) for v in levels)
            blocks.append((text.to_numpy()[:, None] == np.asarray(names)[None, :]).astype(float))
            names += [f"{col}={lv}" for lv in levels]
    if skipped:
        notes.append("Not used as features (empty, or text with more than "
                     f"{MAX_ONE_HOT_LEVELS} distinct values): " + ", ".join(skipped) + ".")
    if not blocks:
        raise DataError("No usable feature columns: every column is empty or free text.")
    x = np.hstack(blocks).astype(np.float32)
    return FeatureMatrix(x, tuple(names), None, tuple(notes))


def table_encoding(dataset: Dataset) -> pd.DataFrame:
    """How :func:`raw_features` encodes each feature column of a table, for the UI to state.

    Returns:
        One row per feature column: ``column``, ``encoding`` (``standardised``,
        ``one-hot`` or ``not used``), ``features`` (matrix columns it becomes),
        ``imputed`` (cells filled: the median for numbers, a ``<missing>`` level for text).
    """
    if dataset.table is None:
        return pd.DataFrame(columns=["column", "encoding", "features", "imputed"])
    rows = []
    for col in dataset.feature_columns:
        s = dataset.table[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            missing = int((~np.isfinite(s.astype(float).to_numpy())).sum())
            used = missing < len(s)
            rows.append((col, "standardised" if used else "not used", int(used), missing if used else 0))
        else:
            levels = s.astype("string").fillna("<missing>").nunique()
            used = levels <= MAX_ONE_HOT_LEVELS
            rows.append((col, "one-hot" if used else "not used", int(levels) if used else 0,
                         int(s.isna().sum()) if used else 0))
    return pd.DataFrame(rows, columns=["column", "encoding", "features", "imputed"])


def _image_features(dataset: Dataset) -> FeatureMatrix:
    from ..images import common_side, image_mode_for, image_sizes, load_image_matrix, resize_note

    paths = dataset.image_paths()
    sizes = image_sizes(paths)
    side = common_side(sizes, MAX_RAW_IMAGE_SIDE)
    mode = image_mode_for(paths)
    x = load_image_matrix(paths, side, mode)
    channels = 1 if mode == "L" else 3
    kind = "Grayscale" if channels == 1 else "RGB"
    notes = (f"{resize_note(sizes, side, MAX_RAW_IMAGE_SIDE)} {kind} pixels in [0, 1].",)
    return FeatureMatrix(x.astype(np.float32), (), (channels, side, side), notes)
