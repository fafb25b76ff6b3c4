"""The unified layer for real: the sandbox's company loaded by the daily jobs, the dbt models run by
Dagster as the automation requests them, and every mart compared with what this file computes
itself, in Python, from the raw tables. On DuckDB, and on PostgreSQL."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest

from comms_assets.catalog import APIS
from comms_assets.definitions import build_definitions
from comms_assets.defs.dbt_layer import BUILD
from comms_assets.defs.shared import snapshot_keys
from comms_assets.engine import warehouse
from comms_assets.engine.layer import PROJECT_DIR
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import END, FAST_RETRIES, point_at, range_tags
from comms_assets_tests.servers import POSTGRES_TLS_URL, POSTGRES_URL, certificates, new_database, required

pytestmark = [pytest.mark.slow]

READ = ("justcall", "ringcentral", "gong", "lacrm")  # the APIs the models read
DAYS = [f"{END - timedelta(days=n):%Y-%m-%d}" for n in (3, 2, 1)]
# More calls than dlt's 5,000-row extract batches; every other collection at its usual size.
COUNTS = {"justcall/calls": 6_000}
MARTS = ("calls", "messages", "people", "contacts", "person_daily_activity")
Query = Callable[[str], list[tuple]]


def world() -> World:
    return World(seed=21, start=END - timedelta(days=3), end=END, counts=dict(COUNTS))


def comms(defs: dg.Definitions, partitioned: bool) -> set[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return {k for k in graph.get_all_asset_keys()
            if k.path[0] == "comms" and (graph.get(k).partitions_def is not None) == partitioned}


@dataclass
class Layer:
    """A warehouse the daily jobs loaded and the models were built in, and what automation asked."""

    query: Query
    requested: dict[dg.AssetKey, set[str] | None]  # model -> days requested (None: unpartitioned)
    results: list[dg.ExecuteInProcessResult]
    path: Path | None = None  # the DuckDB file


def load_and_build(defs: dg.Definitions, instance: dg.DagsterInstance, query: Query) -> Layer:
    """The production flow: the APIs' snapshots and each day's daily job, then the models that
    comms_automation's condition requests, tick after tick, as the runs it would launch (one per
    partitions definition; a range for the days) until a tick requests nothing."""
    models = dg.AssetSelection.groups("comms")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=models)
    assert tick.total_requested == 0  # before the loads
    snapshots = [key for name in READ for key in snapshot_keys(APIS[name])]
    assert dg.materialize(defs.assets, selection=snapshots, resources=defs.resources, instance=instance).success
    for day in DAYS:
        for name in READ:
            job = defs.resolve_job_def(f"{name}_daily_job")
            assert job.execute_in_process(partition_key=day, instance=instance).success
    requested, results, _ = settle(defs, instance, tick)
    return Layer(query, requested, results)


# The automation's last evaluation, whose cursor the next one continues.
Tick = dg.EvaluateAutomationConditionsResult | None


def settle(defs: dg.Definitions, instance: dg.DagsterInstance, tick: Tick
           ) -> tuple[dict[dg.AssetKey, set[str] | None], list[dg.ExecuteInProcessResult], Tick]:
    """What comms_automation does after loads: the models its condition requests, tick after tick,
    as the runs it would launch (one per partitions definition; a range for the days), until a
    tick requests nothing. Returns what was requested (days per model; None: unpartitioned)."""
    models = dg.AssetSelection.groups("comms")
    requested: dict[dg.AssetKey, set[str] | None] = {}
    results = []
    for _ in range(4):
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=models,
                                                 cursor=tick.cursor if tick else None)
        if not tick.total_requested:
            break
        days: dict[dg.AssetKey, set[str]] = {
            r.key: set(r.true_subset.expensively_compute_partition_keys())
            for r in tick.results if r.true_subset.size and r.true_subset.is_partitioned}
        whole = [r.key for r in tick.results if r.true_subset.size and not r.true_subset.is_partitioned]
        for key in whole:
            requested[key] = None
        for key, keys in days.items():
            requested[key] = requested.get(key, set()) | keys
        if whole:
            results.append(dg.materialize(defs.assets, selection=whole, resources=defs.resources, instance=instance))
        if days:
            span = sorted(set().union(*days.values()))
            results.append(dg.materialize(defs.assets, selection=list(days), resources=defs.resources,
                                          instance=instance, tags=range_tags(span[0], span[-1])))
    assert tick and not tick.total_requested, "automation kept requesting"
    return requested, results, tick


def duckdb_query(path: Path) -> Query:
    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    return query


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layer]:
    tmp = tmp_path_factory.mktemp("unified")
    with Sandbox(world=world(), rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        point_at(patch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": str(tmp / "w.duckdb"),
                                  "DLT_DATA_DIR": str(tmp / "dlt")})
        with dg.instance_for_test() as instance:
            built = load_and_build(build_definitions(), instance, duckdb_query(tmp / "w.duckdb"))
            built.path = tmp / "w.duckdb"
            yield built


# -- what the marts must hold, computed here from the raw tables ---------------------------------

def utc_day(instant: datetime) -> date:
    return instant.astimezone(UTC).date()


def e164(number: str | None) -> str | None:
    digits = "".join(c for c in number or "" if c.isdigit())
    return None if not digits else f"+1{digits}" if len(digits) == 10 else f"+{digits}"


def mail(address: str | None) -> str | None:
    return (address or "").strip().lower() or None


def expected_calls(query: Query) -> collections.Counter:
    """Calls per (source, UTC day)."""
    days = collections.Counter(("justcall",
                                date.fromisoformat(d)) for (d,) in query("select call_date from justcall.calls"))
    days += collections.Counter(("ringcentral", utc_day(t)) for (t,) in query(
        "select start_time from ringcentral.user_call_records"))
    days += collections.Counter(("gong", utc_day(t)) for (t,) in query("select started from gong.calls"))
    return days


def expected_people(query: Query) -> dict[str, tuple]:
    """email -> (JustCall, Gong, LACRM user ids)."""
    people: dict[str, list] = collections.defaultdict(lambda: [None, None, None])
    for n, sql in enumerate(["select id, email from justcall.users", "select id, email_address from gong.users",
                             "select user_id, email from lacrm.users"]):
        for user_id, address in query(sql):
            if mail(address):
                people[mail(address)][n] = str(user_id)
    return {address: tuple(ids) for address, ids in people.items()}


def expected_matches(query: Query) -> set[tuple[str, str, str]]:
    """(JustCall id, LACRM id, matched_on) of the contacts that are one customer: on any of a
    LACRM person's numbers and emails."""
    justcall = [(str(i), e164(p), mail(m)) for i, p,
                m in query("select id, contact_number, email from justcall.contacts")]
    points: dict[str, set[str | None]] = collections.defaultdict(set)
    for table, normal in (("phone", e164), ("email", mail)):
        for contact, text in query(f"select c.contact_id, p.text from lacrm.contacts c join lacrm.contacts__{table} p "
                                   "on p._dlt_parent_id = c._dlt_id"):
            points[contact].add(normal(text))
    out = set()
    for jid, jphone, jmail in justcall:
        found = [(lid, jphone is not None and jphone in own, jmail is not None and jmail in own)
                 for lid, own in points.items() if (jphone and jphone in own) or (jmail and jmail in own)]
        assert len(found) <= 1, "the sandbox's customers are distinct"
        for lid, phone, email in found:
            out.add((jid, lid, "phone and email" if phone and email else "phone" if phone else "email"))
    return out


def expected_activity(query: Query) -> dict[tuple[str, date], dict[str, int]]:
    """(person, UTC day) -> the counters of person_daily_activity, from the raw tables."""
    people = expected_people(query)
    by_system = [{ids[n]: address for address, ids in people.items() if ids[n]} for n in range(3)]
    out: dict[tuple[str, date], collections.Counter] = collections.defaultdict(collections.Counter)
    for email, day, direction, kind, total, ring, hold in query(
            "select agent_email, call_date, call_info__direction, call_info__type, call_duration__total_duration, "
            "call_duration__ring_time, call_duration__hold_time from justcall.calls"):
        row = out[(mail(email), date.fromisoformat(day))]
        row["calls_in" if direction == "Incoming" else "calls_out"] += 1
        row["talk_s"] += max(total - ring - hold, 0) if kind == "answered" else 0  # talking: ring and hold apart
        assert ring > 0
    calls = query("select primary_user_id, started, direction, duration from gong.calls")
    for user, started, direction, seconds in calls:
        row = out[(by_system[1][user], utc_day(started))]
        row["gong_calls"] += 1
        row["talk_s"] += seconds
        if direction in ("Inbound", "Outbound"):
            row["calls_in" if direction == "Inbound" else "calls_out"] += 1
    for agent, day in query("select agent_id, sms_date from justcall.sms"):
        out[(by_system[0][str(agent)], date.fromisoformat(day))]["texts"] += 1
    for user, started in query("select reviewed_user_id, call_start_time from gong.answered_scorecards"):
        out[(by_system[1][user], utc_day(started))]["answered_scorecards"] += 1
    for user, due in query("select assigned_to, due_date from lacrm.tasks"):
        out[(by_system[2][user], date.fromisoformat(due))]["lacrm_tasks"] += 1
    for user, started in query("select u.value, e.start_date from lacrm.events e join lacrm.events__user_ids u "
                               "on u._dlt_parent_id = e._dlt_id"):
        out[(by_system[2][user], utc_day(started))]["lacrm_events"] += 1
    return {key: dict(counts) for key, counts in out.items()}


COUNTERS = ("calls_in", "calls_out", "talk_s", "texts", "gong_calls", "answered_scorecards", "lacrm_tasks",
            "lacrm_events")


def assert_marts_as_expected(query: Query) -> None:
    calls = collections.Counter({(s, d): n for s, d, n in query(
        "select source, day, count(*) from comms.calls group by source, day")})
    assert calls == expected_calls(query) and len(calls) == 9 and calls.total() > 5_000

    texts = query("select day, count(*), count(person_email) from comms.messages group by day")
    by_day = collections.Counter(date.fromisoformat(d) for (d,) in query("select sms_date from justcall.sms"))
    assert {d: n for d, n, _ in texts} == by_day and all(n == known for _, n, known in texts)

    people = {e: (j, g, lc) for e, j, g, lc in query(
        "select email, justcall_user_id, gong_user_id, lacrm_user_id from comms.people")}
    assert people == expected_people(query)
    systems = collections.Counter(sum(i is not None for i in ids) for ids in people.values())
    assert systems[3] > 0 and systems[2] > 0 and systems[1] > 0  # matched, and a share that does not match

    matched = set(query("select justcall_contact_id, lacrm_contact_id, matched_on from comms.contacts "
                        "where matched_on is not null"))
    assert matched == expected_matches(query)
    assert {m for *_, m in matched} == {"phone and email", "phone", "email"}
    [(on_second,)] = query("select count(*) from comms.contacts c join lacrm.contacts l on l.contact_id = "
                           "c.lacrm_contact_id join lacrm.contacts__phone p on p._dlt_parent_id = l._dlt_id "
                           "where p._dlt_list_idx = 1 and c.matched_on like 'phone%'")
    assert on_second > 0  # matched on a LACRM person's second number
    [(rows, justcall, lacrm)] = query("select count(*), count(justcall_contact_id), count(lacrm_contact_id) "
                                      "from comms.contacts")
    assert justcall == query("select count(*) from justcall.contacts")[0][0]
    assert lacrm == query("select count(*) from lacrm.contacts")[0][0]
    assert rows == justcall + lacrm - len(matched) and len(matched) < min(justcall, lacrm)

    activity = {(p, d if isinstance(d, date) else date.fromisoformat(str(d))): dict(zip(COUNTERS, values))
                for p, d, *values in query(f"select person_email, day, {', '.join(COUNTERS)} from "
                                           "comms.person_daily_activity")}
    expected = expected_activity(query)
    assert activity == {key: {c: counts.get(c, 0) for c in COUNTERS} for key, counts in expected.items()}


# -- on DuckDB, through the production flow -------------------------------------------------------

def test_each_mart_holds_what_the_raw_tables_say(layer: Layer) -> None:
    assert all(result.success for result in layer.results)
    assert_marts_as_expected(layer.query)


def test_the_daily_jobs_loads_make_automation_request_every_model_for_exactly_their_days(layer: Layer) -> None:
    defs = build_definitions()
    assert set(layer.requested) == comms(defs, partitioned=True) | comms(defs, partitioned=False)
    assert {key: days for key, days in layer.requested.items() if days is not None} == {
        key: set(DAYS) for key in comms(defs, partitioned=True)}


def test_the_dbt_tests_ran_as_checks_the_keys_and_reconciliations_blocking(layer: Layer) -> None:
    evaluations = [e for result in layer.results for e in result.get_asset_check_evaluations()]
    assert evaluations and all(e.passed for e in evaluations)
    checked = {e.asset_key.path[-1] for e in evaluations}
    assert set(MARTS) <= checked
    specs = {(spec.asset_key.path[-1], spec.name): spec.blocking for a in build_definitions().assets
             for spec in a.check_specs if spec.asset_key.path[0] == "comms"}
    assert {(a, n) for (a, n), _ in specs.items()} == {(e.asset_key.path[-1], e.check_name) for e in evaluations}
    blocking = {name for (_, name), is_blocking in specs.items() if is_blocking}
    assert all(name.startswith(("unique_", "not_null_", "reconciles_with_raw_",
                                "adds_up_to_raw_")) for name in blocking)
    assert {"unique_calls_call_key", "not_null_people_email", "unique_stg_justcall__calls_source_id"} <= blocking
    assert sum(name.startswith("reconciles_with_raw_") for name in blocking) == 2  # calls and messages
    assert sum(name.startswith("adds_up_to_raw_") for name in blocking) == 4  # person_daily_activity's counters
    assert not any(is_blocking for (_, name), is_blocking in specs.items()
                   if name.startswith(("relationships_", "accepted_values_")))


def test_every_mart_column_is_documented_with_its_source_fields(layer: Layer) -> None:
    nodes = json.loads((PROJECT_DIR / "target" / "manifest.json").read_text())["nodes"]
    for mart in MARTS:
        documented = {name for name, column in nodes[f"model.comms.{mart}"]["columns"].items()
                      if column["description"].strip()}
        columns = {name for (name,) in layer.query("select column_name from information_schema.columns where "
                                                   f"table_schema = 'comms' and table_name = '{mart}'")}
        assert columns and columns == documented, mart


def dbt(tmp_path: Path, *args: str, project: Path = PROJECT_DIR) -> tuple[int, dict[str, str]]:
    """dbt itself in ``project`` against the warehouse the environment names: its exit code and
    each node's status."""
    done = subprocess.run([str(Path(sys.executable).with_name("dbt")), *args, "--project-dir", str(project),
                           "--profiles-dir", str(project), "--target-path", str(tmp_path / "target"),
                           "--log-path", str(tmp_path / "logs")],
                          env={**os.environ, **warehouse.dbt_environment()}, capture_output=True, text=True,
                          timeout=600,
                          check=False)
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    return done.returncode, {r["unique_id"]: r["status"] for r in results}


def test_the_dbt_unit_tests_pass_and_dagsters_builds_leave_them_out(copy_of: Callable[[str], Query],
                                                                     tmp_path: Path) -> None:
    """The unit tests (the E.164 forms, contact matching's rules) through dbt, as CI runs them;
    the build Dagster runs (``BUILD``) runs the model and its data tests, not its unit test."""
    code, unit = dbt(tmp_path / "unit", "test", "--select", "test_type:unit")
    assert code == 0 and unit == {
        "unit_test.comms.contacts.contacts_match_on_every_point_and_break_ties_by_the_lowest_id": "pass",
        "unit_test.comms.stg_justcall__contacts.e164_reads_every_form_people_type": "pass"}
    code, built = dbt(tmp_path / "build", *BUILD, "--select", "contacts")
    assert code == 0 and built["model.comms.contacts"] == "success" and "test.comms.unique_contacts_contact_key" in {
        uid.rsplit(".", 1)[0] for uid in built}
    assert not [uid for uid in built if uid.startswith("unit_test.")]


def test_the_day_after_ten_costs_one_day_and_a_new_name_shows_on_every_day(tmp_path: Path) -> None:
    """Ten days loaded and built; then the next day's loads and the users' refresh, with a person
    renamed upstream: automation asks every daily model for that one day only, and the new name
    is on the person's old days too (no day rebuilt)."""
    days = [f"{END - timedelta(days=n):%Y-%m-%d}" for n in range(11, 0, -1)]
    world = World(seed=21, start=END - timedelta(days=11), end=END)
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        point_at(patch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "w.duckdb"),
                                  "DLT_DATA_DIR": str(tmp_path / "dlt")})
        query = duckdb_query(tmp_path / "w.duckdb")
        with dg.instance_for_test() as instance:
            defs = build_definitions()
            tick = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                     asset_selection=dg.AssetSelection.groups("comms"))
            snapshots = [key for name in READ for key in snapshot_keys(APIS[name])]
            assert dg.materialize(defs.assets, selection=snapshots, resources=defs.resources, instance=instance).success
            for name in READ:
                job = defs.resolve_job_def(f"{name}_daily_job")
                assert job.execute_in_process(instance=instance, tags=range_tags(days[0], days[9])).success
            _, results, tick = settle(defs, instance, tick)
            assert results and all(result.success for result in results)
            email = world.employee(0).email
            [(old_name,)] = query(f"select name from comms.people where email = '{email}'")

            world.surnames[0] = "Renamed"
            for name in READ:
                job = defs.resolve_job_def(f"{name}_daily_job")
                assert job.execute_in_process(partition_key=days[10], instance=instance).success
            assert dg.materialize(defs.assets, selection=snapshots, resources=defs.resources, instance=instance).success
            requested, results, _ = settle(defs, instance, tick)
    assert all(result.success for result in results)
    assert {key: keys for key, keys in requested.items() if keys is not None} == {
        key: {days[10]} for key in comms(defs, partitioned=True)}
    assert {key.path[-1] for key, keys in requested.items() if keys is None} >= {"people", "calls",
                                                                                  "person_daily_activity"}
    named = query(f"select day, person_name from comms.person_daily_activity where person_email = '{email}'")
    assert old_name != f"{world.employee(0).first} Renamed"
    assert {str(day) for day, _ in named} >= {days[0], days[10]}
    assert {name for _, name in named} == {f"{world.employee(0).first} Renamed"}
    assert {name for (name,) in query(f"select distinct person_name from comms.calls where person_email = '{email}'")
            } == {f"{world.employee(0).first} Renamed"}


def test_a_range_run_of_raw_days_and_their_models_fails_at_once_and_one_day_builds_them(tmp_path: Path) -> None:
    """What a user selects in the UI (a group and its downstream) over a range: the run fails
    before loading anything, saying how; never a success with the models skipped. Over one day the
    same selection builds the models of that day."""
    world = World(seed=21, start=END - timedelta(days=3), end=END)
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        point_at(patch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "w.duckdb"),
                                  "DLT_DATA_DIR": str(tmp_path / "dlt")})
        with dg.instance_for_test() as instance:
            defs = build_definitions()
            raw = [dg.AssetKey(["justcall", e.name]) for e in APIS["justcall"].endpoints if e.partitioned]
            selection = [*raw, *(key for key in comms(defs, partitioned=True) if "justcall" in key.path[-1])]
            ranged = dg.materialize(defs.assets, selection=selection, resources=defs.resources, instance=instance,
                                    tags=range_tags(DAYS[0], DAYS[-1]), raise_on_error=False)
            failure = next(e for e in ranged.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
            loaded = instance.get_materialized_partitions(raw[0])
            one_day = dg.materialize(defs.assets, selection=selection, resources=defs.resources, instance=instance,
                                     partition_key=DAYS[-1])
            built = {key: instance.get_materialized_partitions(key) for key in selection}
    assert not ranged.success
    message = failure.step_failure_data.error.message
    assert f"justcall: this run loads {DAYS[0]}..{DAYS[-1]} and selects comms/stg_justcall__calls" in message
    assert "nothing has been loaded" in message and "comms_automation" in message
    assert not loaded
    assert one_day.success and built == {key: {DAYS[-1]} for key in selection}


@pytest.fixture
def copy_of(layer: Layer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Query]:
    """A private copy of the layer's warehouse, with the environment pointed at it; ``sql`` runs on it."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(layer.path, copy)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(copy))

    def execute(sql: str) -> list[tuple]:
        with duckdb.connect(str(copy)) as con:
            return con.execute(sql).fetchall()

    return execute


def per_day(query: Query) -> dict[str, int]:
    return {str(d): n for d, n in query("select day, count(*) from comms.calls where source = 'justcall' group by day")}


PLANT = ("insert into justcall.calls select * replace ({id} as id, md5(_dlt_id || '{tag}') as _dlt_id) "
         "from justcall.calls where call_date = '{day}' order by id limit 1")


def test_a_one_day_run_rebuilds_that_day_only(copy_of: Callable[[str], Query]) -> None:
    """A new raw call on each of two days; a run of one day's models takes in that day's only."""
    before = per_day(copy_of)
    for n, day in enumerate(DAYS[:2]):
        copy_of(PLANT.format(id=9_000_000 + n, tag="new", day=day))
    defs = build_definitions()
    result = dg.materialize(defs.assets, selection=list(comms(defs, partitioned=True)), resources=defs.resources,
                            partition_key=DAYS[1])
    assert result.success
    assert per_day(copy_of) == {**before, DAYS[1]: before[DAYS[1]] + 1}
    assert {m.partition for m in (e.materialization for e in result.get_asset_materialization_events())} == {DAYS[1]}
    assert all(e.passed for e in result.get_asset_check_evaluations())  # reconciled within its day


def test_a_planted_duplicate_fails_the_blocking_key_check_and_stops_the_models_downstream(
        copy_of: Callable[[str], Query]) -> None:
    before = per_day(copy_of)
    copy_of(PLANT.format(id="id", tag="copy", day=DAYS[2]))  # the same call again, as another row
    defs = build_definitions()
    result = dg.materialize(defs.assets, selection=list(comms(defs, partitioned=True)), resources=defs.resources,
                            partition_key=DAYS[2], raise_on_error=False)
    assert not result.success
    failed = {(e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {("stg_justcall__calls", "unique_stg_justcall__calls_source_id")}
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "stg_justcall__calls" in materialized and not {"int_calls", "int_person_daily_activity"} & materialized
    assert per_day(copy_of) == before  # the mart was not rebuilt from the bad day


def build_with_a_planted_loss(tmp_path: Path) -> set[str]:
    """``dbt build`` of JustCall's calls and all downstream, from a copy of the project whose staging
    model drops one raw call (its lowest id) on the way, against the warehouse the environment
    names: the tests that fail."""
    copy = tmp_path / "planted"
    shutil.copytree(PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    staging = copy / "models" / "staging" / "stg_justcall__calls.sql"
    staging.write_text(staging.read_text() + "where id > (select min(id) from {{ source('justcall', 'calls') }})\n")
    code, results = dbt(tmp_path, "build", "--select", "stg_justcall__calls+", project=copy)
    assert code == 1
    return {uid.split(".")[2] for uid, status in results.items() if status in ("fail", "error")}


PLANTED_LOSS_FAILS = {"reconciles_with_raw_calls"}


def test_a_row_dropped_between_raw_and_mart_fails_the_blocking_reconciliation(
        copy_of: Callable[[str], Query], tmp_path: Path) -> None:
    failed = build_with_a_planted_loss(tmp_path)
    assert {name for name in failed if name.startswith("reconciles_with_raw_")} == PLANTED_LOSS_FAILS


# -- on PostgreSQL -------------------------------------------------------------------------------

@pytest.mark.postgres
def test_the_layer_builds_on_postgresql_with_the_same_results(tmp_path: Path) -> None:
    warehouse = new_database(required(POSTGRES_URL))

    def query(sql: str) -> list[tuple]:
        with psycopg2.connect(warehouse) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    with Sandbox(world=world(), rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        point_at(patch, sandbox, {**FAST_RETRIES, "COMMS_DESTINATION": "postgres",
                                  "DESTINATION__POSTGRES__CREDENTIALS": warehouse, "DLT_DATA_DIR": str(tmp_path)})
        with dg.instance_for_test() as instance:
            layer = load_and_build(build_definitions(), instance, query)
        assert all(result.success for result in layer.results)
        assert_marts_as_expected(query)
        built = collections.Counter(schema for (schema,) in query(
            "select table_schema from information_schema.tables where table_schema like 'comms%'"))
        below_marts = [*PROJECT_DIR.glob("models/staging/*.sql"), *PROJECT_DIR.glob("models/intermediate/*.sql")]
        assert built == {"comms": len(MARTS), "comms_staging": len(below_marts)}  # the staging views, the daily facts
        failed = build_with_a_planted_loss(tmp_path)
    assert {name for name in failed if name.startswith("reconciles_with_raw_")} == PLANTED_LOSS_FAILS


@pytest.mark.postgres
def test_dbt_connects_as_dlt_does_over_verify_full_tls_and_refuses_an_impostor(tmp_path: Path) -> None:
    """A server that takes TLS only (``hostssl``), dlt's credentials saying ``sslmode=verify-full``
    with the CA that signed it: dbt builds the layer over the same connection settings. Told to
    trust another CA (as an impostor's certificate would be), dbt refuses to connect."""
    warehouse = new_database(required(POSTGRES_TLS_URL))
    assert "sslmode=verify-full" in warehouse

    def query(sql: str) -> list[tuple]:
        with psycopg2.connect(warehouse) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    certificates(tmp_path, "impostor")
    trusted = warehouse.rsplit("sslrootcert=", 1)[1]
    with Sandbox(world=world(), rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        point_at(patch, sandbox, {**FAST_RETRIES, "COMMS_DESTINATION": "postgres",
                                  "DESTINATION__POSTGRES__CREDENTIALS": warehouse, "DLT_DATA_DIR": str(tmp_path)})
        with dg.instance_for_test() as instance:
            defs = build_definitions()
            layer = load_and_build(defs, instance, query)
            assert all(result.success for result in layer.results)
            assert_marts_as_expected(query)
            impostor = warehouse.replace(trusted, str(tmp_path / "impostor.crt"))
            patch.setenv("DESTINATION__POSTGRES__CREDENTIALS", impostor)
            refused = dg.materialize(defs.assets, selection=list(comms(defs, partitioned=False)),
                                     resources=defs.resources, instance=instance, raise_on_error=False)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure).step_failure_data.error
    text = str(failure.message) + "".join(failure.stack) + str(failure.cause and failure.cause.message)
    assert "certificate verify failed" in text
