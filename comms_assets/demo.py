"""The main job, offline: start the sandbox, materialize every asset with the Dagster CLI, summarise.

``python -m comms_assets.demo`` (what ``make demo`` runs). Snapshot endpoints (with the models built
from them alone) load in one run while the date-cursor endpoints load the sandbox's whole history
in a partition-range run beside it; the daily models follow over that range, and the marts that
read them last. A cross-API summary of the last day ends it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import duckdb

from comms_assets.catalog import APIS
from comms_assets.engine.layer import MANIFEST, models, prepare, read_manifest, selection
from comms_assets.engine.warehouse import duckdb_path
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today

EVENT = re.compile(r" - (?P<step>[\w]+)"
                   r" - (?P<event>STEP_START|ASSET_MATERIALIZATION|STEP_FAILURE|ASSET_CHECK_EVALUATION)"
                   r" - (?P<text>.*)")


MATERIALIZE = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions"]


def keys(apis: list[str], partitioned: bool) -> str:
    """Comma-separated asset keys of these APIs' partitioned or unpartitioned endpoints."""
    return ",".join(f"{name}/{e.name}" for name in apis for e in APIS[name].endpoints if e.partitioned == partitioned)


def manifest() -> dict:
    """The dbt manifest, prepared first on a checkout that has none (dbt and Dagster load only then)."""
    if not MANIFEST.exists():
        prepare()
    return read_manifest()


@dataclass
class Run:
    """One ``dagster asset materialize``: its arguments, and the runs that must have finished first."""

    args: list[str]
    after: tuple[int, ...] = ()


def runs(world: World, per_group: bool = False) -> list[Run]:
    """The runs that load everything the sandbox holds, then the models.

    The main job: the snapshots with the models built from them alone, beside the whole history of
    the dated endpoints (a ``--partition-range`` takes only partitioned assets); then the daily
    models over that range, and last the marts that read both (views, quick). Per group (CI): each
    API alone, its dated endpoints for the last day and for the last three days, one run at a time;
    the models follow in the same way.
    """
    last = world.end - timedelta(days=1)
    span = f"{last - timedelta(days=2) if per_group else world.start:%Y-%m-%d}...{last:%Y-%m-%d}"
    layer = models(manifest())
    modelled, views = selection(layer.snapshots), selection(layer.views)
    daily_layer = ["--select", selection(layer.daily), "--partition-range", span]
    if not per_group:
        return [Run(["--select", f"{keys(list(APIS), partitioned=False)},{modelled}"]),
                Run(["--select", keys(list(APIS), partitioned=True), "--partition-range", span]),
                Run(daily_layer, after=(1,)),
                Run(["--select", views], after=(0, 2))]
    out = []
    for name in APIS:
        if snapshots := keys([name], partitioned=False):
            out.append(["--select", snapshots])
        if daily := keys([name], partitioned=True):
            out += [["--select", daily, "--partition", f"{last:%Y-%m-%d}"],
                    ["--select", daily, "--partition-range", span]]
    out += [["--select", modelled], daily_layer, ["--select", views]]
    return [Run(args, after=(n - 1,) if n else ()) for n, args in enumerate(out)]


class Running:
    """A started run: its process, and the thread that reports its steps as they go."""

    def __init__(self, run: Run, env: dict[str, str], started: float) -> None:
        self.process = subprocess.Popen([*MATERIALIZE, *run.args], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._report, args=(started,))
        self.reader.start()

    @property
    def done(self) -> bool:
        return not self.reader.is_alive()

    def _report(self, started: float) -> None:
        """A line per step, asset and failed check."""
        assert self.process.stdout is not None
        seen: set[str] = set()  # a partition range materializes each asset once per day: say it once
        for line in self.process.stdout:
            match = EVENT.search(line)
            if not match:
                if "Error" in line or "Failure" in line:
                    print(f"          {line.rstrip()}", flush=True)
                continue
            step, event, text = match["step"], match["event"], match["text"]
            stamp = f"[{time.monotonic() - started:5.0f}s]"
            if event == "STEP_START":
                print(f"{stamp} {step}: started", flush=True)
            elif event == "ASSET_MATERIALIZATION" and text not in seen:
                seen.add(text)
                print(f"{stamp} {step}: {text.removeprefix('Materialized value ').rstrip('.')} loaded", flush=True)
            elif event == "STEP_FAILURE" or "failed" in text:
                print(f"{stamp} {step}: FAILED {text}", flush=True)


def materialize(plan: list[Run], env: dict[str, str], started: float) -> bool:
    """Every run of ``plan``, each as soon as it may start; True when every one succeeded."""
    running: dict[int, Running] = {}
    while len(running) < len(plan) or not all(r.done for r in running.values()):
        for n, run in enumerate(plan):
            if n not in running and _may_start(run, running):
                running[n] = Running(run, env, started)
        time.sleep(0.1)
    codes = [r.process.wait() for r in running.values()]
    return all(code == 0 for code in codes)


def _may_start(run: Run, running: dict[int, Running]) -> bool:
    return all(n in running and running[n].done for n in run.after)


def summary(path: str) -> list[tuple[str, str, int]]:
    rows = []
    with duckdb.connect(path, read_only=True) as con:
        for api in APIS.values():
            for endpoint in api.endpoints:
                try:
                    count = con.execute(f'select count(*) from "{api.name}"."{endpoint.name}"').fetchone()[0]
                except duckdb.CatalogException:
                    count = 0
                rows.append((api.name, endpoint.name, count))
    return rows


def across(path: str, day: str) -> list[str]:
    """The unified layer's answer to "who talked to customers on ``day``, on which system"."""
    with duckdb.connect(path, read_only=True) as con:
        people = con.execute(
            "select coalesce(person_name, person_email), calls_in + calls_out, gong_calls, talk_s / 60, texts "
            "from comms.person_daily_activity where day = ? order by 2 desc, 1 limit 5", [day]).fetchall()
        sources = con.execute("select source, count(*), count(person_email) from comms.calls where day = ? "
                              "group by source order by source", [day]).fetchall()
        [(everyone, in_all)] = con.execute("select count(*), count(case when systems = 3 then 1 end) "
                                           "from comms.people").fetchall()
        [(customers, matched)] = con.execute("select count(*), count(matched_on) from comms.contacts").fetchall()
    lines = [f"\nacross the APIs on {day} (comms.calls, comms.person_daily_activity):",
             "  calls: " + ", ".join(f"{source} {n:,} ({named:,} with a person)" for source, n, named in sources),
             f"  people: {everyone} ({in_all} in JustCall, Gong and LACRM alike)",
             f"  customers: {customers} ({matched} matched across JustCall and LACRM)",
             f"  {'busiest people':<28} {'calls':>6} {'of them Gong':>12} {'talk min':>9} {'texts':>6}"]
    lines += [f"  {name:<28} {calls:>6} {gong:>12} {minutes:>9.0f} {texts:>6}" for name, calls, gong, minutes,
              texts in people]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="sandbox size multiplier")
    parser.add_argument("--days", type=int, default=30, help="days of history in the sandbox")
    parser.add_argument("--rate-limit-scale", type=float, default=20.0,
                        help="multiply the APIs' published rate limits (1 = as published, 0 = off)")
    parser.add_argument("--per-group", action="store_true",
                        help="one run per API group, partitioned assets for the last day and the last 3 days (CI)")
    args = parser.parse_args(argv)
    world = World(scale=args.scale, start=today() - timedelta(days=args.days))
    try:
        warehouse = str(duckdb_path())
    except ValueError as refused:
        print(f"comms_assets.demo: {refused}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with Sandbox(world=world, rate_limit_scale=args.rate_limit_scale) as sandbox:
        print(f"sandbox on {sandbox.url}: {world.start:%Y-%m-%d}..{world.end:%Y-%m-%d}, scale {args.scale}")
        env = {**os.environ, **sandbox.env(), "DESTINATION__DUCKDB__CREDENTIALS": warehouse}
        ok = materialize(runs(world, args.per_group), env, started)  # every run, even after a failure
    rows = summary(warehouse)
    print(f"\n{'api':<12} {'endpoint':<30} {'rows':>8}")
    for api, endpoint, count in rows:
        print(f"{api:<12} {endpoint:<30} {count:>8,}")
    total = sum(count for *_, count in rows)
    print(f"{'total':<43} {total:>8,}\n{len(rows)} endpoints into {warehouse} in {time.monotonic() - started:.0f}s"
          f"{'' if ok else ' — WITH FAILURES (see above)'}")
    if ok:
        print("\n".join(across(warehouse, f"{world.end - timedelta(days=1):%Y-%m-%d}")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
