"""Suggestion confidence shown to a curator: calibrated for consensus, absent (never made up) elsewhere."""
from __future__ import annotations

import numpy as np

from dataval_core import calibration
from dataval_core.result import ValuationResult


def _result(method: str, suggested, share=None, values=None) -> ValuationResult:
    n = len(suggested)
    extras = {} if share is None else {"suggestion_confidence": np.asarray(share, dtype=float)}
    return ValuationResult(ids=np.array([str(i) for i in range(n)]), method=method,
                           values=np.arange(n, dtype=float) if values is None else np.asarray(values, dtype=float),
                           suggested_labels=np.asarray(suggested, dtype=object), extras=extras)


def test_only_a_calibrated_method_gets_a_number_and_only_where_the_suggestion_differs():
    labels = np.array(["a", "a", "b", "b"], dtype=object)
    cons = calibration.calibrated_confidence(_result("consensus", ["b", "a", None, "a"], [1, 1, 1, 0.6]), labels)
    assert np.isnan(cons[1]) and np.isnan(cons[2])  # agrees with its label; no suggestion
    assert np.all((cons[[0, 3]] >= 0) & (cons[[0, 3]] <= 1))
    knn = calibration.calibrated_confidence(_result("knn_shapley", ["b", "a", "a", "a"]), labels)
    assert np.isnan(knn).all()  # no vote share, nothing measured: no percentage rather than a fake one
    old = calibration.calibrated_confidence(_result("consensus", ["b", "a", "a", "a"]), labels)
    assert np.isnan(old).all()  # a consensus run without the vote share extra


def test_the_map_is_monotone_and_a_unanimous_lowest_row_is_surer_than_a_split_vote_higher_up():
    share = np.linspace(0, 1, 21)
    for pct in (0.0, 15.0, 40.0):
        conf = calibration.confidence_from(share, np.full_like(share, pct))
        assert np.all(np.diff(conf) >= 0) and conf.min() >= 0 and conf.max() <= 1
    low_unanimous, high_split = calibration.confidence_from([1.0, 0.6], [1.0, 30.0])
    assert low_unanimous >= calibration.CONFIDENT_SURE > high_split
    assert list(calibration.SCORE_KNOTS) == sorted(calibration.SCORE_KNOTS)
    assert len(calibration.SCORE_KNOTS) == len(calibration.SURE_KNOTS)
