"""``dataval issues``: duplicates, near duplicates, outliers and reference copies of DATA, written to ISSUES.csv.

:mod:`dataval_core.cli` registers the verb (:func:`add_options`) and runs :func:`issues_table`
between its shared steps (checking ``--out``, loading DATA with the data options, writing
atomically); the checks themselves are :mod:`dataval_core.data_issues`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .backend import BACKENDS
from .data_issues import ISSUE_TITLES, DataIssues, IssueParams, dataset_issues
from .dataset import Dataset
from .params import build, specs
from .progress import ProgressCallback


def add_options(p: argparse.ArgumentParser) -> None:
    """The verb's own options (the data options come from the CLI's shared set)."""
    names = ", ".join(f"{s.name} (default {s.default})" for s in specs(IssueParams))
    p.add_argument("--embedding", help="features the distances are measured in, as for `dataval value` (default: "
                                       "raw; a learned embedding is replaced by raw)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"check parameter, repeatable: {names}")
    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="where the nearest-neighbour chunks run: this machine (default) or a Ray cluster")
    p.add_argument("--ray-address", metavar="ADDR", help="Ray cluster to join (with --backend ray)")
    p.add_argument("--out", required=True, help="output ISSUES.csv, one row per sample (never one of the input "
                                                 "files; written atomically)")


def checked_params(pairs: list[str]) -> IssueParams:
    """``--param KEY=VALUE`` pairs as validated parameters, before any data is loaded.

    Raises:
        ValueError: a malformed pair, an unknown name or a value out of range (one sentence).
    """
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param expects KEY=VALUE, got {pair!r}.")
        values[key.strip()] = value
    return build(IssueParams, values, "issues")


def issues_table(args: argparse.Namespace, dataset: Dataset, params: IssueParams, work: str,
                 progress: ProgressCallback | None = None) -> tuple[pd.DataFrame, DataIssues]:
    """Run the checks on the loaded DATA; returns ISSUES.csv's table and the result."""
    from .backend import get_backend

    if args.ray_address and args.backend != "ray":
        raise ValueError("--ray-address needs --backend ray.")
    backend = get_backend(args.backend, args.ray_address)
    issues = dataset_issues(dataset, args.embedding, params=params, seed=args.seed,
                            cache_dir=Path(work) / "cache", backend=backend, progress=progress)
    return issues.frame, issues


def summary(issues: DataIssues, out: str) -> str:
    """The lines said on stderr once ISSUES.csv is written."""
    f = issues.frame
    counts = issues.counts()
    exact = f["exact_group"].dropna()
    near = f["near_group"].dropna()
    where = ("against the given reference" if issues.reference == "given"
             else "against the whole set, each row left out of its own reference (no reference given)")
    lines = [f"wrote {out} ({len(f):,} rows) in {issues.seconds:.1f} s; distances in the {issues.embedding} "
             f"embedding, outliers {where}",
             f"exact duplicates: {exact.nunique():,} groups, {len(exact):,} rows",
             f"near duplicates (closer than {issues.threshold:.4g} = {issues.params.near_ratio:g} x the median "
             f"nearest-neighbour distance): {near.nunique():,} groups, {len(near):,} rows"]
    lines += [f"{ISSUE_TITLES[kind].lower()}: {counts[kind]:,} rows"
              for kind in ("conflicting_duplicates", "outliers", "reference_copies")
              if kind != "reference_copies" or issues.reference == "given"]
    return "\n".join(f"dataval: {line}" if i else line for i, line in enumerate(lines))
