"""DVGS autoencoder mode: does it rank rows with noisy features low, in proportion to the noise?

Tabular data (sklearn breast_cancer and digits), features standardised on the clean data. A
stratified-free random 20 % of rows is the clean target set; of the valued rows, 20 % get
Gaussian feature noise x + s_i·N(0, I) with a per-row level s_i ~ U(0, 3) (standardised
units; as in the DVGS paper's tabular noise experiments), so noisy rows differ in how noisy
they are. ``dataval_core.noise.inject_feature_noise`` gives every chosen row the same scale,
so the per-row levels are drawn here.

Reported per dataset, mean ± sd over seeds:
* Spearman(value, s) over all valued rows (clean rows have s = 0) and over the noisy rows only
  (negative = noisier rows valued lower, which is what we want);
* AUROC(noisy, −value).
Rows: DVGS ``mode="autoencoder"`` with default parameters (all layers), the output layer only,
10× the epochs (the target sets are small: 114 / 359 rows, so 20 epochs are 20 / 60 steps), and a reference:
the row's reconstruction error under a PCA fitted on the target (95 % variance),
negated (a no-training baseline any method should beat or match).

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/dvgs_features.py
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line

from dataval_core.problem import Problem
from dataval_core.registry import get_valuator

LOADERS = {"breast_cancer": load_breast_cancer, "digits": load_digits}
VARIANTS = {
    "dvgs autoencoder (defaults)": {"mode": "autoencoder"},
    "dvgs autoencoder, grad_params=last": {"mode": "autoencoder", "grad_params": "last"},
    "dvgs autoencoder, epochs=200": {"mode": "autoencoder", "epochs": 200},
}


def noisy_problem(name: str, seed: int, rate: float, max_sd: float, target_frac: float = 0.2):
    x, y = LOADERS[name](return_X_y=True)
    sd = x.std(0)
    x = (x - x.mean(0)) / np.where(sd > 1e-6, sd, 1.0)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    m = int(round(target_frac * len(x)))
    xt, yt = x[perm[:m]], y[perm[:m]]
    xv, yv = x[perm[m:]].copy(), y[perm[m:]]
    level = np.zeros(len(xv))
    rows = rng.choice(len(xv), int(round(rate * len(xv))), replace=False)
    level[rows] = rng.uniform(0.0, max_sd, len(rows))
    xv += level[:, None] * rng.normal(size=xv.shape)
    return Problem.from_arrays(xv, yv, xt, yt), level


def pca_error(problem: Problem) -> np.ndarray:
    pca = PCA(n_components=0.95, random_state=0).fit(problem.x_target)
    rec = pca.inverse_transform(pca.transform(problem.x))
    return ((problem.x - rec) ** 2).mean(1)


def scores(values: np.ndarray, level: np.ndarray) -> dict:
    noisy = level > 0
    return {"rho_all": spearmanr(values, level)[0], "rho_noisy": spearmanr(values[noisy], level[noisy])[0],
            "auroc": roc_auc_score(noisy, -values)}


NOTES = """Reading the table.

* ρ over all rows has a ceiling well below 1 in magnitude for a continuous value: 80 % of the rows
  share s = 0 (ties), so a value that orders the noisy rows perfectly, puts every clean row above
  them and is untied among the clean rows reaches about −0.70 (simulated); the PCA reference
  (ρ noisy −0.95) sits at −0.64 / −0.65.
* DVGS in autoencoder mode does detect noisy rows (AUROC 0.80 breast_cancer, 0.85 digits with
  defaults) and orders them by noise level only moderately (ρ over noisy rows −0.37 / −0.60). It
  is clearly behind the no-training reference (−PCA reconstruction error fitted on the target:
  AUROC 0.96 / 0.95, ρ noisy −0.96 / −0.95). Cosine similarity discards the gradient's size, and
  the size is what grows with the noise level; a noisy row is seen only through its direction.
* Output-layer gradients only (``grad_params=last``) are worse on both tables.
* More training is not uniformly better: 200 epochs help breast_cancer (114 target rows: 20 epochs
  are only 20 Adam steps at lr 1e-3, the autoencoder has barely moved) and hurt digits (0.85 → 0.64
  AUROC), where the longer-trained autoencoder reconstructs noisy rows' directions as well.
* Seeds vary a lot on breast_cancer (AUROC 0.73–0.89 with defaults): 455 valued rows, 91 noisy."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(LOADERS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--max-sd", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "dvgs_features.md"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            problem, level = noisy_problem(name, seed, args.rate, args.max_sd)
            for label, params in VARIANTS.items():
                t0 = time.perf_counter()
                values = get_valuator("dvgs", params, seed=seed).fit(problem).values
                rows.append({"dataset": name, "seed": seed, "method": label, "n": problem.n,
                             "d": problem.x.shape[1], "s": time.perf_counter() - t0, **scores(values, level)})
                r = rows[-1]
                print(f"{name} seed {seed} {label}: ρ all {r['rho_all']:.3f} ρ noisy {r['rho_noisy']:.3f} "
                      f"AUROC {r['auroc']:.3f} {r['s']:.1f}s", flush=True)
            t0 = time.perf_counter()
            rows.append({"dataset": name, "seed": seed, "method": "reference: −PCA reconstruction error",
                         "n": problem.n, "d": problem.x.shape[1], "s": time.perf_counter() - t0,
                         **scores(-pca_error(problem), level)})

    import pandas as pd

    df = pd.DataFrame(rows)
    g = df.groupby(["dataset", "method"], sort=False)
    mean, sd = g[["rho_all", "rho_noisy", "auroc", "s"]].mean(), g[["rho_all", "rho_noisy", "auroc"]].std()
    size = g[["n", "d"]].first()
    lines = ["# DVGS autoencoder mode on rows with noisy features", "",
             f"Machine: {machine_line()}", "", f"Command: `python {' '.join(sys.argv)}`", "",
             f"Data: sklearn tables standardised, a random 20 % of rows as the clean target set; "
             f"{args.rate:.0%} of the valued rows get x + s·N(0, I) with s ~ U(0, {args.max_sd:g}) per row "
             "(standardised units), the others s = 0. Labels are ignored (autoencoder). Seeds "
             f"{args.seeds} (each: another split, noisy rows, levels and model seed); mean ± sd over seeds. "
             "ρ: Spearman(value, s), negative = noisier rows valued lower (the goal); AUROC(noisy, −value). "
             f"Times: wall clock, {args.threads} torch thread(s), shared 2-core machine.", "",
             "| dataset | valued rows × features | method | ρ(value, s) all rows | ρ(value, s) noisy rows "
             "| AUROC | time (s) |", "|---|---|---|---|---|---|---|"]
    for k in mean.index:
        lines.append(f"| {k[0]} | {size.loc[k, 'n']} × {size.loc[k, 'd']} | {k[1]} | "
                     f"{mean.loc[k, 'rho_all']:.3f} ± {sd.loc[k, 'rho_all']:.3f} | "
                     f"{mean.loc[k, 'rho_noisy']:.3f} ± {sd.loc[k, 'rho_noisy']:.3f} | "
                     f"{mean.loc[k, 'auroc']:.3f} ± {sd.loc[k, 'auroc']:.3f} | {mean.loc[k, 's']:.1f} |")
    lines += ["", NOTES]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
