"""The HTTP server that mounts the five simulated APIs, plus its control endpoints.

Control endpoints (under ``/_sandbox``) let a test steer a running sandbox:

* ``GET /_sandbox/requests`` – the request log; ``DELETE`` clears it;
* ``GET /_sandbox/faults`` – faults in force; ``POST`` adds one (JSON, see ``Fault``); ``DELETE`` clears;
* ``GET /_sandbox/counts`` – how many records each endpoint holds.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import orjson

from comms_assets.sandbox.apis import API_CLASSES
from comms_assets.sandbox.data import World
from comms_assets.sandbox.faults import Fault, FaultBoard, RateLimiter
from comms_assets.sandbox.protocol import Account, Api, ApiError, Reply, Request

SECRET_FIELDS = {"client_secret", "assertion", "password", "refresh_token"}

DEFAULT_CREDENTIALS: dict[str, str] = {
    "JUSTCALL_API_KEY": "sandbox-justcall-key",
    "JUSTCALL_API_SECRET": "sandbox-justcall-secret",
    "RINGCENTRAL_CLIENT_ID": "sandbox-ringcentral-client",
    "RINGCENTRAL_CLIENT_SECRET": "sandbox-ringcentral-secret",
    "RINGCENTRAL_JWT": "sandbox.ringcentral.jwt",
    "GONG_ACCESS_KEY": "sandbox-gong-key",
    "GONG_ACCESS_KEY_SECRET": "sandbox-gong-secret",
    "SENDPULSE_CLIENT_ID": "sandbox-sendpulse-client",
    "SENDPULSE_CLIENT_SECRET": "sandbox-sendpulse-secret",
    "LACRM_API_KEY": "sandbox-lacrm-key",
}

# Where each API's connector base URL points inside the sandbox (its real base path).
BASE_PATHS: dict[str, str] = {
    "justcall": "/justcall",
    "ringcentral": "/ringcentral/restapi/v1.0",
    "gong": "/gong/v2",
    "sendpulse": "/sendpulse",
    "lacrm": "/lacrm/v2/",
}


class Sandbox:
    """All five APIs on one local port; usable as a context manager or a long-running server."""

    def __init__(
        self,
        port: int = 0,
        world: World | None = None,
        rate_limit_scale: float = 1.0,
        rate_time_scale: float = 1.0,
        credentials: dict[str, str] | None = None,
        token_ttl: int = 3600,
        log_size: int = 200_000,
        accounts: dict[str, list[Account]] | None = None,
    ) -> None:
        """``accounts`` gives an API several accounts, or one unlike the default (UTC, real ids):
        each serves the same world on its own clock, to its own credentials, in its own budget."""
        self.world = world or World()
        self.credentials = {**DEFAULT_CREDENTIALS, **(credentials or {})}
        self.faults = FaultBoard()
        self.limiter = RateLimiter(rate_limit_scale, rate_time_scale)
        self.accounts: dict[str, list[Api]] = {
            cls.name: [cls(self.world, self.credentials, token_ttl=token_ttl, account=account)
                       for account in (accounts or {}).get(cls.name) or [Account()]]
            for cls in API_CLASSES
        }
        self.apis: dict[str, Api] = {name: served[0] for name, served in self.accounts.items()}
        for served in self.accounts.values():
            for api in served:
                api.time_scale = rate_time_scale
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=log_size)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Every variable the project reads, pointing it at this sandbox, pacing it to the
        sandbox's limits (scaled as they are here; a scale of 0 switches pacing off) and telling
        it each API's clock (its first account's)."""
        out = {}
        for api, path in BASE_PATHS.items():
            out[f"SOURCES__{api.upper()}__BASE_URL"] = self.url + path
            out[f"SOURCES__{api.upper()}__RATE_SCALE"] = f"{self.limiter.scale:g}"
            out[f"SOURCES__{api.upper()}__RATE_TIME_SCALE"] = f"{self.limiter.time_scale:g}"
            out[f"SOURCES__{api.upper()}__TIMEZONE"] = self.apis[api].account.timezone
        return {**out, **{key: value for api in self.apis.values() for key, value in api.credentials.items()
                          if key.startswith(api.name.upper() + "_")}}

    def credentials_of(self, api: str, account: int) -> dict[str, str]:
        """The credentials of one account of an API, as the project reads them."""
        served = self.accounts[api][account]
        return {key: value for key, value in served.credentials.items() if key.startswith(api.upper() + "_")}

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self, api: str | None = None) -> list[dict[str, Any]]:
        return [r for r in list(self.log) if api is None or r["api"] == api]

    def inject(self, **spec: Any) -> Fault:
        return self.faults.add(**spec)

    def counts(self) -> dict[str, int]:
        return {f"{name}/{k}": v for name, api in self.apis.items() for k, v in api.record_count().items()}

    # -- one request -------------------------------------------------------------------------

    def serve(self, method: str, target: str, headers: Any, body: bytes, host: str) -> tuple[Reply, Fault | None]:
        parts = urlsplit(target)
        mount, _, rest = parts.path.lstrip("/").partition("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if mount == "_sandbox":
            return self._control(method, rest, body), None
        served = self.accounts.get(mount)
        if served is None:
            return Reply(404, {"error": f"no API mounted at /{mount}"}), None
        request = Request(method, "/" + rest if rest else "", query, headers, body, f"http://{host}/{mount}")
        request.account = next((i for i, api in enumerate(served) if len(served) > 1 and api.owns(request)), 0)
        api = served[request.account]
        fault = self.faults.take(api.name, request.path)
        entry: dict[str, Any] = {"api": api.name, "account": request.account, "method": method,
                                 "path": request.path, "query": query, "body": _loggable(body), "time": time.time(),
                                 "groups": [limit.group for limit in api.limits_for(request)]}
        self.log.append(entry)
        if fault and fault.kind == "expire_token":
            api.revoke_tokens()
        request.shift = fault.rows if fault and fault.kind == "shift" else 0
        request.cursor_expired = bool(fault and fault.kind == "expire_cursor")
        request.late = fault.rows if fault and fault.kind == "late" else 0
        reply = self._answer(api, request)
        if fault and fault.kind in ("rename", "retype") and reply.status == 200:
            reply.body = fault.reshape(orjson.loads(reply.payload()))
        if fault and fault.kind == "echo":
            reply = api.error(ApiError(fault.status, f"Rejected Authorization: {headers.get('Authorization')}"))
        if fault and fault.kind == "status":
            reply = api.error(ApiError(fault.status, "Simulated failure"))
            if fault.status == 429 and fault.retry_after is not None:
                reply.headers["Retry-After"] = str(fault.retry_after)
        entry["status"] = reply.status
        return reply, fault

    def _answer(self, api: Api, request: Request) -> Reply:
        try:
            headers: dict[str, str] = {}
            for limit in api.limits_for(request):
                allowed, remaining, reset = self.limiter.hit(f"{api.name}#{request.account}", limit.group,
                                                             limit.calls, limit.seconds)
                headers.update(api.rate_limit_headers(limit, remaining, reset))
                if not allowed:
                    reply = api.error(ApiError(429, "Rate limit exceeded"))
                    reply.headers.update(headers)
                    if api.retry_after:
                        reply.headers["Retry-After"] = str(max(1, math.ceil(reset)))
                    return reply
            reply = api.handle(request)
            reply.headers.update(headers)
            return reply
        except ApiError as error:
            return api.error(error)
        except Exception:  # noqa: BLE001 -- a bug in a handler must never take the server down
            traceback.print_exc()
            return api.error(ApiError(500, "Internal server error"))

    def _control(self, method: str, what: str, body: bytes) -> Reply:
        try:
            if what == "requests":
                if method == "DELETE":
                    self.log.clear()
                return Reply(200, list(self.log))
            if what == "faults":
                if method == "POST":
                    return Reply(201, self.faults.add(**orjson.loads(body)).__dict__)
                if method == "DELETE":
                    self.faults.clear()
                return Reply(200, self.faults.describe())
            if what == "counts":
                return Reply(200, self.counts())
        except (TypeError, ValueError) as error:
            return Reply(400, {"error": str(error)})
        return Reply(404, {"error": f"unknown control endpoint /_sandbox/{what}"})


def _loggable(body: bytes) -> Any:
    """The request body for the log, with secrets (token requests) blanked out."""
    if not body:
        return None
    try:
        data = orjson.loads(body)
    except ValueError:
        data = dict(parse_qsl(body.decode(errors="replace")))
    if isinstance(data, dict):
        return {k: "***" if k in SECRET_FIELDS else v for k, v in data.items()}
    return data


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply, fault = sandbox.serve(self.command, self.path, self.headers, body, self.headers.get("Host", ""))
            payload = reply.payload()
            if fault and fault.kind in ("slow", "timeout"):
                time.sleep(fault.delay)
                if fault.kind == "timeout":
                    self.close_connection = True
                    return
            if fault and fault.kind == "malformed":
                reply.status, payload = 200, payload[: max(1, len(payload) // 2)] + b"<html>"
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if fault and fault.kind == "cut":
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log is the record
            pass

    return Handler
