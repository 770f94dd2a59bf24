"""Review's filter box: a line of the filter language of :mod:`dataval_core.filtering` over the review
table's columns, the dataset's own columns (features and metadata) and the samples' tags and notes.

The text lives in session state under :data:`WHERE` (kept per dataset and in the URL by
:mod:`ui.reviewstate`); the box that edits it has a fresh key per clearing, so a click that
the browser sends with the old text never brings a cleared filter back. Bad text shows one
line and filters nothing; it is never evaluated by Python.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from dataval_core.dataset import Dataset
from dataval_core.filtering import TAGS, FilterError, filter_mask, filter_source

from . import reviewstate

WHERE = "rv_where"
_GEN = "rv_where_gen"
EXAMPLE = "label == 3 and value < 0"


def box_key() -> str:
    """Key of the filter box: a new key per clearing (see :func:`ui.reviewstate.jump_key`)."""
    return f"rv_where_box_{st.session_state.get(_GEN, 0)}"


def _on_edit(key: str) -> None:
    st.session_state[WHERE] = (st.session_state.get(key) or "").strip()
    reviewstate.to_first_page()


def clear() -> None:
    """Callback of "Clear filter"."""
    st.session_state[_GEN] = st.session_state.get(_GEN, 0) + 1
    st.session_state[WHERE] = ""
    reviewstate.to_first_page()


def text() -> str:
    """The filter in force (empty: none)."""
    return str(st.session_state.get(WHERE) or "").strip()


def columns(frame: pd.DataFrame, ds: Dataset) -> list[str]:
    """The names a filter may use, for the box's help."""
    own = [str(c) for c in ds.table.columns if str(c) not in frame.columns] if ds.table is not None else []
    review = ["decision" if c == "action" else c for c in frame.columns if c not in ("truth_from",)]
    return [*review, *own, TAGS, "note"]


def box(names: Sequence[str]) -> None:
    """The filter box (drawn inside the Filters popover)."""
    key = box_key()
    listed = ", ".join(f"`{n}`" for n in names[:40]) + (", …" if len(names) > 40 else "")
    st.text_input("Filter", value=text(), key=key, on_change=_on_edit, args=(key,), placeholder=EXAMPLE,
                  help="Keep the samples matching tests like `species == Adelie and bill_length_mm > 40`: "
                       "==, !=, <, <=, >, >=, `contains`, `in (a, b)`, `is empty`, joined with `and`, `or`, "
                       "`not` and parentheses; text ignores case; `tag == blurry` finds a tag. "
                       f"Columns: {listed}.")


def apply(frame: pd.DataFrame, ds: Dataset, tags: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of ``frame`` the filter keeps, with one line saying what is in force (or why it is not)."""
    where = text()
    if not where:
        return frame
    left, right = st.columns([5, 1], vertical_alignment="center")
    right.button("Clear filter", key="rv_where_clear", on_click=clear)
    try:
        source = filter_source(frame, ds.table, ds.ids if ds.table is not None else None, tags)
        mask = filter_mask(source, where)
    except FilterError as exc:
        left.error(f"Filter not applied: {exc}", icon=":material/filter_alt_off:")
        return frame
    left.info(f"Filter `{where}`: {int(mask.sum()):,} of {len(frame):,} samples match.",
              icon=":material/filter_alt:")
    return frame[mask.to_numpy()]
