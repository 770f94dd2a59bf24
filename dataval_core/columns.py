"""What the columns of an uploaded table look like: which one is the label, which ones to leave out.

Guesses are never silent: each comes with a one-sentence reason for the user, and when two
columns look equally like the label the guess is *unsure* (no column) and the user must choose.

- :func:`guess_label` picks the label column by its name (``label``, ``class``, ``species``, …)
  and its content (few distinct values, not an id, not free text, not a float measurement).
- :func:`leave_out` proposes the columns the methods must not see: a column that looks like the
  truth (``is_mislabeled``, ``true_label``, …: it would give the answer away), a row id, or free
  text, wherever they sit in the table.
- :func:`cell_notes` says which feature cells are empty or infinite and what replaces them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: names (lower case, ``_`` for spaces and dashes) that say "this is the label"
LABEL_NAMES = frozenset({
    "label", "labels", "class", "classes", "class_label", "class_name", "target", "y", "species", "category",
    "diagnosis", "outcome", "variety", "genre", "response", "annotation"})
#: the last word of a name that says "this is the label" (``species_label``, ``wine_class``)
_LABEL_SUFFIXES = ("label", "class", "target", "category")
#: a column holding the correct label (a copy of the truth): always left out
_TRUTH_COPY = re.compile(r"^(is_)?(true|clean|correct|corrected|gold|real|gt|orig|original|verified)_?"
                         r"(label|class|target|y|category)s?$|ground_?truth|^gt$")
#: a flag column that marks known-bad rows: left out when its values are true/false-like
_TRUTH_FLAG = re.compile(r"mislab|nois|flip|corrupt|label_?(error|issue|noise)|"
                         r"^(is_|known_|flagged_)?(bad|wrong|error|dirty)(_label|_row)?$|^(is_)?wrongly")
#: last words of a name that say "this is a row id"
_ID_WORDS = frozenset({"id", "ids", "uuid", "guid", "uid", "idx", "index", "key", "pk"})
_TRUE_FALSE_WORDS = frozenset({"1", "0", "1.0", "0.0", "true", "false", "yes", "no", "t", "f", "y", "n", "bad",
                               "good", "ok", "clean", "noisy", "wrong", "right", "mislabeled", "mislabelled",
                               "correct", "incorrect"})
#: a label guessed from content alone has at most this many classes
MAX_GUESSED_CLASSES = 50
#: free text: at least this share of the values distinct and a median length of at least this many characters
FREE_TEXT_UNIQUE_SHARE = 0.8
FREE_TEXT_MIN_CHARS = 20


@dataclass(frozen=True)
class LabelGuess:
    """The guessed label column and why, or no column (unsure) and why.

    Attributes:
        column: the guessed label column, ``None`` when unsure.
        reason: one sentence for the user.
        candidates: the columns that looked like a label (two or more when unsure because of a tie).
    """

    column: str | None
    reason: str
    candidates: tuple[str, ...] = ()

    @property
    def unsure(self) -> bool:
        return self.column is None


def normalised(name: object) -> str:
    """A column name in lower case with ``_`` between words (``PassengerId`` -> ``passenger_id``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def _words(name: object) -> list[str]:
    return [w for w in normalised(name).split("_") if w]


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _has_fractions(s: pd.Series) -> bool:
    v = s.dropna().astype(float).to_numpy()
    v = v[np.isfinite(v)]
    return bool(len(v)) and not np.all(v == np.round(v))


def _true_false_like(s: pd.Series) -> bool:
    values = s.dropna()
    if pd.api.types.is_bool_dtype(values):
        return True
    if _is_number(values):
        return set(np.unique(values.astype(float))) <= {0.0, 1.0}
    words = values.astype(str).str.strip().str.lower()
    return words.nunique() <= 4 and bool(words.isin(_TRUE_FALSE_WORDS).all())


def is_truth_like(name: object, s: pd.Series) -> bool:
    """A column that holds the answer: a copy of the correct label, or a true/false flag of known-bad rows."""
    key = normalised(name)
    return bool(_TRUTH_COPY.search(key)) or (bool(_TRUTH_FLAG.search(key)) and _true_false_like(s))


def is_id_like(name: object, s: pd.Series) -> bool:
    """A row id: named like one (``id``, ``uuid``, ``PassengerId``, pandas' ``Unnamed: 0``), unique per row,
    integers or text."""
    words = _words(name)
    named = bool(words) and (words[-1] in _ID_WORDS or str(name).startswith("Unnamed: "))
    if not named or s.isna().any() or len(s) < 2 or not s.is_unique:
        return False
    return not (_is_number(s) and _has_fractions(s)) and not pd.api.types.is_bool_dtype(s)


def is_free_text(s: pd.Series) -> bool:
    """Mostly unique long strings (comments, descriptions, names), which no method can use as a feature."""
    if _is_number(s) or pd.api.types.is_bool_dtype(s):
        return False
    values = s.dropna().astype(str)
    if len(values) < 5:
        return False
    return values.nunique() >= FREE_TEXT_UNIQUE_SHARE * len(values) and \
        float(values.str.len().median()) >= FREE_TEXT_MIN_CHARS


def leave_out(frame: pd.DataFrame, label: str | None = None, id_column: str | None = None) -> dict[str, str]:
    """Columns to leave out of the features, each with a short reason, in table order.

    Args:
        frame: the table.
        label: the label column (never proposed).
        id_column: the declared id column (never a feature anyway, so not proposed).

    Returns:
        ``{column: reason}``, e.g. ``{"id": "it is a row id, unique per row"}``.
    """
    out = {}
    for col in frame.columns:
        if col in (label, id_column):
            continue
        s = frame[col]
        if is_truth_like(col, s):
            out[str(col)] = "it looks like the truth about the labels and would give the answer away"
        elif is_id_like(col, s):
            out[str(col)] = "it is a row id, unique per row"
        elif is_free_text(s):
            out[str(col)] = "it is free text: mostly unique long strings"
    return out


def describe_left_out(left: Mapping[str, str]) -> str:
    """One sentence naming the left-out columns and why (empty when none)."""
    if not left:
        return ""
    parts = [f"{col!r} ({why})" for col, why in left.items()]
    return "Left out of the features: " + "; ".join(parts) + "."


def _label_name(name: object) -> bool:
    key = normalised(name)
    return key in LABEL_NAMES or (key.rsplit("_", 1)[-1] in _LABEL_SUFFIXES and "_" in key)


def _quoted(names: Sequence[str]) -> str:
    shown = [repr(str(n)) for n in names]
    return ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else "".join(shown)


def guess_label(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> LabelGuess:
    """Guess the label column of a table by name, then by content.

    A column named like a label (:data:`LABEL_NAMES`, or ending in ``_label``/``_class``) wins
    when it is the only such column with at least two values that is not an id, free text or
    the truth. Without one, the only column with few distinct values (2 to
    :data:`MAX_GUESSED_CLASSES`) that is text, true/false or integers is taken. Two or more
    equal candidates, or none, give an unsure guess (no column).

    Args:
        frame: the table.
        exclude: columns that cannot be the label (e.g. the declared id column).

    Returns:
        The guess with a one-sentence reason.
    """
    skip = set(exclude)
    usable = []
    for col in frame.columns:
        s = frame[col]
        if col in skip or s.dropna().nunique() < 2 or is_truth_like(col, s) or is_id_like(col, s) or is_free_text(s):
            continue
        usable.append(str(col))
    named = [c for c in usable if _label_name(c)]
    if len(named) == 1:
        col = named[0]
        s = frame[col]
        what = ("numbers with fractions (a regression target)" if _is_number(s) and _has_fractions(s)
                else f"{s.dropna().nunique()} distinct values")
        return LabelGuess(col, f"{col!r} is named like a label column and holds {what}.", (col,))
    if len(named) > 1:
        return LabelGuess(None, f"{_quoted(named)} are each named like a label column.", tuple(named))
    few = [c for c in usable if not (_is_number(frame[c]) and _has_fractions(frame[c]))
           and 2 <= frame[c].dropna().nunique() <= min(MAX_GUESSED_CLASSES, max(2, len(frame) // 2))]
    if len(few) == 1:
        col = few[0]
        return LabelGuess(col, f"{col!r} is the only column with few distinct values "
                               f"({frame[col].dropna().nunique()}) that is not a measurement.", (col,))
    if len(few) > 1:
        shown = few if len(few) <= 4 else few[:4]
        more = f" and {len(few) - 4} more" if len(few) > 4 else ""
        return LabelGuess(None, f"{_quoted(shown)}{more} could each be the label (few distinct values, "
                                "none named like a label).", tuple(few))
    return LabelGuess(None, "No column looks like a label (named like one, or with few distinct values).")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _they(n: int) -> str:
    return "it is" if n == 1 else "they are"


def cell_notes(frame: pd.DataFrame, columns: Iterable[str], limit: int = 5) -> tuple[str, ...]:
    """One sentence per feature column with infinite or empty cells, saying what replaces them.

    Numbers: ±inf and empty cells are replaced by the column median (as :mod:`.embeddings.raw`
    does); text: empty cells become a ``'<missing>'`` level. At most ``limit`` columns are named,
    then one sentence counts the rest.
    """
    notes = []
    for col in columns:
        s = frame[col]
        empty = int(s.isna().sum())
        if _is_number(s) or pd.api.types.is_bool_dtype(s):
            v = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
            inf = int(np.isinf(v).sum())
            if empty + inf == len(s):
                continue  # an all-empty column is not used at all (the encoding table says so)
            if inf:
                notes.append(f"Column {str(col)!r} has {_count(inf, 'infinite value')} (±inf)"
                             + (f" and {_count(empty, 'empty cell')}" if empty else "")
                             + f"; {_they(inf + empty)} replaced by the column median.")
            elif empty:
                notes.append(f"Column {str(col)!r} has {_count(empty, 'empty cell')}; {_they(empty)} replaced by "
                             "the column median.")
        elif empty and empty < len(s):
            notes.append(f"Column {str(col)!r} has {_count(empty, 'empty cell')}; {_they(empty)} read as a "
                         "'<missing>' category.")
    if len(notes) > limit:
        notes = notes[:limit] + [f"{len(notes) - limit} more column(s) have empty or infinite cells, "
                                 "replaced the same way."]
    return tuple(notes)
