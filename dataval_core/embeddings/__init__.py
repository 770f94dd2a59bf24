"""Embeddings: the features a valuation method sees.

:data:`EMBEDDINGS` (:mod:`.core`) is the table of embedding kinds, their names and help text, read
by the CLI help, the app's menu and the docs; :mod:`.core` also looks names up, caches the
features on disk and builds the :class:`~dataval_core.problem.Problem` a method is fitted on.
``raw`` (:mod:`.raw`) standardises table columns and flattens small images.
"""
from .core import (
    EMBEDDINGS,
    OFFLINE_EMBEDDINGS,
    EmbeddingKind,
    build_problem,
    cached_torchvision_archs,
    embed,
    embedding_kind,
    list_embeddings,
)
from .raw import FeatureMatrix, raw_features

__all__ = ["EMBEDDINGS", "OFFLINE_EMBEDDINGS", "EmbeddingKind", "FeatureMatrix", "build_problem",
           "cached_torchvision_archs", "embed", "embedding_kind", "list_embeddings", "raw_features"]
