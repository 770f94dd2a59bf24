"""Embeddings: the features a valuation method sees.

``raw`` (:mod:`.raw`) standardises table columns and flattens small images; :mod:`.core`
maps an embedding name to its builder, caches the result on disk and builds the
:class:`~dataval_core.problem.Problem` a method is fitted on.
"""
from .core import OFFLINE_EMBEDDINGS, build_problem, cached_torchvision_archs, embed, list_embeddings
from .raw import FeatureMatrix, raw_features

__all__ = ["OFFLINE_EMBEDDINGS", "FeatureMatrix", "build_problem", "cached_torchvision_archs", "embed",
           "list_embeddings", "raw_features"]
