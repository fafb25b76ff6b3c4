"""The code location as Dagster sees it: 35 raw assets in 5 groups, their checks, and no secrets
needed (the unified layer's models: test_dbt_layer.py)."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from comms_assets.definitions import build_definitions
from comms_assets.engine.warehouse import column
from comms_assets_tests.conftest import REPO, clean_env

EXPECTED = {
    "justcall": ["users", "calls", "sms", "contacts", "phone_numbers", "agent_analytics"],
    "ringcentral": ["user_business_hours", "company_business_hours", "forwarding_numbers",
                    "blocked_allowed_phonenumbers", "user_call_records", "user_active_calls",
                    "call_monitoring_groups", "call_queues", "ivr_prompts"],
    "gong": ["users", "calls", "extensive_calls", "scorecards", "answered_scorecards"],
    "sendpulse": ["mailing_lists", "campaigns", "templates", "senders", "webhooks", "balance_details", "balance"],
    "lacrm": ["users", "contacts", "tasks", "pipeline_items", "notes", "teams", "events", "contact_events"],
}
DAILY = {"justcall/calls", "justcall/sms", "justcall/agent_analytics", "ringcentral/user_call_records", "gong/calls",
         "gong/extensive_calls", "gong/answered_scorecards", "lacrm/tasks", "lacrm/events"}


def test_definitions_resolve_whole() -> None:
    dg.Definitions.validate_loadable(build_definitions())  # names unique across ops, jobs, schedules


def raw(keys) -> set[dg.AssetKey]:
    return {key for key in keys if key.path[0] in EXPECTED}


def test_35_assets_in_5_groups_with_keys_partitions_and_checks() -> None:
    graph = build_definitions().resolve_asset_graph()
    keys = raw(graph.get_all_asset_keys())
    assert keys == {dg.AssetKey([api, name]) for api, names in EXPECTED.items() for name in names}
    assert len(keys) == 35
    for key in keys:
        node = graph.get(key)
        assert node.group_name == key.path[0]
        assert not node.parent_keys  # no phantom upstream assets
        assert node.kinds == {"dlt", "duckdb"}
        daily = isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert daily == (key.to_user_string() in DAILY)
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys if c.asset_key in keys}
    names = collections.Counter(name for _, name in checks)
    # uniqueness and not-null for the 34 keyed endpoints; volume for the 9 dated ones; freshness
    # and schema drift for all 35
    assert names == {"primary_key_unique": 34, "primary_key_not_null": 34, "daily_volume": 9,
                     "freshness_check": 35, "column_schema_change": 35}
    assert ("sendpulse/balance_details", "primary_key_unique") not in checks
    assert {key for key, name in checks if name == "daily_volume"} == DAILY
    blocking = {(s.asset_key.to_user_string(), s.name) for a in build_definitions().assets for s in a.check_specs
                if s.blocking and s.asset_key in keys}
    assert blocking == {(key, name) for key, name in checks if name.startswith("primary_key")}


def test_metadata_names_keys_and_write_disposition() -> None:
    graph = build_definitions().resolve_asset_graph()
    analytics = graph.get(dg.AssetKey(["justcall", "agent_analytics"])).metadata
    assert analytics["comms/primary_key"] == "agent_id, report_date"
    assert analytics["comms/write_disposition"] == "merge"
    balance = graph.get(dg.AssetKey(["sendpulse", "balance_details"])).metadata
    assert balance["comms/write_disposition"] == "replace"
    assert "POST calls/extensive" in graph.get(dg.AssetKey(["gong", "extensive_calls"])).description


@pytest.mark.cli
def test_definitions_validate_without_any_credential() -> None:
    done = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m",
                           "comms_assets.definitions"],
                          check=False, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The repository's tracked files alone, as a fresh clone has them (no manifest, no bytecode)."""
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    for name in filter(None, tracked.split("\0")):
        if (REPO / name).exists():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    return clone


def tree(root: Path) -> dict[str, float]:
    """Every file below ``root``, ignored ones included, and when it was last written."""
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


@pytest.mark.cli
def test_a_fresh_clone_after_install_loads_the_definitions_and_writes_no_file(clone: Path) -> None:
    """Before ``make install`` prepared it, a clone fails to load with one line naming the command;
    after it, ``dg check defs`` and ``dagster definitions validate`` pass without credentials and
    write nothing anywhere in the tree."""
    env = {
        **clean_env(),
        "PYTHONPATH": str(clone),
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
        "DAGSTER_HOME": str(clone.parent / "home"),
    }  # an instance outside the tree, as a deployment has
    (clone.parent / "home").mkdir()
    validate = [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "comms_assets.definitions"]
    unprepared = subprocess.run(validate, cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert unprepared.returncode != 0
    assert "the dbt project is not prepared" in unprepared.stdout + unprepared.stderr
    assert "run make install" in unprepared.stdout + unprepared.stderr
    shutil.rmtree(clone / "comms_assets" / "__pycache__", ignore_errors=True)

    # What `make install` does once the virtualenv exists (this one, never reinstalled: `-o`): the
    # manifest, then the bytecode.
    venv = Path(sys.executable).parent.parent
    make = ["make", "install", f"VENV={venv}", "-o", f"{venv}/.installed"]
    subprocess.run(make, cwd=clone, env=env, check=True, capture_output=True, timeout=600)
    before = tree(clone)
    assert "comms_assets/dbt_project/target/manifest.json" in before
    for command in ([str(Path(sys.executable).with_name("dg")), "check", "defs"], validate):
        done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert tree(clone) == before


@pytest.mark.cli
def test_a_fresh_clone_parses_as_a_dbt_project_with_its_own_profile(clone: Path) -> None:
    """No project Python run: dbt alone, in the project's folder, with the committed sources and
    the profile beside them."""
    project = clone / "comms_assets" / "dbt_project"
    dbt = str(Path(sys.executable).with_name("dbt"))
    done = subprocess.run(
        [dbt, "parse"], cwd=project, env=clean_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert json.loads((project / "target" / "manifest.json").read_text())["sources"]  # the committed sources


def test_every_asset_describes_its_key_and_date_cursor_in_its_column_schema() -> None:
    graph = build_definitions().resolve_asset_graph()
    cursors = {"justcall/calls": "call_date", "justcall/sms": "sms_date", "ringcentral/user_call_records": "start_time",
               "gong/calls": "started", "gong/extensive_calls": "meta_data__started",
               "gong/answered_scorecards": "call_start_time", "lacrm/tasks": "due_date", "lacrm/events": "start_date"}
    for key in raw(graph.get_all_asset_keys()):
        name = key.to_user_string()
        schema = graph.get(key).metadata["dagster/column_schema"]
        described = {c.name: c.description for c in schema.columns if c.description}
        primary_key = graph.get(key).metadata["comms/primary_key"]
        keyed = set() if primary_key.startswith("(none") else {column(k) for k in primary_key.split(", ")}
        assert keyed <= described.keys(), name
        if name in cursors:
            assert cursors[name] in described, name
    calls = {c.name: c for c in graph.get(dg.AssetKey(["justcall", "calls"])).metadata["dagster/column_schema"].columns}
    assert "UTC" in calls["call_date"].description and "account's time zone" in calls["call_user_date"].description
    assert calls["id"].type == "bigint" and calls["call_date"].type == "text"
