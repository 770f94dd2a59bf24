"""The Review filter language (dataval_core.filtering): parsing, semantics, and one-line errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataval_core.filtering import FilterError, filter_mask, filter_source, parse_filter


@pytest.fixture
def penguins() -> pd.DataFrame:
    review = pd.DataFrame({"id": ["0", "1", "2", "3"], "label": ["Adelie", "Gentoo", "Adelie", "Chinstrap"],
                           "value": [-0.5, 0.1, 0.3, -0.2], "rank": [1, 3, 4, 2],
                           "action": [None, "drop", None, "relabel"], "suggested": ["Gentoo", None, None, "x"]})
    table = pd.DataFrame({"species": ["Adelie", "Gentoo", "Adelie", "Chinstrap"],
                          "bill_length_mm": [39.1, 47.5, np.nan, 45.2], "island": ["Torgersen", "Biscoe", "Dream",
                                                                                   "Dream"],
                          "sex": ["male", None, "female", ""], "is_adult": [True, False, True, True]})
    tags = pd.DataFrame({"id": ["1", "3"], "tags": [("blurry", "Check"), ("check",)], "note": ["cut off", ""]})
    return filter_source(review, table, np.array(["0", "1", "2", "3"]), tags)


def ids(frame: pd.DataFrame, text: str) -> list[str]:
    return frame[filter_mask(frame, text)]["id"].tolist()


@pytest.mark.parametrize("text, expected", [
    ("", ["0", "1", "2", "3"]),
    ("species == Adelie and bill_length_mm > 40", []),
    ("species == adelie", ["0", "2"]),  # text ignores case
    ("bill_length_mm > 40", ["1", "3"]),  # NaN matches no comparison
    ("bill_length_mm <= 39.1 or value < -0.3", ["0"]),
    ("not (species == Adelie) and island == Dream", ["3"]),
    ("island in (Biscoe, 'Dream')", ["1", "2", "3"]),
    ("sex is empty", ["1", "3"]),
    ("bill_length_mm is not empty and rank >= 2", ["1", "3"]),
    ("decision == undecided", ["0", "2"]),
    ("action != drop", ["0", "2", "3"]),
    ("tag == check", ["1", "3"]),
    ("tags != blurry", ["0", "2", "3"]),
    ("tag contains blur", ["1"]),
    ("tags is empty", ["0", "2"]),
    ("note contains CUT", ["1"]),
    ("island contains or", ["0"]),
    ("is_adult == false", ["1"]),
    ("`bill length mm` > 45", ["1", "3"]),  # names match ignoring case, spaces and underscores
    ("Species = Gentoo OR label == Chinstrap", ["1", "3"]),
    ("label == Adelie and (rank == 1 or rank == 4) and not tag == check", ["0", "2"]),
])
def test_filter_semantics(penguins, text, expected):
    assert ids(penguins, text) == expected


@pytest.mark.parametrize("text, message", [
    ("species ==", "ends where a value after '==' was expected"),
    ("species Adelie", "Expected an operator after 'species'"),
    ("colour == red", "Unknown column 'colour'; the columns are id, label"),
    ("bill_length_mm > long", "bill_length_mm holds numbers; 'long' is not a number"),
    ("island > Dream", "island holds text: use ==, !=, contains, in or is empty"),
    ("(species == Adelie", "ends where ')' was expected"),
    ("species == Adelie rank == 1", "Unexpected 'rank' at character 19; join tests with 'and' or 'or'"),
    ("species ~ Adelie", "Expected an operator after 'species' (==, !=, <, <=, >, >=, contains, in, is empty), "
                         "found '~'"),
    ("species == 'Adelie", "Unexpected \"'\" at character 12"),
    ("island in Dream", "Expected '(' after 'in'"),
    ("sex is blank", "Expected 'empty' after 'is'"),
    ("is_adult > 1", "is_adult is true or false"),
    ("tag < a", "tags takes ==, !=, in, contains or is empty"),
    ("x" * 1001, "longer than 1,000 characters"),
    ("not " * 40 + "rank == 1", "nests deeper than 30 levels"),
    ("__import__('os') == 1", "Expected an operator after '__import__'"),
])
def test_bad_filter_is_one_clear_line(penguins, text, message):
    with pytest.raises(FilterError) as err:
        filter_mask(penguins, text)
    assert message in str(err.value)
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)


def test_user_text_never_reaches_an_interpreter(penguins, monkeypatch):
    import builtins

    def refuse(*_a, **_k):
        raise AssertionError("eval called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(pd.DataFrame, "query", refuse)
    monkeypatch.setattr(pd.DataFrame, "eval", refuse)
    assert ids(penguins, "label == Adelie and value < 0") == ["0"]


def test_parse_tree_and_review_columns_win(penguins):
    tree = parse_filter("a == 1 and (b != x or not c is empty)")
    assert type(tree).__name__ == "Bool" and tree.op == "and" and len(tree.parts) == 2
    review = pd.DataFrame({"id": ["a"], "label": ["x"]})
    table = pd.DataFrame({"Label": ["raw"], "w": [2]})
    source = filter_source(review, table, np.array(["a"]))
    assert list(source.columns) == ["id", "label", "w", "tags", "note"]  # the table's 'Label' is the review's
    assert ids(source, "w == 2 and tags is empty and note is empty") == ["a"]
