"""How a table's feature columns become numbers: the one encoding every table feature goes through.

Numeric and boolean columns are standardised; text and categorical columns with at most
:data:`MAX_ONE_HOT_LEVELS` distinct values are one-hot encoded; missing values are imputed
(numbers: the column median; text: an explicit ``<missing>`` level). The raw embedding
(:mod:`dataval_core.embeddings.raw`) and the clean features behind confusable label pairs
(:mod:`dataval_core.noise`) both use it, and :func:`table_encoding` states it for the UI.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import DataError, Dataset

#: text columns with more distinct values than this are not one-hot encoded (ids, free text)
MAX_ONE_HOT_LEVELS = 50
_MISSING = "<missing>"


@dataclass(frozen=True)
class EncodedTable:
    """A table's features as a float32 matrix (n_rows, d), its column names and what was imputed or skipped."""

    x: np.ndarray
    columns: tuple[str, ...]
    notes: tuple[str, ...]


def _is_number(s: pd.Series) -> bool:
    return bool(pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s))


def encode_table(table: pd.DataFrame, columns: Sequence[str]) -> EncodedTable:
    """Encode ``columns`` of ``table``, one block of matrix columns per table column, in order.

    Raises:
        DataError: no columns, or none of them usable (all empty or free text).
    """
    if not columns:
        raise DataError("The table has no feature columns besides the label.")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    skipped: list[str] = []
    for col in columns:
        s = table[col]
        if _is_number(s):
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
            text = s.astype("string").fillna(_MISSING)
            levels = sorted(str(v) for v in pd.unique(text))
            if len(levels) > MAX_ONE_HOT_LEVELS:
                skipped.append(col)
                continue
            if s.isna().any():
                notes.append(f"{col}: {int(s.isna().sum())} missing value(s) kept as a '{_MISSING}' category.")
            blocks.append((text.to_numpy()[:, None] == np.asarray(levels)[None, :]).astype(float))
            names += [f"{col}={lv}" for lv in levels]
    if skipped:
        notes.append("Not used as features (empty, or text with more than "
                     f"{MAX_ONE_HOT_LEVELS} distinct values): " + ", ".join(skipped) + ".")
    if not blocks:
        raise DataError("No usable feature columns: every column is empty or free text.")
    return EncodedTable(np.hstack(blocks).astype(np.float32), tuple(names), tuple(notes))


def table_encoding(dataset: Dataset) -> pd.DataFrame:
    """How :func:`encode_table` encodes each feature column of a table, for the UI to state.

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
        if _is_number(s):
            missing = int((~np.isfinite(s.astype(float).to_numpy())).sum())
            used = missing < len(s)
            rows.append((col, "standardised" if used else "not used", int(used), missing if used else 0))
        else:
            levels = s.astype("string").fillna(_MISSING).nunique()
            used = levels <= MAX_ONE_HOT_LEVELS
            rows.append((col, "one-hot" if used else "not used", int(levels) if used else 0,
                         int(s.isna().sum()) if used else 0))
    return pd.DataFrame(rows, columns=["column", "encoding", "features", "imputed"])
