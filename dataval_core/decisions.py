"""The curator's decision vocabulary and the rule for which decision is in force.

The decisions table is the audit log of the Review page: one row per click,
columns :data:`DECISION_COLUMNS`; for each id the latest row wins. This bottom-layer
module is shared by the workspace (which stores the log), the export and the report.

A decision is an *event*: one click is one write, named by an idempotency key
(:func:`new_event_key`) that the workspace stores with the rows it wrote, so the same
event delivered twice (a replayed message, a retried callback) is written once.
"""
from __future__ import annotations

import re
import uuid

import pandas as pd

from .dataset import DataError

#: columns of the decisions audit log, in file order
DECISION_COLUMNS = ("id", "action", "old_label", "new_label", "run_id", "method", "value", "rank", "time")
#: the actions a curator can take on a sample
ACTIONS = ("keep", "drop", "relabel")
#: the state of a sample without a decision (it is kept); as a logged action, an undo or revert
UNDECIDED = "undecided"
#: what an idempotency key may look like: 8-64 letters, digits, ``-``, ``_``, ``:`` or ``.``
_EVENT_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,64}")


def new_event_key() -> str:
    """A fresh idempotency key for one decision event (a random 32-digit hex string)."""
    return uuid.uuid4().hex


def check_event_key(event: str) -> str:
    """Return ``event`` if it is a well-formed idempotency key.

    Raises:
        ValueError: not a string of 8-64 letters, digits, ``-``, ``_``, ``:`` or ``.``.
    """
    if not isinstance(event, str) or not _EVENT_KEY.fullmatch(event):
        raise ValueError(f"A decision event key must be 8-64 letters, digits, '-', '_', ':' or '.'; got {event!r}.")
    return event


def checked_log(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of the audit log with string ids, after checking its actions.

    ``None`` gives an empty log with the :data:`DECISION_COLUMNS`.

    Raises:
        DataError: missing ``id``/``action`` columns, an unknown action, or a
            relabel without a new label.
    """
    if decisions is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})
    missing = [c for c in ("id", "action") if c not in decisions.columns]
    if missing:
        raise DataError(f"The decisions table lacks column(s) {', '.join(missing)}.")
    log = decisions.copy()
    log["id"] = log["id"].astype(str)
    bad = sorted(set(log["action"].astype(str)) - set(ACTIONS) - {UNDECIDED})
    if bad:
        raise DataError(f"Unknown decision action(s) {bad}; expected one of {list(ACTIONS)}.")
    relabel = log["action"] == "relabel"
    if relabel.any() and ("new_label" not in log.columns or log.loc[relabel, "new_label"].isna().any()):
        raise DataError("Every relabel decision needs a new_label.")
    return log


def current_decisions(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The decision in force for each id: the latest row per id.

    Rows are ordered by ``time`` when that column exists (a stable sort, so rows with
    equal times keep their log order) and the last row per id wins. An id whose
    latest row is ``undecided`` (an undo or revert) has no decision.

    Args:
        decisions: the audit log (columns :data:`DECISION_COLUMNS`; ``id`` and
            ``action`` are required), or ``None`` for no decisions.

    Returns:
        One row per decided id, same columns, ordered by decision time.

    Raises:
        DataError: as :func:`checked_log`.
    """
    log = checked_log(decisions)
    if log.empty:
        return log
    if "time" in log.columns:
        log = log.sort_values("time", kind="stable")
    latest = log.drop_duplicates("id", keep="last")
    return latest[latest["action"] != UNDECIDED].reset_index(drop=True)


def full_log(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Every row of the audit log, oldest first, :data:`DECISION_COLUMNS` first (empty where
    the log lacks them), then any extra columns."""
    log = checked_log(decisions)
    if "time" in log.columns:
        log = log.sort_values("time", kind="stable")
    for c in DECISION_COLUMNS:
        if c not in log.columns:
            log[c] = None
    extra = [c for c in log.columns if c not in DECISION_COLUMNS]
    return log[list(DECISION_COLUMNS) + extra].reset_index(drop=True)
