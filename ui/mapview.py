"""The Map page's pieces: its background map job and its figure (both from the engine)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from dataval_core import plots, tasks
from dataval_core.dataset import Dataset
from dataval_core.decisions import UNDECIDED
from dataval_core.workspace import DatasetRecord, RunRecord

from . import state

COLOR_BY = ("Value", "Decision", "Label", "Injected noise")
#: the Map page's layout choices -> ``map_coordinates`` method ("auto": UMAP up to ``UMAP_MAX_POINTS``, else PCA)
LAYOUTS = {"UMAP": "auto", "PCA (instant)": "pca"}
_COLOR_KEYS = dict(zip(COLOR_BY, plots.MAP_COLORS))
#: the largest map the app lays out with UMAP (50,000 points take minutes on 2 cores; PCA above)
UMAP_MAX_POINTS = 100_000
#: the view spans these quantiles of each axis plus ``VIEW_MARGIN`` of their distance on each side;
#: points beyond are drawn on the view's edge
VIEW_QUANTILES = (0.01, 0.99)
VIEW_MARGIN = 0.25


def job_id(record: DatasetRecord, run: RunRecord, method: str = "auto") -> str:
    """Id of the map job for a run's embedding and layout (runs sharing an embedding share the map)."""
    return f"map:{record.key}:{run.embedding}:{run.seed}:{method}"


def map_task(ds: Dataset, run: RunRecord, method: str = "auto"):
    """The background map job (:func:`dataval_core.tasks.dataset_map`), its arguments resolved here.

    ``method`` is ``map_coordinates``'s: ``"auto"`` (UMAP up to ``UMAP_MAX_POINTS``, PCA above) or ``"pca"``.
    """
    return tasks.as_task(tasks.dataset_map, ds, run.embedding, seed=run.seed, method=method,
                         pca_above=UMAP_MAX_POINTS, cache_dir=state.workspace().cache_dir)


def plot_frame(coords: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """Map coordinates joined with each sample's label, value, rank and decision."""
    frame = coords.merge(review, on="id", how="inner")
    frame["decision"] = frame["action"].fillna(UNDECIDED)
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
    """The map (:func:`dataval_core.plots.map_figure`) coloured by the page's choice; box and lasso select."""
    return plots.map_figure(frame, _COLOR_KEYS[color])


def selected_ids(event, frame: pd.DataFrame) -> list[str]:
    """Sample ids picked with the box or lasso, lowest value first (the order Review shows them in)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    picked = {p["customdata"][0] for p in points if p.get("customdata")}
    chosen = frame[frame["id"].isin(picked)].sort_values(["value", "id"], kind="stable")
    return chosen["id"].tolist()
