"""The review table of one run, and summaries that help a curator review it: flags across runs,
suggestion confidence, per-class counts, given-vs-suggested confusion, and known-bad rows from
the user's own truth.

Everything works on the review table (:func:`review_table`: one row per valued sample) or on
plain results, so the app's Review and Map pages, the report and notebooks share it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .calibration import calibrated_confidence
from .columns import is_truth_like
from .dataset import DataError, Dataset
from .result import ValuationResult

#: a sample is "low" in a run when its value is in the run's lowest this-many percent
LOW_PERCENTILE = 10.0
#: share of the runs with a suggestion that must agree for a suggestion to count as confident
CONFIDENT_AGREEMENT = 0.5
#: column values read as "known bad" in a truth column
_TRUE_WORDS = {"1", "true", "yes", "bad", "noisy", "wrong", "mislabeled", "mislabelled"}


def given(v: object) -> bool:
    """Whether a cell holds something (not None, not NaN): a suggestion, a confidence."""
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def runs_flagging(results: Sequence[ValuationResult], ids: np.ndarray, low: float = LOW_PERCENTILE) -> np.ndarray:
    """How many of ``results`` put each of ``ids`` in their lowest ``low`` percent (0 where a run lacks the id)."""
    counts = np.zeros(len(ids), dtype=np.int64)
    for r in results:
        flagged = pd.Series(r.percentiles < low, index=r.ids)
        counts += flagged.reindex(ids, fill_value=False).to_numpy(dtype=bool)
    return counts


def suggestion_confidence(result: ValuationResult, others: Sequence[ValuationResult]) -> np.ndarray:
    """How sure the suggestion of ``result`` is, per sample, in [0, 1] (NaN without a suggestion).

    A method's own confidence (the ``suggestion_confidence`` extra, e.g. a consensus's
    member agreement) is used when it has one; otherwise it is the share of runs with a
    suggestion for the sample (``result`` included) that suggest the same label, and
    unknown (NaN) where no other run has a suggestion for it.
    """
    if result.suggested_labels is None:
        return np.full(len(result.ids), np.nan)
    own = result.extras.get("suggestion_confidence")
    if own is not None:
        conf = np.asarray(own, dtype=float).copy()
    else:
        mine = pd.Series(result.suggested_labels, index=result.ids)
        agree = np.ones(len(mine))
        voters = np.ones(len(mine))
        for r in others:
            if r.suggested_labels is None or r is result:
                continue
            theirs = pd.Series(r.suggested_labels, index=r.ids).reindex(result.ids).to_numpy(dtype=object)
            has = np.array([given(v) for v in theirs])
            voters += has
            agree += has & (theirs == mine.to_numpy(dtype=object))
        conf = np.where(voters >= 2, agree / voters, np.nan)  # a lone run is no second opinion
    missing = np.array([not given(v) for v in result.suggested_labels])
    conf[missing] = np.nan
    return conf


#: ``review_table``'s default: look the user's truth up (:func:`user_truth`)
_FIND: tuple[str, np.ndarray] = ("", np.array([]))


def review_table(dataset: Dataset, result: ValuationResult, decisions: pd.DataFrame | None = None,
                 others: Sequence[ValuationResult] = (),
                 truth: tuple[str, np.ndarray] | None = _FIND) -> pd.DataFrame:
    """One row per sample ``result`` valued, lowest value first.

    Args:
        dataset: the dataset the run valued.
        result: the run.
        decisions: the decisions in force, one row per decided id (``id``, ``action``,
            ``new_label``; e.g. :func:`dataval_core.decisions.current_decisions`), or ``None``.
        others: the other runs on the dataset, for ``flagged_by``.
        truth: the user's own truth (:func:`user_truth`, looked up when not given; None: none).

    Returns:
        Columns ``id``, ``label`` (text), ``value``, ``percentile`` (0 = lowest of the run),
        ``rank``, ``suggested``, ``confidence`` (calibrated chance, 0-1, that a suggestion
        differing from the label is right; NaN where no calibrated number exists, see
        :mod:`dataval_core.calibration`), ``flagged_by`` (runs, of ``result`` and ``others``,
        that put the sample in their lowest :data:`LOW_PERCENTILE` percent), ``action``
        (``None`` = undecided) and ``new_label``; with injected noise also ``noisy`` and
        ``original`` (the true label); with the user's own truth (:func:`user_truth`) also ``truth``, that
        column's cell as text (None where empty), and ``truth_from``, the column's name.

    Raises:
        DataError: ``result`` holds ids that are not in ``dataset``.
    """
    pos = dataset.positions(result.ids)
    frame = pd.DataFrame({"id": result.ids, "label": dataset.label_names()[pos].astype(str), "value": result.values,
                          "percentile": result.percentiles, "rank": result.ranks})
    frame["suggested"] = _or_none(result.suggested_labels if result.suggested_labels is not None
                                  else np.full(len(frame), None, dtype=object))
    frame["confidence"] = calibrated_confidence(result, frame["label"].to_numpy(dtype=object))
    frame["flagged_by"] = runs_flagging([result, *[o for o in others if o is not result]], result.ids)
    current = (decisions if decisions is not None and len(decisions)
               else pd.DataFrame(columns=["id", "action", "new_label"])).set_index("id")
    for col in ("action", "new_label"):
        frame[col] = _or_none(current[col].reindex(frame["id"]).to_numpy(dtype=object))
    if dataset.noisy is not None:
        true_labels = dataset.original_labels if dataset.original_labels is not None else dataset.labels
        frame["noisy"] = dataset.noisy[pos]
        frame["original"] = dataset.label_names(true_labels)[pos].astype(str)
    truth = user_truth(dataset) if truth is _FIND else truth
    if truth is not None:
        frame["truth"] = _or_none(truth[1][pos])
        frame["truth_from"] = truth[0]
    return frame.sort_values("rank", ignore_index=True)


def user_truth(dataset: Dataset) -> tuple[str, np.ndarray] | None:
    """The user's own truth about each row, shown beside the sample on Review: ``(column, cells)`` with one text
    cell per dataset row (None where empty), or None when the data hold none.

    A table's truth is a column the features leave out (the Data page's "Leave out", proposed for truth-like
    columns); an image set's, a column of its manifest CSV besides ``path`` and the label. Of those, the first
    named and shaped like the truth (``is_mislabeled``, ``true_label``: see
    :func:`~dataval_core.columns.is_truth_like`) is taken, else the first that marks known-bad rows
    (true/false, 0/1 or a few such words).
    """
    frame, rows = _truth_source(dataset)
    if frame is None:
        return None
    named = [c for c in frame.columns if is_truth_like(c, frame[c])]
    flags = [c for c in frame.columns if _marks_rows(frame[c].dropna())]
    if not (named or flags):
        return None
    column = (named or flags)[0]
    cells = np.full(len(dataset), None, dtype=object)
    values = frame[column].to_numpy(dtype=object)
    ok = rows >= 0
    cells[rows[ok]] = [None if pd.isna(v) else str(v) for v in values[ok]]
    return str(column), cells


def _truth_source(dataset: Dataset) -> tuple[pd.DataFrame | None, np.ndarray]:
    """The columns that may hold the user's truth, and the dataset row of each of their rows (-1: none)."""
    if dataset.table is not None:
        skip = {dataset.label_column, dataset.meta.get("id_column"), *dataset.feature_columns}
        frame = dataset.table[[c for c in dataset.table.columns if c not in skip]]
        n = min(len(frame), len(dataset))
        return frame.iloc[:n], np.arange(n)
    name = dataset.meta.get("manifest_name")
    if dataset.image_root is None or not name or not (Path(dataset.image_root) / name).is_file():
        return None, np.array([], dtype=np.int64)
    try:
        manifest = pd.read_csv(Path(dataset.image_root) / name, dtype=object)
    except (OSError, ValueError, pd.errors.ParserError):
        return None, np.array([], dtype=np.int64)  # the manifest was read at upload; the truth is extra
    if "path" not in manifest.columns:
        return None, np.array([], dtype=np.int64)
    index = pd.Series(np.arange(len(dataset)), index=dataset.ids)
    paths = manifest["path"].astype(str).str.strip().str.replace("\\", "/", regex=False).str.lstrip("./")
    rows = index.reindex(paths).fillna(-1).to_numpy(dtype=np.int64)
    label = dataset.meta.get("label_column", "label")
    return manifest.drop(columns=[c for c in ("path", label) if c in manifest.columns]), rows


def _marks_rows(col: pd.Series) -> bool:
    """A column that marks known-bad rows: boolean, 0/1, or a few words such as yes/no, bad/good."""
    if pd.api.types.is_bool_dtype(col) or (pd.api.types.is_numeric_dtype(col) and set(col.unique()) <= {0, 1}):
        return True
    words = col.astype(str).str.strip().str.lower()
    return len(words) > 0 and bool(words.isin(_TRUE_WORDS | {"0", "false", "no", "good", "clean", "ok"}).all()) \
        and words.nunique() <= 4


def _or_none(values: np.ndarray) -> pd.Series:
    """An object column with ``None`` where a value is missing (pandas would read text plus gaps as a string
    column holding NaN, and NaN is no ``None``: an undecided card read as decided)."""
    column = pd.Series(np.asarray(values, dtype=object), dtype=object)
    return column.where(column.notna(), None)


def class_summary(frame: pd.DataFrame, low: float = LOW_PERCENTILE) -> pd.DataFrame:
    """Per class: samples, how many are low-valued, and how many are dropped, relabeled, kept or undecided."""
    action = frame["action"].fillna("undecided")
    out = pd.DataFrame({"class": frame["label"], "low": frame["percentile"] < low,
                        "drop": action == "drop", "relabel": action == "relabel", "keep": action == "keep",
                        "undecided": action == "undecided"})
    table = out.groupby("class").agg(samples=("low", "size"), low=("low", "sum"), dropped=("drop", "sum"),
                                     relabeled=("relabel", "sum"), kept=("keep", "sum"),
                                     undecided=("undecided", "sum")).reset_index()
    table["low_share"] = table["low"] / table["samples"]
    return table.sort_values(["low_share", "class"], ascending=[False, True], ignore_index=True)


def label_confusion(frame: pd.DataFrame) -> pd.DataFrame:
    """Given vs suggested label: one row per (given, suggested) pair that occurs, with its count and ids."""
    has = frame["suggested"].map(given)
    sub = frame[has]
    if sub.empty:
        return pd.DataFrame(columns=["given", "suggested", "count", "ids"])
    grouped = sub.groupby([sub["label"].astype(str), sub["suggested"].astype(str)])["id"]
    out = grouped.agg(["size", list]).reset_index()
    out.columns = ["given", "suggested", "count", "ids"]
    return out


def truth_from_column(dataset: Dataset, column: str) -> np.ndarray:
    """Known-bad flags (one per dataset row) from a column of the table: true/1/yes/bad mark a bad row.

    Raises:
        DataError: no such column, or a column that marks no row or every row.
    """
    if dataset.table is None or column not in dataset.table.columns:
        raise DataError(f"No column {column!r} in this dataset.")
    col = dataset.table[column]
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        flags = col.fillna(0).astype(float).to_numpy() != 0
    else:
        flags = col.astype("string").str.strip().str.lower().isin(_TRUE_WORDS).fillna(False).to_numpy(dtype=bool)
    flags = np.concatenate([flags, np.zeros(len(dataset) - len(flags), dtype=bool)])  # target-file rows: clean
    return _checked(dataset, flags, f"column {column!r}")


def truth_from_ids(dataset: Dataset, ids: Iterable[object]) -> np.ndarray:
    """Known-bad flags from a list of sample ids (e.g. the first column of an uploaded CSV).

    Raises:
        DataError: none of the ids is in the dataset, or the list marks every valued row.
    """
    wanted = {str(i).strip() for i in ids}
    flags = np.isin(dataset.ids, list(wanted))
    if not flags.any():
        raise DataError(f"None of the {len(wanted):,} ids in the file is a sample id of this dataset "
                        f"(ids look like {dataset.ids[0]!r}).")
    return _checked(dataset, flags, "file")


def _checked(dataset: Dataset, flags: np.ndarray, source: str) -> np.ndarray:
    valued = flags[~dataset.is_target]
    if not valued.any() or valued.all():
        raise DataError(f"The {source} marks {'no' if not valued.any() else 'every'} valued row as bad; "
                        "scoring needs both bad and good rows.")
    return flags


def truth_columns(dataset: Dataset) -> list[str]:
    """Table columns that could mark known-bad rows: boolean, 0/1, or few distinct words."""
    if dataset.table is None:
        return []
    out = []
    for name in dataset.table.columns:
        if name == dataset.label_column:
            continue
        col = dataset.table[name].dropna()
        if pd.api.types.is_bool_dtype(col) or (pd.api.types.is_numeric_dtype(col) and set(col.unique()) <= {0, 1}):
            out.append(str(name))
        elif not pd.api.types.is_numeric_dtype(col) and col.astype(str).str.lower().isin(_TRUE_WORDS).any() \
                and col.nunique() <= 4:
            out.append(str(name))
    return out
