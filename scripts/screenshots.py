"""Screenshots of the Dagster UI for the README: the asset graph and one materialized asset.

``python scripts/screenshots.py`` (needs Debian's ``chromium``): starts the sandbox, materializes
JustCall into a throw-away instance and warehouse, starts the webserver on 127.0.0.1 and lets
headless Chromium photograph two pages into ``docs/``. Everything it starts, it stops.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

from comms_assets.demo import MATERIALIZE
from comms_assets.sandbox import Sandbox
from comms_assets.sandbox.data import today

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = {"asset-graph.png": "/asset-groups",
         "asset-justcall-calls.png": "/assets/justcall/calls"}
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--window-size=1600,1000", "--virtual-time-budget=20000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as home, Sandbox(rate_limit_scale=0) as sandbox:
        env = {**os.environ, **sandbox.env(), "DAGSTER_HOME": home,
               "DESTINATION__DUCKDB__CREDENTIALS": f"{home}/warehouse.duckdb"}
        last = today() - timedelta(days=1)
        subprocess.run([*MATERIALIZE, "--select", "justcall/users,justcall/contacts,justcall/phone_numbers"], env=env,
                       check=True, capture_output=True)
        subprocess.run([*MATERIALIZE, "--select", "justcall/calls,justcall/sms,justcall/agent_analytics", "--partition-range",
                        f"{last - timedelta(days=6):%Y-%m-%d}...{last:%Y-%m-%d}"], env=env, check=True,
                       capture_output=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-m", "comms_assets.definitions",
                                   "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not _up(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("the webserver did not start")
                time.sleep(1)
            # The first visit shows a newsletter dialog; mark it seen, as its "Skip" button would.
            requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=30)
            for name, path in PAGES.items():
                with tempfile.TemporaryDirectory() as profile:
                    subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", f"--screenshot={DOCS / name}",
                                    f"http://127.0.0.1:{port}{path}"], check=True, capture_output=True, timeout=120)
                print(f"wrote {DOCS / name}")
        finally:
            server.terminate()
            server.wait(timeout=30)


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
    except requests.ConnectionError:
        return False


if __name__ == "__main__":
    main()
