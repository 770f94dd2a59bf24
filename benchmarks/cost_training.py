"""Cost of the training-based valuators relative to plain training of the same model.

N = 10,000 valued rows of a 10-class Gaussian mixture in d = 64 (20 % labels flipped, so the
AUROC column is a sanity check), 2,000 clean target rows. For each method (defaults, the
valuator's own MLP 128,32) one plain training run is timed with ``_plain_training.plain_training``
on the valued rows with the method's epochs and batch size, and the ratio method / plain is
reported. DVGS trains on the target set only, so its model training is also shown on those
rows (``plain_training`` on the 2,000 target rows with DVGS's epochs and batch size).

Every timing is the best of ``--repeats`` runs after a warm-up run of each code path on a
tiny problem (first calls import parts of torch), with a fixed number of torch threads.

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/cost_training.py
    python benchmarks/cost_training.py --n 2000 --m 500 --repeats 1 --out /tmp/cost.md   # smoke
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line
from _plain_training import plain_training

from dataval_core import torch_models
from dataval_core.methods.dvemb import DVEmbParams
from dataval_core.methods.dvgs import DVGSParams
from dataval_core.methods.lossval import LossValParams
from dataval_core.problem import Problem
from dataval_core.registry import get_valuator


def mixture(n: int, m: int, d: int = 64, classes: int = 10, flip: float = 0.2, seed: int = 0):
    """Gaussian mixture (class means N(0, 1), within-class sd 1.5); ``flip`` of valued labels moved."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (classes, d))
    y = rng.integers(0, classes, n + m)
    x = (centers[y] + rng.normal(0.0, 1.5, (n + m, d))).astype(np.float32)
    yv = y[:n].copy()
    noisy = np.zeros(n, bool)
    idx = rng.choice(n, int(flip * n), replace=False)
    noisy[idx] = True
    yv[idx] = (yv[idx] + rng.integers(1, classes, len(idx))) % classes
    return Problem.from_arrays(x[:n], yv, x[n:], y[n:]), noisy


def plain(x, y, epochs: int, batch_size: int, hidden=(128, 32)) -> None:
    model = torch_models.make_model(x.shape[1], int(y.max()) + 1, hidden=hidden, seed=0)
    plain_training(model, x, y, epochs=epochs, batch_size=batch_size, seed=0)


def best(fn, repeats: int):
    """(best wall s, best process CPU s, last output) over ``repeats`` calls."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), out


METHODS = {  # method: (epochs, batch size) of its own training, from its defaults
    "lossval": (LossValParams().epochs, LossValParams().batch_size),
    "dvgs": (DVGSParams().epochs, DVGSParams().target_batch_size),
    "dvemb": (DVEmbParams().epochs, DVEmbParams().batch_size),
}


NOTES = """Notes.

* Plain-training times of the same step count vary up to 2.5× between rows (about 1,570 steps each:
  10×157, 20×79, 5×313): the machine is shared, so single ratios carry that noise; the conclusions
  (DVGS and DVEmb well under 5×) do not depend on it.
* DVGS before the dense-layer shortcut (commit 85bcc2c): 33.2 s, 4.3× on the same data (smoke run,
  same machine). The time was 20 scoring points × per-sample gradients of all 12,778 parameters for
  10,000 rows, materialised by ``torch.func.vmap``. Cosine similarity only needs ⟨g_i, g_T⟩ and ‖g_i‖;
  for a dense layer g_i = δ_i a_iᵀ, so ⟨g_i, G⟩ = δ_iᵀ G a_i and ‖g_i‖² = ‖δ_i‖²‖a_i‖² from one
  forward/backward (``nn.per_sample_grad_dots``; exact, checked against the vmapped gradients in
  ``tests/test_training_methods.py``; conv layers fall back to vmap). Same values, same AUROC.
* DVEmb: training with per-sample output-layer gradients recorded every step (5 epochs, batch 32)
  plus the backward recursion on 330-dim gradients; no change was needed.
* LossVal: each step compares the batch with one chunk of 256 target rows (cycled) and runs 5
  warm-started Sinkhorn iterations instead of 30 cold ones against all 2,000 target rows; before
  that change it cost 31.9× here (104 s, AUROC 0.995). What each part of the change costs in AUROC
  on digits and MNIST: ``benchmarks/results/lossval.md``."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--m", type=int, default=2_000)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "cost_training.md"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    problem, noisy = mixture(args.n, args.m)
    x, y = problem.x, problem.y

    tiny, _ = mixture(200, 50, seed=1)  # warm-up: imports and first-call overheads out of the timings
    plain(tiny.x, tiny.y, 1, 64)
    for name in args.methods:
        get_valuator(name, {"epochs": 1}, seed=0).fit(tiny)

    rows = []
    for name in args.methods:
        epochs, batch = METHODS[name]
        t_plain, c_plain, _ = best(lambda: plain(x, y, epochs, batch), args.repeats)
        t_method, c_method, result = best(lambda: get_valuator(name, {}, seed=0).fit(problem), args.repeats)
        auroc = roc_auc_score(noisy, -result.values)
        row = {"method": name, "epochs": epochs, "batch": batch, "plain": t_plain, "method_s": t_method,
               "ratio": t_method / t_plain, "cpu_plain": c_plain, "cpu_method": c_method,
               "cpu_ratio": c_method / c_plain, "auroc": auroc, "target_plain": None}
        if name == "dvgs":
            row["target_plain"], _, _ = best(lambda: plain(problem.x_target, problem.y_target, epochs, batch),
                                             args.repeats)
        rows.append(row)
        print(f"{name:<8} plain {t_plain:.2f}s ({c_plain:.2f} CPU)  method {t_method:.2f}s ({c_method:.2f} CPU)  "
              f"ratio {t_method / t_plain:.2f}x wall, {c_method / c_plain:.2f}x CPU  AUROC {auroc:.3f}"
              + (f"  (target-only training {row['target_plain']:.2f}s)" if row["target_plain"] else ""), flush=True)

    lines = ["# Cost of training-based valuators vs plain training", "",
             f"Machine: {machine_line()}", "", f"Command: `python {' '.join(sys.argv)}`", "",
             f"Data: {args.n:,} valued rows, 10-class Gaussian mixture in d = 64 (20 % labels flipped), "
             f"{args.m:,} clean target rows. Model: the valuators' default MLP 64→128→32→10. Torch threads: "
             f"{args.threads}. CPU only. Times: best of {args.repeats} runs after a warm-up, wall clock, on a "
             "2-core machine shared with other jobs (timed runs hold /tmp/dataval-bench.lock, but tests and apps "
             "of other agents may still run), so the CPU-time ratio (bold) is the steadier one.", "",
             "Plain = `benchmarks/_plain_training.py` (Adam) of the same model on the valued rows "
             "with the method's "
             "epochs and batch size (for DVGS: its epochs and target batch size). Method = "
             "`get_valuator(name, {}).fit(problem)` with default parameters (defaults include the training, "
             "the scoring and everything else the valuator does).", "",
             ("| method | epochs | batch | plain training (s) | method (s) | ratio, wall | plain CPU (s) | "
              "method CPU (s) | ratio, CPU | AUROC (flipped, −value) |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['epochs']} | {r['batch']} | {r['plain']:.2f} | {r['method_s']:.2f} | "
                     f"{r['ratio']:.2f}× | {r['cpu_plain']:.2f} | {r['cpu_method']:.2f} | **{r['cpu_ratio']:.2f}×** | "
                     f"{r['auroc']:.3f} |")
    for r in rows:
        if r["target_plain"]:
            lines += ["", f"DVGS trains its model on the {args.m:,} target rows only; plain training of that model "
                          f"({r['epochs']} epochs, batch {r['batch']}) takes {r['target_plain']:.2f} s, so relative "
                          f"to its own training DVGS costs {r['method_s'] / r['target_plain']:.1f}×: the rest is "
                          "scoring every valued row's gradient at the scoring points."]
    lines += ["", NOTES]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
