"""GPU check: every registered method once on CUDA and once on CPU, same data, same seed.

Run by ``benchmarks/gpu_check.sh`` on a machine with a CUDA GPU. Two child processes value
the same small dataset (bundled digits, 20 % target, 20 % confusable-pair flips): one
with ``CUDA_VISIBLE_DEVICES=""`` (everything on CPU), one with the GPU visible (methods
that use torch pick CUDA; lava and sava also run with ``solver=sinkhorn, device=cuda``,
their GPU path, and with ``device=cpu`` in the CPU child). For every run it prints the
time on each side and the Spearman correlation of the two value vectors; a run passes
when Spearman >= ``--min-spearman`` and both sides finished. Exit status 1 when any run
fails, or when the GPU child sees no GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (run name, method, params for the CPU child, params for the CUDA child)
EXTRA = [("lava sinkhorn", "lava", {"solver": "sinkhorn", "device": "cpu"}, {"solver": "sinkhorn", "device": "cuda"}),
         ("sava sinkhorn", "sava", {"solver": "sinkhorn", "device": "cpu"}, {"solver": "sinkhorn", "device": "cuda"})]


def runs(only: list[str] | None = None):
    from dataval_core.registry import list_valuators

    every = [(s.name, s.name, {}, {}) for s in list_valuators()] + EXTRA
    return [r for r in every if not only or r[1] in only]


def child(side: str, out: Path, dataset: str, seed: int, only: list[str] | None) -> None:
    """Value the dataset with every run on this side; write values and times to ``out``."""
    import torch

    from dataval_core.noise import inject_label_noise
    from dataval_core.runner import run_valuation
    from dataval_core.samples import load_sample
    from dataval_core.targets import split_target

    info = {"cuda": torch.cuda.is_available(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "runs": {}}
    (out / "info.json").write_text(json.dumps(info))
    ds = inject_label_noise(split_target(load_sample(dataset), 0.2, seed=seed), 0.2, kind="pair", seed=seed)
    for name, method, cpu_params, cuda_params in runs(only):
        t = time.perf_counter()
        try:
            result = run_valuation(ds, method, params=cpu_params if side == "cpu" else cuda_params, seed=seed)
            np.save(out / f"{name}.npy", np.asarray(result.values, dtype=np.float64))
            info["runs"][name] = {"s": time.perf_counter() - t, "status": result.status}
        except Exception as exc:  # report and go on: one broken method must not hide the others
            info["runs"][name] = {"s": time.perf_counter() - t, "error": f"{type(exc).__name__}: {exc}"}
        print(f"[{side}] {name}: {info['runs'][name]}", flush=True)
        (out / "info.json").write_text(json.dumps(info))  # after every run: a timed-out child keeps its results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-spearman", type=float, default=0.99)
    p.add_argument("--methods", nargs="+", help="only these methods (default: every registered one)")
    p.add_argument("--timeout", type=float, default=270.0, help="seconds both children may take together")
    p.add_argument("--child", choices=("cpu", "cuda"), help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.dir, args.dataset, args.seed, args.methods)
        return 0

    from scipy.stats import spearmanr

    with tempfile.TemporaryDirectory() as tmp:
        procs, sides = {}, {}
        t = time.perf_counter()
        for side in ("cpu", "cuda"):  # both at once: the GPU machine has the cores, the check has 5 minutes
            d = Path(tmp) / side
            d.mkdir()
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            if side == "cpu":
                env["CUDA_VISIBLE_DEVICES"] = ""
            procs[side] = subprocess.Popen([sys.executable, __file__, "--child", side, "--dir", str(d), "--dataset",
                                            args.dataset, "--seed", str(args.seed)]
                                           + (["--methods", *args.methods] if args.methods else []), env=env)
            sides[side] = d
        for side, proc in procs.items():
            try:
                proc.wait(timeout=max(1.0, args.timeout - (time.perf_counter() - t)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                print(f"{side} child: killed after {args.timeout:.0f} s; runs it did not finish fail", flush=True)
            print(f"{side} child: exit {proc.returncode} at {time.perf_counter() - t:.1f} s", flush=True)
        sides = {side: (d, json.loads((d / "info.json").read_text()) if (d / "info.json").exists() else None)
                 for side, d in sides.items()}
        failures = 0
        cuda_info = sides["cuda"][1]
        if cuda_info is None or not cuda_info["cuda"]:
            print("FAIL gpu: the CUDA child saw no GPU (or crashed); nothing ran on CUDA")
            failures += 1
        else:
            print(f"GPU: {cuda_info['gpu']}")
        for name, *_ in runs(args.methods):
            got = {}
            for side, (d, info) in sides.items():
                run = (info or {}).get("runs", {}).get(name, {"error": "did not finish (crash or timeout)"})
                got[side] = run
            errors = [f"{side}: {r['error']}" for side, r in got.items() if "error" in r]
            if errors:
                print(f"FAIL {name}: " + "; ".join(errors))
                failures += 1
                continue
            a, b = (np.load(sides[side][0] / f"{name}.npy") for side in ("cpu", "cuda"))
            rho = 1.0 if np.array_equal(a, b) else float(spearmanr(a, b).statistic)
            verdict = "PASS" if rho >= args.min_spearman else "FAIL"
            failures += verdict == "FAIL"
            print(f"{verdict} {name}: Spearman(cpu, cuda) = {rho:.4f}; cpu {got['cpu']['s']:.1f} s, "
                  f"cuda {got['cuda']['s']:.1f} s; status {got['cpu']['status']}/{got['cuda']['status']}")
        print(f"{'FAIL' if failures else 'PASS'}: {failures} failing check(s)")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
