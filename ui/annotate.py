"""Review's tags and notes: a tag button on every card (and a picker under the table) opens one sample's editor;
tags and the note show on the card and as table columns, and ``tag == x`` in the filter box finds them.

Each add, remove or note save is one event with an idempotency key minted when its button was drawn
(``Workspace.annotate``), so a replayed click writes once; what the editor and the cards show is read back
from the workspace after the write, and a refused write shows one line and the stored state.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dataval_core.decisions import new_event_key
from dataval_core.workspace import AccessError, DatasetRecord, WorkspaceError

from . import state

OPEN = "rv_annotate"
_ERROR = "rv_tag_error"


def stored(record: DatasetRecord) -> pd.DataFrame:
    """The tags and note in force per sample (``id``, ``tags``, ``note``, ``time``)."""
    return state.workspace().annotations(record.key)


def with_annotations(frame: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``tags`` (tuple) and a ``note`` column for its samples."""
    known = annotations.set_index("id") if len(annotations) else None
    out = frame.copy()
    if known is None:
        out["tags"] = [()] * len(out)
        out["note"] = ""
        return out
    out["tags"] = [t if isinstance(t, tuple) else () for t in known["tags"].reindex(out["id"])]
    out["note"] = known["note"].reindex(out["id"]).fillna("").to_numpy(dtype=object)
    return out


def card_text(rec: Mapping[Any, Any]) -> str:
    """The tags and the note's start on a card (empty when it has neither)."""
    tags = " ".join(f":blue-badge[{t}]" for t in rec.get("tags") or ())
    note = str(rec.get("note") or "")
    short = (note[:60] + "…") if len(note) > 60 else note
    note_md = f":gray[✎ {short.replace('[', '(').replace(']', ')')}]" if note else ""
    return "  \n".join(p for p in (tags, note_md) if p)


def open_editor(sample_id: str) -> None:
    """Callback of a card's tag button: open the sample's tags-and-note editor (open until Done or dismissed,
    so the page's own reruns keep it)."""
    st.session_state[OPEN] = sample_id
    st.session_state.pop(_ERROR, None)


def _write(record: DatasetRecord, sample_id: str, event: str, **change: Any) -> None:
    try:
        state.workspace().annotate(record.key, state.session_id(), sample_id, event=event, **change)
    except (ValueError, AccessError, WorkspaceError, sqlite3.Error, OSError) as exc:
        st.session_state[_ERROR] = f"Not saved: {exc}"
        return
    st.session_state.pop(_ERROR, None)


def _add(record: DatasetRecord, sample_id: str, key: str, event: str) -> None:
    tag = (st.session_state.get(key) or "").strip()
    if tag:
        _write(record, sample_id, event, add=[tag])
        if not st.session_state.get(_ERROR):
            st.session_state[key] = ""


def _save_note(record: DatasetRecord, sample_id: str, key: str, event: str) -> None:
    _write(record, sample_id, event, note=st.session_state.get(key) or "")


def close_editor() -> None:
    """The editor's Done button and its dismissal (×, Esc, a click outside): it stays closed on later runs."""
    st.session_state.pop(OPEN, None)
    st.session_state.pop(_ERROR, None)


@st.dialog("Tags and note", on_dismiss=close_editor)
def editor(record: DatasetRecord, sample_id: str) -> None:
    """One sample's tags (remove with ×, add by typing or from the tags in use) and note."""
    found = stored(record)
    mine = found[found["id"] == sample_id]
    tags = mine["tags"].iloc[0] if len(mine) else ()
    note = str(mine["note"].iloc[0]) if len(mine) else ""
    st.markdown(f"`{sample_id}`")
    if st.session_state.get(_ERROR):
        st.error(st.session_state[_ERROR], icon=":material/error:")
    with st.container(horizontal=True, gap="small", key="rv_tag_list"):
        if not tags:
            st.caption("No tags yet.")
        for i, tag in enumerate(tags):
            st.button(tag, key=f"rv_tag_rm_{i}", icon=":material/close:", help=f"Remove the tag {tag}.",
                      on_click=_write, args=(record, sample_id, new_event_key()), kwargs={"remove": [tag]})
    in_use = [t for t in state.workspace().tag_names(record.key) if t.lower() not in {x.lower() for x in tags}]
    if in_use:
        with st.container(horizontal=True, gap="small", key="rv_tag_used"):
            for i, tag in enumerate(in_use[:12]):
                st.button(f"+ {tag}", key=f"rv_tag_use_{i}", type="tertiary", on_click=_write,
                          args=(record, sample_id, new_event_key()), kwargs={"add": [tag]})
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="rv_tag_new"):
        st.text_input("New tag", key="rv_tag_text", placeholder="e.g. blurry", max_chars=40)
        st.button("Add tag", key="rv_tag_add", icon=":material/sell:", on_click=_add,
                  args=(record, sample_id, "rv_tag_text", new_event_key()))
    note_key = f"rv_note_{sample_id}_{abs(hash(note))}"  # a fresh box whenever the stored note changes
    st.text_area("Note", value=note, key=note_key, max_chars=2000, height=100)
    left, right = st.columns(2)
    left.button("Save note", key="rv_note_save", type="primary", on_click=_save_note,
                args=(record, sample_id, note_key, new_event_key()))
    if right.button("Done", key="rv_tag_done", on_click=close_editor):
        st.rerun()


def table_picker(page: pd.DataFrame) -> None:
    """For the table view: open one row's tags and note."""
    if page.empty:
        return
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="rv_tag_pick_row"):
        pick = st.selectbox("Tags and note of", page["id"].tolist(), index=None, key="rv_tag_pick",
                            placeholder="a sample id on this page", width=260)
        st.button("Tags & note", key="rv_tag_go", icon=":material/sell:", disabled=pick is None,
                  on_click=open_editor, args=(pick,))
