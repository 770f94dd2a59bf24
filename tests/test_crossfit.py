"""Every row valued without a reference (cross-fitting), and a reference marked noisy cleaned first."""
from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dataval_core import crossfit
from dataval_core.cli import main
from dataval_core.dataset import DataError
from dataval_core.evaluation import point_removal_curve
from dataval_core.io import load_frame
from dataval_core.noise import inject_label_noise
from dataval_core.progress import Cancelled
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample
from dataval_core.targets import describe_mode, mark_reference, no_reference, split_target


@pytest.fixture(scope="module")
def digits():
    return load_sample("digits")


@pytest.fixture(scope="module")
def noisy_digits(digits):
    return inject_label_noise(no_reference(digits), 0.2, seed=3)


def test_every_row_is_valued_and_the_flips_are_found(noisy_digits):
    events = []
    result = run_valuation(noisy_digits, "knn_shapley", seed=1, progress=events.append)
    assert list(result.ids) == list(noisy_digits.ids)  # all 1,797 rows, none carved out
    assert roc_auc_score(noisy_digits.noisy, -result.values) > 0.97
    fold = result.extras["fold"]
    assert sorted(np.unique(fold)) == [0, 1, 2, 3, 4]
    assert np.all(np.abs(np.bincount(fold) - len(fold) / 5) <= 10)  # stratified folds of even size
    assert 0 <= result.values.min() and result.values.max() <= 1  # mean of within-run percentiles
    folds = [(e.done, e.total) for e in events if e.stage == "cross-fitting"]
    assert folds == [(i, 10) for i in range(1, 11)]  # progress counts the folds of both passes
    assert set(result.timings) >= {"embedding", "first_pass", "second_pass", "total"}
    assert result.suggested_labels is not None and (result.suggested_labels != None).all()  # noqa: E711


def test_same_seed_same_values_other_seed_other_folds(noisy_digits):
    a = run_valuation(noisy_digits, "knn_shapley", seed=5)
    b = run_valuation(noisy_digits, "knn_shapley", seed=5)
    c = run_valuation(noisy_digits, "knn_shapley", seed=6)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.extras["fold"], c.extras["fold"])


def test_runs_on_different_scales_merge_by_mean_percentile():
    from dataval_core.problem import Problem
    from dataval_core.result import ValuationResult

    problem = Problem.from_arrays(np.zeros((4, 1)), [0, 1, 0, 1], np.zeros((1, 1)), [0])
    ids = problem.ids
    a = ValuationResult(ids[[0, 1, 2]], [1.0, 2.0, 3.0], "m", suggested_labels=["1", "1", "0"])
    b = ValuationResult(ids[[1, 2, 3]], [-500.0, 900.0, 0.0], "m", suggested_labels=["0", "0", "1"])
    merged = crossfit.merge_runs(problem, np.arange(4), np.array([0, 1, 0, 1]),
                                 [(np.array([0, 1, 2]), a), (np.array([1, 2, 3]), b)])
    np.testing.assert_allclose(merged.values, [0.0, (0.5 + 0.0) / 2, (1.0 + 1.0) / 2, 0.5])  # scale-free
    assert merged.suggested.tolist() == [1, 0, 0, 1]  # ties go to the lower class code


def test_methods_without_a_reference_value_every_row_in_one_run(noisy_digits):
    result = run_valuation(noisy_digits, "data_oob", seed=0, params={"n_estimators": 30})
    assert len(result.values) == len(noisy_digits) and "fold" not in result.extras
    assert roc_auc_score(noisy_digits.noisy, -result.values) > 0.8


def test_a_learned_embedding_is_learned_per_reference():
    frame = load_sample("breast_cancer").table.iloc[:200]
    ds = inject_label_noise(no_reference(load_frame(frame, "diagnosis", name="bc")), 0.2, seed=0)
    result = run_valuation(ds, "knn_shapley", embedding="target_trained", seed=0)
    assert result.embedding == "target_trained" and len(result.values) == 200
    assert roc_auc_score(ds.noisy, -result.values) > 0.75


def test_regression_folds_by_quantile_and_values_every_row():
    ds = no_reference(load_sample("diabetes"))
    result = run_valuation(ds, "dvgs", seed=0, params={"epochs": 2})
    assert len(result.values) == len(ds) and np.all(np.isfinite(result.values))
    fold = crossfit.stratified_folds(ds.labels, ds.task, 5, 0)
    for q in np.array_split(np.argsort(ds.labels), 5):  # each fifth of the targets is spread over the folds
        assert len(np.unique(fold[q])) == 5


def test_cancel_inside_a_fold_stops_the_run(noisy_digits):
    flag = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.stage)
        if p.stage.startswith("first pass, fold 2/5"):
            flag.set()

    start = time.perf_counter()
    with pytest.raises(Cancelled):
        run_valuation(noisy_digits, "knn_shapley", seed=0, progress=progress, cancel=flag)
    assert time.perf_counter() - start < 30
    assert not any(s.startswith("first pass, fold 3/5") for s in seen)  # stopped inside fold 2


def test_suspects_are_the_lowest_disagreeing_rows_and_spare_every_class():
    scores = np.arange(10.0)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    suggested = np.array([1, 0, 1, 1, 0, 0, 0, 1, 1, 1])  # rows 0, 2, 3 of class 0 disagree; row 1 agrees
    out = crossfit.suspects(scores, y, "classification", 0.4, suggested)
    assert out.tolist() == [True, False, True, False, False, False, False, False, False, False]  # cap: half of 5
    assert crossfit.suspects(scores, y.astype(float), "regression", 0.3).sum() == 3


def test_a_noisy_reference_is_cleaned_of_its_flips(digits):
    ds = split_target(digits, 0.3, seed=0)
    truth = ds.labels.copy()
    rng = np.random.default_rng(0)
    ref = ds.target_index
    flipped = rng.choice(ref, size=len(ref) // 10, replace=False)  # 10 % flips inside the reference
    labels = ds.labels.copy()
    labels[flipped] = (labels[flipped] + 1 + rng.integers(0, 9, len(flipped))) % 10
    ds = inject_label_noise(ds.replace(labels=labels), 0.2, seed=0)
    noisy = ds.replace(meta={**ds.meta})
    trusted = run_valuation(noisy, "knn_shapley", seed=0)
    cleaned = run_valuation(mark_reference(noisy, "noisy"), "knn_shapley", seed=0)
    assert list(cleaned.ids) == list(ds.ids[ds.valued_index])  # the reference is still not valued
    assert 0 < cleaned.extras["reference_rows_dropped"][0] <= 0.2 * len(ref) + 1
    flips = (ds.labels != truth)[ds.valued_index]
    assert roc_auc_score(flips, -cleaned.values) > roc_auc_score(flips, -trusted.values) - 0.01


def test_modes_are_described_and_validated(digits):
    assert describe_mode(no_reference(digits)) == \
        "No trusted reference: all 1,797 rows are valued in 5 rotating folds."
    held = describe_mode(split_target(digits, 0.2))
    assert "1,438 rows are valued; 359 rows are not valued because they are the reference" in held
    assert held.startswith("Trusted reference")
    assert describe_mode(mark_reference(split_target(digits, 0.2), "noisy")).startswith("Noisy reference")
    with pytest.raises(DataError, match="no reference to mark"):
        mark_reference(digits, "noisy")
    with pytest.raises(DataError, match="folds must be from 2 to 20"):
        no_reference(digits, 1)
    with pytest.raises(DataError, match="single row"):
        no_reference(load_frame(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}), "y"))


def test_point_removal_curve_without_a_reference_scores_out_of_fold(noisy_digits):
    from dataval_core.embeddings import build_problem

    problem = build_problem(noisy_digits, "raw")
    assert len(problem.x_target) == 0 and problem.n == len(noisy_digits)
    bc = inject_label_noise(no_reference(load_sample("breast_cancer")), 0.2, seed=0)
    curve = point_removal_curve(build_problem(bc, "raw"), -bc.noisy.astype(float), fractions=(0, 0.2), repeats=1)
    lowest = curve[curve["strategy"] == "lowest"].set_index("fraction")["score"]
    random = curve[curve["strategy"] == "random"].set_index("fraction")["score"]
    assert lowest[0.2] > random[0.2]  # dropping the flips helps more than dropping random rows


def value_digits(tmp_path, capsys, *options) -> tuple[pd.DataFrame, str]:
    out = tmp_path / "values.csv"
    code = main(["value", "sample:digits", "--method", "knn_shapley", *options, "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    return pd.read_csv(out), err


def test_cli_values_every_row_by_default_and_says_so(tmp_path, capsys):
    frame, err = value_digits(tmp_path, capsys, "--inject-noise", "0.2")
    assert len(frame) == 1797 and (frame["role"] == "valued").all() and frame["value"].notna().all()
    assert "No trusted reference: all 1,797 rows are valued in 5 rotating folds." in err
    assert "(1797 of 1797 rows valued, 359 with injected noise)" in err


def test_cli_fixed_hold_out_marks_rows_not_valued(tmp_path, capsys):
    frame, err = value_digits(tmp_path, capsys, "--target-frac", "0.2")
    assert (frame["role"] == "target").sum() == 359 and frame.loc[frame["role"] == "target", "value"].isna().all()
    assert "(1438 of 1797 rows valued; 359 rows not valued (the reference))" in err
    code = main(["value", "sample:digits", "--reference", "noisy", "--out", str(tmp_path / "v2.csv")])
    err = capsys.readouterr().err
    assert code != 0 and "--reference noisy needs a reference" in err
