"""The dbt layer's cost on DuckDB, after the raw tables of a sandbox history are loaded:

    python benchmarks/unified.py [--days 30 365] [--scale 1.0]

For each history, times each ``dagster asset materialize`` through the CLI (start-up included) and
its dbt step: the models of the snapshots (``people``, ``contacts`` and their staging), every day
as one partition-range run (a backfill), the marts over the days (views), then one day of the
daily models (what a daily schedule's load leads to: a day costs a day, whatever the history).
Prints the rows the marts hold and one day's time at each history against the shortest. The raw
load before each is not timed.
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
from comms_assets.engine.layer import models, read_manifest, selection
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today

READ = ["justcall", "ringcentral", "gong", "lacrm"]
STEP = re.compile(r'Finished execution of step "(comms_\w+)" in (?:(\d+)m)?([\d.]+)(m?s)')


def run(env: dict[str, str], *args: str) -> tuple[float, float]:
    """(wall seconds, seconds of the dbt step)."""
    started = time.monotonic()
    done = subprocess.run([*MATERIALIZE, *args], env=env, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    step = sum(60 * int(minutes or 0) + float(n) / (1000 if unit == "ms" else 1)
               for _, minutes, n, unit in STEP.findall(done.stdout + done.stderr))
    return time.monotonic() - started, step


def history(days: int, scale: float) -> tuple[dict[str, int], list[tuple[str, tuple[float, float]]]]:
    """Load ``days`` of sandbox history, then build the layer: (rows per mart, timed runs)."""
    layer = models(read_manifest())
    world = World(scale=scale * days / 30, start=today() - timedelta(days=days))  # as busy a day, however long
    first, last = f"{world.start:%Y-%m-%d}", f"{world.end - timedelta(days=1):%Y-%m-%d}"
    with tempfile.TemporaryDirectory() as tmp, Sandbox(world=world, rate_limit_scale=0) as sandbox:
        warehouse = str(Path(tmp) / "bench.duckdb")
        env = {**os.environ, **sandbox.env(), "DESTINATION__DUCKDB__CREDENTIALS": warehouse,
               "DAGSTER_HOME": tmp, "COMMS_PROGRESS_EVERY_S": "3600"}
        run(env, "--select", keys(READ, partitioned=False))
        run(env, "--select", keys(READ, partitioned=True), "--partition-range", f"{first}...{last}")
        daily_keys = selection(layer.daily)
        figures = [
            ("snapshot models", run(env, "--select", selection(layer.snapshots))),
            (f"{days} days as one range run", run(env, "--select", daily_keys, "--partition-range",
                                                  f"{first}...{last}")),
            ("marts over the days", run(env, "--select", selection(layer.views))),
            ("one day", run(env, "--select", daily_keys, "--partition", last)),
        ]
        with duckdb.connect(warehouse, read_only=True) as con:
            rows = {mart: con.execute(f"select count(*) from comms.{mart}").fetchone()[0]
                    for mart in ("calls", "messages", "people", "contacts", "person_daily_activity")}
    return rows, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, nargs="+", default=[30, 365], help="days of sandbox history, each")
    parser.add_argument("--scale", type=float, default=1.0, help="rows per day, as a multiple of the sandbox's")
    args = parser.parse_args()
    one_day: dict[int, tuple[float, float]] = {}
    for days in args.days:
        rows, figures = history(days, args.scale)
        one_day[days] = dict(figures)["one day"]
        print(f"\nsandbox: {days} days at scale {args.scale}; the marts hold "
              + ", ".join(f"{mart} {n:,}" for mart, n in rows.items()))
        print(f"{'run':<28} {'wall s':>8} {'dbt step s':>11}")
        for name, (wall, step) in figures:
            print(f"{name:<28} {wall:>8.1f} {step:>11.1f}")
    shortest = min(one_day)
    for days, (wall, step) in sorted(one_day.items()):
        print(f"one day with {days} days loaded: {wall:.1f} s wall, {step:.1f} s dbt step; "
              f"{wall / one_day[shortest][0]:.2f}x and {step / one_day[shortest][1]:.2f}x those with {shortest} days")


if __name__ == "__main__":
    main()
