"""``self_confidence``: a cross-validated model's confidence in each row's own label (the cleanlab idea).

Northcutt et al. (JAIR 2021) rank label errors by the out-of-fold probability a model gives
the row's given label. A row whose label the model, trained without it, finds unlikely is
probably wrong. Here: ``folds`` stratified folds over the valued rows; each fold is predicted by
a model fitted on the other folds plus the reference rows (when there are any); the value is
the out-of-fold probability of the given label (regression: minus the absolute out-of-fold
residual). Suggested label: the most probable class. It needs no reference, and it brings the
one view the other consensus members lack: a global (linear or boosted) decision function
rather than neighbourhoods or transport.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..targets import stratified_folds
from ..valuator import BaseValuator, Output


@dataclass(frozen=True)
class SelfConfidenceParams:
    model: str = param("logistic", choices=("logistic", "boosting"),
                       help="Model fitted per fold: logistic (ridge for regression) or histogram gradient boosting.")
    folds: int = param(5, low=2, high=20, help="Cross-validation folds over the valued rows.")


class SelfConfidenceValuator(BaseValuator):
    """Out-of-fold probability of each row's own label (see module)."""

    name = "self_confidence"
    summary = "Cross-validated model's probability of each row's own label (the cleanlab idea); needs no target."
    low_value = ("the probability a model trained without the sample gives its own label; low = the model finds its "
                 "label unlikely.")
    cost = "folds fits of a logistic (or boosted) model on the valued and reference rows; no torch."
    Params = SelfConfidenceParams
    supports_regression = True
    needs_reference = False

    def _compute(self, problem: Problem, params: SelfConfidenceParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        y = np.asarray(problem.y)
        folds = min(params.folds, len(y))
        fold = stratified_folds(y, problem.task, folds, int(rng.integers(2**31 - 1)))
        fits = []
        for f in range(folds):
            reporter.update("cross-validated model", f, folds)
            test = fold == f
            fits.append((test, _fit(params.model, problem, ~test, int(rng.integers(2**31 - 1)))))
        reporter.update("cross-validated model", folds, folds)
        x = np.asarray(problem.x, dtype=np.float64)
        if not problem.is_classification:
            pred = np.zeros(len(y))
            for test, model in fits:
                pred[test] = model.predict(x[test])
            return Output(-np.abs(pred - y))
        probs = np.zeros((len(y), problem.n_classes))
        for test, model in fits:
            probs[np.ix_(test, model.classes_.astype(int))] = model.predict_proba(x[test])
        return Output(probs[np.arange(len(y)), y.astype(int)], suggested=probs.argmax(1))


def _fit(kind: str, problem: Problem, train: np.ndarray, seed: int):
    """The model fitted on the valued rows ``train`` plus the reference rows."""
    x = np.concatenate([np.asarray(problem.x, dtype=np.float64)[train], np.asarray(problem.x_target, np.float64)])
    y = np.concatenate([np.asarray(problem.y)[train], np.asarray(problem.y_target)])
    return _model(kind, problem.is_classification, seed).fit(x, y)


def _model(kind: str, classify: bool, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "boosting":
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000) if classify else Ridge())
