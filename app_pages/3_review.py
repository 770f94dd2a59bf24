"""Review: lowest-valued samples first; keep, drop or relabel, one by one or in bulk."""
import streamlit as st

from ui import layout, review, state

layout.page("Review",
            "The lowest-valued samples come first: they are the likeliest to be mislabeled or harmful. "
            "Keep, drop or relabel each one (accept the method's suggestion or pick a class); "
            "every click is saved at once and goes into the export.")
record, ds = layout.require_dataset()
by_label = layout.require_runs(record)

c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
run = by_label[c1.selectbox("Run", list(by_label), key="rv_run", help="Whose values order the samples.")]
frame = review.review_frame(ds, review.result(run), state.workspace().decisions(record.key))
classes = c2.multiselect("Class", sorted(frame["label"].unique()), key="rv_classes", placeholder="All classes")
status = c3.selectbox("Show", review.STATUS_FILTERS, key="rv_status",
                      help="Undecided: samples without a decision yet (decided ones leave this view).")
view = c4.segmented_control("View", ["Grid", "Table"], default="Grid" if ds.modality == "image" else "Table",
                            required=True, key="rv_view")
vmin, vmax = float(frame["value"].min()), float(frame["value"].max())
value_range = None
if vmin < vmax:
    value_range = st.slider("Value range", vmin, vmax, (vmin, vmax), step=(vmax - vmin) / 200, format="%.3g",
                            key=f"rv_range_{run.run_id}")
only_ids = st.session_state["review_ids"]
shown = review.filter_frame(frame, classes=classes, value_range=value_range, status=status, only_ids=only_ids)
if only_ids is not None:
    left, right = st.columns([5, 1], vertical_alignment="center")
    hidden = len(set(only_ids)) - len(shown)
    left.info(f"Showing only the {len(set(only_ids)):,} samples you selected on Map or Compare"
              + (f"; {hidden:,} of them are hidden by the filters above (e.g. already decided)." if hidden else "."),
              icon=":material/filter_alt:")
    if right.button("Show all", key="rv_clear_ids"):
        st.session_state["review_ids"] = None
        st.rerun()
decided = int(frame["action"].notna().sum())
p1, p2, p3 = st.columns([2, 1, 1], vertical_alignment="bottom")
size = p3.selectbox("Per page", [12, 24, 48, 100], index=1, key="rv_size")
pages = max(1, -(-len(shown) // size))
number = p2.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key="rv_page")
start = (min(number, pages) - 1) * size
page = shown.iloc[start:start + size]
p1.markdown(f"**{len(shown):,}** samples match · showing {start + 1 if len(page) else 0}–{start + len(page)} · "
            f"{decided:,} of {len(frame):,} decided")

selected = []
if view == "Table":
    selected = review.table_view(page, ds, key=f"rv_table_{run.run_id}_{start}")
targets = page[page["id"].isin(selected)] if selected else page
scope = f"the {len(selected)} selected rows" if selected else "this page"
with st.container(horizontal=True, vertical_alignment="center", gap="small", key="rv_bulk"):
    st.markdown(f"**Bulk actions** on {scope}:", width="content")
    if st.button("Drop all", key="rv_bulk_drop", help=f"Drop {scope}.", icon=":material/delete:"):
        review.bulk(record, run, targets, "drop")
        st.rerun()
    if st.button("Keep all", key="rv_bulk_keep", help=f"Keep {scope}.", icon=":material/check:"):
        review.bulk(record, run, targets, "keep")
        st.rerun()
    if st.button("Accept suggestions", key="rv_bulk_accept", help=f"Relabel {scope} to the suggested label "
                 "where it differs.", icon=":material/auto_fix_high:", disabled=ds.task != "classification"):
        review.bulk(record, run, targets, "relabel", "suggested")
        st.rerun()
    if ds.classes:
        new_label = st.selectbox("Relabel all as", ds.classes, key="rv_bulk_class", width=170,
                                 label_visibility="collapsed", format_func=lambda c: f"Relabel as {c}")
        if st.button("Relabel all", key="rv_bulk_relabel", help=f"Relabel {scope} as the chosen class."):
            review.bulk(record, run, targets, "relabel", new_label)
            st.rerun()

if view == "Grid" and ds.modality == "image":
    review.card_grid(page, ds, record, run)
elif view == "Grid":
    st.info("Grid view shows images; this dataset is a table, so use the Table view.")
if page.empty:
    st.caption("Nothing matches these filters.")
