"""The Review page's pieces: the sample table of one run, filters, cards, ticks and bulk actions.

Decisions are events, not widget values. Every keep / drop / relabel / reset is a
button whose ``on_click`` callback carries the action, the sample(s) and an
idempotency key minted when the button was drawn; the callback makes exactly one
write, and the workspace refuses a key it has seen, so a replayed click cannot write
twice. Nothing on a card holds a decision as widget state: what a card shows is read
from the workspace after the callbacks ran, so a failed write shows the old state
(and one line saying so). Buttons are triggers (true for one run only), so a rerun
never turns an old widget value into a write. (Cards used to hold their decision in
a ``segmented_control`` whose ``on_change`` wrote the value: a stale value of such a
widget, diffed by Streamlit into a "change" on a later rerun, wrote a decision nobody
clicked.) Callbacks run at the start of the next script run, so a click made while a
rerun is pending still lands. Bulk actions carry the ids they were drawn with (never
table positions), skip samples already in that state (a repeated click writes
nothing), and clear the ticks. Ticks are kept per sample id, not per row; a tick
widget drawn before the last bulk action is ignored.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dataval_core.calibration import CONFIDENT_SURE
from dataval_core.curation import given, user_truth
from dataval_core.dataset import Dataset
from dataval_core.decisions import new_event_key
from dataval_core.errors import one_line_error
from dataval_core.result import ValuationResult
from dataval_core.workspace import (
    UNDECIDED,
    AccessError,
    DatasetRecord,
    RunRecord,
    WorkspaceError,
)

from . import actions, annotate, grid, state
from .reviewstate import SORTS, STATUS_FILTERS

_STATUS_ACTION = {"Dropped": "drop", "Relabeled": "relabel", "Kept": "keep"}
KEEP, DROP = "Keep", "Drop"
ERROR_KEY = "rv_error"
TICKS = "rv_ticked"  # ids ticked for a bulk action (pinned to ids, cleared by every bulk action)
PENDING = "rv_pending"  # a page-wide bulk action waiting for confirmation


@st.cache_resource(show_spinner=False, max_entries=16)
def _result(root: str, run_id: str) -> ValuationResult:
    return state.workspace().load_result(run_id)


def result(run: RunRecord) -> ValuationResult:
    """The values of a finished run (read once from the workspace, then kept)."""
    return _result(state.workspace_root(), run.run_id)


def stored_decisions(record: DatasetRecord) -> tuple[pd.DataFrame, int]:
    """The current decision per sample as stored (read after this run's callbacks wrote), and the log's length."""
    log = state.workspace().decision_log(record.key)
    latest = log.drop_duplicates("id", keep="last")
    return latest[latest["action"] != UNDECIDED].reset_index(drop=True), len(log)


def best_run(runs: Sequence[RunRecord]) -> RunRecord:
    """The run Review opens on: the newest consensus run, else the newest non-random one, else the newest.

    ``runs`` are newest first.
    """
    for wanted in (lambda r: r.method == "consensus", lambda r: r.method != "random", lambda r: True):
        for r in runs:
            if wanted(r):
                return r
    raise ValueError("no runs")


def _has_suggestion(frame: pd.DataFrame) -> pd.Series:
    return frame["suggested"].map(given) & (frame["suggested"].astype(str)
                                                                           != frame["label"])


def filter_frame(frame: pd.DataFrame, *, classes: Sequence[str], value_range: tuple[float, float] | None = None,
                 status: str, only_ids: Sequence[str] | None, percentile_range: tuple[float, float] | None = None,
                 sort: str = SORTS[0]) -> pd.DataFrame:
    """Rows matching the page's filters (class, value or percentile range, decision status, chosen ids), sorted."""
    keep = pd.Series(True, index=frame.index)
    if classes:
        keep &= frame["label"].isin(classes)
    if value_range is not None:
        keep &= frame["value"].between(*value_range)
    if percentile_range is not None:
        keep &= frame["percentile"].between(*percentile_range)
    if status == STATUS_FILTERS[0]:
        keep &= frame["action"].isna()
    elif status in _STATUS_ACTION:
        keep &= frame["action"] == _STATUS_ACTION[status]
    if only_ids is not None:
        keep &= frame["id"].isin(set(only_ids))
    out = frame[keep]
    if sort == SORTS[1]:
        out = out.sort_values(["label", "rank"], kind="stable")
    elif sort == SORTS[2]:
        out = out.assign(_d=~_has_suggestion(out)).sort_values(["_d", "rank"], kind="stable").drop(columns="_d")
    elif sort == SORTS[3]:
        out = out.sort_values(["flagged_by", "rank"], ascending=[False, True], kind="stable")
    return out


def _row(rec: Mapping[Any, Any], run: RunRecord, action: str, new_label: Any = None) -> dict[str, Any]:
    return {"id": rec["id"], "action": action, "old_label": rec["label"], "new_label": new_label,
            "run_id": run.run_id, "method": run.method, "value": float(rec["value"]), "rank": int(rec["rank"])}


def _save(record: DatasetRecord, rows: list[dict[str, Any]], event: str, *, skip_unchanged: bool = False) -> int:
    """Write one decision event; on failure keep one line to show (the page then draws the stored, old state)."""
    try:
        n = actions.decide(record, rows, event=event, skip_unchanged=skip_unchanged)
    except (sqlite3.Error, OSError, ValueError) as exc:
        st.session_state[ERROR_KEY] = (f"Not saved: {_reason(exc)} The sample"
                                       f"{'s stay' if len(rows) > 1 else ' stays'} as before.")
        return 0
    st.session_state.pop(ERROR_KEY, None)
    return n


def _reason(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, (WorkspaceError, AccessError)) else one_line_error(exc)
    return text if text.endswith(".") else text + "."


def show_error() -> None:
    """The last failed write, if any, as one line."""
    if st.session_state.get(ERROR_KEY):
        st.error(st.session_state[ERROR_KEY], icon=":material/error:")


def _relabel_option(rec: Mapping[Any, Any]) -> str | None:
    sug = rec["suggested"]
    return f"→ {sug}" if given(sug) and str(sug) != rec["label"] else None


def _on_decide(record: DatasetRecord, run: RunRecord, rec: Mapping[Any, Any], action: str, new_label: str | None,
               event: str) -> None:
    """Callback of a card's decision button: the button's own action, written once (skipped if already so)."""
    _save(record, [_row(rec, run, action, new_label)], event, skip_unchanged=True)


#: the sample whose relabel picker (:func:`relabel_dialog`) is open
RELABEL = "rv_relabel_open"
_PICK = "rv_pick"


def open_relabel(sample_id: str) -> None:
    """Callback of a card's ✎ button: open the relabel picker for that sample."""
    st.session_state[RELABEL] = sample_id
    st.session_state.pop(_PICK, None)


def close_relabel() -> None:
    st.session_state.pop(RELABEL, None)


def _on_relabel(record: DatasetRecord, run: RunRecord, rec: Mapping[Any, Any], event: str) -> None:
    """Callback of the picker's "Relabel" button: relabel to the class picked (a pick alone writes nothing); the
    picker closes, and a refused write shows its one line on the page."""
    new = st.session_state.get(_PICK)
    if new is None or str(new) == rec["label"]:
        st.session_state[ERROR_KEY] = f"Pick a class other than {rec['label']} to relabel {rec['id']}."
        return
    _save(record, [_row(rec, run, "relabel", str(new))], event, skip_unchanged=True)
    close_relabel()


@st.dialog("Relabel", on_dismiss=close_relabel)
def relabel_dialog(record: DatasetRecord, run: RunRecord, frame: pd.DataFrame, sample_id: str,
                   classes: Sequence[str]) -> None:
    """Relabel one sample to a class picked from every other class."""
    rec = frame[frame["id"] == sample_id].iloc[0].to_dict()
    st.markdown(f"`{sample_id}` · label **{rec['label']}** · {_state_text(rec)}  \n{_suggestion_text(rec)}")
    others = [c for c in classes if str(c) != rec["label"]]
    pick = st.selectbox("New label", others, index=None, placeholder="Pick a class…", key=_PICK)
    if st.button("Relabel", key="rv_relabel_go", type="primary", disabled=pick is None, on_click=_on_relabel,
                 args=(record, run, rec, new_event_key())):
        st.rerun()


def _on_tick(sample_id: str, key: str, gen: int) -> None:
    if gen != st.session_state.get("rv_gen", 0):
        return  # a tick box drawn before the last bulk action (its value is stale): never a tick
    ticked = set(st.session_state.get(TICKS, ()))
    if st.session_state.get(key):
        ticked.add(sample_id)
    else:
        ticked.discard(sample_id)
    st.session_state[TICKS] = ticked


def _on_zoom(sample_id: str) -> None:
    st.session_state["rv_zoom"] = sample_id


#: the sample whose nearest neighbours the find-similar strip shows (``ui/similar.py``)
SIMILAR = "rv_similar"


def on_similar(sample_id: str) -> None:
    st.session_state[SIMILAR] = sample_id


def value_text(rec: Mapping[Any, Any]) -> str:
    """``p 3 · value -0.012``: the percentile (comparable across methods) beside the raw value."""
    return f"p {rec['percentile']:.0f} · value `{rec['value']:.3g}`"


def _suggestion_text(rec: Mapping[Any, Any]) -> str:
    """``suggests **7** (93% sure)``: the percentage only where it is calibrated (consensus runs)."""
    sug = rec["suggested"]
    if not given(sug):
        return "no suggestion"
    if str(sug) == rec["label"]:
        return "suggests its own label"
    conf = rec.get("confidence")
    return f"suggests **{sug}**" + (f" ({conf:.0%} sure)" if given(conf) else "")


#: what a card says about its stored decision
_STATE_TEXT = {"keep": ":green[**Kept**]", "drop": ":red[**Dropped**]", None: ":gray[undecided]"}


def _state_text(rec: Mapping[Any, Any]) -> str:
    if rec["action"] == "relabel":
        return f":blue[**Relabeled → {rec['new_label']}**]"
    return _STATE_TEXT.get(rec["action"], str(rec["action"]))


def _decision_button(label: str, key: str, chosen: bool, record: DatasetRecord, run: RunRecord,
                     rec: Mapping[Any, Any], action: str, new_label: str | None = None, **kw: Any) -> None:
    st.button(label, key=key, type="primary" if chosen else "secondary", on_click=_on_decide,
              args=(record, run, rec, action, new_label, new_event_key()), **kw)


@st.cache_resource(show_spinner=False, max_entries=16)
def _user_truth(root: str, key: str, _ds: Dataset) -> tuple[str, Any] | None:
    return user_truth(_ds)


def truth_of(record: DatasetRecord, ds: Dataset) -> tuple[str, Any] | None:
    """The user's own truth column of the dataset (read once per dataset; a manifest is read from disk)."""
    return _user_truth(state.workspace_root(), record.key, ds)


def truth_text(rec: Mapping[Any, Any]) -> str:
    """The user's own truth on a card (``is_mislabeled: True``), from the column left out of the features."""
    if not given(rec.get("truth")):
        return ""
    return f"  \n:violet[{rec['truth_from']}: **{rec['truth']}**]"


def _card(i: int, rec: Mapping[Any, Any], record: DatasetRecord, run: RunRecord, classes: Sequence[str],
          path: str, gen: int, prefix: str = "") -> None:
    """One card; ``prefix`` keeps the keys of a second set of cards (the find-similar strip) apart."""
    relabel = _relabel_option(rec)
    sid = rec["id"]
    with st.container(key=f"{prefix}card_{i}", border=True, width=CARD_PX):
        top = st.columns([3, 1], vertical_alignment="top", gap="small")
        top[0].image(grid.thumbnail(path), width=96)
        tick = f"{prefix}rv_tick_{gen}_{sid}"
        top[1].checkbox("Tick", value=sid in st.session_state.get(TICKS, ()), key=tick,
                        on_change=_on_tick, args=(sid, tick, gen),
                        label_visibility="collapsed", help="Tick for a bulk action.")
        top[1].button("", icon=":material/zoom_in:", key=f"{prefix}rv_zoom_{sid}", on_click=_on_zoom,
                      args=(sid,), help="Show the image larger.", type="tertiary")
        top[1].button("", icon=":material/join_inner:", key=f"{prefix}rv_similar_{sid}", on_click=on_similar,
                      args=(sid,), help="Find similar samples (nearest in this run's embedding).", type="tertiary")
        st.markdown(f"**#{rec['rank']}** · label **{rec['label']}**")
        flip = f"  \n:orange[injected flip, truly {rec['original']}]" if rec.get("noisy") else ""
        st.caption(f"`{sid}`  \n{value_text(rec)}  \n{_suggestion_text(rec)}{flip}{truth_text(rec)}")
        if rec.get("tags") or rec.get("note"):
            st.markdown(annotate.card_text(rec))
        # the decision as stored (read after this run's callbacks wrote): no widget holds it; undecided cards
        # say nothing (both buttons plain), which keeps them short
        if rec["action"] is not None:
            st.markdown(_state_text(rec))
        with st.container(horizontal=True, gap="small", key=f"{prefix}rv_do_{sid}"):
            # no help tooltips here: a tooltip adds a second button element inside each decision button
            _decision_button(KEEP, f"{prefix}rv_keep_{sid}", rec["action"] == "keep", record, run, rec, "keep",
                             width="stretch")
            _decision_button(DROP, f"{prefix}rv_drop_{sid}", rec["action"] == "drop", record, run, rec, "drop",
                             width="stretch")
        with st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"{prefix}rv_more_{sid}"):
            if relabel:
                chosen = rec["action"] == "relabel" and rec["new_label"] == str(rec["suggested"])
                _decision_button(relabel, f"{prefix}rv_sug_{sid}", chosen, record, run, rec, "relabel",
                                 str(rec["suggested"]), help=f"Relabel as {rec['suggested']}, the suggested label.")
            if classes:  # one picker for the page (relabel_dialog), not a class menu drawn in every card
                st.button("", icon=":material/edit:", key=f"{prefix}rv_relabel_{sid}", type="tertiary",
                          on_click=open_relabel, args=(sid,), help="Relabel this sample to a class you pick.")
            st.button("", icon=":material/sell:", key=f"{prefix}rv_tags_{sid}", type="tertiary",
                      on_click=annotate.open_editor, args=(sid,), help="Tags and a note for this sample.")
            if rec["action"] is not None:
                st.button("", icon=":material/restart_alt:", key=f"{prefix}rv_reset_{sid}", type="tertiary",
                          on_click=_on_decide, args=(record, run, rec, UNDECIDED, None, new_event_key()),
                          help="Set back to undecided.")


#: card width: a flex row of fixed-width cards wraps to fit any screen (4 a row at 1024 px, 5 at 1280, 7 at 1600)
CARD_PX = 150
_CARD_CSS = """<style>
[class*="st-key-rv_do_"] button, [class*="st-key-rv_more_"] button {
  padding: 0.1rem 0.4rem; min-height: 1.8rem; }
[class*="st-key-rv_do_"], [class*="st-key-rv_more_"] { flex-wrap: nowrap; }
[class*="st-key-card_"] { padding: 0.5rem; gap: 0.35rem; }
[class*="st-key-card_"] [data-testid="stCaptionContainer"] p { overflow-wrap: anywhere; }
[class*="st-key-card_"] [data-testid="stColumn"] [data-testid="stVerticalBlock"] { gap: 0.2rem; }
[class*="st-key-rv_zoom_"] button, [class*="st-key-rv_similar_"] button { min-height: 1.6rem; padding: 0 0.2rem; }
[class*="st-key-rv_more_"] { gap: 0.25rem; }
[class*="st-key-rv_more_"] [class*="st-key-rv_tags_"] button,
[class*="st-key-rv_more_"] [class*="st-key-rv_reset_"] button { padding: 0 0.1rem; }
</style>"""


def card_grid(page: pd.DataFrame, ds: Dataset, record: DatasetRecord, run: RunRecord, prefix: str = "") -> None:
    """Image cards for the rows of ``page`` (thumbnail, tick, zoom, similar, rank, percentile, suggestion, decision).

    ``prefix`` starts every key, for a second grid on the page (the find-similar strip)."""
    st.html(_CARD_CSS)
    paths = grid.image_paths(ds)
    gen = st.session_state.get("rv_gen", 0)
    with st.container(horizontal=True, gap="small", key=f"{prefix}rv_cards"):
        for i, rec in enumerate(page.to_dict("records")):
            _card(i, rec, record, run, ds.classes, paths[rec["id"]], gen, prefix)


@st.dialog("Sample", width="large")
def zoom_dialog(ds: Dataset, frame: pd.DataFrame, sample_id: str) -> None:
    """The lightbox: the whole image of ``sample_id`` at its own resolution, as wide as the dialog (a small
    image enlarged with sharp pixels), with its facts; the image's full-screen button shows it screen-sized."""
    rec = frame[frame["id"] == sample_id].iloc[0].to_dict()
    png, (w, h) = grid.full_image(grid.image_paths(ds)[sample_id])
    sharp = "image-rendering: pixelated;" if max(w, h) < grid.SHARP_BELOW_PX else ""
    # as wide as the dialog, but never taller than most of the window: the facts stay in view below it
    st.html(f"<style>[role=dialog] [data-testid=stImage] img {{ max-height: 72vh; object-fit: contain; {sharp} }}"
            "</style>")
    st.image(png, width="stretch")
    st.markdown(f"`{sample_id}` · label **{rec['label']}** · {value_text(rec)} · {_suggestion_text(rec)}"
                + truth_text(rec).replace("  \n", " · "))
    st.caption(f"Original {w:,} × {h:,} px. The image's full-screen button (top right, on hover) shows it "
               "screen-sized; Esc closes.")


_TABLE_DECISIONS = ("—", "keep", "drop", "relabel")
_NO_LABEL = "—"  # the table's "new label" when the row is not relabeled


def _on_table_edit(record: DatasetRecord, run: RunRecord, rows: list[dict[str, Any]], key: str, event: str) -> None:
    edits = (st.session_state.get(key) or {}).get("edited_rows", {})
    ticked = set(st.session_state.get(TICKS, ()))
    out = []
    for pos, change in edits.items():
        rec = rows[int(pos)]
        if "tick" in change:
            (ticked.add if change["tick"] else ticked.discard)(rec["id"])
        if "decision" in change or "new label" in change:
            decision = change.get("decision", rec["action"] or "—")
            new_label = change.get("new label", rec["new_label"])
            new_label = new_label if given(new_label) and new_label not in ("", _NO_LABEL) else None
            if decision == "relabel" and (new_label is None or new_label == rec["label"]):
                sug = rec["suggested"]
                new_label = str(sug) if given(sug) and str(sug) != rec["label"] else None
            if change.get("new label") not in (None, "", _NO_LABEL, rec["label"]):
                decision = "relabel"
            if decision == "relabel" and new_label is None:
                st.session_state[ERROR_KEY] = f"Pick a new label for {rec['id']} to relabel it."
                continue
            action = UNDECIDED if decision in ("—", None) else decision
            out.append(_row(rec, run, action, new_label if action == "relabel" else None))
    st.session_state[TICKS] = ticked
    # a fresh editor next run, drawn from the stored state: a refused edit does not stay on screen
    st.session_state["rv_table_gen"] = st.session_state.get("rv_table_gen", 0) + 1
    if out:  # the editor keeps its edits: the event names this editor and exactly these edits
        digest = hashlib.sha1(repr(sorted((str(p), sorted(c.items())) for p, c in edits.items())).encode())
        _save(record, out, f"{event}:{digest.hexdigest()[:16]}")


def table_view(page: pd.DataFrame, ds: Dataset, record: DatasetRecord, run: RunRecord, log_size: int = 0,
               prefix: str = "") -> None:
    """The rows of ``page`` as an editable table: tick a row for bulk actions, or set its decision in place.

    ``log_size``: rows in the dataset's decision log (part of the editor's key, so it never repeats)."""
    ticked = st.session_state.get(TICKS, set())
    # empty cells read empty or "—", never "None": text columns hold "", the confidence is text ("93%" or ""),
    # and a selectbox cell, which draws "" as None, holds "—"
    shown = pd.DataFrame({"tick": page["id"].isin(ticked), "decision": page["action"].fillna("—"),
                          "new label": page["new_label"].where(page["action"] == "relabel", _NO_LABEL)
                          .fillna(_NO_LABEL),
                          "rank": page["rank"], "percentile": page["percentile"], "value": page["value"],
                          "id": page["id"], "label": page["label"],
                          "suggested": page["suggested"].map(lambda v: str(v) if given(v) else ""),
                          "sure": page["confidence"].map(lambda c: f"{c:.0%}" if given(c) else ""),
                          "flagged by": page["flagged_by"]})
    if "noisy" in page:
        shown["noisy"] = page["noisy"]
    if "tags" in page:
        shown["tags"] = page["tags"].map(lambda t: "; ".join(t) if t else "")
        shown["note"] = page["note"]
    if "truth" in page and len(page):  # the user's own truth, beside the label (left out of the features)
        shown.insert(list(shown.columns).index("label") + 1, f"truth: {page['truth_from'].iloc[0]}",
                     page["truth"].map(lambda v: str(v) if given(v) else ""))
    if ds.table is not None:
        features = ds.table.set_index(ds.ids)[list(ds.feature_columns)[:12]]
        shown = shown.join(features, on="id", rsuffix=" (feature)")
    shown = shown.reset_index(drop=True)
    rows = page.to_dict("records")
    # the key changes with the rows shown, their decisions and the log's length (never repeats, so an editor
    # holding old edits is never drawn again), and an edit never lands on a row that moved
    digest = hashlib.sha1(repr((page["id"].tolist(), page["action"].tolist(), page["new_label"].tolist(),
                                sorted(ticked & set(page["id"])), log_size,
                                st.session_state.get("rv_table_gen", 0))).encode()).hexdigest()[:12]
    key = f"{prefix}rv_editor_{run.run_id}_{digest}"
    classes = [str(c) for c in ds.classes]
    st.data_editor(shown, hide_index=True, key=key, on_change=_on_table_edit,
                   args=(record, run, rows, key, new_event_key()),
                   disabled=[c for c in shown.columns if c not in ("tick", "decision", "new label")],
                   column_config={
                       "tick": st.column_config.CheckboxColumn("✓", help="Tick for a bulk action.", width="small"),
                       "decision": st.column_config.SelectboxColumn("decision", options=list(_TABLE_DECISIONS),
                                                                    required=True, width="small",
                                                                    help="— = undecided"),
                       "new label": st.column_config.SelectboxColumn("new label", options=[_NO_LABEL, *classes],
                                                                     width="small"),
                       "percentile": st.column_config.NumberColumn("pct", format="%.0f",
                                                                   help="0 = lowest value of this run"),
                       "value": st.column_config.NumberColumn(format="%.4g"),
                       "sure": st.column_config.TextColumn(
                           "sure", help="Calibrated chance that the suggested label is right (consensus runs "
                                        "only; no number where none was measured)")},
                   height=_table_height(len(shown)))


#: rows the table shows without scrolling inside it (a page of 24 fits whole; 100 scroll inside 35)
TABLE_ROWS = 35


def _table_height(rows: int) -> int:
    """Pixels for ``rows`` rows of the editor (35 px each plus its header), at most :data:`TABLE_ROWS` rows."""
    return 35 * (min(max(rows, 1), TABLE_ROWS) + 1) + 3


def bulk_rows(rows: pd.DataFrame, run: RunRecord, action: str, new_label: str | None = None,
              confident_only: bool = False) -> list[dict[str, Any]]:
    """Decision rows for one action on many samples (``new_label="suggested"`` accepts each suggestion)."""
    out = []
    for rec in rows.to_dict("records"):
        if action == "relabel":
            target = rec["suggested"] if new_label == "suggested" else new_label
            if not given(target) or str(target) == rec["label"]:
                continue
            conf = rec.get("confidence")
            confident = conf is not None and given(conf) and conf >= CONFIDENT_SURE
            if new_label == "suggested" and confident_only and not confident:
                continue
            out.append(_row(rec, run, "relabel", str(target)))
        else:
            out.append(_row(rec, run, action))
    return out


def _clear_ticks() -> None:
    st.session_state[TICKS] = set()
    st.session_state["rv_gen"] = st.session_state.get("rv_gen", 0) + 1


def apply_bulk(record: DatasetRecord, rows: list[dict[str, Any]], event: str) -> None:
    """Callback of a bulk button: one write of ``rows`` (those already in that state are skipped) as event
    ``event``, then clear the ticks (kept when the write failed)."""
    if (st.session_state.get(PENDING) or {}).get("event") == event:  # not a newer question asked meanwhile
        st.session_state.pop(PENDING, None)
    _save(record, rows, event, skip_unchanged=True)
    if not st.session_state.get(ERROR_KEY):
        _clear_ticks()


def ask_bulk(description: str, rows: list[dict[str, Any]], event: str) -> None:
    """Callback of a bulk button with nothing ticked: keep the action (its ids and its event key) until confirmed."""
    st.session_state[PENDING] = {"description": description, "rows": rows, "event": event}


def bulk(record: DatasetRecord, run: RunRecord, rows: pd.DataFrame, action: str, new_label: str | None = None,
         event: str | None = None) -> int:
    """Apply one action to many samples at once (for scripts and tests); returns rows written."""
    return _save(record, bulk_rows(rows, run, action, new_label), event or new_event_key(), skip_unchanged=True)


def undo(record: DatasetRecord, event: str) -> None:
    """Callback of Undo: set back the session's latest decision step (once per click)."""
    try:
        n = state.workspace().undo_last_step(record.key, state.session_id(), event=event)
    except (sqlite3.Error, OSError) as exc:
        st.session_state[ERROR_KEY] = f"Undo not saved: {_reason(exc)}"
        return
    st.session_state.pop(ERROR_KEY, None)
    st.session_state["rv_flash"] = f"Undone: {n:,} sample{'s' if n != 1 else ''} set back." if n else \
        "Nothing to undo."


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def bulk_bar(record: DatasetRecord, run: RunRecord, ds: Dataset, shown: pd.DataFrame, page: pd.DataFrame) -> None:
    """Bulk actions on the ticked samples, or on the page (after a confirmation); each button says how many.

    Drop, Keep and Accept sit in the row; relabelling to a chosen class and the "sure only" switch in a popover."""
    ticked = st.session_state.get(TICKS, set()) & set(shown["id"])
    targets = shown[shown["id"].isin(ticked)] if ticked else page
    scope = f"the {_plural(len(ticked), 'ticked sample')}" if ticked else f"this page ({_plural(len(page), 'sample')})"
    known = bool(shown["confidence"].notna().any())  # a calibrated confidence exists (a consensus run)
    confident = known and st.session_state.setdefault("rv_confident", True)
    offers: list[tuple[str, str | None, str, str]] = [("drop", None, f"Drop {len(targets):,}", ":material/delete:"),
              ("keep", None, f"Keep {len(targets):,}", ":material/check:")]
    if ds.task == "classification":
        n_sug = len(bulk_rows(targets, run, "relabel", "suggested", confident))
        offers.append(("relabel", "suggested", f"Accept {n_sug:,}", ":material/auto_fix_high:"))
    with st.container(horizontal=True, vertical_alignment="center", gap="small", key="rv_bulk"):
        st.markdown(f"**Bulk** on {scope}:", width="content")
        for action, new_label, label, icon in offers:
            _bulk_button(record, run, targets, action, new_label, label, icon, bool(ticked), confident)
        if ds.classes or ds.task == "classification":
            with st.popover("More", icon=":material/more_horiz:", key="rv_bulk_more",
                            help="Relabel all to a class; accept only suggestions shown as sure."):
                if ds.classes:
                    cls = st.selectbox("Relabel all as", ds.classes, key="rv_bulk_class")
                    _bulk_button(record, run, targets, "relabel", cls, f"Relabel {len(targets):,} as {cls}",
                                 ":material/label:", bool(ticked), confident)
                if ds.task == "classification":
                    st.toggle(f"Accept only suggestions ≥ {CONFIDENT_SURE:.0%} sure", key="rv_confident",
                              disabled=not known,
                              help=f"Accept only suggestions at least {CONFIDENT_SURE:.0%} sure (calibrated on "
                                   "injected label flips: of suggestions shown that sure, at least that share "
                                   "was right)." + ("" if known else " Only a consensus run has a calibrated "
                                                    "confidence."))
        if ticked:
            st.button("Clear ticks", key="rv_clear_ticks", on_click=_clear_ticks, type="tertiary")
    pending = st.session_state.get(PENDING)
    if pending:
        with st.container(border=True, key="rv_confirm"):
            st.warning(f"Nothing is ticked: **{pending['description']}**?", icon=":material/help:")
            a, b, _ = st.columns([1.4, 1, 4])
            a.button(f"Yes, {pending['description'].lower()}", key="rv_confirm_yes", type="primary",
                     on_click=apply_bulk, args=(record, pending["rows"], pending["event"]))
            b.button("Cancel", key="rv_confirm_no", on_click=lambda: st.session_state.pop(PENDING, None))


def _bulk_button(record: DatasetRecord, run: RunRecord, targets: pd.DataFrame, action: str, new_label: str | None,
                 label: str, icon: str, ticked: bool, confident: bool) -> None:
    rows = bulk_rows(targets, run, action, new_label, confident)
    key = f"rv_bulk_{action}_{new_label or ''}"
    if ticked or len(rows) <= 1:
        st.button(label, key=key, icon=icon, disabled=not rows, on_click=apply_bulk,
                  args=(record, rows, new_event_key()),
                  help=f"{label}: applies at once; Undo sets it back.")
    else:
        what = {"drop": "Drop", "keep": "Keep"}.get(action, "Relabel")
        desc = (f"{what} all {len(rows):,} samples on this page" if new_label != "suggested"
                else f"Accept {len(rows):,} suggestions on this page")
        if action == "relabel" and new_label != "suggested":
            desc += f" as {new_label}"
        st.button(label, key=key, icon=icon, disabled=not rows, on_click=ask_bulk,
                  args=(desc, rows, new_event_key()),
                  help="Nothing is ticked, so this acts on the whole page: you are asked first.")


def _turn_page(step: int, pages: int) -> None:
    st.session_state["rv_page"] = int(min(max(1, st.session_state.get("rv_page", 1) + step), pages))


def page_buttons(pages: int) -> None:
    """Previous / next page (keys P and N), drawn beside the page number."""
    st.button("", key="rv_key_prev", shortcut="P", type="tertiary", on_click=_turn_page, args=(-1, pages),
              icon=":material/chevron_left:", help="Previous page (P)")
    st.button("", key="rv_key_next", shortcut="N", type="tertiary", on_click=_turn_page, args=(1, pages),
              icon=":material/chevron_right:", help="Next page (N)")


def _review_cell(ids: list[str]) -> None:
    st.session_state["review_ids"] = list(ids)
    st.session_state["rv_status"] = "All"
    st.session_state["rv_page"] = 1


@st.cache_resource(max_entries=64, show_spinner=False)
def _overview_tables(root: str, record_key: str, run_id: str, log_size: int, _frame: pd.DataFrame):
    """The class summary (low share in percent) and the off-diagonal confusion cells with their figure (None
    when the run makes no suggestions), computed once per run and decision-log length: the overview is drawn
    on every rerun of the page, expanded or not. Read-only for callers; one object, not a copy per rerun, so the
    chart's spec (and with it the chart's selection) stays the same from one rerun to the next."""
    from dataval_core.curation import class_summary, label_confusion

    summary = class_summary(_frame)
    summary["low_share"] = 100 * summary["low_share"]  # a share (0-1) shown in percent
    conf = label_confusion(_frame)
    if conf.empty:
        return summary, None, None
    off = conf[conf["given"] != conf["suggested"]]
    return summary, off, (confusion_figure(off) if len(off) else None)


def overview(frame: pd.DataFrame, record: DatasetRecord, run: RunRecord, log_size: int) -> None:
    """Per-class summary of low values and decisions, and the given-vs-suggested confusion (click to review);
    ``log_size`` (the decision log's length) tells when the decisions in ``frame`` changed."""
    from dataval_core.curation import LOW_PERCENTILE

    summary, off, figure = _overview_tables(state.workspace_root(), record.key, run.run_id, log_size, frame)
    with st.expander("Overview: classes, and given vs suggested labels", icon=":material/table_chart:"):
        st.caption(f"**low** = samples in this run's lowest {LOW_PERCENTILE:.0f}% of values.")
        st.dataframe(summary, hide_index=True, key="rv_class_summary",
                     column_config={"low_share": st.column_config.ProgressColumn("low share", format="%.0f%%",
                                                                                 min_value=0, max_value=100)})
        if off is None:
            st.caption("This run makes no label suggestions.")
            return
        st.caption("Given label (rows) vs the run's suggestion (columns); the diagonal is left out. "
                   "Click a cell to review those samples.")
        if figure is None:
            st.caption("Every suggestion agrees with the given label.")
            return
        event = st.plotly_chart(figure, on_select="rerun", selection_mode="points",
                                key="rv_confusion", config={"displayModeBar": False})
        points = event.selection.points if event is not None else []
        if points:
            given, suggested = points[0]["customdata"][:2]
            cell = off[(off["given"] == given) & (off["suggested"] == suggested)].iloc[0]
            st.button(f"Review the {cell['count']:,} samples labeled {given}, suggested {suggested}",
                      key="rv_confusion_open", on_click=_review_cell, args=(cell["ids"],),
                      icon=":material/grid_view:")


def count_text_colours(counts: pd.Series) -> list[str]:
    """The colour of each count written on its square: dark on the pale squares (below half the largest count,
    on the white end of the "Reds" scale), white on the dark ones."""
    top = max(float(counts.max()), 1.0) if len(counts) else 1.0
    return ["white" if c / top >= 0.5 else "#31333f" for c in counts]


def confusion_figure(cells: pd.DataFrame):
    """Given (y) vs suggested (x) label as a grid of squares sized and coloured by count, with the count written."""
    import plotly.graph_objects as go

    labels = sorted(set(cells["given"]) | set(cells["suggested"]))
    fig = go.Figure(go.Scatter(
        x=cells["suggested"], y=cells["given"], mode="markers+text", text=cells["count"].astype(str),
        customdata=cells[["given", "suggested"]].to_numpy(), textfont={"color": count_text_colours(cells["count"])},
        marker={"symbol": "square", "size": 34, "color": cells["count"], "colorscale": "Reds", "cmin": 0,
                "line": {"width": 0}},
        hovertemplate="given %{y}, suggested %{x}: %{text} samples<extra></extra>"))
    # half a cell of room on every side and no zoom: the axis-end drag handles would otherwise sit on the
    # edge cells and swallow their clicks
    axis = {"type": "category", "categoryorder": "array", "categoryarray": labels, "fixedrange": True}
    span = [-0.5, len(labels) - 0.5]
    fig.update_layout(height=max(220, 40 * len(labels) + 90), margin={"t": 10, "l": 10, "r": 10, "b": 10},
                      xaxis={**axis, "title": "suggested", "side": "top", "range": span},
                      yaxis={**axis, "title": "given", "range": span[::-1]}, clickmode="event+select")
    return fig
