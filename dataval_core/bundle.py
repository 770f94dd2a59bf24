"""The one-zip download of a curation session: cleaned data, values, decisions and the report.

This sits above :mod:`dataval_core.export` and :mod:`dataval_core.report`, so neither
imports the other.
"""
from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .annotations import annotations_table
from .data_issues import DataIssues
from .dataset import Dataset
from .decisions import full_log
from .export import ZIP_TIME, export_dataset, values_table
from .report import html_report
from .result import Results


def export_bundle(dataset: Dataset, results: Results, decisions: pd.DataFrame | None, out_zip: str | Path,
                  metrics: Mapping[str, pd.DataFrame | Mapping[str, Any]] | None = None, *,
                  issues: DataIssues | None = None, drop_duplicates: bool = False,
                  annotations: pd.DataFrame | None = None) -> Path:
    """Everything the Export page offers, in one zip for a single download button.

    The zip holds the cleaned dataset (``<name>_cleaned.csv``/``.parquet``/``.zip``,
    see :func:`~dataval_core.export.export_dataset`), ``values.csv``, ``decisions.csv``,
    ``annotations.csv`` (tags and note per sample) and ``report.html`` (see :func:`~dataval_core.report.html_report`).

    Args:
        dataset: the dataset as the app shows it.
        results: the runs (see :func:`~dataval_core.export.values_table`).
        decisions: the audit log, or ``None``.
        out_zip: where to write the bundle.
        metrics: extra sections for the report (see :func:`~dataval_core.report.html_report`).
        issues: the data issues, a report section per type (see :func:`~dataval_core.report.html_report`).
        drop_duplicates: leave the extra copies of exact duplicates out of the cleaned dataset.
        annotations: the tags and notes in force (``Workspace.annotations``), or ``None`` (an empty file).

    Returns:
        ``out_zip`` as a Path.
    """
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    values = io.StringIO()
    values_table(dataset, results).to_csv(values, index=False)
    texts = {"values.csv": values.getvalue(), "decisions.csv": full_log(decisions).to_csv(index=False),
             "annotations.csv": annotations_table(annotations).to_csv(index=False),
             "report.html": html_report(dataset, results, decisions, metrics, issues=issues)}
    partial = out_zip.with_name(out_zip.name + ".part")  # a failed export leaves no half-written bundle
    try:
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(partial, "w") as zf:
            cleaned = export_dataset(dataset, decisions, Path(tmp), drop_duplicates=drop_duplicates)
            info = zipfile.ZipInfo(cleaned.name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED if cleaned.suffix == ".zip" else zipfile.ZIP_DEFLATED
            with open(cleaned, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)  # streamed: an images zip can be gigabytes
            for name, text in texts.items():
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, text.encode())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out_zip)
    return out_zip
