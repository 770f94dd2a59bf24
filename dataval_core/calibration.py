"""How sure a suggested label is: the members' vote share mapped to the measured chance it is right.

A consensus run's ``suggestion_confidence`` extra is the winning label's share of the members'
weighted vote. That is agreement, not a probability: on injected flips almost every suggestion
wins a unanimous vote, right or wrong, so "100 % sure" was shown everywhere. Here the vote
share and the row's percentile (a low value makes a flip likelier) are turned into one score
(:func:`score`) and mapped through an isotonic fit of P(suggestion right | score), measured on
20 % injected flips (uniform and confusable-pair) in digits, breast cancer and the gapminder
table, with no reference (every row valued by cross-fitting). A suggestion is *right* when the
row was flipped and the suggestion is its original label. The knots below, the fit and the
held-out check (among suggestions shown as at least 90 % sure, the share right) are in
``benchmarks/results/suggestion_calibration.md``, written by ``benchmarks/suggestion_calibration.py``.

Only suggestions that differ from the row's label get a number; other methods (no vote share,
nothing measured) get none: the app then shows no percentage rather than an uncalibrated one.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .result import ValuationResult

__all__ = ["CALIBRATED_METHODS", "CONFIDENT_SURE", "calibrated_confidence", "confidence_from", "score"]

#: methods whose suggestions have a calibrated confidence (the vote share is consensus's)
CALIBRATED_METHODS = ("consensus",)
#: a suggestion shown at least this sure is "confident" (bulk accept of confident suggestions)
CONFIDENT_SURE = 0.9
#: the percentile's weight in :func:`score` (a logistic fit of "right" on vote share and percentile)
PERCENTILE_WEIGHT = 0.62
#: isotonic fit of P(right | score): knots (score, P) joined linearly, flat beyond the ends
#: (benchmarks/results/suggestion_calibration.md, fitted on seed 0, checked on seed 1)
SCORE_KNOTS = (0.3148, 0.3951, 0.4479, 0.4966, 0.5735, 0.6115, 0.6547, 0.6999, 0.7472, 0.7933, 0.841, 0.8815,
               0.9078, 0.9577, 0.9714, 0.9837, 0.9949)
SURE_KNOTS = (0.045, 0.091, 0.091, 0.197, 0.197, 0.267, 0.311, 0.409, 0.538, 0.538, 0.568, 0.773, 0.85, 0.85,
              0.871, 0.924, 0.97)


def score(share: NDArray[np.float64] | Sequence[float], percentile: NDArray[np.float64] | Sequence[float],
          weight: float | None = None) -> NDArray[np.float64]:
    """The one number calibrated: the vote share, less ``weight`` × percentile / 100 (a higher value makes a
    flip, and so a right suggestion, less likely).

    Args:
        share: the winning label's share of the vote, in [0, 1], shape (n,).
        percentile: the row's percentile in the run (0 = lowest value), shape (n,).
        weight: the percentile's weight; :data:`PERCENTILE_WEIGHT` when None.

    Returns:
        Scores, shape (n,).
    """
    share = np.clip(np.asarray(share, dtype=float), 0.0, 1.0)
    pct = np.clip(np.asarray(percentile, dtype=float), 0.0, 100.0)
    return share - (PERCENTILE_WEIGHT if weight is None else weight) * pct / 100.0


def confidence_from(share: NDArray[np.float64] | Sequence[float], percentile: NDArray[np.float64] | Sequence[float]
                    ) -> NDArray[np.float64]:
    """P(suggestion right) for suggestions that differ from the label, from vote share and percentile."""
    return np.interp(score(share, percentile), SCORE_KNOTS, SURE_KNOTS)


def calibrated_confidence(result: ValuationResult, labels: NDArray[np.object_] | Sequence[object]
                          ) -> NDArray[np.float64]:
    """The chance each suggestion of ``result`` is right, per sample (NaN where none can be given).

    Args:
        result: a finished run.
        labels: each sample's current label as shown (class names as str), aligned with ``result.ids``.

    Returns:
        Shape (n,): the calibrated confidence where ``result`` is a method in :data:`CALIBRATED_METHODS`
        with a vote share and the suggestion differs from the label; NaN elsewhere (no suggestion, a
        suggestion that agrees with the label, or a method without a calibration).
    """
    n = len(result.ids)
    share = result.extras.get("suggestion_confidence")
    if result.method not in CALIBRATED_METHODS or result.suggested_labels is None or share is None:
        return np.full(n, np.nan)
    sug = np.asarray(result.suggested_labels, dtype=object)
    differs = np.array([s is not None and not (isinstance(s, float) and np.isnan(s)) and str(s) != str(lab)
                        for s, lab in zip(sug, labels)], dtype=bool)
    conf = confidence_from(np.asarray(share, dtype=float), result.percentiles)
    return np.where(differs, conf, np.nan)
