from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataval_core import get_valuator
from dataval_core.evaluation import (
    detection_curve,
    detection_metrics,
    flagged_by_several,
    kmeans_f1,
    point_removal_curve,
    rank_agreement,
)


def test_perfect_values_detect_everything():
    noisy = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    values = np.array([-5.0, -4.0, 1.0, 1.1, 1.2, 0.9])
    m = detection_metrics(values, noisy)
    assert m["auroc"] == 1.0 and m["precision_at_k"] == 1.0 and m["recall_at_k"] == 1.0 and m["k"] == 2
    assert m["kmeans_f1"] == 1.0


def test_inverted_values_detect_nothing():
    noisy = np.array([1, 1, 0, 0], dtype=bool)
    m = detection_metrics(np.array([9.0, 8.0, 1.0, 2.0]), noisy)
    assert m["auroc"] == 0.0 and m["precision_at_k"] == 0.0


def test_detection_metrics_need_both_groups():
    with pytest.raises(ValueError, match="both noisy and clean"):
        detection_metrics(np.arange(3.0), np.zeros(3, dtype=bool))


@given(st.lists(st.floats(-1e3, 1e3), min_size=4, max_size=60), st.integers(0, 2**31 - 1))
def test_detection_curve_is_monotone_from_0_to_1(values, seed):
    values = np.asarray(values)
    noisy = np.random.default_rng(seed).random(len(values)) < 0.3
    noisy[0] = True
    curve = detection_curve(values, noisy)
    assert curve["fraction_found"].iloc[0] == 0 and curve["fraction_found"].iloc[-1] == pytest.approx(1.0)
    assert np.all(np.diff(curve["fraction_found"]) >= 0)
    assert 0.0 <= kmeans_f1(values, noisy) <= 1.0


def test_kmeans_f1_matches_brute_force_split():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(-3, 0.5, 10), rng.normal(2, 0.5, 30)])
    noisy = np.arange(40) < 12
    order = np.sort(values)
    costs = [np.var(order[:c]) * c + np.var(order[c:]) * (40 - c) for c in range(1, 40)]
    cut = 1 + int(np.argmin(costs))
    pred = values <= order[cut - 1]
    tp = (pred & noisy).sum()
    expected = 2 * tp / (pred.sum() + noisy.sum())
    assert kmeans_f1(values, noisy) == pytest.approx(expected)


def test_point_removal_prefers_removing_low_values(blobs):
    problem, noisy = blobs
    values = np.where(noisy, 0.0, 1.0)
    curve = point_removal_curve(problem, values, fractions=(0.0, 0.2), seed=0)
    assert set(curve["strategy"]) == {"lowest", "random"}
    at = curve.set_index(["fraction", "strategy"])["score"]
    assert at[(0.2, "lowest")] >= at[(0.2, "random")]


def test_rank_agreement_and_flags(blobs):
    problem, _ = blobs
    a = get_valuator("knn_shapley").fit(problem)
    b = get_valuator("data_oob", {"n_estimators": 30}).fit(problem)
    table = rank_agreement([a, b], k=10)
    assert table.loc[0, "spearman"] > 0.2 and 0 <= table.loc[0, "bottom_k_overlap"] <= 1
    self_agree = rank_agreement([a, a], k=10)
    assert self_agree.loc[0, "spearman"] == pytest.approx(1.0) and self_agree.loc[0, "bottom_k_overlap"] == 1.0
    flags = flagged_by_several([a, b], k=10)
    assert flags["n_runs"].max() <= 2 and flags["n_runs"].is_monotonic_decreasing
