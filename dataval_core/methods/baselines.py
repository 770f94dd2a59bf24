"""Honest baselines: ``random`` (the floor) and ``data_oob`` (Kwon & Zou, 2023).

Data-OOB: fit B models on bootstrap samples of the valued set; a sample's value is
the mean correctness of the models that did *not* see it (out of bag) on it —
1[ŷ = y] for classification, −(ŷ − y)² for regression. A mislabeled sample is
predicted "wrongly" by models trained on its clean neighbours, so it scores low.
The target set is not used.

As scikit-learn's random forest (and pyDVL with one), a bootstrap is passed as sample
weights (how often each row was drawn) on the whole float32 array rather than as a copy
of the drawn rows. Above ``max_bag_rows`` valued rows each bag draws that many rows
(subbagging) and its model is fitted on the distinct rows drawn only, so a model's cost
stops growing with the data while every row is still out of bag for most models. Bags
are independent tasks of ``BAGS_PER_TASK`` models on the compute backend (local threads capped
at ``n_jobs``, or Ray tasks sharing the arrays through the object store); every bag draws
from its own seed, taken in order from the run's generator, and task sums are added in task
order, so values depend on the seed only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import Work, checkpoint
from ..params import CORES, param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, NoParams, Output


class RandomValuator(BaseValuator):
    """Uniform random values in [0, 1): the floor every method is shown against."""

    name = "random"
    summary = "Uniform random values: the floor every method is shown against."
    low_value = "a random number; low means nothing: the floor any method should beat."
    cost = "nothing to speak of: one random draw per row."
    Params = NoParams
    supports_regression = True
    needs_reference = False

    def _compute(self, problem: Problem, params: NoParams, rng: np.random.Generator, reporter: Reporter) -> Output:
        values = rng.random(problem.n)
        reporter.update("random values", 1, 1)
        return Output(values)


#: bootstrap models per backend task (fixed, so the grouping never depends on the worker count)
BAGS_PER_TASK = 10


@dataclass(frozen=True)
class DataOOBParams:
    n_estimators: int = param(200, low=10, high=5000, help="Number of bootstrap models.")
    base_model: str = param("tree", choices=("tree", "logistic", "knn"),
                            help="Model fitted on each bootstrap sample (tree = random-forest-style tree).")
    max_samples: float = param(1.0, low=0.1, high=1.0, help="Bootstrap sample size as a fraction of the valued set.")
    max_bag_rows: int = param(5_000, low=10, high=100_000_000,
                              help="Largest bootstrap sample, in rows: larger valued sets are subbagged, so each "
                                   "model's cost stops growing with the data "
                                   "(benchmarks/results/scale_consensus.md).")
    n_jobs: int = param(0, low=0, high=CORES, help="Models fitted at once on the local backend; 0 = all local cores.")


class DataOOBValuator(BaseValuator):
    """Out-of-bag correctness over bagged models (needs no target set)."""

    name = "data_oob"
    summary = "Data-OOB (Kwon & Zou 2023): out-of-bag correctness over bagged models; needs no target."
    low_value = ("how often bagged trees that never saw the sample predict its label; low = its label is hard to "
                 "believe.")
    cost = "n_estimators tree fits on bootstraps of the valued rows, spread over the cores (or a Ray cluster)."
    uses_backend = True  # bags are backend tasks
    Params = DataOOBParams
    supports_regression = True
    needs_reference = False

    def _compute(self, problem: Problem, params: DataOOBParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        n = problem.n
        classify = problem.is_classification
        x = np.ascontiguousarray(problem.x, dtype=np.float32)  # trees fit on float32: no copy per model
        y = np.asarray(problem.y)
        seeds = rng.integers(0, 2**63 - 1, size=params.n_estimators)
        tasks = [(seeds[i:i + BAGS_PER_TASK],) for i in range(0, params.n_estimators, BAGS_PER_TASK)]
        shared = {"x": x, "y": y, "classify": classify, "n_classes": problem.n_classes,
                  "size": max(2, min(round(params.max_samples * n), params.max_bag_rows)),
                  "base_model": params.base_model}
        score_sum = np.zeros(n)
        oob_count = np.zeros(n)
        votes = np.zeros((n, problem.n_classes), dtype=np.int32) if classify else None
        for _, (scores, counts, task_votes) in self.compute_backend().map(
                fit_bags, tasks, reporter, "bagging", shared=shared, units=[len(t[0]) for t in tasks], ordered=True,
                work=Work(max_workers=params.n_jobs)):
            score_sum += scores
            oob_count += counts
            if votes is not None:
                votes += task_votes
        seen = oob_count > 0
        values = np.where(seen, score_sum / np.maximum(oob_count, 1), np.mean(score_sum[seen] / oob_count[seen])
                          if seen.any() else 0.0)
        suggested = None if votes is None else np.where(votes.sum(1) > 0, votes.argmax(1), -1)
        return Output(values, suggested=suggested)


def fit_bags(shared: dict, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Fit one model per seed on its bootstrap; return the summed out-of-bag scores, the
    out-of-bag counts and (classification) the out-of-bag class votes, each per row."""
    x, y, classify = shared["x"], shared["y"], shared["classify"]
    n = len(x)
    scores, counts = np.zeros(n), np.zeros(n)
    votes = np.zeros((n, shared["n_classes"]), dtype=np.int32) if classify else None
    for seed in seeds:
        checkpoint()  # where the task sees the cancel flag (local threads): stop between models, not after all
        bag_rng = np.random.default_rng(seed)
        drawn = np.bincount(bag_rng.integers(0, n, shared["size"]), minlength=n)
        oob = drawn == 0
        if not oob.any() or (classify and len(np.unique(y[~oob])) < 2):
            continue  # nothing to score, or a one-class bootstrap (rare, tiny n only)
        model = _make_model(shared["base_model"], classify, int(bag_rng.integers(2**31 - 1)))
        if shared["base_model"] == "knn":  # no sample weights: the distinct drawn rows
            model.fit(x[~oob], y[~oob])
        elif shared["size"] < n:  # a subbag: the distinct drawn rows, weighted, cost set by the bag
            model.fit(x[~oob], y[~oob], sample_weight=drawn[~oob].astype(np.float64))
        else:
            model.fit(x, y, sample_weight=drawn.astype(np.float64))
        pred = model.predict(x[oob])
        rows = np.flatnonzero(oob)
        if votes is not None:
            scores[rows] += pred == y[rows]
            votes[rows, pred.astype(int)] += 1
        else:
            scores[rows] -= (pred - y[rows]) ** 2
        counts[rows] += 1
    return scores, counts, votes


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
