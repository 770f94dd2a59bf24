"""Session state and the process-wide resources (workspace, job manager).

Each browser session has a session id kept in the URL (``?sid=…``), so a reload
restores the same session: its datasets, current dataset, runs and decisions all
live in the workspace, not in server memory. Only ids this server minted are
accepted: a ``?sid=`` it does not know (e.g. one sent in a link to fix someone's
session) is replaced by a fresh one. The workspace (an :class:`~ui.sessions.AppWorkspace`:
the store plus sessions and share keys) and job manager are shared resources
(``st.cache_resource``) addressed by the workspace path; user data never sits in
module-level state.
"""
from __future__ import annotations

import os

import streamlit as st

from dataval_core.dataset import Dataset
from dataval_core.jobs import JobManager
from dataval_core.workspace import DEFAULT_ROOT, ENV_VAR, DatasetRecord

from .sessions import AppWorkspace

SID_PARAM = "sid"


def workspace_root() -> str:
    """The workspace folder this server uses (``$DATAVAL_WORKSPACE`` or ``./.dataval``)."""
    return os.path.abspath(os.environ.get(ENV_VAR) or DEFAULT_ROOT)


@st.cache_resource(show_spinner=False)
def _workspace(root: str) -> AppWorkspace:
    return AppWorkspace(root)


@st.cache_resource(show_spinner=False)
def _jobs(root: str) -> JobManager:
    return JobManager(_workspace(root))


@st.cache_resource(show_spinner=False, max_entries=16)
def _dataset(root: str, key: str) -> Dataset:
    return _workspace(root).load_dataset(key)


def workspace() -> AppWorkspace:
    """The workspace shared by every session of this server."""
    return _workspace(workspace_root())


def jobs() -> JobManager:
    """The background job manager shared by every session of this server."""
    return _jobs(workspace_root())


def init_session() -> str:
    """Set up this browser session and return its id.

    The id comes from the URL when this server minted it; otherwise a new one is minted
    and ``st.session_state["sid_refused"]`` is set so the page can say so.
    """
    ss = st.session_state
    if "sid" not in ss:
        sid = st.query_params.get(SID_PARAM) or ""
        known = len(sid) <= 64 and workspace().session_exists(sid)
        ss["sid"] = sid if known else workspace().mint_session()
        ss["sid_refused"] = bool(sid) and not known
        ss["dataset_key"] = workspace().current_dataset(ss["sid"])
    if st.query_params.get(SID_PARAM) != ss["sid"]:
        st.query_params[SID_PARAM] = ss["sid"]
    ss.setdefault("dataset_key", None)
    ss.setdefault("review_ids", None)  # ids chosen on Map / Compare, shown first on Review
    return ss["sid"]


def session_id() -> str:
    """This browser session's id."""
    return st.session_state["sid"]


def current() -> tuple[DatasetRecord, Dataset] | None:
    """The session's current dataset record and dataset, or None when none is chosen."""
    key = st.session_state.get("dataset_key")
    if not key or not workspace().can_access(session_id(), key):
        return None
    return workspace().dataset_record(key), _dataset(workspace_root(), key)


def can_write() -> bool:
    """Whether this session may decide and run on its current dataset (not on a view-only share)."""
    key = st.session_state.get("dataset_key")
    if not key:
        return False
    return workspace().can_write(session_id(), key)


def set_current(key: str | None) -> None:
    """Make ``key`` the session's current dataset (persisted for reloads)."""
    st.session_state["dataset_key"] = key
    st.session_state["review_ids"] = None
    workspace().set_current_dataset(session_id(), key)
