"""Accounts on any clock: every dated endpoint loads exactly its UTC day (or, where the data is a
per-date aggregate or a zoneless date, exactly the account's local date), across DST changes and
in zones far from UTC, for a range and for a day."""

from __future__ import annotations

import collections
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.protocol import Account
from comms_assets_tests.conftest import FAST_RETRIES, point_at, range_tags

# 2026-09-27: Auckland's clocks go forward (a 23-hour local day); 2026-11-01: New York's go back (25 hours).
START, END = datetime(2026, 9, 24, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
DAYS = [f"{START + timedelta(days=n):%Y-%m-%d}" for n in range((END - START).days)]
COUNTS = {"justcall/calls": 1_200, "justcall/texts": 600, "justcall/users": 12, "gong/calls": 400,
          "gong/answered_scorecards": 300, "lacrm/tasks": 400, "lacrm/events": 300, "sendpulse/campaigns": 150}
DATED = ["justcall/calls", "justcall/sms", "justcall/agent_analytics", "gong/calls", "gong/extensive_calls",
         "gong/answered_scorecards", "lacrm/tasks", "lacrm/events"]
ZONED = ("justcall", "gong", "lacrm", "sendpulse")


def load(zone: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, first: str, last: str,
         configured: bool = True) -> tuple[Sandbox, str, dg.ExecuteInProcessResult]:
    world = World(seed=11, start=START, end=END, counts=dict(COUNTS))
    sandbox = Sandbox(world=world, rate_limit_scale=0, accounts={api: [Account(timezone=zone)] for api in ZONED})
    sandbox.start()
    warehouse = str(tmp_path / "clocks.duckdb")
    point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse,
                                    "DLT_DATA_DIR": str(tmp_path / "dlt")})
    for api in () if configured else ZONED:  # the account's zone unknown to the project
        monkeypatch.delenv(f"SOURCES__{api.upper()}__TIMEZONE")
    job = build_definitions().resolve_implicit_global_asset_job_def()
    tags = range_tags(first, last) if first != last else {"dagster/partition": first}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False,
                                        asset_selection=[dg.AssetKey.from_user_string(k) for k in DATED])
    return sandbox, warehouse, result


def per_day(warehouse: str, sql: str) -> dict[str, int]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return {str(day): n for day, n in con.execute(sql).fetchall()}


def world_per_day(sandbox: Sandbox, collection: str, zone: str | None, days: list[str]) -> dict[str, int]:
    """The sandbox's records per day: UTC days, or the account's dates in ``zone``."""
    clock = ZoneInfo(zone) if zone else UTC
    out: collections.Counter[str] = collections.Counter()
    for i in range(sandbox.world.count(collection)):
        day = f"{sandbox.world.instant(collection, i).astimezone(clock):%Y-%m-%d}"
        if days[0] <= day <= days[-1]:
            out[day] += 1
    return dict(out)


def agent_days(sandbox: Sandbox, zone: str, days: list[str]) -> dict[str, int]:
    """Rows of JustCall's per-agent daily report: (agent, local date) pairs with calls."""
    justcall = sandbox.apis["justcall"]
    pairs = {(justcall.call(i)["agent_id"],
              f"{sandbox.world.instant('justcall/calls', i).astimezone(ZoneInfo(zone)):%Y-%m-%d}")
             for i in range(sandbox.world.count("justcall/calls"))}
    return dict(collections.Counter(day for _, day in pairs if days[0] <= day <= days[-1]))


def assert_exact(sandbox: Sandbox, warehouse: str, zone: str, days: list[str]) -> None:
    utc = "where {0} between '" + days[0] + "' and '" + days[-1] + "' group by 1"
    local = f"(%s at time zone '{zone}')::date"
    assert per_day(warehouse, "select call_date, count(*) from justcall.calls " + utc.format("call_date")) == \
        world_per_day(sandbox, "justcall/calls", None, days)
    assert per_day(warehouse, "select sms_date, count(*) from justcall.sms " + utc.format("sms_date")) == \
        world_per_day(sandbox, "justcall/texts", None, days)
    assert per_day(warehouse, "select started::date, count(*) from gong.calls group by 1") == \
        world_per_day(sandbox, "gong/calls", None, days)
    assert per_day(warehouse, "select meta_data__started::date, count(*) from gong.extensive_calls group by 1") == \
        world_per_day(sandbox, "gong/calls", None, days)
    assert per_day(warehouse, "select start_date::date, count(*) from lacrm.events group by 1") == \
        world_per_day(sandbox, "lacrm/events", None, days)
    # Per-date aggregates and zoneless dates: exactly the account's local days.
    assert per_day(warehouse, "select report_date, count(*) from justcall.agent_analytics group by 1") == \
        agent_days(sandbox, zone, days)
    assert per_day(warehouse, "select due_date, count(*) from lacrm.tasks group by 1") == \
        world_per_day(sandbox, "lacrm/tasks", zone, days)
    assert per_day(warehouse, f"select {local % 'call_start_time'}, count(*) from gong.answered_scorecards "
                              "group by 1") == world_per_day(sandbox, "gong/answered_scorecards", zone, days)


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Pacific/Auckland"])
def test_a_range_on_any_clock_loads_exactly_each_day(zone: str, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    sandbox, warehouse, result = load(zone, monkeypatch, tmp_path, DAYS[1], DAYS[-2])
    with sandbox:
        assert result.success
        assert_exact(sandbox, warehouse, zone, DAYS[1:-1])


@pytest.mark.parametrize(("zone", "day", "configured"), [
    ("America/New_York", "2026-11-01", True),  # New York's 25-hour day
    ("Pacific/Auckland", "2026-09-27", True),  # Auckland's 23-hour day
    ("Pacific/Honolulu", "2026-10-10", False),  # UTC-10, its zone not configured: asked widened
    ("Asia/Kolkata", "2026-10-10", False),  # UTC+05:30, not configured
])
def test_one_day_on_any_clock_loads_exactly_that_day(zone: str, day: str, configured: bool,
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sandbox, warehouse, result = load(zone, monkeypatch, tmp_path, day, day, configured=configured)
    with sandbox:
        assert result.success
        if configured:
            assert_exact(sandbox, warehouse, zone, [day])
        else:  # the instants' endpoints are exact without the zone; the local-date ones need it
            assert per_day(warehouse, "select call_date, count(*) from justcall.calls group by 1") == \
                world_per_day(sandbox, "justcall/calls", None, [day])
            assert per_day(warehouse, "select start_date::date, count(*) from lacrm.events group by 1") == \
                world_per_day(sandbox, "lacrm/events", None, [day])


def test_sendpulses_zoneless_timestamps_land_as_the_instants_their_zone_says(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    """Campaign ``i`` is sent at ``START + 2 h * i``; SendPulse writes it on Auckland's clock with no zone."""
    world = World(seed=11, start=START, end=END, counts={"sendpulse/campaigns": 150})
    with Sandbox(world=world, rate_limit_scale=0,
                 accounts={"sendpulse": [Account(timezone="Pacific/Auckland")]}) as sandbox:
        warehouse = str(tmp_path / "zoneless.duckdb")
        point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        defs = build_definitions()
        assert dg.materialize(defs.assets, selection="sendpulse/campaigns", resources=defs.resources).success
    with duckdb.connect(warehouse, read_only=True) as con:
        sent = [row[0] for row in con.execute("select send_date from sendpulse.campaigns order by id").fetchall()]
    assert sent == [START + timedelta(hours=2 * i) for i in range(150)]
    assert date(2026, 9, 27) in {moment.date() for moment in sent}  # across Auckland's change of clocks
