"""Export: the cleaned dataset in its input format, values, the decisions log and a report."""
import streamlit as st

from dataval_core.dataset import DataError
from dataval_core.workspace import WorkspaceError
from ui import downloads, layout

layout.page("Export",
            "Download the cleaned dataset in the format it came in (same columns and dtypes; for images the same "
            "folder layout, relabeled images moved to their new class folder), plus the values of every run, "
            "the decisions audit log and a one-page report. Files are built when you click.")
record, ds = layout.require_dataset()
dedupe = st.toggle("Leave out the extra copies of exact duplicates", key="exp_dedupe",
                   help="Rows with the same content (feature columns, or image bytes) and the same label as an "
                        "earlier row are left out of the cleaned dataset: one copy of each stays. Copies with "
                        "different labels all stay: decide them on Review (Show: Conflicting duplicates).")

try:
    counts = downloads.plan_counts(record, ds, dedupe)
except (DataError, WorkspaceError) as exc:
    st.error(str(exc))
    st.stop()
m0, m1, m2, m3, m4 = st.columns(5)
m0.metric("Rows out", f"{counts['exported']:,}", help="Rows of the cleaned file.")
m1.metric("Undecided", f"{counts['undecided']:,}", help="No decision: kept as they are.")
m2.metric("Kept", f"{counts['keep']:,}", help="Reviewed and kept.")
m3.metric("Dropped", f"{counts['drop']:,}")
m4.metric("Relabeled", f"{counts['relabel']:,}")
if counts["target_file_rows"]:
    st.caption(f"The target set came from a separate file: its {counts['target_file_rows']:,} rows are not part of "
               "your data and are not exported. Counts above are over the input file's rows.")
else:
    st.caption("Target (validation) rows are part of your data and are exported too (counted as kept).")
if dedupe:
    n = counts["duplicates"]
    st.caption(f"{n:,} extra {'copy' if n == 1 else 'copies'} of exact duplicates left out of the cleaned dataset.")

with st.container(horizontal=True, gap="small", key="exp_buttons"):  # wraps on narrow screens, never cut
    for label, name, mime, build in downloads.downloads(record, ds, dedupe):
        st.download_button(label, data=build, file_name=name, mime=mime, on_click="ignore",
                           icon=":material/download:", key=f"exp_{name}")

st.subheader("Decisions log")
log = downloads.log_preview(record)
if log.empty:
    st.caption("No decisions yet: make them on the Review page.")
else:
    st.caption("Newest first (times in UTC). decisions.csv holds the full log with the run ids.")
    st.dataframe(log, hide_index=True,
                 column_config={"time": "time (UTC)", "old_label": "label", "new_label": "new label",
                                "value": st.column_config.NumberColumn(format="%.4g")})
