"""Review's find-similar strip: the samples nearest one sample, as cards (images) or rows (tables), each with
its own decision buttons.

The similar button on a card (or the picker under the table) names a sample; its neighbours are found by
:func:`dataval_core.similar.similar_samples` as a background job (the features usually come from the run's
cache, but an uncached embedding is built there, never on the page's thread), and shown above the page's
cards until closed. The strip's cards decide through the same event path as the page's.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dataval_core.dataset import Dataset
from dataval_core.similar import DEFAULT_K, similar_samples
from dataval_core.tasks import as_task
from dataval_core.workspace import DatasetRecord, RunRecord

from . import progress, review, state

PREFIX = "sim_"


def job_id(record: DatasetRecord, run: RunRecord, sample_id: str, k: int = DEFAULT_K) -> str:
    return f"similar:{record.key}:{run.run_id}:{k}:{sample_id}"


def _close() -> None:
    st.session_state.pop(review.SIMILAR, None)


def neighbours(record: DatasetRecord, ds: Dataset, run: RunRecord, sample_id: str) -> pd.DataFrame | None:
    """The sample's neighbours (``id``, ``distance``, ``space``) once the job is done, else None (its bar drawn)."""
    job = job_id(record, run, sample_id)
    embedding = review.result(run).embedding or run.embedding
    state.jobs().submit_task(job, as_task(similar_samples, ds, sample_id, embedding, k=DEFAULT_K, seed=run.seed,
                                          cache_dir=state.workspace().cache_dir))
    return progress.task_result(job, f"Finding samples similar to {sample_id}")


def strip(record: DatasetRecord, ds: Dataset, run: RunRecord, frame: pd.DataFrame, view: str | None) -> None:
    """The find-similar strip for the sample named in session state, if any (drawn above the page's samples)."""
    sample_id = st.session_state.get(review.SIMILAR)
    if not sample_id:
        return
    with st.container(border=True, key="rv_similar_strip"):
        head, close = st.columns([6, 1], vertical_alignment="center")
        close.button("Close", key="rv_similar_close", on_click=_close, icon=":material/close:")
        found = neighbours(record, ds, run, str(sample_id))
        if found is None:
            head.markdown(f"**Similar to `{sample_id}`**")
            return
        rows = found[["id"]].merge(frame, on="id", how="inner")  # nearest first, the run's valued samples
        space = found["space"].iloc[0] if len(found) else "raw"
        far = f"{found['distance'].iloc[-1]:.3g}" if len(found) else "–"
        head.markdown(f"**Similar to `{sample_id}`** · the {len(rows)} nearest valued samples in the **{space}** "
                      f"embedding (distance up to {far}), nearest first")
        if rows.empty:
            st.caption("No other valued sample to compare with.")
        elif view == "Grid" and ds.modality == "image":
            review.card_grid(rows, ds, record, run, prefix=PREFIX)
        else:
            review.table_view(rows, ds, record, run, prefix=PREFIX)


def table_picker(page: pd.DataFrame) -> None:
    """For the table view: find the samples similar to one row of the page."""
    if page.empty:
        return
    with st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="rv_similar_pick_row"):
        pick = st.selectbox("Find similar to", page["id"].tolist(), index=None, key="rv_similar_pick",
                            placeholder="a sample id on this page", width=260,
                            help="Shows the nearest valued samples in this run's embedding, above the table.")
        st.button("Find similar", key="rv_similar_go", icon=":material/join_inner:", disabled=pick is None,
                  on_click=review.on_similar, args=(pick,))
