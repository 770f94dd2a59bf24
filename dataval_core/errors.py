"""One readable line for an exception: what the app and a run's status show instead of a traceback."""
from __future__ import annotations

import errno

from .workspace import WorkspaceError

_MAX_ERROR_CHARS = 300
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class RunFailed(RuntimeError):
    """A run failed somewhere else (its own process) and this is the one line it gave for why."""


#: exceptions whose message is written for the user (shown without the class name)
_USER_ERRORS = (ValueError, ImportError, MemoryError, FileNotFoundError, WorkspaceError, RunFailed)


def one_line_error(exc: BaseException) -> str:
    """A single readable line for ``exc`` (the first line of its message)."""
    if isinstance(exc, OSError) and not isinstance(exc, WorkspaceError) and exc.errno in _DISK_FULL:
        # e.g. an embedding cache write: the reason, never the server path in the message
        return "The disk is full, so the run could not write its files. Free some space (or run `dataval gc`) " \
               "and try again."
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if not isinstance(exc, _USER_ERRORS) or not text:
        text = f"{type(exc).__name__}: {text}" if text else f"Unexpected {type(exc).__name__}."
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS - 1] + "…"
