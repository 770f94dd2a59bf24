"""Review: lowest-valued samples first; keep, drop or relabel, one by one or in bulk; undo any step."""
import streamlit as st

from dataval_core.decisions import new_event_key
from ui import actions, layout, review, reviewstate, state

layout.page("Review",
            "The lowest-valued samples come first: they are the likeliest to be mislabeled or harmful. "
            "Keep, drop or relabel each one (accept the method's suggestion or pick a class); "
            "every click is saved at once, can be undone, and goes into the export. A card shows its decision as "
            "saved; its ↺ button sets it back to undecided.")
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

c1, c2, c3 = st.columns([3, 2.2, 1.8], vertical_alignment="bottom")
run = by_id[c1.selectbox("Run", list(by_id), key="rv_run", format_func=lambda i: by_id[i].label,
                         on_change=reviewstate.to_first_page,
                         help="Whose values order the samples. Opens on the best run to review: the consensus, "
                              "else the newest run that is not random.")]
res = review.result(run)
others = [review.result(r) for r in runs if r.run_id != run.run_id]
current, log_size = review.stored_decisions(record)
frame = review.review_frame(ds, res, current, others)
classes = c2.multiselect("Class", sorted(frame["label"].unique()), key="rv_classes", placeholder="All classes",
                         on_change=reviewstate.to_first_page)
view = c3.segmented_control("View", ["Grid", "Table"], required=True, key="rv_view")
st.caption(f"**{run.method}** — {review.VALUE_MEANING.get(run.method, 'higher = more useful.')} "
           "**p** is the sample's percentile in this run: 0 = its lowest value (most suspicious), 100 = its highest; "
           "unlike raw values, percentiles compare across methods.")

f1, f2, f3, f4 = st.columns([1.7, 2.1, 2.2, 2], vertical_alignment="bottom")
status = f1.selectbox("Show", review.STATUS_FILTERS, key="rv_status", on_change=reviewstate.to_first_page,
                      help="Undecided: samples without a decision yet (decided ones leave this view).")
sort = f2.selectbox("Sort by", review.SORTS, key="rv_sort", on_change=reviewstate.to_first_page,
                    help="Flagged by most runs: how many finished runs put the sample in their lowest 10%.")
pct = f3.slider("Percentile range", 0.0, 100.0, key="rv_pct", step=1.0, on_change=reviewstate.to_first_page,
                help="Show samples whose value percentile in this run lies in this range (0 = lowest).")
f4.text_input("Go to id", key=reviewstate.jump_key(), placeholder="a sample id", on_change=reviewstate.to_first_page,
              help="Show one sample by its id, whatever the filters.")
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
    shown = review.filter_frame(frame, classes=classes, status=status, only_ids=only_ids,
                                percentile_range=tuple(pct), sort=sort)
if only_ids is not None and not jump:
    left, right = st.columns([5, 1], vertical_alignment="center")
    hidden = len(set(only_ids)) - len(shown)
    left.info(f"Showing only the {len(set(only_ids)):,} samples you selected on Map, Compare or the overview"
              + (f"; {hidden:,} of them are hidden by the filters above (e.g. already decided)." if hidden else "."),
              icon=":material/filter_alt:")
    right.button("Show all", key="rv_clear_ids", on_click=reviewstate.clear_ids)

decided = int(frame["action"].notna().sum())
p1, p2, p3, p4 = st.columns([2.6, 1.2, 1, 1.6], vertical_alignment="bottom")
size = p3.selectbox("Per page", reviewstate.PAGE_SIZES, key="rv_size", on_change=reviewstate.to_first_page)
pages = max(1, -(-len(shown) // size))
reviewstate.clamp_page(pages)
number = p2.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="rv_page")
start = (min(number, pages) - 1) * size
page = shown.iloc[start:start + size]
p1.markdown(f"**{len(shown):,}** samples match · showing {start + 1 if len(page) else 0}–{start + len(page)} · "
            f"{decided:,} of {len(frame):,} decided")
p4.button("Undo", key="rv_undo", icon=":material/undo:", on_click=review.undo, args=(record, new_event_key()),
          shortcut="U", disabled=not state.workspace().can_undo(record.key, state.session_id()),
          help="Sets back your latest decision or bulk action (also after a reload). The log keeps both.")
reviewstate.save(record.key)

review.bulk_bar(record, run, ds, shown, page)
review.shortcut_bar(record, run, page, pages)

if view == "Grid" and ds.modality == "image":
    review.card_grid(page, ds, record, run)
elif view == "Grid":
    st.info("Grid view shows images; this dataset is a table, so use the Table view.")
else:
    review.table_view(page, ds, record, run, log_size)
if page.empty:
    st.caption("Nothing matches these filters.")
zoom = st.session_state.pop("rv_zoom", None)
if zoom is not None and ds.modality == "image" and zoom in set(frame["id"]):
    review.zoom_dialog(ds, frame, zoom)

review.overview(frame, ds)
