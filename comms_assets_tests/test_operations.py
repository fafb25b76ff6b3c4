"""What an operator sees: progress during long loads, documented columns, drift and volume checks."""

from __future__ import annotations

import re
from datetime import timedelta

import dagster as dg
import pytest

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import END, FAST_RETRIES

PROGRESS = re.compile(r"^(?P<name>[\w/]+): (?P<pages>[\d,]+) pages, (?P<rows>[\d,]+) rows in [\w.]+"
                      r"(?:; (?P<share>\d+)% of \[(?P<start>[\d-]+), (?P<end>[\d-]+)\), about [\w.]+ left)?$")


def logged(result: dg.ExecuteInProcessResult) -> list[str]:
    """The run's log lines (not its events), from the instance that ran it."""
    return [entry.user_message for entry in dg.DagsterInstance.get().all_logs(result.run_id)
            if entry.dagster_event is None]


@pytest.fixture
def busy_day(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Sandbox:
    """Three days with 1,250 Gong and 600 JustCall calls on each, 1,200 JustCall contacts."""
    world = World(seed=9, start=END - timedelta(days=3), end=END,
                  counts={"gong/calls": 3 * 1_250, "justcall/calls": 3 * 600, "justcall/contacts": 1_200})
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        env = {**sandbox.env(), **FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "p.duckdb"),
               "COMMS_PROGRESS_EVERY_S": "0", "DAGSTER_HOME": str(tmp_path)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        yield sandbox


def progress(result: dg.ExecuteInProcessResult) -> list[dict]:
    return [m.groupdict() for m in map(PROGRESS.match, logged(result)) if m]


def test_a_load_of_many_pages_logs_its_progress_with_the_share_of_the_window_and_time_left(busy_day: Sandbox) -> None:
    """Gong's cursor has times (the share is the span of those seen); JustCall's dates alone (no
    share within a day); contacts have no window; a range logs each committed day."""
    defs = build_definitions()
    day = f"{END - timedelta(days=1):%Y-%m-%d}"
    gong = dg.materialize(defs.assets, selection="gong/calls", partition_key=day, resources=defs.resources,
                          instance=dg.DagsterInstance.get())
    assert gong.success
    lines = progress(gong)
    pages = -(-len(busy_day.world.between("gong/calls", END - timedelta(days=1), END)) // 100)
    assert [int(line["pages"]) for line in lines] == list(range(1, pages + 1)) and pages > 10
    shares = [int(line["share"]) for line in lines]
    assert shares == sorted(shares) and shares[0] < 20 and shares[-1] >= 95  # spread over the day
    assert {(line["name"], line["start"], line["end"]) for line in lines} == {("gong/calls", day, f"{END:%Y-%m-%d}")}

    tags = {"dagster/asset_partition_range_start": f"{END - timedelta(days=3):%Y-%m-%d}",
            "dagster/asset_partition_range_end": day}
    justcall = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(["justcall", "calls"])], tags=tags, instance=dg.DagsterInstance.get())
    assert justcall.success
    calls = [line for line in progress(justcall) if line["name"] == "justcall/calls"]
    assert len(calls) >= 18 and {line["share"] for line in calls} == {None}
    days = [text for text in logged(justcall) if "days committed" in text]
    assert [text.split(" in ")[0] for text in days] == [f"justcall: {n} of 3 days committed" for n in (1, 2, 3)]
    assert all(text.endswith(" left") for text in days)

    snapshot = dg.materialize(defs.assets, selection="justcall/contacts", resources=defs.resources,
                              instance=dg.DagsterInstance.get())
    assert [(c["pages"], c["rows"], c["share"]) for c in progress(snapshot)] == [
        ("1", "500", None), ("2", "1,000", None), ("3", "1,200", None)]
