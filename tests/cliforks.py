"""Run many ``dataval`` command lines as forked children of one warm interpreter (a test helper).

Each command line is its own process, with its own working folder, stdout and stderr files
and exit status, exactly as ``python -m dataval_core.cli ...`` would give, but without paying
the interpreter and import start-up (about 2 s) for every one of them, which keeps the
hostile-input table fast. The parent is a fresh single-threaded process, so forking is safe.

Usage: ``python cliforks.py PARALLEL < jobs.json`` where each job is
``{"cwd", "argv", "stdout", "stderr"}``; prints a JSON list of exit statuses.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback

#: a child still running after this many seconds is killed (a hang fails the test, never blocks it)
CHILD_TIMEOUT_S = 120


def _child(job: dict) -> int:
    from dataval_core.cli import main

    os.chdir(job["cwd"])
    for fd, name in ((1, job["stdout"]), (2, job["stderr"])):
        target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    signal.alarm(CHILD_TIMEOUT_S)
    try:
        code = main(job["argv"])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # shown to the test as a traceback on stderr
        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def run(jobs: list[dict], parallel: int) -> list[int]:
    # warm the imports every child needs
    import dataval_core.cli
    import dataval_core.io
    import dataval_core.runner
    import dataval_core.targets  # noqa: F401

    codes: list[int | None] = [None] * len(jobs)
    running: dict[int, int] = {}

    def reap() -> None:
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)

    for i, job in enumerate(jobs):
        while len(running) >= parallel:
            reap()
        pid = os.fork()
        if pid == 0:
            code = 98
            try:
                code = _child(job)
            finally:
                os._exit(code)
        running[pid] = i
    while running:
        reap()
    return [int(c) for c in codes]


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin), int(sys.argv[1]))))
