"""A valuation run in a child process, kept apart from the app's server.

In the server process a run shares the interpreter lock with every page's script run, runs
at the pages' CPU priority, cannot be stopped where it does not check its cancel flag, and a
run that exhausts memory takes every user's session down with it. Here the run is
``python -m dataval_core.run_process`` at a lower CPU priority (:data:`NICENESS`), killed
when it ignores a cancel, failing alone: it loads the record's dataset from the workspace, values it with
:func:`~dataval_core.runner.run_valuation` and saves the result there, exactly as a run in a
thread would (same seed, same values).

The two processes speak JSON lines, never pickle: the parent writes the run's spec and later
``cancel`` on the child's stdin; the child writes ``progress``, then one of ``done``,
``failed`` (a one-line reason; the traceback goes to the server's log) or ``cancelled`` on
its own pipe (its stdout is the log too, so nothing a library prints can garble a message).
A child that ignores ``cancel`` for :data:`KILL_AFTER_S` is killed, one whose parent is gone
(its stdin closed) cancels itself, and one that dies (out of memory) fails the run with its
exit status.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from .errors import RunFailed, one_line_error
from .progress import CancelFlag, Cancelled, Progress, ProgressCallback

log = logging.getLogger(__name__)

#: CPU priority of a run's process: the pages (and the browsers on the same machine) come first
NICENESS = 10
#: seconds a child may take to stop after ``cancel`` (it checks at every progress point) before it is killed
KILL_AFTER_S = 5.0
#: how often the parent looks at the cancel flag while the child is quiet
POLL_S = 0.2
#: least seconds between two progress messages of the same stage
PROGRESS_EVERY_S = 0.1


def backend_spec(backend: Any) -> tuple[str, str | None] | None:
    """(name, address) of ``backend`` (``None``, a name, or a :class:`~dataval_core.backend.Backend`), for the
    child to make its own."""
    if backend is None:
        return None
    if isinstance(backend, str):
        return backend, None
    return backend.name, getattr(backend, "address", None)


class RunProcess:
    """A child process that imports the engine at once, then waits for one run (see :meth:`run`).

    Started ahead of need (the :class:`~dataval_core.jobs.JobManager` keeps one spare), a run skips
    the seconds its imports take. Closing it (or this process ending) makes an idle child exit.
    """

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "DATAVAL_RUN_FD": str(write_fd)}
        try:
            self._child = subprocess.Popen([sys.executable, "-m", "dataval_core.run_process"],
                                           stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env,
                                           cwd=Path(__file__).resolve().parent.parent, text=True,
                                           start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read, args=(read_fd, self._lines), daemon=True, name="dataval-run-events").start()

    @property
    def pid(self) -> int:
        return self._child.pid

    def alive(self) -> bool:
        return self._child.poll() is None

    def run(self, spec: Mapping[str, Any], progress: ProgressCallback, cancel: CancelFlag) -> None:
        """Run the valuation ``spec`` (see :func:`_run`) in the child and wait for it; the child ends with it.

        Progress is passed on to ``progress``; raises :class:`Cancelled` when ``cancel`` was set, and
        :class:`~dataval_core.errors.RunFailed` with the child's one-line reason when the run failed.
        """
        self._send(json.dumps(dict(spec)))
        try:
            end = self._follow(progress, cancel)
        finally:
            self.close()
        if end.get("event") == "done":
            return
        if end.get("event") == "cancelled" or cancel.is_set():
            raise Cancelled("cancelled")
        if end.get("event") == "failed":
            raise RunFailed(end.get("error") or "The run failed.")
        raise RunFailed(f"The run's process ended unexpectedly (exit status {self._child.returncode}); "
                        "it may have run out of memory.")

    def close(self) -> None:
        """Close the child's stdin (a running child takes that as cancel, an idle one exits) and reap it."""
        try:
            assert self._child.stdin is not None
            self._child.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._child.wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()

    def _follow(self, progress: ProgressCallback, cancel: CancelFlag) -> dict[str, Any]:
        """Pass the child's progress on until its last message (or its end); ask it to stop when ``cancel`` is
        set, and kill it when it has not stopped :data:`KILL_AFTER_S` later."""
        asked_at: float | None = None
        while True:
            if cancel.is_set() and asked_at is None:
                asked_at = time.monotonic()
                self._send("cancel")
            if asked_at is not None and time.monotonic() - asked_at > KILL_AFTER_S:
                self._child.kill()
                return {"event": "cancelled"}
            try:
                line = self._lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if not line:
                self._child.wait()
                return {}
            msg = json.loads(line)
            if msg["event"] != "progress":
                return msg
            progress(Progress(msg["stage"], msg["done"], msg["total"], msg["message"], msg["overall"]))

    def _send(self, line: str) -> None:
        try:
            assert self._child.stdin is not None
            self._child.stdin.write(line + "\n")
            self._child.stdin.flush()
        except (BrokenPipeError, ValueError):  # already gone
            pass


def _read(fd: int, lines: queue.Queue[str]) -> None:
    """Queue the child's messages, then "" once it closed its end (it is gone)."""
    with os.fdopen(fd, "r") as events:
        for line in events:
            lines.put(line)
    lines.put("")


# -- the child -----------------------------------------------------------------------------------------------
def _emit(out: TextIO, **msg: Any) -> None:
    try:
        out.write(json.dumps(msg) + "\n")
        out.flush()
    except BrokenPipeError:  # the parent is gone; its closed stdin has cancelled the run
        pass


def _reporter(out: TextIO) -> ProgressCallback:
    last: dict[str, Any] = {"t": 0.0, "stage": None}

    def report(p: Progress) -> None:
        now = time.monotonic()
        if p.stage == last["stage"] and p.done < p.total and now - last["t"] < PROGRESS_EVERY_S:
            return
        last.update(t=now, stage=p.stage)
        _emit(out, event="progress", stage=p.stage, done=p.done, total=p.total, message=p.message,
              overall=p.overall)

    return report


def _watch_stdin(cancel: threading.Event) -> None:
    """Set ``cancel`` on a ``cancel`` line or when the parent closes the pipe (it stopped waiting or died)."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    cancel.set()


def _run(spec: Mapping[str, Any], out: TextIO, cancel: threading.Event) -> None:
    """Value record ``spec["key"]`` of the workspace at ``spec["root"]`` and save the result as run
    ``spec["run_id"]``; the other keys are :func:`~dataval_core.runner.run_valuation`'s arguments."""
    from .backend import get_backend
    from .runner import run_valuation
    from .workspace import Workspace

    try:
        ws = Workspace(spec["root"])
        backend = spec.get("backend")
        result = run_valuation(ws.load_dataset(spec["key"]), spec["method"], embedding=spec.get("embedding"),
                               params=spec.get("params"), seed=int(spec.get("seed", 0)), progress=_reporter(out),
                               cancel=cancel, cache_dir=ws.cache_dir,
                               backend=None if backend is None else get_backend(*backend),
                               embedding_share=spec.get("embedding_share"))
        ws.save_result(spec["run_id"], result)
    except Cancelled:
        _emit(out, event="cancelled")
    except Exception as exc:  # every failure becomes one line for the user; the traceback goes to the log
        log.exception("run %s failed", spec.get("run_id"))
        _emit(out, event="failed", error=one_line_error(exc))
    else:
        _emit(out, event="done")


def _lower_priority() -> None:
    """Nice this process by :data:`NICENESS`. It leads its own session, and where the kernel groups CPU time by
    session (Linux's autogroup) that group's weight is lowered too: a nice value alone only counts within a
    group, and the group would otherwise get as much CPU as the server's or a browser's."""
    os.nice(NICENESS)
    try:
        Path("/proc/self/autogroup").write_text(str(NICENESS))
    except OSError:  # no autogroup (or not Linux): the nice value already applies machine-wide
        pass


def main() -> None:
    out = os.fdopen(int(os.environ["DATAVAL_RUN_FD"]), "w")
    _lower_priority()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from . import runner  # noqa: F401  (the seconds of imports, before the run is asked for)

    line = sys.stdin.readline()
    if not line:  # closed while idle: not needed
        return
    spec = json.loads(line)
    cancel = threading.Event()
    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True, name="dataval-run-cancel").start()
    _run(spec, out, cancel)
    out.close()


if __name__ == "__main__":
    main()
