"""Compare & check: agreement between runs, and how well they find known (injected) noise."""
import streamlit as st

from ui import compare, layout, progress, state

layout.page("Compare & check",
            "Do the methods agree on which samples are bad? And when the noise is known (injected on the Data "
            "page), how much of it does each method find?")
record, ds = layout.require_dataset()
by_label = layout.require_runs(record)

chosen = [by_label[x] for x in st.multiselect("Runs", list(by_label), default=list(by_label)[:6], key="cmp_runs")]
results = compare.named_results(chosen)
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

st.subheader("Detection of known noise")
if ds.noisy is None or not noise_k:
    st.caption("This dataset has no injected noise, so detection cannot be scored. Inject label noise on the Data "
               "page (the truth is kept) to measure it.")
elif results:
    st.caption("**AUROC**: chance that a flipped sample gets a lower value than a clean one (0.5 = random, "
               "1 = perfect). **Precision / recall at k**: share of the k lowest that are flipped, with k = number "
               "of flips. **k-means F1**: F1 of the low cluster when values are split in two groups.")
    st.dataframe(compare.noise_metrics(ds, results), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(name, format="%.3f")
                                for c, name in (("auroc", "AUROC"), ("precision_at_k", "precision at k"),
                                                ("recall_at_k", "recall at k"), ("kmeans_f1", "k-means F1"))})
    st.plotly_chart(compare.detection_figure(ds, results), key="cmp_detection")

st.subheader("Point removal")
st.caption("Retrain a simple model (logistic regression on the run's embedding) after removing the lowest-valued "
           "x% of samples, versus removing a random x%, scored on the target set. Good values: the solid line "
           "stays up (or rises) while the dashed one falls.")
if chosen:
    job_id = compare.removal_job_id(record, chosen)
    if st.button("Compute point-removal curves", key="cmp_removal", icon=":material/show_chart:"):
        state.jobs().submit_task(job_id, compare.removal_task(record, ds, chosen))
    curve = progress.task_result(job_id, "Point removal")
    if curve is not None:
        st.plotly_chart(compare.removal_figure(curve, ds), key="cmp_removal_chart")
