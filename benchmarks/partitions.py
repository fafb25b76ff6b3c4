"""One day against the whole history: what a daily partition run costs next to a full backfill.

``python benchmarks/partitions.py [--days 365]`` starts a sandbox holding ``--days`` of history at
the demo's daily density, then materializes the nine date-cursor assets through Dagster
(in-process) into fresh DuckDB files: for the last day; as each API's daily schedule does at
02:00 (yesterday and the days still settling, a run per API), twice (the second time RingCentral
asks its change feed with the token the first run kept); and for the whole history as one
partition-range run. It prints wall time, requests and rows of each, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from comms_assets.catalog import APIS
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today

DATED = [dg.AssetKey([api.name, e.name]) for api in APIS.values() for e in api.endpoints if e.partitioned]


def run(sandbox: Sandbox, first: str, last: str, warehouse: str) -> tuple[float, int, int]:
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = warehouse
    from comms_assets.definitions import build_definitions

    job = build_definitions().resolve_implicit_global_asset_job_def()
    sandbox.log.clear()
    started = time.perf_counter()
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = job.execute_in_process(asset_selection=DATED, tags=tags, instance=dg.DagsterInstance.ephemeral())
    elapsed = time.perf_counter() - started
    assert result.success
    with duckdb.connect(warehouse, read_only=True) as con:
        rows = sum(con.execute(f'select count(*) from "{k.path[0]}"."{k.path[1]}"').fetchone()[0] for k in DATED)
    return elapsed, len(sandbox.requests()), rows


def scheduled(sandbox: Sandbox, warehouse: str) -> tuple[float, int, int]:
    """Each API's scheduled daily run: its daily job over the days its schedule asks for now."""
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = warehouse
    from comms_assets.definitions import build_definitions
    from comms_assets.defs.automation import settling_days

    defs = build_definitions()
    sandbox.log.clear()
    started = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        for api in APIS.values():
            if any(e.partitioned for e in api.endpoints):
                first, last = settling_days(api, datetime.now(UTC))
                tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
                assert defs.resolve_job_def(f"{api.name}_daily_job").execute_in_process(instance=instance,
                                                                                        tags=tags).success
    elapsed = time.perf_counter() - started
    with duckdb.connect(warehouse, read_only=True) as con:
        rows = sum(con.execute(f'select count(*) from "{k.path[0]}"."{k.path[1]}"').fetchone()[0] for k in DATED)
    return elapsed, len(sandbox.requests()), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    end = today()
    world = World(scale=args.days / 30, start=end - timedelta(days=args.days), end=end)
    last = end - timedelta(days=1)
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(sandbox.env())
        day = run(sandbox, f"{last:%Y-%m-%d}", f"{last:%Y-%m-%d}", f"{tmp}/day.duckdb")
        settling = scheduled(sandbox, f"{tmp}/settling.duckdb")
        again = scheduled(sandbox, f"{tmp}/settling.duckdb")  # RingCentral's change feed has a token now
        full = run(sandbox, f"{world.start:%Y-%m-%d}", f"{last:%Y-%m-%d}", f"{tmp}/full.duckdb")
    print(f"{'':<22}{'seconds':>9}{'requests':>10}{'rows':>10}")
    print(f"{'one day':<22}{day[0]:>9.1f}{day[1]:>10,}{day[2]:>10,}")
    print(f"{'scheduled (settling)':<22}{settling[0]:>9.1f}{settling[1]:>10,}{settling[2]:>10,}")
    print(f"{'scheduled again':<22}{again[0]:>9.1f}{again[1]:>10,}{again[2]:>10,}")
    print(f"{f'full ({args.days} days)':<22}{full[0]:>9.1f}{full[1]:>10,}{full[2]:>10,}")
    print(f"one day / full: time 1/{full[0] / day[0]:.0f}, requests 1/{full[1] / day[1]:.0f}, "
          f"rows 1/{full[2] / max(day[2], 1):.0f}")
    print(f"scheduled with settling windows / one day: requests {settling[1] / day[1]:.2f}x, "
          f"time {settling[0] / day[0]:.2f}x")


if __name__ == "__main__":
    main()
