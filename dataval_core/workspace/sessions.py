"""Browser sessions: ids this server minted, and the dataset record each last worked on."""
from __future__ import annotations

import secrets
import time

from .access import Access


def new_session_id() -> str:
    """A fresh, unguessable session id (128 bits); register it with :meth:`Workspace.mint_session`."""
    return secrets.token_hex(16)


class Sessions(Access):
    """The ``sessions`` table: minted ids and each session's current dataset record."""

    def mint_session(self) -> str:
        """A new session id, registered as minted by this server; the app accepts no other."""
        session_id = new_session_id()
        self._execute("INSERT INTO sessions (session_id, created) VALUES (?, ?)", (session_id, time.time()))
        return session_id

    def session_exists(self, session_id: str) -> bool:
        """Whether ``session_id`` was minted here (a sid made up elsewhere is not)."""
        return bool(session_id) and bool(self._query("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)))

    def ensure_session(self, session_id: str) -> None:
        """Register ``session_id`` (idempotent); for engine callers that bring their own id."""
        self._execute("INSERT OR IGNORE INTO sessions (session_id, created) VALUES (?, ?)",
                      (session_id, time.time()))

    def current_dataset(self, session_id: str) -> str | None:
        """The dataset record the session last worked on, if it may still see it."""
        rows = self._query("SELECT current_dataset FROM sessions WHERE session_id = ?", (session_id,))
        key = rows[0]["current_dataset"] if rows else None
        return key if key and self.can_access(session_id, key) else None

    def set_current_dataset(self, session_id: str, key: str | None) -> None:
        """Remember the session's current dataset record (restored after a reload)."""
        self.ensure_session(session_id)
        self._execute("UPDATE sessions SET current_dataset = ? WHERE session_id = ?", (key, session_id))
