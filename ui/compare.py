"""The Compare & check page's pieces: agreement between runs and detection of known noise."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from dataval_core import plots, tasks
from dataval_core.dataset import CLASSIFICATION, Dataset
from dataval_core.evaluation import detection_curve, detection_metrics, flagged_by_several, rank_agreement
from dataval_core.result import ValuationResult
from dataval_core.workspace import DatasetRecord, RunRecord

from . import review, state


def named_results(runs: Sequence[RunRecord]) -> list[ValuationResult]:
    """The runs' results, each named by its run label (two runs of one method stay apart)."""
    return [dataclasses.replace(review.result(r), method=r.label) for r in runs]


def agreement(results: Sequence[ValuationResult], k: int) -> pd.DataFrame:
    """Spearman correlation and bottom-k overlap for every pair of runs."""
    return rank_agreement(results, k)


def flagged(results: Sequence[ValuationResult], ds: Dataset, k: int) -> pd.DataFrame:
    """Samples in the bottom k of at least two runs, with their label (and injected-noise flag)."""
    frame = flagged_by_several(results, k)
    frame = frame[frame["n_runs"] >= 2].reset_index(drop=True)
    pos = pd.Index(ds.ids).get_indexer(frame["id"])
    frame.insert(1, "label", ds.label_names()[pos].astype(str))
    if ds.noisy is not None:
        frame["injected_noise"] = ds.noisy[pos]
    return frame


def _noisy_for(ds: Dataset, res: ValuationResult):
    return ds.noisy[pd.Index(ds.ids).get_indexer(res.ids)]


def noise_metrics(ds: Dataset, results: Sequence[ValuationResult]) -> pd.DataFrame:
    """Detection metrics of each run against the injected (known) noise."""
    rows = [{"run": r.method, **detection_metrics(r.values, _noisy_for(ds, r))} for r in results]
    return pd.DataFrame(rows)


def detection_figure(ds: Dataset, results: Sequence[ValuationResult]):
    """Fraction of noisy samples found vs fraction inspected, one line per run (the report's figure)."""
    curves = {r.method: detection_curve(r.values, _noisy_for(ds, r)) for r in results}
    rate = float(ds.noisy[~ds.is_target].mean()) if ds.noisy is not None else None
    return plots.detection_curve_figure(curves, noise_rate=rate, title="")


def removal_task(record: DatasetRecord, ds: Dataset, runs: Sequence[RunRecord]):
    """The background point-removal job (:func:`dataval_core.tasks.removal_curves`), its arguments
    (the runs' values, the cache folder) resolved here on the script thread."""
    results = {r.label: review.result(r) for r in runs}
    return tasks.as_task(tasks.removal_curves, ds, results, cache_dir=state.workspace().cache_dir)


def removal_job_id(record: DatasetRecord, runs: Sequence[RunRecord]) -> str:
    """Job id of the point-removal computation for these runs."""
    return "removal:" + record.key + ":" + ",".join(sorted(r.run_id for r in runs))


def removal_figure(frame: pd.DataFrame, ds: Dataset):
    """Model score after removing the lowest-valued x% vs a random x%, per run (the report's figure)."""
    return plots.point_removal_figure(frame, score_name="accuracy" if ds.task == CLASSIFICATION else "R²", title="")
