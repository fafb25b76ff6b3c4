"""The dbt layer's cost on DuckDB, after the raw tables of a sandbox history are loaded:

    python benchmarks/unified.py [--days 90] [--scale 3.0]

Times, each a ``dagster asset materialize`` through the CLI (start-up included) and the dbt
step's own duration: the whole models (``people``, ``contacts`` and their staging), every day of
the history as one partition-range run (a backfill), then one day (what a daily schedule's load
leads to). Prints the rows the marts hold. The raw load before it is not timed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb

from comms_assets.demo import MATERIALIZE, keys
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today
from comms_assets.unified import GROUP, manifest, models

READ = ["justcall", "ringcentral", "gong", "lacrm"]
STEP = re.compile(r'Finished execution of step "(comms_\w+)" in ([\d.]+)(m?s)')


def run(env: dict[str, str], *args: str) -> tuple[float, float]:
    """(wall seconds, seconds of the dbt step)."""
    started = time.monotonic()
    done = subprocess.run([*MATERIALIZE, *args], env=env, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    step = sum(float(n) / (1000 if unit == "ms" else 1) for _, n, unit in STEP.findall(done.stdout + done.stderr))
    return time.monotonic() - started, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90, help="days of sandbox history")
    parser.add_argument("--scale", type=float, default=3.0, help="sandbox size multiplier")
    args = parser.parse_args()
    daily, whole = models(manifest())
    world = World(scale=args.scale, start=today() - timedelta(days=args.days))
    first, last = f"{world.start:%Y-%m-%d}", f"{world.end - timedelta(days=1):%Y-%m-%d}"
    with tempfile.TemporaryDirectory() as tmp, Sandbox(world=world, rate_limit_scale=0) as sandbox:
        warehouse = str(Path(tmp) / "bench.duckdb")
        env = {**os.environ, **sandbox.env(), "DESTINATION__DUCKDB__CREDENTIALS": warehouse,
               "DAGSTER_HOME": tmp, "COMMS_PROGRESS_EVERY_S": "3600"}
        run(env, "--select", keys(READ, partitioned=False))
        run(env, "--select", keys(READ, partitioned=True), "--partition-range", f"{first}...{last}")
        daily_keys = ",".join(f"{GROUP}/{name}" for name in daily)
        figures = [
            ("whole models", run(env, "--select", ",".join(f"{GROUP}/{name}" for name in whole))),
            (f"{args.days} days as one range run", run(env, "--select", daily_keys, "--partition-range",
                                                       f"{first}...{last}")),
            ("one day", run(env, "--select", daily_keys, "--partition", last)),
        ]
        with duckdb.connect(warehouse, read_only=True) as con:
            rows = {mart: con.execute(f"select count(*) from comms.{mart}").fetchone()[0]
                    for mart in ("calls", "messages", "people", "contacts", "person_daily_activity")}
    print(f"sandbox: {args.days} days at scale {args.scale}; the marts hold "
          + ", ".join(f"{mart} {n:,}" for mart, n in rows.items()))
    print(f"{'run':<28} {'wall s':>8} {'dbt step s':>11}")
    for name, (wall, step) in figures:
        print(f"{name:<28} {wall:>8.1f} {step:>11.1f}")


if __name__ == "__main__":
    main()
