"""Real accounts' limits through real loads: quotas waited out, a daily cap that ends a backfill
cleanly, and long ranges that keep every day committed before a failure."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import sqlite3
import stat
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import dlt
import duckdb
import pytest
import requests

from comms_assets.catalog import APIS
from comms_assets.definitions import build_definitions
from comms_assets.engine import limits
from comms_assets.engine.limits import PacedAdapter
from comms_assets.engine.sources import build_source
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.protocol import Account, Limit
from comms_assets_tests.conftest import END, FAST_RETRIES, point_at, range_tags, run

MONTH = END - timedelta(days=30)
NOBODY = 65534  # another user: the tests run as root, so a foreign owner is made with chown


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
    return job.execute_in_process(instance=instance,
                                  asset_selection=[dg.AssetKey.from_user_string(k) for k in selection],
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
        key, secret = sandbox.credentials["JUSTCALL_API_KEY"], sandbox.credentials["JUSTCALL_API_SECRET"]
        auth = {"Authorization": f"{key}:{secret}"}
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
    """An account whose daily cap (20 here) another client has spent mid-backfill (pacing is off: this
    load never counts toward it): the 429's Retry-After runs to the end of the day, beyond the hour
    a load may wait, so the run stops keeping the days it loaded; the next day, the missing days
    load. The sandbox's clock stands still, then jumps a day."""
    world = World(start=MONTH, end=END, counts={"gong/calls": 300})
    days = [f"{MONTH + timedelta(days=n):%Y-%m-%d}" for n in range(30)]
    morning = 1_800_000_000 - 1_800_000_000 % 86_400 + 1_000.0  # 1,000 s into a UTC day
    with Sandbox(world=world, rate_limit_scale=1) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        sandbox.apis["gong"].limits = (Limit("day", 20, 86_400),)
        sandbox.limiter.clock = lambda: morning
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, SOURCES__GONG__RATE_SCALE="0",
                                 COMMS_COMMIT_EVERY_S="0")
        stopped = range_run(instance, ["gong/calls"], days[0], days[-1])
        assert not stopped.success
        message = next(e for e in stopped.all_events if e.is_step_failure).step_failure_data.error.message
        assert "gong: rate limit reached (Retry-After: 85400); it resets at" in message and "MAX_QUOTA_WAIT" in message
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


def test_gongs_own_daily_budget_ends_a_backfill_at_once_naming_the_days_not_loaded(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Paced as in production, the load spends Gong's 10,000 a day itself (20 here, in a day of
    2.4 hours) and the vendor never answers 429: the 21st request would wait past the hour a load
    may wait, so the run stops at once, keeping the 20 days it loaded. A new day (a fresh bucket)
    loads the rest."""
    world = World(start=MONTH, end=END, counts={"gong/calls": 300})
    days = [f"{MONTH + timedelta(days=n):%Y-%m-%d}" for n in range(30)]
    paced = {"SOURCES__GONG__RATE_SCALE": "0.002", "SOURCES__GONG__RATE_TIME_SCALE": "10", "COMMS_COMMIT_EVERY_S": "0"}
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path, **paced,
                                 COMMS_RATE_LIMIT_DB=str(tmp_path / "today.sqlite"))
        started = time.monotonic()
        stopped = range_run(instance, ["gong/calls"], days[0], days[-1])
        assert not stopped.success and time.monotonic() - started < 60
        message = next(e for e in stopped.all_events if e.is_step_failure).step_failure_data.error.message
        assert "gong: the default budget (" in message and "20 per 9094.74 s) is spent" in message
        assert "MAX_QUOTA_WAIT" in message
        assert f"{days[0]}..{days[19]} are loaded; {days[20]}..{days[29]} are not" in message
        assert [r["status"] for r in sandbox.requests("gong")] == [200] * 20
        assert instance.get_materialized_partitions(dg.AssetKey(["gong", "calls"])) == set(days[:20])
        monkeypatch.setenv("COMMS_RATE_LIMIT_DB", str(tmp_path / "tomorrow.sqlite"))
        assert range_run(instance, ["gong/calls"], days[20], days[-1]).success
        assert count(warehouse, "select count(*) from gong.calls") == 300


@pytest.mark.parametrize(("api", "asset", "path"), [("sendpulse", "sendpulse/campaigns", "/campaigns"),
                                                    ("lacrm", "lacrm/teams", "/v2")])
def test_a_429_without_any_hint_is_waited_out(api: str, asset: str, path: str, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """SendPulse and LACRM say nothing but 429: the request waits the API's hintless wait (61 s,
    in a minute lasting 3.05 s here) before it is sent again, not dlt's quick backoff."""
    with Sandbox(world=World(start=MONTH, end=END), rate_limit_scale=0) as sandbox:
        warehouse_at(sandbox, monkeypatch, tmp_path, **{f"SOURCES__{api.upper()}__RATE_TIME_SCALE": "20"})
        sandbox.inject(api=api, endpoint=path, kind="status", status=429, retry_after=None, count=1)
        assert run(asset).success
        log = [r for r in sandbox.requests(api) if r["path"].rstrip("/") == path]
    assert [r["status"] for r in log[:2]] == [429, 200]
    assert 3.0 <= log[1]["time"] - log[0]["time"] < 8


def test_ringcentral_pages_linked_with_real_ids_stay_within_the_heavy_budget(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    """Six pages of one day's call log, each next page a link carrying the account's real ids, at
    Heavy's 10 a minute (3 in 6 s here): the sandbox never has to refuse one."""
    world = World(start=END - timedelta(days=1), end=END, counts={"ringcentral/call_log": 5_500})
    with Sandbox(world=world, rate_limit_scale=0.3, rate_time_scale=10) as sandbox:
        warehouse = warehouse_at(sandbox, monkeypatch, tmp_path)
        assert run("ringcentral/user_call_records", f"{END - timedelta(days=1):%Y-%m-%d}").success
        log = [r for r in sandbox.requests("ringcentral") if r["path"].endswith("/call-log")]
    assert [r["status"] for r in log] == [200] * 6
    assert all("/account/401501489004/extension/401501490012/" in r["path"] for r in log[1:])
    assert count(warehouse, "select count(*) from ringcentral.user_call_records") == 5_500


def test_every_ringcentral_request_is_paced_by_its_own_group(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each request of a whole RingCentral load, next pages with real ids included, counts in the
    group the sandbox (written from RingCentral's docs, apart from the catalog) counts it in."""
    world = World(start=END - timedelta(days=1), end=END, counts={"ringcentral/call_log": 2_500,
                                                                 "ringcentral/blocked_numbers": 2_200})
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        warehouse_at(sandbox, monkeypatch, tmp_path)
        defs = build_definitions()
        everything = dg.AssetSelection.groups("ringcentral")
        dated = dg.AssetSelection.assets(dg.AssetKey(["ringcentral", "user_call_records"]))
        assert dg.materialize(defs.assets, selection=everything - dated, resources=defs.resources).success
        assert run("ringcentral/user_call_records", f"{END - timedelta(days=1):%Y-%m-%d}").success
        log = sandbox.requests("ringcentral")
    adapter = PacedAdapter(APIS["ringcentral"], "account", print)
    groups = [(r["path"], adapter.group(r["path"]), r["groups"][0].lower()) for r in log]
    assert {path.rsplit("/", 1)[-1] for path, _, _ in groups} >= {"call-log", "business-hours", "call-queues", "token"}
    assert [g for g in groups if g[1] != g[2]] == []


def test_two_accounts_of_one_api_each_get_their_full_budget(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two JustCall accounts loaded at once from one machine, at 3 requests per 6 s each: both
    spend their own budget side by side (6 requests in a window), neither is refused."""
    second = {"JUSTCALL_API_KEY": "second-key", "JUSTCALL_API_SECRET": "second-secret"}
    world = World(start=MONTH, end=END, counts={"justcall/contacts": 3_000})  # six pages of 500
    with Sandbox(world=world, rate_limit_scale=0.1, rate_time_scale=10,
                 accounts={"justcall": [Account(), Account(credentials=second)]}) as sandbox:
        warehouse_at(sandbox, monkeypatch, tmp_path)

        def load(account: int) -> int:
            credentials = sandbox.credentials_of("justcall", account)
            source = build_source(APIS["justcall"], credentials).with_resources("contacts")
            pipeline = dlt.pipeline(f"account_{account}", pipelines_dir=str(tmp_path / "dlt"),
                                    destination=dlt.destinations.duckdb(str(tmp_path / f"account_{account}.duckdb")),
                                    dataset_name="justcall")
            pipeline.run(source)
            return count(str(tmp_path / f"account_{account}.duckdb"), "select count(*) from justcall.contacts")

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert list(pool.map(load, (0, 1))) == [3_000, 3_000]
        log = [r for r in sandbox.requests("justcall") if r["path"] == "/v2.1/contacts"]
    assert [r["status"] for r in log] == [200] * 12
    assert sorted(r["account"] for r in log) == [0] * 6 + [1] * 6
    times = sorted(r["time"] for r in log)
    assert max(sum(1 for t in times if start <= t < start + 5.5) for start in times) >= 5


def paced_store(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: Path) -> None:
    warehouse_at(sandbox, monkeypatch, tmp_path, COMMS_RATE_LIMIT_DB=str(store))


@pytest.mark.parametrize("planted", ["foreign directory", "foreign file", "symlink"])
def test_a_rate_limit_store_another_user_could_touch_is_refused_with_one_clear_line(
        planted: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another user (``nobody``) owns the store's directory or file, or the file is a symlink
    another user planted: the load refuses it before sending a request."""
    folder = tmp_path / "store"
    folder.mkdir(mode=0o700)
    store = folder / "rates.sqlite"
    if planted == "foreign directory":
        os.chown(folder, NOBODY, NOBODY)
    elif planted == "foreign file":
        sqlite3.connect(store).close()
        os.chown(store, NOBODY, NOBODY)
    else:
        (tmp_path / "elsewhere.sqlite").touch()
        store.symlink_to(tmp_path / "elsewhere.sqlite")
    with Sandbox(world=World(start=MONTH, end=END), rate_limit_scale=1) as sandbox:
        paced_store(sandbox, monkeypatch, tmp_path, store)
        result = run("justcall/users", raise_on_error=False)
        assert not result.success and sandbox.requests("justcall") == []
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert f"justcall/users: RateStoreUnusable: the rate-limit store {store} is not yours alone" in message
    assert {"foreign directory": "belongs to user 65534", "foreign file": "belongs to user 65534",
            "symlink": "is a symbolic link"}[planted] in message


def test_a_store_dated_in_the_future_or_corrupted_does_not_hold_a_load(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    """Entries ten years ahead (a clock stepped back) fill JustCall's windows: they are dropped,
    not waited for. A store that is no database any more is recreated, with a warning."""
    store = tmp_path / "rates.sqlite"
    with Sandbox(world=World(start=MONTH, end=END), rate_limit_scale=1) as sandbox:
        paced_store(sandbox, monkeypatch, tmp_path, store)
        assert run("justcall/users").success
        ahead = int((time.time() + 10 * 365 * 86_400) * 1000)
        with sqlite3.connect(store) as con:
            tables = [t for (t,) in con.execute("select name from sqlite_master where type = 'table'")]
            for table in tables:
                con.executemany(f"insert into '{table}' (name, item_timestamp) values ('default', ?)",
                                [(ahead,)] * 2_000)
        started = time.monotonic()
        assert tables and run("justcall/users").success and time.monotonic() - started < 30

        limits.limiter.cache_clear()  # as a new process would: no connection still open on the old file
        for sibling in tmp_path.glob("rates.sqlite*"):
            sibling.unlink()
        store.write_bytes(b"this is no database " * 400)
        defs = build_definitions()
        with dg.DagsterInstance.ephemeral() as instance:
            assert dg.materialize(defs.assets, selection="justcall/users", resources=defs.resources,
                                  instance=instance).success
            said = [r.user_message for r in instance.all_logs(instance.get_runs()[0].run_id)]
    assert any(f"the rate-limit store {store} is unreadable" in line for line in said)
    with sqlite3.connect(store) as con:
        assert con.execute("select count(*) from sqlite_master where type = 'table'").fetchone()[0] >= 1
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
