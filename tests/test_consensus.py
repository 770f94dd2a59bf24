"""consensus: the self-probe, its weights, the extras, determinism and cancel."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import make_blobs_problem
from sklearn.metrics import roc_auc_score

from dataval_core import Cancelled, get_valuator
from dataval_core.methods import consensus as C
from dataval_core.methods.knn_shapley import KNNShapleyValuator

FAST = {"members": "knn_shapley@raw,data_oob@raw,sava@learned"}


@pytest.fixture(scope="module")
def problem_and_result():
    problem, noisy = make_blobs_problem(n_valued=150, n_target=60, seed=4)
    return problem, noisy, get_valuator("consensus", FAST, seed=1).fit(problem)


def test_probe_finds_injected_flips(problem_and_result):
    _, _, res = problem_and_result
    assert res.extras["probe_auroc:knn_shapley@raw"][0] > 0.9
    # the injection itself: flips land in any row (suspected ones too), half to the confusable class,
    # never to the given label or the members' vote; suspected rows that were not flipped are not scored
    problem, _ = make_blobs_problem(n_valued=150, n_target=60, seed=4)
    given = np.asarray(problem.y)
    suspect = np.zeros(problem.n, dtype=bool)
    suspect[:30] = True
    vote = given.copy()
    vote[:20] = (given[:20] + 1) % 3  # members suggest another class for 20 suspected rows
    pair_to = np.array([1, 2, 0])
    idx, y, injected, scored = C._probe_copy(problem, pair_to, suspect, vote, C.ConsensusParams(probe_rate=0.2),
                                             np.random.default_rng(0))
    assert injected.sum() == 30 and scored[injected].all()
    assert np.array_equal(scored, ~suspect[idx] | injected)
    assert np.all(y[injected] != given[idx][injected]) and np.all(y[injected] != vote[idx][injected])
    assert np.sum(y[injected] == pair_to[given[idx][injected]]) >= 10
    # where the confusable class is the vote, the flip goes elsewhere: a probe must not restore the truth
    idx, y, injected, _ = C._probe_copy(problem, pair_to, suspect, pair_to[given], C.ConsensusParams(probe_rate=0.5),
                                        np.random.default_rng(1))
    assert np.all(y[injected] != pair_to[given[idx][injected]]) and np.all(y[injected] != given[idx][injected])


def test_two_class_probe_leaves_rows_the_vote_disputes():
    """With two classes the only other label is the vote's: flipping such a row would restore the truth."""
    problem, _ = make_blobs_problem(n_valued=150, n_target=60, seed=4, n_classes=2)
    given = np.asarray(problem.y)
    vote = given.copy()
    vote[:40] = 1 - given[:40]
    idx, y, injected, _ = C._probe_copy(problem, np.array([1, 0]), np.zeros(problem.n, dtype=bool), vote,
                                        C.ConsensusParams(probe_rate=0.3), np.random.default_rng(0))
    assert injected.sum() == 45 and not injected[idx < 40].any()
    assert np.all(y[injected] == 1 - given[idx][injected])


def test_weights_favour_the_member_the_probe_scores_best():
    rng = np.random.default_rng(0)
    injected = np.zeros(200, dtype=bool)
    injected[:20] = True
    good = np.where(injected, rng.uniform(0, 0.2, 200), rng.uniform(0.1, 1, 200))
    noise = rng.uniform(0, 1, 200)
    ranks = np.vstack([C.rank_normalise(noise), C.rank_normalise(good)])
    aurocs = np.array([roc_auc_score(injected, -r) for r in ranks])
    w = C.choose_combination(ranks, injected, aurocs)
    assert w[1] > 0.99 and w.sum() == pytest.approx(1.0)
    # two members that each see half of the flips: the mixture beats either alone and is chosen
    a = np.where(np.arange(200) < 10, 0.0, rng.uniform(0.05, 1, 200))
    b = np.where((np.arange(200) >= 10) & injected, 0.0, rng.uniform(0.05, 1, 200))
    ranks = np.vstack([C.rank_normalise(a), C.rank_normalise(b)])
    aurocs = np.array([roc_auc_score(injected, -r) for r in ranks])
    w = C.choose_combination(ranks, injected, aurocs)
    assert 0.2 < w[0] < 0.8


def test_result_weights_follow_probe_scores(problem_and_result):
    _, _, res = problem_and_result
    members = [k[len("value:"):] for k in res.extras if k.startswith("value:")]
    probe = np.array([res.extras[f"probe_auroc:{m}"][0] for m in members])
    weight = np.array([res.extras[f"weight:{m}"][0] for m in members])
    assert weight.sum() == pytest.approx(1.0)
    assert weight[np.argmax(probe)] == weight.max()


def test_extras_align_with_ids(problem_and_result):
    problem, noisy, res = problem_and_result
    assert list(res.ids) == list(problem.ids)
    for name, arr in res.extras.items():
        assert len(arr) == problem.n, name
    # a member's values are that method's own values on the same rows (knn_shapley has no randomness)
    np.testing.assert_allclose(res.extras["value:knn_shapley@raw"], KNNShapleyValuator().fit(problem).values)
    assert roc_auc_score(noisy, -res.values) > 0.9
    conf = res.extras["suggestion_confidence"]
    assert np.all((conf >= 0) & (conf <= 1))
    truth = np.asarray(problem.classes, dtype=object)[make_blobs_problem(150, 60, seed=4)[0].y]
    assert np.mean(res.suggested_labels[~noisy] == truth[~noisy]) > 0.9


def test_same_seed_same_values(problem_and_result):
    problem, _, res = problem_and_result
    again = get_valuator("consensus", FAST, seed=1).fit(problem)
    np.testing.assert_array_equal(res.values, again.values)
    for name in res.extras:
        np.testing.assert_array_equal(res.extras[name], again.extras[name])


def test_cancel_during_a_member_stops_within_two_seconds(problem_and_result):
    problem = make_blobs_problem(n_valued=400, n_target=100, seed=2)[0]
    flag = threading.Event()
    stamp = {}

    def progress(p):
        if "probe" in p.stage and not flag.is_set():
            flag.set()
            stamp["t"] = time.perf_counter()

    with pytest.raises(Cancelled):
        get_valuator("consensus", FAST, seed=0).fit(problem, progress=progress, cancel=flag)
    assert time.perf_counter() - stamp["t"] < 2.0


def test_bad_members_rejected_readably():
    with pytest.raises(ValueError, match="consensus member 'magic@raw'"):
        C.parse_members("magic@raw", False)
    with pytest.raises(ValueError, match="space raw or learned"):
        C.parse_members("knn_shapley@pixels", False)
    assert C.parse_members("auto", True) == tuple(tuple(m.split("@")) for m in C.DEFAULT_MEMBERS["image"])


def test_runs_on_a_tiny_image_set():
    """The app's default method must cope with the smallest uploads (24 images, 5 of them target)."""
    from dataval_core import Problem

    rng = np.random.default_rng(0)
    y = np.arange(24) % 3
    x = np.clip(rng.normal(40 + 80 * y[:, None], 20, (24, 64)), 0, 255).astype(np.float32) / 255
    problem = Problem.from_arrays(x[5:], y[5:], x[:5], y[:5], image_shape=(1, 8, 8))
    res = get_valuator("consensus", seed=0).fit(problem)
    assert res.values.shape == (19,) and np.all(np.isfinite(res.values))


def test_regression_uses_the_members_that_support_it():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0])
    bad = np.zeros(120, dtype=bool)
    bad[:24] = True
    y_obs = y[:120].copy()
    y_obs[bad] += rng.choice([-6.0, 6.0], 24)
    from dataval_core import Problem

    problem = Problem.from_arrays(x[:120], y_obs, x[120:], y[120:], task="regression")
    res = get_valuator("consensus", seed=0).fit(problem)
    assert res.suggested_labels is None
    assert {k for k in res.extras if k.startswith("value:")} == {f"value:{m}" for m in C.DEFAULT_MEMBERS["regression"]}
    assert roc_auc_score(bad, -res.values) > 0.8


def test_cli_value_defaults_to_consensus(tmp_path, monkeypatch):
    from pathlib import Path

    import pandas as pd

    from dataval_core import runner
    from dataval_core.cli import main

    methods = []
    real_run = runner.run_valuation

    def recording_run(ds, method, **kwargs):
        methods.append(method)
        return real_run(ds, method, **kwargs)

    monkeypatch.setattr(runner, "run_valuation", recording_run)  # the real run, with the method it got noted
    data = Path(__file__).resolve().parent.parent / "sample_data" / "breast_cancer.csv"
    out = tmp_path / "v.csv"
    assert main(["value", str(data), "--label", "diagnosis", "--inject-noise", "0.2", "--out", str(out)]) == 0
    assert methods == ["consensus"]
    frame = pd.read_csv(out)
    valued = frame[frame.role == "valued"]
    assert roc_auc_score(valued["injected_noise"].astype(bool), -valued["value"]) > 0.95


def test_members_status_and_seconds_roll_up_into_the_result(monkeypatch):
    """A sava member that stops before optimality (one network-simplex iteration) makes the consensus
    ``not_converged``; each member's seconds on the data and on the probe are in the timings."""
    from dataval_core.methods import _ot

    problem = make_blobs_problem(n_valued=150, n_target=60, seed=4)[0]
    members = {"members": "knn_shapley@raw,sava@raw"}
    ok = get_valuator("consensus", members, seed=1).fit(problem)
    assert ok.status == "ok"
    learned = get_valuator("consensus", FAST, seed=1).fit(problem)
    assert learned.timings["learned_space"] > 0  # the target-trained net that the learned members share
    monkeypatch.setattr(_ot, "EMD_MAX_ITER", 1)
    with pytest.warns(UserWarning):  # POT's own warning from the OT solves
        stopped = get_valuator("consensus", members, seed=1).fit(problem)
        assert get_valuator("sava", seed=0).fit(problem).status == "not_converged"  # the member's own status
    assert stopped.status == "not_converged"
    fits = [f"{part}:{m}" for part in ("member", "probe") for m in ("knn_shapley@raw", "sava@raw")]
    for res in (ok, stopped):
        assert set(res.timings) == {*fits, "total"}
        assert all(res.timings[k] > 0 for k in fits)
        assert sum(res.timings[k] for k in fits) <= res.timings["total"]


def test_rolled_up_status_and_seconds_are_stored_and_shown(tmp_path, monkeypatch):
    """Saved in the workspace, a not-converged consensus reads 'done · not converged' in the runs table and
    its members' seconds come back for the 'Why consensus ranked this way' table."""
    import pandas as pd

    from dataval_core.io import load_frame
    from dataval_core.methods import _ot
    from dataval_core.runner import run_valuation
    from dataval_core.targets import split_target
    from dataval_core.workspace import Workspace
    from ui.consensus_view import probe_frame

    problem = make_blobs_problem(n_valued=150, n_target=60, seed=4)[0]
    frame = pd.DataFrame(np.asarray(problem.x), columns=[f"f{i}" for i in range(problem.x.shape[1])])
    frame["label"] = [f"c{c}" for c in np.asarray(problem.y)]
    ds = split_target(load_frame(frame, "label"), 0.3, seed=0)
    monkeypatch.setattr(_ot, "EMD_MAX_ITER", 1)
    with pytest.warns(UserWarning):
        result = run_valuation(ds, "consensus", params={"members": "knn_shapley@raw,sava@raw"}, seed=1)
    ws = Workspace(tmp_path / "ws")
    rec = ws.add_dataset("s", ds)
    run_id = ws.create_run(rec.key, "consensus", embedding=None, params=dict(result.params), seed=1)
    ws.save_result(run_id, result)
    again = Workspace(ws.root)
    assert again.run_record(run_id).status_text == "done · not converged"
    loaded = again.load_result(run_id)
    assert loaded.status == "not_converged" and dict(loaded.timings) == pytest.approx(dict(result.timings))
    seconds = probe_frame(loaded).set_index("member")["seconds"]
    assert seconds.to_dict() == pytest.approx({
        f"{m} (on the features as given)": result.timings[f"member:{m}@raw"] + result.timings[f"probe:{m}@raw"]
        for m in ("knn_shapley", "sava")})


def test_auto_portfolio_leaves_out_the_costly_members_on_large_data():
    small = C.parse_members("auto", False, n_valued=C.LARGE_ROWS - 1)
    large = C.parse_members("auto", False, n_valued=C.LARGE_ROWS)
    assert ("sava", "learned") in small and all(m not in C.COSTLY_AT_SCALE for m, _ in large)
    assert set(large) == set(small) - {("sava", "learned")}
    assert ("sava", "learned") in C.parse_members("knn_shapley@raw,sava@learned", False, n_valued=10**6)
