"""The app shows why consensus ranked as it did: members' probe scores on Valuate and Compare & check."""
from __future__ import annotations

import pytest

from dataval_core.io import load_dataset
from dataval_core.targets import split_target

from test_app import errors, image_zip, new_app, session_with_run


@pytest.fixture
def consensus_session(tmp_path, monkeypatch):
    """A session with a tiny image dataset and one finished consensus run."""

    ws_dir = tmp_path / "ws"
    monkeypatch.setenv("DATAVAL_WORKSPACE", str(ws_dir))
    zpath = tmp_path / "tiny.zip"
    zpath.write_bytes(image_zip(per_class=12))
    ds = split_target(load_dataset(zpath, workdir=tmp_path / "tiny"), 0.25)
    return session_with_run(ws_dir, ds, "consensus", timeout=120)[0]


@pytest.mark.parametrize("page", ["app_pages/2_valuate.py", "app_pages/5_compare.py"])
def test_probe_scores_shown_beside_consensus(consensus_session, page):
    at = new_app(consensus_session)
    at.switch_page(page).run()
    assert not errors(at)
    explained = [e for e in at.expander if e.label.startswith("Why consensus ranked this way")]
    assert explained, "no explanation of the consensus run"
    text = " ".join(c.value for c in explained[0].caption)
    assert "planted extra label errors" in text and "Probe score" in text
    frame = explained[0].dataframe[0].value
    assert list(frame.columns) == ["member", "checks", "probe score", "share of consensus", "seconds"]
    assert (frame["seconds"] > 0).all()  # each member's run on the data plus its run on the probe
    assert abs(frame["share of consensus"].sum() - 1) < 1e-6


def test_valuate_preselects_consensus(consensus_session):
    at = new_app(consensus_session)
    at.switch_page("app_pages/2_valuate.py").run()
    assert at.multiselect(key="val_methods").value == ["consensus"]
