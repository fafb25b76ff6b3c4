"""Loads under the vendors' published limits: how close the pacing comes to each limit, refused.

    python benchmarks/limits.py                 # every API, ~40 s each
    python benchmarks/limits.py --seconds 120   # longer runs, closer to a real backfill

Per API, the sandbox enforces the published limits with its windows made ``time scale`` times
shorter (a minute of JustCall's burst window lasts 10 s at 6), and the connector, pointed at it,
paces itself to the same limits: the lines the sandbox prints set both. One endpoint per API is
loaded through this project's dlt source into DuckDB, sized to take ``--seconds`` at the limit.
Printed per API: requests, 429s received, the request rate achieved ÷ the binding limit, and the
time from first to last request ÷ the least time the limits allow for that many requests (the
first window's calls may go at once, then one window's worth per window).

LACRM is not paced here: see ``CASES``. Then LACRM's requests for pipeline items and contact events on
a 50,000-contact account, by the bulk calls (counted) and one call per contact per endpoint (two per
contact: the former way).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta

import dlt
import requests
from load import SandboxProcess

from comms_assets.catalog import APIS
from comms_assets.engine.limits import PACE
from comms_assets.engine.sources import LoadStats, build_source
from comms_assets.sandbox.data import today

# api -> (endpoint, sandbox collection, rows per request, time scale)
CASES = {
    "justcall": ("contacts", "justcall/contacts", 500, 6.0),
    "ringcentral": ("user_call_records", "ringcentral/call_log", 1000, 12.0),
    "gong": ("calls", "gong/calls", 100, 1.0),
    "sendpulse": ("campaigns", "sendpulse/campaigns", 100, 1.0),
}
# LACRM is not among them: its (assumed) 120 a minute binds only one-call-per-contact patterns; a
# 50,000-contact account is now a dozen requests of 10,000 records, far from any limit.
DAYS = 30


def binding(api_name: str, endpoint: str, scale: float) -> tuple[float, list[tuple[int, float]]]:
    """The rate (requests/s) of the shortest window of the endpoint's group, the one that binds a
    run of seconds (Gong's daily cap binds only a day), and all its windows, time-scaled."""
    api = APIS[api_name]
    rates = api.budget.plans[api.budget.plan][api.endpoint(endpoint).rate_group]
    windows = [(rate.calls, rate.seconds / scale) for rate in rates]
    calls, seconds = min(windows, key=lambda window: window[1])
    return calls / seconds, windows


def least_time(requests_sent: int, windows: list[tuple[int, float]]) -> float:
    """The least time from first to last of ``requests_sent`` requests that the windows allow:
    request ``k`` may go at ``k // calls`` windows after the first."""
    return max((requests_sent - 1) // calls * seconds for calls, seconds in windows)


def run(api_name: str, seconds: float, work: str) -> dict:
    endpoint, collection, per_request, scale = CASES[api_name]
    rate, windows = binding(api_name, endpoint, scale)
    rows = int(rate * seconds * per_request)
    with SandboxProcess("--count", f"{collection}={rows}", "--rate-limit-scale", "1", "--rate-time-scale",
                        str(scale)) as sandbox:
        os.environ.update(sandbox.env)
        sandbox.clear()
        api = APIS[api_name]
        credentials = {name: sandbox.env[name] for name in api.credentials[0]}
        pipeline = dlt.pipeline(f"limits_{api_name}",
                                destination=dlt.destinations.duckdb(f"{work}/limits_{api_name}.duckdb"),
                                dataset_name=api_name, pipelines_dir=f"{work}/pipelines")
        end = today()
        source = build_source(api, credentials, (end - timedelta(days=DAYS), end), LoadStats(), log=print)
        started = time.monotonic()
        pipeline.run(source.with_resources(endpoint), loader_file_format="parquet")
        wall = time.monotonic() - started
        log = [r for r in requests.get(f"{sandbox.control}/requests", timeout=60).json() if "/oauth/" not in r["path"]]
    sent = len(log)
    span = log[-1]["time"] - log[0]["time"] if sent > 1 else 0.0
    least = least_time(sent, windows)
    return {"api": api_name, "requests": sent, "429s": sum(r["status"] == 429 for r in log),
            "achieved": (sent - 1) / span / rate if span else 0.0, "ratio": span / least if least else 0.0,
            "span": span, "least": least, "wall": wall, "limit": rate, "scale": scale}


def lacrm_bulk(contacts: int, work: str) -> int:
    """Requests for LACRM's pipeline items and contact events, bulk, on ``contacts`` contacts."""
    with SandboxProcess("--count", f"lacrm/contacts={contacts}", "--rate-limit-scale", "0") as sandbox:
        os.environ.update(sandbox.env)
        stats = LoadStats()
        api = APIS["lacrm"]
        pipeline = dlt.pipeline("limits_lacrm_bulk", destination=dlt.destinations.duckdb(f"{work}/bulk.duckdb"),
                                dataset_name="lacrm", pipelines_dir=f"{work}/pipelines")
        source = build_source(api, {"LACRM_API_KEY": sandbox.env["LACRM_API_KEY"]}, stats=stats)
        pipeline.run(source.with_resources("pipeline_items", "contact_events"), loader_file_format="parquet")
    return stats.requests["pipeline_items"] + stats.requests["contact_events"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="time at the limit per API")
    parser.add_argument("--apis", nargs="*", default=list(CASES))
    parser.add_argument("--contacts", type=int, default=50_000, help="LACRM account size for the request count")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        print(f"pacing at {PACE:.0%} of each window; windows time-scaled as shown\n")
        print(f"{'api':<12} {'scale':>5} {'limit/s':>8} {'requests':>8} {'429s':>5} {'rate÷limit':>10} "
              f"{'span s':>7} {'least s':>7} {'span÷least':>10} {'load s':>7}")
        for name in args.apis:
            r = run(name, args.seconds, work)
            print(f"{r['api']:<12} {r['scale']:>5g} {r['limit']:>8.2f} {r['requests']:>8} {r['429s']:>5} "
                  f"{r['achieved']:>10.2f} {r['span']:>7.1f} {r['least']:>7.1f} {r['ratio']:>10.2f} {r['wall']:>7.1f}",
                  flush=True)
        bulk = lacrm_bulk(args.contacts, work)
        print(f"\nLACRM, {args.contacts:,} contacts: pipeline items + contact events in {bulk} requests "
              f"(one per contact per endpoint: {2 * args.contacts:,})")


if __name__ == "__main__":
    sys.exit(main())
