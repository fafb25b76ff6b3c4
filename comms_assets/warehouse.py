"""Where loads land: one dlt pipeline per multi-asset, one dataset (schema) per API.

DuckDB is the default (``data/comms.duckdb``, overridable the dlt way with
``DESTINATION__DUCKDB__CREDENTIALS``); ``COMMS_DESTINATION`` switches to any dlt destination
configured the usual dlt way (e.g. ``postgres`` with ``DESTINATION__POSTGRES__CREDENTIALS``).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import dlt
from dlt.common.destination import Destination
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

DEFAULT_DUCKDB = "data/comms.duckdb"
DUCKDB_MEMORY_LIMIT = "160MB"
LOADER_FILE_FORMAT = "parquet"  # Arrow batches are written as they come; DuckDB reads parquet natively
NAMING = NamingConvention()


def is_duckdb() -> bool:
    return os.environ.get("COMMS_DESTINATION", "duckdb") == "duckdb"


def duckdb_path() -> Path:
    path = Path(dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def destination() -> Destination:
    if not is_duckdb():
        return Destination.from_reference(os.environ["COMMS_DESTINATION"])
    return dlt.destinations.duckdb(DuckDbCredentials(str(duckdb_path()), global_config=duckdb_settings()))


def duckdb_settings() -> dict[str, str | int]:
    """DuckDB's memory for a load: bounded, so a large load spills to disk instead of growing.

    A load is one transaction, which DuckDB otherwise keeps in memory whole (~1 KB per row of
    a call log). One thread: on two cores the second one mostly doubles the buffers.
    ``COMMS_DUCKDB_MEMORY_LIMIT`` (e.g. ``2GB``) trades memory back for speed on larger machines.
    """
    return {"memory_limit": os.environ.get("COMMS_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT), "threads": 1}


@contextmanager
def exclusive(waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the DuckDB file's lock: one loading step at a time across every process and run.

    DuckDB refuses a second writing process outright; waiting here turns that error into a queue,
    whatever the Dagster instance's pool settings. Other warehouses need no lock.
    """
    if not is_duckdb():
        yield
        return
    with open(duckdb_path().with_suffix(".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pipeline(name: str, dataset: str) -> dlt.Pipeline:
    return dlt.pipeline(pipeline_name=f"comms_{name}", destination=destination(), dataset_name=dataset,
                        pipelines_dir=_working_dir())


@lru_cache(maxsize=1)
def _working_dir() -> str:
    """dlt's local working directory, private to this process and removed when it exits.

    dagster-dlt wipes a pipeline's local state before every run and restores it from the
    warehouse, so nothing is lost; a directory shared between processes would let one run wipe
    it under another.
    """
    path = tempfile.mkdtemp(prefix="comms-dlt-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def column(field: str) -> str:
    """The warehouse column of an API field, as dlt names it (``ContactId`` -> ``contact_id``)."""
    return NAMING.normalize_path(field)
