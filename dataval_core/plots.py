"""Plotly figure builders shared by the app pages and the HTML report.

Pages call these instead of building figures, so the app and the exported report
show the same plots. Every builder takes plain arrays or DataFrames (the outputs
of :mod:`dataval_core.evaluation` and :mod:`dataval_core.projection`) and returns a
``plotly.graph_objects.Figure``; nothing here computes a metric.
"""
from __future__ import annotations

from collections.abc import Mapping
from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .decisions import UNDECIDED

#: colours per decision on the map
DECISION_COLORS = {UNDECIDED: "#b8c2d1", "keep": "#2e7d32", "drop": "#c62828", "relabel": "#ef6c00"}
NOISY_COLOR, CLEAN_COLOR = "#c62828", "#1f77b4"
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=45), height=360)


def value_histogram(values: np.ndarray, *, is_noisy: np.ndarray | None = None, title: str = "Value distribution",
                    nbins: int = 40) -> go.Figure:
    """Histogram of values; with known noise, noisy and clean samples as overlaid bars.

    Args:
        values: values, shape (n,), higher = more useful.
        is_noisy: True where noise was injected, shape (n,), or ``None``.
        title: figure title.
        nbins: number of bins (shared by both groups).
    """
    values = np.asarray(values, dtype=float)
    fig = go.Figure()
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    bins = dict(start=lo, end=hi + (hi - lo) * 1e-9 + 1e-12, size=max((hi - lo) / nbins, 1e-12))
    if is_noisy is None:
        fig.add_trace(go.Histogram(x=values, xbins=bins, name="samples", marker_color=CLEAN_COLOR))
    else:
        is_noisy = np.asarray(is_noisy, dtype=bool)
        fig.add_trace(go.Histogram(x=values[~is_noisy], xbins=bins, name="clean", marker_color=CLEAN_COLOR,
                                   opacity=0.65))
        fig.add_trace(go.Histogram(x=values[is_noisy], xbins=bins, name="injected noise", marker_color=NOISY_COLOR,
                                   opacity=0.75))
        fig.update_layout(barmode="overlay")
    fig.update_layout(title=title, xaxis_title="value (low = suspicious)", yaxis_title="samples", **_LAYOUT)
    return fig


def detection_curve_figure(curves: Mapping[str, pd.DataFrame], *, noise_rate: float | None = None,
                           title: str = "Detection: bad samples found vs samples inspected") -> go.Figure:
    """Detection curves of several runs, with the random and (given the noise rate) ideal references.

    Args:
        curves: run name → :func:`dataval_core.evaluation.detection_curve` frame
            (``fraction_inspected``, ``fraction_found``).
        noise_rate: fraction of noisy samples; draws the best possible curve.
        title: figure title.
    """
    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=curve["fraction_inspected"], y=curve["fraction_found"], mode="lines", name=name))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="random order",
                             line=dict(color="#9aa0a6", dash="dash")))
    if noise_rate is not None and 0 < noise_rate <= 1:
        fig.add_trace(go.Scatter(x=[0, noise_rate, 1], y=[0, 1, 1], mode="lines", name="ideal",
                                 line=dict(color="#5f6368", dash="dot")))
    fig.update_layout(title=title, xaxis_title="fraction inspected (lowest value first)",
                      yaxis_title="fraction of bad samples found", xaxis_range=[0, 1], yaxis_range=[0, 1.02],
                      **_LAYOUT)
    return fig


def point_removal_figure(frame: pd.DataFrame, *, score_name: str = "accuracy",
                         title: str = "Model score after removing samples") -> go.Figure:
    """Score of a retrained model vs fraction removed, lowest-valued first vs random.

    Args:
        frame: :func:`dataval_core.evaluation.point_removal_curve` output (``fraction``,
            ``strategy``, ``score``), optionally with a ``run`` column to overlay runs.
        score_name: y-axis label (``accuracy`` or ``R²``).
        title: figure title.
    """
    fig = go.Figure()
    groups = frame.groupby(["run", "strategy"], sort=False) if "run" in frame.columns \
        else frame.groupby(["strategy"], sort=False)
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        strategy = key[-1]
        name = " · ".join(str(k) for k in key) if len(key) > 1 else f"remove {strategy}"
        dash = "dash" if strategy == "random" else "solid"
        part = part.sort_values("fraction")
        fig.add_trace(go.Scatter(x=part["fraction"], y=part["score"], mode="lines+markers", name=name,
                                 line=dict(dash=dash)))
    fig.update_layout(title=title, xaxis_title="fraction of valued samples removed", yaxis_title=score_name,
                      xaxis_tickformat=".0%", **_LAYOUT)
    return fig


#: what the map can be coloured by
MAP_COLORS = ("value", "decision", "label", "noise")
#: columns shown on hover, when the frame has them
_MAP_HOVER = ("label", "percentile", "value", "rank", "suggested", "decision")


def map_figure(frame: pd.DataFrame, color_by: str = "value", *, title: str = "") -> go.Figure:
    """WebGL scatter of map coordinates, coloured by value, decision, label or injected noise.

    Each point carries its sample id as ``customdata[0]``, so a box/lasso selection
    (Streamlit ``on_select``) gives back ids. Hover shows the id and the columns of
    ``label``, ``percentile`` (0 = the run's lowest value; comparable across methods), ``value``,
    ``rank``, ``suggested``, ``decision`` the frame has.

    Args:
        frame: one row per point: ``id``, ``x``, ``y`` (:func:`dataval_core.projection.map_coordinates`),
            plus ``value`` (for ``"value"``), ``decision`` (an action or ``undecided``; missing = all
            undecided), ``label`` (for ``"label"``), ``noisy`` (bool, for ``"noise"``).
        color_by: one of :data:`MAP_COLORS`.
        title: figure title.

    Raises:
        ValueError: unknown ``color_by``, or the frame lacks its column.
    """
    column = {"value": "value", "decision": "decision", "label": "label", "noise": "noisy"}.get(color_by)
    if column is None:
        raise ValueError(f"color_by must be one of {', '.join(MAP_COLORS)}; got {color_by!r}.")
    if color_by != "decision" and column not in frame:
        raise ValueError(f"Colouring the map by {color_by} needs a {column!r} column.")
    ids = frame["id"].astype(str).to_numpy()
    decision = (frame["decision"].fillna(UNDECIDED).astype(str).to_numpy() if "decision" in frame
                else np.full(len(frame), UNDECIDED, dtype=object))
    text = _hover_text(ids, frame.assign(decision=decision))
    size = 6 if len(ids) <= 5000 else 4 if len(ids) <= 50_000 else 3
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    fig = go.Figure()

    def add(mask: np.ndarray, name: str, marker: dict) -> None:
        fig.add_trace(go.Scattergl(x=x[mask], y=y[mask], mode="markers", name=name, customdata=ids[mask, None],
                                   text=text[mask], hovertemplate="%{text}<extra></extra>",
                                   marker={"size": size, "opacity": 0.85, **marker}))

    if color_by == "value":
        value = frame["value"].to_numpy(dtype=float)
        add(np.isfinite(value), "value", dict(color=value[np.isfinite(value)], colorscale="RdYlGn", showscale=True,
                                              colorbar=dict(title="value")))
    elif color_by == "decision":
        for name, colour in DECISION_COLORS.items():
            mask = decision == name
            if mask.any():  # decided points drawn larger, on top of the undecided ones
                add(mask, name, dict(color=colour, size=size if name == UNDECIDED else size + 3))
    elif color_by == "noise":
        noisy = frame["noisy"].to_numpy(dtype=bool)
        add(~noisy, "clean", dict(color=DECISION_COLORS[UNDECIDED]))
        add(noisy, "injected noise", dict(color=NOISY_COLOR, size=size + 2))
    else:
        labels = frame["label"].astype(str).to_numpy()
        for name in pd.unique(labels):
            add(labels == name, str(name), {})
    fig.update_layout(title=title, dragmode="lasso", uirevision="map", showlegend=color_by != "value",
                      legend=dict(itemsizing="constant", orientation="h", x=0, xanchor="left", y=-0.02,
                                  yanchor="top"),
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      **{**_LAYOUT, "height": 620, "margin": dict(l=10, r=10, t=30 if title else 10, b=10)})
    return fig


def _escaped(values) -> pd.Series:
    text = pd.Series(values, dtype=object).astype(str)
    return text.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")


def _hover_text(ids: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """Hover lines per point (id, then the :data:`_MAP_HOVER` columns present), built column-wise for speed."""
    text = "<b>" + _escaped(ids) + "</b>"
    for col in _MAP_HOVER:
        if col not in frame:
            continue
        cells = frame[col].to_numpy(dtype=object)
        if col in ("value", "percentile"):
            digits = ".4g" if col == "value" else ".0f"
            shown = pd.Series([format(v, digits) for v in frame[col].to_numpy(dtype=float)], dtype=object)
        else:
            shown = _escaped(["" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in cells])
        text = text + f"<br>{escape(col)}: " + shown
    return text.to_numpy(dtype=object)
