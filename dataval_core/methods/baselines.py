"""Honest baselines: ``random`` (the floor) and ``data_oob`` (Kwon & Zou, 2023).

Data-OOB: fit B models on bootstrap samples of the valued set; a sample's value is
the mean correctness of the models that did *not* see it (out of bag) on it —
1[ŷ = y] for classification, −(ŷ − y)² for regression. A mislabeled sample is
predicted "wrongly" by models trained on its clean neighbours, so it scores low.
The target set is not used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, NoParams, Output


class RandomValuator(BaseValuator):
    """Uniform random values in [0, 1): the floor every method is shown against."""

    name = "random"
    Params = NoParams
    supports_regression = True

    def _compute(self, problem: Problem, params: NoParams, rng: np.random.Generator, reporter: Reporter) -> Output:
        values = rng.random(problem.n)
        reporter.update("random values", 1, 1)
        return Output(values)


@dataclass(frozen=True)
class DataOOBParams:
    n_estimators: int = param(200, low=10, high=5000, help="Number of bootstrap models.")
    base_model: str = param("tree", choices=("tree", "logistic", "knn"),
                            help="Model fitted on each bootstrap sample (tree = random-forest-style tree).")
    max_samples: float = param(1.0, low=0.1, high=1.0, help="Bootstrap sample size as a fraction of the valued set.")


class DataOOBValuator(BaseValuator):
    """Out-of-bag correctness over bagged models (needs no target set)."""

    name = "data_oob"
    Params = DataOOBParams
    supports_regression = True

    def _compute(self, problem: Problem, params: DataOOBParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        x, y, n = np.asarray(problem.x), problem.y, problem.n
        classify = problem.is_classification
        score_sum = np.zeros(n)
        oob_count = np.zeros(n)
        votes = np.zeros((n, problem.n_classes)) if classify else None
        size = max(2, int(round(params.max_samples * n)))
        for b in range(params.n_estimators):
            inbag = rng.integers(0, n, size)
            oob = np.ones(n, dtype=bool)
            oob[inbag] = False
            if classify and len(np.unique(y[inbag])) < 2:
                continue  # a one-class bootstrap cannot train a classifier; skip it (rare, tiny n only)
            if oob.any():
                model = _make_model(params.base_model, classify, int(rng.integers(2**31 - 1)))
                model.fit(x[inbag], y[inbag])
                pred = model.predict(x[oob])
                if classify:
                    score_sum[oob] += pred == y[oob]
                    assert votes is not None
                    votes[np.flatnonzero(oob), pred.astype(int)] += 1
                else:
                    score_sum[oob] -= (pred - y[oob]) ** 2
                oob_count[oob] += 1
            if (b + 1) % 10 == 0 or b + 1 == params.n_estimators:
                reporter.update("bagging", b + 1, params.n_estimators)
        seen = oob_count > 0
        values = np.where(seen, score_sum / np.maximum(oob_count, 1), np.mean(score_sum[seen] / oob_count[seen])
                          if seen.any() else 0.0)
        suggested = None
        if votes is not None:
            suggested = np.where(votes.sum(1) > 0, votes.argmax(1), -1)
        return Output(values, suggested=suggested)


def _make_model(kind: str, classify: bool, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if kind == "tree":
        cls = DecisionTreeClassifier if classify else DecisionTreeRegressor
        return cls(max_features="sqrt", random_state=seed)
    if kind == "knn":
        return KNeighborsClassifier(5) if classify else KNeighborsRegressor(5)
    return LogisticRegression(max_iter=300) if classify else Ridge()
