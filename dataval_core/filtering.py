"""A small, safe filter language over the review table's columns, the dataset's own columns and the tags.

The Review page's filter box takes text such as::

    species == Adelie and bill_length_mm > 40
    (label == 3 or suggested == 8) and not decision == drop
    tag == blurry or note contains "check"
    island in (Biscoe, Dream) and sex is empty

It is parsed here by a tokenizer and a recursive-descent parser into a tree of
:class:`Comparison`, :class:`Not` and :class:`Bool` nodes, and evaluated with pandas
column operations. No user text ever reaches ``eval``, ``DataFrame.query`` or any
other interpreter: an unknown column, operator or value is a :class:`FilterError`
with one line for the user.

Grammar (keywords are case-insensitive)::

    expr   := and ("or" and)*
    and    := unary ("and" unary)*
    unary  := "not" unary | "(" expr ")" | test
    test   := NAME OP VALUE | NAME "in" "(" VALUE ("," VALUE)* ")" | NAME "is" ["not"] "empty"
    OP     := "==" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "contains"
    NAME   := a word (letters, digits, _ . -) or a `backticked name`
    VALUE  := a number, a 'quoted' or "quoted" text, or a bare word

Text comparisons ignore case (``species == adelie`` matches ``Adelie``); ``<``, ``<=``,
``>`` and ``>=`` need a numeric column and a number. On the ``tags`` column (a tuple of
tags per sample; ``tag`` names it too) ``==`` asks whether the sample has that tag,
``!=`` whether it lacks it and ``contains`` whether any tag contains the text.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: longest filter text accepted (longer text is refused with one line, never parsed)
MAX_LENGTH = 1_000
#: deepest nesting of parentheses and ``not`` accepted
MAX_DEPTH = 30
#: the column of tags (a tuple of text per sample) and the names that reach it
TAGS = "tags"
_ALIASES = {"tag": TAGS, "decision": "action"}
_OPS = ("==", "!=", "<=", ">=", "<", ">", "contains", "in", "is")
_ORDERING = ("<", "<=", ">", ">=")
_TOKEN = re.compile(r"""\s*(?:(?P<op>==|!=|<=|>=|<|>|=)|(?P<paren>[(),])|`(?P<bq>[^`]*)`|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'
                        |(?P<word>[^\s()<>=!,`'"]+)|(?P<bad>\S))""", re.VERBOSE)
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


class FilterError(ValueError):
    """A filter text that cannot be read or applied; ``str()`` is one line for the user."""


@dataclass(frozen=True)
class _Token:
    kind: str  # "op", "paren", "name" (backticked), "text" (quoted), "word"
    text: str
    pos: int


@dataclass(frozen=True)
class Comparison:
    """``column op value`` (``values`` holds the list of ``in``; ``op`` ``empty`` / ``not empty`` take none)."""

    column: str
    op: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Bool:
    """``op`` is ``and`` or ``or`` over two or more parts."""

    op: str
    parts: tuple[Node, ...]


Node = Comparison | Not | Bool


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(text):
        group = m.lastgroup or "bad"
        value, pos = m.group(group), m.start(group)
        if group == "bad":
            raise FilterError(f"Unexpected {value!r} at character {pos + 1}.")
        kind = {"bq": "name", "dq": "text", "sq": "text"}.get(group, group)
        out.append(_Token(kind, "==" if value == "=" and kind == "op" else value, pos))
    return out


class _Parser:
    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.lower() in words:
            self.i += 1
            return True
        return False

    def take(self, what: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise FilterError(f"The filter ends where {what} was expected.")
        self.i += 1
        return tok

    def expr(self) -> Node:
        parts = [self.conj()]
        while self.keyword("or"):
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else Bool("or", tuple(parts))

    def conj(self) -> Node:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Bool("and", tuple(parts))

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"The filter nests deeper than {MAX_DEPTH} levels.")
        try:
            if self.keyword("not"):
                return Not(self.unary())
            tok = self.peek()
            if tok is not None and tok.kind == "paren" and tok.text == "(":
                self.i += 1
                inner = self.expr()
                close = self.take("')'")
                if close.text != ")":
                    raise FilterError(f"Expected ')' at character {close.pos + 1}, found {close.text!r}.")
                return inner
            return self.test()
        finally:
            self.depth -= 1

    def test(self) -> Comparison:
        name = self.take("a column name")
        if name.kind not in ("word", "name") or name.text.lower() in ("and", "or", "not"):
            raise FilterError(f"Expected a column name at character {name.pos + 1}, found {name.text!r}.")
        op = self.take(f"an operator after {name.text!r} (==, !=, <, <=, >, >=, contains, in, is empty)")
        word = op.text.lower()
        if op.kind == "op" or (op.kind == "word" and word in ("contains", "in", "is")):
            if word == "is":
                negate = self.keyword("not")
                if not self.keyword("empty"):
                    raise FilterError(f"Expected 'empty' after 'is{' not' if negate else ''}'.")
                return Comparison(name.text, "not empty" if negate else "empty")
            if word == "in":
                return Comparison(name.text, "in", self.value_list())
            return Comparison(name.text, word, (self.value(word),))
        raise FilterError(f"Expected an operator after {name.text!r} (==, !=, <, <=, >, >=, contains, in, "
                          f"is empty), found {op.text!r}.")

    def value(self, after: str) -> str:
        tok = self.take(f"a value after {after!r}")
        if tok.kind not in ("word", "text"):
            raise FilterError(f"Expected a value after {after!r} at character {tok.pos + 1}, found {tok.text!r}.")
        return tok.text

    def value_list(self) -> tuple[str, ...]:
        open_ = self.take("'(' after 'in'")
        if open_.text != "(":
            raise FilterError(f"Expected '(' after 'in', found {open_.text!r}; write e.g. island in (Biscoe, Dream).")
        values = [self.value("(")]
        while True:
            sep = self.take("',' or ')'")
            if sep.text == ")":
                return tuple(values)
            if sep.text != ",":
                raise FilterError(f"Expected ',' or ')' in the list of 'in', found {sep.text!r}.")
            values.append(self.value(","))


def parse_filter(text: str) -> Node | None:
    """Parse filter text into a tree (``None`` for empty text).

    Raises:
        FilterError: the text is too long, misspelt or incomplete (one line saying where).
    """
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_LENGTH:,} characters.")
    parser = _Parser(_tokens(text))
    tree = parser.expr()
    rest = parser.peek()
    if rest is not None:
        raise FilterError(f"Unexpected {rest.text!r} at character {rest.pos + 1}; join tests with 'and' or 'or'.")
    return tree


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def resolve_column(name: str, columns: Sequence[str]) -> str:
    """The column ``name`` means: exact, else ignoring case and space/underscore/dash, else an alias
    (``tag`` → ``tags``, ``decision`` → ``action``).

    Raises:
        FilterError: no such column (the line lists some that exist).
    """
    if name in columns:
        return name
    by_norm = {_norm(c): c for c in reversed(columns)}
    if _norm(name) in by_norm:
        return by_norm[_norm(name)]
    alias = _ALIASES.get(_norm(name))
    if alias is not None and alias in columns:
        return alias
    listed = ", ".join(list(columns)[:12]) + (", …" if len(columns) > 12 else "")
    raise FilterError(f"Unknown column {name!r}; the columns are {listed}.")


def _number(column: str, value: str) -> float:
    try:
        out = float(value)
    except ValueError:
        out = math.nan
    if math.isnan(out):
        raise FilterError(f"{column} holds numbers; {value!r} is not a number.")
    return out


def _is_empty(col: pd.Series) -> pd.Series:
    if col.name == TAGS:
        return col.map(lambda t: not t)
    return col.isna() | (col.astype(str).str.strip() == "")


def _compare_tags(col: pd.Series, op: str, values: Iterable[str]) -> pd.Series:
    wanted = [v.strip().lower() for v in values]
    have = col.map(lambda tags: {str(t).lower() for t in tags} if tags else set())
    if op in ("==", "in"):
        return have.map(lambda s: any(w in s for w in wanted))
    if op == "!=":
        return have.map(lambda s: not any(w in s for w in wanted))
    if op == "contains":
        return have.map(lambda s: any(wanted[0] in t for t in s))
    raise FilterError(f"{TAGS} takes ==, !=, in, contains or is empty, not {op!r}.")


def _compare(col: pd.Series, name: str, op: str, values: tuple[str, ...]) -> pd.Series:
    if op in ("empty", "not empty"):
        empty = _is_empty(col)
        return empty if op == "empty" else ~empty
    if name == TAGS:
        return _compare_tags(col, op, values)
    if pd.api.types.is_bool_dtype(col):
        flags = []
        for v in values:
            low = v.lower()
            if low not in _TRUE | _FALSE or op not in ("==", "!=", "in"):
                raise FilterError(f"{name} is true or false: compare it with == true, == false or != .")
            flags.append(low in _TRUE)
        hit = col.isin(flags)
        return ~hit if op == "!=" else hit
    if pd.api.types.is_numeric_dtype(col) and op != "contains":
        nums = [_number(name, v) for v in values]
        x = col.astype(float)
        ops = {"==": x == nums[0], "!=": x != nums[0], "<": x < nums[0], "<=": x <= nums[0], ">": x > nums[0],
               ">=": x >= nums[0]}
        return x.isin(nums) if op == "in" else ops[op]
    if op in _ORDERING:
        raise FilterError(f"{name} holds text: use ==, !=, contains, in or is empty, not {op!r}.")
    text = col.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).lower())
    wanted = [v.lower() for v in values]
    if op == "contains":
        return text.str.contains(wanted[0], regex=False)
    hit = text.isin(wanted)
    return ~hit if op == "!=" else hit


def _evaluate(node: Node, frame: pd.DataFrame) -> pd.Series:
    if isinstance(node, Not):
        return ~_evaluate(node.inner, frame)
    if isinstance(node, Bool):
        masks = [_evaluate(p, frame) for p in node.parts]
        out = masks[0]
        for m in masks[1:]:
            out = (out & m) if node.op == "and" else (out | m)
        return out
    name = resolve_column(node.column, list(frame.columns))
    return _compare(frame[name], name, node.op, node.values).fillna(False).astype(bool)


def filter_mask(frame: pd.DataFrame, text: str) -> pd.Series:
    """Which rows of ``frame`` the filter ``text`` keeps (all of them for empty text).

    Args:
        frame: the rows to filter, one column per name the text may use (e.g. :func:`filter_source`).
        text: the filter, in the language of this module.

    Returns:
        A boolean Series on ``frame``'s index.

    Raises:
        FilterError: unreadable text, an unknown column or a value of the wrong kind (one line).
    """
    tree = parse_filter(text)
    if tree is None:
        return pd.Series(True, index=frame.index)
    return _evaluate(tree, frame)


def filter_source(review: pd.DataFrame, table: pd.DataFrame | None = None, ids: np.ndarray | None = None,
                  tags: pd.DataFrame | None = None) -> pd.DataFrame:
    """The columns a filter may name, one row per row of ``review`` (same index).

    Args:
        review: the review table (:func:`dataval_core.curation.review_table`); its columns come first.
        table: the dataset's own rows (features and metadata), in the order of ``ids``; a column whose
            name the review table already uses is left out.
        ids: the sample id of each row of ``table``.
        tags: the samples' annotations (columns ``id``, ``tags``, ``note``); samples without one get no
            tags and an empty note.

    Returns:
        ``review``'s columns, then ``table``'s other columns, then ``tags`` (a tuple per sample) and ``note``.
    """
    out = review.copy()
    if "action" in out:  # undecided samples read "undecided" (``decision == undecided``)
        out["action"] = out["action"].fillna("undecided")
    if table is not None and ids is not None:
        extra = [c for c in table.columns if str(c) not in out.columns and _norm(str(c)) not in
                 {_norm(str(o)) for o in out.columns}]
        joined = table[extra].set_axis([str(c) for c in extra], axis=1).set_index(pd.Index(np.asarray(ids)
                                                                                         .astype(str)))
        out = out.join(joined, on="id")
    known = tags.set_index("id") if tags is not None and len(tags) else None
    if known is not None:
        out[TAGS] = [tuple(t) if isinstance(t, (tuple, list)) else () for t in known["tags"].reindex(out["id"])]
        out["note"] = known["note"].reindex(out["id"]).fillna("").to_numpy(dtype=object)
    else:
        out[TAGS] = [()] * len(out)
        out["note"] = ""
    return out
