"""Turn a dataset plus the curator's decisions into downloadable files.

The decisions are the Review page's audit log (see :mod:`dataval_core.decisions`).
The export writes the cleaned dataset in the format it came in (CSV, Parquet, an images
zip with class folders, or an images zip with a manifest), plus ``values.csv``
(every run, one row per sample), ``decisions.csv`` and a one-page HTML report,
so a download is usable without dataval. The one-zip bundle of all of these is
:func:`dataval_core.bundle.export_bundle`.
"""
from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from .dataset import CLASSIFICATION, DataError, Dataset
from .decisions import ACTIONS, UNDECIDED, current_decisions, full_log
from .result import Results, run_names
from .targets import TARGET_PREFIX

# a fixed timestamp makes exported zips byte-identical for identical inputs
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

def export_plan(dataset: Dataset, decisions: pd.DataFrame | None, *, drop_duplicates: bool = False) -> pd.DataFrame:
    """What the export will do with each sample, without writing anything.

    The label written for a sample is its current label in ``dataset`` (after any
    injected noise: a demo export keeps the noise the curator did not fix),
    replaced by ``new_label`` for relabeled samples. Rows appended from a separate
    target file were never part of the input, so they are not exported.

    With ``drop_duplicates``, an exported row whose content (its feature columns, or its
    image file's bytes: :func:`~dataval_core.data_issues.content_hashes`) and written label
    equal an earlier exported row's is left out: one copy of each exact duplicate stays.
    Copies with different labels all stay, until a decision makes their labels agree.

    Args:
        dataset: the dataset as the app shows it.
        decisions: the audit log (see :func:`current_decisions`).
        drop_duplicates: leave out the extra copies of exact duplicates.

    Returns:
        One row per sample in dataset order: ``id``, ``action`` (``keep``, ``drop``,
        ``relabel`` or ``undecided``), ``label`` (the label written), ``exported``
        (False for dropped rows, target-file rows and left-out copies), ``duplicate_of``
        (the id of the copy kept in place of a left-out copy, else ``None``), ``new_id`` (the
        path in an exported images zip, after moving relabeled images to their class folder;
        the id itself for tables; ``None`` where not exported).

    Raises:
        DataError: decisions for unknown ids, or a relabel to a class the dataset
            does not have.
    """
    current = current_decisions(decisions)
    known = set(dataset.ids.tolist())
    unknown = [i for i in current["id"] if i not in known]
    if unknown:
        raise DataError(f"{len(unknown)} decision(s) name ids that are not in this dataset, e.g. {unknown[0]!r}.")
    by_id = current.set_index("id")
    actions = by_id["action"].reindex(dataset.ids).fillna(UNDECIDED).to_numpy(dtype=object)
    labels = np.asarray(dataset.label_names(), dtype=object).copy()
    relabel = actions == "relabel"
    if relabel.any():
        new = by_id["new_label"].reindex(dataset.ids).to_numpy(dtype=object)[relabel]
        labels[relabel] = _checked_new_labels(dataset, new)
    from_target_file = dataset.is_target & np.char.startswith(dataset.ids, TARGET_PREFIX) \
        if dataset.meta.get("target_file_rows") else np.zeros(len(dataset), dtype=bool)
    exported = (actions != "drop") & ~from_target_file
    duplicate_of = _copies(dataset, labels, exported) if drop_duplicates else np.full(len(dataset), None, object)
    plan = pd.DataFrame({"id": dataset.ids, "action": actions, "label": labels,
                         "exported": exported & pd.isna(duplicate_of),
                         "duplicate_of": pd.Series(duplicate_of, dtype=object)})
    paths = _image_paths(dataset, plan) if dataset.source_format == "images" else dataset.ids
    new_id = np.asarray(paths, dtype=object).copy()
    new_id[~plan["exported"].to_numpy()] = None
    plan["new_id"] = pd.Series(new_id, dtype=object)
    return plan


def export_counts(dataset: Dataset, decisions: pd.DataFrame | None, *,
                  drop_duplicates: bool = False) -> dict[str, int]:
    """How many of the input's rows the export keeps undecided, keeps, drops and relabels.

    Counts cover the rows of the input file only: ``exported`` equals the rows of the
    cleaned file, ``duplicates`` the copies left out with ``drop_duplicates``, and
    ``target_file_rows`` (from a separate target file) are never exported.
    """
    plan = export_plan(dataset, decisions, drop_duplicates=drop_duplicates)
    n_file = int(dataset.meta.get("target_file_rows", 0) or 0)
    own = np.ones(len(plan), dtype=bool)
    if n_file:
        own = ~(dataset.is_target & np.char.startswith(dataset.ids, TARGET_PREFIX))
    counts = plan.loc[own, "action"].value_counts()
    out = {a: int(counts.get(a, 0)) for a in (UNDECIDED, *ACTIONS)}
    out.update(exported=int(plan["exported"].sum()), target_file_rows=int((~own).sum()),
               duplicates=int(plan["duplicate_of"].notna().sum()))
    return out


def _copies(dataset: Dataset, labels: np.ndarray, exported: np.ndarray) -> np.ndarray:
    """Per row: the id of the first exported row with the same content and label, if it is another row; else None."""
    from .data_issues import content_hashes

    key = pd.DataFrame({"content": content_hashes(dataset), "label": pd.Series(labels, dtype=object).astype(str)})
    key = key[exported]
    first = key.groupby(["content", "label"], sort=False).ngroup()
    first_pos = pd.Series(key.index.to_numpy()).groupby(first.to_numpy()).transform("min").to_numpy()
    out = np.full(len(dataset), None, dtype=object)
    copy = first_pos != key.index.to_numpy()
    out[key.index.to_numpy()[copy]] = dataset.ids[first_pos[copy]]
    return out


def _checked_new_labels(dataset: Dataset, new: np.ndarray) -> np.ndarray:
    if dataset.task != CLASSIFICATION:
        try:
            return np.asarray(new, dtype=np.float64).astype(object)
        except (TypeError, ValueError):
            raise DataError("New labels for a regression target must be numbers.") from None
    names = np.asarray([str(v) for v in new], dtype=object)
    unknown = sorted(set(names.tolist()) - set(dataset.classes))
    if unknown:
        raise DataError(f"Relabel to unknown class(es) {unknown}; the classes are {list(dataset.classes)}.")
    return names


def _image_paths(dataset: Dataset, plan: pd.DataFrame) -> np.ndarray:
    """Paths in an images zip: each image sits under the top folder named after its label.

    Images already in the right class folder keep their path; moved images keep the
    rest of their path, and on a clash get ``__from_<old class>`` (then ``_2``, ``_3``…)
    appended to the stem. Moves are resolved in id order, so the result is deterministic.
    """
    paths = np.asarray(dataset.ids, dtype=object).copy()
    exported = plan["exported"].to_numpy()
    taken: set[str] = set()
    moves: list[tuple[str, int, PurePosixPath]] = []
    for i, (rel, label) in enumerate(zip(dataset.ids, plan["label"])):
        if not exported[i]:
            continue
        parts = PurePosixPath(rel).parts
        if len(parts) < 2:
            raise DataError(f"Image {rel!r} is not inside a class folder, so its label cannot be exported.")
        if parts[0] == str(label):
            taken.add(rel)
        else:
            moves.append((rel, i, PurePosixPath(str(label), *parts[1:])))
    for rel, i, dest in sorted(moves):
        candidate, n = dest, 1
        while str(candidate) in taken:
            tag = f"__from_{PurePosixPath(rel).parts[0]}" + ("" if n == 1 else f"_{n}")
            candidate = dest.with_name(f"{dest.stem}{tag}{dest.suffix}")
            n += 1
        taken.add(str(candidate))
        paths[i] = str(candidate)
    return paths


# -- cleaned dataset -------------------------------------------------------------------------
def export_dataset(dataset: Dataset, decisions: pd.DataFrame | None, dest: str | Path, *,
                   drop_duplicates: bool = False) -> Path:
    """Write the cleaned dataset in the input's format.

    - CSV/Parquet: the original table with the same columns and dtypes; dropped rows
      removed; the label column holds each row's written label (see
      :func:`export_plan`) converted back to the column's dtype.
    - Images (class folders): a zip with the same layout; dropped images absent;
      relabeled images moved to their new class folder under the same file name
      (clashes resolved as in :func:`export_plan`). Files are copied byte for byte.
    - Images with a manifest: a zip with the kept images at their paths and the
      manifest (same name and columns) with dropped rows removed and labels updated.

    Target (validation) rows held out from the input (a fraction or a marker column)
    are part of it, so they are kept; decisions apply to whichever ids they name.
    Rows appended from a separate target file are left out. ``dataset`` is never
    modified.

    Args:
        dataset: the dataset as loaded (with any injected noise).
        decisions: the audit log (see :func:`current_decisions`), or ``None``.
        dest: a file path with the format's suffix, or an existing folder /
            suffix-less path in which ``<name>_cleaned.<csv|parquet|zip>`` is written.
        drop_duplicates: leave out the extra copies of exact duplicates (see :func:`export_plan`).

    Returns:
        The path of the written file.

    Raises:
        DataError: invalid decisions, or a label that cannot be stored in the
            label column's dtype.
        ValueError: ``dest`` has another format's suffix.
    """
    plan = export_plan(dataset, decisions, drop_duplicates=drop_duplicates)
    fmt = dataset.source_format
    suffix = {"csv": ".csv", "parquet": ".parquet", "images": ".zip", "images-manifest": ".zip"}.get(fmt)
    if suffix is None:
        raise ValueError(f"Cannot export source format {fmt!r}.")
    dest = Path(dest)
    if dest.is_dir() or not dest.suffix:
        dest.mkdir(parents=True, exist_ok=True)
        dest = dest / f"{dataset.name}_cleaned{suffix}"
    elif dest.suffix.lower() != suffix:
        raise ValueError(f"A {fmt} dataset exports to a {suffix} file, not {dest.name!r}.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "parquet"):
        if dataset.table is None or dataset.label_column is None:
            raise ValueError("This dataset has no table with a label column to export.")
        table = _cleaned_table(dataset.table, dataset.label_column, plan, dataset.task)
        if fmt == "csv":
            table.to_csv(dest, index=False)
        else:
            table.to_parquet(dest, index=False)
    else:
        _write_images_zip(dataset, plan, dest)
    return dest


def _cleaned_table(table: pd.DataFrame, label_column: str, plan: pd.DataFrame, task: str) -> pd.DataFrame:
    """``table`` (row i = plan row i) without unexported rows and with the label column rewritten."""
    table = table.reset_index(drop=True)
    plan = plan.iloc[:len(table)]
    out = table.copy()
    out[label_column] = _label_column(table[label_column], plan["label"].to_numpy(dtype=object), task)
    return out.loc[plan["exported"].to_numpy()].reset_index(drop=True)


def _label_column(column: pd.Series, labels: np.ndarray, task: str) -> pd.Series:
    """``column`` with cells replaced where the written label differs, in the original dtype."""
    cells = column.to_numpy(dtype=object)
    if task == CLASSIFICATION:
        differs = np.asarray([str(c) != str(lab) for c, lab in zip(cells, labels)], dtype=bool)
    else:
        differs = np.asarray([float(c) != float(lab) for c, lab in zip(cells, labels)], dtype=bool)
    if not differs.any():
        return column.copy()
    # reuse an existing cell whose text is the label, so the value is exactly the input's
    lookup = {str(v): v for v in pd.unique(column.dropna())}
    new_cells = cells.copy()
    new_cells[differs] = [lookup.get(str(lab), None) if task == CLASSIFICATION else None for lab in labels[differs]]
    for i in np.flatnonzero(differs):
        if new_cells[i] is None:
            new_cells[i] = _parse_label(labels[i], column.dtype, column.name)
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        extra = [v for v in pd.unique(pd.Series(new_cells[differs])) if v not in dtype.categories]
        dtype = pd.CategoricalDtype(list(dtype.categories) + extra, ordered=dtype.ordered)
    try:
        return pd.Series(new_cells, index=column.index, name=column.name).astype(dtype)
    except (TypeError, ValueError) as e:
        raise DataError(f"The new labels cannot be stored in column {column.name!r} ({column.dtype}): {e}") from e


def _parse_label(label: Any, dtype, column_name) -> Any:
    """A label value not yet present in the column, converted to the column's kind."""
    text = str(label)
    if pd.api.types.is_bool_dtype(dtype):
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
    elif pd.api.types.is_integer_dtype(dtype):
        number = float(text)
        if number == round(number):
            return int(number)
    elif pd.api.types.is_float_dtype(dtype):
        return float(text)
    else:
        return text
    raise DataError(f"Label {text!r} cannot be stored in column {column_name!r} ({dtype}).")


def _write_images_zip(dataset: Dataset, plan: pd.DataFrame, dest: Path) -> None:
    exported = plan["exported"].to_numpy()
    files = [p for p, keep in zip(dataset.image_paths(), exported) if keep]
    with zipfile.ZipFile(dest, "w") as zf:
        for src, new_rel in zip(files, plan.loc[exported, "new_id"]):
            info = zipfile.ZipInfo(str(new_rel), date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED  # PNG/JPEG are compressed already
            zf.writestr(info, Path(src).read_bytes())
        if dataset.source_format == "images-manifest":
            name = str(dataset.meta.get("manifest_name", "manifest.csv"))
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _manifest(dataset, plan, name).to_csv(index=False))


def _manifest(dataset: Dataset, plan: pd.DataFrame, name: str) -> pd.DataFrame:
    """The uploaded manifest (all its columns) with rows and labels updated.

    Its rows are the dataset's input rows in order (the loader builds ids from it;
    target-file rows come after them); without the original file, a
    ``path,<label>`` manifest is written.
    """
    label_column = str(dataset.meta.get("label_column", "label"))
    original = Path(dataset.image_root) / name if dataset.image_root is not None else None
    n_input = len(dataset) - int(dataset.meta.get("target_file_rows", 0))
    if original is not None and original.is_file():
        from .io import read_csv_table  # the loader's own reader: same encoding and delimiter

        frame = read_csv_table(original)
        if len(frame) == n_input and label_column in frame.columns:
            return _cleaned_table(frame, label_column, plan, dataset.task)
    kept = plan[plan["exported"]]
    return pd.DataFrame({"path": kept["id"].to_numpy(), label_column: kept["label"].to_numpy()})


# -- values and decisions files ----------------------------------------------------------------
def values_table(dataset: Dataset, results: Results) -> pd.DataFrame:
    """One row per sample of the dataset with every run's value, rank and suggestion.

    Args:
        dataset: the dataset the runs valued.
        results: runs keyed by run name (or a sequence, named by :func:`run_names`).

    Returns:
        Columns ``id``, ``role`` (``valued``/``target``), ``label``; per run
        ``value__<run>``, ``percentile__<run>`` (0 = lowest value of that run, 100 =
        highest: comparable across methods), ``rank__<run>`` (1 = lowest value within that run) and
        ``suggested__<run>`` (empty for target rows and samples a run did not value);
        with injected noise also ``original_label`` and ``injected_noise`` (0/1).

    Raises:
        ValueError: a run holds ids that are not in the dataset.
    """
    frame = pd.DataFrame({
        "id": dataset.ids,
        "role": np.where(dataset.is_target, "target", "valued"),
        "label": dataset.label_names(),
    })
    for name, result in run_names(results).items():
        try:
            pos = dataset.positions(result.ids)
        except DataError as exc:
            raise ValueError(f"Run {name!r}: {exc}") from None
        value = np.full(len(dataset), np.nan)
        value[pos] = result.values
        rank = pd.array([pd.NA] * len(dataset), dtype="Int64")
        rank[pos] = result.ranks
        suggested = np.full(len(dataset), None, dtype=object)
        if result.suggested_labels is not None:
            suggested[pos] = result.suggested_labels
        percentile = np.full(len(dataset), np.nan)
        percentile[pos] = result.percentiles
        frame[f"value__{name}"] = value
        frame[f"percentile__{name}"] = percentile
        frame[f"rank__{name}"] = rank
        frame[f"suggested__{name}"] = suggested
    noisy = dataset.noisy
    if noisy is not None:
        original = dataset.original_labels if dataset.original_labels is not None else dataset.labels
        frame["original_label"] = dataset.label_names(original)
        frame["injected_noise"] = noisy.astype(np.int8)
    return frame


def write_decisions_csv(decisions: pd.DataFrame | None, path: str | Path) -> Path:
    """Write the full audit log (every row, oldest first) to ``path`` and return the path.

    Columns :data:`~dataval_core.decisions.DECISION_COLUMNS` come first (empty where the log lacks them),
    then any extra columns of the log.
    """
    path = Path(path)
    full_log(decisions).to_csv(path, index=False)
    return path
