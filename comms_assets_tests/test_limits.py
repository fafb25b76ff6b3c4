"""Real accounts' limits through real loads: quotas waited out, a daily cap that ends a backfill
cleanly, and long ranges that keep every day committed before a failure."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.protocol import Limit
from comms_assets_tests.conftest import END, FAST_RETRIES, point_at, range_tags
from comms_assets_tests.test_runs import run

MONTH = END - timedelta(days=30)


def warehouse_at(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **extra: str) -> str:
    warehouse = str(tmp_path / "limits.duckdb")
    point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse, **extra})
    return warehouse


def count(warehouse: str, sql: str) -> int:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def range_run(instance: dg.DagsterInstance, selection: list[str], first: str, last: str) -> dg.ExecuteInProcessResult:
    job = build_definitions().resolve_implicit_global_asset_job_def()
    tags = range_tags(first, last)
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey.from_user_string(k) for k in selection],
                                  tags=tags, raise_on_error=False)


def test_a_retry_after_beyond_dlts_retry_budget_is_waited_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dlt would wait at most ``request_max_retry_delay`` (1 s here) and give up; the quota says 3 s."""
    with Sandbox(world=World(start=MONTH, end=END), rate_limit_scale=0) as sandbox:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, SOURCES__GONG__REQUEST_MAX_RETRY_DELAY="1",
                             SOURCES__GONG__REQUEST_MAX_ATTEMPTS="2")
        sandbox.inject(api="gong", endpoint="/users", kind="status", status=429, retry_after=3, count=1)
        assert run("gong/users").success
        times = [r["time"] for r in sandbox.requests("gong") if r["path"] == "/v2/users"]
        assert len(times) == 2 and 3 <= times[1] - times[0] < 6  # the vendor's wait, not a guess of ours
        assert count(warehouse, "select count(*) from gong.users") == sandbox.world.count("gong/users")


def test_justcalls_429_without_retry_after_waits_for_the_reset_header(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """JustCall's burst window (30 a minute; 3 here, in a minute lasting 6 s) answers 429 with
    only ``X-Rate-Limit-Burst-Reset``. Another client has just spent the window."""
    world = World(start=MONTH, end=END, counts={"justcall/contacts": 2_500})  # five pages of 500
    with Sandbox(world=world, rate_limit_scale=0.1, rate_time_scale=10) as sandbox:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path)
        offset = 0.001 - time.time() % 6  # the sandbox's clock at the start of a 6 s window: no race with its end
        sandbox.limiter.clock = lambda: time.time() + offset
        auth = {"Authorization": f"{sandbox.credentials['JUSTCALL_API_KEY']}:{sandbox.credentials['JUSTCALL_API_SECRET']}"}
        while requests.get(f"{sandbox.url}/justcall/v2.1/users", headers=auth, timeout=5).status_code != 429:
            pass
        sandbox.log.clear()
        assert run("justcall/contacts").success
        log = [r for r in sandbox.requests("justcall") if r["path"] == "/v2.1/contacts"]
    assert log[0]["status"] == 429
    assert [r["status"] for r in log[1:]] == [200] * 5 and log[1]["time"] - log[0]["time"] > 0.5
    assert count(warehouse, "select count(*) from justcall.contacts") == 2_500


def test_paced_to_the_published_limits_no_request_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same account paced by the connector: not one 429."""
    world = World(start=MONTH, end=END, counts={"justcall/contacts": 1_000})
    with Sandbox(world=world, rate_limit_scale=0.1, rate_time_scale=60) as sandbox:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path)
        assert run("justcall/contacts").success
        assert [r["status"] for r in sandbox.requests("justcall") if r["status"] != 200] == []
    assert count(warehouse, "select count(*) from justcall.contacts") == 1_000


@pytest.mark.slow
def test_a_range_that_fails_on_day_20_keeps_days_1_to_19_and_a_rerun_completes_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    world = World(start=MONTH, end=END, counts={"justcall/calls": 900})  # 30 a day: one page each
    days = [f"{MONTH + timedelta(days=n):%Y-%m-%d}" for n in range(30)]
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, COMMS_COMMIT_EVERY_S="0")  # a commit per day
        sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="status", status=500, after=19, count=4)
        failed = range_run(instance, ["justcall/calls"], days[0], days[-1])
        assert not failed.success
        message = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error.message
        assert f"{days[0]}..{days[18]} are loaded; {days[19]}..{days[29]} are not" in message
        key = dg.AssetKey(["justcall", "calls"])
        assert instance.get_materialized_partitions(key) == set(days[:19])
        in_days = len(sandbox.world.between("justcall/calls", MONTH, MONTH + timedelta(days=19)))
        assert count(warehouse, "select count(*) from justcall.calls") == in_days
        assert range_run(instance, ["justcall/calls"], days[0], days[-1]).success
        assert instance.get_materialized_partitions(key) == set(days)
        assert count(warehouse, "select count(*) from justcall.calls") == \
            count(warehouse, "select count(distinct id) from justcall.calls") == 900


def test_gongs_daily_cap_ends_a_backfill_cleanly_and_the_next_run_completes(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    """An account whose daily cap (20 here) is spent mid-backfill: the 429's Retry-After runs to the
    end of the day, beyond the hour a load may wait, so the run stops keeping the days it loaded;
    the next day, the missing days load. The sandbox's clock stands still, then jumps a day."""
    world = World(start=MONTH, end=END, counts={"gong/calls": 300})
    days = [f"{MONTH + timedelta(days=n):%Y-%m-%d}" for n in range(30)]
    morning = 1_800_000_000 - 1_800_000_000 % 86_400 + 1_000.0  # 1,000 s into a UTC day
    with Sandbox(world=world, rate_limit_scale=1) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        sandbox.apis["gong"].limits = (Limit("day", 20, 86_400),)
        sandbox.limiter.clock = lambda: morning
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, SOURCES__GONG__RATE_SCALE="0", COMMS_COMMIT_EVERY_S="0")
        stopped = range_run(instance, ["gong/calls"], days[0], days[-1])
        assert not stopped.success
        message = next(e for e in stopped.all_events if e.is_step_failure).step_failure_data.error.message
        assert "gong: the quota (Retry-After: 85400) resets at" in message and "MAX_QUOTA_WAIT" in message
        assert f"{days[0]}..{days[19]} are loaded; {days[20]}..{days[29]} are not" in message
        key = dg.AssetKey(["gong", "calls"])
        assert instance.get_materialized_partitions(key) == set(days[:20])  # one request a day
        kept = len(sandbox.world.between("gong/calls", MONTH, MONTH + timedelta(days=20)))
        assert count(warehouse, "select count(*) from gong.calls") == kept
        sandbox.limiter.clock = lambda: morning + 86_400  # the next day
        assert range_run(instance, ["gong/calls"], days[20], days[-1]).success
        assert instance.get_materialized_partitions(key) == set(days)
        assert count(warehouse, "select count(*) from gong.calls") == 300


@pytest.mark.slow
def test_a_paced_range_commits_about_every_n_seconds_and_a_failure_keeps_each_commit(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """JustCall at its published 30 requests a minute, in minutes lasting 6 s (5 a second): 30
    days of three pages each take about 18 s. Committed about every 3 s (``COMMS_COMMIT_EVERY_S``),
    the range lands in several commits of whole days, each soon after the last; a failure later in
    the range keeps every committed day, names the rest, and a rerun completes it."""
    world = World(start=MONTH, end=END, counts={"justcall/calls": 9_000})  # 300 a day: three pages each
    days = [f"{MONTH + timedelta(days=n):%Y-%m-%d}" for n in range(30)]
    every = 3.0
    key = dg.AssetKey(["justcall", "calls"])
    with Sandbox(world=world, rate_limit_scale=1, rate_time_scale=10) as sandbox, \
            dg.DagsterInstance.ephemeral() as instance:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, COMMS_COMMIT_EVERY_S=str(every))
        assert range_run(instance, ["justcall/calls"], days[0], days[-1]).success
        assert [r["status"] for r in sandbox.requests("justcall") if r["status"] != 200] == []
        records = instance.fetch_materializations(key, limit=100).records
        commits: dict[str, float] = {}
        for record in records:
            window = record.asset_materialization.metadata["comms/committed_with"].value
            commits[window] = min(commits.get(window, record.timestamp), record.timestamp)
        assert sorted(r.partition_key for r in records) == days
        assert 3 <= len(commits) < 30
        times = sorted(commits.values())
        assert all(later - earlier < 2 * every + 3 for earlier, later in itertools.pairwise(times)), times
        assert count(warehouse, "select count(*) from justcall.calls") == 9_000

    with Sandbox(world=world, rate_limit_scale=1, rate_time_scale=10) as sandbox, \
            dg.DagsterInstance.ephemeral() as instance:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, COMMS_COMMIT_EVERY_S=str(every))
        duckdb.connect(warehouse).execute("drop schema justcall cascade").close()
        sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="status", status=500, after=60, count=4)
        failed = range_run(instance, ["justcall/calls"], days[0], days[-1])
        assert not failed.success
        kept = sorted(instance.get_materialized_partitions(key))
        assert kept and kept == days[:len(kept)] and len(kept) < 30
        message = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error.message
        assert f"{days[0]}..{kept[-1]} are loaded; {days[len(kept)]}..{days[-1]} are not" in message
        in_days = len(sandbox.world.between("justcall/calls", MONTH, MONTH + timedelta(days=len(kept))))
        assert count(warehouse, "select count(*) from justcall.calls") == in_days
        assert range_run(instance, ["justcall/calls"], days[len(kept)], days[-1]).success
        assert count(warehouse, "select count(*) from justcall.calls") == 9_000
