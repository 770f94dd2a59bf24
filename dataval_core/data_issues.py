"""Data issues beside wrong labels: duplicates (conflicting labels flagged), outliers and copies of reference rows.

For every row of a dataset, in the embedding a run used:

- **exact duplicates**: rows whose content is the same, by a hash of the feature columns
  (tables) or of the image file's bytes (:func:`content_hashes`);
- **near duplicates**: rows closer than ``near_ratio`` times the median nearest-neighbour
  distance (a scale-free threshold, chosen by measurement in ``benchmarks/data_issues.py``),
  joined into groups (connected components, exact duplicates always included); a group
  whose members carry different labels is a **conflicting duplicate**, a label error that
  a valuation can only half see;
- **outliers**: the distance to the reference's k-th nearest row, calibrated against the
  reference itself: ``outlier_percentile`` is the share of reference rows whose own
  (leave-self-out) k-th neighbour is nearer, and a row is flagged beyond the fence
  Q3 + ``outlier_iqr`` × IQR of those reference distances;
- **copies of reference rows**: valued rows that are an exact or near copy of a reference
  row, which inflate every method's view of them.

Without a given reference (every row valued by cross-fitting), the reference is the whole
set, leave-self-out: outliers are judged against all other rows and there are no
reference copies. The neighbour pass is chunked on the compute backend
(:mod:`dataval_core.neighbours`).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .backend import Backend
from .dataset import CLASSIFICATION, IMAGE, DataError, Dataset
from .neighbours import Neighbours, nearest_neighbours
from .params import build, param
from .progress import CancelFlag, ProgressCallback, Reporter, as_reporter

#: the issue types, in the order the app and the report show them
ISSUE_TYPES = ("conflicting_duplicates", "near_duplicates", "outliers", "reference_copies")
ISSUE_TITLES = {"conflicting_duplicates": "Conflicting duplicates", "near_duplicates": "Near duplicates",
                "outliers": "Outliers", "reference_copies": "Copies of reference rows"}
#: columns of the issues table (ISSUES.csv), one row per sample
COLUMNS = ("id", "role", "label", "exact_group", "near_group", "group_size", "conflict", "duplicate_distance",
           "nn_valued_id", "nn_valued_distance", "nn_reference_id", "nn_reference_distance", "reference_copy",
           "outlier_distance", "outlier_percentile", "is_outlier")


@dataclass(frozen=True)
class IssueParams:
    """How the checks decide; the defaults were chosen on the tuning half of ``benchmarks/data_issues.py``."""

    k: int = param(20, low=1, high=100, help="Neighbour rank of the outlier score (distance to the k-th nearest "
                                              "reference row).")
    near_ratio: float = param(0.2, low=0.0, high=1.0, help="Near duplicates: rows closer than this fraction of "
                                                            "the median nearest-neighbour distance.")
    outlier_iqr: float = param(3.0, low=0.0, high=100.0, help="Outliers: beyond Q3 + this many IQRs of the "
                                                              "reference's own k-th neighbour distances.")


@dataclass(frozen=True)
class DataIssues:
    """The issues of one dataset in one embedding.

    Attributes:
        frame: one row per sample, columns :data:`COLUMNS` (see docs/cli.md, ``dataval issues``).
        embedding: the embedding the distances were measured in.
        params: the parameters used.
        scale: the median nearest-neighbour distance (over rows at a non-zero distance).
        threshold: the near-duplicate distance, ``params.near_ratio * scale``.
        fence: the outlier distance beyond which a row is flagged.
        reference: ``"given"`` (the dataset's reference rows) or ``"whole set"`` (leave-self-out).
        seconds: time taken (hashes and neighbours).
    """

    frame: pd.DataFrame
    embedding: str
    params: IssueParams
    scale: float
    threshold: float
    fence: float
    reference: str
    seconds: float

    def counts(self) -> dict[str, int]:
        """Samples flagged per issue type (valued rows and reference rows alike)."""
        return {kind: len(self.view(kind)) for kind in ISSUE_TYPES}

    def view(self, kind: str) -> pd.DataFrame:
        """The rows of one issue type, sorted by its score: duplicate groups closest first (members of a group
        together), outliers farthest first, reference copies closest first.

        Raises:
            ValueError: an unknown issue type.
        """
        f = self.frame
        if kind in ("conflicting_duplicates", "near_duplicates"):
            keep = f["conflict"].fillna(False) if kind == "conflicting_duplicates" else f["near_group"].notna()
            rows = f[keep]
            closest = rows.groupby("near_group")["duplicate_distance"].transform("min")
            return (rows.assign(_score=closest).sort_values(["_score", "near_group"], kind="stable")
                    .drop(columns="_score"))
        if kind == "outliers":
            return f[f["is_outlier"].fillna(False)].sort_values("outlier_distance", ascending=False, kind="stable")
        if kind == "reference_copies":
            return f[f["reference_copy"].fillna(False)].sort_values("nn_reference_distance", kind="stable")
        raise ValueError(f"Unknown issue type {kind!r}; choose one of: {', '.join(ISSUE_TYPES)}.")

    def group(self, group: int) -> pd.DataFrame:
        """The members of near-duplicate group ``group``, in dataset order."""
        return self.frame[self.frame["near_group"] == group]


def content_hashes(dataset: Dataset) -> np.ndarray:
    """A 64-bit hash of each row's content, shape (n,): the feature columns of a table (label and ids left
    out, so rows that differ only in label collide), or the bytes of an image file."""
    if dataset.modality == IMAGE:
        digests = [hashlib.blake2b(p.read_bytes(), digest_size=8).digest() for p in dataset.image_paths()]
        return np.frombuffer(b"".join(digests), dtype=np.uint64).copy()
    if dataset.table is None:
        raise DataError("This dataset has no table to hash.")
    columns = list(dataset.feature_columns)
    if not columns:
        raise DataError("The table has no feature columns besides the label.")
    table = dataset.table[columns].reset_index(drop=True)
    return pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)


def exact_reference_copies(dataset: Dataset) -> int:
    """How many valued rows have a reference row's content (:func:`content_hashes`): the quick check, with no
    embedding, behind the Data page's warning; :func:`find_issues` also finds near copies."""
    is_ref = np.asarray(dataset.is_target, dtype=bool)
    if not is_ref.any():
        return 0
    hashes = content_hashes(dataset)
    return int(np.isin(hashes[~is_ref], hashes[is_ref]).sum())


def issue_embedding(name: str | None) -> str:
    """The embedding issues are measured in: the run's (``None``: raw), except raw for one learned from the
    labels (``target_trained``, ``cross_fitted``), which pulls each class together, so that distances there
    would join rows by label rather than by content."""
    from .embeddings.core import LEARNED_EMBEDDINGS

    name = name or "raw"
    return "raw" if name.partition(":")[0] in LEARNED_EMBEDDINGS else name


def dataset_issues(dataset: Dataset, embedding: str | None = None, *,
                   params: IssueParams | Mapping[str, Any] | None = None, seed: int = 0,
                   cache_dir: str | Path | None = None, backend: str | Backend | None = None,
                   progress: ProgressCallback | Reporter | None = None, cancel: CancelFlag | None = None) -> DataIssues:
    """Embed ``dataset`` (in :func:`issue_embedding` of ``embedding``; cached in ``cache_dir``), then
    :func:`find_issues`. The CLI's ``dataval issues`` and the app's Review page call this."""
    from .embeddings.core import embed

    reporter = as_reporter(progress, cancel)
    name = issue_embedding(embedding)
    x, _ = embed(dataset, name, seed=seed, cache_dir=cache_dir, progress=reporter, backend=backend)
    return find_issues(dataset, x, params=params, embedding=name, backend=backend, progress=reporter)


def find_issues(dataset: Dataset, x: np.ndarray, *, params: IssueParams | Mapping[str, Any] | None = None,
                embedding: str = "raw", backend: str | Backend | None = None,
                progress: ProgressCallback | Reporter | None = None, cancel: CancelFlag | None = None) -> DataIssues:
    """Duplicates, outliers and reference copies of every row of ``dataset``, with ``x`` its rows embedded.

    Args:
        dataset: the dataset; its target rows are the reference (none: the whole set, leave-self-out).
        x: every row in the embedding, shape (len(dataset), d).
        params: :class:`IssueParams` or a mapping of its fields (strings are parsed, as from the CLI).
        embedding: the embedding's name, recorded in the result.
        backend: where the neighbour chunks run; the result does not depend on it.

    Raises:
        DataError: ``x`` does not match the dataset, has non-finite values, or fewer than two rows.
        ValueError: a parameter out of range (one sentence naming it).
    """
    p = params if isinstance(params, IssueParams) else build(IssueParams, params, "issues")
    reporter = as_reporter(progress, cancel)
    x = np.asarray(x)
    if x.ndim != 2 or len(x) != len(dataset):
        raise DataError(f"The embedding has shape {x.shape}, but the dataset has {len(dataset)} rows.")
    if len(x) < 2 or not np.isfinite(x).all():
        raise DataError("Data issues need at least two rows with finite features.")
    start = time.perf_counter()
    hashes = content_hashes(dataset)
    reporter.update("content hashes", 1, 1)
    is_ref = np.asarray(dataset.is_target, dtype=bool)
    nb = nearest_neighbours(x, is_ref, p.k, backend=backend, reporter=reporter)
    nearest = nb.top_distance[:, 0]
    positive = nearest[nearest > 0]
    scale = float(np.median(positive)) if len(positive) else 0.0
    threshold = p.near_ratio * scale
    exact = _exact_groups(hashes)
    near = _near_groups(nb, exact, threshold)
    frame = _frame(dataset, nb, exact, near, hashes, threshold)
    given = bool(is_ref.any()) and nb.k_reference > 0
    score = nb.reference_kth if given else nb.top_distance[:, min(p.k, nb.top_distance.shape[1]) - 1]
    fence = _add_outliers(frame, score, score[is_ref] if given else score, p.outlier_iqr)
    return DataIssues(frame=frame, embedding=embedding, params=p, scale=scale, threshold=threshold, fence=fence,
                      reference="given" if given else "whole set", seconds=time.perf_counter() - start)


def _exact_groups(hashes: np.ndarray) -> np.ndarray:
    """Group number (1, 2, … by first row) of rows sharing a hash with another row; 0 for a unique row."""
    _, first, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
    dup = counts[inverse] > 1
    return _number_by_first(np.where(dup, first[inverse], -1))


def _number_by_first(root: np.ndarray) -> np.ndarray:
    """Relabel group roots (a number in 0..n-1 per member, -1 for none) as 1, 2, … in order of each group's
    first row."""
    out = np.zeros(len(root), dtype=np.int64)
    member = np.flatnonzero(root >= 0)
    if len(member):
        first = np.full(len(root), len(root))
        np.minimum.at(first, root[member], member)  # each root's first row
        _, out[member] = np.unique(first[root[member]], return_inverse=True)
        out[member] += 1
    return out


def _near_groups(nb: Neighbours, exact: np.ndarray, threshold: float) -> np.ndarray:
    """Connected components of the graph joining rows within ``threshold`` of each other (among each row's
    nearest) and rows of one exact group; numbered like :func:`_exact_groups`, 0 for a row in none."""
    n = len(exact)
    src, dst = np.nonzero(nb.top_distance <= threshold)
    a, b = src, nb.top_index[src, dst]
    grouped = np.flatnonzero(exact > 0)
    if len(grouped):  # chain each exact group's rows, whatever the embedding says
        order = grouped[np.argsort(exact[grouped], kind="stable")]
        same = exact[order[1:]] == exact[order[:-1]]
        a, b = np.concatenate([a, order[:-1][same]]), np.concatenate([b, order[1:][same]])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    size = np.bincount(comp, minlength=comp.max() + 1)
    return _number_by_first(np.where(size[comp] > 1, comp, -1))


def _frame(dataset: Dataset, nb: Neighbours, exact: np.ndarray, near: np.ndarray, hashes: np.ndarray,
           threshold: float) -> pd.DataFrame:
    """The issues table without the outlier columns."""
    is_ref = np.asarray(dataset.is_target, dtype=bool)
    ids = dataset.ids
    grouped = near > 0
    columns: dict[str, Any] = {
        "id": ids, "role": np.where(is_ref, "target", "valued"), "label": dataset.label_names(),
        "exact_group": _masked(exact, exact > 0), "near_group": _masked(near, grouped),
        "group_size": _masked(np.bincount(near)[near], grouped),
        "conflict": _masked(_conflicting(dataset, near)[near], grouped),
        "duplicate_distance": np.where(exact > 0, 0.0, np.where(grouped, nb.top_distance[:, 0], np.nan))}
    for key, idx, dist in (("valued", nb.valued_index, nb.valued_distance),
                           ("reference", nb.reference_index, nb.reference_distance)):
        columns[f"nn_{key}_id"] = pd.Series(np.where(idx >= 0, ids[np.maximum(idx, 0)].astype(object), None),
                                            dtype=object)
        columns[f"nn_{key}_distance"] = dist
    copy = np.zeros(len(ids), dtype=bool)
    if is_ref.any():
        copy = (nb.reference_distance <= threshold) | np.isin(hashes, hashes[is_ref])
    columns["reference_copy"] = _masked(copy, ~is_ref & is_ref.any())
    return pd.DataFrame(columns)


def _masked(values: np.ndarray, keep: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Integers or booleans as a nullable column (``Int64`` or ``boolean``), missing where ``keep`` is False."""
    values = np.asarray(values)
    if values.dtype == bool:
        return pd.arrays.BooleanArray(values, ~keep)
    return pd.arrays.IntegerArray(values.astype(np.int64), ~keep)


def _conflicting(dataset: Dataset, groups: np.ndarray) -> np.ndarray:
    """Per group number (index 0 unused): True when its members carry more than one label."""
    labels = np.asarray(dataset.labels)
    if dataset.task != CLASSIFICATION:
        labels = np.round(labels.astype(float), 9)
    member = groups > 0
    _, codes = np.unique(labels[member], return_inverse=True)
    pairs = np.unique(np.stack([groups[member], codes.ravel()]), axis=1)  # distinct (group, label) pairs
    return np.bincount(pairs[0], minlength=groups.max() + 1) > 1


def _add_outliers(frame: pd.DataFrame, score: np.ndarray, calibration: np.ndarray, iqr_factor: float) -> float:
    """Add ``outlier_distance``, ``outlier_percentile`` and ``is_outlier``; return the fence."""
    cal = np.sort(calibration[np.isfinite(calibration)])
    q1, q3 = np.percentile(cal, [25, 75]) if len(cal) else (np.nan, np.nan)
    fence = float(q3 + iqr_factor * (q3 - q1))
    below = np.searchsorted(cal, score, side="left")
    at_or_below = np.searchsorted(cal, score, side="right")
    frame["outlier_distance"] = score
    frame["outlier_percentile"] = 100.0 * (below + at_or_below) / (2 * max(len(cal), 1))
    frame["is_outlier"] = _masked(score > fence, np.ones(len(score), dtype=bool))
    return fence
