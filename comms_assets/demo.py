"""The main job, offline: start the sandbox, materialize every asset with the Dagster CLI, summarise.

``python -m comms_assets.demo`` (what ``make demo`` runs). Snapshot endpoints (with the models built
from them alone) load in one run while the date-cursor endpoints load the sandbox's whole history
in a partition-range run beside it; then the daily models are built over that range, and a
cross-API summary of the last day is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta

import duckdb

from comms_assets.catalog import APIS
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today
from comms_assets.unified import GROUP, manifest, models
from comms_assets.warehouse import duckdb_path

EVENT = re.compile(r" - (?P<step>[\w]+) - (?P<event>STEP_START|ASSET_MATERIALIZATION|STEP_FAILURE|ASSET_CHECK_EVALUATION)"
                   r" - (?P<text>.*)")


MATERIALIZE = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "comms_assets.definitions"]


def keys(apis: list[str], partitioned: bool) -> str:
    """Comma-separated asset keys of these APIs' partitioned or unpartitioned endpoints."""
    return ",".join(f"{name}/{e.name}" for name in apis for e in APIS[name].endpoints if e.partitioned == partitioned)


def runs(world: World, per_group: bool = False) -> list[list[list[str]]]:
    """The CLI arguments of each run that loads everything the sandbox holds, then the models,
    in stages whose runs go at once (they take the warehouse's lock in turn, and overlap the rest).

    The main job: the snapshots with the models built from them alone, beside the whole history of
    the dated endpoints (a ``--partition-range`` takes only partitioned assets); then the daily
    models over that range. Per group (CI): each API alone, its dated endpoints for the last day
    and for the last three days, one run at a time; the models follow in the same way.
    """
    last = world.end - timedelta(days=1)
    span = f"{last - timedelta(days=2) if per_group else world.start:%Y-%m-%d}...{last:%Y-%m-%d}"
    daily_models, other_models = models(manifest())
    modelled = ",".join(f"{GROUP}/{name}" for name in other_models)
    if not per_group:
        return [[["--select", f"{keys(list(APIS), partitioned=False)},{modelled}"],
                 ["--select", keys(list(APIS), partitioned=True), "--partition-range", span]],
                [["--select", ",".join(f"{GROUP}/{name}" for name in daily_models), "--partition-range", span]]]
    out = []
    for name in APIS:
        if snapshots := keys([name], partitioned=False):
            out.append(["--select", snapshots])
        if daily := keys([name], partitioned=True):
            out += [["--select", daily, "--partition", f"{last:%Y-%m-%d}"],
                    ["--select", daily, "--partition-range", span]]
    out += [["--select", modelled],
            ["--select", ",".join(f"{GROUP}/{name}" for name in daily_models), "--partition-range", span]]
    return [[run] for run in out]


def materialize(stage: list[list[str]], env: dict[str, str], started: float) -> bool:
    """The stage's ``dagster asset materialize`` runs at once, printing a line per step, asset and
    failed check; True when every run succeeded."""
    processes = [subprocess.Popen([*MATERIALIZE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for args in stage]
    readers = [threading.Thread(target=_report, args=(process, started)) for process in processes]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    codes = [process.wait() for process in processes]
    return all(code == 0 for code in codes)


def _report(process: subprocess.Popen[str], started: float) -> None:
    assert process.stdout is not None
    seen: set[str] = set()  # a partition range materializes each asset once per window: say it once
    for line in process.stdout:
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
    lines += [f"  {name:<28} {calls:>6} {gong:>12} {minutes:>9.0f} {texts:>6}" for name, calls, gong, minutes, texts in people]
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
        results = [materialize(stage, env, started) for stage in runs(world, args.per_group)]  # all, even after a failure
        ok = all(results)
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
