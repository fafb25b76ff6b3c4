"""Is the data late? Dagster's own freshness checks, derived for every asset, and the alert when
one finds an asset stale (schema drift and volume are checked in the load's step: checks.py).

* **Freshness**: a daily asset is fresh when its previous day is loaded by 04:00 UTC (two hours
  after the daily schedule); a snapshot when it is under 26 hours old (refreshed daily at 03:00).
  ``comms_freshness`` (Dagster's sensor for freshness checks) evaluates them as they come due.
* ``comms_stale_alert``: a freshness check that fails raises the run-failure alert's line and
  webhook (``engine/alerts.py``), once per failed evaluation.
* Quiet until something is wrong: an asset never loaded is not stale (it shows as never
  materialized); its freshness is checked, and alerted, from its first load on.

Freshness checks rather than the newer ``FreshnessPolicy``: each evaluation is an asset-check
record, which a sensor reads to alert and a test evaluates at a fixed time. Their supersession
notices are silenced here, so the CLI's output stays about the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._utils.warnings import SupersessionWarning

from comms_assets.catalog import APIS
from comms_assets.defs.shared import daily_keys, snapshot_keys
from comms_assets.engine.alerts import deliver

DEADLINE = "0 4 * * *"  # UTC: yesterday is expected by then
SNAPSHOT_MAX_AGE = timedelta(hours=26)
ALL_DAILY = [key for api in APIS.values() for key in daily_keys(api)]
ALL_SNAPSHOTS = [key for api in APIS.values() for key in snapshot_keys(api)]


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    with _quiet():
        return [*dg.build_time_partition_freshness_checks(assets=ALL_DAILY, deadline_cron=DEADLINE, timezone="UTC"),
                *dg.build_last_update_freshness_checks(assets=ALL_SNAPSHOTS, lower_bound_delta=SNAPSHOT_MAX_AGE)]


def freshness_sensor(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Dagster's sensor for freshness checks, for the assets loaded at least once: a fresh
    deployment is quiet until something is wrong (an asset never loaded shows as never
    materialized, its check not evaluated, rather than as a failed check and an alert)."""
    with _quiet():
        due = dg.build_sensor_for_freshness_checks(freshness_checks=checks, name="comms_freshness_due")

    @dg.sensor(name="comms_freshness", minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING,
               asset_selection=dg.AssetSelection.checks(*checks),
               description="Evaluates the freshness checks as they come due, for the assets loaded at least once.")
    def freshness(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason | None:
        # Dagster's choice of the checks due, its cursor kept in this sensor's; its own log lines
        # (a line per check it would request, loaded or not) stay out of this sensor's.
        inner = dg.build_sensor_context(instance=context.instance, cursor=context.cursor,
                                        repository_def=context.repository_def)
        request = due(inner)
        context.update_cursor(inner.cursor)
        if not isinstance(request, dg.RunRequest):
            return request
        keys = [key for key in request.asset_check_keys or () if ever_loaded(context.instance, key.asset_key)]
        if not keys:
            return dg.SkipReason("the checks due are of assets never loaded yet")
        return dg.RunRequest(asset_check_keys=keys, tags=request.tags)

    return freshness


def ever_loaded(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    return instance.get_latest_materialization_event(key) is not None


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        yield


def stale_alert(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    keys = [key for definition in checks for key in definition.check_keys]

    @dg.sensor(name="comms_stale_alert", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Alerts once for each failed freshness check: the asset is stale.")
    def alert(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        seen = int(context.cursor or 0)
        latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
        failed = sorted((r for r in latest.values() if r.status == AssetCheckExecutionRecordStatus.FAILED
                         and r.id > seen), key=lambda r: r.id)
        for record in failed:
            if not ever_loaded(context.instance, record.key.asset_key):
                continue  # never loaded (a check run by hand before the first load): nothing is stale yet
            evaluation = record.event.asset_check_evaluation if record.event else None
            why = (evaluation.description if evaluation else None) or "not loaded in time"
            line = f"ALERT comms_assets {record.key.asset_key.to_user_string()} is stale: {why}"
            context.log.error(line)
            deliver(line, {"asset": record.key.asset_key.to_user_string(), "check": record.key.name,
                           "run_id": record.run_id})
        if failed:
            context.update_cursor(str(failed[-1].id))
        return dg.SkipReason(f"{len(failed)} stale asset(s) alerted" if failed else "every checked asset is fresh")

    return alert


@dg.definitions
def defs() -> dg.Definitions:
    """The freshness checks of every raw asset, the sensor that evaluates them and the alert."""
    checks = freshness_checks()
    return dg.Definitions(asset_checks=checks, sensors=[freshness_sensor(checks), stale_alert(checks)])
