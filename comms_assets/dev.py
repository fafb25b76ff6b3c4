"""The Dagster UI on the sandbox, offline like the demo: ``python -m comms_assets.dev`` (``make dev``).

Starts the sandbox (the demo's 30 days), points the project at it and runs ``dg dev`` on
127.0.0.1 until interrupted, with a local instance in ``DAGSTER_HOME`` or ``.dagster_home`` (a copy
of ``deploy/local/dagster.yaml``) and the demo's warehouse. It refuses to start while a real API's
credentials are set: the sandbox never stands in for them. ``--real-apis`` (``make ui``): the same
UI and instance on the real APIs, with your credentials.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from comms_assets.catalog import APIS
from comms_assets.defs.resources import secret
from comms_assets.engine.warehouse import duckdb_path
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import today

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".dagster_home"


def real_credentials() -> list[str]:
    """The API credentials set here, in the environment or in ``.dlt/secrets.toml``."""
    names = [name for api in APIS.values() for names in api.credentials for name in names]
    return [name for name in dict.fromkeys(names) if secret(name)]


def instance_home() -> Path:
    """``DAGSTER_HOME``, else ``.dagster_home``, with the local instance's settings (kept once
    copied: they are yours to edit)."""
    home = Path(os.environ.get("DAGSTER_HOME") or HOME)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="the UI's port on 127.0.0.1")
    parser.add_argument("--days", type=int, default=30, help="days of history in the sandbox")
    parser.add_argument("--real-apis", action="store_true", help="no sandbox: the APIs your credentials name")
    args = parser.parse_args(argv)
    if args.real_apis:
        return serve(dict(os.environ), args.port)
    if real := real_credentials():
        print(f"comms_assets.dev: {', '.join(real)} set: the sandbox would not be used for those APIs. "
              "`make ui` runs the UI against the real APIs; unset them for the sandbox.", file=sys.stderr)
        return 2
    with Sandbox(world=World(start=today() - timedelta(days=args.days)), rate_limit_scale=20.0) as sandbox:
        print(f"sandbox on {sandbox.url}; the UI on http://127.0.0.1:{args.port} (Ctrl-C stops both)", flush=True)
        return serve({**os.environ, **sandbox.env(), "DESTINATION__DUCKDB__CREDENTIALS": str(duckdb_path())}, args.port)


def serve(env: dict[str, str], port: int) -> int:
    """``dg dev`` on 127.0.0.1:``port`` with ``env`` and the local instance, until interrupted."""
    env = {**env, "DAGSTER_HOME": str(instance_home()), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    ui = subprocess.Popen([str(Path(sys.executable).with_name("dg")), "dev", "--host", "127.0.0.1",
                           "--port", str(port)], env=env, cwd=REPO)
    try:
        return ui.wait()
    except KeyboardInterrupt:
        ui.terminate()
        return ui.wait()


if __name__ == "__main__":
    sys.exit(main())
