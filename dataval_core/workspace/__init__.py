"""The app's persistence layer: one workspace folder with SQLite and Parquet.

Layout under the workspace root (``$DATAVAL_WORKSPACE``, default ``./.dataval/``)::

    workspace.sqlite            sessions, datasets, runs, decisions (the audit log), tags and notes
    uploads/<sha>/<name>        uploaded files, content-addressed
    files/<sha>/                what loaders extract from an upload (image folders)
    datasets/<hash>/            a dataset's rows, table copy and description (Parquet + JSON)
    runs/<run_id>.parquet       values of one finished run
    cache/                      embeddings and map coordinates (written by the engine)
    exports/<dataset_key>/      files built for download

A *dataset record* (``ds_…``) is one curation project: a dataset (stored once per
content hash) owned by the browser session that created it, with its runs and
decisions. A session sees only its own records and those it opened with a share key
its owner made: view-only unless the owner allowed edits, until revoked or expired. The
store keeps those grants and checks them at every write; minting session ids, a session's
current dataset and making and opening share keys are the serving layer's
(``ui/sessions.py``, ``AppWorkspace``). Everything is plain data (Parquet, JSON, SQLite):
no pickle, so reading a workspace never executes code. Safe to use from several
threads: each call opens its own SQLite connection.

Faults (a missing, read-only or full workspace, or one over its size budget
``$DATAVAL_MAX_WORKSPACE_GB``) raise one exception type, :class:`WorkspaceError`, with a
line written for the user; a write that raised was not saved. The schema carries its
version in ``PRAGMA user_version`` and older workspaces are upgraded when opened.
"""
from ..decisions import UNDECIDED
from .access import ACCESS_MODES
from .budget import BUDGET_ENV_VAR, budget_bytes, folder_bytes, human_size
from .datasets import DatasetRecord
from .faults import AccessError, WorkspaceError
from .health import Health, check_workspace
from .runs import RUN_STATES, RunRecord
from .schema import DEFAULT_ROOT, ENV_VAR, SCHEMA_VERSION, session_tag
from .store import Workspace

__all__ = ["ACCESS_MODES", "BUDGET_ENV_VAR", "DEFAULT_ROOT", "ENV_VAR", "RUN_STATES", "SCHEMA_VERSION",
           "UNDECIDED", "AccessError", "DatasetRecord", "Health", "RunRecord", "Workspace", "WorkspaceError",
           "budget_bytes", "check_workspace", "folder_bytes", "human_size", "session_tag"]
