"""A self-contained one-page HTML report of a curation session.

The page embeds plotly.js once (inline, so it opens offline and from an e-mail
attachment) and holds: a dataset summary, decision counts, detection metrics
and curves when the injected noise is known, per run a value histogram and the
lowest-valued samples (images as base64 PNG thumbnails, tables as rows), a section per
data-issue type when the caller passes the issues (:mod:`dataval_core.data_issues`), and any
extra metrics the caller passes (e.g. the point-removal curve).
"""
from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from .curation import review_table
from .data_issues import ISSUE_TITLES, ISSUE_TYPES, DataIssues
from .dataset import IMAGE, Dataset
from .decisions import current_decisions
from .evaluation import detection_curve, detection_metrics
from .export import export_counts
from .images import thumbnail_png
from .plots import detection_curve_figure, point_removal_figure, value_histogram
from .result import Results, ResultStatus, ValuationResult, run_names
from .targets import describe_mode

#: lowest-valued samples listed per run
LOWEST_K = 20
#: table feature columns shown next to each lowest-valued row
MAX_FEATURE_COLUMNS = 6
POINT_REMOVAL_COLUMNS = {"fraction", "strategy", "score"}
#: rows listed per data-issue type
ISSUE_ROWS = 20
#: what each issue type's list is sorted by, for its note
_ISSUE_ORDER = {"conflicting_duplicates": "closest group first, a group's rows together",
                "near_duplicates": "closest group first, a group's rows together",
                "outliers": "farthest from the reference first",
                "reference_copies": "closest to a reference row first"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#202124}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #dadce0;padding-bottom:.3rem}
h3{font-size:1.05rem;margin-top:1.5rem}table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #dadce0;padding:.25rem .5rem;text-align:left;vertical-align:middle}
th{background:#f1f3f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
img.thumb{width:48px;height:auto;image-rendering:pixelated}.note{color:#5f6368;font-size:.85rem}
.noisy{color:#c62828;font-weight:600}
"""


def html_report(dataset: Dataset, results: Results, decisions: pd.DataFrame | None,
                metrics: Mapping[str, pd.DataFrame | Mapping[str, Any]] | None = None,
                issues: DataIssues | None = None) -> str:
    """Build the report page.

    Args:
        dataset: the dataset as the app shows it (with any injected noise).
        results: runs keyed by run name, or a sequence (see :func:`dataval_core.result.run_names`).
        decisions: the decisions audit log (or current decisions), or ``None``.
        metrics: extra sections, title → content: a point-removal frame
            (``fraction``, ``strategy``, ``score``; optional ``run``) is drawn and
            tabulated, any other DataFrame is tabulated, a mapping of numbers is a
            two-column table.
        issues: the dataset's data issues (duplicates, outliers, reference copies): a section per type.

    Returns:
        A complete HTML document (about 4.6 MB, most of it the inlined plotly.js).
    """
    runs = run_names(results)
    current = current_decisions(decisions)
    noisy = dataset.noisy
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>dataval report — {escape(dataset.name)}</h1><p class='note'>Generated {stamp}.</p>",
            _summary(dataset), _decision_section(dataset, current)]
    if noisy is not None and runs:
        body.append(_detection_section(dataset, runs, noisy))
    for name, result in runs.items():
        body.append(_run_section(dataset, name, result, current))
    if issues is not None:
        body += _issue_sections(dataset, issues, current)
    for title, content in (metrics or {}).items():
        body.append(_metrics_section(str(title), content))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>dataval report — {escape(dataset.name)}</title><style>{_CSS}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            + "\n".join(body) + "</body></html>")


def _figure(fig: go.Figure) -> str:
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False})


def _table(frame: pd.DataFrame, *, raw_html: tuple[str, ...] = ()) -> str:
    """An HTML table; cells are escaped except in ``raw_html`` columns (built here)."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(frame.columns, row):
            if col in raw_html:
                cells.append(f"<td>{v}</td>")
            elif isinstance(v, (float, np.floating)):
                cells.append(f"<td class='num'>{'' if np.isnan(v) else f'{v:.4g}'}</td>")
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                cells.append(f"<td class='num'>{v}</td>")
            else:
                cells.append(f"<td>{'' if v is None or v is pd.NA else escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _summary(dataset: Dataset) -> str:
    n, n_target = len(dataset), int(dataset.is_target.sum())
    facts = [("rows", f"{n:,}"), ("valued rows", f"{n - n_target:,}"), ("reference", describe_mode(dataset)),
             ("task", dataset.task), ("modality", dataset.modality), ("source format", dataset.source_format)]
    if dataset.classes:
        shown = ", ".join(dataset.classes[:20]) + (" …" if len(dataset.classes) > 20 else "")
        facts.append(("classes", f"{len(dataset.classes)}: {shown}"))
    noisy = dataset.noisy
    if noisy is None:
        facts.append(("injected noise", "none"))
    else:
        valued = ~dataset.is_target
        k = int(noisy[valued].sum())
        facts.append(("injected noise", f"{k:,} of {int(valued.sum()):,} valued rows "
                                        f"({k / max(1, int(valued.sum())):.1%})"))
    return "<h2>Dataset</h2>" + _table(pd.DataFrame(facts, columns=["fact", "value"]))


def _decision_section(dataset: Dataset, current: pd.DataFrame) -> str:
    """Decision counts over the input's rows; the note gives the cleaned file's row count."""
    counts = export_counts(dataset, current)
    rows = [(a, counts[a]) for a in ("keep", "drop", "relabel")] + [("undecided (kept)", counts["undecided"])]
    note = f"<p class='note'>The cleaned export has {counts['exported']:,} rows"
    n_file = counts["target_file_rows"]
    note += (f"; the {n_file:,} rows of the separate target file are not exported.</p>" if n_file else ".</p>")
    return "<h2>Decisions</h2>" + _table(pd.DataFrame(rows, columns=["action", "samples"])) + note


def _detection_section(dataset: Dataset, runs: Mapping[str, Any], noisy: np.ndarray) -> str:
    rows, curves, rate = [], {}, None
    for name, result in runs.items():
        flags = noisy[dataset.positions(result.ids)]
        if flags.all() or not flags.any():
            continue
        m = detection_metrics(result.values, flags)
        rows.append({"run": name, "method": result.method, "AUROC": m["auroc"],
                     "precision@k": m["precision_at_k"], "recall@k": m["recall_at_k"], "k (= #noisy)": m["k"],
                     "2-means F1": m["kmeans_f1"]})
        curves[name] = detection_curve(result.values, flags)
        rate = float(flags.mean())
    if not rows:
        return "<h2>Detection</h2><p class='note'>The valued rows are all noisy or all clean; no metrics.</p>"
    return ("<h2>Detection of the injected noise</h2>"
            "<p class='note'>Samples inspected lowest value first; AUROC 0.5 = random order.</p>"
            + _table(pd.DataFrame(rows)) + _figure(detection_curve_figure(curves, noise_rate=rate)))


def _run_section(dataset: Dataset, name: str, result: ValuationResult, current: pd.DataFrame) -> str:
    noisy = dataset.noisy
    flags = noisy[dataset.positions(result.ids)] if noisy is not None else None
    total = result.timings.get("total")
    facts = [f"method <b>{escape(result.method)}</b>", f"embedding {escape(result.embedding or '—')}",
             f"seed {result.seed}", f"{len(result.ids):,} samples valued"]
    if total is not None:
        parts = [f"{name} {result.timings[name]:.1f} s" for name in ("embedding", "method") if name in result.timings]
        facts.append(f"{total:.1f} s" + (f" ({', '.join(parts)})" if parts else ""))
    params = ", ".join(f"{escape(str(k))}={escape(str(v))}" for k, v in result.params.items())
    html = [f"<h2>Run: {escape(name)}</h2><p>{' · '.join(facts)}</p>"]
    if params:
        html.append(f"<p class='note'>Parameters: {params}</p>")
    if result.status != ResultStatus.OK:
        html.append(f"<p class='noisy'>Status: {escape(result.status)}</p>")
    html.append(_figure(value_histogram(result.values, is_noisy=flags, title=f"Values — {name}")))
    html.append(f"<h3>{min(LOWEST_K, len(result.ids))} lowest-valued samples</h3>")
    html.append(_lowest_table(dataset, result, current))
    return "".join(html)


def _lowest_table(dataset: Dataset, result: ValuationResult, current: pd.DataFrame) -> str:
    """The run's review table (:func:`~dataval_core.curation.review_table`), its lowest rows, with each
    row's image or first feature columns."""
    rows = review_table(dataset, result, current).head(LOWEST_K)
    pos = dataset.positions(rows["id"])
    frame = pd.DataFrame({"rank": rows["rank"], "id": rows["id"], "label": dataset.label_names()[pos],
                          "value": rows["value"], "percentile": rows["percentile"].round(1)})
    if result.suggested_labels is not None:
        frame["suggested"] = rows["suggested"]
    frame["decision"] = [_decision_text(a, new) for a, new in zip(rows["action"], rows["new_label"])]
    if "noisy" in rows:
        frame["injected noise"] = np.where(rows["noisy"], "yes", "")
    if dataset.original_labels is not None:
        frame["original label"] = rows["original"]
    raw: tuple[str, ...] = ()
    if dataset.modality == IMAGE:
        paths = dataset.image_paths()
        frame.insert(0, "image", [_thumbnail(paths[p]) for p in pos])
        raw = ("image",)
    elif dataset.table is not None:
        cols = [c for c in dataset.feature_columns if c in dataset.table.columns][:MAX_FEATURE_COLUMNS]
        features = dataset.table.reset_index(drop=True).iloc[pos][cols].reset_index(drop=True)
        frame = pd.concat([frame, features.astype(object)], axis=1)
    return _table(frame, raw_html=raw)


def _issue_sections(dataset: Dataset, issues: DataIssues, current: pd.DataFrame) -> list[str]:
    """One section per issue type: how many rows, how they were found, and the first :data:`ISSUE_ROWS`."""
    where = ("the given reference" if issues.reference == "given"
             else "all other rows (no reference was given, so each row is left out of its own)")
    how = {"conflicting_duplicates": "near or exact duplicates whose labels disagree",
           "near_duplicates": f"closer than {issues.threshold:.4g} (= {issues.params.near_ratio:g} × the median "
                              f"nearest-neighbour distance {issues.scale:.4g}), or the same content",
           "outliers": f"distance to the {issues.params.k}-th nearest row of {where} beyond {issues.fence:.4g} "
                       f"(Q3 + {issues.params.outlier_iqr:g} IQR of the reference rows' own distances)",
           "reference_copies": "valued rows with a reference row's content, or within the near-duplicate "
                               "distance of one"}
    by_id = current.set_index("id") if len(current) else None
    out = []
    for kind in ISSUE_TYPES:
        rows = issues.view(kind)
        html = [f"<h2>{ISSUE_TITLES[kind]}</h2><p>{len(rows):,} samples: {escape(how[kind])}; distances in the "
                f"{escape(issues.embedding)} embedding. Listed {_ISSUE_ORDER[kind]}.</p>"]
        if kind == "reference_copies" and issues.reference != "given":
            html = [f"<h2>{ISSUE_TITLES[kind]}</h2><p class='note'>No reference was given, so no row can copy one."
                    "</p>"]
        elif len(rows):
            html.append(_issue_table(dataset, kind, rows.head(ISSUE_ROWS), by_id))
        out.append("".join(html))
    return out


def _issue_table(dataset: Dataset, kind: str, rows: pd.DataFrame, by_id: pd.DataFrame | None) -> str:
    frame = pd.DataFrame({"id": rows["id"], "role": rows["role"], "label": rows["label"]})
    if kind in ("conflicting_duplicates", "near_duplicates"):
        frame.insert(0, "group", rows["near_group"].astype(object))
        frame["distance"] = rows["duplicate_distance"]
    elif kind == "outliers":
        frame["distance"], frame["percentile"] = rows["outlier_distance"], rows["outlier_percentile"].round(1)
    else:
        frame["reference row"], frame["distance"] = rows["nn_reference_id"], rows["nn_reference_distance"]
    decided = [by_id.loc[i] if by_id is not None and i in by_id.index else None for i in rows["id"]]
    frame["decision"] = [_decision_text(d["action"], d["new_label"]) if d is not None else "" for d in decided]
    pos = dataset.positions(rows["id"])
    frame = frame.reset_index(drop=True)
    if dataset.modality == IMAGE:
        paths = dataset.image_paths()
        frame.insert(0, "image", [_thumbnail(paths[p]) for p in pos])
        return _table(frame, raw_html=("image",))
    if dataset.table is not None:
        cols = [c for c in dataset.feature_columns if c in dataset.table.columns][:MAX_FEATURE_COLUMNS]
        features = dataset.table.reset_index(drop=True).iloc[pos][cols].reset_index(drop=True)
        frame = pd.concat([frame, features.astype(object)], axis=1)
    return _table(frame)


def _decision_text(action: str | None, new_label: object) -> str:
    if action is None:
        return ""
    return f"relabel → {new_label}" if action == "relabel" else str(action)


def _thumbnail(path) -> str:
    data = base64.b64encode(thumbnail_png(path, 64)).decode("ascii")
    return f"<img class='thumb' alt='' src='data:image/png;base64,{data}'>"


def _metrics_section(title: str, content: pd.DataFrame | Mapping[str, Any]) -> str:
    html = [f"<h2>{escape(title)}</h2>"]
    if isinstance(content, pd.DataFrame):
        if POINT_REMOVAL_COLUMNS <= set(content.columns):
            html.append(_figure(point_removal_figure(content, score_name="score", title=title)))
        html.append(_table(content))
    else:
        html.append(_table(pd.DataFrame(list(content.items()), columns=["metric", "value"])))
    return "".join(html)
