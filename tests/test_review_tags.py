"""AppTest of tags and notes on the Review page: a card's tag button opens the editor, a tag and a note are
saved (once per click) and shown on the card, a tag filters the review, a bad tag is one line, and the
Export page offers annotations.csv."""
from __future__ import annotations

import pytest
from test_review import _card_ids, _review, _ws

from test_app import errors, new_app, seeded_session


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch):
    path = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(path))
    return path


def test_tag_and_note_from_a_card_then_filter_by_tag(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    target = _card_ids(at)[2]
    at.button(key=f"rv_tags_{target}").click().run()  # the editor opens for that card
    at.text_input(key="rv_tag_text").input("blurry").run()
    at.button(key="rv_tag_add").click().run()
    assert not errors(at)
    ws = _ws(workspace_dir)
    assert ws.annotations(key)["tags"].tolist() == [("blurry",)]
    note = next(t for t in at.text_area if t.key.startswith(f"rv_note_{target}_"))
    note.input("top row cut off").run()
    at.button(key="rv_note_save").click().run()
    assert ws.annotations(key)[["id", "note"]].values.tolist() == [[target, "top row cut off"]]
    at.text_input(key="rv_tag_text").input("no;way").run()
    at.button(key="rv_tag_add").click().run()
    assert any(e.value.startswith("Not saved: A tag holds letters, digits") for e in at.error)
    assert not at.exception and ws.annotations(key)["tags"].tolist() == [("blurry",)]
    at.button(key="rv_tag_done").click().run()  # closed; the card shows its tag and note
    assert any(":blue-badge[blurry]" in m.value and "top row cut off" in m.value for m in at.markdown)

    box = next(t for t in at.text_input if t.key.startswith("rv_where_box_"))
    box.input("tag == Blurry").run()
    assert not errors(at) and _card_ids(at) == [target]

    at.switch_page("app_pages/6_export.py").run()
    assert not errors(at)
    assert sum("annotations.csv (tags, notes)" in str(el.proto) for el in at.get("download_button")) == 1
