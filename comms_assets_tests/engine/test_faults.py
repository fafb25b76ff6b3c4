"""Injected faults through a real load: recover with complete data, or fail clearly losing nothing."""

from __future__ import annotations

import duckdb
import pytest

from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import END, START, calls_on, point_at, rows, run


def calls_in_warehouse(env: dict[str, str]) -> int:
    return rows(env, "select count(*) from justcall.calls")


@pytest.mark.parametrize("fault", [
    {"kind": "status", "status": 503, "count": 2},
    {"kind": "status", "status": 429, "retry_after": 1, "count": 2},
    {"kind": "cut", "count": 1},
    {"kind": "timeout", "delay": 1.5, "count": 1},
])
def test_transient_faults_are_retried_to_complete_data(sandbox: Sandbox, sandbox_env: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch, fault: dict) -> None:
    monkeypatch.setenv("SOURCES__JUSTCALL__REQUEST_TIMEOUT", "1")
    sandbox.inject(api="justcall", endpoint="/v2.1/calls", **fault)
    assert run("justcall/calls", partition_key="2026-10-25").success
    day = calls_on(sandbox, "2026-10-25")
    assert calls_in_warehouse(sandbox_env) == day
    assert sandbox.faults.faults[0].fired == fault["count"]


def test_persistent_failure_and_malformed_json_fail_clearly_keeping_earlier_loads(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    assert run("justcall/calls", partition_key="2026-10-24").success
    before = calls_in_warehouse(sandbox_env)
    sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="status", status=500, count=10)
    result = run("justcall/calls", partition_key="2026-10-25", raise_on_error=False)
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.to_string()
    assert "justcall/calls: HTTP 500" in message
    sandbox.faults.clear()
    sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="malformed", count=10)
    result = run("justcall/calls", partition_key="2026-10-25", raise_on_error=False)
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.to_string()
    assert message.startswith("dagster._core.definitions.events.Failure: justcall/calls:") and "JSON" in message
    assert calls_in_warehouse(sandbox_env) == before  # the earlier day is intact, nothing half-loaded


def test_records_shifting_between_pages_are_loaded_once(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="shift", rows=3)
    assert run("justcall/calls", partition_key="2026-10-25").success
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        rows, distinct = con.execute("select count(*), count(distinct id) from justcall.calls").fetchone()
    assert rows == distinct == calls_on(sandbox, "2026-10-25")


def test_records_shifting_after_a_load_without_duplicates_are_still_loaded_once(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    assert run("justcall/calls", partition_key="2026-10-24").success  # every key once: dlt skips deduplication
    sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="shift", rows=3)
    assert run("justcall/calls", partition_key="2026-10-25").success
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        rows, distinct = con.execute("select count(*), count(distinct id) from justcall.calls").fetchone()
    assert rows == distinct == calls_on(sandbox, "2026-10-24") + calls_on(sandbox, "2026-10-25")


def test_a_rerun_of_a_closed_day_picks_up_late_records(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="late", rows=4)
    assert run("justcall/calls", partition_key="2026-10-25").success
    day = calls_on(sandbox, "2026-10-25")
    assert calls_in_warehouse(sandbox_env) == day - 4  # four calls had not reached the API yet
    assert run("justcall/calls", partition_key="2026-10-25").success  # the day again, later
    assert calls_in_warehouse(sandbox_env) == day


def test_a_token_revoked_mid_load_is_renewed_once_and_the_load_completes(sandbox: Sandbox,
                                                                         sandbox_env: dict[str, str]) -> None:
    sandbox.inject(api="sendpulse", kind="expire_token", endpoint="/campaigns", after=1)
    assert run("sendpulse/campaigns").success
    log = sandbox.requests("sendpulse")
    assert [r["path"] for r in log].count("/oauth/access_token") == 2
    assert rows(sandbox_env, "select count(*) from sendpulse.campaigns") == sandbox.counts()["sendpulse/campaigns"]


def test_tokens_that_expire_every_few_seconds_are_renewed_ahead(sandbox_env: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """3-second tokens, 50 pages paced to SendPulse's 10 requests a second: renewed before they lapse."""
    world = World(seed=5, start=START, end=END, counts={"sendpulse/campaigns": 5_000})
    with Sandbox(world=world, rate_limit_scale=1, token_ttl=3) as sandbox:
        point_at(monkeypatch, sandbox)
        assert run("sendpulse/campaigns").success
        log = sandbox.requests("sendpulse")
    assert [r["status"] for r in log if r["status"] != 200] == []  # not one 401, not one 429
    assert [r["path"] for r in log].count("/oauth/access_token") >= 2
    assert rows(sandbox_env, "select count(*) from sendpulse.campaigns") == 5_000


def test_retry_after_is_waited_out_even_when_backoff_is_shorter(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    """Backoff is 0.05 s in the tests; only the vendor's ``Retry-After: 2`` explains a 2 s gap."""
    sandbox.inject(api="justcall", endpoint="/v2.1/users", kind="status", status=429, retry_after=2, count=1)
    assert run("justcall/users").success
    times = [r["time"] for r in sandbox.requests() if r["path"] == "/v2.1/users"]
    assert len(times) == 2 and 2 <= times[1] - times[0] < 5  # the vendor's wait, neither less nor a guess


@pytest.mark.parametrize("failures, succeeds", [(3, True), (4, False)])
def test_a_request_is_tried_four_times_as_promised(sandbox: Sandbox, sandbox_env: dict[str, str], failures: int,
                                                   succeeds: bool) -> None:
    """README: 429 and 5xx are retried, four attempts in all, then a clear error."""
    sandbox.inject(api="justcall", endpoint="/v2.1/users", kind="status", status=503, count=failures)
    result = run("justcall/users", raise_on_error=False)
    assert result.success is succeeds
    assert len([r for r in sandbox.requests() if r["path"] == "/v2.1/users"]) == 4
    if not succeeds:
        message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.to_string()
        assert "justcall/users: HTTP 503" in message


def test_records_shifting_on_a_day_of_several_pages_are_loaded_once(sandbox_env: dict[str, str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Records inserted ahead of the reader make the last page of the day repeat five rows of the one before."""
    world = World(seed=5, start=START, end=END, counts={"justcall/calls": 2_950})  # ~295 calls a day: 3 pages
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        point_at(monkeypatch, sandbox)
        day = calls_on(sandbox, "2026-10-25")
        assert day > 200 and 0 < day % 100 <= 95  # the last page is short: shifting it loses nothing
        sandbox.inject(api="justcall", endpoint="/v2.1/calls", kind="shift", rows=5, after=(day - 1) // 100)
        result = run("justcall/calls", partition_key="2026-10-25")
        assert result.success and sandbox.faults.faults[0].fired == 1
        [materialization] = result.asset_materializations_for_node("justcall_daily")
        assert materialization.metadata["comms/repeated_keys"].value == 5  # the shift did repeat rows
        with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
            rows, distinct = con.execute("select count(*), count(distinct id) from justcall.calls").fetchone()
        assert rows == distinct == day
