"""Find-similar: nearest valued samples of one sample in the run's embedding, and Review's strip of them."""
from __future__ import annotations

import numpy as np
import pytest

from dataval_core.dataset import DataError
from dataval_core.similar import nearest_to, similar_samples
from tests.test_app import errors, new_app, seeded_session, workspace_dir  # noqa: F401  (fixture)
from tests.test_jobs import _blobs_dataset


def test_nearest_to_matches_brute_force_with_copies_and_ties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    x[3] = 0.5  # exactly representable, so the two rows below tie exactly
    x[7] = x[3]  # an exact copy of the query: distance 0
    x[11] = x[3] + 0.125
    x[12] = x[3] - 0.125  # two rows tied at the same distance: the lower index first
    idx, dist = nearest_to(x, 3, 6)
    brute = np.sqrt(((x.astype(np.float64) - x[3].astype(np.float64)) ** 2).sum(axis=1))
    brute[3] = np.inf
    expected = np.lexsort((np.arange(len(x)), brute))[:6]
    assert idx.tolist() == expected.tolist() and idx[0] == 7 and dist[0] == 0.0
    assert idx.tolist().index(11) < idx.tolist().index(12)
    np.testing.assert_allclose(dist, brute[expected])
    among = np.zeros(len(x), dtype=bool)
    among[[7, 100, 200]] = True
    assert sorted(nearest_to(x, 3, 10, among=among)[0].tolist()) == [7, 100, 200]
    assert len(nearest_to(x, 3, 0)[0]) == 0


def test_similar_samples_leaves_reference_rows_out(tmp_path):
    ds = _blobs_dataset()
    found = similar_samples(ds, ds.ids[0], "raw", k=10, cache_dir=tmp_path)
    assert len(found) == 10 and ds.ids[0] not in set(found["id"])
    reference = set(ds.ids[ds.is_target])
    assert not (set(found["id"]) & reference) and (found["distance"].diff().dropna() >= 0).all()
    assert set(found["space"]) == {"raw"}
    # a learned embedding pulls each class together: neighbours are measured in raw features instead
    assert set(similar_samples(ds, ds.ids[0], "target_trained", k=3, cache_dir=tmp_path)["space"]) == {"raw"}
    with pytest.raises(DataError, match="No sample has the id 'nope'"):
        similar_samples(ds, "nope")


def test_review_find_similar_strip_decides_through_its_own_cards(workspace_dir, tmp_path):
    sid, key, run_id = seeded_session(workspace_dir, tmp_path)
    at = new_app(sid)
    at.switch_page("app_pages/3_review.py").run()
    first = next(b.key.removeprefix("rv_similar_") for b in at.button if b.key.startswith("rv_similar_"))
    at.button(key=f"rv_similar_{first}").click().run()
    assert not errors(at)
    from ui import similar, state

    jobs = state._jobs(str(workspace_dir.resolve()))
    run = state._workspace(str(workspace_dir.resolve())).run_record(run_id)
    record = state._workspace(str(workspace_dir.resolve())).dataset_record(key)
    assert jobs.wait(similar.job_id(record, run, first), timeout=60).status == "done"
    at.run()
    assert not errors(at)
    strip = [b.key.removeprefix("sim_rv_drop_") for b in at.button if b.key.startswith("sim_rv_drop_")]
    found = jobs.result(similar.job_id(record, run, first))
    assert strip == found["id"].tolist() and first not in strip and len(strip) >= 1
    assert any(f"Similar to `{first}`" in m.value for m in at.markdown)
    at.button(key=f"sim_rv_drop_{strip[0]}").click().run()
    assert not errors(at)
    decisions = state._workspace(str(workspace_dir.resolve())).decisions(key)
    assert decisions["id"].tolist() == [strip[0]] and decisions["action"].tolist() == ["drop"]
    at.button(key="rv_similar_close").click().run()
    assert not any(b.key.startswith("sim_") for b in at.button)
