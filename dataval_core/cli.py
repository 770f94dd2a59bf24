"""The ``dataval`` command line (docs/cli.md): list methods, value a dataset, evaluate values, map, curve,
issues.

Errors print one line to stderr and exit non-zero; never a traceback (``--debug`` shows it).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from .backend import BACKENDS
from .targets import DEFAULT_FOLDS, REFERENCE_TRUST

EXIT_USAGE, EXIT_ERROR, EXIT_CANCELLED = 2, 1, 130
#: seeds numpy accepts
MAX_SEED = 2**32 - 1


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (``dataval: error: ...``), like every other error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"dataval: error: {message} (see `{self.prog} --help`)\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer from 0 to {MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed must be an integer from 0 to {MAX_SEED}, got {value}")
    return value


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
    p = _OneLineParser(prog="dataval", description="Find mislabeled and noisy samples by data valuation.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("methods", help="list the valuation methods and their parameters")
    m.set_defaults(func=cmd_methods)

    v = sub.add_parser("value", help="value the samples of DATA (every row when no reference is given) and write "
                                     "VALUES.csv")
    _add_data_options(v)
    v.add_argument("--method", default="consensus", help="valuation method (see `dataval methods`; default: "
                   "consensus, the recommended portfolio)")
    v.add_argument("--embedding", help=f"the features the method sees (default: the method's own): "
                                       f"{_embeddings_help()}")
    v.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter, repeatable")
    v.add_argument("--out", required=True, help="output VALUES.csv (never one of the input files; written "
                                                 "atomically, so a failed run leaves no partial file)")
    v.add_argument("--backend", choices=BACKENDS, default="local",
                   help="where sava, knn_shapley, data_oob (consensus's members too) and the pretrained image "
                        "embeddings run their tasks: this machine (default) or a Ray cluster; same values either way")
    v.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join (e.g. 10.0.0.5:6379); default $DATAVAL_RAY_ADDRESS, else a running "
                        "cluster, else a local Ray on this machine's cores")
    v.set_defaults(func=cmd_value)

    e = sub.add_parser("evaluate", help="detection metrics of a VALUES.csv written with --inject-noise")
    e.add_argument("values", help="VALUES.csv from `dataval value`")
    e.set_defaults(func=cmd_evaluate)

    h = sub.add_parser("health", help="check that the app's workspace can be written (exit 1 when it cannot)")
    h.add_argument("--workspace", help="workspace folder (default: $DATAVAL_WORKSPACE or ./.dataval)")
    h.set_defaults(func=cmd_health)

    g = sub.add_parser("gc", help="prune old datasets, runs, uploads and caches from the app's workspace")
    g.add_argument("--workspace", help="workspace folder (default: $DATAVAL_WORKSPACE or ./.dataval)")
    g.add_argument("--older-than", type=float, default=30.0, metavar="DAYS",
                   help="remove what has not been used for this many days (default 30)")
    g.add_argument("--max-gb", type=float, metavar="GB",
                   help="then remove caches, then the least recently used datasets, until the workspace fits")
    g.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    g.set_defaults(func=cmd_gc)
    _add_task_verbs(sub)
    from .issues_cli import add_options

    i = sub.add_parser("issues", help="exact and near duplicates (conflicting labels flagged), outliers and copies "
                                      "of reference rows in DATA, one row per sample in ISSUES.csv")
    _add_data_options(i)
    add_options(i)
    i.set_defaults(func=cmd_issues)
    return p


def _embeddings_help() -> str:
    """Every embedding with its one line of help, from the embeddings table (argparse escapes: %%)."""
    from .embeddings import EMBEDDINGS

    return "; ".join(f"{' or '.join(e.forms)}: {e.help}" for e in EMBEDDINGS.values()).replace("%", "%%")


def cmd_methods(args) -> int:
    from .params import specs
    from .registry import list_valuators

    for spec in list_valuators():
        cls = spec.load()
        print(f"{spec.name:<12} {cls.summary}")
        print(f"    a low value: {cls.low_value}")
        reference = "needed" if cls.needs_reference else "not needed"
        print(f"    labels: {', '.join(cls.tasks())}; reference rows: {reference}; "
              f"default embedding: {cls.default_embedding}")
        print(f"    cost: {cls.cost}")
        for s in specs(cls.Params):
            print(f"    {s.name}={s.default!r}  ({s.describe_range()}) {s.help}")
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
    """Load DATA (a path or ``sample:<name>``) as a Dataset.

    Without ``--label`` a table's label column is guessed; the guess and the columns left out of
    the features (truth-like, ids, free text) are said on stderr at once, before any work starts.
    """
    from .columns import describe_left_out
    from .io import load_dataset
    from .samples import load_sample

    if data.startswith("sample:"):
        return load_sample(data.split(":", 1)[1])
    path = Path(data)
    if not path.exists():
        raise ValueError(f"no such file or folder: {data}")
    ds = load_dataset(path, label=label, id_column=id_column, workdir=workdir, task=task)
    for line in (ds.meta.get("label_guess"), describe_left_out(ds.meta.get("left_out", {}))):
        if line:
            print(f"dataval: {line}", file=sys.stderr)
    return ds


def _input_path(data: str) -> str:
    """The file or folder behind DATA; ``sample:<name>`` is the bundled file (never to be overwritten either)."""
    if not data.startswith("sample:"):
        return data
    from .samples import SAMPLE_DIR, SAMPLES

    info = next((s for s in SAMPLES if s.name == data.split(":", 1)[1]), None)
    return str(SAMPLE_DIR / info.path) if info is not None else data


def check_out(out: str, inputs: list[str]) -> Path:
    """The resolved ``--out`` path, checked before anything is loaded.

    Refuses a path that is (through symlinks, ``..`` or hard links) one of the input
    files or lies inside an input folder, an existing folder, and a missing or
    read-only parent folder.
    """
    path = Path(out).expanduser()
    if out.strip() == "" or path.name in ("", ".", ".."):
        raise ValueError(f"--out must name a file, got {out!r}.")
    target = path.resolve()
    for given in inputs:
        src = Path(given).expanduser()
        if not src.exists():
            continue
        real = src.resolve()
        same = target == real or (target.exists() and os.path.samefile(target, real))
        if same or (real.is_dir() and target.is_relative_to(real)):
            where = "is the input" if same else "is inside the input folder"
            raise ValueError(f"--out {out} {where} {given}; choose another output file so the data is not "
                             "overwritten.")
    if target.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {Path(out) / 'values.csv'}.")
    parent = target.parent
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {path.parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"output folder is not writable: {path.parent}")
    return target


def write_atomically(frame: pd.DataFrame, out: Path) -> None:
    """Write the CSV to a temporary file next to ``out``, then rename it over ``out``.

    The file gets the permissions a plain write would give (an existing file's, else the umask's).
    """
    if out.exists():
        mode = out.stat().st_mode & 0o777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", newline="") as f:
            frame.to_csv(f, index=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_value(args) -> int:
    from .params import build
    from .progress import stderr_bar
    from .registry import get_spec
    from .runner import run_valuation
    from .targets import describe_mode

    spec = get_spec(args.method)  # unknown method or bad parameters: fail before loading anything
    params = _parse_params(args.param)
    build(spec.load().Params, params, args.method)
    out = check_out(args.out, [_input_path(a) for a in (args.data, args.target) if a])
    with tempfile.TemporaryDirectory(prefix="dataval-") as work:
        ds = _dataset_from_args(args, work)
        progress = None if args.quiet else stderr_bar()
        backend = _backend(args)
        result = run_valuation(ds, args.method, embedding=args.embedding, params=params, seed=args.seed,
                               progress=progress, backend=backend)
        frame = values_frame(ds, result)
    write_atomically(frame, out)
    for note in ds.notes:
        print(f"dataval: {note}", file=sys.stderr)
    print(f"dataval: {describe_mode(ds)}", file=sys.stderr)
    noisy = frame["injected_noise"].sum() if "injected_noise" in frame else None
    extra = f", {int(noisy)} with injected noise" if noisy is not None else ""
    n_ref = int((frame["role"] == "target").sum())
    unvalued = f"; {n_ref} rows not valued (the reference)" if n_ref else ""
    print(f"wrote {args.out} ({int((frame['role'] == 'valued').sum())} of {len(frame)} rows valued{unvalued}{extra}) "
          f"in {result.timings['total']:.1f} s", file=sys.stderr)
    return 0


def _backend(args):
    """The compute backend of ``--backend``/``--ray-address``; says on stderr where a Ray run computes
    (and, in one line, when the method computes on this machine whatever the backend)."""
    from .backend import get_backend
    from .registry import local_only_note

    if args.ray_address and args.backend != "ray":
        raise ValueError("--ray-address needs --backend ray.")
    backend = get_backend(args.backend, args.ray_address)
    if args.backend == "ray":
        print(f"computing on {backend.describe()}", file=sys.stderr)
        note = local_only_note(args.method)
        if note:
            print(f"dataval: {note}", file=sys.stderr)
    return backend


def values_frame(ds, result) -> pd.DataFrame:
    """VALUES.csv: the app's values table for one run, with unsuffixed column names (docs/cli.md)."""
    from .export import values_table

    frame = values_table(ds, {"run": result})
    return frame.rename(columns={"value__run": "value", "percentile__run": "percentile", "rank__run": "rank",
                                 "suggested__run": "suggested_label"})


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
            raise ValueError(f"{path.name} has no {col!r} column; write it with "
                             "`dataval value ... --inject-noise RATE`.")
    valued = frame[frame["role"] == "valued"] if "role" in frame else frame
    metrics = detection_metrics(valued["value"].to_numpy(float), valued["injected_noise"].to_numpy() == 1)
    print(f"samples valued:        {len(valued)}")
    print(f"noisy (k):             {metrics['k']}")
    print(f"AUROC(noisy, -value):  {metrics['auroc']:.4f}")
    print(f"precision@k:           {metrics['precision_at_k']:.4f}")
    print(f"recall@k:              {metrics['recall_at_k']:.4f}")
    print(f"2-means F1:            {metrics['kmeans_f1']:.4f}")
    return 0


def cmd_health(args) -> int:
    from .workspace import check_workspace

    health = check_workspace(args.workspace)
    print(f"workspace {health.root}: {health.message}", file=sys.stdout if health.ok else sys.stderr)
    return 0 if health.ok else EXIT_ERROR


def cmd_gc(args) -> int:
    from .workspace import Workspace

    if not args.older_than >= 0 or (args.max_gb is not None and not args.max_gb > 0):
        raise ValueError("--older-than must be >= 0 days and --max-gb > 0.")
    ws = Workspace(args.workspace)
    removed = ws.gc(older_than_days=args.older_than, max_gb=args.max_gb, dry_run=args.dry_run)
    for kind, name, size in removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {kind:<8} {name}  ({size / 1e6:.1f} MB)")
    total = sum(size for _, _, size in removed)
    print(f"{len(removed)} items, {total / 1e6:.1f} MB{' (dry run: nothing removed)' if args.dry_run else ''}",
          file=sys.stderr)
    return 0



def cmd_issues(args) -> int:
    from .issues_cli import checked_params, issues_table, summary
    from .progress import stderr_bar

    params = checked_params(args.param)  # bad parameters: fail before loading anything
    out = check_out(args.out, [_input_path(a) for a in (args.data, args.target) if a])
    with tempfile.TemporaryDirectory(prefix="dataval-") as work:
        ds = _dataset_from_args(args, work)
        frame, issues = issues_table(args, ds, params, work, None if args.quiet else stderr_bar())
    write_atomically(frame, out)
    print(summary(issues, args.out), file=sys.stderr)
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
    p.add_argument("--label", help="label column (tables; images take labels from folders or the manifest)")
    p.add_argument("--id-column", help="column holding stable sample ids (default: row number)")
    tg = p.add_mutually_exclusive_group()
    tg.add_argument("--target", help="a separate file of the same kind and schema: the reference set")
    tg.add_argument("--target-col", help="boolean column marking trusted (target) rows")
    tg.add_argument("--target-frac", type=float, help="a fixed stratified random fraction held out as the reference; "
                    "its rows are not valued (default: no reference, every row valued by cross-fitting)")
    p.add_argument("--reference", choices=REFERENCE_TRUST, default="trusted",
                   help="with --target, --target-col or --target-frac: trusted (default) uses the reference as is; "
                        "noisy cleans it first of the rows a first pass suspects")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                   help=f"without a reference: rotating folds every row is valued in (default {DEFAULT_FOLDS})")
    p.add_argument("--inject-noise", type=float, metavar="RATE",
                   help="corrupt this fraction of valued rows first (the truth goes to the output's injected_noise)")
    p.add_argument("--noise-kind", choices=("uniform", "pair", "feature"), default="uniform",
                   help="uniform: flip the label to a random other class; pair: to the most confusable class; "
                        "feature: add Gaussian noise to the row's features (labels untouched)")
    p.add_argument("--noise-scale", type=float, default=1.0,
                   help="std of the feature noise, in standardised feature units (pixel units for images; default 1)")
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto (default): text labels and integers with at most 50 distinct values are classes, "
                        "other numbers a regression target; the choice and its reason are printed")
    p.add_argument("--seed", type=_seed, default=0, help=f"random seed, 0 to {MAX_SEED}")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _dataset_from_args(args, work: str):
    """DATA with its target rows and injected noise from the data options (`value`, `map` and `curve` share them)."""
    from .noise import inject_feature_noise, inject_label_noise
    from .targets import load_target_file, mark_reference, no_reference, split_target, target_from_column

    if args.target_frac is not None and not 0 < args.target_frac < 1:
        raise ValueError(f"--target-frac must be between 0 and 1 (exclusive), got {args.target_frac}.")
    given = args.target or args.target_col or args.target_frac is not None
    if args.reference == "noisy" and not given:
        raise ValueError("--reference noisy needs a reference (--target, --target-col or --target-frac); without "
                         "one every row is valued by cross-fitting, which cleans its references already.")
    if args.inject_noise is not None and not 0 <= args.inject_noise < 1:
        raise ValueError(f"--inject-noise must be at least 0 and below 1, got {args.inject_noise}.")
    ds = load_for_cli(args.data, label=args.label, id_column=args.id_column,
                      task=None if args.task == "auto" else args.task, workdir=str(Path(work) / "data"))
    if args.target:
        if not args.target.startswith("sample:") and not Path(args.target).exists():
            raise ValueError(f"no such file or folder: {args.target}")
        ds = load_target_file(ds, args.target, workdir=str(Path(work) / "target"))
    elif args.target_col:
        ds = target_from_column(ds, args.target_col)
    elif args.target_frac is not None:
        ds = split_target(ds, args.target_frac, seed=args.seed)
    else:
        ds = no_reference(ds, args.folds)
    if given:
        ds = mark_reference(ds, args.reference)
    if args.inject_noise is not None and args.noise_kind == "feature":
        ds = inject_feature_noise(ds, args.inject_noise, scale=args.noise_scale, seed=args.seed)
    elif args.inject_noise is not None:
        ds = inject_label_noise(ds, args.inject_noise, kind=args.noise_kind, seed=args.seed)
    return ds


def cmd_map(args) -> int:
    from .progress import stderr_bar
    from .tasks import dataset_map

    out = check_out(args.out, [_input_path(a) for a in (args.data, args.target) if a])
    with tempfile.TemporaryDirectory(prefix="dataval-") as work:
        ds = _dataset_from_args(args, work)
        result = dataset_map(ds, args.embedding, seed=args.seed, method=args.layout, cache_dir=Path(work) / "cache",
                             progress=None if args.quiet else stderr_bar())
    write_atomically(result.frame, out)
    print(f"wrote {out} ({len(result.frame)} points; {result.note}) in {result.seconds:.1f} s", file=sys.stderr)
    return 0


def cmd_curve(args) -> int:
    from .progress import stderr_bar
    from .result import ValuationResult
    from .tasks import removal_curves

    out = check_out(args.out, [_input_path(a) for a in (args.values, args.data, args.target) if a])
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
    write_atomically(curve.drop(columns="run"), out)
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
