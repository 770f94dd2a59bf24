"""Review's keyboard focus (ui/focus.py): the key buttons move the focus and decide the focused sample (not
the first), then advance; the pure stepping rules; the lightbox opens on the focused sample."""
from __future__ import annotations

import pytest
from test_review import _card_ids, _review, _state, _ws

from ui.focus import after_decision, step

from test_app import errors, new_app, seeded_session


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch):
    path = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(path))
    return path


def test_step_and_advance_rules():
    ids = ["a", "b", "c"]
    assert step(ids, "a", 1) == "b" and step(ids, "c", 1) == "c" and step(ids, "a", -1) == "a"
    assert step(ids, "gone", 1) == "a" and step([], None, 1) is None
    assert after_decision(ids, "b") == "c" and after_decision(ids, "c") == "b"
    assert after_decision(["a"], "a") == "a" and after_decision(ids, "x") is None


def test_keys_move_focus_and_decide_the_focused_card_then_advance(workspace_dir, tmp_path):
    sid, key, _ = seeded_session(workspace_dir, tmp_path)
    at = _review(new_app(sid))
    ids = _card_ids(at)
    at.button(key="rv_focus_right").click().run()
    at.button(key="rv_focus_right").click().run()
    assert at.session_state["rv_focus"] == ids[2]
    at.button(key="rv_focus_left").click().run()
    assert at.session_state["rv_focus"] == ids[1]
    assert any(c.value == f"**Focus** `{ids[1]}`:" for c in at.caption)
    assert any(".st-key-card_1 {" in h.body for h in at.get("html"))  # the ring is on the second card

    at.button(key="rv_key_drop").click().run()  # D: the focused card, not the first
    ws = _ws(workspace_dir)
    assert _state(ws, key) == {ids[1]: "drop"} and not errors(at)
    # the dropped card leaves the Undecided view; the focus went on to the sample after it
    assert at.session_state["rv_focus"] == ids[2] and _card_ids(at)[1] == ids[2]
    at.button(key="rv_key_keep").click().run()
    assert _state(ws, key) == {ids[1]: "drop", ids[2]: "keep"}
    assert at.session_state["rv_focus"] == ids[3]

    at.button(key="rv_key_zoom").click().run()  # Z: the lightbox of the focused sample
    assert not errors(at)
    assert any(f"`{ids[3]}`" in m.value for m in at.markdown)
    assert any(c.value.startswith("Original 8 × 8 px.") for c in at.caption)
