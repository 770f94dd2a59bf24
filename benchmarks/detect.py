"""Detection benchmark: every registered method on the bundled data, uniform and pair label noise.

For each dataset × noise kind × rate × seed: hold out a stratified 20 % target set,
flip labels of the valued rows only, run the method with its defaults (and default
embedding), and score AUROC(noisy, −value) and precision@k (k = #flipped).
Writes ``benchmarks/results/detection.md`` (mean ± sd over seeds, mean run time).

    python benchmarks/detect.py                          # everything (slow: tens of minutes)
    python benchmarks/detect.py --datasets digits --rates 0.2 --kinds uniform
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

from dataval_core.evaluation import detection_metrics  # noqa: E402
from dataval_core.noise import inject_label_noise  # noqa: E402
from dataval_core.registry import list_valuators  # noqa: E402
from dataval_core.runner import run_valuation  # noqa: E402
from dataval_core.samples import load_sample  # noqa: E402
from dataval_core.targets import split_target  # noqa: E402

DATASETS = ("digits", "mnist", "breast_cancer")


def run(datasets, methods, kinds, rates, seeds, cache_dir, save) -> pd.DataFrame:
    """All runs as a frame; ``save(frame)`` is called after every noise setting, so a long run keeps its rows."""
    rows = []
    for name in datasets:
        base = load_sample(name)
        for kind in kinds:
            for rate in rates:
                for seed in seeds:
                    ds = inject_label_noise(split_target(base, 0.2, seed=seed), rate, kind=kind, seed=seed)
                    noisy = ds.noisy[ds.valued_index]
                    for method in methods:
                        start = time.perf_counter()
                        try:
                            result = run_valuation(ds, method, seed=seed, cache_dir=cache_dir)
                        except ValueError as exc:  # e.g. a method refusing a dataset: record, keep going
                            print(f"{name} {kind} {rate} {seed} {method}: skipped ({exc})", file=sys.stderr)
                            continue
                        m = detection_metrics(result.values, noisy)
                        rows.append({"dataset": name, "kind": kind, "rate": rate, "seed": seed, "method": method,
                                     "embedding": result.embedding, "auroc": m["auroc"],
                                     "p_at_k": m["precision_at_k"], "seconds": time.perf_counter() - start})
                        print(f"{name:<13} {kind:<7} {rate:.0%} seed {seed} {method:<12} "
                              f"AUROC {m['auroc']:.3f} P@k {m['precision_at_k']:.3f} "
                              f"{rows[-1]['seconds']:.1f}s", flush=True)
                save(pd.DataFrame(rows))
    return pd.DataFrame(rows)


KEY = ["dataset", "kind", "rate", "seed", "method"]


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` rows that ``new`` did not rerun, then ``new``: update part of the table without redoing all."""
    rerun = old.set_index(KEY).index.isin(new.set_index(KEY).index)
    return pd.concat([old[~rerun], new], ignore_index=True)


def to_markdown(frame: pd.DataFrame) -> str:
    g = frame.groupby(["dataset", "kind", "rate", "method", "embedding"], sort=False)
    table = g.agg(auroc=("auroc", "mean"), auroc_sd=("auroc", "std"), p_at_k=("p_at_k", "mean"),
                  seconds=("seconds", "mean"), seeds=("seed", "nunique")).reset_index()
    methods = [s.name for s in list_valuators()]
    order = {"method": methods, "kind": ["uniform", "pair"], "dataset": list(DATASETS)}

    def rank(col: pd.Series) -> pd.Series:
        known = order.get(col.name)
        return col if known is None else col.map(lambda v: known.index(v) if v in known else len(known))

    table = table.sort_values(["dataset", "kind", "rate", "method"], key=rank, kind="stable")
    at20 = table[table["rate"] == 0.2]
    summary = at20.pivot_table(index="method", columns=["dataset", "kind"], values="auroc", sort=False)
    lines = ["# Detection of injected label noise", "",
             f"Machine: {machine_line()}", "",
             "Commands (a later one reran and replaced its rows):", "",
             *[f"- `{c}`" for c in frame["command"].unique()], "",
             "Target set: stratified 20 % of rows, clean. Noise only in valued rows. AUROC of −value vs the flip "
             "flag (1.0 = every flipped sample ranks below every clean one; 0.5 = chance); P@k: fraction of the "
             "k lowest-valued samples that are flipped, k = number flipped. Time: wall clock, 1 torch thread, on a "
             "machine shared with other jobs (an upper bound); it includes the embedding unless an earlier run "
             "left it in the cache (`--cache-dir`). With two classes (breast_cancer) pair and uniform flips "
             "coincide.", "",
             "AUROC at 20 % noise (mean over seeds):", "",
             "| method | " + " | ".join(f"{d} {k}" for d, k in summary.columns) + " |",
             "|---|" + "---|" * len(summary.columns),
             *[f"| {m} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for m, row in summary.iterrows()], "",
             "| dataset | noise | rate | method | embedding | AUROC (mean ± sd) | P@k | time (s) | seeds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        sd = 0.0 if np.isnan(r.auroc_sd) else r.auroc_sd
        lines.append(f"| {r.dataset} | {r.kind} | {r.rate:.0%} | {r.method} | {r.embedding} | "
                     f"{r.auroc:.3f} ± {sd:.3f} | {r.p_at_k:.3f} | {r.seconds:.1f} | {r.seeds} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--methods", nargs="+", default=[s.name for s in list_valuators()])
    p.add_argument("--kinds", nargs="+", default=["uniform", "pair"])
    p.add_argument("--rates", nargs="+", type=float, default=[0.1, 0.2, 0.4])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "detection.md"))
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: none)")
    p.add_argument("--update", action="store_true",
                   help="keep the rows of an earlier run's CSV next to --out that this run does not redo")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: the small models here gain nothing from more, and it avoids "
                        "oversubscribing a shared machine)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    csv = Path(args.out).with_suffix(".csv")
    old = pd.read_csv(csv) if args.update and csv.exists() else None
    command = "python " + " ".join(sys.argv)

    def save(frame: pd.DataFrame) -> None:
        frame = frame.assign(command=command)
        if old is not None:
            frame = merge(old, frame)
        Path(args.out).write_text(to_markdown(frame))
        frame.to_csv(csv, index=False)

    run(args.datasets, args.methods, args.kinds, args.rates, args.seeds, args.cache_dir, save)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
