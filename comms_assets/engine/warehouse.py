"""Where loads land: one dlt pipeline per multi-asset, one dataset (schema) per API.

DuckDB is the default (``data/warehouse.duckdb``, overridable the dlt way with
``DESTINATION__DUCKDB__CREDENTIALS``); ``COMMS_DESTINATION`` switches to any dlt destination
configured the usual dlt way (e.g. ``postgres`` with ``DESTINATION__POSTGRES__CREDENTIALS``).
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import dlt
from dlt.common.configuration import resolve_configuration
from dlt.common.destination import Destination
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from comms_assets.catalog import APIS

DEFAULT_DUCKDB = "data/warehouse.duckdb"
# The schemas the warehouse holds: a dataset per API and dlt's staging dataset beside it, the dbt
# layer's two; with DuckDB's own catalogs, names a DuckDB file may not take (see duckdb_path).
DBT_SCHEMAS = ("comms", "comms_staging")
DUCKDB_CATALOGS = ("memory", "system", "temp")
DUCKDB_MEMORY_LIMIT = "160MB"
LOADER_FILE_FORMAT = "parquet"  # Arrow batches are written as they come; DuckDB reads parquet natively
NAMING = NamingConvention()


class _OncePerProcess(logging.Filter):
    """dlt warns at every load about columns that have not received data yet (a vendor's optional
    field), in a multi-line message: a range run commits many times, and the same warning would
    repeat for each commit. Each distinct one is let through once per process."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "did not receive any data during this load" not in text:
            return True
        first = text not in self.seen
        self.seen.add(text)
        return first


logging.getLogger("dlt").addFilter(_OncePerProcess())


def is_duckdb() -> bool:
    return os.environ.get("COMMS_DESTINATION", "duckdb") == "duckdb"


def duckdb_path() -> Path:
    """The DuckDB warehouse file; its stem may not name one of the warehouse's schemas.

    DuckDB names a file's catalog after its stem, so in ``comms.duckdb`` the reference
    ``comms.calls`` is ambiguous between catalog and schema: dlt's loads (into ``justcall.duckdb``),
    dbt's models and every user's ``<schema>.<table>`` query would fail, after the loads before them.
    """
    path = Path(dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB).absolute()
    taken = {*reserved_schemas(), *DUCKDB_CATALOGS}
    stem = path.name.split(".")[0].lower()
    if stem in taken:
        raise ValueError(f"the DuckDB warehouse {path} is named like one of its schemas ({stem}): DuckDB would read "
                         f"`{stem}.<table>` ambiguously. Choose another file name (the default is {DEFAULT_DUCKDB}); "
                         f"taken: {', '.join(sorted(taken))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def duckdb_lock() -> Path:
    """The file whose lock a step holds while it writes to the DuckDB warehouse (``exclusive``)."""
    return duckdb_path().with_suffix(".lock")


def _owner_only(database: Path) -> None:
    """The warehouse and its write-ahead log readable by their owner alone (DuckDB creates them
    as the umask says, usually world-readable)."""
    for path in (database, database.with_name(database.name + ".wal")):
        if path.exists():
            path.chmod(0o600)


def reserved_schemas() -> list[str]:
    return [*DBT_SCHEMAS, *(name for api in APIS for name in (api, f"{api}_staging"))]


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
def exclusive(dlt_pipeline: dlt.Pipeline, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the warehouse's lock for one loading step: on DuckDB the file's (one writer per file,
    across every process and run), on PostgreSQL the dataset's (one API's loads at a time).

    Waiting here turns DuckDB's refusal of a second writer into a queue. On PostgreSQL, dlt's
    first load of a dataset from two processes races on ``CREATE SCHEMA``/``CREATE TABLE``, and
    concurrent merges into one dataset share its staging tables, which each load truncates first:
    rows would be lost with no error. A session-level advisory lock, which PostgreSQL releases
    when a process dies, serialises them; the API's rate budget is per account, so two loads of
    one API at once would not be faster anyway. Other warehouses get no lock.
    """
    if is_duckdb():
        with os.fdopen(os.open(duckdb_lock(), os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting()
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                _owner_only(duckdb_path())
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if dlt_pipeline.destination.destination_name != "postgres":
        yield
        return
    key = zlib.crc32(f"comms_assets:{dlt_pipeline.dataset_name}".encode()) - 2**31  # PostgreSQL's bigint
    with dlt_pipeline.sql_client() as client:
        if not client.execute_sql("select pg_try_advisory_lock(%s)", key)[0][0]:
            waiting()
            client.execute_sql("select pg_advisory_lock(%s)", key)
        try:
            yield
        finally:
            client.execute_sql("select pg_advisory_unlock(%s)", key)


# libpq's TLS settings in dlt's credentials (``postgresql://…?sslmode=verify-full&sslrootcert=…``),
# passed to dbt as they are, so both connect alike.
TLS_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey")


def dbt_environment() -> dict[str, str]:
    """What the dbt profile (``dbt_project/profiles.yml``) reads: the warehouse dlt loads into."""
    if is_duckdb():
        return {"COMMS_DBT_TARGET": "duckdb", "COMMS_DBT_DUCKDB_PATH": str(duckdb_path()),
                "COMMS_DBT_DUCKDB_MEMORY_LIMIT": str(duckdb_settings()["memory_limit"])}
    if os.environ["COMMS_DESTINATION"] != "postgres":
        raise ValueError(f"the dbt layer runs on DuckDB or PostgreSQL, not {os.environ['COMMS_DESTINATION']}")
    credentials = resolve_configuration(PostgresCredentials(), sections=("destination", "postgres"))
    tls = {name: str((credentials.query or {}).get(name) or "") for name in TLS_PARAMETERS}
    return {"COMMS_DBT_TARGET": "postgres", "COMMS_DBT_PG_HOST": credentials.host,
            "COMMS_DBT_PG_PORT": str(credentials.port), "COMMS_DBT_PG_USER": credentials.username,
            "COMMS_DBT_PG_DATABASE": credentials.database,
            # dbt scrubs the values of DBT_ENV_SECRET_ variables from everything it prints
            "DBT_ENV_SECRET_COMMS_PG_PASSWORD": str(credentials.password or ""),
            **{f"COMMS_DBT_PG_{name.upper()}": value for name, value in tls.items()}}


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
