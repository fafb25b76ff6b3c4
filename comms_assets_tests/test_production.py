"""The production profile for real: PostgreSQL as warehouse and Dagster instance (``deploy/``),
parallel runs, the daemon's queue ticking a sensor, and steps on two Celery workers over Redis.

Every run goes through the Dagster CLI, the daemon or the webserver, in its own processes, against
the servers of ``servers.py``; expectations come from the sandbox's world.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
import requests

from comms_assets.catalog import APIS
from comms_assets.defs.shared import POOL
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today
from comms_assets_tests.conftest import END, FAST_RETRIES, REPO, SANDBOX_COLLECTION, SMALL, cli_env, sandbox_days
from comms_assets_tests.servers import POSTGRES_URL, REDIS_URL, free_port, new_database, required

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLI = [sys.executable, "-m", "dagster"]
POOL_LIMIT = 5  # deploy/dagster.yaml's default_limit
WORKSPACE = ["-w", str(REPO / "deploy" / "workspace.yaml")]
STEP = re.compile(r'STEP_START - Started execution of step "(\w+)"')
CHECK = re.compile(r"ASSET_CHECK_EVALUATION - Asset check '(\w+)' on '([\w/]+)' (passed|did not pass)")


def keys(api: str, partitioned: bool) -> str:
    return ",".join(f"{api}/{e.name}" for e in APIS[api].endpoints if e.partitioned == partitioned)


@dataclass
class Deployment:
    """A production instance (``deploy/dagster.yaml`` in its own DAGSTER_HOME) and a warehouse,
    each a fresh PostgreSQL database."""

    home: Path
    warehouse: str
    storage: str

    def env(self, sandbox: Sandbox | None = None, **extra: str) -> dict[str, str]:
        return cli_env(**(sandbox.env() if sandbox else {}), **FAST_RETRIES, DAGSTER_HOME=str(self.home),
                       COMMS_DESTINATION="postgres", DESTINATION__POSTGRES__CREDENTIALS=self.warehouse,
                       DAGSTER_POSTGRES_URL=self.storage.replace("postgresql://", "postgresql+psycopg2://"), **extra)

    def query(self, sql: str) -> list[tuple]:
        with psycopg2.connect(self.warehouse) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def counts(self) -> dict[str, int]:
        """Rows in each endpoint's table (0 where no table was created)."""
        present = {f"{schema}/{table}" for schema, table in self.query(
            "select table_schema, table_name from information_schema.tables")}
        return {key: self.query(f"select count(*) from {key.replace('/', '.')}")[0][0] if key in present else 0
                for key in SANDBOX_COLLECTION}


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    server = required(POSTGRES_URL)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    deployed = Deployment(home=home, warehouse=new_database(server), storage=new_database(server))
    # README: Dagster's tables and the pool's limit are created once, before processes that share
    # them start (runs that start together would race to create the pool's default limit)
    for setup in (["instance", "migrate"], ["instance", "concurrency", "set", POOL, str(POOL_LIMIT)]):
        subprocess.run([*CLI, *setup], env=deployed.env(), check=True, capture_output=True, timeout=300)
    return deployed


def world(days: int, end: datetime = END) -> World:
    return World(seed=5, start=end - timedelta(days=days), end=end, counts=dict(SMALL))


def expected(sandbox: Sandbox) -> dict[str, int]:
    counts = sandbox.counts()
    return {key: counts[collection] for key, collection in SANDBOX_COLLECTION.items()}


def materialize(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "asset", "materialize", "-m", "comms_assets.definitions", *args], env=env,
                          capture_output=True, text=True, check=False, timeout=540)


def succeeded(done: subprocess.CompletedProcess) -> bool:
    return done.returncode == 0 and "RUN_SUCCESS" in done.stdout + done.stderr


def day(offset: int, end: datetime = END) -> str:
    return f"{end - timedelta(days=offset):%Y-%m-%d}"


@pytest.mark.timeout(540)
def test_every_endpoint_lands_in_postgresql_as_the_sandbox_holds_it_and_the_key_checks_guard_it(
        deployment: Deployment) -> None:
    with Sandbox(world=world(days=1), rate_limit_scale=0) as sandbox:
        env = deployment.env(sandbox)
        done = materialize(env, "--select", "*", "--partition", day(1))  # one run, a process per step
        assert succeeded(done), done.stdout[-3000:] + done.stderr[-3000:]
        assert deployment.counts() == expected(sandbox)
        assert all(count > 0 for count in expected(sandbox).values())
        keys = [e for e in CHECK.findall(done.stdout + done.stderr) if e[0].startswith("primary_key")]
        assert len(keys) == 68 and {outcome for *_, outcome in keys} == {"passed"}

        deployment.query("create temp table planted as select * from justcall.calls order by id limit 1; "
                         "update planted set _dlt_id = 'planted'; insert into justcall.calls select * from planted")
        again = materialize(env, "--select", "justcall/calls", "--partition", day(2))
        assert again.returncode != 0 and "blocking asset check failed" in again.stdout + again.stderr
        assert ("primary_key_unique", "justcall/calls", "did not pass") in CHECK.findall(again.stdout + again.stderr)


@pytest.mark.timeout(540)
def test_seven_days_as_seven_concurrent_runs_beside_another_apis_run_load_exactly_the_sandbox(
        deployment: Deployment) -> None:
    """Seven runs of one API's dated endpoints, one per day, and the snapshots of it and of a
    second API, all started at once into a warehouse that has no tables yet."""
    days = [day(offset) for offset in range(1, 8)]
    with Sandbox(world=world(days=7), rate_limit_scale=0) as sandbox:
        env = deployment.env(sandbox)
        runs = [["--select", keys("justcall", partitioned=True), "--partition", d] for d in days]
        runs += [["--select", keys("justcall", partitioned=False)], ["--select", keys("sendpulse", partitioned=False)]]
        processes = [subprocess.Popen([*CLI, "asset", "materialize", "-m", "comms_assets.definitions", *args],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for args in runs]
        outputs = [process.communicate(timeout=480)[0] for process in processes]
        failed = [output[-4000:] for process, output in zip(processes, outputs, strict=True) if process.returncode]
        assert not failed, "\n\n".join(failed)
        loaded = {k: v for k, v in deployment.counts().items() if k.startswith(("justcall/", "sendpulse/"))}
        assert loaded == {k: v for k, v in expected(sandbox).items() if k.startswith(("justcall/", "sendpulse/"))}
        per_day = dict(deployment.query("select call_date, count(*) from justcall.calls group by 1"))
        assert per_day == {d: sandbox_days(sandbox, "justcall/calls", d) for d in days}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(2)
    return value


RUNS = "{ runsOrError { ... on Runs { results { runId status startTime endTime tags { key value } } } } }"
BIN = Path(sys.executable).parent


def graphql(url: str, query: str) -> dict:
    return requests.post(f"{url}/graphql", json={"query": query}, timeout=60).json()["data"]


@pytest.fixture
def services() -> Iterator[list[subprocess.Popen]]:
    """Long-running processes a test starts (daemon, webserver, workers), each in a session of its
    own: stopped at its end with everything they started (``dagster-celery`` starts ``celery``)."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def serve(deployment: Deployment, services: list[subprocess.Popen], env: dict[str, str]) -> str:
    """README's ``dagster-daemon run`` and ``dagster-webserver`` on the deployment: the webserver's URL."""
    port = free_port()
    start(services, [str(BIN / "dagster-daemon"), "run", *WORKSPACE], env, deployment.home / "daemon.log")
    start(services, [str(BIN / "dagster-webserver"), *WORKSPACE, "-h", "127.0.0.1", "-p", str(port)], env,
          deployment.home / "webserver.log")
    return f"http://127.0.0.1:{port}"


def start(services: list[subprocess.Popen], command: list[str], env: dict[str, str], log: Path) -> None:
    services.append(subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True))


@pytest.mark.timeout(600)
def test_the_daemon_ticks_a_sensor_whose_runs_queue_one_per_api_and_load_exactly_the_missing_days(
        deployment: Deployment, services: list[subprocess.Popen]) -> None:
    """README's commands: ``dagster-daemon run`` and ``dagster-webserver`` on the production
    instance; the catch-up sensor, switched on, requests the five newest missing days at its first
    tick, and the queue starts them one at a time (``comms/api`` is limited to one run)."""
    now = today()
    days = [day(offset, now) for offset in range(1, 6)]
    with Sandbox(world=world(days=8, end=now), rate_limit_scale=0) as sandbox:
        env = deployment.env(sandbox)
        url = serve(deployment, services, env)
        switched = subprocess.run([*CLI, "sensor", "start", "justcall_catch_up", *WORKSPACE], env=env,
                                  capture_output=True, text=True, check=False, timeout=300)
        assert switched.returncode == 0, switched.stdout + switched.stderr

        def finished() -> list[dict] | None:
            """JustCall's runs, once the sensor's five have ended (the freshness sensor, running by
            default, starts runs of its checks beside them)."""
            try:
                runs = graphql(url, RUNS)["runsOrError"]["results"]
            except requests.ConnectionError:
                return None
            ours = [r for r in runs if {"key": "comms/api", "value": "justcall"} in r["tags"]]
            done = len(ours) == len(days) and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in ours)
            return ours if done else None

        runs = wait_for(finished, 480, "five runs finished")
        daemon_log = (deployment.home / "daemon.log").read_text()[-3000:]
        assert [r["status"] for r in runs] == ["SUCCESS"] * len(days), daemon_log
        spans = sorted((r["startTime"], r["endTime"]) for r in runs)
        assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))  # one at a time

        per_day = dict(deployment.query("select call_date, count(*) from justcall.calls group by 1"))
        assert per_day == {d: sandbox_days(sandbox, "justcall/calls", d) for d in days}
        for table, endpoint in (("sms", "justcall/sms"), ("agent_analytics", "justcall/agent_analytics")):
            assert deployment.query(f"select count(*) from justcall.{table}")[0][0] == sum(
                sandbox_days(sandbox, endpoint, d) for d in days)


@pytest.mark.celery
@pytest.mark.timeout(600)
def test_one_run_of_all_five_apis_executes_its_steps_on_two_celery_workers(
        deployment: Deployment, services: list[subprocess.Popen]) -> None:
    broker = required(REDIS_URL)
    with Sandbox(world=world(days=1), rate_limit_scale=0) as sandbox:
        env = deployment.env(sandbox, COMMS_EXECUTOR="celery", COMMS_CELERY_BROKER=broker, COMMS_CELERY_BACKEND=broker)
        env["PATH"] = f"{BIN}:{env['PATH']}"  # dagster-celery starts `celery` from the PATH
        config = str(REPO / "deploy" / "celery.yaml")
        logs = [deployment.home / f"worker-{worker}.log" for worker in ("one", "two")]
        for log in logs:
            start(services, [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", config,
                             "-n", f"{log.stem}@%h", "--", "--concurrency=1"], env, log)
        wait_for(lambda: all(" ready." in log.read_text() for log in logs)
                 or any(p.poll() is not None for p in services), 120, "two workers ready")
        assert all(p.poll() is None for p in services), [log.read_text()[-2000:] for log in logs]
        done = materialize(env, "--select", "*", "--partition", day(1))
        assert succeeded(done), done.stdout[-3000:] + done.stderr[-3000:]
        assert deployment.counts() == expected(sandbox)
        steps = [STEP.findall(log.read_text()) for log in logs]  # what each worker executed
        loads = {f"{api}_{kind}" for api in APIS for kind in ("daily", "snapshot") if keys(api, kind == "daily")}
        executed = [step for worker in steps for step in worker]
        assert all(steps) and len(executed) == len(set(executed)) and loads <= set(executed), steps


@pytest.mark.celery
@pytest.mark.timeout(600)
def test_two_celery_workers_as_two_hosts_share_one_accounts_budget_through_redis(
        deployment: Deployment, services: list[subprocess.Popen], tmp_path: Path) -> None:
    """JustCall's daily and snapshot steps at once on two workers, each with a rate-limit file of
    its own as on two hosts, at 3 requests per 6 s: their one bucket in Redis keeps the two
    together within the account's budget, and the sandbox refuses none of their requests."""
    broker = required(REDIS_URL)
    counts = {"justcall/calls": 400, "justcall/texts": 200, "justcall/contacts": 2_000}
    world = World(seed=5, start=END - timedelta(days=1), end=END, counts=counts)
    with Sandbox(world=world, rate_limit_scale=0.1, rate_time_scale=10) as sandbox:
        env = deployment.env(sandbox, COMMS_EXECUTOR="celery", COMMS_CELERY_BROKER=broker,
                             COMMS_CELERY_BACKEND=broker, COMMS_RATE_LIMIT_REDIS=broker)
        env["PATH"] = f"{BIN}:{env['PATH']}"
        config = str(REPO / "deploy" / "celery.yaml")
        logs = [deployment.home / f"host-{host}.log" for host in ("one", "two")]
        for log in logs:
            start(services, [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", config,
                             "-n", f"{log.stem}@%h", "--", "--concurrency=1"],
                  {**env, "COMMS_RATE_LIMIT_DB": str(tmp_path / f"{log.stem}.sqlite")}, log)
        wait_for(lambda: all(" ready." in log.read_text() for log in logs)
                 or any(p.poll() is not None for p in services), 120, "two workers ready")
        done = materialize(env, "--select", f"{keys('justcall', True)},{keys('justcall', False)}",
                           "--partition", day(1))
        assert succeeded(done), done.stdout[-3000:] + done.stderr[-3000:]
        log = sandbox.requests("justcall")
    loads = [[step for step in STEP.findall(host.read_text()) if step.startswith("justcall_")] for host in logs]
    assert sorted(loads) == [["justcall_daily"], ["justcall_snapshot"]]  # one on each "host"
    assert len(log) >= 12 and [r["status"] for r in log if r["status"] != 200] == []
    times = sorted(r["time"] for r in log)
    assert max(sum(1 for t in times if at <= t < at + 5.5) for at in times) <= 3  # the two together, in one budget
    assert deployment.query("select count(*) from justcall.contacts")[0][0] == 2_000


LAUNCH = """mutation {{ launchRun(executionParams: {{ mode: "default",
  selector: {{ repositoryLocationName: "comms_assets.definitions", repositoryName: "__repository__",
               jobName: "__ASSET_JOB",
               assetSelection: [{{ path: ["{api}", "{endpoint}"] }}] }} }}) {{
  __typename ... on LaunchRunSuccess {{ run {{ runId }} }} ... on PythonError {{ message }} }} }}"""


@pytest.mark.timeout(600)
def test_ui_launches_of_one_api_take_turns_and_of_two_apis_run_at_once(
        deployment: Deployment, services: list[subprocess.Popen]) -> None:
    """Three launches through the webserver, as the UI's Materialize button sends them (no
    ``comms/api`` tag), with the daemon dequeuing: two of JustCall and one of Gong, each answered
    20 s late by the sandbox. JustCall's two loads take turns on the API's warehouse lock; Gong's
    runs beside them."""
    with Sandbox(world=world(days=1), rate_limit_scale=0) as sandbox:
        for api, endpoint in (("justcall", "/v2.1/users"), ("justcall", "/v2.1/contacts"), ("gong", "/v2/users")):
            sandbox.inject(api=api, endpoint=endpoint, kind="slow", delay=20, count=1)
        env = deployment.env(sandbox)
        url = serve(deployment, services, env)
        wait_for(lambda: _serving(url), 180, "the webserver serving")
        launched = [graphql(url, LAUNCH.format(api=api, endpoint=endpoint))["launchRun"]
                    for api, endpoint in (("justcall", "users"), ("justcall", "contacts"), ("gong", "users"))]
        assert [r["__typename"] for r in launched] == ["LaunchRunSuccess"] * 3, launched
        ids = {r["run"]["runId"] for r in launched}

        def finished() -> list[dict] | None:
            runs = [r for r in graphql(url, RUNS)["runsOrError"]["results"] if r["runId"] in ids]
            return runs if all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs) else None

        runs = wait_for(finished, 420, "three runs finished")
        assert [r["status"] for r in runs] == ["SUCCESS"] * 3, (deployment.home / "daemon.log").read_text()[-3000:]
        asked = {(r["api"], r["path"]): r["time"] for r in sandbox.requests() if r["path"] in
                 ("/v2.1/users", "/v2.1/contacts", "/v2/users")}
    justcall = sorted(t for (api, _), t in asked.items() if api == "justcall")
    assert len(justcall) == 2 and justcall[1] - justcall[0] >= 20  # the second waited for the first's load
    assert min(abs(asked[("gong", "/v2/users")] - t) for t in justcall) < 20  # Gong's ran beside one of them


def _serving(url: str) -> bool:
    try:
        return "repositoriesOrError" in str(graphql(url, "{ repositoriesOrError { __typename } }"))
    except (requests.ConnectionError, ValueError, KeyError):
        return False
