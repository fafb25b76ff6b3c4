"""What the Dagster definitions share, derived from the catalog: each API's asset keys, its daily
partitions, and the tags and pool by which runs and steps take turns at the warehouse."""

from __future__ import annotations

import dagster as dg
import dlt

from comms_assets.catalog import Api

# Every step that writes to or reads the warehouse is in this pool (deploy/dagster.yaml sets its
# limit: one at a time on DuckDB, which takes one writer per file).
POOL = "comms_warehouse"
# On each raw asset, and on every run the automation starts: production queues one run per API
# at a time (the budget is per account).
API_TAG = "comms/api"
# On each step that reads or writes the warehouse, so that an executor can bound them together.
WAREHOUSE_STEP_TAGS = {"comms/step": "warehouse"}


def daily_keys(api: Api) -> list[dg.AssetKey]:
    return [dg.AssetKey([api.name, e.name]) for e in api.endpoints if e.partitioned]


def snapshot_keys(api: Api) -> list[dg.AssetKey]:
    return [dg.AssetKey([api.name, e.name]) for e in api.endpoints if not e.partitioned]


def api_tags(api: Api) -> dict[str, str]:
    """The run tag by which a production instance queues one run per API at a time:
    ``deploy/dagster.yaml``."""
    return {API_TAG: api.name}


def partitions_def(api: Api) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from the catalog's ``partition_start`` of the API (2025-01-01), or
    ``SOURCES__<API>__PARTITION_START`` for an account whose history starts elsewhere: the UI's
    partition dialog offers the days from there."""
    start = dlt.config.get(f"sources.{api.name}.partition_start", str) or api.partition_start
    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC")
