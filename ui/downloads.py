"""Files the Export page offers, built on demand from the workspace (cleaned data, values, decisions, report)."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd

from dataval_core.annotations import annotations_table
from dataval_core.bundle import export_bundle
from dataval_core.data_issues import DataIssues
from dataval_core.dataset import Dataset
from dataval_core.export import (
    export_counts,
    export_dataset,
    values_table,
    write_decisions_csv,
)
from dataval_core.result import ValuationResult
from dataval_core.workspace import DatasetRecord

from . import actions, issues_view, review, state

SUFFIX = {"csv": "csv", "parquet": "parquet", "images": "zip", "images-manifest": "zip"}


def results(record: DatasetRecord) -> dict[str, ValuationResult]:
    """Every finished run of the dataset, keyed by its label (oldest first)."""
    return {r.label: review.result(r) for r in reversed(actions.finished_runs(record))}


def plan_counts(record: DatasetRecord, ds: Dataset, drop_duplicates: bool = False) -> dict[str, int]:
    """How many of the input's rows the export keeps undecided, keeps, drops and relabels, how many rows the
    cleaned file has (``exported``), how many copies of exact duplicates it leaves out (``duplicates``, with
    ``drop_duplicates``) and how many separate target-file rows it leaves out."""
    return export_counts(ds, state.workspace().decision_log(record.key), drop_duplicates=drop_duplicates)


def cleaned_name(ds: Dataset) -> str:
    """File name of the cleaned dataset download."""
    return f"{ds.name}_cleaned.{SUFFIX.get(ds.source_format, 'csv')}"


def cleaned_bytes(record: DatasetRecord, ds: Dataset, drop_duplicates: bool = False) -> bytes:
    """The cleaned dataset in the input's format (without the extra copies of exact duplicates if asked)."""
    path = export_dataset(ds, state.workspace().decision_log(record.key),
                          state.workspace().export_dir(record.key) / cleaned_name(ds), drop_duplicates=drop_duplicates)
    return path.read_bytes()


def values_bytes(record: DatasetRecord, ds: Dataset) -> bytes:
    """values.csv: one row per sample with every run's value, rank and suggestion."""
    return values_table(ds, results(record)).to_csv(index=False).encode()


def decisions_bytes(record: DatasetRecord) -> bytes:
    """decisions.csv: the full audit log, oldest first."""
    path = write_decisions_csv(state.workspace().decision_log(record.key),
                               state.workspace().export_dir(record.key) / "decisions.csv")
    return path.read_bytes()


def annotations_bytes(record: DatasetRecord) -> bytes:
    """annotations.csv: the tags and note in force per sample (samples with neither left out)."""
    return annotations_table(state.workspace().annotations(record.key)).to_csv(index=False).encode()


def report_bytes(record: DatasetRecord, ds: Dataset, issues: DataIssues | None = None) -> bytes:
    """The one-page HTML report with the plots (and a section per data-issue type when ``issues`` are given)."""
    from dataval_core.report import html_report

    return html_report(ds, results(record), state.workspace().decision_log(record.key), issues=issues).encode()


def bundle_bytes(record: DatasetRecord, ds: Dataset, issues: DataIssues | None = None,
                 drop_duplicates: bool = False) -> bytes:
    """All of the above in one zip."""
    path = export_bundle(ds, results(record), state.workspace().decision_log(record.key),
                         state.workspace().export_dir(record.key) / f"{ds.name}_export.zip", issues=issues,
                         drop_duplicates=drop_duplicates, annotations=state.workspace().annotations(record.key))
    return path.read_bytes()


def log_preview(record: DatasetRecord, n: int = 200) -> pd.DataFrame:
    """The latest ``n`` decisions, newest first, for display.

    Columns: time (UTC, to the second), id, action, old_label, new_label (blank unless
    relabeled), run (the run's label, as on the other pages), value, rank.
    """
    log = state.workspace().decision_log(record.key).iloc[::-1].head(n)
    labels = {r.run_id: r.label for r in state.workspace().list_runs(record.key)}
    out = pd.DataFrame({
        "time": pd.to_datetime(log["time"], utc=True, errors="coerce").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "id": log["id"], "action": log["action"], "old_label": log["old_label"],
        "new_label": log["new_label"].where(log["new_label"].notna(), ""),
        "run": log["run_id"].map(labels).fillna(log["run_id"]), "value": log["value"], "rank": log["rank"]})
    return out.reset_index(drop=True)


def downloads(record: DatasetRecord, ds: Dataset,
              drop_duplicates: bool = False) -> list[tuple[str, str, str, Callable[[], bytes]]]:
    """(label, file name, mime, zero-argument builder) for each download button; the report holds the data
    issues already computed on Review (:func:`ui.issues_view.report_issues`)."""
    issues = issues_view.report_issues(record)
    return [
        ("Cleaned dataset", cleaned_name(ds), "application/octet-stream",
         partial(cleaned_bytes, record, ds, drop_duplicates)),
        ("values.csv (all runs)", "values.csv", "text/csv", partial(values_bytes, record, ds)),
        ("decisions.csv", "decisions.csv", "text/csv", partial(decisions_bytes, record)),
        ("annotations.csv (tags, notes)", "annotations.csv", "text/csv", partial(annotations_bytes, record)),
        ("HTML report", f"{ds.name}_report.html", "text/html", partial(report_bytes, record, ds, issues)),
        ("Everything (zip)", f"{ds.name}_export.zip", "application/zip",
         partial(bundle_bytes, record, ds, issues, drop_duplicates)),
    ]
