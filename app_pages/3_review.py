"""Review: lowest-valued samples first; keep, drop or relabel, one by one or in bulk; undo any step."""
from typing import cast

import streamlit as st

from dataval_core.curation import review_table
from dataval_core.registry import get_spec
from ui import actions, annotate, focus, issues_view, layout, review, review_filter, reviewstate, similar, state

layout.page("Review",
            "Lowest-valued samples first: the likeliest to be mislabeled or harmful. Keep, drop or relabel; every "
            "click is saved at once, can be undone (↺ on a card, or Undo), and goes into the export.")
record, ds = layout.require_dataset()
runs = actions.finished_runs(record)
layout.require_runs(record)
by_id = {r.run_id: r for r in runs}
reviewstate.restore(record.key, by_id, default_run=review.best_run(runs).run_id,
                    default_view="Grid" if ds.modality == "image" else "Table",
                    classes={str(c) for c in ds.label_names()})
review.show_error()
if st.session_state.get("rv_flash"):
    st.toast(st.session_state.pop("rv_flash"), icon=":material/undo:")

# the toolbar: one row of the controls used all the time; id, class, sort and percentile in the Filters popover
t1, t2, t3, t4 = st.columns([2.3, 1.5, 1.4, 1.3], vertical_alignment="bottom", gap="small")
method = by_id[st.session_state["rv_run"]].method
run = by_id[t1.selectbox("Run", list(by_id), key="rv_run", format_func=lambda i: by_id[i].label,
                         on_change=reviewstate.on_run_change, args=("rv_run",),
                         help=f"Whose values order the samples (Map shows the same run). **{method}**: "
                              f"{get_spec(method).load().low_value} **p** on a card is the "
                              "sample's percentile in this run: 0 = its lowest value (most suspicious), 100 = its "
                              "highest; unlike raw values, percentiles compare across methods. Opens on the "
                              "consensus, else the newest run that is not random.")]
reviewstate.select_run(run.run_id)
res = review.result(run)
others = [review.result(r) for r in runs if r.run_id != run.run_id]
current, log_size = review.stored_decisions(record)
notes = annotate.stored(record)
frame = annotate.with_annotations(review_table(ds, res, current, others, truth=review.truth_of(record, ds)), notes)
status = t2.selectbox("Show", review.STATUS_FILTERS + reviewstate.SHOW_ISSUES, key="rv_status",
                      on_change=reviewstate.to_first_page,
                      help="Undecided: samples without a decision yet (decided ones leave this view). The last "
                           "four are data issues found by distance in this run's embedding, each sorted by its score.")
if status in reviewstate.SHOW_ISSUES:  # a data-issue view (ui/issues_view.py) in place of the run's values
    reviewstate.save(record.key)
    issues_view.show(record, ds, run, issues_view.kind_of(status))
    st.stop()
view = t3.segmented_control("View", ["Grid", "Table"], required=True, key="rv_view")
active = (bool(st.session_state.get("rv_classes")) + (st.session_state.get("rv_sort") != review.SORTS[0])
          + (tuple(st.session_state.get("rv_pct", (0.0, 100.0))) != (0.0, 100.0))
          + bool((st.session_state.get(reviewstate.jump_key()) or "").strip()) + bool(review_filter.text()))
with t4.popover(f"Filters{f' ({active})' if active else ''}", icon=":material/tune:", width="stretch",
                key="rv_filters", help="Go to an id; a filter over any column, tag or note; class, sort order "
                                       "and percentile range."):
    review_filter.box(review_filter.columns(frame, ds))
    st.text_input("Go to id", key=reviewstate.jump_key(), placeholder="a sample id",
                  on_change=reviewstate.to_first_page, help="Show one sample by its id, whatever the filters.")
    classes = st.multiselect("Class", sorted(frame["label"].unique()), key="rv_classes", placeholder="All classes",
                             on_change=reviewstate.to_first_page)
    sort = st.selectbox("Sort by", review.SORTS, key="rv_sort", on_change=reviewstate.to_first_page,
                        help="Flagged by most runs: how many finished runs put the sample in their lowest 10%.")
    # a range: its value comes from session state (a pair), which Streamlit's typing cannot see
    pct = cast(tuple[float, float], st.slider(
        "Percentile range", 0.0, 100.0, key="rv_pct", step=1.0, on_change=reviewstate.to_first_page,
        help="Show samples whose value percentile in this run lies in this range (0 = lowest)."))

jump = (st.session_state.get(reviewstate.jump_key()) or "").strip()
only_ids = st.session_state["review_ids"]
if jump:
    shown = frame[frame["id"] == jump]
    left, right = st.columns([5, 1], vertical_alignment="center")
    if shown.empty:
        left.error(f"No valued sample has the id {jump!r} (target rows are not valued).")
    else:
        left.info(f"Showing sample `{jump}` (rank {int(shown['rank'].iloc[0]):,} of {len(frame):,}).",
                  icon=":material/search:")
    right.button("Show all", key="rv_clear_jump", on_click=reviewstate.clear_jump)
else:
    shown = review.filter_frame(review_filter.apply(frame, ds, notes), classes=classes, status=status,
                                only_ids=only_ids, percentile_range=pct, sort=sort)
if only_ids is not None and not jump:
    left, right = st.columns([5, 1], vertical_alignment="center")
    hidden = len(set(only_ids)) - len(shown)
    left.info(f"Showing only the {len(set(only_ids)):,} samples you selected on Map, Compare or the overview"
              + (f"; {hidden:,} of them are hidden by the filters above (e.g. already decided)." if hidden else "."),
              icon=":material/filter_alt:")
    right.button("Show all", key="rv_clear_ids", on_click=reviewstate.clear_ids)

decided = int(frame["action"].notna().sum())
size = st.session_state["rv_size"]
pages = max(1, -(-len(shown) // size))
reviewstate.clamp_page(pages)
with st.container(horizontal=True, vertical_alignment="center", gap="small", key="rv_pager"):
    number = int(st.session_state.get("rv_page", 1))
    start = (min(number, pages) - 1) * size
    page = shown.iloc[start:start + size]
    st.markdown(f"**{len(shown):,}** match · {start + 1 if len(page) else 0}–{start + len(page)} · "
                f"{decided:,} of {len(frame):,} decided", width="content")
    review.page_buttons(pages)
    st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="rv_page",
                    label_visibility="collapsed", width=110)
    st.caption(f"of {pages:,}", width="content")
    st.selectbox("Per page", reviewstate.PAGE_SIZES, key="rv_size", on_change=reviewstate.to_first_page,
                 label_visibility="collapsed", format_func=lambda n: f"{n} a page", width=120)
reviewstate.save(record.key)

review.bulk_bar(record, run, ds, shown, page)
focus.key_bar(record, run, page, state.workspace().can_undo(record.key, state.session_id()), ds.modality == "image")
similar.strip(record, ds, run, frame, view)

if view == "Grid" and ds.modality == "image":
    focus.ring(page, grid=True)
    review.card_grid(page, ds, record, run)
elif view == "Grid":
    st.info("Grid view shows images; this dataset is a table, so use the Table view.")
else:
    review.table_view(page, ds, record, run, log_size)
    similar.table_picker(page)
    annotate.table_picker(page)
if page.empty:
    st.caption("Nothing matches these filters.")
# at most one dialog: the lightbox, else the tags editor, else the relabel picker (each for a valued sample)
valued = set(frame["id"])
zoom = st.session_state.pop("rv_zoom", None)
tagging = st.session_state.get(annotate.OPEN)
relabeling = st.session_state.get(review.RELABEL)
if zoom is not None and ds.modality == "image" and zoom in valued:
    review.zoom_dialog(ds, frame, zoom)
elif zoom is None and tagging is not None and tagging in valued:
    annotate.editor(record, tagging)
elif zoom is None and tagging is None and relabeling is not None and relabeling in valued:
    review.relabel_dialog(record, run, frame, relabeling, ds.classes)

review.overview(frame, record, run, log_size)
