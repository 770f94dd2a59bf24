"""``consensus``: a portfolio of valuation methods, weighted by a self-probe on the user's own data.

No single method wins everywhere (``benchmarks/results/detection.md``): on the bundled data
knn_shapley leads on images with confusable-pair flips, data_oob on tables with uniform flips,
dvgs on breast cancer, and a blind average of them loses to knn_shapley on images. So the
weights come from the data:

1. **Spaces.** Members run on the features the method was given (``raw``) or on a learned
   space: the penultimate layer of a small net trained on the target rows only (the
   ``target_trained`` embedding, built here once from the same arrays). Valued labels never
   shape that net, so the probe below can reuse it.
2. **Members.** Each member runs on the valued set (the values the user gets). From
   :data:`LARGE_ROWS` valued rows the automatic portfolio leaves out the members in
   :data:`COSTLY_AT_SCALE` (sava: a transport problem per batch pair took more time than all
   other members together, for no AUROC: ``benchmarks/results/scale_consensus.md``).
3. **Self-probe.** A copy of (up to ``probe_rows``) valued rows gets ``probe_rate`` extra
   flips: half to a uniformly random other class, half to the class a target-trained model
   most confuses it with (the confusion matrix of that model's predictions on the valued
   rows, so the pairs the data actually mixes up). Each member values the copy; its
   **probe AUROC** is how well its values rank the injected flips lowest. This tells, for
   *this* dataset, which member sees which kind of error. Rows the members already suspect
   (the lowest mean rank, 1.5× as many as the rows whose members' vote disagrees with the
   label) are not scored as clean: scored as clean, the data's own bad rows penalised the
   best detectors most. Flips still go into *any* row, suspected ones included (real errors
   hit hard rows too), and never to the label the members vote for (that would likely
   restore the truth; in two-class data a row whose vote already differs is left alone).
   The tuning runs behind both choices: ``benchmarks/results/consensus_probe_design.md``.
4. **Combination.** Values are rank-normalised to [0, 1] (scales differ wildly between
   methods). Candidates are the best member alone and probe-weighted rank means (weights
   ∝ exp((AUROC − best AUROC) / τ) for τ = 0.1, 0.02, 0.005, so near-ties share and far
   losers get ≈ 0). The candidate with the best AUROC on the probe is used, the broadest
   on a tie: when one member dominates this is that member alone (or nearly); when members
   see different errors, or the probe cannot tell them apart, the mixture. Picking among
   four candidates on a few hundred injected flips costs little selection bias, and it is
   what keeps the result at least as good as the best member (measured:
   ``benchmarks/results/detection_consensus.md`` and ``detection_consensus_heldout.md``).
5. **Suggested label.** The members' suggestions, voted with weights max(AUROC − 0.5, 0);
   ``suggestion_confidence`` is the winning label's share of the vote (members' agreement).

Members are built through the registry on consensus's own backend, so with ``ray`` the members
that fan out (knn_shapley, data_oob, sava) run their tasks there. The result's status is the first
member fit's that is not ``ok`` (a sava member that did not converge makes it ``not_converged``);
its timings hold each fit's seconds (``member:<member>``, ``probe:<member>``) and
``learned_space`` (the target-trained net) beside ``total``.

Extras (one row per id): ``value:<member>`` (each member's own values), ``probe_auroc:<member>``
and ``weight:<member>`` (constant columns), ``suggestion_confidence``. Regression: the members
that support it (data_oob, dvgs), probe rows given a random other row's label, no suggestions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from .. import torch_models
from ..embeddings import learned
from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..registry import get_spec, get_valuator
from ..result import ResultStatus, ValuationResult, overall_status
from ..valuator import BaseValuator, Output

#: methods a portfolio may hold (registry names; each is loaded through the registry when used)
MEMBERS = ("knn_shapley", "data_oob", "dvgs", "sava", "lava", "lossval", "dvemb", "self_confidence")

#: members by modality, chosen by measurement (benchmarks/results/detection.md); "name@space"
DEFAULT_MEMBERS = {
    "image": ("knn_shapley@raw", "knn_shapley@learned", "data_oob@learned", "dvgs@learned", "sava@learned"),
    "table": ("knn_shapley@raw", "knn_shapley@learned", "data_oob@raw", "dvgs@learned", "sava@learned"),
    "regression": ("data_oob@raw", "data_oob@learned", "dvgs@learned"),
}
#: valued rows from which the automatic portfolio leaves out :data:`COSTLY_AT_SCALE`
LARGE_ROWS = 20_000
#: members whose cost outgrows their share of the weight on large data (measured at 50,000 rows)
COSTLY_AT_SCALE = ("sava",)
#: share of rows suspected in regression (no suggestions to count disagreements from)
REGRESSION_SUSPECT_SHARE = 0.2
#: temperatures of the probe-weighted rank means (AUROC units)
TEMPERATURES = (0.005, 0.02, 0.1)
SPACES = ("raw", "learned")
#: probe AUROCs this close count as a tie (a few hundred injected flips cannot tell them apart)
TIE = 0.0005


@dataclass(frozen=True)
class ConsensusParams:
    members: str = param("auto", help="Comma-separated method@space (space: raw or learned), or 'auto' "
                                      "(the measured portfolio for images or tables; without sava from "
                                      "20,000 valued rows).")
    probe_rows: int = param(1500, low=50, high=1_000_000,
                            help="Valued rows copied for the self-probe (fewer: faster, noisier weights).")
    probe_rate: float = param(0.1, low=0.01, high=0.5, help="Fraction of the probe copy given extra flips.")


def parse_members(text: str, is_image: bool, regression: bool = False,
                  n_valued: int = 0) -> tuple[tuple[str, str], ...]:
    """``"knn_shapley@raw,sava@learned"`` → ((method, space), ...); ``"auto"`` → the default portfolio
    (for ``n_valued`` ≥ :data:`LARGE_ROWS`, without :data:`COSTLY_AT_SCALE`)."""
    kind = "regression" if regression else "image" if is_image else "table"
    if text.strip() == "auto":
        items = tuple(m for m in DEFAULT_MEMBERS[kind]
                      if n_valued < LARGE_ROWS or m.partition("@")[0] not in COSTLY_AT_SCALE)
    else:
        items = tuple(s.strip() for s in text.split(",") if s.strip())
    out = []
    for item in items:
        method, _, space = item.partition("@")
        space = space or "raw"
        if method not in MEMBERS or space not in SPACES:
            raise ValueError(f"consensus member {item!r}: use method@space with a method among "
                             f"{', '.join(MEMBERS)} and space raw or learned.")
        if regression and not get_spec(method).load().supports_regression:
            raise ValueError(f"consensus member {method} supports classification only; this dataset has a "
                             "numeric label.")
        out.append((method, space))
    if len(set(out)) != len(out) or not out:
        raise ValueError("consensus members must be distinct and at least one.")
    return tuple(out)


def rank_normalise(values: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (0 = lowest value)."""
    r = rankdata(values, method="average")
    return (r - 1) / max(len(r) - 1, 1)


def probe_weights(aurocs: np.ndarray, tau: float) -> np.ndarray:
    """Weights ∝ exp((AUROC − best) / τ), summing to 1."""
    w = np.exp((aurocs - aurocs.max()) / tau)
    return w / w.sum()


def choose_combination(probe_ranks: np.ndarray, injected: np.ndarray, aurocs: np.ndarray) -> np.ndarray:
    """Weights over members (``probe_ranks``: members × probe rows) chosen by AUROC on the injected flips.

    Candidates, broadest first: probe-weighted means at :data:`TEMPERATURES` (high to low),
    then the best member alone (other members alone score lower on the probe by definition).
    The first within :data:`TIE` of the best probe score wins: when the probe saturates
    (several candidates find every injected flip) the broader mixture is the safer bet.
    """
    candidates = [probe_weights(aurocs, tau) for tau in sorted(TEMPERATURES, reverse=True)]
    candidates.append(np.eye(len(aurocs))[int(np.argmax(aurocs))])
    scores = [roc_auc_score(injected, -(w @ probe_ranks)) for w in candidates]
    best = max(scores)
    return next(w for w, score in zip(candidates, scores) if score >= best - TIE)


class ConsensusValuator(BaseValuator):
    """Portfolio of methods; a self-probe with injected flips decides whose values to trust (see module)."""

    name = "consensus"
    summary = ("Recommended: a portfolio (knn_shapley, data_oob, dvgs; sava below 20,000 rows) weighted by a "
               "self-probe with injected flips.")
    low_value = "the members' percentiles combined; low = several methods agree the sample is suspicious."
    cost = ("its members' runs on the valued rows, then on a probe copy of up to probe_rows rows, plus one "
            "small net when a member uses the learned space (times: benchmarks/results/scale_consensus.md).")
    Params = ConsensusParams
    default_embedding = "raw"
    supports_regression = True
    uses_backend = True  # its members that fan out (knn_shapley, data_oob, sava) run on this valuator's backend

    def _compute(self, problem: Problem, params: ConsensusParams, rng: np.random.Generator,
                 reporter: Reporter) -> Output:
        members = parse_members(params.members, problem.image_shape is not None, not problem.is_classification,
                                problem.n)
        s_embed, s_probe, *s_members = [int(s) for s in rng.integers(0, 2**31 - 1, size=2 + len(members))]
        n, n_classes = problem.n, problem.n_classes
        start = time.perf_counter()
        spaces, model = self._spaces(problem, members, s_embed, reporter)
        spaces_s = {"learned_space": time.perf_counter() - start} if model is not None else {}
        pair_to = None
        if problem.is_classification:
            pair_to = _confusable(model, problem, reporter) if model is not None else _nearest_class(problem)
        names = [f"{m}@{s}" for m, s in members]
        steps = 2 * len(members)
        values, suggestions, fits = [], [], []
        for i, ((method, space), seed) in enumerate(zip(members, s_members)):
            x, xt = spaces[space]
            res = self._member(method, seed).fit(
                _with(problem, x, xt, problem.y, np.arange(n), space),
                progress=reporter.scaled(f"consensus {i + 1}/{len(members)} {names[i]}: "))
            fits.append((f"member:{names[i]}", res))
            values.append(res.values)
            suggestions.append(_codes(res.suggested_labels, problem.classes, n))
            reporter.update("consensus: members, then the probe", i + 1, steps, names[i])
        ranks = np.vstack([rank_normalise(v) for v in values])
        y = np.asarray(problem.y)
        vote = _vote(np.vstack(suggestions), np.ones(len(members)), n_classes)[0] if n_classes else None
        suspect = _suspects(ranks, vote, y)
        probe_idx, probe_y, injected, scored = _probe_copy(problem, pair_to, suspect, vote, params,
                                                           np.random.default_rng(s_probe))
        probe_ranks = []
        for i, ((method, space), seed) in enumerate(zip(members, s_members)):
            x, xt = spaces[space]
            pres = self._member(method, seed).fit(
                _with(problem, x, xt, probe_y, probe_idx, space),
                progress=reporter.scaled(f"consensus probe {i + 1}/{len(members)} {names[i]}: "))
            fits.append((f"probe:{names[i]}", pres))
            probe_ranks.append(rank_normalise(pres.values)[scored])
            reporter.update("consensus: members, then the probe", len(members) + i + 1, steps, f"probe {names[i]}")
        injected = injected[scored]
        probe_ranks_m = np.vstack(probe_ranks)
        aurocs = np.array([roc_auc_score(injected, -r) for r in probe_ranks_m])
        weights = choose_combination(probe_ranks_m, injected, aurocs)
        combined = weights @ ranks
        extras: dict[str, np.ndarray] = {}
        suggested = None
        if problem.is_classification:
            suggested, extras["suggestion_confidence"] = _vote(np.vstack(suggestions),
                                                                np.maximum(aurocs - 0.5, 0.0), n_classes)
        for name, v, a, w in zip(names, values, aurocs, weights):
            extras[f"value:{name}"] = np.asarray(v, dtype=np.float64)
            extras[f"probe_auroc:{name}"] = np.full(n, a)
            extras[f"weight:{name}"] = np.full(n, w)
        status, timings = roll_up(fits)
        return Output(values=combined, suggested=suggested, extras=extras, status=status,
                      timings={**spaces_s, **timings})

    def _member(self, method: str, seed: int) -> BaseValuator:
        """A member valuator (built through the registry) on this valuator's backend."""
        return get_valuator(method, seed=seed, backend=self.backend)

    def _spaces(self, problem: Problem, members, seed: int, reporter: Reporter):
        """{space: (valued x, target x)} and the target-trained net (None when no member needs it)."""
        spaces = {"raw": (np.asarray(problem.x, dtype=np.float32), problem.x_target)}
        if not any(s == "learned" for _, s in members):
            return spaces, None
        x_all = np.concatenate([spaces["raw"][0], problem.x_target])
        y_all = np.concatenate([np.asarray(problem.y), np.asarray(problem.y_target)])
        target_idx = np.arange(problem.n, len(x_all))
        model = learned.target_trained_model(x_all, y_all, target_idx, image_shape=problem.image_shape,
                                             task=problem.task, n_classes=problem.n_classes, seed=seed,
                                             reporter=reporter.scaled("consensus: "))
        feats = learned.in_blocks(lambda rows: torch_models.penultimate(model, rows), x_all, reporter,
                                  "consensus: embedding: features")  # progress per block: many images take seconds
        spaces["learned"] = (feats[:problem.n], feats[problem.n:])
        return spaces, model


def roll_up(fits: list[tuple[str, ValuationResult]]) -> tuple[ResultStatus, dict[str, float]]:
    """The portfolio's status and its members' seconds, from ``(key, result)`` per member fit.

    The status is the first fit's that is not ``"ok"`` (e.g. a sava member that did not converge
    makes the consensus ``"not_converged"``), else ``"ok"``; the timings map each ``key``
    (``member:<name>``, ``probe:<name>``) to that fit's own total seconds.
    """
    status = overall_status(r for _, r in fits)
    return status, {key: float(r.timings.get("total", 0.0)) for key, r in fits}


def _with(problem: Problem, x: np.ndarray, xt: np.ndarray, y: np.ndarray, idx: np.ndarray, space: str) -> Problem:
    """``problem`` restricted to valued rows ``idx`` with labels ``y`` (aligned with ``idx``), in ``space``."""
    return Problem(ids=problem.ids[idx], x=x[idx], y=y, x_target=xt, y_target=problem.y_target,
                   classes=problem.classes, task=problem.task,
                   embedding=problem.embedding if space == "raw" else "target_trained",
                   image_shape=problem.image_shape if space == "raw" else None)


def _confusable(model, problem: Problem, reporter: Reporter | None = None) -> np.ndarray:
    """``pair_to[c]``: the class a target-trained model most often predicts for valued rows labelled c
    (progress and the cancel check per block of predictions)."""
    pred = learned.in_blocks(lambda rows: torch_models.predict(model, rows), np.asarray(problem.x), reporter,
                             "consensus: confusable classes").argmax(1)
    c = problem.n_classes
    conf = np.zeros((c, c))
    np.add.at(conf, (np.asarray(problem.y, dtype=int), pred), 1)
    np.fill_diagonal(conf, -1)
    return conf.argmax(1)


def _nearest_class(problem: Problem) -> np.ndarray:
    """``pair_to[c]``: the class whose target mean is nearest to class c's (when no model is trained)."""
    c = problem.n_classes
    xt, yt = np.asarray(problem.x_target), np.asarray(problem.y_target)
    means = np.vstack([xt[yt == k].mean(0) if np.any(yt == k) else np.full(xt.shape[1], np.inf) for k in range(c)])
    d = ((means[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    d[~np.isfinite(d)] = np.inf
    np.fill_diagonal(d, np.inf)
    return d.argmin(1)


def _suspects(ranks: np.ndarray, vote: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """Rows that are probably bad already: the lowest mean member rank, as many as 1.5× the rows
    whose members' (unweighted) ``vote`` differs from the given label, within [5 %, 50 %]
    (regression: :data:`REGRESSION_SUSPECT_SHARE`)."""
    if vote is not None:
        disagree = float(np.mean((vote >= 0) & (vote != y)))
        q = float(np.clip(1.5 * disagree, 0.05, 0.5))
    else:
        q = REGRESSION_SUSPECT_SHARE
    mean_rank = ranks.mean(0)
    return mean_rank <= np.quantile(mean_rank, q)


def _probe_copy(problem: Problem, pair_to: np.ndarray | None, suspect: np.ndarray, vote: np.ndarray | None,
                params: ConsensusParams, rng: np.random.Generator):
    """(rows copied, labels after injection, injected flag, rows scored) of the probe.

    Half the flips go to a uniformly random class, half to the confusable class; neither
    is ever the given label or the members' ``vote`` (a flip to the vote would likely
    restore the truth; when the confusable class is the vote, the flip is uniform). Flips
    land in any row except, in two-class data, rows whose vote already differs (no third
    label to give). Scored: the injected rows and the rows not suspected, so a member that
    finds the data's own bad rows is not counted wrong for ranking them low. Regression:
    flips go only into unsuspected rows, each taking the label of a random other row.
    """
    n, c = problem.n, problem.n_classes
    idx = np.sort(rng.choice(n, size=min(n, params.probe_rows), replace=False))
    y = np.asarray(problem.y, dtype=np.int64 if problem.is_classification else np.float64)[idx].copy()
    scored = ~suspect[idx]
    if vote is None:
        eligible = scored
    else:
        v = vote[idx]
        other_vote = (v >= 0) & (v != y)
        eligible = ~other_vote if c == 2 else np.ones(len(idx), dtype=bool)
    k = max(2, round(params.probe_rate * len(idx)))
    if k >= eligible.sum():
        raise ValueError("consensus needs more valued rows for its probe; lower probe_rate.")
    chosen = rng.choice(np.flatnonzero(eligible), size=k, replace=False)
    injected = np.zeros(len(idx), dtype=bool)
    injected[chosen] = True
    if vote is None:
        y[chosen] = np.asarray(problem.y, dtype=np.float64)[rng.choice(n, size=k)]
        return idx, y, injected, scored
    assert pair_to is not None  # classification always has its confusable classes
    given, avoid = y[chosen], np.where(other_vote[chosen], v[chosen], y[chosen])
    lo, hi = np.minimum(given, avoid), np.where(avoid != given, np.maximum(given, avoid), c)
    u = rng.integers(0, c - 1 - (avoid != given))
    uniform = u + (u >= lo)
    uniform += uniform >= hi
    pair = pair_to[given]
    use_pair = (np.arange(k) >= k // 2) & (pair != given) & (pair != avoid)
    y[chosen] = np.where(use_pair, pair, uniform)
    return idx, y, injected, scored | injected


def _codes(names: np.ndarray | None, classes: tuple[str, ...], n: int) -> np.ndarray:
    """Class codes of suggested class names, -1 where a member has none."""
    if names is None:
        return np.full(n, -1, dtype=np.int64)
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(s, -1) if s is not None else -1 for s in names], dtype=np.int64)


def _vote(codes: np.ndarray, weights: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted vote over members' suggestions: (winning code or -1, winner's share of the weight cast)."""
    tally = np.zeros((codes.shape[1], n_classes))
    for c, w in zip(codes, weights):
        if w > 0:
            ok = c >= 0
            tally[np.flatnonzero(ok), c[ok]] += w
    cast = tally.sum(1)
    winner = np.where(cast > 0, tally.argmax(1), -1)
    share = np.where(cast > 0, tally.max(1) / np.maximum(cast, 1e-12), 0.0)
    return winner, share
