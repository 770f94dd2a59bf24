"""Browser sessions and share keys: the serving layer's part of the workspace.

:class:`AppWorkspace` is the engine's :class:`~dataval_core.workspace.Workspace` plus what only
the app needs: session ids this server minted (the app accepts no other), the dataset record
each session last worked on, and share keys, with which a record's owner lets other sessions
view (or edit) it until the key is revoked or expires. The store keeps the tables and the
grants they give (``sessions``, ``session_datasets``, ``share_keys``; see
:mod:`dataval_core.workspace.access`), so a workspace written before opens the same.

Only a share key's hash is stored; a wrong, expired or revoked key gets one message that
never says which. No streamlit here: tests, benchmarks and scripts use it as they use the store.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataval_core.dataset import Dataset
from dataval_core.workspace import AccessError, DatasetRecord, Workspace

#: the one message for a share key that is wrong, expired or revoked (it never says which)
SHARE_KEY_INVALID = "This share key is not valid: it is wrong, has expired or was revoked."


def new_session_id() -> str:
    """A fresh, unguessable session id (128 bits); register it with :meth:`AppWorkspace.mint_session`."""
    return secrets.token_hex(16)


def _key_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


@dataclass(frozen=True)
class ShareKey:
    """One share key of a dataset record, as its owner sees it (the key itself is shown once, at creation).

    Attributes:
        key_id: public handle (a prefix of the key's hash), used to revoke it.
        dataset_key: the record it opens.
        mode: ``read`` (view only) or ``write`` (may decide and run too).
        created: creation time (Unix seconds).
        expires: expiry time, None for never.
        revoked: revocation time, None while not revoked.
    """

    key_id: str
    dataset_key: str
    mode: str
    created: float
    expires: float | None
    revoked: float | None

    @property
    def active(self) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > time.time())


class AppWorkspace(Workspace):
    """The workspace as the app uses it: minted sessions, each one's current dataset, and share keys.

    Args:
        root: the folder; defaults to ``$DATAVAL_WORKSPACE`` or ``./.dataval``.
    """

    # -- sessions -------------------------------------------------------------------------
    def mint_session(self) -> str:
        """A new session id, registered as minted by this server; the app accepts no other."""
        session_id = new_session_id()
        self._execute("INSERT INTO sessions (session_id, created) VALUES (?, ?)", (session_id, time.time()))
        return session_id

    def session_exists(self, session_id: str) -> bool:
        """Whether ``session_id`` was minted here (a sid made up elsewhere is not)."""
        return bool(session_id) and bool(self._query("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)))

    def current_dataset(self, session_id: str) -> str | None:
        """The dataset record the session last worked on, if it may still see it."""
        rows = self._query("SELECT current_dataset FROM sessions WHERE session_id = ?", (session_id,))
        key = rows[0]["current_dataset"] if rows else None
        return key if key and self.can_access(session_id, key) else None

    def set_current_dataset(self, session_id: str, key: str | None) -> None:
        """Remember the session's current dataset record (restored after a reload)."""
        self.ensure_session(session_id)
        self._execute("UPDATE sessions SET current_dataset = ? WHERE session_id = ?", (key, session_id))

    def add_dataset(self, session_id: str, dataset: Dataset, info: Mapping[str, Any] | None = None) -> DatasetRecord:
        """:meth:`Workspace.add_dataset`, then make the record the session's current dataset."""
        record = super().add_dataset(session_id, dataset, info)
        self.set_current_dataset(session_id, record.key)
        return record

    # -- share keys -----------------------------------------------------------------------
    def create_share_key(self, session_id: str, key: str, *, write: bool = False,
                         days: float | None = 7.0) -> str:
        """A new share key (192 random bits) that opens record ``key``; only its owner may make one.

        Args:
            write: let holders decide and run too; the default is view only.
            days: the key expires after this many days (None: until revoked).

        Returns:
            the key; only its hash is stored, so it cannot be shown again.
        """
        if self.access_mode(session_id, key) != "owner":
            raise AccessError("Only the session that created this dataset can share it.")
        token = "dv_" + secrets.token_urlsafe(24)
        expires = None if days is None else time.time() + days * 86400
        self._execute("INSERT INTO share_keys (key_hash, dataset_key, created_by, mode, created, expires) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (_key_hash(token), key, session_id, "write" if write else "read", time.time(), expires))
        return token

    def share_keys(self, key: str) -> list[ShareKey]:
        """The share keys of record ``key``, newest first (revoked and expired ones included)."""
        rows = self._query("SELECT * FROM share_keys WHERE dataset_key = ? ORDER BY created DESC", (key,))
        return [ShareKey(r["key_hash"][:12], r["dataset_key"], r["mode"], r["created"], r["expires"], r["revoked"])
                for r in rows]

    def revoke_share_key(self, session_id: str, key: str, key_id: str) -> None:
        """Revoke share key ``key_id`` of record ``key``: holders lose access at once."""
        if self.access_mode(session_id, key) != "owner":
            raise AccessError("Only the session that created this dataset can revoke its share keys.")
        self._execute("UPDATE share_keys SET revoked = ? WHERE dataset_key = ? AND substr(key_hash, 1, 12) = ? "
                      "AND revoked IS NULL", (time.time(), key, key_id))

    def open_shared(self, session_id: str, token: str) -> DatasetRecord:
        """Open the record a share key points to; the session gets the key's mode until it is revoked or expires.

        A wrong, expired or revoked key raises :class:`AccessError` with the one message
        :data:`SHARE_KEY_INVALID`, so a guess learns nothing.
        """
        digest = _key_hash(token)
        rows = self._query("SELECT key_hash, dataset_key, mode, expires, revoked FROM share_keys")
        match = [r for r in rows if hmac.compare_digest(r["key_hash"], digest)]
        if not match or match[0]["revoked"] is not None or \
                (match[0]["expires"] is not None and match[0]["expires"] <= time.time()):
            raise AccessError(SHARE_KEY_INVALID)
        grant = match[0]
        key = grant["dataset_key"]
        self.ensure_session(session_id)
        if self.access_mode(session_id, key) not in ("owner", "write"):
            self._execute("INSERT OR REPLACE INTO session_datasets (session_id, key, mode, via) VALUES (?, ?, ?, ?)",
                          (session_id, key, grant["mode"], grant["key_hash"]))
        self.set_current_dataset(session_id, key)
        return self.dataset_record(key)
