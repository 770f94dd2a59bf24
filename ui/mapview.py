"""The Map page's pieces: a background map task and the WebGL scatter."""
from __future__ import annotations

import pandas as pd
import plotly.express as px

from dataval_core import tasks
from dataval_core.dataset import Dataset
from dataval_core.workspace import DatasetRecord, RunRecord

from . import state

COLOR_BY = ("Value", "Decision", "Label", "Injected noise")
#: the Map page's layout choices -> ``map_coordinates`` method
LAYOUTS = {"UMAP": "auto", "PCA (instant)": "pca"}
_DECISION_COLORS = {"undecided": "#b8c2d1", "keep": "#2e9d5b", "drop": "#d9453b", "relabel": "#e7a33e"}


def job_id(record: DatasetRecord, run: RunRecord, method: str = "auto") -> str:
    """Id of the map job for a run's embedding and layout (runs sharing an embedding share the map)."""
    return f"map:{record.key}:{run.embedding}:{run.seed}:{method}"


def map_task(ds: Dataset, run: RunRecord, method: str = "auto"):
    """The background map job (:func:`dataval_core.tasks.dataset_map`), its arguments resolved here.

    ``method`` is ``map_coordinates``'s: ``"auto"`` (UMAP up to 20,000 points, PCA above) or ``"pca"``.
    """
    return tasks.as_task(tasks.dataset_map, ds, run.embedding, seed=run.seed, method=method,
                         cache_dir=state.workspace().cache_dir)


def plot_frame(coords: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """Map coordinates joined with each sample's label, value, rank and decision."""
    frame = coords.merge(review, on="id", how="inner")
    frame["decision"] = frame["action"].fillna("undecided")
    if "noisy" in frame:
        frame["injected noise"] = frame["noisy"].map({True: "flipped", False: "clean"})
    return frame


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
    """Sample ids picked with the box or lasso (from the chart's selection event)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    return [p["customdata"][0] for p in points if p.get("customdata")]
