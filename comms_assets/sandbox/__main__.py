"""``python -m comms_assets.sandbox``: serve the five APIs and print the environment to use them."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from datetime import UTC, date, datetime, timedelta

from comms_assets.sandbox.data import World, today
from comms_assets.sandbox.faults import FAULT_KINDS
from comms_assets.sandbox.server import Sandbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m comms_assets.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--seed", type=int, default=42, help="data seed: the same seed serves the same bytes")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every collection's size")
    parser.add_argument("--count", action="append", default=[], metavar="API/COLLECTION=N",
                        help="exact size of one collection, e.g. justcall/calls=200000")
    parser.add_argument("--days", type=int, default=30, help="days of history, ending at --end")
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day + 1 (default: today)")
    parser.add_argument("--rate-limit-scale", type=float, default=1.0,
                        help="multiply the published rate limits (0 switches them off)")
    parser.add_argument("--rate-time-scale", type=float, default=1.0,
                        help="make every rate-limit window this many times shorter (100: an hour in 36 s)")
    parser.add_argument("--token-ttl", type=int, default=3600, help="lifetime of OAuth access tokens, seconds")
    parser.add_argument("--fault", action="append", default=[], metavar="API:KIND[:COUNT[:ENDPOINT]]",
                        help=f"inject a fault at start; KIND is one of {', '.join(FAULT_KINDS)}")
    parser.add_argument("--env-file", help="also write the environment as a .env file here")
    parser.add_argument("--seconds", type=float, default=None, help="stop by itself after this many seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    end = datetime.combine(args.end, datetime.min.time(), UTC) if args.end else today()
    counts = {name: int(n) for name, _, n in (c.partition("=") for c in args.count)}
    world = World(seed=args.seed, scale=args.scale, start=end - timedelta(days=args.days), end=end, counts=counts)
    sandbox = Sandbox(port=args.port, world=world, rate_limit_scale=args.rate_limit_scale,
                      rate_time_scale=args.rate_time_scale, token_ttl=args.token_ttl)
    for spec in args.fault:
        api, kind, *rest = spec.split(":")
        sandbox.inject(api=api, kind=kind, count=int(rest[0]) if rest else 1, endpoint=rest[1] if len(rest) > 1 else "")
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sandbox.env().items()]
    print("\n".join(lines), flush=True)
    if args.env_file:
        with open(args.env_file, "w") as env_file:
            env_file.write("\n".join(line.removeprefix("export ") for line in lines) + "\n")
    print(f"# sandbox serving {world.start:%Y-%m-%d}..{world.end:%Y-%m-%d} on {sandbox.url}", file=sys.stderr,
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sandbox.start()
    try:
        stop.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
