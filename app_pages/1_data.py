"""Data: upload or pick a sample, choose label and target set, optionally inject noise."""
from typing import Any

import streamlit as st

from dataval_core.dataset import DataError
from dataval_core.samples import SAMPLES
from dataval_core.targets import DEFAULT_FOLDS
from dataval_core.workspace import WorkspaceError
from ui import actions, data, grid, issues_view, layout, state

layout.page("Data",
            "Load the labeled dataset to curate. Every sample keeps a stable id (row number, id column or "
            "path in the zip) from here to the export.")

layout.demo_card()
issues_view.reference_warning()  # the current dataset's reference holds copies of valued rows

source = st.segmented_control("Source", ["Bundled sample", "Upload a file", "Your datasets"],
                              default="Bundled sample", required=True, key="data_source")
base = None
try:
    if source == "Bundled sample":
        titles = {s.title: s for s in SAMPLES}
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        info = titles[c1.selectbox("Sample", list(titles), key="data_sample")]
        if c2.button("Load sample", key="data_load_sample"):
            st.session_state["data_loaded_sample"] = info.name
        st.caption(info.description)
        if st.session_state.get("data_loaded_sample") == info.name:
            with st.spinner(f"Loading {info.title}…"):
                base = actions.sample(info.name)
    elif source == "Upload a file":
        upload = st.file_uploader("CSV, Parquet, or a zip of images (class sub-folders like `cat/001.png`, "
                                  "or images plus a `manifest.csv` with `path,label`)",
                                  type=["csv", "parquet", "pq", "zip"], key="data_upload")
        if upload is not None:
            path = actions.save_upload(upload.name, upload.getvalue())
            label = id_column = None
            if actions.is_table(path):
                columns = actions.table_columns(path)
                guessed, reason = data.label_guess(str(path))
                c1, c2 = st.columns(2)
                label = c1.selectbox("Label column", columns, key="data_label",
                                     index=columns.index(guessed) if guessed in columns else None,
                                     placeholder="Choose the label column",
                                     help="Guessed from the column names and contents; the reason is shown below.")
                if guessed is None:
                    c1.caption(f"Which column is the label? No guess: {reason}")
                elif label == guessed:
                    c1.caption(f"Guessed: {reason}")
                id_choice = c2.selectbox("Id column", ["(row number)"] + [c for c in columns if c != label],
                                         key="data_id",
                                         help="A column of unique sample ids; default: 0-based row number.")
                id_column = None if id_choice == "(row number)" else id_choice
            task_choice = st.segmented_control(
                "Task", ["Auto", "Classification", "Regression"], default="Auto", required=True, key="data_task",
                help="Auto: text labels and integers with at most 50 distinct values are classes, other numbers a "
                     "regression target. The choice and its reason are shown once loaded.")
            task = None if task_choice == "Auto" else task_choice.lower()
            if actions.is_table(path) and label is None:
                st.info("Choose the label column to load the table.", icon=":material/label:")
            else:
                with st.spinner("Reading and checking the upload…"):
                    base = actions.load_upload(path, label, id_column, task)
    else:
        records = state.workspace().list_datasets(state.session_id())
        if not records:
            st.caption("You have no datasets in the workspace yet.")
        for rec in records:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.markdown(f"**{rec.name}** · {rec.n:,} {'images' if rec.modality == 'image' else 'rows'} · `{rec.key}`")
            if c2.button("Open", key=f"data_open_{rec.key}", disabled=rec.key == st.session_state["dataset_key"]):
                state.set_current(rec.key)
                st.rerun()
        shared = st.text_input("Open a shared dataset by its share key", placeholder="dv_…", key="data_shared",
                               help="A key the dataset's owner made with Share in their sidebar; view-only unless "
                                    "they allowed edits.")
        if shared and st.button("Open shared dataset", key="data_open_shared"):
            actions.open_shared(shared)
            st.rerun()
except (DataError, WorkspaceError) as exc:
    st.error(str(exc))
    base = None

if base is not None:
    kind = "images" if base.modality == "image" else "rows"
    what = f"{base.n_classes} classes" if base.n_classes else "a numeric (regression) target"
    st.success(f"Loaded **{base.name}**: {len(base):,} {kind}, {what}."
               + (f" {base.meta['imputation']}" if base.meta.get("imputation") else ""))
    for note in base.notes:
        st.caption(note)
    choices, proposed = data.leave_out_choices(base)
    if choices:
        left_out = st.multiselect(
            "Leave out of the features", choices, default=proposed,
            key="data_left_out", placeholder="none: every column is a feature",
            help="Columns the methods must not see: ids, notes, or a column that marks known-bad rows (score "
                 "the runs against it on Compare & check). A known-bad column left in gives the answer away.")
        for col in proposed:
            st.caption(f"Proposed to leave out: `{col}` — {base.meta['left_out'][str(col)]}.")
        features = tuple(c for c in choices if c not in left_out)
        if not features:
            st.error("Keep at least one feature column; until then the proposed columns are left out.")
        elif features != base.feature_columns:
            base = base.replace(feature_columns=features)
    if base.table is not None:
        encoding = data.encoding_summary(base)
        st.info(encoding.line, icon=":material/transform:")
        with st.expander("How each column is encoded"):
            st.dataframe(encoding.table, hide_index=True, key="data_encoding")

    st.subheader("Reference set", help="What the methods value each sample against. Most datasets have no "
                                       "trusted clean subset: then every row is valued against the other rows.")
    options = ["None: value every row"]
    options += ["Hold out a random fraction"]
    if base.table is not None:
        options += ["A true/false column marks trusted rows"]
    options += ["A separate file with the same schema"]
    target_kind = st.radio("How to choose the reference set", options, key="data_target_kind", horizontal=True,
                           label_visibility="collapsed")
    target: dict[str, Any] | None = None
    if target_kind == options[0]:
        target = {"kind": "none"}
        st.caption(f"No trusted reference: all {len(base):,} {kind} are valued in {DEFAULT_FOLDS} rotating folds. "
                   "Each fold in turn is the reference for all other rows, cleaned first of the rows a first pass "
                   "suspects most.")
    elif target_kind == options[1]:
        frac = st.slider("Fraction held out as the reference", 0.05, 0.5, 0.2, 0.05, key="data_target_frac",
                         help="Stratified by class for classification. These rows are not valued.")
        target = {"kind": "fraction", "frac": frac, "seed": 0}
        st.caption(f"About {round(frac * len(base)):,} of the {len(base):,} {kind} are not valued: they are the "
                   "reference.")
    elif target_kind.startswith("A true/false"):
        candidates = [c for c in base.feature_columns]
        target = {"kind": "column", "column": st.selectbox("Trusted-row column", candidates, key="data_target_col")}
    else:
        tfile = st.file_uploader("Reference file", type=["csv", "parquet", "pq", "zip"], key="data_target_file")
        if tfile is not None:
            target = {"kind": "file", "path": str(actions.save_upload(tfile.name, tfile.getvalue()))}
    if target is not None and target["kind"] != "none":
        noisy_ref = st.toggle("The reference may hold wrong labels too: clean it first", key="data_reference_noisy",
                              help="A first pass over all rows finds the reference rows it suspects most; they "
                                   "are left out of the reference before the samples are valued.")
        target["reference"] = "noisy" if noisy_ref else "trusted"

    noise = None
    if base.task == "classification":
        st.subheader("Label noise (optional, for demos)")
        if st.toggle("Inject label noise", key="data_noise_on",
                     help="Flips labels of a known set of valued rows so you can check that the methods find "
                          "them. A held-out reference stays clean; the truth is kept."):
            c1, c2 = st.columns(2)
            rate = c1.slider("Noise rate", 0.05, 0.5, 0.1, 0.05, key="data_noise_rate")
            kind_label = c2.radio("Kind", ["Confusable pairs", "Uniform"], key="data_noise_kind", horizontal=True,
                                  help="Confusable pairs: each class flips to the class a quick model confuses it "
                                       "with most (realistic). Uniform: any other class.")
            noise = {"rate": rate, "kind": "pair" if kind_label == "Confusable pairs" else "uniform", "seed": 0}

    if st.button("Use this dataset", type="primary", disabled=target is None, key="data_use") and target is not None:
        try:
            with st.spinner("Preparing the dataset…"):
                record = actions.use_dataset(actions.prepare(base, target=target, noise=noise))
            layout.flash(f"{record.name} is now the current dataset. Next: value it on the Valuate page.")
            st.rerun()
        except (DataError, WorkspaceError) as exc:
            st.error(str(exc))

    st.subheader("Preview")
    if base.modality == "image":
        grid.preview_grid(base)
    elif base.table is not None:
        st.dataframe(base.table.head(200), height=300)
