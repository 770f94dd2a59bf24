"""Who may see and change a dataset record: its owner, and holders of a share key that still holds.

The grants live in ``session_datasets``; a grant made through a share key lapses when that key
is revoked or expires. Every write to a record checks the grant at that moment. Minting session
ids, each session's current dataset and making share keys belong to the serving layer
(``ui/sessions.py``); the store only registers the sessions that own or hold a grant.
"""
from __future__ import annotations

import time

from .faults import AccessError
from .schema import StoreBase

#: access a session has to a dataset record: its creator, or a share key's holder (edit or view only)
ACCESS_MODES = ("owner", "write", "read")


class Access(StoreBase):
    """Grants of sessions on dataset records (``owner``, ``write`` or ``read``)."""

    #: a session's grants that still hold: its own records, and shares whose key is neither revoked nor expired
    _LIVE_GRANTS = ("SELECT sd.key, sd.mode FROM session_datasets sd LEFT JOIN share_keys k ON k.key_hash = sd.via "
                    "WHERE sd.session_id = ? AND (sd.via IS NULL OR (k.revoked IS NULL AND "
                    "(k.expires IS NULL OR k.expires > ?)))")

    def ensure_session(self, session_id: str) -> None:
        """Register ``session_id`` in ``sessions`` (idempotent); for callers that bring their own id."""
        self._execute("INSERT OR IGNORE INTO sessions (session_id, created) VALUES (?, ?)",
                      (session_id, time.time()))

    def access_mode(self, session_id: str, key: str) -> str | None:
        """``owner``, ``write`` or ``read`` (see :data:`ACCESS_MODES`), or None when the session may not see ``key``."""
        rows = self._query(f"SELECT mode FROM ({self._LIVE_GRANTS}) WHERE key = ?", (session_id, time.time(), key))
        return rows[0]["mode"] if rows else None

    def can_access(self, session_id: str, key: str) -> bool:
        """Whether ``session_id`` created record ``key`` or opened it with a share key that still holds."""
        return self.access_mode(session_id, key) is not None

    def can_write(self, session_id: str, key: str) -> bool:
        """Whether ``session_id`` may record decisions and start runs on ``key`` (owner or edit share)."""
        return self.access_mode(session_id, key) in ("owner", "write")

    def _require_write(self, session_id: str, key: str) -> None:
        """Raise :class:`AccessError` unless ``session_id`` may change record ``key`` right now (checked at each
        write, so a revoked or expired edit key stops a page that is already open)."""
        mode = self.access_mode(session_id, key)
        if mode == "read":
            raise AccessError("This dataset was shared with you view-only, so decisions cannot be saved.")
        if mode is None:
            raise AccessError("This dataset is no longer open to this session (its share key was revoked or has "
                              "expired), so decisions cannot be saved.")
