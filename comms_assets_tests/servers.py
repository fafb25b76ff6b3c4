"""PostgreSQL and Redis for the production-profile tests: real servers on 127.0.0.1.

``TEST_POSTGRES_URL`` (a superuser's URL, e.g. ``postgresql://postgres:pw@127.0.0.1:5432/postgres``)
and ``TEST_REDIS_URL`` point the tests at servers of one's own. Without them, the test session
starts throw-away ones from the machine's binaries (Debian's ``postgresql`` and ``redis-server``)
in a temporary directory and stops them at its end; as root, PostgreSQL runs as the ``postgres``
user, since it refuses to run as root. A server that cannot be had fails the tests that need it,
saying how to provide it: they never skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

POSTGRES_URL = "TEST_POSTGRES_URL"
REDIS_URL = "TEST_REDIS_URL"
PASSWORD = "comms-test"  # a throw-away server's only login, on loopback
START_TIMEOUT_S = 60


class ServerUnavailable(RuntimeError):
    """A server the tests need is neither configured nor startable here."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise ServerUnavailable(f"PostgreSQL's {name} was not found: `apt-get install postgresql` "
                                f"(what `make test` does as root) or set {POSTGRES_URL}")
    return found


@dataclass
class Servers:
    """The servers this session started (and must stop), and the settings it exported."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="comms-servers-")))
    processes: list[subprocess.Popen] = field(default_factory=list)
    postgres_data: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        for variable, starter in ((POSTGRES_URL, self._postgres), (REDIS_URL, self._redis)):
            if os.environ.get(variable):
                continue
            try:
                os.environ[variable] = starter()
            except (ServerUnavailable, subprocess.CalledProcessError, OSError) as exc:
                self.errors[variable] = str(exc)

    def stop(self) -> None:
        if self.postgres_data is not None:
            subprocess.run(self._as_postgres([_postgres_bin("pg_ctl"), "-D", str(self.postgres_data), "-m", "fast",
                                              "-w", "stop"]), check=False, capture_output=True, timeout=60)
        for process in self.processes:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def _postgres(self) -> str:
        data = self.root / "postgres"
        data.mkdir()
        (self.root / "pw").write_text(PASSWORD)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.root, data, self.root / "pw"):
                os.chown(path, user.pw_uid, user.pw_gid)
        port = free_port()
        subprocess.run(self._as_postgres([_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                                          "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
                                          f"--pwfile={self.root / 'pw'}"]), check=True, capture_output=True)
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        subprocess.run(self._as_postgres([_postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l",
                                          str(data / "server.log"), "-w", "-t", str(START_TIMEOUT_S), "start"]),
                       check=True, capture_output=True)
        self.postgres_data = data
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"

    def _redis(self) -> str:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServerUnavailable(f"redis-server was not found: `apt-get install redis-server` or set {REDIS_URL}")
        port = free_port()
        process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                    "--appendonly", "no", "--dir", str(self.root)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"redis://127.0.0.1:{port}/0"
            except OSError:
                time.sleep(0.1)
        raise ServerUnavailable(f"redis-server did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")

    @staticmethod
    def _as_postgres(command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def new_database(server: str, prefix: str = "comms") -> str:
    """A new, empty database on the PostgreSQL server at ``server``: its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(server)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"create database {name}")
    connection.close()
    return server.rsplit("/", 1)[0] + f"/{name}"


def required(variable: str) -> str:
    """The server's URL, or a failure that says why there is none (never a skip)."""
    if url := os.environ.get(variable):
        return url
    reason = os.environ.get(f"{variable}_ERROR", "not started")
    raise ServerUnavailable(f"{variable} is not set and no server could be started: {reason}")
