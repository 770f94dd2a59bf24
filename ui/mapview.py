"""The Map page's pieces: its background map job and its figure (both from the engine)."""
from __future__ import annotations

import pandas as pd

from dataval_core import plots, tasks
from dataval_core.dataset import Dataset
from dataval_core.decisions import UNDECIDED
from dataval_core.workspace import DatasetRecord, RunRecord

from . import state

COLOR_BY = ("Value", "Decision", "Label", "Injected noise")
#: the Map page's layout choices -> ``map_coordinates`` method
LAYOUTS = {"UMAP": "auto", "PCA (instant)": "pca"}
_COLOR_KEYS = dict(zip(COLOR_BY, plots.MAP_COLORS))


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
    frame["decision"] = frame["action"].fillna(UNDECIDED)
    return frame


def figure(frame: pd.DataFrame, color: str):
    """The map (:func:`dataval_core.plots.map_figure`) coloured by the page's choice; box and lasso select."""
    return plots.map_figure(frame, _COLOR_KEYS[color])


def selected_ids(event, frame: pd.DataFrame) -> list[str]:
    """Sample ids picked with the box or lasso (from the chart's selection event)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    return [p["customdata"][0] for p in points if p.get("customdata")]
