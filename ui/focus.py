"""Review's keyboard focus: one sample of the page has the focus (a ring on its card; named in the key bar);
← / → move it from card to card, and K / D / A decide the focused sample and move the focus on
to the next one (decide-and-advance); Z opens it in the lightbox.

The focus is a sample id in session state, never a position, so a decision that takes a card out of the view
(Undecided) cannot shift the focus onto a card nobody pointed at. Every key is a button with a ``shortcut``
whose callback carries the ids it was drawn with: a decision goes through the same one-event-per-press path
as a card's buttons (an idempotency key minted when the button was drawn, skipped when already so), so a key
pressed again before the page redrew names the same sample and writes it once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dataval_core.decisions import new_event_key
from dataval_core.workspace import DatasetRecord, RunRecord

from . import review

FOCUS = "rv_focus"
#: set by a key that moved the focus: the next run scrolls the focused card into view (once; a click elsewhere
#: on the page must not scroll it away)
SCROLL = "rv_focus_scroll"


def focused_index(ids: Sequence[str]) -> int | None:
    """Position on the page of the focused sample: the one in session state if it is on the page, else the first."""
    if not ids:
        return None
    current = st.session_state.get(FOCUS)
    return list(ids).index(current) if isinstance(current, str) and current in ids else 0


def step(ids: Sequence[str], current: str | None, by: int) -> str | None:
    """The id ``by`` places from ``current`` within ``ids``, clamped to the ends (the first id when ``current``
    is not among them)."""
    if not ids:
        return None
    if current is None or current not in ids:
        return ids[0]
    return ids[min(max(list(ids).index(current) + by, 0), len(ids) - 1)]


def _move(ids: list[str], current: str | None, by: int) -> None:
    st.session_state[FOCUS] = step(ids, current, by)
    st.session_state[SCROLL] = new_event_key()


def after_decision(ids: Sequence[str], decided: str) -> str | None:
    """Where the focus goes once ``decided`` is decided: the next sample on the page, else the one before."""
    if decided not in ids:
        return None
    at = list(ids).index(decided)
    return ids[at + 1] if at + 1 < len(ids) else (ids[at - 1] if at > 0 else decided)


def _decide(record: DatasetRecord, run: RunRecord, rec: Mapping[Any, Any], action: str, ids: list[str],
            event: str) -> None:
    """Callback of K / D / A: decide the sample the button was drawn for, then advance the focus."""
    if action == "relabel":
        if review._relabel_option(rec) is None:
            st.session_state[review.ERROR_KEY] = f"{rec['id']} has no suggestion that differs from its label."
            return
        row = review._row(rec, run, "relabel", str(rec["suggested"]))
    else:
        row = review._row(rec, run, action)
    review._save(record, [row], event, skip_unchanged=True)
    if not st.session_state.get(review.ERROR_KEY):
        st.session_state[FOCUS] = after_decision(ids, str(rec["id"]))
        st.session_state[SCROLL] = new_event_key()


def _zoom(sample_id: str | None) -> None:
    if sample_id is not None:
        st.session_state["rv_zoom"] = sample_id


def ring(page: pd.DataFrame, grid: bool) -> None:
    """Draw the focus ring on the focused card (grid view), and scroll that card into view when a key moved the
    focus (it may be below the window: ← / → go through the whole page)."""
    at = focused_index(page["id"].tolist())
    moved = st.session_state.pop(SCROLL, None)
    if grid and at is not None:
        st.html(f"<style>.st-key-card_{at} {{ outline: 3px solid #ff4b4b; outline-offset: 1px; }}</style>")
        if moved is not None:  # the script names only a position; the comment makes each move a new element
            st.html(f"<!-- {moved} --><script>(() => {{ let tries = 0; const go = () => {{"
                    f" const card = document.querySelector('.st-key-card_{int(at)}');"
                    " if (card) card.scrollIntoView({block: 'nearest'}); else if (tries++ < 50) setTimeout(go, 100);"
                    " }; go(); })();</script>", unsafe_allow_javascript=True)


def key_bar(record: DatasetRecord, run: RunRecord, page: pd.DataFrame, can_undo: bool, image: bool) -> None:
    """The key bar: ← / → move the focus; K / D / A decide the focused sample and advance; Z zooms; U undoes."""
    ids = page["id"].astype(str).tolist()
    at = focused_index(ids)
    rec = page.iloc[at].to_dict() if at is not None else None
    current = ids[at] if at is not None else None
    with st.container(horizontal=True, vertical_alignment="center", gap="small", key="rv_keys"):
        st.caption(f"**Focus** `{current}`:" if current is not None else "**Focus**:", width="content")
        for by, key, icon, text in ((-1, "Left", ":material/arrow_back:", "Previous sample (←)"),
                                    (1, "Right", ":material/arrow_forward:", "Next sample (→)")):
            st.button("", key=f"rv_focus_{key.lower()}", shortcut=key, icon=icon, type="tertiary",
                      disabled=rec is None, on_click=_move, args=(ids, current, by), help=text)
        for action, label, key, icon in (("keep", "Keep", "K", ":material/check:"),
                                         ("drop", "Drop", "D", ":material/delete:"),
                                         ("relabel", "Accept", "A", ":material/auto_fix_high:")):
            st.button(label, key=f"rv_key_{action}", shortcut=key, icon=icon, type="tertiary", disabled=rec is None,
                      on_click=_decide, args=(record, run, rec, action, ids, new_event_key()),
                      help=f"{label} the focused sample, then focus the next.")
        if image:
            st.button("", key="rv_key_zoom", shortcut="Z", icon=":material/zoom_in:", type="tertiary",
                      disabled=rec is None, on_click=_zoom, args=(current,),
                      help="Zoom: the focused sample's whole image, large (Z).")
        st.button("Undo", key="rv_undo", icon=":material/undo:", on_click=review.undo,
                  args=(record, new_event_key()), shortcut="U", disabled=not can_undo,
                  help="Sets back your latest decision or bulk action (also after a reload). The log keeps both.")
