"""Embeddings registry: the features a valuation method sees.

Names (docs/data-formats.md, "Embeddings"):

- ``raw`` — standardised table features / small-image pixels (:mod:`dataval_core.embeddings.raw`).
- ``pca`` or ``pca:<k>`` — PCA of ``raw`` to k dims (default 32).
- ``target_trained`` — penultimate layer of a small MLP (tables) or CNN (images)
  trained on the **target rows only** (:mod:`.learned`), so valued rows' (possibly wrong)
  labels never shape the features. Works offline, and unlike raw pixels it separates classes.
- ``cross_fitted`` — out-of-fold class probabilities of nets trained on the target plus the
  other folds' valued rows (:mod:`.learned`): no row's features come from a net that saw its label.
- ``pretrained:efficientnet_lite0`` — ImageNet-pretrained features for photos, offline, from
  the optional ``pretrained`` extra (:mod:`.pretrained`).
- ``torchvision:<arch>`` — a torchvision backbone, only with pretrained weights
  already in the local torch cache (nothing is downloaded).
- ``columns:<prefix>`` — user-supplied embedding columns named ``<prefix>0..k``.

Results are cached on disk by (dataset content hash, embedding name, seed) as
``.npy`` files (never pickle).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import IMAGE, DataError, Dataset
from ..problem import Problem
from ..progress import CancelFlag, ProgressCallback, Reporter, as_reporter
from . import learned, pretrained
from .extract import extract_features, network
from .raw import raw_features

#: embeddings whose network is trained on the target rows' labels
LEARNED_EMBEDDINGS = ("target_trained", "cross_fitted")
OFFLINE_EMBEDDINGS = ("raw", "pca", "target_trained", "cross_fitted", "columns:<prefix>")
_KINDS = ("raw", "pca", "target_trained", "cross_fitted", "pretrained", "torchvision", "columns")
DEFAULT_PCA_DIM = 32
#: side (px) images are resized to for torchvision backbones
TORCHVISION_SIDE = 64


def list_embeddings(dataset: Dataset) -> list[str]:
    """Embedding names that make sense for ``dataset`` (for menus)."""
    names = ["raw", "pca", "target_trained", "cross_fitted"]
    if dataset.table is not None:
        prefixes = sorted({c.rstrip("0123456789") for c in dataset.feature_columns
                           if c[-1:].isdigit() and c.rstrip("0123456789")})
        names += [f"columns:{p}" for p in prefixes
                  if sum(c.rstrip("0123456789") == p for c in dataset.feature_columns) >= 2]
    if dataset.modality == IMAGE:
        if pretrained.available():
            names.append(pretrained.NAME)
        names += [f"torchvision:{a}" for a in cached_torchvision_archs()]
    return names


def embed(dataset: Dataset, name: str = "raw", *, seed: int = 0, cache_dir: str | Path | None = None,
          progress: ProgressCallback | Reporter | None = None, cancel: CancelFlag | None = None,
          backend: Any = None) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """The embedded matrix for every row (n_rows, k) float32, and the image shape for ``raw`` images.

    ``backend`` (``"local"``, ``"ray"`` or a :class:`~dataval_core.backend.Backend`) runs the
    pretrained extractors' chunks of image files (:mod:`.extract`); the features do not depend on it.

    Raises:
        ValueError: unknown embedding name, or one that cannot run here (with the offline options).
    """
    reporter = as_reporter(progress, cancel)
    kind, _, arg = name.partition(":")
    if kind not in _KINDS or (kind == "pretrained" and name != pretrained.NAME):
        raise ValueError(f"Unknown embedding {name!r}; choose one of: raw, pca, pca:<k>, target_trained, "
                         f"cross_fitted, {pretrained.NAME}, torchvision:<arch>, columns:<prefix>.")
    pca_dim = pca_dimensions(name) if kind == "pca" else 0
    if kind == "raw":
        fm = raw_features(dataset)
        return fm.x, fm.image_shape
    cache_file = None
    if cache_dir is not None:
        # only cross_fitted reads valued rows' labels; every other embedding stays valid after noise or relabeling
        blind = dataset if kind == "cross_fitted" else dataset.replace(
            labels=np.where(dataset.is_target, dataset.labels, 0).astype(dataset.labels.dtype), original_labels=None)
        key = hashlib.sha256(f"{blind.content_hash()}|{name}|{seed}".encode()).hexdigest()[:20]
        cache_file = Path(cache_dir) / f"emb-{key}.npy"
        if cache_file.exists():
            reporter.update(f"embedding ({name})", 1, 1, "cached")
            return np.load(cache_file, allow_pickle=False), None
    if kind == "pca":
        x = _pca(dataset, pca_dim, seed)
    elif kind in ("target_trained", "cross_fitted"):
        x = _learned(dataset, kind, seed, reporter)
    elif kind == "pretrained":
        x = pretrained.efficientnet_lite0_features(dataset, reporter, backend)
    elif kind == "columns":
        x = _columns(dataset, arg)
    else:
        x = _torchvision(dataset, arg, reporter, backend)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npy")
        np.save(tmp, x, allow_pickle=False)
        tmp.replace(cache_file)
    reporter.update(f"embedding ({name})", 1, 1)
    return x, None


def build_problem(dataset: Dataset, embedding: str | None = None, *, seed: int = 0,
                  cache_dir: str | Path | None = None, progress: ProgressCallback | Reporter | None = None,
                  cancel: CancelFlag | None = None, backend: Any = None) -> Problem:
    """Embed ``dataset`` (pretrained extractors on ``backend``) and split it into valued and target arrays.

    A dataset without target rows gives every row as valued and an empty target; the
    embeddings learned from the target rows (:data:`LEARNED_EMBEDDINGS`) then have nothing to learn from.
    """
    name = embedding or "raw"
    if not dataset.is_target.any() and name.partition(":")[0] in LEARNED_EMBEDDINGS:
        raise DataError(f"The {name} embedding is learned from the reference (target) rows, and this dataset has "
                        "none; value it with cross-fitting (dataval_core.crossfit) or choose a reference.")
    if dataset.is_target.all():
        raise DataError("Every row is in the target set; nothing is left to value.")
    x, image_shape = embed(dataset, name, seed=seed, cache_dir=cache_dir, progress=progress, cancel=cancel,
                           backend=backend)
    v, t = dataset.valued_index, dataset.target_index
    return Problem(ids=dataset.ids[v], x=x[v], y=dataset.labels[v], x_target=x[t], y_target=dataset.labels[t],
                   classes=dataset.classes, task=dataset.task, embedding=name, image_shape=image_shape)


def pca_dimensions(name: str) -> int:
    """The k of ``pca`` (:data:`DEFAULT_PCA_DIM`) or ``pca:<k>``.

    Raises:
        ValueError: ``k`` is not a positive whole number (one line naming the embedding).
    """
    _, sep, arg = name.partition(":")
    if not sep:
        return DEFAULT_PCA_DIM
    text = arg.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"The embedding {name!r} needs a positive whole number of dimensions after 'pca:' "
                         f"(e.g. pca:16), got {arg!r}.")
    return int(text)


def _pca(dataset: Dataset, k: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = raw_features(dataset).x
    k = max(1, min(k, x.shape[1], x.shape[0]))
    return PCA(n_components=k, random_state=seed).fit_transform(x)


def _learned(dataset: Dataset, kind: str, seed: int, reporter: Reporter) -> np.ndarray:
    fm = raw_features(dataset)
    build = learned.target_trained_features if kind == "target_trained" else learned.cross_fitted_features
    return build(fm.x, dataset.labels, dataset.target_index, image_shape=fm.image_shape, task=dataset.task,
                 n_classes=dataset.n_classes, seed=seed, reporter=reporter)


def _columns(dataset: Dataset, prefix: str) -> np.ndarray:
    if dataset.table is None or not prefix:
        raise DataError("columns:<prefix> needs a table with embedding columns, e.g. columns:emb_.")
    cols = [c for c in dataset.table.columns if c.startswith(prefix) and c != dataset.label_column]
    if not cols:
        raise DataError(f"No columns start with {prefix!r}; available columns: "
                        + ", ".join(map(str, dataset.table.columns[:20])) + ".")
    block = dataset.table[cols]
    bad = [c for c in cols if not np.issubdtype(block[c].to_numpy().dtype, np.number)]
    if bad:
        raise DataError(f"Embedding column {bad[0]!r} is not numeric.")
    x = block.to_numpy(dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"Embedding columns {prefix}* contain missing or infinite values.")
    return x


def cached_torchvision_archs() -> list[str]:
    """Architectures whose default pretrained weights are already in the local torch cache."""
    try:
        import torch
        from torchvision.models import get_model_weights, list_models
    except ImportError:
        return []
    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    if not ckpt.is_dir():
        return []
    present = {p.name for p in ckpt.iterdir()}
    found = []
    for arch in list_models(module=__import__("torchvision").models):
        try:
            url = get_model_weights(arch).DEFAULT.url
        except (ValueError, AttributeError):
            continue
        if url.rsplit("/", 1)[-1] in present:
            found.append(arch)
    return found


def _torchvision(dataset: Dataset, arch: str, reporter: Reporter, backend: Any = None) -> np.ndarray:
    if dataset.modality != IMAGE:
        raise DataError("torchvision embeddings need an image dataset.")
    import torch
    from torchvision.models import get_model_weights

    try:
        weights = get_model_weights(arch).DEFAULT
    except (ValueError, KeyError):
        raise ValueError(f"Unknown torchvision architecture {arch!r}.") from None
    file = Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    if not file.exists():
        raise ValueError(
            f"Pretrained weights for {arch} are not in the local torch cache ({file}). Nothing is downloaded "
            f"here: copy that file there from a machine with internet access, or use an offline embedding: "
            f"{', '.join(OFFLINE_EMBEDDINGS)}.")
    return extract_features(dataset.image_paths(), partial(_torchvision_batch, arch), reporter,
                            f"embedding ({arch})", backend)


def _torchvision_network(arch: str):
    from torchvision.models import get_model, get_model_weights

    from ..torch_models import pick_device

    model = get_model(arch, weights=get_model_weights(arch).DEFAULT)  # reads the cached file; weights_only load
    _drop_classifier(model)
    return model.eval().to(pick_device())


def _torchvision_batch(arch: str, paths: Sequence[Path]) -> np.ndarray:
    import torch

    from ..images import load_image_matrix

    model = network(f"torchvision:{arch}", partial(_torchvision_network, arch))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    px = load_image_matrix(list(paths), TORCHVISION_SIDE, "RGB")
    batch = (torch.as_tensor(px).view(-1, 3, TORCHVISION_SIDE, TORCHVISION_SIDE) - mean) / std
    with torch.no_grad():
        return model(batch.to(next(model.parameters()).device)).flatten(1).cpu().numpy()


def _drop_classifier(model):
    """Replace the final classification layer by identity so the model returns features."""
    import torch.nn as tnn

    for attr in ("fc", "classifier", "heads", "head"):
        if hasattr(model, attr):
            layer = getattr(model, attr)
            if isinstance(layer, tnn.Sequential) and len(layer) > 0:
                layer[-1] = tnn.Identity()
            else:
                setattr(model, attr, tnn.Identity())
            return model
    raise ValueError("Cannot find the classifier layer of this torchvision model.")
