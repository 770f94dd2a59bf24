"""The report's section per data-issue type: the flagged rows, how they were found, and their decisions."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from test_data_issues import planted_table

from dataval_core.data_issues import ISSUE_TITLES, find_issues
from dataval_core.decisions import DECISION_COLUMNS
from dataval_core.embeddings.raw import raw_features
from dataval_core.io import load_frame
from dataval_core.report import html_report


def section(html: str, title: str) -> str:
    return html.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def test_a_section_per_issue_type_lists_the_flagged_rows_with_their_decisions():
    frame, rows = planted_table()
    ds = load_frame(frame, "label")
    issues = find_issues(ds, raw_features(ds).x)
    drop = {"id": "126", "action": "drop", "old_label": None, "new_label": None, "run_id": None,
            "method": "issues", "value": None, "rank": None, "time": "2026-12-01T09:00:00"}
    html = html_report(ds, {}, pd.DataFrame([drop], columns=list(DECISION_COLUMNS)), issues=issues)
    assert [t for t in ISSUE_TITLES.values() if f"<h2>{t}</h2>" in html] == list(ISSUE_TITLES.values())
    conflicting = section(html, "Conflicting duplicates")
    ids = re.findall(r"<tr><td class='num'>\d+</td><td>(\d+)</td>", conflicting)
    assert set(ids) == {str(i) for i in rows["conflict_src"] + rows["conflict"]}
    assert "6 samples: near or exact duplicates whose labels disagree" in conflicting
    assert "<td>drop</td>" in conflicting  # row 126's decision
    outliers = section(html, "Outliers")
    assert all(f"<td>{i}</td>" in outliers for i in rows["outlier"]) and "farthest from the reference" in outliers
    assert "No reference was given" in section(html, "Copies of reference rows")


def test_reference_copies_name_the_reference_row():
    frame, rows = planted_table()
    is_target = np.zeros(len(frame), dtype=bool)
    is_target[rows["exact_src"]] = True
    is_target[60:90] = True
    ds = load_frame(frame, "label").replace(is_target=is_target)
    html = html_report(ds, {}, None, issues=find_issues(ds, raw_features(ds).x))
    copies = section(html, "Copies of reference rows")
    for src, copy in zip(rows["exact_src"], rows["exact"]):
        assert f"<td>{copy}</td><td>valued</td><td>c{frame.label[copy][1:]}</td><td>{src}</td>" in copies
    assert "3 samples" in copies and "<h2>Run:" not in html
