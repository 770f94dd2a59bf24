"""The Compare & check page's pieces: agreement between runs and detection of known noise."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dataval_core import plots, tasks
from dataval_core.dataset import CLASSIFICATION, Dataset
from dataval_core.evaluation import (
    detection_curve,
    detection_metrics,
    flagged_by_several,
    rank_agreement,
)
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
    pos = ds.positions(frame["id"])
    frame.insert(1, "label", ds.label_names()[pos].astype(str))
    if ds.noisy is not None:
        frame["injected_noise"] = ds.noisy[pos]
    return frame


def default_runs(runs: Sequence[RunRecord], limit: int = 6) -> list[RunRecord]:
    """Runs Compare preselects: the newest run of each method but random (``runs`` newest first), up to
    ``limit``; random joins only when fewer than two others exist."""
    picked: dict[str, RunRecord] = {}
    for r in runs:
        if r.method != "random" and r.method not in picked:
            picked[r.method] = r
    out = list(picked.values())[:limit]
    if len(out) < 2:
        out += [r for r in runs if r.method == "random"][:1]
    return out


def _known_bad(ds: Dataset, flags: np.ndarray | None) -> np.ndarray:
    if flags is not None:
        return flags
    if ds.noisy is None:
        raise ValueError("No known-bad rows: this dataset has no injected noise.")
    return ds.noisy


def _flags_for(ds: Dataset, flags: np.ndarray, res: ValuationResult) -> np.ndarray:
    return flags[ds.positions(res.ids)]


def noise_metrics(ds: Dataset, results: Sequence[ValuationResult], flags: np.ndarray | None = None) -> pd.DataFrame:
    """Detection metrics of each run against known-bad rows (``flags``, one per dataset row; default: the
    injected noise)."""
    flags = _known_bad(ds, flags)
    rows = [{"run": r.method, **detection_metrics(r.values, _flags_for(ds, flags, r))} for r in results]
    return pd.DataFrame(rows)


def detection_figure(ds: Dataset, results: Sequence[ValuationResult], flags: np.ndarray | None = None):
    """Fraction of known-bad samples found vs fraction inspected, one line per run: the report's figure, with
    the random order and the ideal curve (at the valued rows' share of known-bad ones)."""
    flags = _known_bad(ds, flags)
    curves = {r.method: detection_curve(r.values, _flags_for(ds, flags, r)) for r in results}
    valued = flags[~ds.is_target]
    rate = float(valued.mean()) if len(valued) else None
    return plots.detection_curve_figure(curves, noise_rate=rate, title="")


def removal_groups(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    """The runs grouped by the embedding they used: point-removal curves compare only within one embedding."""
    groups: dict[str, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(r.embedding or "default", []).append(r)
    return groups


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


def ids_from_upload(data: bytes) -> list[str]:
    """Sample ids from an uploaded CSV or text file: its first column (a header row naming ``id`` is skipped)."""
    import io

    from dataval_core.dataset import DataError

    try:
        frame = pd.read_csv(io.BytesIO(data), header=None, dtype=str, usecols=[0], skip_blank_lines=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"The ids file could not be read as CSV: {str(exc).splitlines()[0]}") from None
    ids = frame[0].dropna().str.strip().tolist()
    if ids and ids[0].lower() in ("id", "ids", "sample", "sample_id"):
        ids = ids[1:]
    return ids
