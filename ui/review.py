"""The Review page's pieces: the sample table of one run, filters, cards and bulk actions.

Every keep / drop / relabel is written to the workspace in the widget's callback,
so a decision is saved the moment it is clicked. Widget keys include the sample's
current decision, so a bulk action redraws the affected cards with their new state.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dataval_core.dataset import Dataset
from dataval_core.result import ValuationResult
from dataval_core.workspace import DatasetRecord, RunRecord

from . import actions, grid, state

STATUS_FILTERS = ("Undecided", "All", "Dropped", "Relabeled", "Kept")
_STATUS_ACTION = {"Dropped": "drop", "Relabeled": "relabel", "Kept": "keep"}
KEEP, DROP = "Keep", "Drop"


@st.cache_resource(show_spinner=False, max_entries=16)
def _result(root: str, run_id: str) -> ValuationResult:
    return state.workspace().load_result(run_id)


def result(run: RunRecord) -> ValuationResult:
    """The values of a finished run (read once from the workspace, then kept)."""
    return _result(state.workspace_root(), run.run_id)


def review_frame(ds: Dataset, res: ValuationResult, decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per valued sample, lowest value first.

    Columns: id, label, value, rank, suggested, action (``None`` = undecided), new_label,
    and with injected noise ``noisy`` and ``original`` (the true label).
    """
    pos = pd.Index(ds.ids).get_indexer(res.ids)
    frame = pd.DataFrame({"id": res.ids, "label": ds.label_names()[pos].astype(str), "value": res.values,
                          "rank": res.ranks})
    frame["suggested"] = (res.suggested_labels if res.suggested_labels is not None
                          else np.full(len(frame), None, dtype=object))
    current = decisions.set_index("id")
    frame["action"] = current["action"].reindex(frame["id"]).to_numpy(dtype=object)
    frame["new_label"] = current["new_label"].reindex(frame["id"]).to_numpy(dtype=object)
    frame["action"] = frame["action"].where(frame["action"].notna(), None)
    if ds.noisy is not None:
        truth = ds.original_labels if ds.original_labels is not None else ds.labels
        frame["noisy"] = ds.noisy[pos]
        frame["original"] = ds.label_names(truth)[pos].astype(str)
    return frame.sort_values("rank", ignore_index=True)


def filter_frame(frame: pd.DataFrame, *, classes: Sequence[str], value_range: tuple[float, float] | None,
                 status: str, only_ids: Sequence[str] | None) -> pd.DataFrame:
    """Rows matching the page's filters (class, value range, decision status, chosen ids)."""
    keep = pd.Series(True, index=frame.index)
    if classes:
        keep &= frame["label"].isin(classes)
    if value_range is not None:
        keep &= frame["value"].between(*value_range)
    if status == STATUS_FILTERS[0]:
        keep &= frame["action"].isna()
    elif status in _STATUS_ACTION:
        keep &= frame["action"] == _STATUS_ACTION[status]
    if only_ids is not None:
        keep &= frame["id"].isin(set(only_ids))
    return frame[keep]


def _row(rec: pd.Series, run: RunRecord, action: str, new_label: Any = None) -> dict[str, Any]:
    return {"id": rec["id"], "action": action, "old_label": rec["label"], "new_label": new_label,
            "run_id": run.run_id, "method": run.method, "value": float(rec["value"]), "rank": int(rec["rank"])}


def _relabel_option(rec: pd.Series) -> str | None:
    sug = rec["suggested"]
    return f"→ {sug}" if sug is not None and sug == sug and str(sug) != rec["label"] else None


def _on_choice(record: DatasetRecord, run: RunRecord, rec: pd.Series, key: str) -> None:
    choice = st.session_state.get(key)
    if choice == DROP:
        actions.decide(record, [_row(rec, run, "drop")])
    elif choice is not None and choice.startswith("→ "):
        actions.decide(record, [_row(rec, run, "relabel", str(rec["suggested"]))])
    else:
        actions.decide(record, [_row(rec, run, "keep")])


def _on_label(record: DatasetRecord, run: RunRecord, rec: pd.Series, key: str) -> None:
    new = st.session_state.get(key)
    if new is None:
        actions.decide(record, [_row(rec, run, "keep")])
    else:
        actions.decide(record, [_row(rec, run, "relabel", new)])


def _card(i: int, rec: pd.Series, record: DatasetRecord, run: RunRecord, classes: Sequence[str], path: str) -> None:
    state_tag = f"{rec['action']}_{rec['new_label']}"
    sug = rec["suggested"]
    relabel = _relabel_option(rec)
    with st.container(key=f"card_{i}", border=True):
        st.image(grid.thumbnail(path), width=120)
        st.markdown(f"**#{rec['rank']}** · label **{rec['label']}**")
        notes = [f"value `{rec['value']:.3g}`",
                 f"suggested **{sug}**" if sug is not None and sug == sug else "no suggestion"]
        flip = f"  \n:orange[injected flip, truly {rec['original']}]" if "noisy" in rec and rec["noisy"] else ""
        st.caption(f"`{rec['id']}`  \n" + " · ".join(notes) + flip)
        options = [KEEP, DROP] + ([relabel] if relabel else [])
        current = {"keep": KEEP, "drop": DROP}.get(rec["action"])
        if rec["action"] == "relabel" and relabel and rec["new_label"] == str(sug):
            current = relabel
        key = f"rv_act_{run.run_id}_{rec['id']}_{state_tag}"
        st.segmented_control("Decision", options, default=current, key=key, label_visibility="collapsed",
                             on_change=_on_choice, args=(record, run, rec, key))
        if classes:
            others = [c for c in classes if c != rec["label"]]
            chosen = rec["new_label"] if rec["action"] == "relabel" and rec["new_label"] in others else None
            lkey = f"rv_lab_{run.run_id}_{rec['id']}_{state_tag}"
            st.selectbox("Relabel to", others, index=None if chosen is None else others.index(chosen),
                         placeholder="Relabel to…", key=lkey, on_change=_on_label, args=(record, run, rec, lkey),
                         label_visibility="collapsed", help="Pick a class to relabel this sample.")


def card_grid(page: pd.DataFrame, ds: Dataset, record: DatasetRecord, run: RunRecord, columns: int = 4) -> None:
    """Image cards for the rows of ``page`` (thumbnail, rank, value, label, suggestion, decision)."""
    paths = grid.image_paths(ds)
    classes = ds.classes
    records = [rec for _, rec in page.iterrows()]
    for row in range(0, len(records), columns):  # one st.columns per row keeps each row's cards aligned
        for col, (i, rec) in zip(st.columns(columns), enumerate(records[row:row + columns], start=row)):
            with col:
                _card(i, rec, record, run, classes, paths[rec["id"]])


def table_view(page: pd.DataFrame, ds: Dataset, key: str) -> list[str]:
    """The rows of ``page`` as a selectable table (with the sample's columns); returns selected ids."""
    shown = page[["rank", "id", "label", "suggested", "value", "action"] +
                 (["noisy"] if "noisy" in page else [])].copy()
    shown["action"] = shown["action"].fillna("—")
    if ds.table is not None:
        features = ds.table.set_index(ds.ids)[list(ds.feature_columns)[:12]]
        shown = shown.join(features, on="id")
    event = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key=key,
                         column_config={"value": st.column_config.NumberColumn(format="%.4g")})
    return shown["id"].iloc[event.selection.rows].tolist()


def bulk(record: DatasetRecord, run: RunRecord, rows: pd.DataFrame, action: str, new_label: str | None = None) -> int:
    """Apply one action to many samples (``new_label="suggested"`` accepts each suggestion)."""
    out = []
    for _, rec in rows.iterrows():
        if action == "relabel":
            target = rec["suggested"] if new_label == "suggested" else new_label
            if target is None or target != target or str(target) == rec["label"]:
                continue
            out.append(_row(rec, run, "relabel", str(target)))
        else:
            out.append(_row(rec, run, action))
    if out:
        actions.decide(record, out)
    return len(out)
