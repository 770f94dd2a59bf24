"""LossVal detection quality and time on the bundled digits and MNIST (20 % uniform label noise).

The protocol of ``benchmarks/detect.py``: a stratified 20 % target set, labels of the valued
rows flipped uniformly at rate 0.2, lossval with its default embedding, AUROC(noisy, −value).
One torch thread (the training methods' default). ``--params`` overrides lossval parameters
(JSON), so variants are compared on the same seeds; each run prints one JSON line.

    flock /tmp/dataval-bench.lock nice .venv/bin/python benchmarks/lossval_quality.py --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from dataval_core.evaluation import detection_metrics
from dataval_core.noise import inject_label_noise
from dataval_core.runner import run_valuation
from dataval_core.samples import load_sample
from dataval_core.targets import split_target


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
            print(json.dumps({"variant": args.label, "params": params, "dataset": name, "seed": seed,
                              "auroc": round(m["auroc"], 4), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                              "method_s": round(result.timings["total"], 2)}), flush=True)


if __name__ == "__main__":
    main()
