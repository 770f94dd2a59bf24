"""Progress events and cancellation shared by every long-running engine function.

The engine never draws anything: it calls a ``ProgressCallback`` with a
:class:`Progress` record at natural boundaries (an epoch, a batch pair, a chunk)
and checks a cancel flag there. The app turns events into ``st.progress``; the
CLI into a bar on stderr.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True)
class Progress:
    """One progress event: ``done`` of ``total`` units of ``stage`` are finished.

    ``overall`` is the fraction of the whole run done, across its stages (see :class:`Reporter`); None when the
    event did not come through a :class:`Reporter`.
    """

    stage: str
    done: int
    total: int
    message: str = ""
    overall: float | None = None

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


#: share of what is left of its span that a newly seen stage is drawn over (later stages share the rest): a stage
#: of many units is the main work, one of a few units (``0/1``, ``1/1``) is usually a setup step
STAGE_SHARE, FEW_UNITS_SHARE, MANY_UNITS = 0.8, 0.25, 5
#: share of what is left that a sub-task (:meth:`Reporter.scaled`) gets before its parent has counted any unit
CHILD_SHARE = 0.15


class _Track:
    """Folds one reporter's stage events into a position in ``[lo, hi]`` of the whole run that never goes back.

    Stages arrive one after another and the engine does not say how many there are: a new stage is drawn from
    where the last one got to over :data:`STAGE_SHARE` of what is left of the span (:data:`FEW_UNITS_SHARE`
    for a stage of fewer than :data:`MANY_UNITS` units); a stage that goes on counting the last one's units
    (``label cost 0/3`` then ``OT solve 1/3``) continues its segment. A sub-task (a consensus
    member, a cross-fitting fold) gets the next unit of its parent's counting stage when that stage has counted
    one (``1/6`` members done: the next member covers the second sixth), else :data:`CHILD_SHARE` of what is
    left; a parent stage first seen after its sub-tasks starts where they started, since they were its units.
    """

    def __init__(self, lo: float, hi: float, parent: _Track | None = None):
        self.lo, self.hi, self.parent = lo, hi, parent
        self.pos = lo
        self.stage: str | None = None
        self.seg = (lo, hi)
        self.count = (0, 0)  # done, total of the current stage
        self.children_from: float | None = None  # where the sub-tasks since the last own event began

    def see(self, stage: str, done: int, total: int) -> float:
        """The run's overall fraction after this reporter's event."""
        if stage != self.stage:
            last_done, last_total = self.count
            if not (self.stage is not None and total == last_total > 1 and done >= last_done):
                start = self.pos if self.children_from is None else self.children_from
                share = STAGE_SHARE if total >= MANY_UNITS else FEW_UNITS_SHARE
                self.seg = (start, start + (self.hi - start) * share)
            self.stage = stage
        self.children_from = None
        self.count = (done, total)
        a, b = self.seg
        self.advance(a + (b - a) * (1.0 if total <= 0 else min(1.0, max(0, done) / total)))
        return self.pos

    def advance(self, pos: float) -> None:
        if pos > self.pos:
            self.pos = min(pos, self.hi)
            if self.parent is not None:
                self.parent.advance(self.pos)

    def child(self) -> _Track:
        """The span of a sub-task that starts now."""
        if self.children_from is None:
            self.children_from = self.pos
        done, total = self.count
        if self.stage is not None and 0 < done < total:
            a, b = self.seg
            lo, hi = a + (b - a) * done / total, a + (b - a) * (done + 1) / total
            if hi > self.pos:
                return _Track(max(lo, self.pos), hi, self)
        return _Track(self.pos, self.pos + (self.hi - self.pos) * CHILD_SHARE, self)

    def within(self, lo: float, hi: float) -> _Track:
        width = self.hi - self.lo
        return _Track(self.lo + width * lo, self.lo + width * hi, self)


class Reporter:
    """Bundles a progress callback and a cancel flag; methods call :meth:`update`.

    ``update`` forwards the event and raises :class:`Cancelled` when the flag is set,
    so cancellation happens between units of work and never leaves half-written state.
    Each event carries the run's ``overall`` fraction, which never goes back between stages (see
    :class:`_Track`); :meth:`within` gives a phase of the run (the embedding, the method) its share.
    """

    def __init__(self, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None, *,
                 _track: _Track | None = None):
        self._progress = progress
        self._cancel = cancel
        self._track = _track or _Track(0.0, 1.0)

    @property
    def overall(self) -> float:
        """The fraction of the whole run done so far."""
        return self._track.pos

    def check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    def update(self, stage: str, done: int, total: int, message: str = "") -> None:
        self.check()
        overall = self._track.see(stage, int(done), int(total))
        if self._progress is not None:
            self._progress(Progress(stage, int(done), int(total), message, overall))

    def within(self, lo: float, hi: float) -> Reporter:
        """A reporter for the phase ``[lo, hi]`` of this reporter's span (same callback and flag)."""
        return Reporter(self._progress, self._cancel, _track=self._track.within(lo, hi))

    def scaled(self, stage_prefix: str = "") -> Reporter:
        """A reporter for a sub-task (same callback and flag, stage names prefixed), e.g. a consensus member.

        Its events move the overall fraction through the sub-task's share of this reporter's span.
        """
        if not stage_prefix:
            return self

        def forward(p: Progress) -> None:
            if self._progress is not None:
                self._progress(Progress(f"{stage_prefix}{p.stage}", p.done, p.total, p.message, p.overall))

        return Reporter(forward, self._cancel, _track=self._track.child())


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


class EtaSmoother:
    """Seconds left in a run from its overall fraction, steady enough to read.

    The reading is the run's own pace, ``elapsed * (1 - f) / f``. The shown estimate counts down with the clock
    and moves towards each new reading by ``1 - exp(-dt / tau_s)`` of the gap, so how often it is asked does not
    change it, and a stage that is faster or slower than the last pulls the estimate over ``tau_s`` seconds instead
    of making it jump. Before any progress it is ``expected_s - elapsed`` when an expected duration is given
    (e.g. from the last similar run), else None.
    """

    #: no reading of the pace before this much of the run and this many seconds (the first events say little)
    MIN_FRACTION, MIN_ELAPSED_S = 0.01, 1.0

    def __init__(self, tau_s: float = 8.0, expected_s: float | None = None):
        self.tau_s, self.expected_s = tau_s, expected_s
        self._value: float | None = None
        self._time = 0.0

    def update(self, now: float, elapsed: float, fraction: float) -> float | None:
        """The estimate at monotonic time ``now``, ``elapsed`` seconds into the run, ``fraction`` of it done."""
        reading = None
        if fraction >= 1.0:
            reading = 0.0
        elif fraction >= self.MIN_FRACTION and elapsed >= self.MIN_ELAPSED_S:
            reading = elapsed * (1.0 - fraction) / fraction
        elif self.expected_s is not None:
            reading = max(0.0, self.expected_s - elapsed)
        if self._value is None:
            self._value = reading
        else:
            counted = max(0.0, self._value - max(0.0, now - self._time))
            weight = 1.0 - math.exp(-max(0.0, now - self._time) / self.tau_s)
            self._value = counted if reading is None else counted + weight * (reading - counted)
        self._time = now
        return self._value
