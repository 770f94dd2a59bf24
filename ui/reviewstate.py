"""The Review page's view state (run, filters, sort, view, page, page size) kept across page changes and reloads.

Streamlit forgets a widget's value when its page is left, and a reload starts a new
session. So the values are copied after every run into a per-dataset dict in session
state (page changes) and into the URL's query parameters (reloads), and put back
before the widgets are drawn. Values that no longer fit (a deleted run, a class the
dataset lacks) fall back to the defaults.

The run is shared with the Map page: both read and write one session-state key,
:data:`SELECTED_RUN`, so "Open in Review" from a lava map shows lava, and a run picked
on Review is the one Map draws.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from dataval_core.data_issues import ISSUE_TITLES

PAGE_SIZES = (12, 24, 48, 100)
STATUS_FILTERS = ("Undecided", "All", "Dropped", "Relabeled", "Kept")
#: the other "Show" choices: one data-issue type each, drawn by ui/issues_view.py
SHOW_ISSUES = tuple(ISSUE_TITLES.values())
SORTS = ("Value (lowest first)", "Class", "Suggestion ≠ label first", "Flagged by most runs")
VIEWS = ("Grid", "Table")
_PREFS = "rv_prefs"
#: the run (id) Review and Map both show: one key for both pages, written when either page's choice changes
SELECTED_RUN = "selected_run"
#: widget key -> query parameter
_URL = {"rv_run": "run", "rv_classes": "classes", "rv_status": "show", "rv_sort": "sort", "rv_view": "view",
        "rv_pct": "pct", "rv_size": "size", "rv_page": "page", "rv_where": "where"}


def _pct(v: Any) -> tuple[float, float] | None:
    lo, hi = (float(x) for x in (v.split("-") if isinstance(v, str) else v))
    return (lo, hi) if 0 <= lo <= hi <= 100 else None


def _parsers(runs: Mapping[str, Any], classes: set[str]) -> dict[str, Callable[[Any], Any]]:
    def one_of(options):
        return lambda v: v if v in options else None

    return {"rv_run": one_of(runs), "rv_status": one_of(STATUS_FILTERS + SHOW_ISSUES), "rv_sort": one_of(SORTS),
            "rv_view": one_of(VIEWS), "rv_pct": _pct,
            "rv_classes": lambda v: [c for c in (v.split(",") if isinstance(v, str) else v) if c in classes],
            "rv_size": lambda v: int(v) if int(v) in PAGE_SIZES else None,
            "rv_page": lambda v: max(1, int(v)), "rv_where": lambda v: str(v)[:1000]}


def restore(dataset_key: str, runs: Mapping[str, Any], *, default_run: str, default_view: str,
            classes: set[str]) -> None:
    """Put the page's widget values back: from this session (per dataset), else the URL, else the defaults."""
    ss = st.session_state
    if ss.get("rv_dataset") != dataset_key:  # another dataset: nothing of the last one's view applies
        for key in (*_URL, jump_key(), "rv_ticked", "rv_pending"):
            ss.pop(key, None)
        ss["rv_dataset"] = dataset_key
    saved = ss.setdefault(_PREFS, {}).get(dataset_key, {})
    url = {k: st.query_params[p] for k, p in _URL.items() if p in st.query_params}
    defaults = {"rv_run": default_run, "rv_classes": [], "rv_status": STATUS_FILTERS[0], "rv_sort": SORTS[0],
                "rv_view": default_view, "rv_pct": (0.0, 100.0), "rv_size": 24, "rv_page": 1, "rv_where": ""}
    parsers = _parsers(runs, classes)
    shared = {"rv_run": ss[SELECTED_RUN]} if ss.get(SELECTED_RUN) in runs else {}
    for key, default in defaults.items():
        for source in (shared, {key: ss[key]} if key in ss else {}, saved, url):
            if key in source:
                try:
                    value = parsers[key](source[key])
                except (TypeError, ValueError):
                    value = None
                if value is not None:
                    ss[key] = value
                    break
        else:
            ss[key] = default


def save(dataset_key: str) -> None:
    """Remember the widget values for this dataset and write them to the URL."""
    ss = st.session_state
    values = {k: ss[k] for k in _URL if k in ss}
    ss.setdefault(_PREFS, {})[dataset_key] = values
    for key, value in values.items():
        if key == "rv_classes":
            text = ",".join(value)
        elif key == "rv_pct":
            text = f"{value[0]:g}-{value[1]:g}"
        else:
            text = str(value)
        if key == "rv_where" and not text:  # no filter: no empty parameter in every URL
            if _URL[key] in st.query_params:
                del st.query_params[_URL[key]]
        elif st.query_params.get(_URL[key]) != text:
            st.query_params[_URL[key]] = text


def selected_run(runs: Mapping[str, Any], default: str) -> str:
    """The run id both Review and Map show: the one last picked on either page, else ``default``."""
    picked = st.session_state.get(SELECTED_RUN)
    return picked if isinstance(picked, str) and picked in runs else default


def select_run(run_id: str) -> None:
    """Make ``run_id`` the run both Review and Map show."""
    st.session_state[SELECTED_RUN] = run_id


def on_run_change(key: str) -> None:
    """Callback of a page's run box (widget ``key``): share the choice; on Review, start on page 1."""
    select_run(st.session_state[key])
    if key == "rv_run":
        to_first_page()


def to_first_page() -> None:
    """Callback of the filters: a new selection starts on page 1 and drops a pending page-wide action."""
    st.session_state["rv_page"] = 1
    st.session_state.pop("rv_pending", None)


def clamp_page(pages: int) -> None:
    """Keep the page number within ``1..pages`` (before the page widget is drawn)."""
    if st.session_state.get("rv_page", 1) > pages:
        st.session_state["rv_page"] = pages


def jump_key() -> str:
    """Key of the "Go to id" box: a new key per clearing.

    Clearing by writing ``""`` to the box's value is undone when the browser sends a
    click made before it drew the cleared box (that rerun carries the old text); a
    fresh key leaves the old text on a widget that is no longer drawn.
    """
    return f"rv_jump_{st.session_state.get('rv_jump_gen', 0)}"


def clear_jump() -> None:
    """Callback of "Show all" after a jump to an id."""
    st.session_state["rv_jump_gen"] = st.session_state.get("rv_jump_gen", 0) + 1


def clear_ids() -> None:
    """Callback of "Show all" after samples were chosen on Map, Compare or the overview."""
    st.session_state["review_ids"] = None
