"""Where the main job's time goes: CLI start-ups, definitions loads, loads, checks and dbt.

``python benchmarks/main_job.py [--days 30] [--rate-limit-scale 20]`` starts the demo's sandbox
and runs the demo's ``dagster asset materialize`` runs one after another (the demo overlaps
them), each into the same fresh DuckDB file, then splits their time by what the CLI
reports: each step's own duration (from ``STEP_SUCCESS``), and the rest of each run's wall time
(the CLI's start-up: Python, the definitions, the instance; and the run's own bookkeeping). One
definitions load is timed alone, and the number of commits of each range step is counted.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

from comms_assets.demo import MATERIALIZE, runs
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today

STEP = re.compile(r' - (?P<step>\w+) - STEP_SUCCESS - Finished execution of step "\w+" '
                  r'in (?P<took>[\d.]+)(?P<unit>ms|s|m)')
COMMITTED = re.compile(r" - (?P<step>\w+) - \w+: (?P<done>\d+) of (?P<days>\d+) days committed")
UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0}


def kind(step: str) -> str:
    if step.startswith("comms_"):
        return "dbt"
    if step.startswith("freshness_check"):
        return "freshness checks"
    return "loads (with their key, drift and volume checks)"


def definitions_load() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import comms_assets.definitions"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate-limit-scale", type=float, default=20.0)
    args = parser.parse_args()
    world = World(start=today() - timedelta(days=args.days))
    split: collections.Counter[str] = collections.Counter()
    commits: dict[str, int] = {}
    started_all = time.perf_counter()
    with Sandbox(world=world, rate_limit_scale=args.rate_limit_scale) as sandbox, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **sandbox.env(), "DESTINATION__DUCKDB__CREDENTIALS": f"{tmp}/warehouse.duckdb"}
        for run in runs(world):
            started = time.perf_counter()
            done = subprocess.run([*MATERIALIZE, *run.args], env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            steps = 0.0
            for match in STEP.finditer(done.stdout + done.stderr):
                took = float(match["took"]) * UNIT[match["unit"]]
                split[kind(match["step"])] += took
                steps += took
            for match in COMMITTED.finditer(done.stdout + done.stderr):
                commits[match["step"]] = commits.get(match["step"], 0) + 1
            split["CLI start-ups and run bookkeeping"] += wall - steps
            split["runs"] += 1
    total = time.perf_counter() - started_all
    runs_made = split.pop("runs")
    print(f"main job, {args.days} days, rate limits x{args.rate_limit_scale:g}: {runs_made} runs one after another")
    for what, seconds in split.most_common():
        print(f"  {what:<52}{seconds:>7.1f} s")
    print(f"  {'total (the sandbox included)':<52}{total:>7.1f} s")
    print(f"  one definitions load alone (python -c 'import comms_assets.definitions'): {definitions_load():.1f} s")
    for step, count in sorted(commits.items()):
        print(f"  {step}: {args.days} days in {count} commit(s)")


if __name__ == "__main__":
    main()
