"""Real Dagster runs against the sandbox: subsets, partitions, metadata, credentials and failures."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import responses

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox
from comms_assets_tests.conftest import calls_on, cli_env, failed_run, rows, run


def test_one_asset_requests_only_its_endpoint(sandbox: Sandbox, sandbox_env: dict[str, str]) -> None:
    result = run("justcall/users")
    assert result.success
    assert {r["path"] for r in sandbox.requests()} == {"/v2.1/users"}
    assert rows(sandbox_env, "select count(*) from justcall.users") == sandbox.world.count("justcall/users")
    assert Path(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"]).stat().st_mode & 0o077 == 0  # the owner's alone
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
                           "--select", "justcall/users"], check=False, env=env, capture_output=True, text=True,
                           timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "justcall/users: HTTP 401 Unauthorized" in output
    assert secret not in output and "sandbox-justcall-key" not in output
    assert rows(sandbox_env, "select count(*) from information_schema.tables where table_name = 'users'") == 0


# One endpoint of each API, the path the echoing fault answers on, and the status the API says it
# with (LACRM answers every error with 400).
ECHOING = {"justcall": ("justcall/users", "/v2.1/users", 401),
           "ringcentral": ("ringcentral/call_queues", "/call-queues", 401), "gong": ("gong/users", "/v2/users", 401),
           "sendpulse": ("sendpulse/senders", "/senders", 401), "lacrm": ("lacrm/users", "/v2", 400)}


def leaks(sandbox: Sandbox, api: str) -> set[str]:
    """Every value of ``api``'s that must never be written down: its credentials, the header values
    derived from them (``key:secret`` raw and base64) and every token the sandbox issued."""
    credentials = sandbox.credentials_of(api, 0)
    values = {*credentials.values(), *getattr(getattr(sandbox.apis[api], "tokens", None), "issued", [])}
    first, *rest = credentials.values()
    pairs = {f"{first}:{second}" for second in rest[:1]}
    return {form for value in values | pairs for form in (value, base64.b64encode(value.encode()).decode())}


@pytest.mark.cli
@pytest.mark.parametrize("api", list(ECHOING))
def test_a_credential_the_vendor_echoes_is_blanked_in_the_cli_the_instance_the_warehouse_and_the_alert(
        api: str, sandbox: Sandbox, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """The vendor answers 401 repeating the ``Authorization`` it received: Gong's Basic of
    ``key:secret``, the bearer tokens of RingCentral and SendPulse (renewed once on the 401, so two
    tokens), JustCall's raw pair, LACRM's key."""
    asset, path, status = ECHOING[api]
    sandbox.inject(api=api, endpoint=path, kind="echo", status=401, count=10)
    home = tmp_path / "dagster_home"
    home.mkdir()
    done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions",
                           "--select", asset], check=False, env=cli_env(DAGSTER_HOME=str(home)), capture_output=True,
                          text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and f"{asset}: HTTP {status}" in output and "Rejected Authorization: " in output

    monkeypatch.setenv("COMMS_ALERT_WEBHOOK", "https://hooks.test/comms")
    defs = build_definitions()
    with dg.DagsterInstance.ephemeral() as instance:
        _, context = failed_run(defs, instance, asset)
        with responses.RequestsMock() as hooks:
            hooks.post("https://hooks.test/comms")
            defs.get_repository_def().get_sensor_def("comms_run_failure_alert")(context)
            [posted] = hooks.calls
    assert f"{asset}: HTTP {status}" in json.loads(posted.request.body)["text"]
    written = [path.read_bytes() for path in home.rglob("*") if path.is_file()]
    written.append(Path(sandbox_env["DESTINATION__DUCKDB__CREDENTIALS"]).read_bytes())
    forbidden = leaks(sandbox, api)
    assert len(forbidden) >= 2 and len(written) > 3
    assert [value for value in forbidden if value in output or value in posted.request.body] == []
    assert [value for value in forbidden for data in written if value.encode() in data] == []


