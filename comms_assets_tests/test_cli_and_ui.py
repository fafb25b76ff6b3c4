"""The ways people run it: parallel CLI runs on one DuckDB file, and the webserver's GraphQL API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import requests

from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today
from comms_assets_tests.conftest import REPO, SANDBOX_COLLECTION, clean_env, cli_env, serving
from comms_assets_tests.servers import free_port

pytestmark = [pytest.mark.cli]

CLI = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions"]


@pytest.mark.slow
def test_parallel_runs_share_one_duckdb_file(sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """Two groups at once, then a 7-day backfill as seven runs, three at a time: all succeed."""
    env = cli_env()
    groups = [subprocess.Popen([*CLI, "--select", keys], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True) for keys in ("group:sendpulse", "lacrm/users,lacrm/teams,lacrm/notes")]
    days = [f"2026-10-{d}" for d in range(22, 29)]
    backfill = []
    for i, day in enumerate(days):
        backfill.append(subprocess.Popen([*CLI, "--select", "justcall/calls,justcall/sms", "--partition", day],
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        if i % 3 == 2:
            backfill[-1].wait(timeout=300)
    outputs = [(p.communicate(timeout=300)[0], p.returncode) for p in groups + backfill]
    assert [code for _, code in outputs] == [0] * 9, "\n".join(out[-3000:] for out, code in outputs if code)
    assert not any("Could not set lock" in out for out, _ in outputs)
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        loaded_days = {d for (d,) in con.execute("select distinct call_date from justcall.calls").fetchall()}
        assert loaded_days == set(days)
        assert con.execute("select count(*) from sendpulse.campaigns").fetchone()[0] == 200
        assert con.execute("select count(*) from lacrm.notes").fetchone()[0] == 10_050


QUERY = """
{
  assetNodes { assetKey { path } groupName isPartitioned hasAssetChecks dependencyKeys { path } }
  assetCheckExecutions: assetNodes {
    assetChecksOrError { ... on AssetChecks { checks { name blocking description } } }
  }
  schedulesOrError(repositorySelector: {repositoryLocationName: "comms_assets.definitions",
                                        repositoryName: "__repository__"}) {
    ... on Schedules { results { name cronSchedule } }
  }
  sensorsOrError(repositorySelector: {repositoryLocationName: "comms_assets.definitions",
                                      repositoryName: "__repository__"}) {
    ... on Sensors { results { name sensorType } }
  }
}
"""


USERS = {"justcall/users", "gong/users", "lacrm/users"}  # what people reads, and so every mart naming a person
MART_INPUTS = {
    "comms/calls": {"justcall/calls", "ringcentral/user_call_records", "gong/calls", *USERS},
    "comms/messages": {"justcall/sms", *USERS},
    "comms/people": USERS,
    "comms/contacts": {"justcall/contacts", "lacrm/contacts"},
    "comms/person_daily_activity": {"justcall/calls", "ringcentral/user_call_records", "gong/calls", "justcall/sms",
                                    "gong/answered_scorecards", "lacrm/tasks", "lacrm/events", *USERS},
}


def upstream_raw(nodes: list[dict]) -> dict[str, set[str]]:
    """Each mart's raw assets, following the graph's dependency edges up through the models."""
    parents = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}

    def raw(key: str) -> set[str]:
        return {key} if not key.startswith("comms/") else set().union(*(raw(p) for p in parents[key]))

    return {mart: raw(mart) for mart in MART_INPUTS}


def test_webserver_graphql_shows_assets_checks_schedules_and_sensors(tmp_path: Path) -> None:
    port = free_port()
    env = {**clean_env(), "DAGSTER_HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-m", "comms_assets.definitions",
                               "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        serving(port, server)
        body = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=60).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    data = body["data"]
    nodes = data["assetNodes"]
    raw = [n for n in nodes if n["groupName"] != "comms"]
    assert len(raw) == 35 and {n["groupName"] for n in raw} == {"justcall", "ringcentral", "gong", "sendpulse", "lacrm"}
    assert sum(n["isPartitioned"] for n in raw) == 9 and all(n["hasAssetChecks"] for n in raw)
    assert len(nodes) == 35 + 21 and sum(n["isPartitioned"] for n in nodes) == 9 + 10  # the dbt models
    checks = [(n["assetKey"]["path"][0], c) for n, checks in zip(nodes, data["assetCheckExecutions"], strict=True)
              for c in checks["assetChecksOrError"]["checks"]]
    raw_checks = [c for group, c in checks if group != "comms"]
    assert len(raw_checks) == 68 + 9 + 35 + 35  # keys, daily volume, freshness, schema drift
    assert {c["name"] for c in raw_checks if c["blocking"]} == {"primary_key_unique", "primary_key_not_null"}
    assert sum(c["blocking"] for c in raw_checks) == 68
    dbt_tests = [c for group, c in checks if group == "comms"]
    blocking = ("unique_", "not_null_", "reconciles_", "adds_up_")
    assert len(dbt_tests) == 53 and all(c["blocking"] == c["name"].startswith(blocking) for c in dbt_tests)
    assert all(c["description"] for _, c in checks)  # each says what it checks, dbt's tests included
    assert "Each person_email is in people.email (a warning otherwise)." in {c["description"] for c in dbt_tests}
    assert upstream_raw(nodes) == MART_INPUTS
    assert {s["name"] for s in data["schedulesOrError"]["results"]} == {
        "justcall_daily_schedule", "ringcentral_daily_schedule", "gong_daily_schedule", "lacrm_daily_schedule"}
    sensor_types = {s["name"]: s["sensorType"] for s in data["sensorsOrError"]["results"]}
    assert sensor_types["comms_run_failure_alert"] == "RUN_STATUS" and "comms_stale_alert" in sensor_types
    assert sensor_types["gong_automation"] == "AUTO_MATERIALIZE" and sensor_types["gong_catch_up"] == "STANDARD"
    assert sensor_types["comms_automation"] == "AUTO_MATERIALIZE"


def test_credentials_from_dlt_secrets_toml(sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """README: credentials may live in ``.dlt/secrets.toml`` instead of the environment."""
    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "config.toml").write_text((REPO / ".dlt" / "config.toml").read_text())
    (project / ".dlt" / "secrets.toml").write_text(
        f'justcall_api_key = "{sandbox.credentials["JUSTCALL_API_KEY"]}"\n'
        f'justcall_api_secret = "{sandbox.credentials["JUSTCALL_API_SECRET"]}"\n')
    env = {k: v for k, v in cli_env(DLT_PROJECT_DIR=str(project)).items() if not k.startswith("JUSTCALL_")}
    done = subprocess.run([*CLI, "--select", "justcall/users"], env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        assert con.execute("select count(*) from justcall.users").fetchone()[0] == sandbox.world.count("justcall/users")


@pytest.mark.slow
def test_the_main_job_loads_every_endpoint_as_the_sandbox_holds_it(tmp_path: Path) -> None:
    """``make demo`` into its default warehouse (``data/warehouse.duckdb`` under the working
    directory): every asset through the CLI, a summary whose counts are the sandbox's, and the
    cross-API summary, whose queries name tables ``<schema>.<table>``."""
    done = subprocess.run([sys.executable, "-m", "comms_assets.demo", "--scale", "0.2", "--days", "4",
                           "--rate-limit-scale", "0"], env=cli_env(), cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "data" / "warehouse.duckdb").exists()
    assert re.search(r"^  calls: gong \d+ \(\d+ with a person\), justcall \d+", done.stdout, re.MULTILINE)
    printed = {f"{api}/{endpoint}": int(count.replace(",", "")) for api, endpoint, count in
               re.findall(r"^(\w+) +(\w+) +([\d,]+)$", done.stdout, re.MULTILINE) if api != "total"}
    with Sandbox(world=World(scale=0.2, start=today() - timedelta(days=4))) as sandbox:
        expected = sandbox.counts()
    assert printed == {key: expected[collection] for key, collection in SANDBOX_COLLECTION.items()}
    assert "35 endpoints into" in done.stdout


@pytest.mark.parametrize("name", ["comms", "justcall", "comms_staging", "Gong_Staging"])
def test_a_warehouse_named_like_one_of_its_schemas_is_refused_before_anything_loads(tmp_path: Path, name: str) -> None:
    """DuckDB names a file's catalog after its stem: in ``comms.duckdb``, ``comms.calls`` is
    ambiguous and dlt's loads, dbt and every user query fail. The demo and the CLI refuse it."""
    warehouse = str(tmp_path / f"{name}.duckdb")
    demo = subprocess.run([sys.executable, "-m", "comms_assets.demo"],
                          env=cli_env(DESTINATION__DUCKDB__CREDENTIALS=warehouse),
                          capture_output=True, text=True, check=False, timeout=120)
    assert demo.returncode == 2 and "sandbox on" not in demo.stdout
    assert f"the DuckDB warehouse {warehouse} is named like one of its schemas ({name.lower()})" in demo.stderr
    cli = subprocess.run([*CLI, "--select", "justcall/users"], env=cli_env(DESTINATION__DUCKDB__CREDENTIALS=warehouse),
                         capture_output=True, text=True, check=False, timeout=300)
    assert cli.returncode != 0 and "is named like one of its schemas" in cli.stdout + cli.stderr
    assert not Path(warehouse).exists()


def test_make_dev_serves_the_ui_on_the_sandbox_and_starts_without_a_warning(tmp_path: Path) -> None:
    """What ``make dev`` runs: the sandbox and ``dg dev`` together, the code location loaded, and
    nothing in the start-up output warns (neither a supersession nor the instance)."""
    port = free_port()
    env = {**clean_env(), "DAGSTER_HOME": str(tmp_path / "home"),
           "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "w.duckdb")}
    dev = subprocess.Popen([sys.executable, "-m", "comms_assets.dev", "--port", str(port)], cwd=REPO, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)  # the sandbox, and dg dev's webserver, daemon and code server
    try:
        serving(port, dev)
        nodes = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ assetNodes { id } }"},
                              timeout=60).json()["data"]["assetNodes"]
        time.sleep(5)  # the daemon's first ticks
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        output, _ = dev.communicate(timeout=60)
    assert len(nodes) == 35 + 21  # the raw assets and the dbt models
    assert output.startswith("sandbox on http://127.0.0.1:") and f"the UI on http://127.0.0.1:{port}" in output
    warned = [line for line in output.splitlines() if re.search(r"warn|supersede|deprecat", line, re.IGNORECASE)]
    assert not warned, output[-3000:]


def test_make_dev_refuses_to_stand_in_for_real_credentials() -> None:
    done = subprocess.run([sys.executable, "-m", "comms_assets.dev"], cwd=REPO, capture_output=True, text=True,
                          env={**clean_env(), "GONG_ACCESS_KEY": "set"}, timeout=120, check=False)
    assert done.returncode == 2 and "GONG_ACCESS_KEY set" in done.stderr and "make ui" in done.stderr


def test_dg_checks_the_definitions_without_credentials_and_launches_an_asset(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    """README's `dg` commands, from the project's root ([tool.dg] in pyproject.toml)."""
    dg_cli = str(Path(sys.executable).with_name("dg"))
    venv = {"VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    checked = subprocess.run([dg_cli, "check", "defs"], cwd=REPO, env={**clean_env(), **venv}, capture_output=True,
                             text=True, check=False, timeout=300)
    assert checked.returncode == 0 and "All definitions loaded successfully" in checked.stdout + checked.stderr
    launched = subprocess.run([dg_cli, "launch", "--assets", "justcall/users"], cwd=REPO, env={**cli_env(), **venv},
                              capture_output=True, text=True, check=False, timeout=300)
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-2000:]
    with duckdb.connect(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        assert con.execute("select count(*) from justcall.users").fetchone()[0] == sandbox.world.count("justcall/users")
