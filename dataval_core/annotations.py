"""Tags and a note per sample: the rules for what a tag and a note may be, and the exported table.

The workspace keeps annotations as an append-only log (the latest row per sample is in force,
:mod:`dataval_core.workspace.annotation_store`); this bottom-layer module is shared by the
store, the filter (``tag == blurry``, :mod:`dataval_core.filtering`) and the export.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

#: longest tag and note accepted
MAX_TAG = 40
MAX_NOTE = 2_000
#: columns of ``annotations.csv``; ``tags`` joined with :data:`TAG_SEP`
ANNOTATION_COLUMNS = ("id", "tags", "note", "time")
TAG_SEP = "; "
_TAG = re.compile(r"[\w][\w .+/-]*", re.UNICODE)


def clean_tag(text: str) -> str:
    """A tag as stored: trimmed, inner spaces collapsed.

    Raises:
        ValueError: empty, longer than :data:`MAX_TAG` characters, or with characters other than letters,
            digits, spaces and ``_ . + / -`` (one line for the user).
    """
    tag = re.sub(r"\s+", " ", str(text)).strip()
    if not tag:
        raise ValueError("A tag cannot be empty.")
    if len(tag) > MAX_TAG:
        raise ValueError(f"A tag has at most {MAX_TAG} characters; {tag[:20]!r}… has {len(tag)}.")
    if not _TAG.fullmatch(tag):
        raise ValueError(f"A tag holds letters, digits, spaces and _ . + / - only (and starts with a letter or "
                         f"digit); got {tag!r}.")
    return tag


def clean_note(text: str | None) -> str:
    """A note as stored: trimmed (``None`` is no note).

    Raises:
        ValueError: longer than :data:`MAX_NOTE` characters.
    """
    note = (text or "").strip()
    if len(note) > MAX_NOTE:
        raise ValueError(f"A note has at most {MAX_NOTE:,} characters; this one has {len(note):,}.")
    return note


def merge_tags(current: Iterable[str], add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[str, ...]:
    """``current`` with ``add`` added and ``remove`` taken away, sorted, each tag once (case-insensitively: the
    spelling first stored is kept)."""
    gone = {clean_tag(t).lower() for t in remove}
    out: dict[str, str] = {}
    for tag in (*current, *(clean_tag(t) for t in add)):
        if tag.lower() not in gone:
            out.setdefault(tag.lower(), tag)
    return tuple(sorted(out.values(), key=str.lower))


def annotations_table(annotations: pd.DataFrame | None) -> pd.DataFrame:
    """``annotations.csv``: one row per sample with tags or a note (columns :data:`ANNOTATION_COLUMNS`; tags
    joined with ``"; "``), by id."""
    if annotations is None or annotations.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ANNOTATION_COLUMNS})
    out = annotations.copy()
    out["tags"] = out["tags"].map(lambda t: TAG_SEP.join(t))
    return out[list(ANNOTATION_COLUMNS)].sort_values("id", kind="stable").reset_index(drop=True)
