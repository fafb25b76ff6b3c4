"""Shared fixtures: a sandbox on a free port, the environment pointing at it, a throw-away warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests

from comms_assets.definitions import build_definitions
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.servers import SESSION, Servers

# A fixed history, so tests do not depend on the day they run.
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=10)

# What the sandbox calls each endpoint's collection (it is written independently of the catalog).
SANDBOX_COLLECTION = {
    "justcall/users": "justcall/users", "justcall/calls": "justcall/calls", "justcall/sms": "justcall/texts",
    "justcall/contacts": "justcall/contacts", "justcall/phone_numbers": "justcall/phone_numbers",
    "justcall/agent_analytics": "justcall/analytics",
    "ringcentral/user_business_hours": "ringcentral/business_hours",
    "ringcentral/company_business_hours": "ringcentral/company_business_hours",
    "ringcentral/forwarding_numbers": "ringcentral/forwarding_numbers",
    "ringcentral/blocked_allowed_phonenumbers": "ringcentral/blocked_numbers",
    "ringcentral/user_call_records": "ringcentral/call_log",
    "ringcentral/user_active_calls": "ringcentral/active_calls",
    "ringcentral/call_monitoring_groups": "ringcentral/monitoring_groups",
    "ringcentral/call_queues": "ringcentral/call_queues", "ringcentral/ivr_prompts": "ringcentral/ivr_prompts",
    "gong/users": "gong/users", "gong/calls": "gong/calls", "gong/extensive_calls": "gong/extensive_calls",
    "gong/scorecards": "gong/scorecards", "gong/answered_scorecards": "gong/answered_scorecards",
    "sendpulse/mailing_lists": "sendpulse/addressbooks", "sendpulse/campaigns": "sendpulse/campaigns",
    "sendpulse/templates": "sendpulse/templates", "sendpulse/senders": "sendpulse/senders",
    "sendpulse/webhooks": "sendpulse/webhooks", "sendpulse/balance_details": "sendpulse/balance_detail",
    "sendpulse/balance": "sendpulse/balance",
    "lacrm/users": "lacrm/users", "lacrm/contacts": "lacrm/contacts", "lacrm/tasks": "lacrm/tasks",
    "lacrm/pipeline_items": "lacrm/pipeline_items", "lacrm/notes": "lacrm/notes", "lacrm/teams": "lacrm/teams",
    "lacrm/events": "lacrm/events", "lacrm/contact_events": "lacrm/contact_events",
}

# Small but multi-page for every paged endpoint (page sizes: 100, 1000, 10000).
SMALL = {"justcall/calls": 450, "justcall/texts": 230, "justcall/contacts": 150, "ringcentral/call_log": 1500,
         "ringcentral/blocked_numbers": 1200, "gong/calls": 250, "gong/answered_scorecards": 130,
         "gong/users": 120, "sendpulse/addressbooks": 120, "sendpulse/campaigns": 200, "lacrm/contacts": 40,
         "lacrm/notes": 10_050, "lacrm/tasks": 300, "lacrm/events": 120}

FAST_RETRIES = {f"SOURCES__{api}__REQUEST_BACKOFF_FACTOR": "0.05" for api in
                ("JUSTCALL", "RINGCENTRAL", "GONG", "SENDPULSE", "LACRM")}


def small_world() -> World:
    return World(seed=7, start=START, end=END, counts=dict(SMALL))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(world=small_world(), rate_limit_scale=0) as running:
        yield running


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The process environment pointed at the sandbox and at a fresh DuckDB file."""
    return point_at(monkeypatch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS":
                                           str(tmp_path / "warehouse.duckdb"), "DLT_DATA_DIR": str(tmp_path / "dlt")})


def point_at(patch: pytest.MonkeyPatch, sandbox: Sandbox, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment pointed at ``sandbox``, with ``extra`` (a warehouse, settings)."""
    env = {**sandbox.env(), **(extra or {})}
    for name, value in env.items():
        patch.setenv(name, value)
    return env


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the daily partitions ``first``..``last``, as a UI backfill's run has."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def calls_on(sandbox: Sandbox, day: str) -> int:
    """How many JustCall calls the sandbox holds on one UTC day (``YYYY-MM-DD``)."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return len(sandbox.world.between("justcall/calls", start, start + timedelta(days=1)))


# What the project reads from the environment: a developer's own values must not reach a test.
PROJECT_VARIABLES = ("SOURCES__", "DESTINATION__", "COMMS_", "DLT_", "DAGSTER_", "JUSTCALL_", "RINGCENTRAL_", "GONG_",
                     "SENDPULSE_", "LACRM_", "RUNTIME__", "NORMALIZE__", "LOAD__", "DATA_WRITER__")
CREDENTIAL_VARIABLES = ("SOURCES__", "JUSTCALL_", "RINGCENTRAL_", "GONG_", "SENDPULSE_", "LACRM_")
SYSTEM_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test starts from the project's own settings only: none of the developer's variables
    (``DAGSTER_HOME``, ``COMMS_DESTINATION``, credentials) and not ``.dlt/secrets.toml``: dlt reads
    its settings from a copy of ``.dlt/config.toml`` alone."""
    home = tmp_path_factory.mktemp("home")
    (home / ".dlt").mkdir()
    shutil.copy(REPO / ".dlt" / "config.toml", home / ".dlt" / "config.toml")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(PROJECT_VARIABLES)]:
            patch.delenv(name)
        patch.setenv("DLT_PROJECT_DIR", str(home))
        patch.setenv("HOME", str(home))
        yield


def cli_env(**extra: str) -> dict[str, str]:
    """An explicit environment for a CLI subprocess: the system's basics, what the tests set for
    the project, and ``extra``."""
    chosen = {k: v for k, v in os.environ.items() if k in SYSTEM_VARIABLES or k.startswith(PROJECT_VARIABLES)}
    return {**chosen, "HOME": os.environ["HOME"], **extra}


def clean_env() -> dict[str, str]:
    """``cli_env()`` without any API credential or base URL."""
    return {k: v for k, v in cli_env().items() if not k.startswith(CREDENTIAL_VARIABLES)}


def failed_run(defs: dg.Definitions, instance: dg.DagsterInstance,
               selection: str = "justcall/users") -> tuple[dg.ExecuteInProcessResult, dg.RunFailureSensorContext]:
    """A real run of ``selection`` that fails, and the run-failure sensor's context for it."""
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey.from_user_string(selection)],
                                    raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(sensor_name="comms_run_failure_alert", dagster_event=failure,
                                                 dagster_instance=instance,
                                                 dagster_run=result.dagster_run).for_run_failure()
    return result, context


SERVERS = pytest.StashKey[Servers]()


def pytest_configure(config: pytest.Config) -> None:
    """The session's directory for the servers its tests start (once, not per xdist worker: the
    workers inherit it); each server starts when a test first needs it (``servers.required``)."""
    if hasattr(config, "workerinput"):
        return
    root = Path(tempfile.mkdtemp(prefix="comms-servers-"))
    os.environ[SESSION] = str(root)
    config.stash[SERVERS] = Servers(root)


def pytest_unconfigure(config: pytest.Config) -> None:
    if servers := config.stash.get(SERVERS, None):
        servers.stop()


def serving(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    """Wait until the Dagster webserver on ``port`` answers (failing if ``process`` exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        assert process.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(1)


def run(selection: str, partition_key: str | None = None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """A real in-process run of ``selection`` with the code location's assets and resources."""
    defs = build_definitions()
    return dg.materialize(
        defs.assets,
        selection=selection,
        partition_key=partition_key,
        resources=defs.resources,
        raise_on_error=raise_on_error,
    )


def rows(env: dict[str, str], sql: str) -> int:
    """One number from the warehouse that ``env`` points at."""
    with duckdb.connect(env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def sandbox_days(sandbox: Sandbox, endpoint: str, day: str) -> int:
    """What the sandbox holds for one endpoint on one UTC day, from its own world."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    collection = {
        "justcall/calls": "justcall/calls",
        "justcall/sms": "justcall/texts",
        "ringcentral/user_call_records": "ringcentral/call_log",
        "gong/calls": "gong/calls",
        "gong/extensive_calls": "gong/calls",
        "gong/answered_scorecards": "gong/answered_scorecards",
        "lacrm/tasks": "lacrm/tasks",
        "lacrm/events": "lacrm/events",
        "justcall/agent_analytics": "justcall/calls",
    }[endpoint]
    ids = sandbox.world.between(collection, start, start + timedelta(days=1))
    if endpoint == "justcall/agent_analytics":  # one row per agent who called that day
        return len({sandbox.apis["justcall"].call(i)["agent_id"] for i in ids})
    return len(ids)
