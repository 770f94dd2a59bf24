"""Noise injection for demos and evaluation, with the truth kept.

Noise only ever touches valued rows (``is_target`` False), so the target stays
clean, and exactly ``round(rate * n_valued)`` rows are changed. Label noise keeps
the clean labels in ``original_labels``; feature noise only records a per-row
noise level in ``feature_noise``, which the feature builder (the ``raw`` embedding)
draws and adds when it builds the matrix, so the stored table and images are never
modified. This module is data-in: it never imports the embeddings.
"""
from __future__ import annotations

import warnings

import numpy as np

from .dataset import IMAGE, REGRESSION, DataError, Dataset
from .tabular import encode_table

#: rows used to fit the quick model behind :func:`confusable_pairs`
CONFUSION_MAX_ROWS = 3000
#: images are shrunk to this side for that model
CONFUSION_IMAGE_SIDE = 16
#: separate random streams, so label and feature noise with one seed pick different rows
_LABEL_STREAM, _FEATURE_STREAM, _CONFUSION_STREAM = 1, 2, 3


def noise_count(rate: float, n_valued: int) -> int:
    """How many rows a noise ``rate`` changes: ``round(rate * n_valued)``.

    Raises:
        DataError: ``rate`` outside [0, 1).
    """
    if not (0 <= rate < 1):
        raise DataError(f"The noise rate must be at least 0 and below 1, got {rate}.")
    return int(round(rate * n_valued))


def _choose_valued(ds: Dataset, rate: float, rng: np.random.Generator) -> np.ndarray:
    valued = ds.valued_index
    k = noise_count(rate, len(valued))
    return np.sort(rng.choice(valued, size=k, replace=False))


def inject_label_noise(ds: Dataset, rate: float, kind: str = "uniform", seed: int = 0,
                       mapping: dict[str, str] | None = None) -> Dataset:
    """Flip the labels of a random ``rate`` of the valued rows.

    Args:
        ds: a classification dataset.
        rate: fraction of valued rows to flip, in [0, 1).
        kind: ``"uniform"``: each chosen row gets a uniformly random *other* class;
            ``"pair"``: class c becomes its most confusable class.
        seed: random seed (same seed, same flips).
        mapping: for ``"pair"``, ``{class name: class name}``; classes it leaves out
            use :func:`confusable_pairs`.

    Returns:
        A copy with flipped ``labels``; ``original_labels`` holds the truth (the
        earliest truth if noise was injected before).

    Raises:
        DataError: regression data, ``rate`` outside [0, 1), unknown ``kind`` or a bad mapping.
    """
    if ds.task == REGRESSION:
        raise DataError("Label noise needs a classification dataset; this one is a regression task.")
    if kind not in ("uniform", "pair"):
        raise DataError(f"Unknown label-noise kind {kind!r}; use 'uniform' or 'pair'.")
    rng = np.random.default_rng([seed, _LABEL_STREAM])
    chosen = _choose_valued(ds, rate, rng)
    labels = np.asarray(ds.labels, dtype=np.int64).copy()
    n_classes = ds.n_classes
    if kind == "uniform":
        labels[chosen] = (labels[chosen] + rng.integers(1, n_classes, size=len(chosen))) % n_classes
    elif len(chosen):
        labels[chosen] = _pair_codes(ds, mapping, seed)[labels[chosen]]
    original = ds.labels.copy() if ds.original_labels is None else ds.original_labels
    meta = {**ds.meta, "label_noise": {"rate": rate, "kind": kind, "seed": seed, "rows": len(chosen)}}
    return ds.replace(labels=labels, original_labels=original, meta=meta)


def _pair_codes(ds: Dataset, mapping: dict[str, str] | None, seed: int) -> np.ndarray:
    """``dest[c]`` = the class code that class ``c`` flips to."""
    mapping = dict(mapping or {})
    bad = sorted(({str(k) for k in mapping} | {str(v) for v in mapping.values()}) - set(ds.classes))
    if bad:
        raise DataError(f"The noise mapping names unknown class(es): {', '.join(bad[:10])}.")
    if any(str(k) == str(v) for k, v in mapping.items()):
        raise DataError("The noise mapping must send each class to a different class.")
    if len(mapping) < ds.n_classes:
        mapping = {**confusable_pairs(ds, seed), **mapping}
    code_of = {c: i for i, c in enumerate(ds.classes)}
    return np.array([code_of[str(mapping[c])] for c in ds.classes], dtype=np.int64)


def confusable_pairs(ds: Dataset, seed: int = 0) -> dict[str, str]:
    """Each class's most confusable other class, from a quick model's confusion matrix.

    A standardised linear (ridge) classifier is cross-validated (3 folds) on the clean
    labels of up to ``CONFUSION_MAX_ROWS`` rows (target and valued alike); for each
    true class the most frequent *wrong* prediction is its pair. A class the model
    never confuses falls back to the next class.

    Args:
        ds: a classification dataset.
        seed: random seed for the row sample and the folds.

    Returns:
        ``{class name: class name}`` for every class.

    Raises:
        DataError: regression data.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if ds.task == REGRESSION:
        raise DataError("Confusable classes need a classification dataset; this one is a regression task.")
    y = np.asarray(ds.labels if ds.original_labels is None else ds.original_labels, dtype=np.int64)
    rng = np.random.default_rng([seed, _CONFUSION_STREAM])
    rows = np.sort(rng.choice(len(ds), size=min(len(ds), CONFUSION_MAX_ROWS), replace=False))
    x = _clean_features(ds, rows)
    y = y[rows]
    counts = np.bincount(y, minlength=ds.n_classes)
    folds = int(min(3, max(2, counts[counts > 0].min())))
    # a ridge classifier is closed-form: ~10x faster than logistic regression, much the same confusions
    model = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0))
    with warnings.catch_warnings():
        # classes with fewer members than folds are fine for a rough confusion estimate
        warnings.filterwarnings("ignore", message=".*least populated class.*", category=UserWarning)
        pred = cross_val_predict(model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    cm = confusion_matrix(y, pred, labels=np.arange(ds.n_classes))
    np.fill_diagonal(cm, 0)
    pairs = {}
    for c, row in enumerate(cm):
        dest = int(np.argmax(row)) if row.any() else (c + 1) % ds.n_classes
        pairs[ds.classes[c]] = ds.classes[dest]
    return pairs


def _clean_features(ds: Dataset, rows: np.ndarray) -> np.ndarray:
    """Noise-free features of ``rows``: the encoded table (as the raw embedding encodes it), or small images."""
    if ds.modality == IMAGE:
        from .images import image_mode_for, load_image_matrix

        paths = ds.image_paths()
        picked = [paths[i] for i in rows]
        return load_image_matrix(picked, CONFUSION_IMAGE_SIDE, image_mode_for(picked))
    if ds.table is None:
        raise DataError("This dataset has no table.")
    return encode_table(ds.table, ds.feature_columns).x[rows]


def inject_feature_noise(ds: Dataset, rate: float, scale: float = 1.0, seed: int = 0) -> Dataset:
    """Mark a random ``rate`` of the valued rows for Gaussian feature noise.

    Nothing in the table or the images changes: ``feature_noise`` holds the noise
    std per row (``scale`` for chosen rows, 0 elsewhere, in standardised feature
    units — pixel units for images) and ``meta["feature_noise_seed"]`` the seed;
    the feature builder draws and adds the noise. Replaces earlier feature noise.

    Args:
        ds: any dataset.
        rate: fraction of valued rows to corrupt, in [0, 1).
        scale: noise std for the chosen rows, > 0.
        seed: random seed (same seed, same rows and noise).

    Returns:
        A copy with ``feature_noise`` set.

    Raises:
        DataError: ``rate`` outside [0, 1) or ``scale`` not a positive number.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise DataError(f"The feature-noise scale must be a positive number, got {scale}.")
    rng = np.random.default_rng([seed, _FEATURE_STREAM])
    chosen = _choose_valued(ds, rate, rng)
    level = np.zeros(len(ds), dtype=np.float64)
    level[chosen] = float(scale)
    meta = {**ds.meta, "feature_noise_seed": seed,
            "feature_noise": {"rate": rate, "scale": float(scale), "seed": seed, "rows": len(chosen)}}
    return ds.replace(feature_noise=level, meta=meta)
