"""The data-issue views of the Review page, the Data page's warning about reference copies, and the issues the
Export page's report shows.

Review's "Show" box picks a decision state of the run's own view (:mod:`ui.review`) or one issue type of
:mod:`dataval_core.data_issues`: conflicting duplicates, near duplicates, outliers or copies of reference rows,
each sorted by its score. The issues are computed once per dataset, embedding and seed as a background job
(``issues:<dataset>:<embedding>:<seed>``) in the embedding of the run Review shows.

A duplicate group is drawn side by side (images in a row, table rows as columns of one table) with one decision
for the whole group: keep all, keep the first and drop the other copies, drop all, or relabel all. A click is one
decision event (its idempotency key minted when the button was drawn) holding one row per member, which the
workspace writes in one transaction: all members change, or none. Outliers and reference copies get a decision
per row, through the same event path.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dataval_core import tasks
from dataval_core.data_issues import ISSUE_TITLES, DataIssues, dataset_issues, exact_reference_copies, issue_embedding
from dataval_core.dataset import Dataset
from dataval_core.decisions import UNDECIDED, new_event_key
from dataval_core.progress import RunState
from dataval_core.targets import TARGET_PREFIX
from dataval_core.workspace import AccessError, DatasetRecord, RunRecord, WorkspaceError

from . import actions, grid, progress, review, reviewstate, state

_KIND = {title: kind for kind, title in ISSUE_TITLES.items()}
GROUPS_PER_PAGE = 6
ROWS_PER_PAGE = 12
#: members drawn side by side in one group (larger groups list the rest by id)
MAX_SIDE_BY_SIDE = 6
#: a group decision: button label -> what each member gets
GROUP_ACTIONS = {"Keep all": "keep", "Keep first, drop copies": "keep_one", "Drop all": "drop"}
_STATE = {"keep": ":green[kept]", "drop": ":red[dropped]", None: ":gray[undecided]"}


def kind_of(choice: str) -> str:
    """The issue type of a "Show" choice (one of :data:`ui.reviewstate.SHOW_ISSUES`)."""
    return _KIND[choice]


def job_id(record: DatasetRecord, embedding: str, seed: int) -> str:
    return f"issues:{record.key}:{embedding}:{seed}"


def _job(record: DatasetRecord, run: RunRecord) -> tuple[str, str]:
    """The issues job of ``run``'s embedding (raw for a learned one) and that embedding."""
    embedding = issue_embedding(review.result(run).embedding or run.embedding)
    return job_id(record, embedding, run.seed), embedding


def issues_of(record: DatasetRecord, ds: Dataset, run: RunRecord) -> DataIssues | None:
    """The dataset's issues in ``run``'s embedding: started as a background job on first use; None (with the
    job's progress bar drawn) until it is done."""
    job, embedding = _job(record, run)
    if state.jobs().snapshot(job) is None:
        state.jobs().submit_task(job, tasks.as_task(dataset_issues, ds, embedding, seed=run.seed,
                                                    cache_dir=state.workspace().cache_dir))
    return progress.task_result(job, "Data issues")


def finished_issues(record: DatasetRecord, run: RunRecord | None) -> DataIssues | None:
    """The issues already computed for ``run``'s embedding, if any (for the report); never starts a job."""
    if run is None:
        return None
    job, _ = _job(record, run)
    snap = state.jobs().snapshot(job)
    return state.jobs().result(job) if snap is not None and snap.status == RunState.DONE else None


def report_issues(record: DatasetRecord) -> DataIssues | None:
    """The issues computed on Review for the run Review and Map show (else the run Review opens on), if any."""
    runs = actions.finished_runs(record)
    if not runs:
        return None
    by_id = {r.run_id: r for r in runs}
    selected = by_id.get(str(st.session_state.get(reviewstate.SELECTED_RUN, "")))
    return finished_issues(record, selected or review.best_run(runs))


@st.cache_data(show_spinner=False, max_entries=16)
def _reference_copies(root: str, key: str) -> int:
    return exact_reference_copies(state.workspace().load_dataset(key))


def reference_warning() -> None:
    """On the Data page: a warning when the current dataset's reference holds copies of valued rows."""
    current = state.current()
    if current is None or not current[1].is_target.any():
        return
    n = _reference_copies(state.workspace_root(), current[0].key)
    if n:
        st.warning(f"The reference of **{current[0].name}** holds exact copies of {n:,} valued "
                   f"{'row' if n == 1 else 'rows'}: those rows are valued against themselves, which inflates their "
                   "value. Review them under Review → Show: Copies of reference rows (which finds near copies "
                   "too), or choose another reference.", icon=":material/content_copy:")


def show(record: DatasetRecord, ds: Dataset, run: RunRecord, kind: str) -> None:
    """One issue type's view: what was found and how, then its rows or groups, each with its decision."""
    found = issues_of(record, ds, run)
    if found is None:
        return
    rows = found.view(kind)
    where = "the given reference" if found.reference == "given" else "all other rows (no reference given)"
    st.caption(f"Distances in the **{found.embedding}** embedding of run {run.label}. Near duplicates: closer than "
               f"{found.threshold:.3g} ({found.params.near_ratio:g} × the median nearest-neighbour distance). "
               f"Outliers: fewer than {found.params.k} rows of {where} within {found.fence:.3g}. "
               f"Computed in {found.seconds:.1f} s.")
    if rows.empty:
        st.info(f"No {ISSUE_TITLES[kind].lower()} found." if kind != "reference_copies" or found.reference == "given"
                else "No reference was given (every row is valued), so no row can copy one.",
                icon=":material/check_circle:")
        return
    decided = _decisions(record)
    if kind in ("conflicting_duplicates", "near_duplicates"):
        _groups(record, ds, run, kind, rows, decided)
    else:
        _rows(record, ds, run, kind, rows, decided, found)


def _decisions(record: DatasetRecord) -> dict[str, tuple[str, Any]]:
    current, _ = review.stored_decisions(record)
    return {i: (a, new) for i, a, new in zip(current["id"], current["action"], current["new_label"])}


def _page(key: str, n_items: int, per_page: int) -> slice:
    pages = max(1, -(-n_items // per_page))
    if st.session_state.get(key, 1) > pages:
        st.session_state[key] = 1
    if pages == 1:
        return slice(0, per_page)
    number = int(st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=key, width=140))
    return slice((number - 1) * per_page, number * per_page)


def _state_text(decided: Mapping[str, tuple[str, Any]], sample_id: str) -> str:
    action, new = decided.get(sample_id, (None, None))
    return f":blue[relabeled → {new}]" if action == "relabel" else _STATE.get(action, str(action))


def _member(ds: Dataset, rec: Mapping[Any, Any], decided: Mapping[str, tuple[str, Any]], note: str = "") -> None:
    """One sample in a side-by-side row: its image (images) and its facts."""
    if ds.modality == "image":
        st.image(grid.thumbnail(grid.image_paths(ds)[rec["id"]]), width=96)
    role = " · reference" if rec["role"] == "target" else ""
    st.caption(f"`{rec['id']}`  \nlabel **{rec['label']}**{role}{note}  \n{_state_text(decided, rec['id'])}")


def _features(ds: Dataset, ids: list[str]) -> pd.DataFrame:
    """Table rows as columns (one per sample), the features as rows: copies read side by side."""
    assert ds.table is not None
    table = ds.table.set_index(ds.ids).loc[ids, list(ds.feature_columns)]
    return table.T.astype(str)


def _groups(record: DatasetRecord, ds: Dataset, run: RunRecord, kind: str, rows: pd.DataFrame,
            decided: Mapping[str, tuple[str, Any]]) -> None:
    order = list(dict.fromkeys(rows["near_group"].astype(int)))
    st.markdown(f"**{len(order):,}** group{'s' * (len(order) != 1)} · {len(rows):,} samples · closest first")
    for g in order[_page("rv_issue_page", len(order), GROUPS_PER_PAGE)]:
        members = rows[rows["near_group"] == g]
        labels = sorted(set(members["label"].astype(str)))
        distance = float(members["duplicate_distance"].min())
        with st.container(border=True, key=f"rv_group_{g}"):
            st.markdown(f"**Group {g}** · {len(members)} samples · label{'s' * (len(labels) > 1)} "
                        f"**{', '.join(labels)}** · "
                        + ("exact copies" if distance == 0 else f"nearest pair at distance {distance:.3g}"))
            shown = members.head(MAX_SIDE_BY_SIDE).to_dict("records")
            if ds.modality == "image":
                for col, rec in zip(st.columns(MAX_SIDE_BY_SIDE), shown):
                    with col:
                        _member(ds, rec, decided)
            else:
                st.dataframe(_features(ds, [r["id"] for r in shown]), key=f"rv_group_table_{g}")
                st.caption(" · ".join(f"`{r['id']}` label **{r['label']}** {_state_text(decided, r['id'])}"
                                      for r in shown))
            if len(members) > MAX_SIDE_BY_SIDE:
                st.caption(f"and {len(members) - MAX_SIDE_BY_SIDE} more: "
                           + ", ".join(members["id"].iloc[MAX_SIDE_BY_SIDE:].astype(str)))
            _group_buttons(record, ds, run, kind, g, members)


def _group_buttons(record: DatasetRecord, ds: Dataset, run: RunRecord, kind: str, g: int,
                   members: pd.DataFrame) -> None:
    """One decision for the whole group (each button one event over all its members)."""
    recs = members.to_dict("records")
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key=f"rv_group_do_{g}"):
        for label, action in GROUP_ACTIONS.items():
            st.button(label, key=f"rv_group_{action}_{g}", on_click=_on_group,
                      args=(record, run, kind, recs, action, None, new_event_key()))
        if ds.classes:
            pick = f"rv_group_pick_{g}"
            st.selectbox("Relabel all as", list(ds.classes), index=None, placeholder="a class…", key=pick,
                         width=160)
            st.button("Relabel all", key=f"rv_group_relabel_{g}", on_click=_on_group_relabel,
                      args=(record, run, kind, recs, pick, new_event_key()))


def group_rows(run: RunRecord, kind: str, members: list[dict[str, Any]], action: str,
               new_label: str | None = None) -> list[dict[str, Any]]:
    """The decision rows of one group decision: ``keep_one`` keeps the first member and drops the others; rows
    of a separate reference file (never exported) get none."""
    out = []
    for i, rec in enumerate(m for m in members if not str(m["id"]).startswith(TARGET_PREFIX)):
        act = ("keep" if i == 0 else "drop") if action == "keep_one" else action
        out.append(_decision_row(rec, run, kind, act, new_label if act == "relabel" else None,
                                 rec.get("duplicate_distance"), i + 1))
    return out


def _decision_row(rec: Mapping[Any, Any], run: RunRecord, kind: str, action: str, new_label: str | None,
                  score: Any, rank: int) -> dict[str, Any]:
    value = None if score is None or pd.isna(score) else float(score)
    return {"id": str(rec["id"]), "action": action, "old_label": str(rec["label"]), "new_label": new_label,
            "run_id": run.run_id, "method": f"issues:{kind}", "value": value, "rank": rank}


def _save(record: DatasetRecord, rows: list[dict[str, Any]], event: str) -> None:
    """One decision event; a failure is one line on the page (the samples stay as they were)."""
    try:
        actions.decide(record, rows, event=event, skip_unchanged=True)
    except (sqlite3.Error, OSError, ValueError) as exc:
        text = str(exc) if isinstance(exc, (WorkspaceError, AccessError)) else type(exc).__name__
        st.session_state[review.ERROR_KEY] = f"Not saved: {text} The samples stay as before."
        return
    st.session_state.pop(review.ERROR_KEY, None)


def _on_group(record: DatasetRecord, run: RunRecord, kind: str, members: list[dict[str, Any]], action: str,
              new_label: str | None, event: str) -> None:
    _save(record, group_rows(run, kind, members, action, new_label), event)


def _on_group_relabel(record: DatasetRecord, run: RunRecord, kind: str, members: list[dict[str, Any]],
                      pick: str, event: str) -> None:
    new = st.session_state.get(pick)
    if new is None:
        st.session_state[review.ERROR_KEY] = "Pick the class to relabel the group as."
        return
    _save(record, group_rows(run, kind, members, "relabel", str(new)), event)


def _rows(record: DatasetRecord, ds: Dataset, run: RunRecord, kind: str, rows: pd.DataFrame,
          decided: Mapping[str, tuple[str, Any]], found: DataIssues) -> None:
    """Outliers (farthest first) or reference copies (closest first, beside the reference row they copy)."""
    st.markdown(f"**{len(rows):,}** samples · " + ("farthest from the reference first" if kind == "outliers"
                                                   else "closest to a reference row first"))
    frame = found.frame.set_index("id", drop=False)
    window = _page("rv_issue_page", len(rows), ROWS_PER_PAGE)
    for rank, rec in enumerate(rows.iloc[window].to_dict("records"), start=window.start + 1):
        sid = str(rec["id"])
        score = rec["outlier_distance"] if kind == "outliers" else rec["nn_reference_distance"]
        with st.container(border=True, key=f"rv_issue_row_{sid}"):
            if kind == "outliers":
                note = f"  \ndistance {score:.3g} · p {rec['outlier_percentile']:.0f} of the reference"
                shown = [(rec, note)]
            else:
                ref = frame.loc[str(rec["nn_reference_id"])].to_dict()
                shown = [(rec, f"  \ndistance {score:.3g} to"), (ref, "  \nthe reference row it copies")]
            if ds.modality == "image":
                for col, (r, note) in zip(st.columns(4), shown):
                    with col:
                        _member(ds, r, decided, note)
            else:
                st.dataframe(_features(ds, [str(r["id"]) for r, _ in shown]), key=f"rv_issue_table_{sid}")
                facts = [f"`{r['id']}` label **{r['label']}** {' '.join(note.split())}" for r, note in shown]
                st.caption(" · ".join(facts) + f" · {_state_text(decided, sid)}")
            with st.container(horizontal=True, gap="small", key=f"rv_issue_do_{sid}"):
                for label, action in (("Keep", "keep"), ("Drop", "drop"), ("Reset", UNDECIDED)):
                    st.button(label, key=f"rv_issue_{action}_{sid}", on_click=_save,
                              args=(record, [_decision_row(rec, run, kind, action, None, score, rank)],
                                    new_event_key()))
