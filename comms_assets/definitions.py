"""The code location: every asset, check and resource of comms_assets, assembled."""

from __future__ import annotations

import os

import dagster as dg
from dagster_dlt import DagsterDltResource

from comms_assets import health, unified, warehouse
from comms_assets.assets import WAREHOUSE_TAGS, api_assets
from comms_assets.automation import automation
from comms_assets.catalog import APIS
from comms_assets.resources import credential_resources


def build_definitions() -> dg.Definitions:
    assets = [*(multi_asset for api in APIS.values() for multi_asset in api_assets(api)), *unified.dbt_layer()]
    jobs, schedules, sensors = automation()
    freshness = health.freshness_checks()
    return dg.Definitions(
        assets=assets,
        asset_checks=freshness,
        jobs=jobs,
        schedules=schedules,
        sensors=[*sensors, health.freshness_sensor(freshness), health.stale_alert(freshness)],
        resources={"dlt": DagsterDltResource(), "dbt": unified.dbt_resource(), **credential_resources()},
        executor=executor(),
    )


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
    limits = [{"key": key, "value": value, "limit": 4} for key, value in WAREHOUSE_TAGS.items()]
    return dg.multiprocess_executor.configured({"tag_concurrency_limits": limits})


defs = build_definitions()
