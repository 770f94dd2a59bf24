"""Why consensus ranked as it did: each member's score on the self-probe, in a curator's words."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from dataval_core.progress import RunState
from dataval_core.result import ValuationResult
from dataval_core.workspace import RunRecord

from . import review

#: what each member looks at, in plain words
_IDEA = {
    "knn_shapley": "do its nearest trusted (target) samples share its label?",
    "data_oob": "do models trained without it predict its label?",
    "dvgs": "does its training signal point the same way as the trusted samples'?",
    "sava": "how much does it pull the data away from the trusted samples (optimal transport)?",
    "lava": "how much does it pull the data away from the trusted samples (optimal transport)?",
    "lossval": "does a model trained on all data learn to down-weight it?",
    "dvemb": "how much did it help training reach the trusted samples?",
}
_SPACE = {"raw": "on the features as given", "learned": "on features learned from the trusted samples"}


def probe_frame(result: ValuationResult) -> pd.DataFrame:
    """One row per member: what it checks, its probe score (share of planted errors it ranks below a clean
    sample), its share of the consensus and its seconds (its run on the data plus its run on the probe;
    None for runs saved before consensus kept them), best probe score first."""
    rows = []
    for key in result.extras:
        if not key.startswith("value:"):
            continue
        member = key[len("value:"):]
        method, _, space = member.partition("@")
        fits = [result.timings[t] for t in (f"member:{member}", f"probe:{member}") if t in result.timings]
        rows.append({"member": f"{method} ({_SPACE.get(space, space)})", "checks": _IDEA.get(method, ""),
                     "probe score": float(result.extras[f"probe_auroc:{member}"][0]),
                     "share of consensus": float(result.extras[f"weight:{member}"][0]),
                     "seconds": float(sum(fits)) if len(fits) == 2 else None})
    return pd.DataFrame(rows).sort_values("probe score", ascending=False, kind="stable").reset_index(drop=True)


def explain_runs(runs: Sequence[RunRecord]) -> None:
    """For each finished consensus run among ``runs``: the members' probe scores beside their share."""
    for run in runs:
        if run.method != "consensus" or run.status != RunState.DONE:
            continue
        frame = probe_frame(review.result(run))
        if frame.empty:
            continue
        top = frame.iloc[0]
        with st.expander(f"Why consensus ranked this way ({run.label})"):
            st.caption("Before ranking your data, consensus planted extra label errors in a copy of it and checked "
                       "which method finds them. **Probe score**: how often a planted error ranks below a clean "
                       "sample (1.00 = always, 0.50 = a coin toss). Methods that find the planted errors get a "
                       f"larger **share of consensus**. On this data {top['member']} found them best "
                       f"({top['probe score']:.2f}).")
            st.dataframe(frame, hide_index=True, column_config={
                "probe score": st.column_config.ProgressColumn("probe score", min_value=0.5, max_value=1,
                                                               format="%.3f"),
                "share of consensus": st.column_config.ProgressColumn("share of consensus", min_value=0,
                                                                      max_value=1, format="%.2f"),
                "seconds": st.column_config.NumberColumn("seconds", format="%.1f",
                                                         help="The member's run on your data plus its run on "
                                                              "the probe copy.")})
