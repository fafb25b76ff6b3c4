"""How fast the sandbox serves pages, next to what a client spends parsing them.

``python benchmarks/sandbox_speed.py [--pages 300]`` prints milliseconds per 100-record page of
JustCall calls: building the page in the server, the whole HTTP round trip, and ``response.json()``.
"""

from __future__ import annotations

import argparse
import time

import requests

from comms_assets.sandbox import Sandbox, World


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()
    world = World(counts={"justcall/calls": args.pages * 100})
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        env = sandbox.env()
        headers = {"Authorization": f"{env['JUSTCALL_API_KEY']}:{env['JUSTCALL_API_SECRET']}", "Host": "bench"}
        started = time.perf_counter()
        for page in range(args.pages):
            sandbox.serve("GET", f"/justcall/v2.1/calls?per_page=100&page={page}", headers, b"", "bench")
        serve = (time.perf_counter() - started) / args.pages
        session = requests.Session()
        url = env["SOURCES__JUSTCALL__BASE_URL"] + "/v2.1/calls"
        bodies, started = [], time.perf_counter()
        for page in range(args.pages):
            bodies.append(session.get(url, params={"per_page": 100, "page": page}, headers=headers))
        round_trip = (time.perf_counter() - started) / args.pages
        started = time.perf_counter()
        for response in bodies:
            response.json()
        parse = (time.perf_counter() - started) / args.pages
    print(f"per 100-record page: serve {serve * 1000:.2f} ms, HTTP round trip {round_trip * 1000:.2f} ms, "
          f"client .json() {parse * 1000:.2f} ms; serve/parse = {serve / parse:.2f}")


if __name__ == "__main__":
    main()
