"""The workspace's one error type for faults, and how OS and SQLite failures map onto it."""
from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WorkspaceError(OSError):
    """The workspace cannot be used as asked (missing, read-only, full or over budget).

    The message is one line for the user and names no server path; ``reason`` is one of
    ``missing``, ``read_only``, ``full``, ``over_budget``, ``newer`` or ``io``. A write that
    raised this was not saved.
    """

    def __init__(self, message: str, reason: str = "io"):
        super().__init__(message)
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[0])


class AccessError(PermissionError):
    """This session may not do that to the dataset (read-only share, invalid share key)."""

    def __str__(self) -> str:
        return str(self.args[0])


#: free bytes under which a disk I/O error from SQLite is taken for a full disk
_FULL_BELOW_BYTES = 1 << 20
_FAULT_MESSAGES = {
    "full": "The workspace disk is full, so nothing more can be saved. Free some space (or run `dataval gc`) "
            "and try again.",
    "read_only": "The workspace is read-only for this server, so nothing can be saved. Ask the admin to make it "
                 "writable.",
    "missing": "The workspace folder is missing or cannot be opened. Ask the admin to check it "
               "(`dataval health`).",
}


def _disk_nearly_full(root: Path | None) -> bool:
    try:
        return root is not None and shutil.disk_usage(root).free < _FULL_BELOW_BYTES
    except OSError:
        return False


def _read_only(root: Path | None) -> bool:
    """Whether ``root`` exists but cannot be written (read-only mount or no permission)."""
    try:
        return root is not None and root.is_dir() and (
            bool(os.statvfs(root).f_flag & os.ST_RDONLY) or not os.access(root, os.W_OK))
    except OSError:
        return False


def _fault(exc: BaseException, root: Path | None = None) -> WorkspaceError:
    """The :class:`WorkspaceError` for an ``OSError`` or ``sqlite3.Error`` raised by workspace I/O under ``root``.

    SQLite reports a full disk as ``SQLITE_FULL`` or, when its journal cannot grow, as a
    disk I/O error; the latter counts as full when the disk has almost no space left.
    """
    if isinstance(exc, WorkspaceError):
        return exc
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text or \
            ("disk i/o error" in text and _disk_nearly_full(root)):
        reason = "full"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text or "read-only" in text or \
            ("unable to open" in text and _read_only(root)):
        reason = "read_only"
    elif code == errno.ENOENT or "unable to open" in text or "no such table" in text:
        reason = "missing"
    else:
        return WorkspaceError(f"The workspace could not be used ({type(exc).__name__}: {str(exc)[:120]}).", "io")
    return WorkspaceError(_FAULT_MESSAGES[reason], reason)


@contextmanager
def _faults(root: Path | None = None) -> Iterator[None]:
    """Turn I/O and SQLite failures inside the block into one :class:`WorkspaceError` (see :func:`_fault`)."""
    try:
        yield
    except (WorkspaceError, AccessError):
        raise
    except (OSError, sqlite3.Error) as exc:
        raise _fault(exc, root) from exc
