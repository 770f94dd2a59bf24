"""Whether the workspace can be used now: ``dataval health`` and the app's banner."""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .budget import BUDGET_ENV_VAR, budget_bytes, folder_bytes, human_size
from .faults import _FAULT_MESSAGES, WorkspaceError, _faults
from .schema import DEFAULT_ROOT, ENV_VAR
from .store import Workspace


@dataclass(frozen=True)
class Health:
    """What :func:`check_workspace` found: ``ok`` and one line for people, plus the sizes behind it."""

    ok: bool
    message: str
    root: str
    used_bytes: int
    budget_bytes: float | None
    free_bytes: int | None


def check_workspace(root: str | Path | None = None, probe_bytes: int = 1 << 16) -> Health:
    """Whether the workspace can be opened and written now (for ``dataval health`` and the app's banner).

    A workspace that does not exist yet is reported missing, not created. Opens (and migrates) it,
    writes and removes a ``probe_bytes`` file, takes SQLite's write lock, and compares its size with
    the budget. Never raises.
    """
    path = Path(root or os.environ.get(ENV_VAR) or DEFAULT_ROOT).resolve()
    used, budget, free = 0, None, None
    try:
        budget = budget_bytes()
        if not (path / "workspace.sqlite").is_file():  # a check never creates one (e.g. on an unmounted disk)
            raise WorkspaceError(_FAULT_MESSAGES["missing"], "missing")
        ws = Workspace(path)
        used = folder_bytes(ws.root)
        free = shutil.disk_usage(ws.root).free
        probe = ws.root / f".health-{os.getpid()}-{threading.get_ident()}"
        try:
            with _faults(ws.root), open(probe, "wb") as fh:
                fh.write(b"\0" * probe_bytes)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            probe.unlink(missing_ok=True)
        with _faults(ws.root), closing(ws._connect()) as con:
            con.isolation_level = None
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
        if budget is not None and used > budget:
            return Health(False, f"over its size budget: {human_size(used)} of {human_size(budget)} used "
                                 f"({BUDGET_ENV_VAR}); run `dataval gc`", str(path), used, budget, free)
    except (WorkspaceError, ValueError) as exc:
        return Health(False, f"unwritable: {exc}", str(path), used, budget, free)
    size = f"{human_size(used)} used" + (f" of {human_size(budget)} budget" if budget is not None else "")
    return Health(True, f"ok ({size}, {human_size(free)} free on disk)", str(path), used, budget, free)
