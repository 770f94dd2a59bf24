"""How a backend task gets its rows of a large 2-D array (the valued rows of a problem).

A method that hands a task some rows asks its backend for a :class:`Rows` of the array
(:meth:`dataval_core.backend.Backend.rows`) and puts it in the data the tasks share. When it
builds a task it calls :meth:`Rows.take` with the row indices, on the driver; the task calls
:meth:`Rows.read` with what ``take`` gave. The backend decides where the rows are read:

- :class:`DriverRows` (this machine): ``take`` reads the rows on the driver when the task is
  built (a memory map's pages are released after each chunk), and the rows travel with the task;
- :class:`WorkerRows` (a cluster): ``take`` passes the indices on, and each worker reads its rows
  itself from a :class:`RowSource`: the memory-mapped file on shared storage, or the array, sent
  once through the cluster's object store with the shared data.

Either way the task sees the same float32 rows, so values do not depend on where rows are read.
"""
from __future__ import annotations

import mmap
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np


def _file_map(x: np.ndarray) -> mmap.mmap | None:
    """The shared file mapping behind ``x``, if any: ``x`` itself may be an ``np.memmap``
    or a plain view of one (``np.asarray(memmap)``, as ``Problem.from_arrays`` makes)."""
    obj: object = x
    while obj is not None:
        if isinstance(obj, np.memmap):
            # copy-on-write maps ("c") are private: dropping their pages would lose edits
            handle = getattr(obj, "_mmap", None)
            if obj.mode != "c" and isinstance(handle, mmap.mmap) and hasattr(handle, "madvise"):
                return handle
            return None
        obj = getattr(obj, "base", None)
    return None


def release_pages(x: np.ndarray) -> None:
    """Drop this process's resident pages of a memory-mapped array (no-op otherwise).

    The data stay in the OS page cache; the next read faults them back in. Keeps the
    resident set of a streaming pass flat instead of growing to the file's size.
    """
    handle = _file_map(x)
    if handle is not None:
        handle.madvise(mmap.MADV_DONTNEED)


def read_rows(x: np.ndarray, rows: np.ndarray, chunk: int = 128) -> np.ndarray:
    """``x[rows]`` as a new float32 array, read ``chunk`` rows at a time from a memory map,
    releasing the mapped pages after each chunk.

    Each page fault on a file map also maps its neighbours (the kernel's fault-around,
    64 KiB), so one fancy-index read of 1,000 rows scattered over a large file can map
    most of the file at once; chunked reads keep that transient below ``chunk`` x 64 KiB.
    """
    rows = np.asarray(rows)
    if _file_map(x) is None:
        return np.asarray(x[rows], dtype=np.float32)
    out = np.empty((len(rows), x.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), chunk):
        out[start:start + chunk] = x[rows[start:start + chunk]]
        release_pages(x)
    return out


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


class Rows(ABC):
    """Rows of one array for backend tasks: :meth:`take` on the driver, :meth:`read` in the task."""

    @abstractmethod
    def take(self, rows: np.ndarray) -> Any:
        """What a task that needs ``rows`` (indices) carries: the rows themselves, or a way to read them."""

    @abstractmethod
    def read(self, taken: Any) -> np.ndarray:
        """In the task: the rows (float32, shape (len(rows), d)) from what :meth:`take` gave."""


class DriverRows(Rows):
    """The driver reads each task's rows when it builds the task; the rows travel with it.

    Pickles without the array (worker processes receive it in the shared data but never read it).
    """

    def __init__(self, x: np.ndarray):
        self.x: np.ndarray | None = x

    def take(self, rows: np.ndarray) -> np.ndarray:
        assert self.x is not None, "take() runs on the driver"
        return read_rows(self.x, rows)

    def read(self, taken: np.ndarray) -> np.ndarray:
        return taken

    def __getstate__(self) -> dict:
        return {"x": None}


class WorkerRows(Rows):
    """Each task carries its row indices; the worker reads the rows from the :class:`RowSource` itself."""

    def __init__(self, source: RowSource):
        self.source = source

    def take(self, rows: np.ndarray) -> np.ndarray:
        return rows

    def read(self, taken: np.ndarray) -> np.ndarray:
        x = self.source.open()
        out = read_rows(x, taken)
        release_pages(x)
        return out
