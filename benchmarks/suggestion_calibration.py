"""How sure is a suggested label? Calibrating consensus's vote share on injected label flips.

For each dataset × noise kind × seed: no reference (every row valued by cross-fitting),
20 % of the rows flipped, one ``consensus`` run. A suggestion that differs from the row's
(noisy) label is *right* when the row was flipped and the suggestion is the original label.
The raw vote share (``suggestion_confidence``, the members' agreement) is not that
probability: almost every suggestion wins a unanimous vote. This script

1. collects, per suggestion that differs from its label, the vote share, the row's
   percentile and whether the suggestion is right (cached per run under ``--cache``);
2. fits, on the ``--fit-seeds`` runs, the percentile's weight in the score
   (:func:`dataval_core.calibration.score`: vote share minus weight × percentile / 100; a logistic
   fit) and a monotone (isotonic) map from that score to P(right), and prints both as constants
   to paste into :mod:`dataval_core.calibration`;
3. measures the engine's *shipped* map on the ``--test-seeds`` runs (held out from the fit):
   among suggestions shown as at least 90 % sure, the share that is right (goal ≥ 90 %),
   and the calibration per band of shown confidence.

    python benchmarks/suggestion_calibration.py --out benchmarks/results/suggestion_calibration.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line
from detect import gapminder_categorical

from dataval_core import calibration
from dataval_core.noise import inject_label_noise
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample
from dataval_core.targets import no_reference

LOADERS = {"digits": lambda: load_sample("digits"), "breast_cancer": lambda: load_sample("breast_cancer"),
           "gapminder_cat": gapminder_categorical}
SHOWN = 0.9  # "shown as at least 90 % sure"
NOTES = """## Notes

- Breast cancer has two classes, so a pair flip and a uniform flip are the same flip: its two rows agree.
- The map is pooled over the three datasets. Where suggestions are rarely right (gapminder: about 28 % of
  them), a high score is rarer but not always enough: per dataset, read the rows above (gapminder with
  pair flips is below 90 % among the suggestions shown as at least 90 % sure).
- Measured at 20 % flips. With fewer flips a low value is less often a flip, so the same score is right less
  often; the shown number is the chance measured here, not a guarantee on other data.
- Methods other than consensus have no vote share; the app shows no percentage for their suggestions.
"""


def collect(name: str, kind: str, seed: int, rate: float, cache: Path) -> pd.DataFrame:
    """Per valued row of one consensus run: label, suggestion, original, vote share, percentile (cached)."""
    path = cache / f"{name}_{kind}_{seed}.csv"
    if path.exists():
        return pd.read_csv(path, dtype={"label": str, "suggested": str, "original": str})
    ds = inject_label_noise(no_reference(LOADERS[name]()), rate, kind=kind, seed=seed)
    start = time.perf_counter()
    res = run_valuation(ds, "consensus", seed=seed)
    pos = ds.positions(res.ids)
    frame = pd.DataFrame({"id": res.ids, "label": ds.label_names()[pos].astype(str),
                          "suggested": pd.Series(res.suggested_labels, dtype=object).astype(str).to_numpy(),
                          "original": ds.label_names(ds.original_labels)[pos].astype(str),
                          "share": np.asarray(res.extras["suggestion_confidence"], dtype=float),
                          "percentile": res.percentiles})
    frame.insert(0, "seed", seed)
    frame.insert(0, "kind", kind)
    frame.insert(0, "dataset", name)
    frame.attrs["seconds"] = time.perf_counter() - start
    cache.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    print(f"{name} {kind} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    return frame


def suggestions(rows: pd.DataFrame) -> pd.DataFrame:
    """The suggestions a curator is offered (differing from the label), with ``right`` and ``score``."""
    out = rows[(rows["suggested"] != "None") & (rows["suggested"] != rows["label"])].copy()
    out["right"] = (out["suggested"] == out["original"]).to_numpy()
    return out


def fit(sug: pd.DataFrame) -> tuple[float, np.ndarray, np.ndarray]:
    """The percentile's weight in the score (a logistic fit of right on vote share and percentile), then an
    isotonic P(right | score), as knots (score, probability) at the fitted steps' ends."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    features = np.column_stack([sug["share"], sug["percentile"] / 100])
    coef = LogisticRegression(C=100.0).fit(features, sug["right"]).coef_[0]
    weight = round(float(-coef[1] / coef[0]), 2)
    score = calibration.score(sug["share"].to_numpy(), sug["percentile"].to_numpy(), weight)
    # isotonic over 20 equal-count bins of the score (each at its mean score): few knots, no single-row steps
    binned = pd.DataFrame({"score": score, "right": sug["right"].astype(float).to_numpy()})
    binned["bin"] = pd.qcut(binned["score"].rank(method="first"), 20, labels=False)
    bins = binned.groupby("bin").agg(score=("score", "mean"), right=("right", "mean"), n=("right", "size"))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    y = iso.fit_transform(bins["score"], bins["right"], sample_weight=bins["n"])
    x = bins["score"].to_numpy()
    keep = np.r_[True, np.diff(y) > 0] | np.r_[np.diff(y) > 0, True]  # plateau ends only
    return weight, np.round(x[keep], 4), np.round(y[keep], 3)


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table (floats to 3 places)."""
    def cell(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    return "\n".join([head, rule, *("| " + " | ".join(cell(v) for v in row) + " |"
                                     for row in frame.itertuples(index=False))])


def bands(sug: pd.DataFrame) -> pd.DataFrame:
    """Per band of shown confidence: suggestions, mean shown, share right."""
    edges = [0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001]
    cut = pd.cut(sug["shown"], edges, right=False, labels=[f"{a:.0%}–{b:.0%}" for a, b in zip(edges, edges[1:])])
    out = sug.groupby(cut, observed=True).agg(suggestions=("right", "size"), mean_shown=("shown", "mean"),
                                              right=("right", "mean")).reset_index()
    return out.rename(columns={"shown": "shown as"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(LOADERS))
    p.add_argument("--kinds", nargs="+", default=["uniform", "pair"])
    p.add_argument("--fit-seeds", nargs="+", type=int, default=[0])
    p.add_argument("--test-seeds", nargs="+", type=int, default=[1])
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--cache", type=Path, default=Path("/tmp/suggestion_calibration"))
    p.add_argument("--collect-only", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    rows = pd.concat([collect(n, k, s, args.rate, args.cache) for n in args.datasets for k in args.kinds
                      for s in (*args.fit_seeds, *args.test_seeds)], ignore_index=True)
    if args.collect_only:
        return
    sug = suggestions(rows)
    train, test = sug[sug["seed"].isin(args.fit_seeds)], sug[sug["seed"].isin(args.test_seeds)]
    weight, *knots = fit(train)
    print("fitted on seeds", args.fit_seeds, f"PERCENTILE_WEIGHT = {weight}\nSCORE_KNOTS =", knots[0].tolist(),
          "\nSURE_KNOTS =", knots[1].tolist())
    lines = ["# Suggestion confidence, calibrated on injected flips\n",
             f"Machine: {machine_line()}.  ",
             f"Command: `python benchmarks/suggestion_calibration.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`\n",
             f"No reference (every row valued by cross-fitting), {args.rate:.0%} of rows flipped (uniform: a random "
             "other class; pair: the most confusable class), one `consensus` run per dataset × kind × seed. "
             "A suggestion is one that differs from the row's label; it is **right** when the row was flipped "
             "and the suggestion is the original label. **Shown** = "
             "`dataval_core.calibration.calibrated_confidence` (the engine's shipped map from the vote share "
             f"and the percentile), fitted on seeds {args.fit_seeds}; the held-out rows are seeds {args.test_seeds}.\n"]
    for title, part in (("Held out", test), ("Fit seeds (in-sample)", train)):
        part = part.assign(shown=calibration.confidence_from(part["share"].to_numpy(), part["percentile"].to_numpy()))
        lines.append(f"## {title}: among suggestions shown as ≥ {SHOWN:.0%} sure, the share that is right\n")
        table = []
        for (name, kind), g in [*part.groupby(["dataset", "kind"]), (("all", "all"), part)]:
            sure = g[g["shown"] >= SHOWN]
            table.append({"dataset": name, "noise": kind, "suggestions": len(g),
                          "raw share = 100 %": int((g["share"] >= 0.999).sum()),
                          "right (all suggestions)": round(g["right"].mean(), 3) if len(g) else np.nan,
                          f"shown ≥ {SHOWN:.0%}": len(sure),
                          "right among them": round(sure["right"].mean(), 3) if len(sure) else np.nan})
        lines.append(markdown(pd.DataFrame(table)) + "\n")
        lines.append(f"Calibration by band of shown confidence ({title.lower()}):\n")
        lines.append(markdown(bands(part)) + "\n")
    lines.append(f"Fitted on seeds {args.fit_seeds}: percentile weight {weight}, knots: score "
                 f"{knots[0].tolist()} → sure {knots[1].tolist()}\n")
    text = "\n".join([*lines, NOTES])
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
