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
#: images are resized to at most this side for the raw pixel matrix
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


def _image_features(dataset: Dataset) -> FeatureMatrix:
    from ..images import image_mode_for, load_image_matrix, open_image

    paths = dataset.image_paths()
    with open_image(paths[0]) as first:
        side = min(max(first.size), MAX_RAW_IMAGE_SIDE)
    mode = image_mode_for(paths)
    x = load_image_matrix(paths, side, mode)
    channels = 1 if mode == "L" else 3
    notes = (f"Images resized to {side}x{side} {'grayscale' if channels == 1 else 'RGB'} pixels in [0, 1].",)
    return FeatureMatrix(x.astype(np.float32), (), (channels, side, side), notes)
