"""The credentials of each API, read only when a run needs them, and the executor that runs
the steps: in the run's process on DuckDB, in processes or on Celery workers elsewhere."""

from __future__ import annotations

import os

import dagster as dg
import dlt

from comms_assets.catalog import APIS
from comms_assets.defs.shared import WAREHOUSE_STEP_TAGS
from comms_assets.engine import warehouse


class MissingCredentials(dg.Failure):
    """Raised before any request when an API's environment variables are not set."""


def secret(name: str) -> str | None:
    """An environment variable, or the same name (lower case) in ``.dlt/secrets.toml``."""
    return dlt.secrets.get(name.lower(), str)


class ApiCredentials(dg.ConfigurableResource):
    """The credentials of one API, read in the step that loads it, never before.

    Values come from environment variables (or ``.dlt/secrets.toml``); they never enter Dagster
    config, run metadata or logs, and definitions load without them.
    """

    api: str

    def values(self) -> dict[str, str]:
        """The first complete set of the API's variables; otherwise fail naming what is missing."""
        sets = APIS[self.api].credentials
        found = {name: value for names in sets for name in names if (value := secret(name))}
        for names in sets:
            if all(name in found for name in names):
                return {name: found[name] for name in names}
        missing = [name for name in sets[0] if name not in found]
        alternatives = " or ".join("+".join(names) for names in sets[1:])
        hint = f" (or set {alternatives})" if alternatives else ""
        raise MissingCredentials(f"{self.api}: missing environment variable(s) {', '.join(missing)}{hint}")


def credential_resources() -> dict[str, ApiCredentials]:
    return {name: ApiCredentials(api=name) for name in APIS}


def executor() -> dg.ExecutorDefinition:
    """DuckDB takes one writer per file, so its steps run one after another in the run's process
    (a process per step would only add start-up time); across runs the ``comms_warehouse`` pool
    serialises them (dagster.yaml). Warehouses with concurrent writers get a process per step,
    or with ``COMMS_EXECUTOR=celery`` a step per Celery task on workers (``deploy/``)."""
    if os.environ.get("COMMS_EXECUTOR") == "celery":
        from dagster_celery import celery_executor  # the production extra

        return celery_executor.configured({"broker": {"env": "COMMS_CELERY_BROKER"},
                                           "backend": {"env": "COMMS_CELERY_BACKEND"}})
    if warehouse.is_duckdb():
        return dg.in_process_executor
    limits = [{"key": key, "value": value, "limit": 4} for key, value in WAREHOUSE_STEP_TAGS.items()]
    return dg.multiprocess_executor.configured({"tag_concurrency_limits": limits})


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=credential_resources(), executor=executor())
