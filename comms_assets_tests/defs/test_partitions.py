"""Daily partitions: exact windows, idempotent and order-free backfills, ranges as one run, checks."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import cli_env, point_at, range_tags, sandbox_days

DATED = ["justcall/calls", "justcall/sms", "justcall/agent_analytics", "ringcentral/user_call_records", "gong/calls",
         "gong/extensive_calls", "gong/answered_scorecards", "lacrm/tasks", "lacrm/events"]
TABLES = {"justcall.calls": "id", "justcall.sms": "id", "justcall.agent_analytics": "agent_id, report_date",
          "ringcentral.user_call_records": "id", "gong.calls": "id", "gong.extensive_calls": "meta_data__id",
          "gong.answered_scorecards": "answered_scorecard_id", "lacrm.tasks": "task_id", "lacrm.events": "event_id"}


def materialize(selection: list[str], first: str, last: str | None = None) -> dg.ExecuteInProcessResult:
    """One run over the partitions ``first``..``last`` (a single day when ``last`` is None)."""
    defs = build_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey.from_user_string(k) for k in selection]
    if last is None:
        return job.execute_in_process(asset_selection=keys, partition_key=first, raise_on_error=False)
    tags = range_tags(first, last)
    return job.execute_in_process(asset_selection=keys, tags=tags, raise_on_error=False)


def snapshot(path: str) -> dict[str, list[tuple]]:
    """Every dated table, without dlt's load bookkeeping columns, in key order."""
    out = {}
    with duckdb.connect(path, read_only=True) as con:
        for table, key in TABLES.items():
            out[table] = con.execute(f"select * exclude (_dlt_load_id, _dlt_id) from {table} order by {key}").fetchall()
    return out


def fresh_warehouse(monkeypatch: pytest.MonkeyPatch, tmp_path, name: str) -> str:
    path = str(tmp_path / f"{name}.duckdb")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", path)
    return path


@pytest.mark.slow
def test_range_equals_union_of_days_in_any_order_and_reruns_change_nothing(
        sandbox: Sandbox, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    days = ["2026-10-24", "2026-10-25", "2026-10-26"]
    ranged = fresh_warehouse(monkeypatch, tmp_path, "range")
    result = materialize(DATED, days[0], days[-1])
    assert result.success
    windows = {(r["query"]["from_datetime"], r["query"]["to_datetime"])
               for r in sandbox.requests("justcall") if r["path"] == "/v2.1/calls"}
    # JustCall's two settling days first, then the rest in one window: a window is asked for and
    # committed whole.
    assert windows == {(f"{days[0]} 00:00:00", f"{days[1]} 23:59:59"), (f"{days[2]} 00:00:00", f"{days[2]} 23:59:59")}
    expected = snapshot(ranged)
    assert all(expected.values())

    ordered = fresh_warehouse(monkeypatch, tmp_path, "days")
    for day in (days[2], days[0], days[1], days[0]):  # out of order, one day twice
        assert materialize(DATED, day).success
    assert snapshot(ordered) == expected

    assert materialize(DATED, days[0], days[-1]).success  # the whole range again, overlapping
    assert snapshot(ordered) == expected


def test_range_run_reports_each_day_with_its_own_rows(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    result = materialize(["justcall/calls", "justcall/agent_analytics"], "2026-10-24", "2026-10-26")
    assert result.success
    per_day = {(m.asset_key.to_user_string(), m.partition): m.metadata["dagster/partition_row_count"].value
               for m in (e.materialization for e in result.get_asset_materialization_events())}
    assert len(per_day) == 6
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        calls = dict(con.execute("select call_date, count(*) from justcall.calls group by 1").fetchall())
        report = dict(con.execute("select report_date, count(*) from justcall.agent_analytics group by 1").fetchall())
    for day in ("2026-10-24", "2026-10-25", "2026-10-26"):
        assert per_day[("justcall/calls", day)] == calls[day] > 0
        assert per_day[("justcall/agent_analytics", day)] == report[day] > 0
    requests = [r for r in sandbox.requests("justcall") if r["path"] == "/v2.1/sales_dialer/analytics"]
    assert [r["query"]["from_date"] for r in requests] == ["2026-10-24", "2026-10-25", "2026-10-26"]


def test_gong_windows_split_at_90_days(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """200 days: Gong's three settling days first, then 96 (the growth bound, 32 times) and the
    remaining 101 as commits, each asked for in Gong's longest window (90 days) and the rest."""
    end = datetime(2026, 11, 1, tzinfo=UTC)
    world = World(seed=3, start=end - timedelta(days=200), end=end, counts={"gong/calls": 300})
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        point_at(monkeypatch, sandbox, {"DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "g.duckdb")})
        result = materialize(["gong/calls"], "2026-04-15", "2026-10-31")
        assert result.success
        windows = sorted({(r["query"]["fromDateTime"], r["query"]["toDateTime"]) for r in sandbox.requests("gong")})
        assert windows == [("2026-04-15T00:00:00+00:00", "2026-04-18T00:00:00+00:00"),
                           ("2026-04-18T00:00:00+00:00", "2026-07-17T00:00:00+00:00"),
                           ("2026-07-17T00:00:00+00:00", "2026-07-23T00:00:00+00:00"),
                           ("2026-07-23T00:00:00+00:00", "2026-10-21T00:00:00+00:00"),
                           ("2026-10-21T00:00:00+00:00", "2026-11-01T00:00:00+00:00")]
        with duckdb.connect(str(tmp_path / "g.duckdb"), read_only=True) as con:
            assert con.execute("select count(*) from gong.calls").fetchone()[0] == 300


@pytest.mark.cli
def test_duplicate_keys_fail_the_check_the_run_and_the_cli_until_fixed(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    assert materialize(["justcall/calls"], "2026-10-25").success
    path = sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"]
    with duckdb.connect(path) as con:  # plant two copies of one call
        con.execute("insert into justcall.calls select * from justcall.calls order by id limit 1")
        con.execute("insert into justcall.calls select * from justcall.calls order by id limit 1")
        duplicated = con.execute("select id from justcall.calls order by id limit 1").fetchone()[0]
    checked_after = time.time()

    check = dg.AssetCheckKey(dg.AssetKey(["justcall", "calls"]), "primary_key_unique")
    defs = build_definitions()
    daily = [a for a in defs.assets if a.node_def.name == "justcall_daily"]
    failed = dg.materialize(daily, selection=dg.AssetSelection.checks(check), resources=defs.resources,
                            raise_on_error=False)  # the check alone, no load
    assert not [r for r in sandbox.requests() if r["path"] == "/v2.1/calls" and r["time"] > checked_after]
    assert not failed.success
    [evaluation] = failed.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["duplicate_keys"].value == 1
    assert evaluation.metadata["examples"].value == [[str(duplicated), "3"]]

    cli = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions",
           "--select", "justcall/calls", "--partition", "2026-10-26"]
    done = subprocess.run(cli, env=cli_env(), check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "blocking asset check failed" in done.stdout + done.stderr

    with duckdb.connect(path) as con:  # fix: keep one row per id
        con.execute("create table justcall.calls_fixed as select distinct on (id) * from justcall.calls")
        con.execute("delete from justcall.calls")
        con.execute("insert into justcall.calls select * from justcall.calls_fixed")
        con.execute("drop table justcall.calls_fixed")
    assert subprocess.run(cli, env=cli_env(), check=False, capture_output=True, text=True, timeout=300).returncode == 0


def test_a_range_run_reports_each_day_what_the_sandbox_holds_on_that_utc_day(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    """Gong's cursors carry offsets (-05:00, +05:30, ...): a day is a UTC day, whatever the offset."""
    days = ["2026-10-24", "2026-10-25", "2026-10-26"]
    result = materialize(DATED, days[0], days[-1])
    assert result.success
    per_day = {(m.asset_key.to_user_string(), m.partition): m.metadata["dagster/partition_row_count"].value
               for m in (e.materialization for e in result.get_asset_materialization_events())}
    assert per_day == {(endpoint, day): sandbox_days(sandbox, endpoint, day) for endpoint in DATED for day in days}
    assert all(count > 0 for count in per_day.values())


def test_a_day_without_records_loads_nothing_and_succeeds(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Gong answers a window without calls with HTTP 404; a first load of such a day is a success."""
    world = World(seed=3, start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 10, 3, tzinfo=UTC),
                  counts={"gong/calls": 5})
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        point_at(monkeypatch, sandbox, {"DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "e.duckdb")})
        result = materialize(["gong/calls"], "2026-10-20")
        assert result.success
        assert [r["status"] for r in sandbox.requests("gong")] == [404]
    [materialization] = [e.materialization for e in result.get_asset_materialization_events()]
    assert materialization.metadata["dagster/partition_row_count"].value == 0
    assert materialization.metadata["dagster/row_count"].value == 0
    # The freshness check follows the day's output in the run: days after 2026-10-20 are missing.
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "primary_key_unique": True, "primary_key_not_null": True, "daily_volume": True,
        "column_schema_change": True, "freshness_check": False}


def test_a_planted_null_key_and_a_composite_duplicate_fail_their_checks(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    assert materialize(["justcall/calls", "justcall/agent_analytics"], "2026-10-25").success
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"]) as con:
        con.execute("alter table justcall.calls alter column id drop not null")  # as warehouses that do not enforce it
        con.execute("insert into justcall.calls select * replace (null as id) from justcall.calls limit 1")
        con.execute("insert into justcall.agent_analytics select * from justcall.agent_analytics limit 1")
        agent, day = con.execute("select agent_id, report_date from justcall.agent_analytics limit 1").fetchone()
    result = materialize(["justcall/calls", "justcall/agent_analytics"], "2026-10-26")
    assert not result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert not evaluations[("justcall/calls", "primary_key_not_null")].passed
    assert evaluations[("justcall/calls", "primary_key_not_null")].metadata["null_keys"].value == 1
    duplicate = evaluations[("justcall/agent_analytics", "primary_key_unique")]
    assert not duplicate.passed and duplicate.metadata["examples"].value == [[str(agent), day, "2"]]
    assert evaluations[("justcall/calls", "primary_key_unique")].passed
