"""What the pages' buttons do: load data, store datasets, start runs, record decisions.

Each function composes engine calls (``dataval_core``) with the session's workspace
and job manager; pages call one of these and render the outcome. Loaded datasets are
kept with ``st.cache_resource`` (immutable objects, never pickled).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import streamlit as st

from dataval_core import io as engine_io
from dataval_core.dataset import DataError, Dataset
from dataval_core.noise import inject_label_noise
from dataval_core.progress import ACTIVE_STATES, RunState
from dataval_core.samples import load_sample
from dataval_core.targets import load_target_file, mark_reference, no_reference, split_target, target_from_column
from dataval_core.workspace import AccessError, DatasetRecord, RunRecord

from . import state


class _Demo(TypedDict):
    """The one-click demo's settings."""

    sample: str
    target_frac: float
    noise_rate: float
    noise_kind: str
    method: str
    seed: int
    pairs: dict[str, str]


#: the one-click demo: bundled MNIST, 20% target, 10% confusable-pair label noise, knn_shapley
DEMO: _Demo = {"sample": "mnist", "target_frac": 0.2, "noise_rate": 0.1, "noise_kind": "pair",
               "method": "knn_shapley", "seed": 0,
               # the digits people confuse; fixed so the demo skips fitting the confusion model (about a minute on
               # 2 cores)
               "pairs": {"0": "6", "1": "7", "2": "7", "3": "5", "4": "9", "5": "3", "6": "0", "7": "1", "8": "3",
                         "9": "4"}}


@st.cache_resource(show_spinner=False, max_entries=4)
def sample(name: str) -> Dataset:
    """A bundled sample as loaded (every row valued, no noise)."""
    return load_sample(name)


@st.cache_resource(show_spinner=False, max_entries=8)
def _uploaded(path: str, label: str | None, id_column: str | None, task: str | None, workdir: str) -> Dataset:
    return engine_io.load_dataset(path, label=label, id_column=id_column, task=task, workdir=workdir,
                                  name=Path(path).stem)


def save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded file in the workspace (content-addressed) and return its path."""
    return state.workspace().store_upload(name, data)


def load_upload(path: Path, label: str | None = None, id_column: str | None = None,
                task: str | None = None) -> Dataset:
    """Load an uploaded file with the CLI's loader (tables need ``label``); raises ``DataError`` with one line.

    When the loader rejects the file, whatever it extracted is removed from the workspace.
    """
    return _discarding_rejects(path, lambda workdir: _uploaded(str(path), label, id_column, task, str(workdir)))


def _discarding_rejects(path: Path, load: Callable[[Path], Dataset]) -> Dataset:
    """Run ``load(workdir)``; if it fails, remove what it extracted, unless an earlier load had already
    extracted there: a dataset in use (stored, or cached) may point at those files, and a rejected
    option (a task, a label) must not delete them."""
    workdir = state.workspace().files_dir(path)
    fresh = not any(workdir.iterdir())
    try:
        return load(workdir)
    except Exception:
        if fresh:
            state.workspace().discard_files(path)
        raise


def table_columns(path: Path) -> list[str]:
    """Column names of an uploaded CSV/Parquet file, read by the engine's loader (same encodings and checks)."""
    return engine_io.table_columns(path)


def is_table(path: Path) -> bool:
    """Whether an uploaded file is a table (else an images zip)."""
    return path.suffix.lower() in (".csv", ".parquet", ".pq")


def prepare(base: Dataset, *, target: Mapping[str, Any], noise: Mapping[str, Any] | None) -> Dataset:
    """Apply the target-set choice, then optional label noise, to a loaded dataset.

    Args:
        base: the dataset as loaded.
        target: ``{"kind": "none"}`` (every row valued by cross-fitting), ``{"kind": "fraction", "frac": f,
            "seed": s}``, ``{"kind": "column", "column": c}`` or ``{"kind": "file", "path": p}`` (same schema;
            loaded with the base's label column); a given reference may add ``"reference": "noisy"``.
        noise: ``{"rate": r, "kind": "uniform"|"pair", "seed": s}`` (optionally ``"mapping"``
            of class pairs) or None.
    """
    if target["kind"] == "none":
        ds = no_reference(base)
    elif target["kind"] == "fraction":
        ds = split_target(base, target["frac"], seed=target.get("seed", 0))
    elif target["kind"] == "column":
        ds = target_from_column(base, target["column"])
    else:
        path = Path(target["path"])
        ds = _discarding_rejects(path, lambda workdir: load_target_file(base, path, workdir=workdir))
    if target["kind"] != "none":
        ds = mark_reference(ds, target.get("reference", "trusted"))
    if noise and noise["rate"] > 0:
        ds = inject_label_noise(ds, noise["rate"], noise["kind"], seed=noise.get("seed", 0),
                                mapping=noise.get("mapping"))
    return ds


def use_dataset(ds: Dataset) -> DatasetRecord:
    """Store ``ds`` in the workspace for this session and make it the current dataset."""
    record = state.workspace().add_dataset(state.session_id(), ds)
    state.set_current(record.key)
    return record


def open_shared(share_key: str) -> DatasetRecord:
    """Open another session's dataset with a share key its owner made (view-only unless they allowed edits)."""
    try:
        record = state.workspace().open_shared(state.session_id(), share_key)
    except AccessError as exc:
        raise DataError(str(exc)) from None
    state.set_current(record.key)
    return record


@st.cache_resource(show_spinner=False, max_entries=1)
def _demo_dataset() -> Dataset:
    base = sample(DEMO["sample"])
    return prepare(base, target={"kind": "fraction", "frac": DEMO["target_frac"], "seed": DEMO["seed"]},
                   noise={"rate": DEMO["noise_rate"], "kind": DEMO["noise_kind"], "seed": DEMO["seed"],
                          "mapping": DEMO["pairs"]})


def start_demo() -> bool:
    """Set up the demo dataset and start (or reuse) its knn_shapley run.

    Returns:
        True when the run has already finished (go straight to Review); else the run id
        is left in ``st.session_state["demo_run"]`` for the progress monitor.
    """
    ds = _demo_dataset()
    record = use_dataset(ds)
    for run in reversed(state.workspace().list_runs(record.key)):
        if run.method == DEMO["method"] and run.status in (*ACTIVE_STATES, RunState.DONE):
            st.session_state["demo_run"] = run.run_id
            return run.status == RunState.DONE
    st.session_state["demo_run"] = state.jobs().submit_run(record.key, ds, DEMO["method"], seed=DEMO["seed"])
    return False


def submit_runs(record: DatasetRecord, ds: Dataset, choices: Iterable[Mapping[str, Any]], seed: int,
                backend: Any = None) -> list[str]:
    """Queue one background run per ``{"method", "embedding", "params"}`` choice on ``backend``
    (not on a view-only share)."""
    if not state.workspace().can_write(state.session_id(), record.key):
        raise AccessError("This dataset was shared with you view-only, so runs cannot be started.")
    return [state.jobs().submit_run(record.key, ds, c["method"], embedding=c.get("embedding"),
                                    params=c.get("params"), seed=seed, backend=backend) for c in choices]


def cancel_run(run_id: str) -> None:
    """Ask a background run to stop."""
    state.jobs().cancel(run_id)


def finished_runs(record: DatasetRecord) -> list[RunRecord]:
    """The dataset's finished runs, newest first."""
    return list(reversed(state.workspace().list_runs(record.key, status=RunState.DONE)))


def decide(record: DatasetRecord, rows: Sequence[Mapping[str, Any]], *, event: str,
           skip_unchanged: bool = False) -> int:
    """Save one decision event as one undoable step (each row: id, action, old_label, new_label, run_id, method,
    value, rank); returns rows written, 0 when ``event`` (the click's idempotency key) was written before.
    Raises the workspace's error when nothing could be saved."""
    return state.workspace().record_decisions(record.key, state.session_id(), rows, skip_unchanged=skip_unchanged,
                                              event=event)
