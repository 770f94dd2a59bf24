"""The Data page's pieces: how a loaded table is encoded for the methods, in words."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from dataval_core.curation import truth_columns
from dataval_core.dataset import Dataset
from dataval_core.embeddings.raw import MAX_ONE_HOT_LEVELS, table_encoding


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
    parts = [f"**How the methods see this table** (raw features): "
             f"{len(by['standardised'])} numeric column(s) standardised"]
    if by["one-hot"]:
        parts.append(f"{len(by['one-hot'])} text column(s) one-hot encoded ({_names(by['one-hot'])}) into "
                     f"{int(table.loc[table['encoding'] == 'one-hot', 'features'].sum()):,} features")
    if len(imputed):
        parts.append(f"{int(imputed['imputed'].sum()):,} empty cell(s) imputed in {_names(imputed['column'].tolist())}"
                     " (numbers: the column median; text: a '<missing>' level)")
    else:
        parts.append("no empty cells")
    if by["not used"]:
        parts.append(f"not used: {_names(by['not used'])} (empty, or text with more than {MAX_ONE_HOT_LEVELS} "
                     "distinct values)")
    return EncodingSummary("; ".join(parts) + ".", table)


#: column names that say "this row is known bad" (left out of the features by default)
_TRUTH_NAME = re.compile(r"bad|nois|mislab|wrong|error|flip|corrupt", re.IGNORECASE)


def truth_like(ds: Dataset) -> list[str]:
    """Feature columns that look like a known-bad marker: true/false-like values and a name that says so."""
    return [c for c in truth_columns(ds) if c in ds.feature_columns and _TRUTH_NAME.search(c)]
