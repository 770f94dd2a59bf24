"""The :class:`Workspace`: the store's concerns composed into one object."""
from __future__ import annotations

from .decision_store import DecisionStore
from .gc import Gc
from .sharing import Sharing


class Workspace(Gc, Sharing, DecisionStore):
    """A workspace folder; see :mod:`dataval_core.workspace` for its layout.

    Each concern is a mixin in its own module: schema and plumbing (:mod:`.schema`), size
    budget (:mod:`.budget`), grants (:mod:`.access`), sessions (:mod:`.sessions`), uploads and
    datasets (:mod:`.datasets`), share keys (:mod:`.sharing`), runs (:mod:`.runs`), decisions
    (:mod:`.decision_store`) and housekeeping (:mod:`.gc`).

    Args:
        root: the folder; defaults to ``$DATAVAL_WORKSPACE`` or ``./.dataval``.
    """
