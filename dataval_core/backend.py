"""Where a method's independent tasks run: local threads/processes (default) or a Ray cluster.

A method splits its work into tasks (sava's batch pairs, knn_shapley's target chunks,
data_oob's bags) and hands them to :meth:`Backend.map` with the read-only data they
share. The backend runs them, reports progress in finished tasks, checks the cancel flag
at least twice a second (cancelling the outstanding tasks), and yields each result with
its task index. Results are keyed by index, so values do not depend on the backend,
the worker count or the finishing order.

``ray``: the shared data go to Ray's object store once (``ray.put``), every task is a
remote call that Ray retries when its worker or node dies (``max_retries``); when the
retries are spent the run fails with :class:`BackendError` and returns no values.
Arrays that live in a file (``np.memmap``) travel as :class:`RowSource` (path, dtype,
shape) so workers read their rows from shared storage themselves.
"""
from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from typing import Any

import numpy as np

from .progress import Reporter

#: how often (seconds) a waiting driver checks the cancel flag
POLL_S = 0.25
#: times Ray reruns a task whose worker or node died before the run fails
RAY_MAX_RETRIES = 3
BACKENDS = ("local", "ray")
ADDRESS_ENV = "DATAVAL_RAY_ADDRESS"


class BackendError(OSError):
    """The compute backend failed (no cluster, or a task lost more workers than it may retry)."""


def local_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class RowSource:
    """A picklable handle on a 2-D array: a memory-mapped file by path, or the array itself.

    Workers on other machines open the file themselves (it must be on shared storage),
    so the rows never pass through the driver or the object store.
    """

    array: np.ndarray | None
    path: str | None = None
    dtype: str = "float32"
    shape: tuple[int, ...] = ()
    offset: int = 0

    @classmethod
    def of(cls, x: np.ndarray) -> RowSource:
        obj: Any = x
        while obj is not None:
            if isinstance(obj, np.memmap) and obj.filename and x.flags.c_contiguous and obj.shape == x.shape:
                return cls(None, str(obj.filename), x.dtype.str, tuple(x.shape), int(obj.offset))
            obj = getattr(obj, "base", None)
        return cls(np.asarray(x))

    def open(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        assert self.path is not None
        return np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r", offset=self.offset, shape=self.shape)


class Backend(ABC):
    """Runs a method's tasks; subclasses say where."""

    name = "local"
    #: whether workers read rows from a :class:`RowSource` themselves (else the driver sends them)
    remote_reads = False

    def cores(self) -> int:
        """CPUs the backend can use at once (sizes the task grain)."""
        return local_cores()

    @abstractmethod
    def describe(self) -> str:
        """Where runs compute, in words for the user."""

    @abstractmethod
    def map(self, fn: Callable, tasks: Sequence[tuple | Callable[[], tuple]], reporter: Reporter, stage: str, *,
            shared: Any = None, workers: int = 0, processes: bool = False, units: Sequence[int] | None = None,
            ordered: bool = False) -> Iterator[tuple[int, Any]]:
        """Run ``fn(shared, *task)`` for every task; yield ``(task index, result)``.

        Args:
            fn: a module-level function (picklable for processes and Ray).
            tasks: argument tuples, one per task, or zero-argument callables that build
                them when the task is submitted (e.g. read a batch only when a worker is free).
            reporter: progress (``stage``, finished units of all) and the cancel flag.
            shared: read-only data every task needs, sent once per worker.
            workers: local workers (0 = all cores); ignored by Ray, which uses the cluster.
            processes: local only: worker processes instead of threads (for code holding the GIL).
            units: progress units per task (default 1 each).
            ordered: yield in task order (for sums whose rounding must not depend on timing).

        Raises:
            Cancelled: the cancel flag was set; outstanding tasks are cancelled.
            BackendError: Ray lost a task's workers more often than it retries.
        """


def _args(task) -> tuple:
    return task() if callable(task) else task


def _ordered(results: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """Re-emit ``(index, result)`` pairs in index order, buffering early arrivals."""
    buffer, nxt = {}, 0
    for i, r in results:
        buffer[i] = r
        while nxt in buffer:
            yield nxt, buffer.pop(nxt)
            nxt += 1


class _Progress:
    def __init__(self, reporter: Reporter, stage: str, units: Sequence[int] | None, n: int):
        self.reporter, self.stage = reporter, stage
        self.units = units or [1] * n
        self.total, self.done = int(sum(self.units)), 0
        reporter.update(stage, 0, self.total)

    def finished(self, i: int) -> None:
        self.done += self.units[i]
        self.reporter.update(self.stage, self.done, self.total, f"{self.done}/{self.total}")


#: per-process copy of the shared data of local worker processes
_PROCESS_SHARED: dict = {}


def _init_process(shared: Any) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # one BLAS thread per worker process
    _PROCESS_SHARED["shared"] = shared


def _call_in_process(fn: Callable, args: tuple) -> Any:
    return fn(_PROCESS_SHARED["shared"], *args)


def _process_context():
    """``fork`` when this process runs a single Python thread (workers start at once, no
    imports); ``spawn`` otherwise (e.g. inside Streamlit), since forking a process whose
    other threads may hold locks can deadlock the child."""
    import multiprocessing

    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class LocalBackend(Backend):
    """This machine: a thread pool, or worker processes that receive ``shared`` once."""

    name = "local"

    def describe(self) -> str:
        return f"this machine ({local_cores()} cores)"

    def map(self, fn, tasks, reporter, stage, *, shared=None, workers=0, processes=False, units=None,
            ordered=False):
        results = self._run(fn, list(tasks), reporter, stage, shared, workers, processes, units)
        return _ordered(results) if ordered else results

    def _run(self, fn, tasks, reporter, stage, shared, workers, processes, units):
        progress = _Progress(reporter, stage, units, len(tasks))
        if not tasks:
            return
        workers = max(1, min(workers or local_cores(), len(tasks)))
        if workers == 1 and not processes:
            for i, args in enumerate(tasks):
                reporter.check()
                yield i, fn(shared, *_args(args))
                progress.finished(i)
            return
        pool: Executor
        if processes:
            pool = ProcessPoolExecutor(workers, mp_context=_process_context(), initializer=_init_process,
                                       initargs=(shared,))

            def submit(args):
                return pool.submit(_call_in_process, fn, args)
        else:
            pool = ThreadPoolExecutor(workers)

            def submit(args):
                return pool.submit(fn, shared, *args)

        queue = iter(enumerate(tasks))
        pending: dict[Future, int] = {}

        def top_up():
            while len(pending) < 2 * workers:
                nxt = next(queue, None)
                if nxt is None:
                    return
                pending[submit(_args(nxt[1]))] = nxt[0]

        clean = False
        try:
            top_up()
            while pending:
                finished, _ = wait(list(pending), timeout=POLL_S, return_when=FIRST_COMPLETED)
                reporter.check()
                for fut in finished:
                    i = pending.pop(fut)
                    result = fut.result()
                    top_up()
                    yield i, result
                    progress.finished(i)
            clean = True
        finally:
            # on cancel or error: drop queued tasks and return now; running ones end on their own
            pool.shutdown(wait=clean, cancel_futures=True)


class RayBackend(Backend):
    """A Ray cluster: the one at ``address``, else a running one, else a local Ray on this machine."""

    name = "ray"
    remote_reads = True

    def __init__(self, address: str | None = None):
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self._remote: dict[Callable, Any] = {}

    def connect(self):
        """Connect once per process (reuses an existing connection); returns the ``ray`` module."""
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is a dependency
            raise BackendError("the ray backend needs the ray package (pip install ray)") from None
        if ray.is_initialized():
            return ray
        import logging

        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        if self.address:
            _check_reachable(self.address)
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                try:
                    ray.init(address="auto", **options)
                except ConnectionError:
                    ray.init(num_cpus=local_cores(), **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "this machine"
            raise BackendError(f"cannot connect to a Ray cluster at {where}: {str(exc).splitlines()[0]}") from None
        return ray

    def cores(self) -> int:
        ray = self.connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def describe(self) -> str:
        ray = self.connect()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        where = self.address or ray.get_runtime_context().gcs_address
        return f"Ray cluster at {where} ({nodes} node{'s' * (nodes != 1)}, {self.cores()} CPUs)"

    def _remote_fn(self, ray, fn):
        if fn not in self._remote:
            self._remote[fn] = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES,
                                          retry_exceptions=False)(_ray_task).options(name=fn.__name__)
        return self._remote[fn]

    def map(self, fn, tasks, reporter, stage, *, shared=None, workers=0, processes=False, units=None,
            ordered=False):
        results = self._run(fn, list(tasks), reporter, stage, shared, units)
        return _ordered(results) if ordered else results

    def _run(self, fn, tasks, reporter, stage, shared, units):
        ray = self.connect()
        progress = _Progress(reporter, stage, units, len(tasks))
        if not tasks:
            return
        remote = self._remote_fn(ray, fn)
        shared_ref = ray.put(shared)
        # a bounded window of tasks in flight: the driver holds few result refs at a time
        window = 2 * self.cores() + 2
        queue = iter(enumerate(tasks))
        pending: dict[Any, int] = {}

        def top_up():
            while len(pending) < window:
                nxt = next(queue, None)
                if nxt is None:
                    return
                pending[remote.remote(fn, shared_ref, *_args(nxt[1]))] = nxt[0]

        try:
            top_up()
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                reporter.check()
                for ref in finished:
                    i = pending.pop(ref)
                    result = _ray_get(ray, ref, stage)
                    top_up()
                    yield i, result
                    progress.finished(i)
        finally:
            for ref in pending:  # cancel, error or abandoned generator: stop the outstanding tasks
                ray.cancel(ref, force=True)


#: an HTTP/2 client connection preface and an empty SETTINGS frame: what a gRPC client sends first
_H2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 0x04


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, on a cluster address where no Ray answers.

    ``ray.init`` retries such an address for minutes and prints its C++ client's log lines.
    Ray's GCS (and Ray Client) speak gRPC, so a server that does not answer an HTTP/2
    greeting with a SETTINGS frame (a web server, a database, a closed or silent port) is
    not a Ray cluster.
    """
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    hint = "start one with `ray start --head` or check the Ray address (--ray-address)"
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
    except OSError as exc:
        raise BackendError(f"no Ray cluster answers at {address} ({exc.strerror or type(exc).__name__}); "
                           f"{hint}.") from None
    reply = b""
    with sock:
        try:
            sock.sendall(_H2_HELLO)
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass  # a silent or closed connection: judged by what arrived
    if len(reply) < 4 or reply[3] != _H2_SETTINGS:
        raise BackendError(f"no Ray cluster answers at {address} (something listens there, but it does not speak "
                           f"Ray's gRPC protocol); {hint}.")


def _ray_task(fn, shared, *args):
    return fn(shared, *args)


def _ray_get(ray, ref, stage: str):
    """``ray.get`` that re-raises a task's own exception as itself and a lost worker or node
    as :class:`BackendError` (the run fails: no partial values)."""
    from ray import exceptions as rex

    try:
        return ray.get(ref)
    except rex.RayTaskError as exc:
        raise exc.as_instanceof_cause() from None
    except (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError, rex.OwnerDiedError,
            rex.RaySystemError, rex.TaskCancelledError) as exc:
        raise BackendError(f"Ray lost a worker in '{stage}' and its {RAY_MAX_RETRIES} retries failed "
                           f"({type(exc).__name__}); the run stopped without values.") from None


def describe_target(backend: Backend) -> str:
    """Where ``backend`` will compute, in words, without connecting to anything."""
    if isinstance(backend, RayBackend):
        return (f"the Ray cluster at {backend.address}" if backend.address else
                "a Ray cluster running on this machine, or else a local Ray on its cores")
    return f"this machine ({local_cores()} cores)"


def get_backend(name: str | Backend | None = None, address: str | None = None) -> Backend:
    """The backend called ``name`` (``local`` when None); ``address`` is Ray's cluster address."""
    if isinstance(name, Backend):
        return name
    if name in (None, "", "local"):
        return LocalBackend()
    if name == "ray":
        return RayBackend(address)
    raise ValueError(f"Unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}.")
