"""The store side of curation decisions: an append-only audit log, undoable steps and idempotent events.

The pure rules (actions, columns, event keys, what a decision means for export) are in
:mod:`dataval_core.decisions`; this module writes and reads them in SQLite.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from typing import Any

import pandas as pd

from ..decisions import ACTIONS, DECISION_COLUMNS, UNDECIDED, check_event_key
from .access import Access
from .faults import _faults
from .schema import _now_iso, session_tag


class DecisionStore(Access):
    """The ``decisions``, ``decision_steps`` and ``decision_events`` tables."""

    def record_decisions(self, key: str, session_id: str, rows: Iterable[Mapping[str, Any]], *,
                         skip_unchanged: bool = False, event: str | None = None) -> int:
        """Append decisions as one undoable step (each row a mapping with the ``DECISION_COLUMNS`` but ``time``).

        Action ``undecided`` sets a sample back to no decision. The latest row per
        sample id wins; the full log stays as the audit trail. With ``skip_unchanged``,
        rows that would not change a sample's current decision are not written, so
        applying the same bulk action twice writes it once. The rows and their step
        are written in one transaction: either all are saved or none (the error is raised).

        Args:
            event: the idempotency key of the click that asked for this write (see
                :func:`~dataval_core.decisions.new_event_key`). It is stored with every row
                and in a ledger of events, in the same transaction; an event already in the
                ledger for this record writes nothing, so a replayed or duplicated click
                is written at most once. ``None``: no such check (scripts, the CLI).

        Returns:
            The number of rows written (0 for an event seen before).

        Raises:
            ValueError: an unknown action or a malformed event key.
            AccessError: the session may not write to ``key``.
            WorkspaceError: the workspace refused the write (nothing was saved).
        """
        self._require_write(session_id, key)
        if event is not None:
            check_event_key(event)
        stamp = _now_iso()
        tag = session_tag(session_id)
        values = []
        for row in rows:
            if row["action"] not in ACTIONS + (UNDECIDED,):
                raise ValueError(f"Unknown action {row['action']!r}; use one of {', '.join(ACTIONS)} or {UNDECIDED}.")
            value = row.get("value")
            rank = row.get("rank")
            values.append((key, session_id, str(row["id"]), row["action"],
                           None if row.get("old_label") is None else str(row["old_label"]),
                           None if row.get("new_label") is None else str(row["new_label"]),
                           row.get("run_id"), row.get("method"),
                           None if value is None else float(value), None if rank is None else int(rank), stamp,
                           tag, event))
        with _faults(self.root), closing(self._connect()) as con, con:
            con.execute("BEGIN IMMEDIATE")
            if event is not None and self._event_seen(con, key, event):
                return 0
            if skip_unchanged:
                values = [v for v in values if self._current_action(con, key, v[2]) != (v[3], v[5])]
            written = self._write_step(con, key, session_id, values, stamp)
            self._log_event(con, key, session_id, event, written, stamp)
            return written

    @staticmethod
    def _event_seen(con: sqlite3.Connection, key: str, event: str) -> bool:
        return con.execute("SELECT 1 FROM decision_events WHERE dataset_key = ? AND event = ?",
                           (key, event)).fetchone() is not None

    @staticmethod
    def _log_event(con: sqlite3.Connection, key: str, session_id: str, event: str | None, rows: int,
                   stamp: str) -> None:
        if event is not None:
            con.execute("INSERT INTO decision_events (dataset_key, event, session_id, rows, time) "
                        "VALUES (?, ?, ?, ?, ?)", (key, event, session_id, rows, stamp))

    def event_seen(self, key: str, event: str) -> bool:
        """Whether a decision event with this idempotency key was already applied to record ``key``."""
        return bool(self._query("SELECT 1 FROM decision_events WHERE dataset_key = ? AND event = ?", (key, event)))

    @staticmethod
    def _current_action(con: sqlite3.Connection, key: str, sample_id: str) -> tuple[str, str | None]:
        row = con.execute("SELECT action, new_label FROM decisions WHERE dataset_key = ? AND id = ? "
                          "ORDER BY seq DESC LIMIT 1", (key, sample_id)).fetchone()
        return (UNDECIDED, None) if row is None else (row["action"], row["new_label"])

    @staticmethod
    def _write_step(con: sqlite3.Connection, key: str, session_id: str, values: list[tuple], stamp: str,
                    undoes: int | None = None) -> int:
        if not values:
            return 0
        con.executemany("INSERT INTO decisions (dataset_key, session_id, id, action, old_label, new_label, "
                        "run_id, method, value, rank, time, session, event) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        last = con.execute("SELECT max(seq) FROM decisions").fetchone()[0]  # the write lock makes seqs contiguous
        con.execute("INSERT INTO decision_steps (dataset_key, session_id, first_seq, last_seq, undoes, time) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (key, session_id, last - len(values) + 1, last, undoes, stamp))
        return len(values)

    def undo_last_step(self, key: str, session_id: str, *, event: str | None = None) -> int:
        """Undo the session's latest decision step on record ``key`` that is not undone yet.

        Each sample of that step goes back to the decision it had before (or to
        ``undecided``), unless a later step of anyone changed its decision since. The undo is
        itself appended to the log as a step, so the audit trail keeps every click.

        Args:
            event: the Undo click's idempotency key, as for :meth:`record_decisions`: a
                click seen before undoes nothing more.

        Returns:
            The number of samples set back (0 when there is nothing to undo, or for an event seen before).
        """
        self._require_write(session_id, key)
        if event is not None:
            check_event_key(event)
        stamp = _now_iso()
        tag = session_tag(session_id)
        with _faults(self.root), closing(self._connect()) as con, con:
            con.execute("BEGIN IMMEDIATE")
            if event is not None and self._event_seen(con, key, event):
                return 0
            step = con.execute(
                "SELECT step, first_seq, last_seq FROM decision_steps s WHERE dataset_key = ? AND session_id = ? "
                "AND undoes IS NULL AND NOT EXISTS (SELECT 1 FROM decision_steps u WHERE u.undoes = s.step) "
                "ORDER BY step DESC LIMIT 1", (key, session_id)).fetchone()
            if step is None:
                self._log_event(con, key, session_id, event, 0, stamp)
                return 0
            rows = con.execute("SELECT * FROM decisions WHERE dataset_key = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                               (key, step["first_seq"], step["last_seq"])).fetchall()
            values = []
            for row in {r["id"]: r for r in rows}.values():  # a sample's last row within the step
                if self._current_action(con, key, row["id"]) != (row["action"], row["new_label"]):
                    continue  # changed again after this step: leave the newer decision alone
                prior = con.execute("SELECT * FROM decisions WHERE dataset_key = ? AND id = ? AND seq < ? "
                                    "ORDER BY seq DESC LIMIT 1", (key, row["id"], step["first_seq"])).fetchone()
                if prior is None:
                    values.append((key, session_id, row["id"], UNDECIDED, row["old_label"], None, row["run_id"],
                                   row["method"], row["value"], row["rank"], stamp, tag, event))
                else:
                    values.append((key, session_id, row["id"], prior["action"], prior["old_label"],
                                   prior["new_label"], prior["run_id"], prior["method"], prior["value"],
                                   prior["rank"], stamp, tag, event))
            if not values:  # every sample was changed since: mark the step undone, nothing to restore
                con.execute("INSERT INTO decision_steps (dataset_key, session_id, first_seq, last_seq, undoes, time) "
                            "VALUES (?, ?, 0, -1, ?, ?)", (key, session_id, step["step"], stamp))
                self._log_event(con, key, session_id, event, 0, stamp)
                return 0
            written = self._write_step(con, key, session_id, values, stamp, undoes=step["step"])
            self._log_event(con, key, session_id, event, written, stamp)
            return written

    def can_undo(self, key: str, session_id: str) -> bool:
        """Whether the session has a decision step on record ``key`` that :meth:`undo_last_step` would undo."""
        return bool(self._query(
            "SELECT 1 FROM decision_steps s WHERE dataset_key = ? AND session_id = ? AND undoes IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM decision_steps u WHERE u.undoes = s.step) LIMIT 1", (key, session_id)))

    def decision_log(self, key: str) -> pd.DataFrame:
        """Every decision on record ``key`` in the order made (the audit trail).

        Columns ``DECISION_COLUMNS`` and ``session``: the :func:`session_tag` of the session that made it.
        """
        with _faults(self.root), closing(self._connect()) as con:
            frame = pd.read_sql_query(f"SELECT {', '.join(DECISION_COLUMNS)}, session FROM decisions "
                                      "WHERE dataset_key = ? ORDER BY seq", con, params=(key,))
        return frame

    def decisions(self, key: str) -> pd.DataFrame:
        """The current decision per sample (latest row per id; samples set back to undecided left out)."""
        log = self.decision_log(key)
        latest = log.drop_duplicates("id", keep="last")
        return latest[latest["action"] != UNDECIDED].reset_index(drop=True)
