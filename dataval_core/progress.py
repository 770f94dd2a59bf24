"""Progress events and cancellation shared by every long-running engine function.

The engine never draws anything: it calls a ``ProgressCallback`` with a
:class:`Progress` record at natural boundaries (an epoch, a batch pair, a chunk)
and checks a cancel flag there. The app turns events into ``st.progress``; the
CLI into a bar on stderr.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True)
class Progress:
    """One progress event: ``done`` of ``total`` units of ``stage`` are finished."""

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class RunState(StrEnum):
    """The states of a valuation run or background task, as stored and shown.

    ``interrupted`` marks a run whose server process ended before it finished.
    """

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


#: states of a run that has not finished yet
ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING)


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(Exception):
    """Raised inside the engine when the caller's cancel flag is set."""


class Reporter:
    """Bundles a progress callback and a cancel flag; methods call :meth:`update`.

    ``update`` forwards the event and raises :class:`Cancelled` when the flag is set,
    so cancellation happens between units of work and never leaves half-written state.
    """

    def __init__(self, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None):
        self._progress = progress
        self._cancel = cancel

    def check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    def update(self, stage: str, done: int, total: int, message: str = "") -> None:
        self.check()
        if self._progress is not None:
            self._progress(Progress(stage, int(done), int(total), message))

    def scaled(self, stage_prefix: str = "") -> Reporter:
        """A reporter for a sub-task (same callback and flag, stage names prefixed), e.g. a consensus member."""
        if not stage_prefix:
            return self

        def forward(p: Progress) -> None:
            if self._progress is not None:
                self._progress(Progress(f"{stage_prefix}{p.stage}", p.done, p.total, p.message))

        return Reporter(forward, self._cancel)

def as_reporter(progress: ProgressCallback | Reporter | None = None, cancel: CancelFlag | None = None) -> Reporter:
    if isinstance(progress, Reporter):
        return progress
    return Reporter(progress, cancel)


def stderr_bar(stream=None, width: int = 30, min_interval_s: float = 0.2) -> ProgressCallback:
    """A text progress bar on stderr for the CLI (redrawn at most every ``min_interval_s``)."""
    out = stream or sys.stderr
    last: dict[str, Any] = {"t": 0.0, "stage": None}

    def draw(p: Progress) -> None:
        now = time.monotonic()
        finished = p.done >= p.total
        if not finished and p.stage == last["stage"] and now - last["t"] < min_interval_s:
            return
        last["t"], last["stage"] = now, p.stage
        filled = int(round(width * p.fraction))
        bar = "#" * filled + "-" * (width - filled)
        out.write(f"\r{p.stage[:28]:<28} [{bar}] {p.done}/{p.total} {p.message[:30]}")
        if finished:
            out.write("\n")
        out.flush()

    return draw
