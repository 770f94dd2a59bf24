"""The ``raw`` feature matrix of a dataset: what methods see before any embedding.

Tables: encoded by :func:`dataval_core.tabular.encode_table` (numbers standardised,
low-cardinality text one-hot, missing values imputed; the notes say what was done).
Images: pixels in [0, 1], resized to a common small size. The Gaussian feature noise
that :func:`dataval_core.noise.inject_feature_noise` records per row
(``Dataset.feature_noise``) is drawn and added here, where the features are built,
so the stored table and images stay the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dataset import IMAGE, DataError, Dataset
from ..tabular import encode_table

#: images are resized to the median side, at most this, for the raw pixel matrix
MAX_RAW_IMAGE_SIDE = 32


@dataclass(frozen=True)
class FeatureMatrix:
    """A float32 matrix for all rows of a dataset, plus how it was made."""

    x: np.ndarray
    columns: tuple[str, ...]
    image_shape: tuple[int, int, int] | None
    notes: tuple[str, ...]


def raw_features(dataset: Dataset, columns: list[str] | None = None) -> FeatureMatrix:
    """Build the raw matrix (n_rows, d) for every row, valued and target alike, with any injected noise."""
    if dataset.modality == IMAGE:
        fm = _image_features(dataset)
    else:
        if dataset.table is None:
            raise DataError("This dataset has no table.")
        enc = encode_table(dataset.table, list(columns) if columns is not None else list(dataset.feature_columns))
        fm = FeatureMatrix(enc.x, enc.columns, None, enc.notes)
    return _with_feature_noise(fm, dataset)


def _with_feature_noise(fm: FeatureMatrix, dataset: Dataset) -> FeatureMatrix:
    """``fm`` plus the dataset's injected Gaussian noise (std per row, seeded by ``meta["feature_noise_seed"]``)."""
    if dataset.feature_noise is None or not np.any(dataset.feature_noise > 0):
        return fm
    x = fm.x.copy()
    rng = np.random.default_rng(int(dataset.meta.get("feature_noise_seed", 0)))
    noise = rng.standard_normal(x.shape).astype(np.float32)
    scale = dataset.feature_noise.astype(np.float32)[:, None]
    # pixels live in [0, 1], so image noise is in pixel units; table columns are standardised
    x += noise * scale
    if fm.image_shape is not None:
        np.clip(x, 0.0, 1.0, out=x)
    return FeatureMatrix(x, fm.columns, fm.image_shape,
                         fm.notes + (f"Gaussian feature noise added to {int((scale > 0).sum())} rows.",))


def _image_features(dataset: Dataset) -> FeatureMatrix:
    from ..images import common_side, image_mode_for, image_sizes, load_image_matrix, resize_note

    paths = dataset.image_paths()
    sizes = image_sizes(paths)
    side = common_side(sizes, MAX_RAW_IMAGE_SIDE)
    mode = image_mode_for(paths)
    x = load_image_matrix(paths, side, mode)
    channels = 1 if mode == "L" else 3
    kind = "Grayscale" if channels == 1 else "RGB"
    notes = (f"{resize_note(sizes, side, MAX_RAW_IMAGE_SIDE)} {kind} pixels in [0, 1].",)
    return FeatureMatrix(x.astype(np.float32), (), (channels, side, side), notes)
