"""The :class:`Workspace`: the store's concerns composed into one object."""
from __future__ import annotations

from .annotation_store import AnnotationStore
from .decision_store import DecisionStore
from .gc import Gc


class Workspace(Gc, DecisionStore, AnnotationStore):
    """A workspace folder; see :mod:`dataval_core.workspace` for its layout.

    Each concern is a mixin in its own module: schema and plumbing (:mod:`.schema`), size
    budget (:mod:`.budget`), grants (:mod:`.access`), uploads and datasets (:mod:`.datasets`),
    runs (:mod:`.runs`), decisions (:mod:`.decision_store`), tags and notes (:mod:`.annotation_store`) and
    housekeeping (:mod:`.gc`).
    Sessions and share keys are the serving layer's (``ui/sessions.py``, ``AppWorkspace``).

    Args:
        root: the folder; defaults to ``$DATAVAL_WORKSPACE`` or ``./.dataval``.
    """
