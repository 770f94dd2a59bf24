"""Sizes on disk and the workspace's size budget (``$DATAVAL_MAX_WORKSPACE_GB``)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .faults import WorkspaceError
from .schema import StoreBase

BUDGET_ENV_VAR = "DATAVAL_MAX_WORKSPACE_GB"


def budget_bytes() -> float | None:
    """The workspace size budget from ``$DATAVAL_MAX_WORKSPACE_GB`` in bytes (None: no budget)."""
    raw = os.environ.get(BUDGET_ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        gb = float(raw)
    except ValueError:
        gb = -1.0
    if not 0 < gb < float("inf"):
        raise ValueError(f"{BUDGET_ENV_VAR} must be a positive number of GB, got {raw!r}.")
    return gb * 1e9


def human_size(nbytes: float) -> str:
    """A byte count in the unit that reads best: ``"512 bytes"``, ``"640 KB"``, ``"3.4 MB"``, ``"1.25 GB"``."""
    if nbytes < 1e3:
        return f"{nbytes:.0f} bytes"
    if nbytes < 1e6:
        return f"{nbytes / 1e3:.0f} KB"
    if nbytes < 1e9:
        return f"{nbytes / 1e6:.1f} MB"
    return f"{nbytes / 1e9:.2f} GB"


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return total


class Budget(StoreBase):
    """The size budget: new uploads, datasets and runs are refused once the workspace is over it."""

    def __init__(self, root: str | Path | None = None):
        self.max_bytes = budget_bytes()
        super().__init__(root)

    def usage_bytes(self, max_age: float = 10.0) -> int:
        """Bytes the workspace holds on disk (measured at most every ``max_age`` seconds)."""
        with self._lock:
            if self._usage is not None and time.monotonic() - self._usage[0] < max_age:
                return self._usage[1]
        used = folder_bytes(self.root)
        with self._lock:
            self._usage = (time.monotonic(), used)
        return used

    def check_budget(self, adding: int = 0) -> None:
        """Raise :class:`WorkspaceError` when the workspace (plus ``adding`` bytes) exceeds its size budget."""
        if self.max_bytes is None:
            return
        used = self.usage_bytes()
        if used + adding > self.max_bytes:
            raise WorkspaceError(
                f"The workspace has reached its size budget ({human_size(used)} of {human_size(self.max_bytes)}, "
                f"{BUDGET_ENV_VAR}), so new uploads and runs are refused. Ask the admin to run `dataval gc`.",
                "over_budget")
