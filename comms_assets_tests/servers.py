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
import secrets
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
# A second PostgreSQL that takes TLS connections only (``hostssl``), its certificate signed by a
# throw-away CA: the URL asks for ``sslmode=verify-full`` with that CA as ``sslrootcert``.
POSTGRES_TLS_URL = "TEST_POSTGRES_TLS_URL"
REDIS_URL = "TEST_REDIS_URL"
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
                url = {POSTGRES_URL: self._postgres, POSTGRES_TLS_URL: self._postgres_tls,
                       REDIS_URL: self._redis}[variable]()
            except (ServerUnavailable, subprocess.CalledProcessError, OSError) as exc:
                failed.write_text(f"{variable} is not set and no server could be started: {exc}")
                raise ServerUnavailable(failed.read_text()) from None
            known.write_text(url)
            return url

    def stop(self) -> None:
        for data in (self.root / "postgres", self.root / "postgres-tls" / "data"):
            if (data / "PG_VERSION").exists():
                subprocess.run(self._as_postgres([_postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                                  "stop"]), check=False, capture_output=True, timeout=60)
        if (pid := self.root / "redis.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.read_text()), signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)

    def _postgres(self) -> str:
        data = self.root / "postgres"
        port, password = self._start_postgres(data)
        return f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"

    def _postgres_tls(self) -> str:
        """TLS only: ``hostssl`` the one rule for TCP, a server certificate for 127.0.0.1."""
        root = self.root / "postgres-tls"
        root.mkdir()
        certificates(root, "ca", "server")
        port, password = self._start_postgres(
            root / "data", hba="local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
            options=f"-c ssl=on -c ssl_cert_file={root / 'server.crt'} -c ssl_key_file={root / 'server.key'}",
            owned=(root / "server.crt", root / "server.key"))
        return (f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
                f"?sslmode=verify-full&sslrootcert={root / 'ca.crt'}")

    def _start_postgres(self, data: Path, hba: str | None = None, options: str = "",
                        owned: tuple[Path, ...] = ()) -> tuple[int, str]:
        """A throw-away cluster at ``data`` on a free loopback port, its one login's password random."""
        data.mkdir()
        password = secrets.token_urlsafe(18)
        secret = data.parent / f"{data.name}.pw"
        secret.write_text(password)
        secret.chmod(0o600)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.root, data.parent, data, secret, *owned):
                os.chown(path, user.pw_uid, user.pw_gid)
        port = free_port()
        subprocess.run(self._as_postgres([_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                                          "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
                                          f"--pwfile={secret}"]), check=True, capture_output=True)
        secret.unlink()
        if hba is not None:
            (data / "pg_hba.conf").write_text(hba)
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data} "
                   f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 {options}")
        subprocess.run(self._as_postgres([_postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l",
                                          str(data / "server.log"), "-w", "-t", str(START_TIMEOUT_S), "start"]),
                       check=True, capture_output=True)
        return port, password

    def _redis(self) -> str:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServerUnavailable(f"redis-server was not found: `apt-get install redis-server` or set {REDIS_URL}")
        port = free_port()
        password = secrets.token_urlsafe(18)
        config = self.root / "redis.conf"  # the password in a private file, not on the command line
        config.write_text(f"requirepass {password}\n")
        config.chmod(0o600)
        process = subprocess.Popen([binary, str(config), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                    "--appendonly", "no", "--dir", str(self.root)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        (self.root / "redis.pid").write_text(str(process.pid))  # outlives this worker: the session stops it
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"redis://:{password}@127.0.0.1:{port}/0"
            except OSError:
                time.sleep(0.1)
        raise ServerUnavailable(f"redis-server did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")

    @staticmethod
    def _as_postgres(command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def certificates(folder: Path, authority: str, server: str | None = None) -> None:
    """A self-signed CA (``<authority>.crt``) and, if named, a server certificate it signs for
    127.0.0.1 and localhost (``<server>.crt``/``.key``, the key private), made with openssl."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={authority}",
            "-keyout", f"{authority}.key", "-out", f"{authority}.crt")
    if server:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", f"{server}.key",
                "-out", f"{server}.csr")
        (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", f"{server}.csr", "-CA", f"{authority}.crt", "-CAkey", f"{authority}.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{server}.crt")
        (folder / f"{server}.key").chmod(0o600)


def new_database(server: str, prefix: str = "comms") -> str:
    """A new, empty database on the PostgreSQL server at ``server``: its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(server)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"create database {name}")
    connection.close()
    base, _, query = server.partition("?")  # a TLS server's URL keeps its sslmode and sslrootcert
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def required(variable: str) -> str:
    """The server's URL: one's own, or the session's (started now if no test has needed it yet);
    a failure that says why there is none, never a skip."""
    if url := os.environ.get(variable):
        return url
    return Servers(Path(os.environ[SESSION])).url(variable)
