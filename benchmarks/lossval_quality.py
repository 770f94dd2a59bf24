"""LossVal detection quality and time on the bundled digits and MNIST (20 % uniform label noise).

The protocol of ``benchmarks/detect.py``: a stratified 20 % target set, labels of the valued
rows flipped uniformly at rate 0.2, lossval with its default embedding, AUROC(noisy, −value).
One torch thread (the training methods' default). ``--params`` overrides lossval parameters
(JSON), so variants are compared on the same seeds; each run prints one JSON line, with the
CPU time of one plain training run of the same model (``_plain_training``, lossval's epochs and batch
size, on the same valued rows) and the ratio of the two.

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/lossval_quality.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _plain_training import plain_training

from dataval_core import torch_models
from dataval_core.embeddings import build_problem
from dataval_core.evaluation import detection_metrics
from dataval_core.methods.lossval import LossValParams
from dataval_core.noise import inject_label_noise
from dataval_core.params import build
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample
from dataval_core.targets import split_target


def plain_training_cpu(ds, params: LossValParams, seed: int) -> float:
    """CPU seconds of one plain training run of lossval's model on the valued rows (its epochs and batch)."""
    problem = build_problem(ds, "raw", seed=seed)
    hidden = tuple(int(h) for h in params.hidden.split(","))
    model = torch_models.make_model(problem.x.shape[1], problem.n_classes, problem.image_shape, hidden=hidden,
                                    seed=seed)
    cpu = time.process_time()
    plain_training(model, problem.x, problem.y, epochs=params.epochs, batch_size=params.batch_size, lr=params.lr,
                   seed=seed)
    return time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--params", default="{}", help="lossval parameter overrides as JSON")
    p.add_argument("--label", default="", help="a name for this variant in the output")
    args = p.parse_args()
    torch.set_num_threads(1)
    params = json.loads(args.params)
    for name in args.datasets:
        base = load_sample(name)
        for seed in args.seeds:
            ds = inject_label_noise(split_target(base, 0.2, seed=seed), 0.2, kind="uniform", seed=seed)
            noisy = ds.noisy[ds.valued_index]
            wall, cpu = time.perf_counter(), time.process_time()
            result = run_valuation(ds, "lossval", params=params, seed=seed)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            m = detection_metrics(result.values, noisy)
            plain_cpu = plain_training_cpu(ds, build(LossValParams, params, "lossval"), seed)
            print(json.dumps({"variant": args.label, "params": params, "dataset": name, "seed": seed,
                              "auroc": round(m["auroc"], 4), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                              "method_s": round(result.timings["total"], 2), "plain_cpu_s": round(plain_cpu, 2),
                              "cpu_ratio": round(cpu / plain_cpu, 2)}), flush=True)


if __name__ == "__main__":
    main()
