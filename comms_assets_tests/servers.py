"""PostgreSQL and Redis for the production-profile tests: real servers on 127.0.0.1.

``TEST_POSTGRES_URL`` (a superuser's URL, e.g. ``postgresql://postgres:pw@127.0.0.1:5432/postgres``)
and ``TEST_REDIS_URL`` point the tests at servers of one's own. Without them, the first test that
asks for a server (``required``) starts a throw-away one from the machine's binaries (Debian's
``postgresql`` and ``redis-server``) in the session's directory, once for all pytest-xdist workers
(under a file lock), and the session stops it at its end; a run that selects no such test starts
none. As root, PostgreSQL runs as the ``postgres`` user, since it refuses to run as root. A server
that cannot be had fails the tests that need it, saying how to provide it: they never skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
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


SESSION = "TEST_SERVERS_DIR"  # the session's directory, shared by its xdist workers (not COMMS_: tests clear those)


@dataclass
class Servers:
    """The servers this session started (and must stop), recorded in the session's directory."""

    root: Path

    def url(self, variable: str) -> str:
        """The server's URL, starting it the first time any worker asks (a file lock between them)."""
        with open(self.root / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            known, failed = self.root / f"{variable}.url", self.root / f"{variable}.error"
            if known.exists():
                return known.read_text()
            if failed.exists():
                raise ServerUnavailable(failed.read_text())
            try:
                url = {POSTGRES_URL: self._postgres, REDIS_URL: self._redis}[variable]()
            except (ServerUnavailable, subprocess.CalledProcessError, OSError) as exc:
                failed.write_text(f"{variable} is not set and no server could be started: {exc}")
                raise ServerUnavailable(failed.read_text()) from None
            known.write_text(url)
            return url

    def stop(self) -> None:
        if (self.root / "postgres" / "PG_VERSION").exists():
            subprocess.run(self._as_postgres([_postgres_bin("pg_ctl"), "-D", str(self.root / "postgres"), "-m", "fast",
                                              "-w", "stop"]), check=False, capture_output=True, timeout=60)
        if (pid := self.root / "redis.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.read_text()), signal.SIGTERM)
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
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"

    def _redis(self) -> str:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServerUnavailable(f"redis-server was not found: `apt-get install redis-server` or set {REDIS_URL}")
        port = free_port()
        process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                    "--appendonly", "no", "--dir", str(self.root)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        (self.root / "redis.pid").write_text(str(process.pid))  # outlives this worker: the session stops it
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
    """The server's URL: one's own, or the session's (started now if no test has needed it yet);
    a failure that says why there is none, never a skip."""
    if url := os.environ.get(variable):
        return url
    return Servers(Path(os.environ[SESSION])).url(variable)
