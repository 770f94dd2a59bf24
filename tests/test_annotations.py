"""Tags and a note per sample: rules, the store (idempotent events, latest row in force, access), the v4 → v5
migration keeping an older workspace readable, the export bundle's annotations.csv, and the tag filter."""
from __future__ import annotations

import io
import sqlite3
import zipfile

import pandas as pd
import pytest

from dataval_core.annotations import annotations_table, clean_note, clean_tag, merge_tags
from dataval_core.dataset import Dataset
from dataval_core.workspace import SCHEMA_VERSION, AccessError, Workspace

SID = "a" * 32


def _dataset() -> Dataset:
    from test_workspace import _table_dataset

    return _table_dataset(6, noisy=False)


def test_tag_and_note_rules():
    assert clean_tag("  needs   review ") == "needs review"
    assert merge_tags(("Blurry", "x"), add=("blurry", "check"), remove=("X",)) == ("Blurry", "check")
    for bad, msg in (("", "cannot be empty"), ("a" * 41, "at most 40"), ("<script>", "letters, digits"),
                     ("-x", "starts with a letter")):
        with pytest.raises(ValueError, match=msg):
            clean_tag(bad)
    assert clean_note(None) == "" and clean_note(" hi ") == "hi"
    with pytest.raises(ValueError, match="at most 2,000"):
        clean_note("n" * 2001)


def test_annotate_is_idempotent_latest_wins_and_checks_access(tmp_path):
    ws = Workspace(tmp_path / "ws")
    key = ws.add_dataset(SID, _dataset()).key
    assert ws.annotate(key, SID, "1", add=["blurry", "check"], event="evt_add_0001")
    assert not ws.annotate(key, SID, "1", add=["blurry", "check"], event="evt_add_0001")  # a replayed click
    assert not ws.annotate(key, SID, "1", add=["Blurry"], event="evt_add_0002")  # already so: nothing written
    assert ws.annotate(key, SID, "1", remove=["check"], note="cut off at the top", event="evt_rm_00001")
    assert ws.annotate(key, SID, "2", note="looks like a 7", event="evt_note_0001")
    with sqlite3.connect(ws.db_path) as con:
        assert con.execute("SELECT count(*) FROM annotations").fetchone()[0] == 3
    found = ws.annotations(key)
    assert found["id"].tolist() == ["1", "2"]
    assert found["tags"].tolist() == [("blurry",), ()] and found["note"].tolist() == ["cut off at the top",
                                                                                     "looks like a 7"]
    assert ws.tag_names(key) == ["blurry"]
    assert ws.annotate(key, SID, "2", note="", event="evt_note_0002")  # cleared: the sample leaves the table
    assert ws.annotations(key)["id"].tolist() == ["1"]
    with pytest.raises(ValueError, match="letters, digits"):
        ws.annotate(key, SID, "1", add=["a;b"], event="evt_bad_0001")
    with pytest.raises(AccessError):
        ws.annotate(key, "b" * 32, "1", add=["x"])


def test_a_version_4_workspace_opens_keeps_its_decisions_and_takes_annotations(tmp_path):
    from dataval_core.workspace import schema

    ws = Workspace(tmp_path / "ws")
    key = ws.add_dataset(SID, _dataset()).key
    ws.record_decisions(key, SID, [{"id": "0", "action": "drop"}], event="evt_drop_001")
    with sqlite3.connect(ws.db_path) as con:  # back to the schema before annotations
        con.execute("DROP TABLE annotations")
        con.execute("DROP TABLE annotation_events")
        con.execute("PRAGMA user_version = 4")
    assert len(schema._MIGRATIONS) == SCHEMA_VERSION == 5
    again = Workspace(tmp_path / "ws")
    with sqlite3.connect(again.db_path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 5
    assert again.decisions(key)["id"].tolist() == ["0"] and again.annotations(key).empty
    assert again.annotate(key, SID, "0", add=["dup"], event="evt_tag_0001")
    Workspace(tmp_path / "ws")  # opening again migrates nothing twice
    assert again.annotations(key)["tags"].tolist() == [("dup",)]


def test_bundle_exports_annotations_beside_the_decisions(tmp_path):
    from dataval_core.bundle import export_bundle

    ws = Workspace(tmp_path / "ws")
    ds = _dataset()
    key = ws.add_dataset(SID, ds).key
    ws.annotate(key, SID, "3", add=["b", "a"], note="two tags", event="evt_tag_0003")
    ws.annotate(key, SID, "0", note="only a note", event="evt_tag_0004")
    out = export_bundle(ds, {}, None, tmp_path / "b.zip", annotations=ws.annotations(key))
    with zipfile.ZipFile(out) as zf:
        table = pd.read_csv(io.BytesIO(zf.read("annotations.csv")), dtype=str, keep_default_na=False)
        assert "decisions.csv" in zf.namelist()
    assert table.to_dict("records") == [{"id": "0", "tags": "", "note": "only a note", "time": table["time"][0]},
                                        {"id": "3", "tags": "a; b", "note": "two tags", "time": table["time"][1]}]
    assert list(annotations_table(None).columns) == ["id", "tags", "note", "time"]


def test_tags_filter_the_review(tmp_path):
    from dataval_core.filtering import filter_mask, filter_source

    ws = Workspace(tmp_path / "ws")
    key = ws.add_dataset(SID, _dataset()).key
    ws.annotate(key, SID, "4", add=["blurry"], event="evt_tag_0005")
    review = pd.DataFrame({"id": [str(i) for i in range(6)], "label": ["a", "b"] * 3})
    source = filter_source(review, tags=ws.annotations(key))
    assert source[filter_mask(source, "tag == blurry")]["id"].tolist() == ["4"]
