"""Where loads land: one dlt pipeline per multi-asset, one dataset (schema) per API.

DuckDB is the default (``data/comms.duckdb``, overridable the dlt way with
``DESTINATION__DUCKDB__CREDENTIALS``); ``COMMS_DESTINATION`` switches to any dlt destination
configured the usual dlt way (e.g. ``postgres`` with ``DESTINATION__POSTGRES__CREDENTIALS``).
"""

from __future__ import annotations

import os
from pathlib import Path

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.destination import Destination

DEFAULT_DUCKDB = "data/comms.duckdb"
NAMING = NamingConvention()


def is_duckdb() -> bool:
    return os.environ.get("COMMS_DESTINATION", "duckdb") == "duckdb"


def destination() -> Destination:
    if not is_duckdb():
        return Destination.from_reference(os.environ["COMMS_DESTINATION"])
    path = Path(dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB)
    path.parent.mkdir(parents=True, exist_ok=True)
    return dlt.destinations.duckdb(str(path.absolute()))


def pipeline(name: str, dataset: str) -> dlt.Pipeline:
    return dlt.pipeline(pipeline_name=f"comms_{name}", destination=destination(), dataset_name=dataset)


def column(field: str) -> str:
    """The warehouse column of an API field, as dlt names it (``ContactId`` -> ``contact_id``)."""
    return NAMING.normalize_path(field)
