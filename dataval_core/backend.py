"""Where a method's independent tasks run: local threads/processes (default) or a Ray cluster.

A method splits its work into tasks (sava's batch pairs, knn_shapley's target chunks,
data_oob's bags) and hands them to :meth:`Backend.map` with the read-only data they
share and a :class:`Work` that states what the tasks are like (a worker cap the user asked
for, whether they hold the GIL). The backend owns every execution detail: how many workers,
threads or processes, BLAS threads per worker, how a task gets its rows (:meth:`Backend.rows`,
see :mod:`dataval_core.rows`) and whether a running task can see the cancel flag
(:func:`checkpoint`). It reports progress in finished tasks, checks the cancel flag at least
twice a second (cancelling the outstanding tasks), and yields each result with its task
index. Results are keyed by index, so values do not depend on the backend, the worker count
or the finishing order. Methods never ask which backend they run on.

``ray``: the shared data go to Ray's object store once (``ray.put``), every task is a
remote call that Ray retries when its worker or node dies (``max_retries``); when the
retries are spent the run fails with :class:`BackendError` and returns no values.
Rows of arrays that live in a file (``np.memmap``) travel as :class:`RowSource` (path,
dtype, shape) so workers read them from shared storage themselves.

A backend is one subclass of :class:`Backend` registered with :func:`register`
(``docs/architecture.md``, "A compute backend").
"""
from __future__ import annotations

import os
import tempfile
import threading
import weakref
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
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any, ClassVar, TypeVar

import numpy as np

from .progress import Reporter
from .rows import DriverRows, Rows, RowSource, WorkerRows

__all__ = ["ADDRESS_ENV", "BACKENDS", "Backend", "BackendError", "LocalBackend", "RayBackend", "RowSource", "Rows",
           "Work", "backend_classes", "checkpoint", "get_backend", "local_cores", "register"]

#: how often (seconds) a waiting driver checks the cancel flag
POLL_S = 0.25
#: times Ray reruns a task whose worker or node died before the run fails
RAY_MAX_RETRIES = 3
ADDRESS_ENV = "DATAVAL_RAY_ADDRESS"


class BackendError(OSError):
    """The compute backend failed (no cluster, or a task lost more workers than it may retry)."""


def local_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Work:
    """What a method states about one batch of tasks; the backend decides how to run them.

    Attributes:
        max_workers: the most tasks at once the user asked for (a method's ``n_jobs``); 0 = no cap.
            A cluster backend schedules over the whole cluster and may ignore it.
        holds_gil: the tasks hold the GIL for long stretches, long enough that starting worker
            processes (about a second each) pays off; a local backend then runs them in processes.
        small_blas: the tasks' linear algebra is many small products, which one BLAS thread per
            worker runs as fast; a local backend then limits BLAS to one thread while several
            workers run. Left False for large products: BLAS keeps its threads, and its results
            (rounding) stay those of a run on this machine without a backend.
    """

    max_workers: int = 0
    holds_gil: bool = False
    small_blas: bool = False


_TASK = threading.local()


def checkpoint() -> None:
    """A task's cancel check, called between units of its work (a model, a batch pair).

    Raises :class:`~dataval_core.progress.Cancelled` when the run's cancel flag is set and the
    task runs where the flag can be seen (a thread of the driver's process); a no-op where it
    cannot (a worker process, a Ray worker: there the backend stops the task from outside).
    """
    check = getattr(_TASK, "check", None)
    if check is not None:
        check()


def _with_check(check: Callable[[], None] | None, fn: Callable, shared: Any, *args: Any) -> Any:
    """``fn(shared, *args)`` with :func:`checkpoint` bound to ``check`` in this thread."""
    before = getattr(_TASK, "check", None)
    _TASK.check = check
    try:
        return fn(shared, *args)
    finally:
        _TASK.check = before


_BLAS_LOCK = threading.Lock()
#: the process-wide BLAS limit while any local map runs several workers: how many maps hold it, and the limiter
_BLAS: dict[str, Any] = {"users": 0, "limiter": None}


@contextmanager
def _one_blas_thread(active: bool) -> Iterator[None]:
    """BLAS limited to one thread while several workers run (avoids oversubscription).

    The limit is process-wide: the first map to enter sets it and the last to leave restores
    the original, so runs side by side (the app's jobs) never leave BLAS stuck at one thread.
    """
    if not active:
        yield
        return
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK:
        if _BLAS["users"] == 0:
            _BLAS["limiter"] = threadpool_limits(limits=1, user_api="blas")
        _BLAS["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS["users"] -= 1
            if _BLAS["users"] == 0:
                _BLAS["limiter"].restore_original_limits()
                _BLAS["limiter"] = None


class Backend(ABC):
    """Runs a method's tasks; subclasses say where and how.

    Subclasses set :attr:`name` and :attr:`title`, implement :meth:`describe`,
    :meth:`describe_target` and :meth:`map`, and override :meth:`workers` (tasks at once) and
    :meth:`rows` (who reads a task's rows) where the defaults (this machine's cores; the driver
    reads) do not fit.
    """

    #: the name users type (``--backend``, ``get_backend``)
    name: ClassVar[str] = ""
    #: how the Valuate page offers it
    title: ClassVar[str] = ""
    #: whether it takes an address (``--ray-address``, the page's address field), and what an empty one means
    takes_address: ClassVar[bool] = False
    address_help: ClassVar[str] = ""

    def __init__(self, address: str | None = None):
        self.address = address

    def cores(self) -> int:
        """CPUs the backend can use at once."""
        return local_cores()

    def workers(self, work: Work = Work()) -> int:
        """How many tasks of ``work`` run at once (methods size their task grain from it)."""
        return max(1, work.max_workers or self.cores())

    def rows(self, x: np.ndarray) -> Rows:
        """How a task gets rows of ``x``: by default the driver reads them when it builds the task."""
        return DriverRows(x)

    @abstractmethod
    def describe(self) -> str:
        """Where runs compute, in words for the user (may connect)."""

    @abstractmethod
    def describe_target(self) -> str:
        """Where runs will compute, in words, without connecting to anything."""

    @abstractmethod
    def map(self, fn: Callable, tasks: Sequence[tuple | Callable[[], tuple]], reporter: Reporter, stage: str, *,
            shared: Any = None, units: Sequence[int] | None = None, ordered: bool = False,
            work: Work = Work()) -> Iterator[tuple[int, Any]]:
        """Run ``fn(shared, *task)`` for every task; yield ``(task index, result)``.

        Args:
            fn: a module-level function (picklable for processes and Ray). It may call
                :func:`checkpoint` between units of its work.
            tasks: argument tuples, one per task, or zero-argument callables that build
                them when the task is submitted (e.g. read a batch only when a worker is free).
            reporter: progress (``stage``, finished units of all) and the cancel flag.
            shared: read-only data every task needs, sent once per worker.
            units: progress units per task (default 1 each).
            ordered: yield in task order (for sums whose rounding must not depend on timing).
            work: what the tasks are like (worker cap, GIL, BLAS use); the backend decides how to run them.

        Raises:
            Cancelled: the cancel flag was set; outstanding tasks are cancelled.
            BackendError: the backend lost a task's workers more often than it retries.
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
    _TASK.check = None  # a forked worker does not see the driver's cancel flag
    _PROCESS_SHARED["shared"] = shared


def _shared_file(shared: Any) -> str:
    """The bytes multiprocessing would send a spawned worker for ``shared``, in a private temporary file
    (mode 0600, written and read only by this run's processes; never user data); its path.

    A spawned worker reads its start-up arguments only after its imports (1-2 s), so shared
    state of more than a pipe's buffer sent that way blocks ``pool.submit`` (and with it the
    cancel check) until then; a path does not.
    """
    with tempfile.NamedTemporaryFile("wb", prefix="dataval-shared-", delete=False) as f:
        f.write(ForkingPickler.dumps(shared))
    return f.name


def _init_process_from_file(path: str) -> None:
    try:
        with open(path, "rb") as f:
            shared = ForkingPickler.loads(f.read())
    except FileNotFoundError:  # the run was cancelled before this worker started: its tasks are dropped
        shared = None
    _init_process(shared)


def _remove_quietly(path: str) -> None:
    with suppress(FileNotFoundError):
        os.remove(path)


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


BackendT = TypeVar("BackendT", bound=type[Backend])
#: the backends by name, filled by :func:`register` at import
_REGISTRY: dict[str, type[Backend]] = {}


def register(cls: BackendT) -> BackendT:
    """Class decorator: make a :class:`Backend` subclass available by its ``name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"A backend needs a new name; got {cls.name!r} (taken: {', '.join(_REGISTRY)}).")
    _REGISTRY[cls.name] = cls
    return cls


@register
class LocalBackend(Backend):
    """This machine: a thread pool, or worker processes that receive ``shared`` once.

    Workers: ``work.max_workers`` or all cores, at most one per task. GIL-holding work runs in
    worker processes (one BLAS thread each) when there are several workers; threads otherwise, with
    BLAS limited to one thread while several run ``small_blas`` work. Tasks in threads see the
    cancel flag (:func:`checkpoint`).
    """

    name = "local"
    title = "this machine"

    def describe(self) -> str:
        return f"this machine ({local_cores()} cores)"

    def describe_target(self) -> str:
        return self.describe()

    def map(self, fn, tasks, reporter, stage, *, shared=None, units=None, ordered=False, work=Work()):
        tasks = list(tasks)
        workers = max(1, min(self.workers(work), len(tasks)))
        processes = work.holds_gil and workers > 1
        results = self._run(fn, tasks, reporter, stage, shared, workers, processes, units, work.small_blas)
        return _ordered(results) if ordered else results

    def _run(self, fn, tasks, reporter, stage, shared, workers, processes, units, small_blas):
        progress = _Progress(reporter, stage, units, len(tasks))
        if not tasks:
            return
        if workers == 1 and not processes:
            for i, args in enumerate(tasks):
                reporter.check()
                yield i, _with_check(reporter.check, fn, shared, *_args(args))
                progress.finished(i)
            return
        pool: Executor
        if processes:
            context = _process_context()
            init: tuple = (_init_process, (shared,))
            if context.get_start_method() == "spawn":
                init = (_init_process_from_file, (_shared_file(shared),))
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init[0], initargs=init[1])
            if init[0] is _init_process_from_file:  # removed once the pool is gone (done, or dropped on cancel)
                weakref.finalize(pool, _remove_quietly, init[1][0])

            def submit(args):
                return pool.submit(_call_in_process, fn, args)
        else:
            pool = ThreadPoolExecutor(workers)

            def submit(args):
                return pool.submit(_with_check, reporter.check, fn, shared, *args)

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
            with _one_blas_thread(small_blas and not processes):
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


@register
class RayBackend(Backend):
    """A Ray cluster: the one at ``address``, else a running one, else a local Ray on this machine.

    Every task is a one-CPU Ray task (Ray gives it one BLAS thread), scheduled over the whole
    cluster: a worker cap and the GIL do not matter there. Workers read a task's rows themselves
    (:class:`~dataval_core.rows.WorkerRows`); a running task cannot see the cancel flag, so a
    cancel stops the outstanding tasks from the driver (``ray.cancel``).
    """

    name = "ray"
    title = "Ray cluster"
    takes_address = True
    address_help = f"Empty: ${ADDRESS_ENV}, else a cluster running on this machine, else a local Ray."

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

    def workers(self, work: Work = Work()) -> int:
        return self.cores()

    def rows(self, x: np.ndarray) -> Rows:
        return WorkerRows(RowSource.of(x))

    def describe_target(self) -> str:
        return (f"the Ray cluster at {self.address}" if self.address else
                "a Ray cluster running on this machine, or else a local Ray on its cores")

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

    def map(self, fn, tasks, reporter, stage, *, shared=None, units=None, ordered=False, work=Work()):
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


#: the backends' names, in registration order
BACKENDS = tuple(_REGISTRY)


def backend_classes() -> tuple[type[Backend], ...]:
    """Every registered backend class (the CLI's ``--backend`` choices, the Valuate page's options)."""
    return tuple(_REGISTRY.values())


def get_backend(name: str | Backend | None = None, address: str | None = None) -> Backend:
    """The backend called ``name`` (``local`` when None); ``address`` is where it connects, for a backend
    that takes one (Ray's cluster address)."""
    if isinstance(name, Backend):
        return name
    cls = _REGISTRY.get(name or "local")
    if cls is None:
        raise ValueError(f"Unknown backend {name!r}; choose one of: {', '.join(_REGISTRY)}.")
    return cls(address)
