"""The store side of tags and notes: an append-only log per dataset record, written by idempotent events.

Each write is one event (an idempotency key made at the click, as for decisions): the
sample's tags after adding and removing, and its note, are appended as one row, and the key
goes into a ledger in the same transaction, so a replayed click writes once. The latest row
per sample is in force. Rules for tags and notes: :mod:`dataval_core.annotations`.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import closing

import pandas as pd

from ..annotations import clean_note, merge_tags
from ..decisions import check_event_key
from .access import Access
from .faults import _faults
from .schema import _now_iso, session_tag


class AnnotationStore(Access):
    """The ``annotations`` and ``annotation_events`` tables."""

    def annotate(self, key: str, session_id: str, sample_id: str, *, add: Iterable[str] = (),
                 remove: Iterable[str] = (), note: str | None = None, event: str | None = None) -> bool:
        """Add and remove tags of one sample and (unless ``note`` is None) set its note, as one event.

        Args:
            event: the click's idempotency key: an event already in the ledger writes nothing.

        Returns:
            Whether a row was written (False for an event seen before, or when nothing changes).

        Raises:
            ValueError: a malformed tag, note or event key.
            AccessError: the session may not write to ``key``.
            WorkspaceError: the workspace refused the write (nothing was saved).
        """
        self._require_write(session_id, key)
        if event is not None:
            check_event_key(event)
        add, remove = list(add), list(remove)
        new_note = None if note is None else clean_note(note)
        merge_tags((), add, remove)  # checks every tag before the write
        stamp = _now_iso()
        with _faults(self.root), closing(self._connect()) as con, con:
            con.execute("BEGIN IMMEDIATE")
            if event is not None and con.execute("SELECT 1 FROM annotation_events WHERE dataset_key = ? AND "
                                                 "event = ?", (key, event)).fetchone():
                return False
            tags, old_note = self._current(con, key, str(sample_id))
            new_tags = merge_tags(tags, add, remove)
            changed = new_tags != tags or (new_note is not None and new_note != old_note)
            if changed:
                con.execute("INSERT INTO annotations (dataset_key, id, tags, note, session, event, time) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (key, str(sample_id), json.dumps(list(new_tags)),
                             old_note if new_note is None else new_note, session_tag(session_id), event, stamp))
            if event is not None:
                con.execute("INSERT INTO annotation_events (dataset_key, event, time) VALUES (?, ?, ?)",
                            (key, event, stamp))
            return changed

    @staticmethod
    def _current(con: sqlite3.Connection, key: str, sample_id: str) -> tuple[tuple[str, ...], str]:
        row = con.execute("SELECT tags, note FROM annotations WHERE dataset_key = ? AND id = ? "
                          "ORDER BY seq DESC LIMIT 1", (key, sample_id)).fetchone()
        return ((), "") if row is None else (tuple(json.loads(row["tags"])), row["note"])

    def annotations(self, key: str) -> pd.DataFrame:
        """The tags and note in force per sample of record ``key`` (samples with neither left out).

        Columns ``id``, ``tags`` (a tuple of text), ``note`` and ``time`` (of the latest change).
        """
        rows = self._query("SELECT id, tags, note, time FROM annotations WHERE seq IN (SELECT max(seq) FROM "
                           "annotations WHERE dataset_key = ? GROUP BY id) ORDER BY id", (key,))
        frame = pd.DataFrame({"id": [r["id"] for r in rows],
                              "tags": [tuple(json.loads(r["tags"])) for r in rows],
                              "note": [r["note"] for r in rows], "time": [r["time"] for r in rows]})
        keep = frame["tags"].map(bool) | (frame["note"] != "")
        return frame[keep].reset_index(drop=True)

    def tag_names(self, key: str) -> list[str]:
        """Every tag in force on record ``key``, sorted (for suggestions)."""
        found = {t for tags in self.annotations(key)["tags"] for t in tags}
        return sorted(found, key=str.lower)
