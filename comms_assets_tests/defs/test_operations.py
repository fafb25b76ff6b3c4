"""What an operator sees: progress during long loads, documented columns, drift and volume checks."""

from __future__ import annotations

import json
import re
import statistics
from datetime import datetime, timedelta

import dagster as dg
import pytest
import responses
from dagster._core.test_utils import freeze_time

from comms_assets.definitions import build_definitions
from comms_assets.defs import health
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import END, FAST_RETRIES, calls_on, point_at, range_tags

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
        point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "p.duckdb"),
                                        "COMMS_PROGRESS_EVERY_S": "0", "DAGSTER_HOME": str(tmp_path)})
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

    tags = range_tags(f"{END - timedelta(days=3):%Y-%m-%d}", day)
    justcall = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(["justcall", "calls"])], tags=tags, instance=dg.DagsterInstance.get())
    assert justcall.success
    calls = [line for line in progress(justcall) if line["name"] == "justcall/calls"]
    assert len(calls) >= 18 and {line["share"] for line in calls} == {None}
    days = [text for text in logged(justcall) if "days committed" in text]
    first, second, rest = (f"{END - timedelta(days=n):%Y-%m-%d}" for n in (3, 2, 1))
    assert [text.split(" in ")[0] for text in days] == [f"justcall: 2 of 3 days committed ({first}..{second}",
                                                        f"justcall: 3 of 3 days committed ({rest}..{day}"]
    assert all(text.endswith(" left") for text in days)

    snapshot = dg.materialize(defs.assets, selection="justcall/contacts", resources=defs.resources,
                              instance=dg.DagsterInstance.get())
    assert [(c["pages"], c["rows"], c["share"]) for c in progress(snapshot)] == [
        ("1", "500", None), ("2", "1,000", None), ("3", "1,200", None)]


def run_of(defs: dg.Definitions, selection, **kwargs) -> dg.ExecuteInProcessResult:
    """A run of ``selection`` with the definitions' assets and standalone checks, on the instance."""
    return dg.materialize([*defs.assets, *defs.asset_checks], selection=selection, resources=defs.resources,
                          instance=dg.DagsterInstance.get(), raise_on_error=False, **kwargs)


def test_a_renamed_and_a_retyped_vendor_field_are_reported_by_the_schema_check_as_warnings(busy_day: Sandbox) -> None:
    defs = build_definitions()
    assert run_of(defs, "justcall/users").success
    reports = []
    for fault in ({"kind": "rename", "field": "email", "to": "email_address"},
                  {"kind": "retype", "field": "extension"}):
        busy_day.faults.clear()
        busy_day.inject(api="justcall", endpoint="/users", count=99, **fault)
        changed = run_of(defs, "justcall/users")
        assert changed.success  # a warning, not a failure
        [drift] = [e for e in changed.get_asset_check_evaluations() if e.check_name == "column_schema_change"]
        assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
        reports.append(drift.description)
    # dlt keeps the old column beside the new name, and adds a variant column for the new type
    assert reports == ["Added columns: email_address", "Added columns: extension__v_text"]

    # daily partitions too: each day's load is compared with the previous day's
    busy_day.faults.clear()
    assert run_of(defs, "justcall/calls", partition_key=f"{END - timedelta(days=3):%Y-%m-%d}").success
    busy_day.inject(api="justcall", endpoint="/calls", count=99, kind="rename", field="agent_name", to="agent")
    renamed = run_of(defs, "justcall/calls", partition_key=f"{END - timedelta(days=2):%Y-%m-%d}")
    assert renamed.success
    [drift] = [e for e in renamed.get_asset_check_evaluations() if e.check_name == "column_schema_change"]
    assert not drift.passed and drift.description == "Added columns: agent"


def test_a_day_with_a_tenth_of_its_usual_rows_warns_naming_the_day_and_both_counts(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    world = World(seed=4, start=END - timedelta(days=8), end=END, counts={"justcall/calls": 8 * 60})
    days = [f"{END - timedelta(days=n):%Y-%m-%d}" for n in range(8, 0, -1)]
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        point_at(monkeypatch, sandbox, {"DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "v.duckdb"),
                                        "DAGSTER_HOME": str(tmp_path), "COMMS_COMMIT_EVERY_S": "0"})  # a request a day
        usual = [calls_on(sandbox, day) for day in days]
        sandbox.inject(api="justcall", kind="late", endpoint="/v2.1/calls", after=7, rows=usual[-1] - usual[-1] // 10)
        defs = build_definitions()
        tags = range_tags(days[0], days[-1])
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=[dg.AssetKey(["justcall", "calls"])], tags=tags, instance=dg.DagsterInstance.get())
    assert result.success  # a warning: the day is loaded as the API gave it
    [volume] = [e for e in result.get_asset_check_evaluations() if e.check_name == "daily_volume"]
    median = statistics.median(usual[:-1])
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.WARN
    assert volume.metadata["low_days"].value == [{"day": days[-1], "rows": usual[-1] // 10,
                                                  "median_of_previous_days": median, "days_compared": 7}]
    assert volume.description.startswith(f"{days[-1]}: {usual[-1] // 10} rows, median {median:g}")


def test_a_fresh_deployment_is_quiet_until_an_asset_is_loaded(
        busy_day: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing loaded, two days past every deadline: the freshness sensor asks for no check, and
    checks run by hand (failing: never materialized) raise no alert. Once justcall/calls is
    loaded, the sensor asks for its check alone as it comes due (the test below follows a late
    asset to its alert)."""
    defs = build_definitions()
    repository = defs.get_repository_def()
    freshness, alert = (repository.get_sensor_def(name) for name in ("comms_freshness", "comms_stale_alert"))
    calls = dg.AssetCheckKey(dg.AssetKey(["justcall", "calls"]), "freshness_check")
    checks = [key for definition in health.freshness_checks() for key in definition.check_keys]
    instance = dg.DagsterInstance.get()
    monkeypatch.setenv("COMMS_ALERT_WEBHOOK", "https://hooks.test/comms")
    late = END + timedelta(days=2)
    with freeze_time(late):
        quiet = freshness(dg.build_sensor_context(instance=instance, repository_def=repository))
        by_hand = run_of(defs, dg.AssetSelection.checks(*(key for key in checks if key != calls)))
    assert isinstance(quiet, dg.SkipReason)
    assert len(checks) == 35 and len(by_hand.get_asset_check_evaluations()) == 34
    assert not any(e.passed for e in by_hand.get_asset_check_evaluations())
    with responses.RequestsMock() as hooks:
        alert(dg.build_sensor_context(instance=instance))
        assert not hooks.calls

    with freeze_time(END + timedelta(hours=3)):  # before the deadline: its check passes with the load
        loaded = run_of(defs, "justcall/calls", partition_key=f"{END - timedelta(days=2):%Y-%m-%d}")
    assert loaded.success and all(e.passed for e in loaded.get_asset_check_evaluations())
    with freeze_time(late):
        request = freshness(dg.build_sensor_context(instance=instance, repository_def=repository))
    assert isinstance(request, dg.RunRequest)
    assert request.asset_check_keys == [calls]


def test_a_day_left_unloaded_makes_the_asset_stale_at_the_deadline_and_raises_the_alert(
        busy_day: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Yesterday (END - 1 day) is not loaded: at 05:00 UTC, past the 04:00 deadline, the freshness
    check fails and the stale alert posts one line; once the day is loaded the check passes."""
    defs = build_definitions()
    calls = dg.AssetKey(["justcall", "calls"])
    fresh = dg.AssetCheckKey(calls, "freshness_check")
    assert run_of(defs, "justcall/calls", partition_key=f"{END - timedelta(days=2):%Y-%m-%d}").success
    monkeypatch.setenv("COMMS_ALERT_WEBHOOK", "https://hooks.test/comms")
    alert = defs.get_repository_def().get_sensor_def("comms_stale_alert")
    instance = dg.DagsterInstance.get()

    def evaluate_at(moment: datetime) -> dg.AssetCheckEvaluation:
        with freeze_time(moment):
            result = run_of(defs, dg.AssetSelection.checks(fresh))
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    before_deadline = evaluate_at(END + timedelta(hours=3))
    assert before_deadline.passed  # yesterday is not due before 04:00
    stale = evaluate_at(END + timedelta(hours=5))
    assert not stale.passed
    with responses.RequestsMock() as hooks:
        hooks.post("https://hooks.test/comms")
        context = dg.build_sensor_context(instance=instance)
        alert(context)
        alert(dg.build_sensor_context(instance=instance, cursor=context.cursor))  # once per failed evaluation
        [posted] = hooks.calls
    assert json.loads(posted.request.body)["text"].startswith("ALERT comms_assets justcall/calls is stale")

    assert run_of(defs, "justcall/calls", partition_key=f"{END - timedelta(days=1):%Y-%m-%d}").success
    assert evaluate_at(END + timedelta(hours=5)).passed
