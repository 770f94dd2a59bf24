"""The ``dataval`` command line (docs/cli.md): list methods, value a dataset, evaluate values, map, curve.

Errors print one line to stderr and exit non-zero; never a traceback (``--debug`` shows it).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

EXIT_USAGE, EXIT_ERROR, EXIT_CANCELLED = 2, 1, 130


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("dataval: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # one clear line, not a traceback, for any failure
        if getattr(args, "debug", False):
            raise
        from .progress import Cancelled

        if isinstance(exc, Cancelled):
            print("dataval: cancelled", file=sys.stderr)
            return EXIT_CANCELLED
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:
            message = f"no such file or folder: {exc.filename}"
        known = isinstance(exc, (ValueError, OSError, ImportError))
        print(f"dataval: error: {message}" if known else f"dataval: internal error ({type(exc).__name__}): {message}",
              file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dataval", description="Find mislabeled and noisy samples by data valuation.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("methods", help="list the valuation methods and their parameters")
    m.set_defaults(func=cmd_methods)

    v = sub.add_parser("value", help="value every non-target sample of DATA and write VALUES.csv")
    v.add_argument("data", help="CSV/Parquet file, zip or folder of images, or sample:<name> (bundled)")
    v.add_argument("--label", help="label column (tables; images take labels from folders or the manifest)")
    v.add_argument("--id-column", help="column holding stable sample ids (default: row number)")
    tg = v.add_mutually_exclusive_group()
    tg.add_argument("--target", help="a separate file of the same kind and schema: the reference set")
    tg.add_argument("--target-col", help="boolean column marking trusted (target) rows")
    tg.add_argument("--target-frac", type=float, help="stratified random fraction held out as target (default 0.2)")
    v.add_argument("--method", default="knn_shapley", help="valuation method (see `dataval methods`)")
    v.add_argument("--embedding", help="raw, pca, pca:<k>, target_trained, torchvision:<arch>, columns:<prefix> "
                                       "(default: the method's own)")
    v.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter, repeatable")
    v.add_argument("--inject-noise", type=float, metavar="RATE", help="flip this fraction of valued labels first")
    v.add_argument("--noise-kind", choices=("uniform", "pair"), default="uniform",
                   help="uniform: to a random other class; pair: to the most confusable class")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--out", required=True, help="output VALUES.csv")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_value)

    e = sub.add_parser("evaluate", help="detection metrics of a VALUES.csv written with --inject-noise")
    e.add_argument("values", help="VALUES.csv from `dataval value`")
    e.set_defaults(func=cmd_evaluate)
    _add_task_verbs(sub)
    return p


def cmd_methods(args) -> int:
    from .params import specs
    from .registry import list_valuators

    for spec in list_valuators():
        print(f"{spec.name:<12} {spec.summary}")
        cls = spec.load()
        for s in specs(cls.Params):
            print(f"    {s.name}={s.default!r}  ({s.describe_range()}) {s.help}")
        print(f"    default embedding: {cls.default_embedding}")
    return 0


def _parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param expects KEY=VALUE, got {pair!r}.")
        out[key.strip()] = value
    return out


def load_for_cli(data: str, *, label: str | None, id_column: str | None, workdir: str, task: str | None = None):
    """Load DATA (a path or ``sample:<name>``) as a Dataset."""
    from .io import load_dataset
    from .samples import load_sample

    if data.startswith("sample:"):
        return load_sample(data.split(":", 1)[1])
    path = Path(data)
    if not path.exists():
        raise ValueError(f"no such file or folder: {data}")
    return load_dataset(path, label=label, id_column=id_column, workdir=workdir, task=task)


def cmd_value(args) -> int:
    from .noise import inject_label_noise
    from .progress import stderr_bar
    from .registry import get_spec
    from .runner import run_valuation
    from .targets import split_target, target_from_column, with_target_file

    get_spec(args.method)  # unknown method: fail before loading anything
    params = _parse_params(args.param)
    with tempfile.TemporaryDirectory(prefix="dataval-") as work:
        ds = load_for_cli(args.data, label=args.label, id_column=args.id_column, workdir=str(Path(work) / "data"))
        if args.target:
            target = load_for_cli(args.target, label=args.label or ds.label_column, id_column=args.id_column,
                                  workdir=str(Path(work) / "target"), task=ds.task)
            ds = with_target_file(ds, target)
        elif args.target_col:
            ds = target_from_column(ds, args.target_col)
        else:
            frac = 0.2 if args.target_frac is None else args.target_frac
            if not 0 < frac < 1:
                raise ValueError(f"--target-frac must be between 0 and 1 (exclusive), got {frac}.")
            ds = split_target(ds, frac, seed=args.seed)
        if args.inject_noise is not None:
            ds = inject_label_noise(ds, args.inject_noise, kind=args.noise_kind, seed=args.seed)
        progress = None if args.quiet else stderr_bar()
        result = run_valuation(ds, args.method, embedding=args.embedding, params=params, seed=args.seed,
                               progress=progress)
        frame = values_frame(ds, result)
    out = Path(args.out)
    if out.parent and not out.parent.exists():
        raise ValueError(f"output folder does not exist: {out.parent}")
    frame.to_csv(out, index=False)
    noisy = frame["injected_noise"].sum() if "injected_noise" in frame else None
    extra = f", {int(noisy)} with injected noise" if noisy is not None else ""
    print(f"wrote {out} ({int((frame['role'] == 'valued').sum())} valued and "
          f"{int((frame['role'] == 'target').sum())} target rows{extra}) in {result.timings['total']:.1f} s",
          file=sys.stderr)
    return 0


def values_frame(ds, result) -> pd.DataFrame:
    """VALUES.csv (docs/data-formats.md): the app's values table for one run, with unsuffixed column names."""
    from .export import values_table

    frame = values_table(ds, {"run": result})
    return frame.rename(columns={"value__run": "value", "rank__run": "rank", "suggested__run": "suggested_label"})


def cmd_evaluate(args) -> int:
    from .evaluation import detection_metrics

    path = Path(args.values)
    if not path.is_file():
        raise ValueError(f"no such file: {args.values}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable CSV ({type(exc).__name__}).") from None
    for col in ("value", "injected_noise"):
        if col not in frame:
            raise ValueError(f"{path.name} has no {col!r} column; "
                             "write it with `dataval value ... --inject-noise RATE`.")
    valued = frame[frame["role"] == "valued"] if "role" in frame else frame
    metrics = detection_metrics(valued["value"].to_numpy(float), valued["injected_noise"].to_numpy() == 1)
    print(f"samples valued:        {len(valued)}")
    print(f"noisy (k):             {metrics['k']}")
    print(f"AUROC(noisy, -value):  {metrics['auroc']:.4f}")
    print(f"precision@k:           {metrics['precision_at_k']:.4f}")
    print(f"recall@k:              {metrics['recall_at_k']:.4f}")
    print(f"2-means F1:            {metrics['kmeans_f1']:.4f}")
    return 0


# -- map and curve: the app's background engine steps (dataval_core.tasks) from the command line -------------
def _add_task_verbs(sub) -> None:
    mp = sub.add_parser("map", help="2-D map (UMAP or PCA) of the valued samples of DATA, written to MAP.csv")
    _add_data_options(mp)
    mp.add_argument("--embedding", help="embedding to map, as for `dataval value` (default: raw)")
    mp.add_argument("--layout", choices=("auto", "umap", "pca"), default="auto",
                    help="auto: UMAP up to 20,000 points, PCA above (default)")
    mp.add_argument("--out", required=True, help="output MAP.csv (id, x, y)")
    mp.set_defaults(func=cmd_map)

    c = sub.add_parser("curve", help="point-removal curve of a VALUES.csv: model score after removing the "
                                     "lowest-valued vs random samples, written to CURVE.csv")
    c.add_argument("values", help="VALUES.csv from `dataval value` on DATA with the same data options")
    _add_data_options(c)
    c.add_argument("--embedding", help="features the model is trained on (default: raw)")
    c.add_argument("--out", required=True, help="output CURVE.csv (fraction, strategy, score)")
    c.set_defaults(func=cmd_curve)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="CSV/Parquet file, zip or folder of images, or sample:<name> (bundled)")
    p.add_argument("--label", help="label column (tables)")
    p.add_argument("--id-column", help="column holding stable sample ids (default: row number)")
    tg = p.add_mutually_exclusive_group()
    tg.add_argument("--target", help="a separate file of the same kind and schema: the reference set")
    tg.add_argument("--target-col", help="boolean column marking trusted (target) rows")
    tg.add_argument("--target-frac", type=float, help="stratified random fraction held out as target (default 0.2)")
    p.add_argument("--inject-noise", type=float, metavar="RATE", help="flip this fraction of valued labels first")
    p.add_argument("--noise-kind", choices=("uniform", "pair"), default="uniform")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _dataset_from_args(args, work: str):
    """DATA with its target rows and injected noise, exactly as `dataval value` builds it from the same options."""
    from .noise import inject_label_noise
    from .targets import split_target, target_from_column, with_target_file

    ds = load_for_cli(args.data, label=args.label, id_column=args.id_column, workdir=str(Path(work) / "data"))
    if args.target:
        target = load_for_cli(args.target, label=args.label or ds.label_column, id_column=args.id_column,
                              workdir=str(Path(work) / "target"), task=ds.task)
        ds = with_target_file(ds, target)
    elif args.target_col:
        ds = target_from_column(ds, args.target_col)
    else:
        frac = 0.2 if args.target_frac is None else args.target_frac
        if not 0 < frac < 1:
            raise ValueError(f"--target-frac must be between 0 and 1 (exclusive), got {frac}.")
        ds = split_target(ds, frac, seed=args.seed)
    if args.inject_noise is not None:
        ds = inject_label_noise(ds, args.inject_noise, kind=args.noise_kind, seed=args.seed)
    return ds


def _out_path(out: str) -> Path:
    path = Path(out)
    if not path.parent.exists():
        raise ValueError(f"output folder does not exist: {path.parent}")
    return path


def cmd_map(args) -> int:
    from .progress import stderr_bar
    from .tasks import dataset_map

    out = _out_path(args.out)
    with tempfile.TemporaryDirectory(prefix="dataval-") as work:
        ds = _dataset_from_args(args, work)
        result = dataset_map(ds, args.embedding, seed=args.seed, method=args.layout, cache_dir=Path(work) / "cache",
                             progress=None if args.quiet else stderr_bar())
    result.frame.to_csv(out, index=False)
    print(f"wrote {out} ({len(result.frame)} points; {result.note}) in {result.seconds:.1f} s", file=sys.stderr)
    return 0


def cmd_curve(args) -> int:
    from .progress import stderr_bar
    from .result import ValuationResult
    from .tasks import removal_curves

    out = _out_path(args.out)
    values = _read_values_csv(Path(args.values))
    with tempfile.TemporaryDirectory(prefix="dataval-") as work:
        ds = _dataset_from_args(args, work)
        valued = ds.ids[~ds.is_target]
        frame = values.set_index("id").reindex(valued)
        if frame["value"].isna().any() or len(values) != len(valued):
            raise ValueError(f"{Path(args.values).name} does not value exactly the valued rows of {args.data} with "
                             "these options; pass the data options used for `dataval value`.")
        labels = ds.label_names()[~ds.is_target].astype(str)
        if "label" in frame and (frame["label"].astype(str).to_numpy() != labels).any():
            raise ValueError(f"The labels in {Path(args.values).name} differ from those of {args.data} with these "
                             "options (noise injected with another rate or seed?); pass the options used for "
                             "`dataval value`.")
        result = ValuationResult(ids=valued, values=frame["value"].to_numpy(float), method="values",
                                 embedding=args.embedding or "", seed=args.seed)
        curve = removal_curves(ds, {"values": result}, cache_dir=Path(work) / "cache",
                               progress=None if args.quiet else stderr_bar())
    curve.drop(columns="run").to_csv(out, index=False)
    print(f"wrote {out} ({len(curve)} rows)", file=sys.stderr)
    return 0


def _read_values_csv(path: Path) -> pd.DataFrame:
    """The valued rows (id, value, label) of a VALUES.csv."""
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path, dtype={"id": str, "label": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable CSV ({type(exc).__name__}).") from None
    for col in ("id", "value"):
        if col not in frame:
            raise ValueError(f"{path.name} has no {col!r} column; write it with `dataval value`.")
    return frame[frame["role"] == "valued"] if "role" in frame else frame


if __name__ == "__main__":
    sys.exit(main())
