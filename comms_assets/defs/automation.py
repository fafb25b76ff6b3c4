"""Jobs, schedules and sensors, derived per API from the catalog.

Per API:
* ``<api>_daily_job`` (the date-cursor assets) and ``<api>_daily_schedule``: at 02:00 UTC it loads
  the previous day and the days before it still settling (the catalog's ``settling_days``), so
  records that arrive or change late land;
* ``<api>_catch_up`` sensor: requests past days (within a lookback) that have never been loaded,
  a few per tick, e.g. after downtime;
* ``<api>_automation`` sensor: evaluates the snapshot assets' automation condition (``on_cron`` at
  03:00 UTC, set in ``ingest/assets.py``), Dagster's sensor-driven replacement for a schedule.
And for all of them: ``comms_automation``, which updates the unified layer's models (their
``eager`` condition, set in ``dbt_layer.py``) when their inputs are loaded, so the daily schedules'
runs reach them; ``comms_run_failure_alert`` for every job: an alert line, and a webhook post when
``COMMS_ALERT_WEBHOOK`` is set.

Only the comms automation, the failure alert (and health.py's freshness sensors) start running
by themselves: the others call the vendors' APIs, so a new user switches them on deliberately
(in the UI, or with ``dagster schedule start``/``sensor start``).
"""

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import dagster as dg

from comms_assets.catalog import APIS, Api
from comms_assets.defs.shared import api_tags, daily_keys, partitions_def, snapshot_keys
from comms_assets.engine.alerts import deliver
from comms_assets.engine.layer import GROUP

SCHEDULE_HOUR = 2  # UTC; the previous day is loaded two hours after it closes
CATCH_UP_DAYS = 30  # how far back the catch-up sensor looks for missing days
CATCH_UP_PER_TICK = 5


def daily_job(api: Api):  # -> the unresolved asset job that define_asset_job returns
    return dg.define_asset_job(f"{api.name}_daily_job", selection=dg.AssetSelection.assets(*daily_keys(api)),
                               tags=api_tags(api))


def settling_days(api: Api, now: datetime) -> tuple[str, str]:
    """The closed days still settling at ``now``: yesterday and the ``settling_days - 1`` before it
    (``SOURCES__<API>__SETTLING_DAYS`` overrides the catalog), never before the first partition."""
    days = int(os.environ.get(f"SOURCES__{api.name.upper()}__SETTLING_DAYS") or api.settling_days)
    last = now.astimezone(UTC).date() - timedelta(days=1)
    first = max(last - timedelta(days=max(days, 1) - 1), datetime.fromisoformat(api.partition_start).date())
    return f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"


def daily_schedule(api: Api, job) -> dg.ScheduleDefinition:
    """At 02:00 UTC, one run over the days still settling: yesterday, and the days before it
    whose records may still arrive or change (the catalog's ``settling_days``). Asked for in one
    window and merged on the key, so late records land and changed ones are updated; each day
    gets a new materialization with its rows."""

    @dg.schedule(name=f"{api.name}_daily_schedule", cron_schedule=f"0 {SCHEDULE_HOUR} * * *", job=job,
                 execution_timezone="UTC", description=f"Yesterday and the {api.settling_days - 1} day(s) before: "
                 f"{api.title}'s {api.settling_why}.")
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        first, last = settling_days(api, context.scheduled_execution_time or datetime.now(UTC))
        return dg.RunRequest(run_key=f"{api.name}:{last}", tags={
            **api_tags(api), "dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})

    return schedule


def missing_days(instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey], days: dg.DailyPartitionsDefinition,
                 now: datetime, lookback: int = CATCH_UP_DAYS, limit: int = CATCH_UP_PER_TICK) -> list[str]:
    """Closed days in the lookback that some of ``keys`` never materialized, newest first."""
    cutoff = f"{now - timedelta(days=lookback):%Y-%m-%d}"
    window = [k for k in days.get_partition_keys(current_time=now) if k >= cutoff]
    done = None
    for key in keys:
        materialized = instance.get_materialized_partitions(key)
        done = materialized if done is None else done & materialized
    return [day for day in reversed(window) if day not in (done or set())][:limit]


def catch_up_sensor(api: Api, job_name: str) -> dg.SensorDefinition:
    days = partitions_def(api)
    keys = daily_keys(api)

    @dg.sensor(name=f"{api.name}_catch_up", job_name=job_name, minimum_interval_seconds=600,
               description=f"Requests up to {CATCH_UP_PER_TICK} missing days of the last {CATCH_UP_DAYS} per tick.")
    def catch_up(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        missing = missing_days(context.instance, keys, days, datetime.now(UTC))
        if not missing:
            return dg.SkipReason("every day of the lookback is loaded")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"{api.name}-{day}", partition_key=day)
                                             for day in missing])

    return catch_up


@dg.run_failure_sensor(name="comms_run_failure_alert", default_status=dg.DefaultSensorStatus.RUNNING,
                       monitor_all_code_locations=False)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """One line a human (or a log alert) can act on, naming what failed; posted to a webhook
    when one is configured. A webhook that fails fails the tick, so the UI shows it."""
    run = context.dagster_run
    causes = [event.dagster_event.step_failure_data.error.message.strip()
              for event in context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
              if event.dagster_event and event.dagster_event.step_failure_data.error]
    message = "; ".join(causes) or context.failure_event.message or "run failed"
    line = f"ALERT comms_assets run {run.run_id} of {run.job_name} failed: {message}"
    context.log.error(line)
    deliver(line, {"run_id": run.run_id, "job": run.job_name, "tags": dict(run.tags)})


@dg.definitions
def defs() -> dg.Definitions:
    """The jobs, schedules and sensors of every API, and the two that watch them all."""
    comms = dg.AutomationConditionSensorDefinition(
        "comms_automation", target=dg.AssetSelection.groups(GROUP), minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING)  # reads the warehouse only, never a vendor
    jobs, schedules, sensors = [], [], [run_failure_alert, comms]
    for api in APIS.values():
        if daily_keys(api):
            job = daily_job(api)
            jobs.append(job)
            schedules.append(daily_schedule(api, job))
            sensors.append(catch_up_sensor(api, job.name))
        if snapshot_keys(api):
            sensors.append(dg.AutomationConditionSensorDefinition(
                f"{api.name}_automation", target=dg.AssetSelection.assets(*snapshot_keys(api)),
                run_tags=api_tags(api), minimum_interval_seconds=300))
    return dg.Definitions(jobs=jobs, schedules=schedules, sensors=sensors)
