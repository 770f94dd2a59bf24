"""The Map page's pieces: a background map task and the WebGL scatter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px

from dataval_core.dataset import Dataset
from dataval_core.workspace import DatasetRecord, RunRecord

from . import state

COLOR_BY = ("Value", "Decision", "Label", "Injected noise")
#: the Map page's layout choices -> ``map_coordinates`` method ("auto": UMAP up to ``UMAP_MAX_POINTS``, else PCA)
LAYOUTS = {"UMAP": "auto", "PCA (instant)": "pca"}
#: the largest map the app lays out with UMAP (50,000 points take minutes on 2 cores; PCA above)
UMAP_MAX_POINTS = 100_000
#: the view spans these quantiles of each axis plus ``VIEW_MARGIN`` of their distance on each side;
#: points beyond are drawn on the view's edge
VIEW_QUANTILES = (0.01, 0.99)
VIEW_MARGIN = 0.25
_DECISION_COLORS = {"undecided": "#b8c2d1", "keep": "#2e9d5b", "drop": "#d9453b", "relabel": "#e7a33e"}


def job_id(record: DatasetRecord, run: RunRecord, method: str = "auto") -> str:
    """Id of the map job for a run's embedding and layout (runs sharing an embedding share the map)."""
    return f"map:{record.key}:{run.embedding}:{run.seed}:{method}"


def map_task(ds: Dataset, run: RunRecord, method: str = "auto"):
    """A background task: embed the valued rows as the run did, then map them to 2-D (cached on disk).

    ``method`` is ``map_coordinates``'s: ``"auto"`` (UMAP up to ``UMAP_MAX_POINTS``, PCA above) or ``"pca"``.
    """
    from dataval_core.embeddings import build_problem
    from dataval_core.projection import map_coordinates

    def task(progress, cancel):
        cache = state.workspace().cache_dir
        problem = build_problem(ds, run.embedding, seed=run.seed, cache_dir=cache, progress=progress, cancel=cancel)
        return map_coordinates(problem.x, problem.ids, seed=run.seed, cache_dir=cache, method=method,
                               pca_above=UMAP_MAX_POINTS, progress=progress, cancel=cancel)

    return task


def plot_frame(coords: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """Map coordinates joined with each sample's label, value, rank and decision."""
    frame = coords.merge(review, on="id", how="inner")
    frame["decision"] = frame["action"].fillna("undecided")
    if "noisy" in frame:
        frame["injected noise"] = frame["noisy"].map({True: "flipped", False: "clean"})
    return frame


def robust_view(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Clip x and y to the ``VIEW_QUANTILES`` range (plus ``VIEW_MARGIN``), so one outlier cannot squeeze the map.

    Returns the clipped frame (clipped points sit on the view's edge, still hoverable and selectable)
    and how many points were clipped.
    """
    if frame.empty:
        return frame, 0
    out = frame.copy()
    clipped = np.zeros(len(out), dtype=bool)
    for axis in ("x", "y"):
        lo, hi = np.quantile(out[axis].to_numpy(), VIEW_QUANTILES)
        pad = VIEW_MARGIN * (hi - lo) if hi > lo else 1.0
        lo, hi = lo - pad, hi + pad
        clipped |= ((out[axis] < lo) | (out[axis] > hi)).to_numpy()
        out[axis] = out[axis].clip(lo, hi)
    return out, int(clipped.sum())


def figure(frame: pd.DataFrame, color: str):
    """WebGL scatter coloured by value, decision, label or injected noise; box and lasso select."""
    hover = {"id": True, "label": True, "value": ":.4g", "rank": True, "suggested": True, "decision": True,
             "x": False, "y": False}
    common = dict(x="x", y="y", render_mode="webgl", hover_data=hover, custom_data=["id"])
    if color == "Value":
        fig = px.scatter(frame, color="value", color_continuous_scale="RdYlGn", **common)
    elif color == "Decision":
        fig = px.scatter(frame, color="decision", color_discrete_map=_DECISION_COLORS, **common)
    elif color == "Injected noise" and "injected noise" in frame:
        fig = px.scatter(frame, color="injected noise", color_discrete_map={"flipped": "#d9453b", "clean": "#b8c2d1"},
                         **common)
    else:
        fig = px.scatter(frame, color=frame["label"].astype(str), **common)
    fig.update_traces(marker={"size": 5, "opacity": 0.8})
    fig.update_layout(height=620, margin={"t": 10, "l": 10, "r": 10, "b": 10}, dragmode="lasso",
                      xaxis={"visible": False}, yaxis={"visible": False}, legend_title_text="")
    return fig


def selected_ids(event, frame: pd.DataFrame) -> list[str]:
    """Sample ids picked with the box or lasso, lowest value first (the order Review shows them in)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    picked = {p["customdata"][0] for p in points if p.get("customdata")}
    chosen = frame[frame["id"].isin(picked)].sort_values(["value", "id"], kind="stable")
    return chosen["id"].tolist()
