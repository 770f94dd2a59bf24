"""Corrupted regression targets: the default method vs cleanlab's regression scores, on real tables.

Real tables that ship offline (sklearn's diabetes as bundled, plotly's gapminder and tips,
statsmodels' fair and randhie), each with ``--rate`` of its rows corrupted in one of two ways:

- ``swap``: the target of a random other row (a row mix-up at entry or join time);
- ``shift``: the target moved by 3 standard deviations up or down (a unit or typing error).

*dataval*: ``run_valuation`` with the default method (consensus) and no reference: every row valued
by cross-fitting. *cleanlab*: ``cleanlab.regression.rank.get_label_quality_scores`` on 5-fold
cross-validated predictions of a linear model and of HistGradientBoosting over the same raw
features, the better of the two after seeing the corruptions (generous to cleanlab). AUROC of
the score against the corrupted rows, over all rows. Writes ``--out`` (markdown) and a CSV beside it.

    python benchmarks/regression_noise.py --seeds 0 --out benchmarks/results/regression_noise.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core.embeddings import raw_features
from dataval_core.io import load_frame
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample


def _statsmodels(name: str, label: str, rows: int | None = None):
    import statsmodels.api as sm

    frame = getattr(sm.datasets, name).load_pandas().data
    if rows is not None and len(frame) > rows:
        frame = frame.sample(rows, random_state=0).reset_index(drop=True)
    return load_frame(frame, label, name=name, task="regression")


def _plotly(name: str):
    import plotly.data

    if name == "tips":
        return load_frame(plotly.data.tips(), "tip", name="tips", task="regression")
    g = plotly.data.gapminder()[["continent", "year", "pop", "gdpPercap", "lifeExp"]]
    return load_frame(g, "lifeExp", name="gapminder_lifeexp", task="regression")


LOADERS = {"diabetes": lambda: load_sample("diabetes"), "gapminder_lifeexp": lambda: _plotly("gapminder"),
           "tips": lambda: _plotly("tips"), "fair_affairs": lambda: _statsmodels("fair", "affairs"),
           "randhie": lambda: _statsmodels("randhie", "mdvis", rows=4000)}


def corrupt(ds, rate: float, kind: str, seed: int):
    """A copy with ``rate`` of the rows' targets corrupted (``original_labels`` holds the truth)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(ds.labels, dtype=np.float64)
    n = len(y)
    rows = rng.choice(n, size=round(rate * n), replace=False)
    new = y.copy()
    if kind == "swap":
        other = (rows + rng.integers(1, n, len(rows))) % n
        new[rows] = y[other]
    else:
        new[rows] = y[rows] + 3 * y.std() * rng.choice([-1.0, 1.0], len(rows))
    return ds.replace(labels=new, original_labels=y)


def cleanlab_best(ds, seed: int) -> tuple[str, float]:
    from cleanlab.regression.rank import get_label_quality_scores
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict

    x, y = raw_features(ds).x, np.asarray(ds.labels, dtype=np.float64)
    cv = KFold(5, shuffle=True, random_state=seed)
    best = ("", -1.0)
    for name, model in {"linear": LinearRegression(), "HGB": HistGradientBoostingRegressor(random_state=seed)}.items():
        pred = cross_val_predict(model, x, y, cv=cv)
        auroc = roc_auc_score(ds.noisy, -get_label_quality_scores(y, pred))
        best = max(best, (name, auroc), key=lambda b: b[1])
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(LOADERS))
    p.add_argument("--kinds", nargs="+", default=["swap", "shift"])
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--method", default="consensus")
    p.add_argument("--members", default=None, help="consensus members (method@space, comma-separated); default: auto")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "regression_noise.md"))
    args = p.parse_args()
    rows = []
    for name in args.datasets:
        base = LOADERS[name]()
        for kind in args.kinds:
            for seed in args.seeds:
                ds = corrupt(base, args.rate, kind, seed)
                start = time.perf_counter()
                res = run_valuation(ds, args.method, seed=seed,
                                    params={"members": args.members} if args.members else None)
                seconds = time.perf_counter() - start
                model, clean = cleanlab_best(ds, seed)
                rows.append({"dataset": name, "n": len(ds.labels), "kind": kind, "seed": seed,
                             "dataval": roc_auc_score(ds.noisy, -res.values), "cleanlab": clean,
                             "cleanlab_model": model, "seconds": seconds})
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    out = Path(args.out)
    frame.to_csv(out.with_suffix(".csv"), index=False)
    g = frame.groupby(["dataset", "kind"], sort=False).agg(
        n=("n", "first"), dataval=("dataval", "mean"), cleanlab=("cleanlab", "mean"),
        model=("cleanlab_model", lambda s: "/".join(sorted(set(s)))), seconds=("seconds", "mean")).reset_index()
    lines = ["# Corrupted regression targets: dataval vs cleanlab", "", f"Machine: {machine_line()}", "",
             f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`", "",
             f"{args.rate:.0%} of the rows corrupted (swap: another row's target; shift: ±3 sd). dataval: "
             f"`{args.method}` with no reference (every row, cross-fitted). cleanlab: best of linear / HGB, "
             "5-fold. AUROC over all rows, mean over seeds " + ", ".join(map(str, args.seeds)) + ".", "",
             "| dataset | rows | corruption | dataval | cleanlab (model) | dataval − cleanlab | seconds |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.dataset} | {r.n} | {r.kind} | {r.dataval:.4f} | {r.cleanlab:.4f} ({r.model}) | "
              f"{r.dataval - r.cleanlab:+.4f} | {r.seconds:.0f} |" for r in g.itertuples()]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
