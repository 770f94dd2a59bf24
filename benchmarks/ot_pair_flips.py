"""lava / sava on confusable-pair label flips: what each calibration changes.

Bundled MNIST 5k, a stratified 20 % target set (1,000 images), 20 % of the valued labels
flipped to their most confusable class (``inject_label_noise(kind="pair")``), the
methods' default embedding (``target_trained``). For each seed the same embedded problem
is scored by variants of the OT score, built from the engine's own pieces
(``_ot.label_cost`` + ``_ot.pair_scores``, which is what ``lava`` runs):

- ``label_weight`` (weight of the class-distance W in the ground cost);
- W estimated as now (valued class c vs target class c', so the noisy labels leak into
  it) or from the clean target set alone (W[c, c] = 0, W[c, c'] = W2² of target classes);
- ``relabel_weight`` 0 (the paper's calibrated gradient) or 1 (plus the relabel gain);
- the suggested label: the class receiving the row's transport mass (before) or the
  nearest target row's class (now).

Then ``lava`` and ``sava`` themselves with their defaults. AUROC of -value against the
flips; "right on flips" = share of flipped rows whose suggestion is the true class; "clean kept" =
share of unflipped rows whose suggestion is their given label (the defaults use the
nearest-target suggestion, so both pairs of columns repeat it).

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/ot_pair_flips.py --seeds 3 4 5 \\
        --out benchmarks/results/ot_pair_flips.md
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine_line
from dataval_core import get_valuator
from dataval_core.embeddings import build_problem
from dataval_core.methods import _ot
from dataval_core.noise import inject_label_noise
from dataval_core.samples import load_sample
from dataval_core.targets import split_target


def target_w(problem) -> np.ndarray:
    """W from the clean target set alone: W2² between target classes, 0 on the diagonal."""
    xt, yt, c = np.asarray(problem.x_target, dtype=np.float64), problem.y_target, problem.n_classes
    w = np.zeros((c, c))
    for a in range(c):
        for b in range(a + 1, c):
            w[a, b] = w[b, a] = _ot.emd_cost(xt[yt == a], xt[yt == b])
    return w


def mass_suggestion(problem, w, label_weight) -> np.ndarray:
    """The previous suggestion: the target class receiving most of the row's mass."""
    cost = _ot.augmented_cost(problem.x, problem.y, problem.x_target, problem.y_target, w, label_weight)
    plan = _ot.solve_duals(cost, "exact").plan
    onehot = np.eye(problem.n_classes)[problem.y_target]
    return np.argmax(plan @ onehot, axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--kind", default="pair")
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    base = load_sample(args.dataset)
    results: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as cache:
        for seed in args.seeds:
            ds = inject_label_noise(split_target(base, 0.2, seed=seed), 0.2, kind=args.kind, seed=seed)
            noisy = ds.noisy[ds.valued_index]
            truth = np.asarray(ds.original_labels)[ds.valued_index]
            problem = build_problem(ds, "target_trained", seed=seed, cache_dir=cache)
            y = problem.y
            ws = {"noisy-label W": _ot.label_cost(problem.x, y, problem.x_target, problem.y_target,
                                                  problem.classes, per_class=1000,
                                                  rng=np.random.default_rng(seed), source="valued"),
                  "target-only W": target_w(problem)}

            def add(name, values, *suggestions):
                row = [roc_auc_score(noisy, -values)]
                for sug in suggestions:
                    row += [np.mean(sug[noisy] == truth[noisy]), np.mean(sug[~noisy] == y[~noisy])]
                results.setdefault(name, []).append(row)
                print(f"seed {seed} {name}: {np.round(row, 3)}", flush=True)

            for wname, w in ws.items():
                for lw in (0.5, 1.0, 2.0):
                    mass = mass_suggestion(problem, w, lw)
                    for rw in (0.0, 1.0):
                        s = _ot.pair_scores(problem.x, y, problem.x_target, problem.y_target, w, label_weight=lw,
                                            relabel_weight=rw, solver="exact", reg=0.05)
                        add(f"{wname}, label_weight {lw:g}, relabel_weight {rw:g}", -s.harm, mass,
                            s.nearest_class)
            for method in ("lava", "sava"):
                t = time.perf_counter()
                r = get_valuator(method, {}, seed=seed).fit(problem)
                codes = {name: i for i, name in enumerate(problem.classes)}
                sug = np.array([codes[s] for s in r.suggested_labels])
                add(f"**{method}, defaults**", r.values, sug, sug)
                print(f"  {method} {time.perf_counter() - t:.1f} s")
    if args.out:
        lines = ["# lava / sava on confusable-pair flips", "", f"Machine: {machine_line()}", "",
                 f"Command: `flock /tmp/dataval-bench.lock nice .venv/bin/python {' '.join(sys.argv)}`", "",
                 f"Data: bundled {args.dataset}, 20% stratified target, 20% {args.kind} flips of the valued labels, "
                 f"target_trained embedding, seeds {args.seeds}. Exact OT. Mean over seeds (per-seed AUROC in "
                 "brackets).", "",
                 "| variant | AUROC flips | mass suggestion: right on flips | clean kept "
                 "| nearest-target suggestion: right on flips | clean kept |", "|---|---:|---:|---:|---:|---:|"]
        for name, rs in results.items():
            a = np.array(rs)
            lines.append(f"| {name} | {a[:, 0].mean():.3f} ({', '.join(f'{v:.3f}' for v in a[:, 0])}) | "
                         + " | ".join(f"{v:.2f}" for v in a[:, 1:].mean(0)) + " |")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
