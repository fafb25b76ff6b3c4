"""One day of all 35 endpoints in one run, three ways, on the same sandbox data:

    python benchmarks/production.py [--scale 1.0] [--repeat 1]

* ``in-process DuckDB``: the default profile (every step in the run's process);
* ``multiprocess PostgreSQL``: ``COMMS_DESTINATION=postgres`` on the production instance
  (``deploy/dagster.yaml``), a process per step;
* ``Celery, 2 workers``: the same with ``COMMS_EXECUTOR=celery``, two ``dagster-celery`` workers of
  concurrency 1 over Redis, ready before the timed run starts.

Each figure is the wall time of ``dagster asset materialize --select '*' --partition <day>``,
CLI start-up included, with the sandbox's rate limits off. PostgreSQL and Redis are started on
127.0.0.1 as the tests start them (or taken from ``TEST_POSTGRES_URL``/``TEST_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from comms_assets.demo import MATERIALIZE
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today
from comms_assets_tests.servers import POSTGRES_URL, REDIS_URL, SESSION, Servers, new_database, required

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(env: dict[str, str], day: str) -> float:
    started = time.monotonic()
    done = subprocess.run([*MATERIALIZE, "--select", "*", "--partition", day], env=env, capture_output=True,
                          text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - started


def production_env(base: dict[str, str], root: Path, server: str) -> dict[str, str]:
    home = Path(tempfile.mkdtemp(dir=root))
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return {**base, "DAGSTER_HOME": str(home), "COMMS_DESTINATION": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": new_database(server, "bench"),
            "DAGSTER_POSTGRES_URL": new_database(server, "bench").replace("postgresql://", "postgresql+psycopg2://")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="sandbox size multiplier")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (the fastest is printed)")
    args = parser.parse_args()
    servers = Servers(Path(tempfile.mkdtemp(prefix="comms-servers-")))
    os.environ[SESSION] = str(servers.root)
    root = Path(tempfile.mkdtemp(prefix="comms-bench-"))
    workers: list[subprocess.Popen] = []
    try:
        server, broker = required(POSTGRES_URL), required(REDIS_URL)
        world = World(scale=args.scale, start=today() - timedelta(days=1), end=today())
        day = f"{world.start:%Y-%m-%d}"
        with Sandbox(world=world, rate_limit_scale=0) as sandbox:
            base = {**os.environ, **sandbox.env(), "PATH": f"{BIN}:{os.environ['PATH']}"}
            celery = {**production_env(base, root, server), "COMMS_EXECUTOR": "celery",
                      "COMMS_CELERY_BROKER": broker, "COMMS_CELERY_BACKEND": broker}
            logs = [root / f"worker-{name}.log" for name in ("one", "two")]
            for log in logs:
                workers.append(subprocess.Popen(
                    [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y",
                     str(REPO / "deploy" / "celery.yaml"), "-n", f"{log.stem}@%h", "--", "--concurrency=1"],
                    env=celery, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
            deadline = time.monotonic() + 120
            while not all(" ready." in log.read_text() for log in logs):
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise SystemExit(f"the Celery workers did not start: {logs[0].read_text()[-2000:]}")
                time.sleep(0.5)
            cases = {
                "in-process DuckDB": lambda: {**base, "DESTINATION__DUCKDB__CREDENTIALS": str(
                    Path(tempfile.mkdtemp(dir=root)) / "bench.duckdb")},
                "multiprocess PostgreSQL": lambda: production_env(base, root, server),
                "Celery, 2 workers": lambda: {**celery,
                                              "DESTINATION__POSTGRES__CREDENTIALS": new_database(server, "bench")},
            }
            print(f"one day ({day}) of all 35 endpoints, {sum(sandbox.counts().values()):,} sandbox records "
                  f"in all collections, scale {args.scale}")
            for name, env in cases.items():
                seconds = min(timed(env(), day) for _ in range(args.repeat))
                print(f"{name:<26} {seconds:6.1f} s")
    finally:
        for worker in workers:  # with the `celery` process each started
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
