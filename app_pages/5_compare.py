"""Compare & check: agreement between runs, and how well they find known (injected) noise."""
import streamlit as st

from dataval_core.curation import truth_columns, truth_from_column, truth_from_ids
from dataval_core.dataset import DataError
from dataval_core.embeddings.core import LEARNED_EMBEDDINGS
from ui import actions, compare, consensus_view, layout, progress, state

layout.page("Compare & check",
            "Do the methods agree on which samples are bad? And when the noise is known (injected on the Data "
            "page), how much of it does each method find?")
record, ds = layout.require_dataset()
by_label = layout.require_runs(record)

defaults = [r.label for r in compare.default_runs(actions.finished_runs(record))]
chosen = [by_label[x] for x in st.multiselect("Runs", list(by_label), default=defaults, key="cmp_runs",
                                              help="Preselected: the newest run of each method except random.")]
results = compare.named_results(chosen)
consensus_view.explain_runs(chosen)
n_valued = int((~ds.is_target).sum())
noise_k = int(ds.noisy[~ds.is_target].sum()) if ds.noisy is not None else 0
k = st.slider("k (bottom-k size)", 1, max(2, n_valued // 2), min(noise_k or max(1, n_valued // 20), n_valued // 2),
              key="cmp_k", help="How many of the lowest-valued samples count as 'flagged'. "
                                "Defaults to the number of injected flips when known.")

st.subheader("Rank agreement")
st.caption("**Spearman**: correlation of the two value rankings (1 = same order, 0 = unrelated). "
           "**Bottom-k overlap**: share of the k lowest samples both runs flag.")
if len(results) < 2:
    st.caption("Choose at least two runs.")
else:
    st.dataframe(compare.agreement(results, k), hide_index=True,
                 column_config={"spearman": st.column_config.ProgressColumn("Spearman", min_value=-1, max_value=1,
                                                                            format="%.2f"),
                                "bottom_k_overlap": st.column_config.ProgressColumn(f"bottom-{k} overlap", min_value=0,
                                                                                    max_value=1, format="%.2f")})
    flagged = compare.flagged(results, ds, k)
    st.markdown(f"**Flagged by several runs:** {len(flagged):,} samples are in the bottom {k} of two or more runs.")
    if len(flagged):
        st.dataframe(flagged, hide_index=True, height=240)
        if st.button("Review these samples", key="cmp_review", icon=":material/grid_view:"):
            st.session_state["review_ids"] = flagged["id"].tolist()
            st.switch_page(layout.PAGES["review"])

st.subheader("Detection of known-bad rows")
sources = (["Injected noise"] if ds.noisy is not None and noise_k else []) + \
    (["A column of the table"] if truth_columns(ds) else []) + ["A file of known-bad ids"]
source = st.segmented_control("Known-bad rows from", sources, default=sources[0], required=True, key="cmp_truth",
                              help="Score the runs against your own truth: a column that marks bad rows "
                                   "(true/1/yes/bad), or a CSV whose first column lists bad sample ids.")
flags = None
try:
    if source == "Injected noise":
        flags = ds.noisy
    elif source == "A column of the table":
        column = st.selectbox("Column marking bad rows", truth_columns(ds), key="cmp_truth_col")
        flags = truth_from_column(ds, column)
        if column in ds.feature_columns:
            st.warning(f"`{column}` is also a feature the methods saw, so scores against it are not fair. "
                       "Leave it out of the features on the Data page and run again.", icon=":material/warning:")
    else:
        upload = st.file_uploader("CSV of known-bad ids (first column)", type=["csv", "txt"], key="cmp_truth_file")
        if upload is not None:
            flags = truth_from_ids(ds, compare.ids_from_upload(upload.getvalue()))
        else:
            st.caption("Upload a CSV whose first column holds the ids of rows you know are bad "
                       "(ids as on Review: row numbers, the id column, or paths in the zip).")
except DataError as exc:
    st.error(str(exc))
if flags is not None and results:
    n_bad = int(flags[~ds.is_target].sum())
    st.caption(f"{n_bad:,} of {n_valued:,} valued rows are known bad. **AUROC**: chance that a bad sample gets a "
               "lower value than a good one (0.5 = random, 1 = perfect). **Precision / recall at k**: share of the "
               "k lowest that are bad, with k = number of bad rows. **k-means F1**: F1 of the low cluster when "
               "values are split in two groups.")
    st.dataframe(compare.noise_metrics(ds, results, flags), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(name, format="%.3f")
                                for c, name in (("auroc", "AUROC"), ("precision_at_k", "precision at k"),
                                                ("recall_at_k", "recall at k"), ("kmeans_f1", "k-means F1"))})
    st.plotly_chart(compare.detection_figure(ds, results, flags), key="cmp_detection")

st.subheader("Point removal")
st.caption("Retrain a simple model (logistic regression on the run's embedding) after removing the lowest-valued "
           "x% of samples, versus removing a random x%, scored on the target set. Good values: the solid line "
           "stays up (or rises) while the dashed one falls.")
groups = compare.removal_groups(chosen)
if groups:
    embedding = st.segmented_control("Embedding", list(groups), default=next(iter(groups)), required=True,
                                     key="cmp_removal_embedding",
                                     help="Curves are compared only between runs on the same embedding: each run "
                                          "is retrained on its own features.")
    same = groups[embedding]
    if embedding.partition(":")[0] in LEARNED_EMBEDDINGS:
        st.warning(f"{embedding} features were learned from the target set the curves are scored on, so these "
                   "scores are optimistic; compare them only with each other.", icon=":material/warning:")
    job_id = compare.removal_job_id(record, same)
    if st.button("Compute point-removal curves", key="cmp_removal", icon=":material/show_chart:"):
        state.jobs().submit_task(job_id, compare.removal_task(record, ds, same))
    curve = progress.task_result(job_id, "Point removal")
    if curve is not None:
        st.plotly_chart(compare.removal_figure(curve, ds), key="cmp_removal_chart")
