"""Every row valued without a reference: cross-fitting vs a 20 % carve-out vs cleanlab, on noisy data.

The realistic case: one dataset, labels flipped anywhere (no clean subset). For each case ×
noise kind × seed, with 20 % of all rows flipped:

- *every row*: ``run_valuation`` with no target rows (the default since this change): K-fold
  cross-fitting, AUROC over **all** rows. *merged vs per fold*: the mean AUROC inside each fold
  (before merging), so the merge is shown not to hurt;
- *carve 20 %* (the old default): a stratified 20 % of the noisy rows is the reference, AUROC
  over the 80 % valued (coverage 0.8);
- *cleanlab*: ``get_label_quality_scores`` on 5-fold cross-validated probabilities over the raw
  features of all rows, for each of logistic regression, HistGradientBoosting, random forest and
  kNN; the table shows the best of the four (chosen after seeing the flips: generous to cleanlab).

``--clean-shares`` sweeps :data:`dataval_core.crossfit.CLEAN_SHARE` and ``--first-pass`` the first
pass's method (tuning only). Writes a markdown table (``--out``) and its CSV beside it.

    python benchmarks/every_row.py --datasets digits breast_cancer --seeds 0 1 --methods knn_shapley
    python benchmarks/every_row.py --clean-shares 0 0.1 0.2 0.3 --seeds 10 11 --out /tmp/sweep.md
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line
from detect import gapminder_categorical
from sklearn.metrics import roc_auc_score

from dataval_core import crossfit
from dataval_core.embeddings import raw_features
from dataval_core.io import load_frame
from dataval_core.noise import inject_label_noise
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample
from dataval_core.targets import mark_reference, split_target


def statsmodels_table(name: str):
    """Real tables shipped in statsmodels' wheel: ``anes96`` (1996 US election survey, label = vote),
    ``fair`` (affairs survey, label = any affair)."""
    import statsmodels.api as sm

    if name == "anes96":
        frame = sm.datasets.anes96.load_pandas().data.drop(columns=["logpopul"])
        return load_frame(frame, "vote", name=name)
    frame = sm.datasets.fair.load_pandas().data
    frame["affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
    return load_frame(frame, "affair", name=name)


def sklearn_table(name: str):
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = np.asarray(bunch.target_names)[frame["target"]]
    return load_frame(frame, "target", name=name)


LOADERS = {"digits": lambda: load_sample("digits"), "breast_cancer": lambda: load_sample("breast_cancer"),
           "mnist": lambda: load_sample("mnist"), "gapminder_cat": gapminder_categorical,
           "anes96": lambda: statsmodels_table("anes96"), "fair": lambda: statsmodels_table("fair"),
           "wine": lambda: sklearn_table("wine")}


def carve(ds, frac: float, seed: int):
    """A stratified ``frac`` of the (already noisy) rows as the reference: the old default."""
    clean = ds.replace(labels=ds.original_labels, original_labels=None)
    return ds.replace(is_target=split_target(clean, frac, seed=seed).is_target)


def cleanlab_best(ds, seed: int) -> tuple[str, float, float]:
    """(model, AUROC, seconds) of the best of four cross-validated models under cleanlab's ranking."""
    from cleanlab.rank import get_label_quality_scores
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    x, y = raw_features(ds).x, np.asarray(ds.labels)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    models = {"LR": LogisticRegression(max_iter=1000), "HGB": HistGradientBoostingClassifier(random_state=seed),
              "RF": RandomForestClassifier(200, random_state=seed, n_jobs=2), "kNN": KNeighborsClassifier(10)}
    best = ("", -1.0, 0.0)
    for name, model in models.items():
        start = time.perf_counter()
        probs = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        auroc = roc_auc_score(ds.noisy, -get_label_quality_scores(y, probs))
        if auroc > best[1]:
            best = (name, auroc, time.perf_counter() - start)
    return best


def given_reference_rows(base, name: str, kind: str, seed: int, args) -> list[dict]:
    """A given 20 % reference with 10 % flips inside it, valued rows with ``args.rate`` flips: AUROC over the
    valued rows with the reference trusted as is vs marked noisy (cleaned first)."""
    ds = inject_label_noise(base, 0.1, kind=kind, seed=seed + 1000)  # the reference's own flips
    ref = split_target(base, 0.2, seed=seed).is_target
    flipped_ref = ds.noisy & ref
    valued = inject_label_noise(base.replace(is_target=ref), args.rate, kind=kind, seed=seed)
    labels = np.where(ref, ds.labels, valued.labels)
    given = valued.replace(labels=labels, meta={**valued.meta, "target": "20 % with 10 % flips"})
    noisy = given.noisy[given.valued_index]
    out = []
    for method in args.methods:
        for trust in ("trusted", "noisy"):
            start = time.perf_counter()
            res = run_valuation(mark_reference(given, trust), method, seed=seed)
            out.append({"dataset": name, "kind": kind, "seed": seed, "n": len(given), "method": method,
                        "mode": f"given reference, 10 % flips, {trust}", "coverage": 0.8,
                        "auroc": roc_auc_score(noisy, -res.values), "per_fold": np.nan,
                        "seconds": time.perf_counter() - start, "ref_flips": int(flipped_ref.sum())})
            print(out[-1], flush=True)
    return out


def per_fold_auroc(result, noisy: np.ndarray) -> float:
    """Mean AUROC inside each fold (the values before the merge); NaN for a direct (fold-free) run."""
    if "fold" not in result.extras or crossfit.SCHEME != "valued_fold":
        return float("nan")
    fold = np.asarray(result.extras["fold"])
    return float(np.mean([roc_auc_score(noisy[fold == f], -result.values[fold == f])
                          for f in np.unique(fold) if 0 < noisy[fold == f].sum() < (fold == f).sum()]))


def run(args) -> pd.DataFrame:
    rows = []
    for name in args.datasets:
        base = LOADERS[name]()
        for kind in args.kinds:
            for seed in args.seeds:
                ds = inject_label_noise(base, args.rate, kind=kind, seed=seed)
                noisy = ds.noisy
                common = {"dataset": name, "kind": kind, "seed": seed, "n": len(ds)}
                for method in args.methods:
                    for share, scheme in itertools.product(args.clean_shares, args.schemes):
                        crossfit.CLEAN_SHARE, crossfit.SCHEME = share, scheme
                        crossfit.FIRST_PASS = args.first_pass
                        start = time.perf_counter()
                        res = run_valuation(ds, method, seed=seed)
                        rows.append({**common, "method": method, "mode": f"every row ({scheme}, clean {share:g})",
                                     "coverage": 1.0, "auroc": roc_auc_score(noisy, -res.values),
                                     "per_fold": per_fold_auroc(res, noisy), "seconds": time.perf_counter() - start})
                        print(rows[-1], flush=True)
                    if not args.no_carve:
                        start = time.perf_counter()
                        carved = carve(ds, 0.2, seed)
                        res = run_valuation(carved, method, seed=seed)
                        rows.append({**common, "method": method, "mode": "carve 20 %", "coverage": 0.8,
                                     "auroc": roc_auc_score(noisy[carved.valued_index], -res.values),
                                     "per_fold": np.nan, "seconds": time.perf_counter() - start})
                        print(rows[-1], flush=True)
                if args.given_reference:
                    rows += given_reference_rows(base, name, kind, seed, args)
                if not args.no_cleanlab:
                    model, auroc, seconds = cleanlab_best(ds, seed)
                    rows.append({**common, "method": f"cleanlab ({model})", "mode": "every row", "coverage": 1.0,
                                 "auroc": auroc, "per_fold": np.nan, "seconds": seconds})
                    print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame, args) -> str:
    cmd = "python benchmarks/every_row.py " + " ".join(sys.argv[1:])
    lines = [f"# Every row valued without a reference ({args.rate:.0%} flips in all rows)", "",
             f"Machine: {machine_line()}", "", f"Command: `{cmd}`", "",
             "AUROC of −value against the flips, mean over seeds "
             f"{', '.join(map(str, args.seeds))}. *coverage*: share of rows valued. *per fold*: mean AUROC inside "
             "each fold before the merge. cleanlab: best of LR / HGB / RF / kNN per run.", "",
             "| dataset | noise | method | mode | coverage | AUROC | per fold | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    frame = frame.assign(method=frame["method"].str.replace(r"cleanlab \(.*\)", "cleanlab (best model)", regex=True))
    for (ds, kind, method, mode), g in frame.groupby(["dataset", "kind", "method", "mode"], sort=False):
        lines.append(f"| {ds} | {kind} | {method} | {mode} | {g['coverage'].mean():.1f} | {g['auroc'].mean():.4f} | "
                     f"{g['per_fold'].mean():.4f} | {g['seconds'].mean():.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "breast_cancer", "gapminder_cat"], choices=LOADERS)
    p.add_argument("--kinds", nargs="+", default=["uniform", "pair"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--methods", nargs="+", default=["knn_shapley", "consensus"])
    p.add_argument("--clean-shares", nargs="+", type=float, default=[crossfit.CLEAN_SHARE])
    p.add_argument("--schemes", nargs="+", default=[crossfit.SCHEME], choices=("valued_fold", "reference_fold"))
    p.add_argument("--first-pass", default=None, help="registry name of the first pass's method (tuning)")
    p.add_argument("--no-carve", action="store_true")
    p.add_argument("--no-cleanlab", action="store_true")
    p.add_argument("--given-reference", action="store_true",
                   help="also a given 20 %% reference holding 10 %% flips, trusted vs marked noisy")
    p.add_argument("--out", default="benchmarks/results/every_row.md")
    args = p.parse_args()
    frame = run(args)
    out = Path(args.out)
    frame.to_csv(out.with_suffix(".csv"), index=False)
    out.write_text(markdown(frame, args))
    print(out.read_text())


if __name__ == "__main__":
    main()
