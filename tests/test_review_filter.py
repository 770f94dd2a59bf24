"""AppTest of the Review page's filter box: it filters the cards, survives a reload through the URL, says in
one line why bad text filters nothing, and clears."""
from __future__ import annotations

import pytest
from test_review import _card_ids, _review, _ws

from test_app import errors, new_app, seeded_session


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch):
    path = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(path))
    return path


def _box(at):
    return next(t for t in at.text_input if t.key.startswith("rv_where_box_"))


def test_filter_box_filters_cards_and_bad_text_is_one_line(workspace_dir, tmp_path):
    from dataval_core.curation import review_table

    sid, key, run_id = seeded_session(workspace_dir, tmp_path)
    ws = _ws(workspace_dir)
    frame = review_table(ws.load_dataset(key), ws.load_result(run_id))
    expected = frame[(frame["label"] == "b") & (frame["rank"] <= 12)]["id"].tolist()
    assert 0 < len(expected) < len(frame)
    at = _review(new_app(sid))
    _box(at).input("label == B and rank <= 12").run()  # text ignores case
    assert not errors(at) and _card_ids(at) == expected
    assert any("of 18 samples match" in i.value for i in at.info)
    assert at.query_params["where"] == "label == B and rank <= 12"

    reload = new_app(sid)  # a reload keeps the filter (from the URL)
    reload.query_params["where"] = "label == B and rank <= 12"
    reload = _review(reload.run())
    assert _card_ids(reload) == expected

    _box(at).input("label == b and rank >").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Filter not applied: The filter ends where a value after '>' was "
                                           "expected."]
    assert len(_card_ids(at)) == 18  # bad text filters nothing

    at.button(key="rv_where_clear").click().run()
    assert not errors(at) and len(_card_ids(at)) == 18 and _box(at).value == ""
    assert "where" not in at.query_params
