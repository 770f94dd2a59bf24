"""The Data page's pieces: the label column's guess, the columns to leave out, and how a loaded table is
encoded for the methods, in words."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from dataval_core import io as engine_io
from dataval_core.dataset import Dataset
from dataval_core.tabular import MAX_ONE_HOT_LEVELS, table_encoding


@st.cache_data(show_spinner=False, max_entries=16)
def label_guess(path: str) -> tuple[str | None, str]:
    """The engine's guess of an uploaded table's label column (None when unsure) and its one-sentence reason.

    Uploads are stored content-addressed, so the path is a safe cache key.
    """
    guess = engine_io.guess_table_label(path)
    return guess.column, guess.reason


def leave_out_choices(ds: Dataset) -> tuple[list[str], list[str]]:
    """The columns the user may leave out of the features (all but the label and id), and those left out
    by default: the loader's proposals (truth-like, ids, free text; ``meta["left_out"]``)."""
    if ds.table is None:
        return [], []
    skip = {ds.label_column, ds.meta.get("id_column")}
    columns = [c for c in ds.table.columns if c not in skip]
    proposed = ds.meta.get("left_out", {})
    return columns, [c for c in columns if str(c) in proposed]


@dataclass(frozen=True)
class EncodingSummary:
    """One line for the page and the per-column table behind it."""

    line: str
    table: pd.DataFrame


def _names(cols: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"`{c}`" for c in cols[:limit])
    return shown + (f" and {len(cols) - limit} more" if len(cols) > limit else "")


def encoding_summary(ds: Dataset) -> EncodingSummary:
    """Which columns the raw features standardise, one-hot encode, impute or leave out, and how many cells."""
    table = table_encoding(ds)
    by = {kind: table.loc[table["encoding"] == kind, "column"].astype(str).tolist()
          for kind in ("standardised", "one-hot", "not used")}
    imputed = table[table["imputed"] > 0]
    empty, infinite = {}, {}  # column -> cells: empty ones, and ±inf in numeric columns (both get the median)
    for col, cells in zip(imputed["column"], imputed["imputed"]):
        s = ds.table[col] if ds.table is not None else pd.Series(dtype=object)
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        inf = int(np.isinf(s.astype(float).to_numpy()).sum()) if numeric else 0
        if inf:
            infinite[str(col)] = inf
        if cells - inf:
            empty[str(col)] = int(cells - inf)
    parts = [f"**How the methods see this table** (raw features): "
             f"{len(by['standardised'])} numeric column(s) standardised"]
    if by["one-hot"]:
        parts.append(f"{len(by['one-hot'])} text column(s) one-hot encoded ({_names(by['one-hot'])}) into "
                     f"{int(table.loc[table['encoding'] == 'one-hot', 'features'].sum()):,} features")
    if empty:
        parts.append(f"{sum(empty.values()):,} empty cell(s) imputed in {_names(list(empty))}"
                     " (numbers: the column median; text: a '<missing>' level)")
    else:
        parts.append("no empty cells")
    if infinite:
        parts.append(f"{sum(infinite.values()):,} infinite value(s) (±inf) replaced by the column median in "
                     f"{_names(list(infinite))}")
    if by["not used"]:
        parts.append(f"not used: {_names(by['not used'])} (empty, or text with more than {MAX_ONE_HOT_LEVELS} "
                     "distinct values)")
    return EncodingSummary("; ".join(parts) + ".", table)

