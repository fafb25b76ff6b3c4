"""Schedules and sensors evaluated with Dagster's own helpers at fixed times."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
import requests
import responses

from comms_assets.catalog import APIS
from comms_assets.definitions import build_definitions
from comms_assets.defs.automation import missing_days
from comms_assets.defs.shared import partitions_def
from comms_assets.engine.alerts import AlertNotDelivered
from comms_assets.engine.layer import GROUP, read_manifest
from comms_assets.engine.layer import models as layer_models
from comms_assets_tests.conftest import failed_run

DAILY_APIS = ["justcall", "ringcentral", "gong", "lacrm"]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("api", DAILY_APIS)
def test_daily_schedule_loads_yesterday_and_the_days_still_settling_at_two(defs: dg.Definitions, api: str) -> None:
    schedule = defs.get_repository_def().get_schedule_def(f"{api}_daily_schedule")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at("2026-11-05T02:00:00"))
        [request] = schedule.evaluate_tick(context).run_requests
    first = f"{date(2026, 11, 5) - timedelta(days=APIS[api].settling_days):%Y-%m-%d}"
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) \
        == (first, "2026-11-04") and request.tags["comms/api"] == api
    assert schedule.job_name == f"{api}_daily_job"
    job = defs.get_repository_def().get_job(f"{api}_daily_job")
    assert {k.path[0] for k in job.asset_layer.executable_asset_keys} == {api}


def test_missing_days_are_the_unloaded_closed_days_newest_first_bounded() -> None:
    api = APIS["justcall"]
    keys = [dg.AssetKey(["justcall", e.name]) for e in api.endpoints if e.partitioned]
    with dg.DagsterInstance.ephemeral() as instance:
        for day in ("2026-11-04", "2026-11-02"):
            for key in keys:
                instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=day))
        instance.report_runless_asset_event(dg.AssetMaterialization(keys[0], partition="2026-11-03"))  # one asset only
        now = at("2026-11-05T12:00:00")
        assert missing_days(instance, keys, partitions_def(api), now, lookback=5, limit=10) == [
            "2026-11-03", "2026-11-01", "2026-10-31"]
        assert missing_days(instance, keys, partitions_def(api), now, lookback=30, limit=2) == [
            "2026-11-03", "2026-11-01"]


def test_catch_up_sensor_requests_missing_days_with_run_keys(defs: dg.Definitions) -> None:
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("gong_catch_up")
    with dg.DagsterInstance.ephemeral() as instance:
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, repository_def=repo))
        expected = missing_days(instance, [dg.AssetKey(["gong", n]) for n in ("calls", "extensive_calls",
                                                                             "answered_scorecards")],
                                partitions_def(APIS["gong"]), datetime.now(UTC))
    assert [r.partition_key for r in result.run_requests] == expected and len(expected) == 5
    assert [r.run_key for r in result.run_requests] == [f"gong-{day}" for day in expected]


def test_snapshots_refresh_once_a_day_after_three(defs: dg.Definitions) -> None:
    snapshots = {dg.AssetKey([api.name, e.name]) for api in APIS.values() for e in api.endpoints if not e.partitioned}
    models = {dg.AssetKey([GROUP, name]) for name in layer_models(read_manifest()).snapshots}  # not the views over days
    with dg.DagsterInstance.ephemeral() as instance:
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at("2026-11-05T02:50"))
        assert before.total_requested == 0
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor,
                                                  evaluation_time=at("2026-11-05T03:10"))
        # the models that read only snapshots follow once the snapshots have loaded (test_dbt_layer)
        assert {r.key for r in after.results if r.true_subset.size} == snapshots
        assert after.total_requested == 26 and not models & {r.key for r in after.results if r.true_subset.size}
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor,
                                                  evaluation_time=at("2026-11-05T09:00"))
        assert again.total_requested == 0  # handled for today


def test_sensors_and_defaults(defs: dg.Definitions) -> None:
    repo = defs.get_repository_def()
    names = {s.name for s in repo.sensor_defs}
    assert names == {"comms_run_failure_alert", "comms_freshness", "comms_stale_alert", "comms_automation",
                     *(f"{a}_catch_up" for a in DAILY_APIS), *(f"{a}_automation" for a in APIS)}
    running = {s.name for s in repo.sensor_defs if s.default_status == dg.DefaultSensorStatus.RUNNING}
    assert running == {"comms_run_failure_alert", "comms_freshness", "comms_stale_alert",  # none calls a vendor
                       "comms_automation"}


def test_run_failure_alert_logs_and_posts_to_the_webhook(sandbox_env: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSTCALL_API_SECRET", "wrong")
    monkeypatch.setenv("COMMS_ALERT_WEBHOOK", "https://hooks.test/comms")
    defs = build_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        result, context = failed_run(defs, instance)
        assert not result.success
        sensor = defs.get_repository_def().get_sensor_def("comms_run_failure_alert")
        with responses.RequestsMock() as hooks:
            hooks.post("https://hooks.test/comms")
            sensor(context)
            [posted] = hooks.calls
    payload = json.loads(posted.request.body)
    assert payload["run_id"] == result.run_id and payload["text"].startswith("ALERT comms_assets run")
    assert "wrong" not in posted.request.body


@pytest.mark.parametrize("answer", [{"status": 500}, {"body": requests.ConnectionError("refused")}])
def test_an_alert_the_webhook_refuses_fails_the_tick_without_showing_its_address(
        sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, answer: dict) -> None:
    hook = "https://hooks.test/services/T0KEN-in-the-path"
    monkeypatch.setenv("JUSTCALL_API_SECRET", "wrong")
    monkeypatch.setenv("COMMS_ALERT_WEBHOOK", hook)
    defs = build_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        result, context = failed_run(defs, instance)
        with responses.RequestsMock() as hooks:
            hooks.post(hook, **answer)
            with pytest.raises(AlertNotDelivered) as refused:
                defs.get_repository_def().get_sensor_def("comms_run_failure_alert")(context)
    assert result.run_id in str(refused.value) and "T0KEN" not in str(refused.value)
    assert str(answer.get("status", "ConnectionError")) in str(refused.value)
