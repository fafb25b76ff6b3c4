"""The ways people run it: parallel CLI runs on one DuckDB file, and the webserver's GraphQL API."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import requests

from comms_assets.sandbox import Sandbox
from comms_assets_tests.conftest import clean_env, cli_env

CLI = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions"]


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


QUERY = """
{
  assetNodes { assetKey { path } groupName isPartitioned hasAssetChecks }
  assetCheckExecutions: assetNodes { assetChecksOrError { ... on AssetChecks { checks { name blocking } } } }
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


def test_webserver_graphql_shows_assets_checks_schedules_and_sensors(tmp_path: Path) -> None:
    port = free_port()
    env = {**clean_env(), "DAGSTER_HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-m", "comms_assets.definitions",
                               "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "webserver did not start"
            time.sleep(1)
        body = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=60).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    data = body["data"]
    nodes = data["assetNodes"]
    assert len(nodes) == 35 and {n["groupName"] for n in nodes} == {"justcall", "ringcentral", "gong", "sendpulse",
                                                                   "lacrm"}
    assert sum(n["isPartitioned"] for n in nodes) == 9 and sum(n["hasAssetChecks"] for n in nodes) == 34
    checks = [c for n in data["assetCheckExecutions"] for c in n["assetChecksOrError"]["checks"]]
    assert len(checks) == 68 and all(c["blocking"] for c in checks)
    assert {s["name"] for s in data["schedulesOrError"]["results"]} == {
        "justcall_daily_schedule", "ringcentral_daily_schedule", "gong_daily_schedule", "lacrm_daily_schedule"}
    sensor_types = {s["name"]: s["sensorType"] for s in data["sensorsOrError"]["results"]}
    assert sensor_types["comms_run_failure_alert"] == "RUN_STATUS"
    assert sensor_types["gong_automation"] == "AUTO_MATERIALIZE" and sensor_types["gong_catch_up"] == "STANDARD"
