"""HTML report and the shared plotly figure builders."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from dataval_core.dataset import Dataset, encode_labels
from dataval_core.decisions import DECISION_COLUMNS
from dataval_core.evaluation import detection_curve
from dataval_core.io import load_dataset
from dataval_core.plots import detection_curve_figure, map_figure, point_removal_figure, value_histogram
from dataval_core.report import html_report
from dataval_core.result import ValuationResult


def noisy_table_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    n = 40
    table = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n), "y": ["p", "q"] * (n // 2)})
    codes, classes, task = encode_labels(table["y"])
    noisy = codes.copy()
    noisy[:6] = 1 - noisy[:6]
    is_target = np.zeros(n, dtype=bool)
    is_target[-8:] = True
    return Dataset(ids=np.arange(n).astype(str), labels=noisy, classes=classes, task=task, modality="table",
                   is_target=is_target, table=table, label_column="y", feature_columns=("a", "b"),
                   original_labels=codes, name="toy<script>")


def runs_for(ds: Dataset) -> dict[str, ValuationResult]:
    valued = ds.valued_index
    good = np.where(ds.noisy[valued], -1.0, 1.0) + np.linspace(0, 0.1, len(valued))
    return {"oracle": ValuationResult(ds.ids[valued], good, "knn_shapley", params={"k": 5},
                                      timings={"total": 0.2},
                                      suggested_labels=np.array(["p"] * len(valued), dtype=object)),
            "rnd": ValuationResult(ds.ids[valued], np.random.default_rng(1).normal(size=len(valued)), "random")}


def test_report_is_self_contained_with_metrics_and_tables():
    ds = noisy_table_dataset()
    decisions = pd.DataFrame([["0", "drop", "q", None, "r", "knn_shapley", -1.0, 1, "2026-11-23T09:00:00"],
                              ["1", "relabel", "p", "q", "r", "knn_shapley", -1.0, 2, "2026-11-23T09:00:01"]],
                             columns=list(DECISION_COLUMNS))
    point_removal = pd.DataFrame({"fraction": [0, .1, 0, .1], "strategy": ["lowest", "lowest", "random", "random"],
                                  "score": [.8, .9, .8, .79]})
    page = html_report(ds, runs_for(ds), decisions, {"Point removal": point_removal, "Extra": {"spearman": 0.3}})
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("Plotly.newPlot") >= 4  # detection + 2 histograms + point removal
    assert len(re.findall(r"<script[^>]+src=", page)) == 0  # nothing fetched from the network
    assert "toy&lt;script&gt;" in page and "toy<script>" not in page
    assert "6 of 32 valued rows" in page and "AUROC" in page
    auroc = re.search(r"<td>oracle</td><td>knn_shapley</td><td class='num'>([0-9.]+)</td>", page)
    assert auroc and float(auroc.group(1)) == 1.0
    assert "<td>relabel</td><td class='num'>1</td>" in page and "<td>relabel → q</td>" in page
    assert f"<td>undecided (kept)</td><td class='num'>{len(ds) - 2}</td>" in page
    assert f"The cleaned export has {len(ds) - 1} rows." in page
    assert "20 lowest-valued samples" in page and "Point removal" in page and "spearman" in page


def test_report_image_thumbnails_and_no_noise(tmp_path):
    for k, rel in enumerate(["a/1.png", "a/2.png", "b/3.png", "b/4.png"]):
        (tmp_path / "img" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 40 * k, dtype=np.uint8)).save(tmp_path / "img" / rel)
    ds = load_dataset(tmp_path / "img")
    result = ValuationResult(ds.ids, np.arange(4.0), "random")
    page = html_report(ds, [result], None)
    assert page.count("<img class='thumb' alt='' src='data:image/png;base64,") == 4
    assert "injected noise</td><td>none" in page and "Detection" not in page


def test_value_histogram_splits_noisy():
    fig = value_histogram(np.arange(10.0), is_noisy=np.arange(10) < 3)
    assert [t.name for t in fig.data] == ["clean", "injected noise"]
    assert len(fig.data[1].x) == 3
    assert len(value_histogram(np.arange(5.0)).data) == 1


def test_detection_and_point_removal_figures():
    values, noisy = np.arange(10.0), np.arange(10) < 2
    fig = detection_curve_figure({"m": detection_curve(values, noisy)}, noise_rate=0.2)
    assert [t.name for t in fig.data] == ["m", "random order", "ideal"]
    frame = pd.DataFrame({"run": ["r"] * 4, "fraction": [0, .1, 0, .1], "strategy": ["lowest", "lowest", "random",
                                                                                    "random"], "score": [1, 2, 3, 4]})
    assert [t.name for t in point_removal_figure(frame).data] == ["r · lowest", "r · random"]


def test_map_figure_by_value_decision_label_and_noise():
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "x": [0, 1, 2, 3.0], "y": [0, 1, 0, 1.0],
                          "value": [0.5, -1.0, 2.0, 0.0], "percentile": [66.7, 0.0, 100.0, 33.3], "label": list("pqpq"),
                          "decision": ["undecided", "drop", "keep", "undecided"], "noisy": [False, True, False, False]})
    fig = map_figure(frame)
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    assert [c[0] for c in fig.data[0].customdata] == ["a", "b", "c", "d"]  # ids come back from a selection
    assert "label: q" in fig.data[0].text[1] and "value: -1" in fig.data[0].text[1]
    assert "percentile: 0<br>" in fig.data[0].text[1] and "percentile: 67<br>" in fig.data[0].text[0]
    by_name = lambda f: {t.name: [c[0] for c in t.customdata] for t in f.data}  # noqa: E731
    assert by_name(map_figure(frame, "decision")) == {"undecided": ["a", "d"], "keep": ["c"], "drop": ["b"]}
    assert by_name(map_figure(frame, "label")) == {"p": ["a", "c"], "q": ["b", "d"]}
    assert by_name(map_figure(frame, "noise")) == {"clean": ["a", "c", "d"], "injected noise": ["b"]}
    with pytest.raises(ValueError, match="color_by"):
        map_figure(frame, "size")
    with pytest.raises(ValueError, match="'noisy' column"):
        map_figure(frame.drop(columns="noisy"), "noise")
