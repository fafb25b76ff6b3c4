"""Days keep settling after they close: each scheduled daily run loads again the API's settling
window, so a record that appears or changes late lands with the next run, no one re-running a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from comms_assets.catalog import APIS
from comms_assets.definitions import build_definitions
from comms_assets.engine.limits import PacedAdapter
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import FAST_RETRIES, point_at

DAY = datetime(2026, 10, 20, tzinfo=UTC)  # the day whose records settle late
START, END = DAY - timedelta(days=5), DAY + timedelta(days=3)


def scheduled(defs: dg.Definitions, instance: dg.DagsterInstance, api: str, at: datetime) -> dg.ExecuteInProcessResult:
    """What the daemon does at ``at``: evaluate the API's daily schedule, run what it requests."""
    schedule = defs.get_schedule_def(f"{api}_daily_schedule")
    request = schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=at))
    return defs.resolve_job_def(f"{api}_daily_job").execute_in_process(instance=instance, tags=request.tags)


def warehouse_rows(path: str, sql: str) -> list[tuple]:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_gong_call_visible_20_hours_after_it_started_lands_with_the_next_scheduled_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    world = World(seed=3, start=START, end=END, counts={"gong/calls": 400})
    warehouse = str(tmp_path / "settling.duckdb")
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        gong = sandbox.apis["gong"]
        on_day = world.between("gong/calls", DAY, DAY + timedelta(days=1))
        first_run = DAY + timedelta(days=1, hours=2)
        late = [i for i in on_day if gong.processed(i) > first_run]
        assert late  # started after 06:00, processed 20 hours later: after the 02:00 run
        defs = build_definitions()

        world.now = first_run
        assert scheduled(defs, instance, "gong", first_run).success
        day_sql = f"select count(*) from gong.calls where started::date = '{DAY:%Y-%m-%d}'"
        assert warehouse_rows(warehouse, day_sql)[0][0] == len(on_day) - len(late)

        world.now = first_run + timedelta(days=1)
        second = scheduled(defs, instance, "gong", world.now)
        assert second.success
        assert warehouse_rows(warehouse, day_sql)[0][0] == len(on_day)
        [materialization] = [m for m in second.asset_materializations_for_node("gong_daily")
                             if m.asset_key == dg.AssetKey(["gong", "calls"]) and m.partition == f"{DAY:%Y-%m-%d}"]
        assert materialization.metadata["dagster/partition_row_count"].value == len(on_day)
        checks = [c for c in second.get_asset_check_evaluations() if c.asset_key == dg.AssetKey(["gong", "calls"])]
        assert checks and all(c.passed for c in checks)
    assert sorted({m.partition for m in second.asset_materializations_for_node("gong_daily")}) == [
        f"{DAY + timedelta(days=n):%Y-%m-%d}" for n in (-1, 0, 1)]  # Gong's three settling days, re-read


def test_a_justcall_disposition_set_the_next_day_shows_after_the_next_run(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    world = World(seed=3, start=START, end=END, counts={"justcall/calls": 400})
    warehouse = str(tmp_path / "settling.duckdb")
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        justcall = sandbox.apis["justcall"]
        first_run = DAY + timedelta(days=1, hours=2)
        settled = {justcall.call(i)["id"]: justcall.call(i)["call_info"]["disposition"]
                   for i in world.between("justcall/calls", DAY + timedelta(hours=7), DAY + timedelta(days=1))}
        later = {key: value for key, value in settled.items() if value}
        assert later  # dispositions set at wrap-up, 20 hours on: after the 02:00 run
        defs = build_definitions()
        sql = f"select id, call_info__disposition from justcall.calls where id in ({', '.join(map(str, later))})"

        world.now = first_run
        assert scheduled(defs, instance, "justcall", first_run).success
        assert {value for _, value in warehouse_rows(warehouse, sql)} == {""}
        world.now = first_run + timedelta(days=1)
        assert scheduled(defs, instance, "justcall", world.now).success
        assert dict(warehouse_rows(warehouse, sql)) == later


SYNC = "/restapi/v1.0/account/~/extension/~/call-log-sync"
CALL_LOG = "/restapi/v1.0/account/~/extension/~/call-log"


def recent_world(calls: int) -> tuple[World, datetime]:
    """A world whose last days are RingCentral's settling window by the code's clock (the change
    feed is asked only for the days still settling), and the day whose calls are deleted."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = today - timedelta(days=3)
    return World(seed=5, start=day - timedelta(days=4), end=today, counts={"ringcentral/call_log": calls}), day


def test_a_ringcentral_call_deleted_upstream_is_removed_by_the_next_scheduled_run(monkeypatch: pytest.MonkeyPatch,
                                                                                  tmp_path: Path) -> None:
    world, day = recent_world(calls=280)
    warehouse = str(tmp_path / "settling.duckdb")
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        ringcentral = sandbox.apis["ringcentral"]
        first_run, second_run = day + timedelta(days=1, hours=2), day + timedelta(days=2, hours=2)
        world.now = first_run
        on_day = world.between("ringcentral/call_log", day, day + timedelta(days=1))
        deleted = {ringcentral.call_record(i)["id"] for i in on_day
                   if (at := ringcentral.deleted_at(i)) and first_run < at <= second_run}
        assert deleted  # deleted 30 hours after they started: after the first run, before the second
        defs = build_definitions()
        day_sql = f"select id from ringcentral.user_call_records where start_time::date = '{day:%Y-%m-%d}'"

        assert scheduled(defs, instance, "ringcentral", first_run).success
        assert deleted <= {row[0] for row in warehouse_rows(warehouse, day_sql)}

        sandbox.log.clear()
        world.now = second_run
        second = scheduled(defs, instance, "ringcentral", second_run)
        assert second.success
        remaining = {ringcentral.call_record(i)["id"] for i in on_day if ringcentral.deleted_at(i) is None or
                     ringcentral.deleted_at(i) > second_run}
        assert {row[0] for row in warehouse_rows(warehouse, day_sql)} == remaining
        asked = [r for r in sandbox.requests("ringcentral") if r["path"] in (SYNC, CALL_LOG)]
        assert [(r["path"], r["query"]["syncType"]) for r in asked] == [(SYNC, "ISync")]  # the changes alone
        assert asked[0]["groups"] == ["Heavy"] and PacedAdapter(APIS["ringcentral"], "-", print).group(SYNC) == "heavy"
        [materialization] = [m for m in second.asset_materializations_for_node("ringcentral_daily")
                             if m.asset_key == dg.AssetKey(["ringcentral", "user_call_records"])
                             and m.partition == f"{day:%Y-%m-%d}"]
        assert materialization.metadata["dagster/partition_row_count"].value == len(remaining)
        checks = [c for c in second.get_asset_check_evaluations()
                  if c.asset_key == dg.AssetKey(["ringcentral", "user_call_records"])]
        assert checks and all(c.passed for c in checks)


def test_a_busy_ringcentral_account_reads_its_settling_window_by_date(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """More calls in the window than one answer of the change feed holds: nothing is lost."""
    world, day = recent_world(calls=1400)  # about 175 a day: 350 in a two-day window
    warehouse = str(tmp_path / "settling.duckdb")
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        world.now = day + timedelta(days=1, hours=2)
        assert scheduled(build_definitions(), instance, "ringcentral", world.now).success
        asked = [r["path"] for r in sandbox.requests("ringcentral") if r["path"] in (SYNC, CALL_LOG)]
        assert asked == [SYNC, CALL_LOG]
        ringcentral = sandbox.apis["ringcentral"]
        window = world.between("ringcentral/call_log", day - timedelta(days=1), day + timedelta(days=1))
        expected = {ringcentral.call_record(i)["id"] for i in window if ringcentral.deleted_at(i) is None
                    or ringcentral.deleted_at(i) > world.now}
        sql = (f"select id from ringcentral.user_call_records where start_time >= '{day - timedelta(days=1):%Y-%m-%d}' "
               f"and start_time < '{day + timedelta(days=1):%Y-%m-%d}'")
        assert {row[0] for row in warehouse_rows(warehouse, sql)} == expected
