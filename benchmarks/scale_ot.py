"""Time and peak memory of ``sava`` (streaming from a memory-mapped .npy) and of dense
``lava`` (until it refuses) as the number of valued rows N grows.

Data: a 10-class Gaussian mixture in d = 64 (centres N(0, 3²) per coordinate, unit noise),
20 % of valued labels flipped uniformly to another class, a clean target set of 5,000
rows. The valued rows are written once to ``<data-dir>/x.npy`` (float32, in chunks) and
every run opens the first N rows with ``np.load(mmap_mode="r")``, so RAM is not the limit.
Raw features go straight into ``Problem.from_arrays`` (no embedding step).

Every (method, N) runs in a fresh child process; its whole-process peak RSS and CPU time
come from ``os.wait4``. The child also resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``) right before ``fit`` and reads ``VmHWM`` after it, which
isolates the valuation itself from building the ``Problem`` (whose finite-value check
reads every row once and leaves those file pages mapped until ``sava`` releases them).

    flock /tmp/dataval-bench.lock .venv/bin/python benchmarks/scale_ot.py \\
        --out benchmarks/results/scale_ot.md
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_CLASSES, SEP, FLIP = 10, 3.0, 0.2


def generate(data_dir: Path, n: int, m: int, d: int, seed: int = 0, chunk: int = 100_000) -> None:
    """Write x.npy (n, d) float32, y.npy, flipped.npy, xt.npy, yt.npy to ``data_dir``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, SEP, (N_CLASSES, d)).astype(np.float32)
    yt = rng.integers(0, N_CLASSES, m)
    xt = centers[yt] + rng.normal(size=(m, d)).astype(np.float32)
    y_true = rng.integers(0, N_CLASSES, n)
    flipped = rng.random(n) < FLIP
    y = np.where(flipped, (y_true + rng.integers(1, N_CLASSES, n)) % N_CLASSES, y_true)
    x = np.lib.format.open_memmap(data_dir / "x.npy.part", mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        x[start:stop] = centers[y_true[start:stop]] + rng.normal(size=(stop - start, d)).astype(np.float32)
    x.flush()
    del x
    for name, arr in [("y", y), ("flipped", flipped), ("xt", xt), ("yt", yt)]:
        np.save(data_dir / f"{name}.npy", arr)
    os.replace(data_dir / "x.npy.part", data_dir / "x.npy")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def child(method: str, n: int, data_dir: Path, params: dict) -> dict:
    """One run in this (fresh) process; returns a JSON-able record."""
    from sklearn.metrics import roc_auc_score

    from dataval_core import Problem, get_valuator
    from dataval_core.methods.sava import release_pages

    x = np.load(data_dir / "x.npy", mmap_mode="r")[:n]
    y = np.load(data_dir / "y.npy")[:n]
    flipped = np.load(data_dir / "flipped.npy")[:n]
    xt, yt = np.load(data_dir / "xt.npy"), np.load(data_dir / "yt.npy")
    t = time.perf_counter()
    # compact string ids, as a dataset's own ids would be (from_arrays' default ids are
    # '<U21', 84 MB per million rows, and the result keeps a copy)
    problem = Problem.from_arrays(x, y, xt, yt, ids=np.arange(n).astype(f"U{len(str(n))}"))
    t_problem = time.perf_counter() - t
    release_pages(problem.x)
    rss_before = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS mark (VmHWM)
        reset = True
    except OSError:
        reset = False
    record = {"method": method, "n": n, "m": len(xt), "d": x.shape[1], "params": params,
              "problem_s": t_problem, "rss_before_fit_mib": rss_before / 1024}
    import resource

    t, cpu = time.perf_counter(), time.process_time()
    try:
        result = get_valuator(method, params, seed=0).fit(problem)
    except ValueError as exc:
        record.update(status="refused", message=str(exc), fit_s=time.perf_counter() - t)
        return record
    if reset:  # read before the AUROC check below, whose sorts and copies of n rows are not fit's
        record["fit_peak_rss_mib"] = _status_kib("VmHWM") / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker processes, joined by now
    record.update(status=result.status, fit_s=time.perf_counter() - t,
                  fit_cpu_s=time.process_time() - cpu + workers.ru_utime + workers.ru_stime,
                  worker_peak_rss_mib=workers.ru_maxrss / 1024,
                  timings={k: round(v, 2) for k, v in result.timings.items()},
                  finite=bool(np.isfinite(result.values).all()),
                  auroc=float(roc_auc_score(flipped, -result.values)))
    return record


def growth_lines(records: list[dict]) -> list[str]:
    """How sava's main fit peak and time grow from its second-smallest to its largest N."""
    sava = sorted((r for r in records if r["method"] == "sava" and "fit_peak_rss_mib" in r), key=lambda r: r["n"])
    if len(sava) < 2:
        return []
    lo, hi = sava[-2], sava[-1]
    return [f"sava from N = {lo['n']:,} to {hi['n']:,} ({hi['n'] / lo['n']:g}x rows): main fit peak "
            f"{lo['fit_peak_rss_mib']:.0f} -> {hi['fit_peak_rss_mib']:.0f} MiB "
            f"({hi['fit_peak_rss_mib'] / lo['fit_peak_rss_mib']:.2f}x), fit time "
            f"{hi['fit_s'] / lo['fit_s']:.1f}x.", ""]


def run_child(method: str, n: int, data_dir: Path, params: dict, timeout: float) -> dict:
    """Run one size in a fresh interpreter; add its peak RSS and CPU time from wait4."""
    with tempfile.TemporaryFile("w+") as out:
        cmd = [sys.executable, __file__, "--child", method, "--n", str(n), "--data-dir", str(data_dir),
               "--params", json.dumps(params)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.5)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    record = json.loads(lines[-1]) if lines else {"method": method, "n": n, "status": "failed",
                                                   "message": text[-2000:] or f"exit status {status}"}
    record.update(process_wall_s=wall, process_cpu_s=usage.ru_utime + usage.ru_stime,
                  process_peak_rss_mib=usage.ru_maxrss / 1024)
    return record


def fmt_row(r: dict) -> str:
    if r["status"] in ("refused", "failed"):
        return (f"| {r['method']} | {r['n']:,} | {r['status']} | | | | | {r['process_peak_rss_mib']:.0f} | | |")
    worker = f"{r['worker_peak_rss_mib']:.0f}" if r.get("worker_peak_rss_mib") else "–"
    return (f"| {r['method']} | {r['n']:,} | {r['status']} | {r['fit_s']:.1f} | {r['fit_cpu_s']:.1f} "
            f"| {r.get('fit_peak_rss_mib', float('nan')):.0f} | {worker} | {r['process_peak_rss_mib']:.0f} "
            f"| {r['fit_s'] / r['n'] * 1e3:.3f} | {r['auroc']:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sava-sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--lava-sizes", type=int, nargs="*", default=[2_500, 5_000, 10_000, 20_000],
                   help="increasing; stops after the first refusal")
    p.add_argument("--m", type=int, default=5_000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "dataval_scale_ot")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per child")
    p.add_argument("--out", type=Path)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.n, args.data_dir, json.loads(args.params))), flush=True)
        return

    n_max = max([*args.sava_sizes, *args.lava_sizes, 0])
    args.data_dir.mkdir(parents=True, exist_ok=True)
    x_path = args.data_dir / "x.npy"
    if not x_path.exists() or np.load(x_path, mmap_mode="r").shape != (n_max, args.d) or \
            len(np.load(args.data_dir / "yt.npy")) != args.m:
        t = time.perf_counter()
        # in a child: Linux carries a process's peak RSS across fork + exec into each run's
        # wait4 figure, so this process must never hold the generated arrays itself
        writer = multiprocessing.get_context("spawn").Process(target=generate,
                                                              args=(args.data_dir, n_max, args.m, args.d))
        writer.start()
        writer.join()
        if writer.exitcode != 0:
            sys.exit(f"writing the data to {args.data_dir} failed (exit code {writer.exitcode})")
        print(f"wrote {x_path} ({n_max:,} x {args.d} float32) in {time.perf_counter() - t:.0f} s", flush=True)

    records = []
    for n in args.sava_sizes:
        r = run_child("sava", n, args.data_dir, {"batch_size": args.batch_size}, args.timeout)
        records.append(r)
        print(json.dumps(r), flush=True)
    for n in args.lava_sizes:
        r = run_child("lava", n, args.data_dir, {}, args.timeout)
        records.append(r)
        print(json.dumps(r), flush=True)
        if r["status"] in ("refused", "failed"):
            break

    if args.out:
        from benchmarks._machine import machine_line

        lines = [
            "# OT valuation at scale: sava streaming from disk, dense lava until it refuses",
            "",
            f"Machine: {machine_line()}",
            "",
            f"Command: `flock /tmp/dataval-bench.lock .venv/bin/python {' '.join(sys.argv)}`",
            "",
            f"Data: {N_CLASSES}-class Gaussian mixture, d = {args.d}, centres N(0, {SEP:g}²), unit noise, "
            f"{FLIP:.0%} of valued labels flipped uniformly; {args.m:,} clean target rows; valued rows read "
            f"from a float32 .npy with `np.load(mmap_mode=\"r\")`; raw features. sava: batch size "
            f"{args.batch_size}, exact (network simplex) pair duals, threads = all cores. lava: defaults "
            f"(exact, max_memory_gb = 4).",
            "",
            "Each row is a fresh process. *fit s*: wall time of `fit` only (the machine is shared with other "
            "work, so wall time is noisy). *fit CPU s*: CPU time of `fit`, main process plus sava's worker "
            "processes (it uses forked workers from 2e7 valued x target rows on: POT's network simplex holds "
            "the GIL). *main fit peak MiB*: peak RSS of the main process during `fit` (kernel mark reset just "
            "before it). *worker peak MiB*: largest peak RSS of one worker process (there are 2; forked, so "
            "part of it is pages shared with the main process). *process peak MiB*: whole-process peak RSS "
            "of the main process from `wait4`, including interpreter, imports and building the `Problem` "
            "(its finite-value check reads every row of the memory map once; those clean file pages count "
            "in RSS until `sava` releases them) and the AUROC check after `fit` (sklearn sorts and copies the "
            "n values). *AUROC*: flipped rows found by low value (sanity check). Row ids are compact strings "
            "('<U7', 28 bytes a row), as `Problem.from_arrays` makes them.",
            "",
            "| method | N valued | status | fit s | fit CPU s | main fit peak MiB | worker peak MiB "
            "| process peak MiB | ms / row | AUROC flips |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
            *[fmt_row(r) for r in records],
            "",
            *growth_lines(records),
        ]
        for r in records:
            if r["status"] == "refused":
                lines += [f"lava at N = {r['n']:,} refused: \"{r['message']}\"", ""]
            elif r["status"] == "failed":
                lines += [f"{r['method']} at N = {r['n']:,} failed: `{r['message'][-500:]}`", ""]
        lines += ["Stage timings (s):", ""]
        lines += [f"- {r['method']} N = {r['n']:,}: {r['timings']}" for r in records if "timings" in r]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
