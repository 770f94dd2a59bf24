"""Share keys: a dataset record's owner lets other sessions view (or edit) it until the key is revoked or expires.

Only a key's hash is stored; a wrong, expired or revoked key gets one message that never says which.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from .datasets import DatasetRecord, Datasets
from .faults import AccessError

#: the one message for a share key that is wrong, expired or revoked (it never says which)
SHARE_KEY_INVALID = "This share key is not valid: it is wrong, has expired or was revoked."


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


class Sharing(Datasets):
    """The ``share_keys`` table: make, list, revoke and open share keys."""

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
