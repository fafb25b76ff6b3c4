"""Load speed and memory: our path next to plain dlt and the HTTP limit, in one run on one sandbox.

    python benchmarks/load.py --rows 200000            # the largest endpoint (JustCall calls)
    python benchmarks/load.py --rows 200000 --all 1000000 --days 365

Cases, each in its own process (peak RSS is that process tree's), against the same sandbox data,
served from records the sandbox has already serialized (an untimed first pass), so that the
server costs each case as little as possible:

* ``http``: the HTTP limit: a plain ``requests`` loop fetching and parsing every page;
* ``http-fetch``: the same loop without parsing: what ``requests`` alone costs;
* ``dlt``: plain dlt ``rest_api_source`` with the seed-equivalent configuration (merge on ``id``,
  DuckDB, dlt's default loader file format); on ``--anchor-rows`` rows, since it needs ~40 KB of
  memory per row;
* ``dlt-parquet``: the same with ``loader_file_format="parquet"``;
* ``ours-dlt``: this project's source and pipeline settings, as a plain dlt run;
* ``ours-dagster``: this project through ``dagster asset materialize`` (CLI start-up included);
* with ``--all N``: all 35 endpoints through the CLI at ~N rows in total, and at N/10 (memory must
  stay flat); with ``--days D``: one day against D days of history (``benchmarks/partitions.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Self

import requests

from comms_assets.demo import MATERIALIZE, runs
from comms_assets.sandbox import World
from comms_assets.sandbox.data import BASE_COUNTS, today

if TYPE_CHECKING:
    import dlt

HERE = Path(__file__).resolve()
DAYS = 30


# -- the cases, run in a child process ----------------------------------------------------------

def case_http(url: str, auth: str, rows: int, work: str, parse: bool = True) -> int:
    """Every page with a bare ``requests`` loop, which reads each body; and parses it, unless not
    to ``parse`` (then the rows are those asked for, and the sandbox counts the pages served)."""
    session, seen = requests.Session(), 0
    for page in range(math.ceil(rows / 100)):
        response = session.get(f"{url}/v2.1/calls", params={"page": page, "per_page": 100},
                               headers={"Authorization": auth})
        if parse:
            seen += len(response.json()["data"])
    return seen if parse else rows


def seed_source(url: str, auth: str):
    """The JustCall seed as it should have been written: plain dlt, nothing of ours."""
    from dlt.sources.rest_api import rest_api_source

    return rest_api_source({
        "client": {"base_url": url, "auth": {"type": "api_key", "name": "Authorization", "api_key": auth}},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [{"name": "calls", "endpoint": {
            "path": "v2.1/calls", "data_selector": "data", "params": {"per_page": 100},
            "paginator": {"type": "page_number", "base_page": 0, "page_param": "page", "total_path": None}}}],
    })


def case_dlt(url: str, auth: str, rows: int, work: str, file_format: str | None = None) -> dlt.Pipeline:
    import dlt

    pipeline = dlt.pipeline("bench_plain", destination=dlt.destinations.duckdb(f"{work}/plain.duckdb"),
                            dataset_name="justcall", pipelines_dir=f"{work}/pipelines")
    pipeline.run(seed_source(url, auth), **({"loader_file_format": file_format} if file_format else {}))
    return pipeline


def case_ours_dlt(url: str, auth: str, rows: int, work: str) -> dlt.Pipeline:
    os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = f"{work}/ours.duckdb"
    from comms_assets.catalog import APIS
    from comms_assets.engine.sources import build_source
    from comms_assets.engine.warehouse import LOADER_FILE_FORMAT, pipeline

    key, secret = auth.split(":")
    window = (today() - timedelta(days=DAYS), today())
    source = build_source(APIS["justcall"], {"JUSTCALL_API_KEY": key, "JUSTCALL_API_SECRET": secret}, window)
    dlt_pipeline = pipeline("bench", "justcall")
    dlt_pipeline.run(source.with_resources("calls"), loader_file_format=LOADER_FILE_FORMAT)
    return dlt_pipeline


CASES = {"http": case_http, "http-fetch": lambda *a: case_http(*a, parse=False), "dlt": case_dlt,
         "dlt-parquet": lambda *a: case_dlt(*a, file_format="parquet"), "ours-dlt": case_ours_dlt}


def child(name: str, url: str, auth: str, rows: int, work: str) -> None:
    """Print the case's seconds and rows, and for a dlt pipeline the seconds of each of its steps."""
    started = time.perf_counter()
    result = CASES[name](url, auth, rows, work)
    seconds = time.perf_counter() - started
    if isinstance(result, int):
        print(json.dumps({"seconds": seconds, "rows": result}))
        return
    trace = result.last_trace
    steps = {step.step: (step.finished_at - step.started_at).total_seconds()
             for step in trace.steps if step.step in ("extract", "normalize", "load")}
    print(json.dumps({"seconds": seconds, "rows": trace.last_normalize_info.row_counts["calls"], "steps": steps}))


# -- the parent: sandboxes, processes, measurements ---------------------------------------------

def measure(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in MB of the process tree, stdout) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[:6]} failed:\n{out[-2000:]}")
    return time.perf_counter() - started, usage.ru_maxrss // 1024, out


class SandboxProcess:
    """The sandbox in a process of its own, so that no measured process starts as a copy of it
    (a forked child counts the parent's pages in its peak RSS) and it has a core to itself."""

    def __init__(self, *args: str) -> None:
        self.args = args

    def __enter__(self) -> Self:
        self.dir = tempfile.TemporaryDirectory()
        env_file = Path(self.dir.name) / "sandbox.env"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "comms_assets.sandbox", "--port", "0", "--rate-limit-scale", "0",
             "--days", str(DAYS), "--seconds", "3600", "--env-file", str(env_file), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not env_file.exists() or not env_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.1)
        self.env = dict(line.split("=", 1) for line in env_file.read_text().split())
        self.control = self.env["SOURCES__JUSTCALL__BASE_URL"].rsplit("/", 1)[0] + "/_sandbox"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.dir.cleanup()

    def clear(self) -> None:
        requests.delete(f"{self.control}/requests", timeout=60)

    def requests(self) -> int:
        return len(requests.get(f"{self.control}/requests", timeout=60).json())

    def rows(self) -> int:
        return sum(requests.get(f"{self.control}/counts", timeout=60).json().values())


def run_case(name: str, sandbox: SandboxProcess, rows: int, work: str) -> dict:
    env = {**os.environ, **sandbox.env}
    auth = f"{env['JUSTCALL_API_KEY']}:{env['JUSTCALL_API_SECRET']}"
    sandbox.clear()
    if name == "ours-dagster":
        env["DESTINATION__DUCKDB__CREDENTIALS"] = f"{work}/dagster.duckdb"
        last = today() - timedelta(days=1)
        command = [*MATERIALIZE, "--select", "justcall/calls", "--partition-range",
                   f"{today() - timedelta(days=DAYS):%Y-%m-%d}...{last:%Y-%m-%d}"]
        seconds, rss, _ = measure(command, env)
        loaded, steps = rows, {}
    else:
        command = [sys.executable, str(HERE), "--child", name, "--url", env["SOURCES__JUSTCALL__BASE_URL"],
                   "--auth", auth, "--rows", str(rows), "--work", work]
        _, rss, out = measure(command, env)
        result = json.loads(out.strip().splitlines()[-1])
        seconds, loaded = result["seconds"], result["rows"]
        steps = result.get("steps", {})
    return {"case": name, "rows": loaded, "seconds": seconds, "rss": rss, "requests": sandbox.requests(),
            "steps": steps}


def all_endpoints(total: int, work: str) -> dict:
    """All 35 endpoints through the CLI (the runs of ``make demo``, one after another) at ~``total`` rows."""
    scale = total / sum(BASE_COUNTS.values())
    world = World(scale=scale, start=today() - timedelta(days=DAYS))
    with SandboxProcess("--scale", str(scale)) as sandbox:
        env = {**os.environ, **sandbox.env, "DESTINATION__DUCKDB__CREDENTIALS": f"{work}/all-{total}.duckdb"}
        started = time.perf_counter()
        peak = 0
        for run in runs(world):
            _, rss, _ = measure([*MATERIALIZE, *run.args], env)
            peak = max(peak, rss)
        seconds = time.perf_counter() - started
        return {"case": f"all 35 (~{total:,})", "rows": sandbox.rows(), "seconds": seconds, "rss": peak,
                "requests": sandbox.requests()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows of JustCall calls")
    parser.add_argument("--anchor-rows", type=int, default=50_000, help="rows for plain dlt with its defaults")
    parser.add_argument("--all", type=int, default=0, help="also load all 35 endpoints at ~this many rows")
    parser.add_argument("--days", type=int, default=0, help="also time one day against this many days")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--auth", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.url, args.auth, args.rows, args.work)

    results = []
    with tempfile.TemporaryDirectory() as work:
        for rows, names in ((min(args.anchor_rows, args.rows), ["dlt"]),
                            (args.rows, ["http", "http-fetch", "dlt-parquet", "ours-dlt", "ours-dagster"])):
            with SandboxProcess("--count", f"justcall/calls={rows}") as sandbox:
                run_case("http", sandbox, rows, work)  # warm-up: the sandbox serializes each record once
                results.extend(run_case(name, sandbox, rows, work) for name in names)
        if args.all:
            results.append(all_endpoints(args.all // 10, work))
            results.append(all_endpoints(args.all, work))
    report(results, args.rows)
    if args.days:
        subprocess.run([sys.executable, str(HERE.parent / "partitions.py"), "--days", str(args.days)], check=True)


def report(results: list[dict], rows: int) -> None:
    http = next(r for r in results if r["case"] == "http")
    parquet = next(r for r in results if r["case"] == "dlt-parquet")
    print(f"\nJustCall calls: {rows:,} rows, 100 per page ({math.ceil(rows / 100):,} pages); 2-core machine\n")
    print(f"{'case':<22}{'rows':>10}{'seconds':>9}{'rows/s':>9}{'x HTTP':>8}{'x dlt-pq':>9}{'peak MB':>9}"
          f"{'requests':>10}")
    for r in results:
        rate = r["rows"] / r["seconds"]
        print(f"{r['case']:<22}{r['rows']:>10,}{r['seconds']:>9.1f}{rate:>9,.0f}"
              f"{rate / (http['rows'] / http['seconds']):>8.2f}{rate / (parquet['rows'] / parquet['seconds']):>9.2f}"
              f"{r['rss']:>9,}{r['requests']:>10,}")
    print("\nseconds per dlt step:")
    for r in results:
        if r.get("steps"):
            print(f"  {r['case']:<20}" + ", ".join(f"{step} {s:.1f}" for step, s in r["steps"].items()))


if __name__ == "__main__":
    main()
