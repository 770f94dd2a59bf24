"""Page chrome: the page list, the sidebar summary of the current dataset, page headers and small styles."""
from __future__ import annotations

from typing import Literal

import streamlit as st

from dataval_core import projection
from dataval_core.progress import ACTIVE_STATES, RunState
from dataval_core.targets import describe_mode

from . import auth, state

#: the pages: (key, file, title, icon, URL path); the first is the home page at the site root
NAV = (
    ("home", "app_pages/0_home.py", "Home", ":material/home:", ""),
    ("data", "app_pages/1_data.py", "Data", ":material/database:", "data"),
    ("valuate", "app_pages/2_valuate.py", "Valuate", ":material/play_circle:", "valuate"),
    ("review", "app_pages/3_review.py", "Review", ":material/grid_view:", "review"),
    ("map", "app_pages/4_map.py", "Map", ":material/scatter_plot:", "map"),
    ("compare", "app_pages/5_compare.py", "Compare & check", ":material/fact_check:", "compare"),
    ("export", "app_pages/6_export.py", "Export", ":material/download:", "export"),
)
#: page key -> file, for ``st.switch_page`` and ``st.page_link``
PAGES = {key: path for key, path, *_ in NAV}

_CSS = """
<style>
/* small images (28 px digits) scaled up without blur */
[class*="st-key-card_"] img, .st-key-map_picked img, .st-key-preview_grid img {
  image-rendering: pixelated; border-radius: 4px; }
/* less empty space around the page (room for a fourth card at 1024 px) and above the sidebar menu */
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; padding-left: 1.5rem; padding-right: 1.5rem; }
[data-testid="stSidebarHeader"] { height: 2.5rem; margin-bottom: 0; }
[data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
</style>
"""


def navigation() -> list:
    """The ``st.Page`` list ``app.py`` hands to ``st.navigation`` (Streamlit draws the sidebar menu)."""
    return [st.Page(path, title=title, icon=icon, default=not url_path, url_path=url_path or None)
            for _, path, title, icon, url_path in NAV]


def menu_position() -> Literal["sidebar", "hidden"]:
    """``"sidebar"``, or ``"hidden"`` while the login gate is up (a private server shows no page list)."""
    return "sidebar" if auth.configured_password() is None or st.session_state.get("auth_ok") else "hidden"


def setup(title: str) -> None:
    """The chrome ``app.py`` runs once before every page: page config, session, styles, sidebar, flash message."""
    st.set_page_config(page_title=f"{title} · dataval", page_icon=":material/cleaning_services:", layout="wide")
    auth.start_page()
    projection.warm_up_umap_in_background()  # once per server process: the first map then skips the compile
    st.html(_CSS)
    sidebar()
    show_flash()


def flash(message: str) -> None:
    """Show ``message`` as a success note at the top of the next run (survives ``st.rerun``)."""
    st.session_state["flash"] = message


def show_flash() -> None:
    """Draw and clear the pending flash message, if any."""
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message, icon=":material/check_circle:")


def sidebar() -> None:
    """The sidebar: what dataset is current, its target set and noise, runs and decisions."""
    with st.sidebar:
        cur = state.current()
        if cur is None:
            st.caption("No dataset yet. Start on **Data**: upload, pick a sample, or run the one-click demo.")
            return
        record, ds = cur
        kind = "images" if ds.modality == "image" else "rows"
        classes = f"{ds.n_classes} classes" if ds.n_classes else "regression target"
        own = len(ds) - int(ds.meta.get("target_file_rows", 0))  # a separate reference file is not the user's data
        st.markdown(f"**{record.name}** · {own:,} {kind} · {classes}")
        st.caption(f"**Reference:** {describe_mode(ds)}")
        noise = ds.meta.get("label_noise")
        if noise:
            st.caption(f"**Injected noise:** {noise['rate']:.0%} {noise['kind']} label flips "
                       f"({noise['rows']:,} rows); the truth is kept for Compare & check.")
        else:
            st.caption("**Injected noise:** none")
        runs = state.workspace().list_runs(record.key)
        done = sum(r.status == RunState.DONE for r in runs)
        active = sum(r.status in ACTIVE_STATES for r in runs)
        decisions = state.workspace().decisions(record.key)
        counts = decisions["action"].value_counts()
        detail = ", ".join(f"{counts[a]} {a}" for a in ("drop", "relabel", "keep") if a in counts)
        st.caption(f"**Runs:** {done} done{f', {active} running' if active else ''} · "
                   f"**Decisions:** {len(decisions)}{f' ({detail})' if detail else ''}")
        auth.share_panel(record)


def page(title: str, caption: str) -> None:
    """The page's title and the caption that explains it."""
    st.title(title)
    st.caption(caption)


def require_dataset() -> tuple:
    """The current (record, dataset); without one, a hint to pick one first and the page stops."""
    cur = state.current()
    if cur is None:
        st.info("No dataset chosen yet: pick a sample, upload a file or run the demo on the Data page.")
        st.page_link(PAGES["data"], label="Go to Data", icon=":material/database:")
        st.stop()
    return cur


def require_runs(record) -> dict:
    """The dataset's finished runs by label (newest first); without any, a hint to run a method and the page stops."""
    from .actions import finished_runs

    runs = finished_runs(record)
    if not runs:
        st.info("No finished valuation run for this dataset yet: start one on the Valuate page.")
        st.page_link(PAGES["valuate"], label="Go to Valuate", icon=":material/play_circle:")
        st.stop()
    return {r.label: r for r in runs}


def demo_card() -> None:
    """The one-click demo: noisy MNIST, a knn_shapley run, then Review."""
    from .actions import start_demo

    with st.container(border=True):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown("**One-click demo** — the bundled MNIST sample (5,000 handwritten digits), 10% of the labels "
                      "flipped to a confusable digit (4→9, 3→5, …), valued with KNN-Shapley. Review then opens on "
                      "the lowest-valued digits, which are mostly the flipped ones.")
        if right.button("Run the demo", type="primary", icon=":material/bolt:", key="demo", width="stretch"):
            try:
                with st.spinner("Loading MNIST and injecting noise…"):
                    finished = start_demo()
            except OSError as exc:  # the workspace's faults (WorkspaceError) and refusals: one line
                st.error(str(exc))
                return
            st.switch_page(PAGES["review" if finished else "valuate"])
