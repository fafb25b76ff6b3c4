"""Real Dagster runs against the sandbox: subsets, partitions, metadata, credentials and failures."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import duckdb
import pytest
import responses

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox
from comms_assets_tests.conftest import calls_on, cli_env, failed_run


def run(selection: str, partition_key: str | None = None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    defs = build_definitions()
    return dg.materialize(defs.assets, selection=selection, partition_key=partition_key,
                          resources=defs.resources, raise_on_error=raise_on_error)


def rows(env: dict[str, str], sql: str) -> int:
    with duckdb.connect(env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_one_asset_requests_only_its_endpoint(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    result = run("justcall/users")
    assert result.success
    assert {r["path"] for r in sandbox.requests()} == {"/v2.1/users"}
    assert rows(sandbox_env, "select count(*) from justcall.users") == sandbox.world.count("justcall/users")
    [materialization] = result.asset_materializations_for_node("justcall_snapshot")
    metadata = materialization.metadata
    assert metadata["rows_loaded"].value == 25 and metadata["dagster/row_count"].value == 25
    assert metadata["comms/requests"].value == 1 and metadata["comms/elapsed_s"].value > 0
    columns = {c.name: c for c in metadata["dagster/column_schema"].value.columns}
    assert len(columns) > 10 and columns["email"].type == "text" and not columns["email"].description  # as loaded
    assert columns["created_at"].type == "timestamp" and "UTC" in columns["created_at"].description


def test_a_partition_asks_for_its_day_and_loads_exactly_it(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    result = run("justcall/calls", partition_key="2026-10-25")
    assert result.success
    [request] = [r for r in sandbox.requests() if r["path"] == "/v2.1/calls"]  # 450 calls / 10 days: one page
    assert request["query"]["from_datetime"] == "2026-10-25 00:00:00"
    assert request["query"]["to_datetime"] == "2026-10-25 23:59:59"
    day = calls_on(sandbox, "2026-10-25")
    assert rows(sandbox_env, "select count(*) from justcall.calls") == day > 0
    assert rows(sandbox_env, "select count(*) from justcall.calls where call_date <> '2026-10-25'") == 0
    [materialization] = result.asset_materializations_for_node("justcall_daily")
    assert materialization.partition == "2026-10-25"
    assert materialization.metadata["dagster/partition_row_count"].value == day
    assert materialization.metadata["comms/window"].value.startswith("[2026-10-25T00:00:00+00:00")


def test_checks_run_with_the_load_and_pass(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    result = run("lacrm/contact_events")
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"primary_key_unique": True, "primary_key_not_null": True, "column_schema_change": True}
    assert rows(sandbox_env, "select count(*) from lacrm.contact_events") == sandbox.counts()["lacrm/contact_events"]


def test_missing_credential_fails_before_any_request(sandbox: Sandbox, sandbox_env: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONG_ACCESS_KEY_SECRET")
    result = run("gong/users", raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "GONG_ACCESS_KEY_SECRET" in failure.step_failure_data.error.to_string()
    assert sandbox.requests("gong") == []


@pytest.mark.cli
def test_wrong_credential_fails_the_cli_run_naming_api_and_status_without_the_secret(
        sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    secret = "wrong-secret-4711"
    env = cli_env(JUSTCALL_API_SECRET=secret)
    done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions",
                           "--select", "justcall/users"], check=False, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "justcall/users: HTTP 401 Unauthorized" in output
    assert secret not in output and "sandbox-justcall-key" not in output
    assert rows(sandbox_env, "select count(*) from information_schema.tables where table_name = 'users'") == 0


@pytest.mark.cli
def test_a_secret_the_vendor_echoes_is_blanked_in_the_cli_the_run_events_and_the_alert(
        sandbox: Sandbox, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    key, secret = sandbox.credentials["JUSTCALL_API_KEY"], sandbox.credentials["JUSTCALL_API_SECRET"]
    sandbox.inject(api="justcall", endpoint="/v2.1/users", kind="echo", status=401, count=10)
    done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions",
                           "--select", "justcall/users"], check=False, env=cli_env(), capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "justcall/users: HTTP 401" in output and "Rejected Authorization: ***" in output
    assert secret not in output and key not in output

    monkeypatch.setenv("COMMS_ALERT_WEBHOOK", "https://hooks.test/comms")
    defs = build_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        result, context = failed_run(defs, instance)
        events = "\n".join(repr(record) for record in instance.all_logs(result.run_id))
        with responses.RequestsMock() as hooks:
            hooks.post("https://hooks.test/comms")
            defs.get_repository_def().get_sensor_def("comms_run_failure_alert")(context)
            [posted] = hooks.calls
    assert "Rejected Authorization: ***" in events and secret not in events and key not in events
    text = json.loads(posted.request.body)["text"]
    assert "justcall/users: HTTP 401" in text and "Rejected Authorization: ***" in text
    assert secret not in posted.request.body and key not in posted.request.body
