"""KNN-Shapley against brute-force Shapley values; Data-OOB and random behaviour."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dataval_core import Problem, get_valuator
from dataval_core.methods import knn_shapley


def knn_utility(subset, x, y, xt, yt, k):
    """Mean over target points of the fraction of the K nearest (within subset) that share its label."""
    if not subset:
        return 0.0
    idx = np.array(subset)
    total = 0.0
    for j in range(len(xt)):
        d = np.linalg.norm(x[idx] - xt[j], axis=1)
        nearest = idx[np.argsort(d, kind="stable")[:k]]
        total += np.sum(y[nearest] == yt[j]) / k
    return total / len(xt)


def brute_force_shapley(x, y, xt, yt, k):
    n = len(x)
    values = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in itertools.combinations(others, size):
                values[i] += w * (knn_utility(list(s) + [i], x, y, xt, yt, k) - knn_utility(list(s), x, y, xt, yt, k))
    return values


@pytest.mark.parametrize("k", [1, 2, 3])
def test_knn_shapley_is_exact(k):
    rng = np.random.default_rng(k)
    x, xt = rng.normal(size=(7, 2)), rng.normal(size=(3, 2))
    y, yt = rng.integers(0, 2, 7), rng.integers(0, 2, 3)
    problem = Problem.from_arrays(x, y, xt, yt)
    got = get_valuator("knn_shapley", {"k": k}).fit(problem).values
    np.testing.assert_allclose(got, brute_force_shapley(x, y, xt, yt, k), atol=1e-9)


def test_knn_shapley_chunking_does_not_change_values(monkeypatch, blobs):
    problem, _ = blobs
    whole = get_valuator("knn_shapley").fit(problem).values
    monkeypatch.setattr(knn_shapley, "CHUNK_CELLS", problem.n * 2)  # two target points per chunk
    np.testing.assert_allclose(get_valuator("knn_shapley").fit(problem).values, whole, atol=1e-12)


def test_knn_shapley_suggests_the_true_class_for_flips(blobs):
    problem, noisy = blobs
    result = get_valuator("knn_shapley").fit(problem)
    # blobs are well separated, so the target-neighbour vote rarely repeats the flipped (wrong) label
    repeats_wrong_label = np.mean(result.suggested_labels[noisy] == np.asarray(problem.classes)[problem.y[noisy]])
    assert repeats_wrong_label < 0.2


def test_data_oob_regression_scores_outliers_low():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    bad = np.arange(10)
    y[bad] += 8.0
    problem = Problem.from_arrays(x, y, x[:5], y[:5], task="regression")
    values = get_valuator("data_oob", {"n_estimators": 60}).fit(problem).values
    assert np.mean(values[bad]) < np.mean(np.delete(values, bad))


def test_methods_without_regression_support_say_so():
    problem = Problem.from_arrays(np.zeros((4, 2)), np.arange(4.0), np.zeros((2, 2)), np.arange(2.0),
                                  task="regression")
    with pytest.raises(ValueError, match="supports classification only"):
        get_valuator("knn_shapley").fit(problem)


def _stable_sort_recursion(x, y, xt, yt, k):
    """The KNN-Shapley recursion target by target, ranks from a stable argsort of the distances."""
    n = len(x)
    values = np.zeros(n)
    for xj, yj in zip(xt, yt):
        order = np.argsort(((x - xj) ** 2).sum(1), kind="stable")
        match = (y[order] == yj).astype(float)
        s = np.zeros(n)
        s[-1] = match[-1] / n
        for i in range(n - 2, -1, -1):
            s[i] = s[i + 1] + (match[i] - match[i + 1]) * min(k, i + 1) / (k * (i + 1))
        values[order] += s
    return values / len(xt)


def test_knn_shapley_breaks_distance_ties_by_row_order():
    """Integer features tie often; the sort-key ranking must match a stable argsort exactly."""
    rng = np.random.default_rng(4)
    x, xt = rng.integers(0, 3, (60, 2)).astype(float), rng.integers(0, 3, (15, 2)).astype(float)
    y, yt = rng.integers(0, 3, 60), rng.integers(0, 3, 15)
    got = get_valuator("knn_shapley", {"k": 3}).fit(Problem.from_arrays(x, y, xt, yt)).values
    np.testing.assert_allclose(got, _stable_sort_recursion(x, y, xt, yt, 3), rtol=0, atol=1e-12)


def test_data_oob_values_do_not_depend_on_the_worker_count(blobs):
    problem, _ = blobs
    one = get_valuator("data_oob", {"n_estimators": 30, "n_jobs": 1}, seed=2).fit(problem)
    two = get_valuator("data_oob", {"n_estimators": 30, "n_jobs": 2}, seed=2).fit(problem)
    np.testing.assert_array_equal(one.values, two.values)
    assert list(one.suggested_labels) == list(two.suggested_labels)


def test_self_confidence_finds_flips_without_a_reference_and_suggests_the_truth(blobs):
    problem, noisy = blobs
    alone = Problem.from_arrays(problem.x, problem.y, problem.x[:0], problem.y[:0], ids=problem.ids)
    result = get_valuator("self_confidence", seed=0).fit(alone)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(noisy, -result.values) > 0.95 and np.all((result.values >= 0) & (result.values <= 1))
    flipped = np.flatnonzero(noisy)
    truth = np.asarray(problem.classes)[(np.asarray(problem.y)[flipped])]
    assert np.mean(result.suggested_labels[flipped] != truth) > 0.8  # suggests another class than the given one
    with_ref = get_valuator("self_confidence", {"model": "boosting"}, seed=0).fit(problem)
    assert roc_auc_score(noisy, -with_ref.values) > 0.9


def test_self_confidence_regression_scores_corrupted_targets_low():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(0, 0.1, 200)
    bad = np.arange(200) % 10 == 0
    y[bad] += 5
    problem = Problem.from_arrays(x, y, x[:0], y[:0], task="regression")
    values = get_valuator("self_confidence", seed=0).fit(problem).values
    assert values[bad].max() < np.median(values[~bad])


def test_data_oob_subbags_above_max_bag_rows_and_still_finds_flips(blobs, monkeypatch):
    """Above ``max_bag_rows`` each model is fitted on at most that many distinct rows, not on the whole set."""
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    problem, noisy = blobs
    fitted_rows = []
    fit = DecisionTreeClassifier.fit
    monkeypatch.setattr(DecisionTreeClassifier, "fit",
                        lambda self, x, y, **kw: fitted_rows.append(len(x)) or fit(self, x, y, **kw))
    cap = problem.n // 4
    params = {"n_estimators": 40, "max_bag_rows": cap, "n_jobs": 1}
    sub = get_valuator("data_oob", params, seed=3).fit(problem)
    assert len(fitted_rows) == 40 and max(fitted_rows) <= cap
    assert roc_auc_score(noisy, -sub.values) > 0.9
    np.testing.assert_array_equal(get_valuator("data_oob", params, seed=3).fit(problem).values, sub.values)
    fitted_rows.clear()
    get_valuator("data_oob", {"n_estimators": 10, "n_jobs": 1}, seed=3).fit(problem)
    assert set(fitted_rows) == {problem.n}  # below the cap: the whole array, drawn rows as weights
