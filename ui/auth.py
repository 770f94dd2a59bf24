"""Who may use this server and what they see when the workspace fails.

- The password gate: with ``$DATAVAL_PASSWORD`` (or ``[auth] password`` in
  ``.streamlit/secrets.toml``) set, a browser session sees only a login page until it
  gives the password; wrong guesses are rate-limited. Unset, the app is open, as for
  a local ``make run``.
- The workspace guard: a missing, read-only or full workspace is one page-level
  message, never a traceback with server paths.
- The sidebar's share keys: the dataset's owner makes view-only (or edit) keys and
  revokes them.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import deque
from datetime import datetime

import streamlit as st

from dataval_core.workspace import AccessError, WorkspaceError, check_workspace

from . import state

PASSWORD_ENV = "DATAVAL_PASSWORD"
#: wrong passwords allowed per client in FAILURE_WINDOW_S seconds before it must wait LOCKOUT_S
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
LOCKOUT_S = 60.0
_MAX_CLIENTS = 10_000
#: seconds between the app's workspace health checks (each writes and removes a 64 KB probe)
HEALTH_EVERY_S = 30.0


def configured_password() -> str | None:
    """The server's password, from the environment or the secrets file; None keeps the app open."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if st.secrets.load_if_toml_exists():
        auth = st.secrets.get("auth")
        if auth and auth.get("password"):
            return str(auth["password"])
    return None


class LoginThrottle:
    """Failed logins per client; after MAX_FAILURES in FAILURE_WINDOW_S the client waits LOCKOUT_S."""

    def __init__(self):
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds the client must wait before its next try (0 when it may try now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._failures.get(client, deque())
            while recent and now - recent[0] > max(FAILURE_WINDOW_S, LOCKOUT_S):
                recent.popleft()
            if len(recent) < MAX_FAILURES:
                return 0.0
            return max(0.0, recent[-1] + LOCKOUT_S - now)

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > _MAX_CLIENTS:  # many addresses: forget the quiet ones
                cutoff = time.monotonic() - max(FAILURE_WINDOW_S, LOCKOUT_S)
                self._failures = {c: d for c, d in self._failures.items() if d and d[-1] > cutoff}
            self._failures.setdefault(client, deque(maxlen=MAX_FAILURES)).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


@st.cache_resource(show_spinner=False)
def _throttle() -> LoginThrottle:
    return LoginThrottle()


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (hashed first, so the lengths leak nothing either)."""
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def require_login() -> None:
    """Without a password configured, return. Otherwise show only the login page until it is given."""
    expected = configured_password()
    if expected is None or st.session_state.get("auth_ok"):
        return
    ip = st.context.ip_address
    client = ip if isinstance(ip, str) and ip else "unknown"  # unknown clients share one budget of tries
    st.title("dataval")
    st.caption("This server is private. Enter the password you were given.")
    with st.form("login", border=False):  # Enter in the field signs in
        given = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary", key="login_submit")
    if submitted and given:
        wait = _throttle().wait_s(client)
        if wait > 0:
            st.error(f"Too many wrong passwords. Try again in {int(wait) + 1} s.")
        elif password_matches(given, expected):
            _throttle().succeeded(client)
            st.session_state["auth_ok"] = True
            st.session_state.pop("login_password", None)
            st.rerun()
        else:
            _throttle().failed(client)
            st.error("Wrong password.")
    st.stop()


@st.cache_data(ttl=HEALTH_EVERY_S, show_spinner=False)
def _health(root: str) -> tuple[bool, str]:
    health = check_workspace(root)
    return health.ok, health.message


def start_page() -> None:
    """Login gate, then the session, with any workspace fault as one page-level message (the page stops)."""
    require_login()
    try:
        state.init_session()
    except WorkspaceError as exc:
        st.error(f"dataval cannot use its workspace. {exc}", icon=":material/error:")
        st.stop()
    if st.session_state.pop("sid_refused", False):
        st.warning("That link's session is not one this server started, so a new session was opened. "
                   "To work on someone's dataset, ask them for a share key.", icon=":material/link_off:")
    ok, message = _health(state.workspace_root())
    if not ok:
        st.warning(f"The workspace is {message.split(': ', 1)[0]}: new work may not be saved. "
                   f"{message.split(': ', 1)[-1]}", icon=":material/warning:")


def share_panel(record) -> None:
    """Sidebar: share keys of the current dataset (owner only): make one, see them, revoke them."""
    ws = state.workspace()
    mode = ws.access_mode(state.session_id(), record.key)
    if mode != "owner":
        st.caption("Opened with a share key: " + ("you can decide and run." if mode == "write" else "view only."))
        return
    with st.popover("Share", icon=":material/share:", width="stretch"):
        st.caption("A share key opens this dataset in another session. View-only unless you allow edits; "
                   "revoke it here at any time.")
        write = st.checkbox("Allow decisions and runs", key="share_write")
        days = st.selectbox("Expires after", (1, 7, 30), index=1, key="share_days", format_func=lambda d: f"{d} days")
        if st.button("Make a share key", key="share_make"):
            try:
                st.session_state["share_new"] = ws.create_share_key(state.session_id(), record.key, write=write,
                                                                    days=days)
            except (AccessError, WorkspaceError) as exc:
                st.error(str(exc))
        if st.session_state.get("share_new"):
            st.code(st.session_state["share_new"], language=None)
            st.caption("Copy it now: it is not shown again.")
        for key in ws.share_keys(record.key):
            if not key.active:
                continue
            until = datetime.fromtimestamp(key.expires).strftime("%Y-%m-%d") if key.expires else "never"
            left, right = st.columns([3, 2], vertical_alignment="center")
            left.caption(f"`{key.key_id}…` · {'edit' if key.mode == 'write' else 'view'} · until {until}")
            if right.button("Revoke", key=f"share_revoke_{key.key_id}"):
                ws.revoke_share_key(state.session_id(), record.key, key.key_id)
                st.session_state.pop("share_new", None)
                st.rerun()
