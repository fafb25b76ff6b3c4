"""Days keep settling after they close: each scheduled daily run loads again the API's settling
window, so a record that appears or changes late lands with the next run, no one re-running a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from comms_assets.definitions import build_definitions
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
