"""Loaders: CSV, Parquet, image folders and zips into a :class:`Dataset`.

Uploads are untrusted. Every failure is a :class:`DataError` with one specific
line, zips are extracted defensively (no path escapes, no symlinks, size and
entry caps) and every image is validated at load time, so bad input fails at
upload rather than halfway through a run. All rows start as valued rows; choose
the target set afterwards with :mod:`dataval_core.targets`.
"""
from __future__ import annotations

import stat
import tempfile
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .columns import LabelGuess, cell_notes, describe_left_out, guess_label, leave_out
from .dataset import CLASSIFICATION, IMAGE, TABLE, DataError, Dataset, encode_labels, infer_task
from .images import check_image, common_side, first_line, is_image_name, resize_note

#: caps for zip uploads (the declared sizes are checked first, actual bytes while writing)
MAX_ZIP_BYTES = 2 * 1024**3
MAX_ZIP_ENTRIES = 200_000
#: file names operating systems drop into folders; skipped like dotfiles
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})
#: manifest names preferred when a folder holds several CSV files at the top
MANIFEST_NAMES = ("manifest.csv", "labels.csv")
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SNIFF_BYTES = 64 * 1024


def load_dataset(path: str | Path, *, label: str | None = None, id_column: str | None = None,
                 task: str | None = None, workdir: str | Path | None = None,
                 name: str | None = None) -> Dataset:
    """Load a table or an image collection from disk.

    Args:
        path: a ``.csv``, ``.parquet``/``.pq`` or ``.zip`` file, or a folder of images.
        label: the label column (tables, and image manifests; default ``"label"`` there). For a
            table, ``None`` guesses it (:func:`~dataval_core.columns.guess_label`); the reason is
            in ``meta["label_guess"]``, and an unsure guess raises :class:`DataError`.
        id_column: a table column of unique sample ids (default: 0-based row numbers).
        task: ``"classification"`` or ``"regression"`` to override label inference.
        workdir: folder a zip is extracted into (default: a fresh temporary folder,
            which the caller owns and removes).
        name: display name (default: the file or folder name without suffix).

    Returns:
        The dataset, every row valued (``is_target`` all False). Table columns that look like the
        truth, a row id or free text (:func:`~dataval_core.columns.leave_out`) are not feature
        columns; ``meta["left_out"]`` maps each to its reason. Empty and infinite feature cells
        are named in the notes with what replaces them.

    Raises:
        DataError: unreadable, empty, unsupported or inconsistent input, or no label given for a
            table where no column stands out as the label.
    """
    path = Path(path)
    name = name or path.stem or path.name
    if not path.exists():
        raise DataError(f"File not found: {path}.")
    if path.is_dir():
        return _load_image_folder(path, label=label, task=task, name=name)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES and suffix != ".zip":
        raise DataError(f"Unsupported file type {suffix or '(no suffix)'!r} for {path.name}: "
                        "use .csv, .parquet, .zip (images) or a folder of images.")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty.")
    if suffix == ".zip":
        root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="dataval-"))
        extract_zip(path, root)
        return _load_image_folder(root, label=label, task=task, name=name)
    fmt = TABLE_SUFFIXES[suffix]
    frame = _read_csv(path) if fmt == "csv" else _read_parquet(path)
    return _from_table(frame, label, id_column=id_column, task=task, name=name, source_format=fmt)


def load_frame(frame: pd.DataFrame, label: str | None, *, id_column: str | None = None,
               task: str | None = None, name: str = "dataset", source_format: str = "csv") -> Dataset:
    """Build a dataset from an in-memory table (same rules as a CSV upload).

    Args:
        frame: the rows; column dtypes are kept.
        label: the label column (``None``: guessed, as in :func:`load_dataset`).
        id_column: a column of unique sample ids (default: 0-based row numbers).
        task: override label-type inference.
        name: display name.
        source_format: recorded on the dataset (``"csv"`` or ``"parquet"``).

    Raises:
        DataError: missing/unknown label or id column, no rows, no feature columns, bad labels.
    """
    return _from_table(frame, label, id_column=id_column, task=task, name=name, source_format=source_format)


# -- tables -------------------------------------------------------------------------------
def _column_list(columns) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:20])
    return shown + (f", … ({len(names) - 20} more)" if len(names) > 20 else "")


def _from_table(frame: pd.DataFrame, label: str | None, *, id_column: str | None, task: str | None,
                name: str, source_format: str) -> Dataset:
    if frame.shape[1] == 0:
        raise DataError(f"{name} has no columns.")
    guessed = None
    if label is None:
        if len(frame) == 0:
            raise DataError(f"{name} has no rows.")
        guess = guess_label(frame, exclude=() if id_column is None else (id_column,))
        if guess.column is None:
            raise DataError(f"No label column given, and none stands out: {guess.reason.rstrip('.')}; "
                            f"choose one (--label) from: {_column_list(frame.columns)}.")
        label, guessed = guess.column, guess.reason
    if label not in frame.columns:
        raise DataError(f"Label column {label!r} not found; available columns: {_column_list(frame.columns)}.")
    if len(frame) == 0:
        raise DataError(f"{name} has no rows.")
    frame = frame.reset_index(drop=True)
    if id_column is None:
        ids = np.arange(len(frame)).astype(str)
    else:
        if id_column not in frame.columns:
            raise DataError(f"Id column {id_column!r} not found; available columns: {_column_list(frame.columns)}.")
        if id_column == label:
            raise DataError("The id column and the label column must differ.")
        raw = frame[id_column]
        if raw.isna().any():
            raise DataError(f"Id column {id_column!r} has {int(raw.isna().sum())} missing value(s).")
        ids = raw.astype(str).to_numpy()
        dupes = pd.Series(ids)[pd.Series(ids).duplicated()]
        if len(dupes):
            raise DataError(f"Id column {id_column!r} is not unique (e.g. {dupes.iloc[0]!r} repeats).")
    columns = tuple(c for c in frame.columns if c not in (label, id_column))
    if not columns:
        raise DataError(f"{name} has no feature columns besides the label{' and id' if id_column else ''}.")
    left_out = leave_out(frame, label, id_column)
    features = tuple(c for c in columns if str(c) not in left_out)
    if not features:
        raise DataError(f"{name} has no feature columns besides the label. {describe_left_out(left_out)}")
    labels, classes, chosen = encode_labels(frame[label], task)
    meta: dict = {"notes": (infer_task(frame[label], task)[1], *cell_notes(frame, features)),
                  "left_out": left_out}
    if guessed is not None:
        meta["label_guess"] = f"Label column guessed (no --label given): {guessed} Pass --label to choose another."
    if id_column:
        meta["id_column"] = id_column
    return Dataset(ids=ids, labels=labels, classes=classes, task=chosen, modality=TABLE,
                   is_target=np.zeros(len(frame), dtype=bool), table=frame, label_column=label,
                   feature_columns=features, name=name, source_format=source_format, meta=meta)


def table_columns(path: str | Path) -> list[str]:
    """Column names of a CSV or Parquet file, read with the same checks as :func:`load_dataset`.

    The app fills its label-column menu from this, so a file the loader would refuse
    (binary data, duplicate column names, nested Parquet columns) is refused here with
    the same message, and a UTF-8 BOM or a latin-1 header reads the same as in the CLI.

    Raises:
        DataError: not a readable table.
    """
    path = Path(path)
    fmt = _table_format(path)
    if fmt == "parquet":
        return [str(c) for c in _parquet_schema(path).names if not str(c).startswith("__index_level_")]
    return [str(c) for c in _read_csv(path, header_only=True).columns]


def _table_format(path: Path) -> str:
    """``csv`` or ``parquet`` for a non-empty table file; a :class:`DataError` for anything else."""
    fmt = TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path.name} is not a table (.csv, .parquet or .pq).")
    if not path.is_file():
        raise DataError(f"File not found: {path}.")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty.")
    return fmt


def guess_table_label(path: str | Path) -> LabelGuess:
    """The label column :func:`load_dataset` would guess for a CSV or Parquet file, and why.

    For the app's label menu, so it can preselect the guess and show the reason, or ask
    when the guess is unsure.

    Raises:
        DataError: not a readable table.
    """
    path = Path(path)
    fmt = _table_format(path)
    return guess_label(_read_csv(path) if fmt == "csv" else _read_parquet(path))


def read_csv_table(path: str | Path) -> pd.DataFrame:
    """A CSV file read exactly as :func:`load_dataset` reads it (encoding, delimiter, header checks).

    For code that re-reads an uploaded CSV later (the export rewrites an image manifest), so it
    never fails on a file the loader accepted.

    Raises:
        DataError: not a readable CSV.
    """
    return _read_csv(Path(path))


def _looks_binary(head: bytes) -> bool:
    """True for content that is clearly not delimited text."""
    if b"\0" in head:
        return True
    text = head.decode("latin-1")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return controls > max(2, len(text) // 100)


def _csv_encoding(path: Path, head: bytes) -> str:
    """UTF-16 with a BOM, else UTF-8 (a BOM stripped), else latin-1 (every byte is a character)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if _looks_binary(head):
        raise DataError(f"{path.name} is not a CSV text file (it holds binary data).")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a cut multi-byte character at the end of the sniffed block is fine
        if exc.start < len(head) - 3:
            return "latin-1"
    return "utf-8-sig"


def _check_header(names: list, what: str) -> None:
    """Refuse duplicate column names: pandas would rename them ("label.1") and the label could be the wrong one."""
    counts = Counter(str(n) for n in names)
    dupes = sorted(n for n, k in counts.items() if k > 1)
    if dupes:
        raise DataError(f"{what} has duplicate column names: {', '.join(repr(d) for d in dupes[:10])}; "
                        "rename them so each column is named once.")


def _read_csv(path: Path, header_only: bool = False) -> pd.DataFrame:
    """Read a CSV as the CLI and the app both do: sniffed encoding and delimiter, raw header checked first;
    a UTF-8 read that fails past the sniffed block is retried as latin-1."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    encoding = _csv_encoding(path, head)
    sep = _delimiter(head.decode(encoding, errors="ignore").lstrip("\ufeff"))
    for attempt in (encoding, "latin-1"):
        try:
            header = pd.read_csv(path, encoding=attempt, sep=sep, header=None, nrows=1, dtype=str,
                                 keep_default_na=False)
            _check_header(header.iloc[0].tolist() if len(header) else [], path.name)
            frame = pd.read_csv(path, encoding=attempt, sep=sep, nrows=0 if header_only else None)
            break
        except pd.errors.EmptyDataError:
            raise DataError(f"{path.name} has no columns (is it empty?).") from None
        except UnicodeDecodeError:
            if attempt == "latin-1" or encoding == "utf-16":
                raise DataError(f"{path.name} is not text in a known encoding (UTF-8, UTF-16 or latin-1).") from None
        except (pd.errors.ParserError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path.name} could not be parsed as CSV: {first_line(exc)}.") from None
    return frame


def _delimiter(head: str) -> str:
    """``,`` unless the header line has none but a ``;`` (European CSV) or a tab."""
    first = head.split("\n", 1)[0]
    if "," in first:
        return ","
    return ";" if ";" in first else "\t" if "\t" in first else ","


def _parquet_schema(path: Path):
    """The Arrow schema of a Parquet file; refuses non-Parquet data, duplicate and nested columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(path, "rb") as f:
        magic = f.read(4)
        f.seek(max(0, path.stat().st_size - 4))
        tail = f.read(4)
    if path.stat().st_size < 12 or magic != b"PAR1" or tail != b"PAR1":
        raise DataError(f"{path.name} is not a Parquet file.")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for damaged files
        raise DataError(f"{path.name} could not be read as Parquet: {first_line(exc)}.") from None
    names = [n for n in schema.names if not n.startswith("__index_level_")]  # pandas' stored index
    _check_header(names, path.name)
    nested = [f.name for f in schema if pa.types.is_nested(f.type)
              or (pa.types.is_dictionary(f.type) and pa.types.is_nested(f.type.value_type))]
    if nested:
        raise DataError(f"{path.name} has nested (list, struct or map) column(s): {', '.join(map(repr, nested[:10]))}; "
                        "flatten them into plain columns first.")
    return schema


def _read_parquet(path: Path) -> pd.DataFrame:
    _parquet_schema(path)
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for damaged files
        raise DataError(f"{path.name} could not be read as Parquet: {first_line(exc)}.") from None


# -- zips ---------------------------------------------------------------------------------
def _skipped(parts: tuple[str, ...]) -> bool:
    """macOS resource forks, dotfiles and OS junk are ignored everywhere."""
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts) or parts[-1].lower() in JUNK_FILES


def _safe_member_parts(raw: str) -> tuple[str, ...]:
    """The path components of a zip entry, or DataError if it could escape the folder."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"The zip contains an absolute path ({raw!r}); refusing to extract it.")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise DataError(f"The zip contains a path that escapes its folder ({raw!r}); refusing to extract it.")
    return parts


def extract_zip(path: str | Path, dest: str | Path) -> list[str]:
    """Extract an untrusted zip into ``dest``, never writing outside it.

    Entries are checked before anything is written: no absolute paths, no
    ``..`` components, no symlinks, no encrypted entries, at most
    ``MAX_ZIP_ENTRIES`` entries and ``MAX_ZIP_BYTES`` uncompressed. ``__MACOSX/``,
    dotfiles and OS junk files are skipped.

    Args:
        path: the zip file.
        dest: the folder to extract into (created if missing).

    Returns:
        The extracted files, as ``/``-separated paths relative to ``dest``.

    Raises:
        DataError: not a zip, or any entry breaks the rules above.
    """
    path, dest = Path(path), Path(dest)
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path.name} is not a zip archive.")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path.name} is a damaged zip archive: {first_line(exc)}.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise DataError(f"{path.name} has {len(infos)} entries; the limit is {MAX_ZIP_ENTRIES}.")
        plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        seen: dict[tuple[str, ...], int] = {}
        for info in infos:
            parts = _safe_member_parts(info.filename)
            if not parts or info.is_dir() or _skipped(parts):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"The zip contains a symbolic link ({info.filename!r}); refusing to extract it.")
            if info.flag_bits & 0x1:
                raise DataError(f"The zip entry {info.filename!r} is encrypted; upload an unencrypted zip.")
            seen[parts] = seen.get(parts, 0) + 1
            plan.append((info, parts))
        dupes = ["/".join(p) for p, count in seen.items() if count > 1]
        if dupes:
            raise DataError(f"{path.name} holds the same path more than once: {', '.join(dupes[:5])}"
                            f"{f' and {len(dupes) - 5} more' if len(dupes) > 5 else ''}; keep one file per path.")
        declared = sum(info.file_size for info, _ in plan)
        if declared > MAX_ZIP_BYTES:
            raise DataError(f"{path.name} expands to {declared / 1024**3:.1f} GiB; the limit is "
                            f"{MAX_ZIP_BYTES / 1024**3:.0f} GiB.")
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written, budget = [], MAX_ZIP_BYTES
        for info, parts in plan:
            target = root.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(f"The zip entry {info.filename!r} could not be extracted: {first_line(exc)}.") from None
            if not target.resolve().is_relative_to(root):
                raise DataError(f"The zip entry {info.filename!r} would be written outside the upload folder.")
            budget = _copy_member(zf, info, target, budget, path.name)
            written.append("/".join(parts))
    return written


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, zip_name: str) -> int:
    """Copy one entry in chunks, counting real bytes against the size cap."""
    try:
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                budget -= len(chunk)
                if budget < 0:
                    raise DataError(f"{zip_name} expands beyond {MAX_ZIP_BYTES / 1024**3:.0f} GiB; refusing it.")
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise DataError(f"The zip entry {info.filename!r} could not be extracted: {first_line(exc)}.") from None
    return budget


# -- image folders ------------------------------------------------------------------------
def _scan(root: Path) -> list[tuple[str, ...]]:
    """Relative path components of every regular file under ``root`` (junk skipped), sorted."""
    found = []
    for p in root.rglob("*"):
        parts = p.relative_to(root).parts
        if _skipped(parts) or p.is_dir():
            continue
        if p.is_symlink() and not p.resolve().is_relative_to(root):
            raise DataError(f"{'/'.join(parts)} links outside the image folder; refusing it.")
        found.append(parts)
    return sorted(found)


def _content_root(root: Path) -> Path:
    """Descend through a single wrapping folder (``mnist.zip`` holding ``mnist/0/...``)."""
    while True:
        entries = [p for p in root.iterdir() if not _skipped((p.name,))]
        if len(entries) == 1 and entries[0].is_dir():
            sub = entries[0]
            if any(c.is_dir() for c in sub.iterdir() if not _skipped((c.name,))) or \
                    any(c.suffix.lower() == ".csv" for c in sub.iterdir()):
                root = sub
                continue
        return root


def _find_manifest(root: Path, files: list[tuple[str, ...]]) -> Path | None:
    csvs = [f[0] for f in files if len(f) == 1 and f[0].lower().endswith(".csv")]
    if not csvs:
        return None
    if len(csvs) == 1:
        return root / csvs[0]
    for preferred in MANIFEST_NAMES:
        for c in csvs:
            if c.lower() == preferred:
                return root / c
    raise DataError(f"Several CSV files at the top of the image folder ({', '.join(csvs)}); "
                    "keep one manifest (path,label), e.g. manifest.csv.")


def _load_image_folder(folder: Path, *, label: str | None, task: str | None, name: str) -> Dataset:
    root = _content_root(folder.resolve())
    files = _scan(root)
    manifest = _find_manifest(root, files)
    meta: dict = {}
    if manifest is not None:
        ids, raw_labels = _read_manifest(root, manifest, label)
        source = "images-manifest"
        meta = {"manifest_name": manifest.name, "label_column": label or "label"}
        task_note = infer_task(raw_labels, task)[1]
    else:
        ids, raw_labels = _class_folder_layout(files)
        source = "images"
        if task not in (None, CLASSIFICATION):
            raise DataError("Class-folder images are a classification dataset; use a manifest CSV for regression.")
        task = CLASSIFICATION
        task_note = "Task: classification (one folder per class)."
    if not ids:
        raise DataError(f"{name} contains no images (PNG, JPEG, BMP or WebP).")
    sizes = [check_image(root / i, name=i)[:2] for i in ids]
    labels, classes, task = encode_labels(raw_labels, task)
    meta["notes"] = (task_note, resize_note(sizes, common_side(sizes)))
    return Dataset(ids=np.asarray(ids), labels=labels, classes=classes, task=task, modality=IMAGE,
                   is_target=np.zeros(len(ids), dtype=bool), image_root=root, name=name, source_format=source,
                   meta=meta)


def _class_folder_layout(files: list[tuple[str, ...]]) -> tuple[list[str], pd.Series]:
    ids, labels = [], []
    for parts in files:
        rel = "/".join(parts)
        if not is_image_name(rel):
            raise DataError(f"{rel} is not an image (supported: PNG, JPEG, BMP, WebP).")
        if len(parts) == 1:
            raise DataError(f"{rel} is not inside a class folder; put each image in a folder named after its "
                            "class (cat/001.png) or add a manifest CSV with columns path,label.")
        ids.append(rel)
        labels.append(parts[0])
    # folder names that are plain integers sort numerically (2 before 10)
    if labels and all(lab.isdigit() and str(int(lab)) == lab for lab in labels):
        return ids, pd.Series([int(lab) for lab in labels])
    return ids, pd.Series(labels, dtype=object)


def _read_manifest(root: Path, manifest: Path, label: str | None) -> tuple[list[str], pd.Series]:
    frame = _read_csv(manifest)
    label = label or "label"
    missing = [c for c in ("path", label) if c not in frame.columns]
    if missing:
        raise DataError(f"The manifest {manifest.name} needs columns 'path' and {label!r}; "
                        f"it has: {_column_list(frame.columns)}.")
    if len(frame) == 0:
        raise DataError(f"The manifest {manifest.name} has no rows.")
    if frame["path"].isna().any():
        raise DataError(f"The manifest {manifest.name} has {int(frame['path'].isna().sum())} empty path(s).")
    ids = []
    for raw in frame["path"].astype(str):
        parts = _manifest_parts(raw, manifest.name)
        rel = "/".join(parts)
        p = root.joinpath(*parts)
        if not p.is_file():
            raise DataError(f"The manifest lists {raw!r}, which is not in the upload.")
        if not p.resolve().is_relative_to(root):
            raise DataError(f"The manifest path {raw!r} points outside the upload.")
        ids.append(rel)
    dupes = pd.Series(ids)[pd.Series(ids).duplicated()]
    if len(dupes):
        raise DataError(f"The manifest lists {dupes.iloc[0]!r} more than once.")
    return ids, frame[label].reset_index(drop=True)


def _manifest_parts(raw: str, manifest_name: str) -> tuple[str, ...]:
    name = raw.strip().replace("\\", "/")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts or not parts:
        raise DataError(f"The manifest {manifest_name} has path {raw!r}; use paths relative to the upload root.")
    return parts

