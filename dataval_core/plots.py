"""Plotly figure builders shared by the app pages and the HTML report.

Pages call these instead of building figures, so the app and the exported report
show the same plots. Every builder takes plain arrays or DataFrames (the outputs
of :mod:`dataval_core.evaluation` and :mod:`dataval_core.projection`) and returns a
``plotly.graph_objects.Figure``; nothing here computes a metric.
"""
from __future__ import annotations

from html import escape
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .decisions import current_decisions

#: colours per decision, shared by the map and the report
DECISION_COLORS = {"undecided": "#9aa0a6", "keep": "#2e7d32", "drop": "#c62828", "relabel": "#ef6c00"}
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


def map_scatter(coords: pd.DataFrame, *, color_by: str = "value", values: pd.Series | None = None,
                decisions: pd.DataFrame | None = None, hover: pd.DataFrame | None = None,
                title: str = "") -> go.Figure:
    """WebGL scatter of map coordinates, coloured by value or by decision.

    Each point carries its sample id in ``customdata``, so a box/lasso selection
    (Streamlit ``on_select``) gives back ids. Samples without a value (target rows)
    are drawn grey in their own trace.

    Args:
        coords: :func:`dataval_core.projection.map_coordinates` frame (``id``, ``x``, ``y``).
        color_by: ``"value"`` (continuous, red = low) or ``"decision"``.
        values: values indexed by id (required for ``"value"``).
        decisions: the decisions log or current decisions (``id``, ``action``); ids
            without one are "undecided".
        hover: extra columns to show on hover, indexed by id (e.g. label, suggested label).
        title: figure title.

    Raises:
        ValueError: unknown ``color_by`` or missing ``values``.
    """
    ids = coords["id"].astype(str).to_numpy()
    extra = hover.reindex(ids) if hover is not None else pd.DataFrame(index=ids)
    value = values.reindex(ids).to_numpy(dtype=float) if values is not None else np.full(len(ids), np.nan)
    current = current_decisions(decisions)
    by_id = dict(zip(current["id"], current["action"]))
    action = np.array([by_id.get(i, "undecided") for i in ids], dtype=object)
    text = _hover_text(ids, value, action, extra)
    size = 6 if len(ids) <= 5000 else 4 if len(ids) <= 50_000 else 3
    x, y = coords["x"].to_numpy(), coords["y"].to_numpy()
    fig = go.Figure()

    def add(mask, name, marker):
        fig.add_trace(go.Scattergl(x=x[mask], y=y[mask], mode="markers", name=name, customdata=ids[mask],
                                   text=text[mask], hovertemplate="%{text}<extra></extra>",
                                   marker={"size": size, **marker}))

    if color_by == "value":
        if values is None:
            raise ValueError("Colouring by value needs values.")
        valued = np.isfinite(value)
        if (~valued).any():
            add(~valued, "not valued (target)", dict(color="#c8ccd0"))
        add(valued, "valued", dict(color=value[valued], colorscale="RdYlGn", showscale=True,
                                   colorbar=dict(title="value")))
    elif color_by == "decision":
        for name, colour in DECISION_COLORS.items():
            mask = action == name
            if mask.any():  # decided points drawn larger, on top of the undecided ones
                add(mask, name, dict(color=colour, size=size if name == "undecided" else size + 3))
    else:
        raise ValueError(f"color_by must be 'value' or 'decision', got {color_by!r}.")
    fig.update_layout(title=title, dragmode="lasso", uirevision="map",
                      legend=dict(itemsizing="constant", orientation="h", x=0, xanchor="left", y=-0.02,
                                  yanchor="top"),
                      xaxis=dict(showticklabels=False, title=""), yaxis=dict(showticklabels=False, title=""),
                      **{**_LAYOUT, "height": 560})
    return fig


def _escaped(values) -> pd.Series:
    text = pd.Series(values, dtype=object).astype(str)
    return text.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")


def _hover_text(ids: np.ndarray, value: np.ndarray, action: np.ndarray, extra: pd.DataFrame) -> np.ndarray:
    """Hover lines per point (id, value, decision, extra columns), built column-wise for speed."""
    text = "<b>" + _escaped(ids) + "</b>"
    shown = pd.Series([f"<br>value {v:.4g}" if np.isfinite(v) else "" for v in value], dtype=object)
    text = text + shown + "<br>" + pd.Series(action, dtype=object)
    for col in extra.columns:
        text = text + f"<br>{escape(str(col))}: " + _escaped(extra[col].to_numpy(dtype=object))
    return text.to_numpy(dtype=object)
