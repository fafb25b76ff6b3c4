"""The small vocabulary every simulated API speaks: requests, replies and paging helpers."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from comms_assets.sandbox.data import World


@dataclass
class Request:
    """One HTTP request, with the path already stripped of the ``/<api>`` mount."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str  # absolute URL of the API's mount, for links the API returns
    shift: int = 0  # set by a "shift" fault: pages start this many records early
    cursor_expired: bool = False  # set by an "expire_cursor" fault
    late: int = 0  # set by a "late" fault: the page's last records have not arrived yet
    account: int = 0  # which of the API's accounts the request was served by

    def json(self) -> Any:
        """The JSON body; raises ``ValueError`` when it is not JSON."""
        return orjson.loads(self.body) if self.body else None

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""

    def basic_auth(self) -> tuple[str, str] | None:
        """``(user, password)`` from an ``Authorization: Basic`` header, if well formed."""
        scheme, _, value = self.header("Authorization").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return (user, password) if sep else None

    def bearer(self) -> str:
        scheme, _, token = self.header("Authorization").partition(" ")
        return token if scheme.lower() == "bearer" else ""

    def int_param(self, name: str, default: int) -> int:
        try:
            return int(self.query.get(name, default))
        except ValueError:
            raise ApiError(400, f"'{name}' must be an integer") from None


@dataclass
class Reply:
    """What a handler answers; ``body`` is JSON-encoded unless it is already bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return orjson.dumps(self.body)


class ApiError(Exception):
    """A request the API refuses; each API renders it in its own error body."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


Route = Callable[[Request], Reply]


@dataclass(frozen=True)
class Limit:
    """A fixed-window rate limit: ``calls`` per ``seconds``, counted per API and route group."""

    group: str
    calls: int
    seconds: int


class Rendered:
    """Records serialized once and kept, so serving a page again costs a lookup per record.

    A record is a pure function of its collection and index, so its bytes never go stale. The
    first read of a large collection builds each record (~10 us); later reads (the cases of a
    benchmark, reruns) cost the client far more than the server. At most ``limit`` are kept.
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self._bytes: dict[tuple[str, int], orjson.Fragment] = {}

    def __call__(self, collection: str, index: int, build: Callable[[int], dict]) -> orjson.Fragment:
        key = (collection, index)
        if (fragment := self._bytes.get(key)) is None:
            if len(self._bytes) >= self.limit:
                self._bytes.clear()
            # A copy: the buffer ``orjson.dumps`` returns keeps ~8 KB reserved, whatever its length.
            fragment = self._bytes[key] = orjson.Fragment(memoryview(orjson.dumps(build(index))).tobytes())
        return fragment


@dataclass(frozen=True)
class Account:
    """What varies between real accounts of one API, each a knob a test turns.

    ``timezone`` is the account's clock: what JustCall's ``from_datetime``/``to_datetime`` and
    ``*_user_*`` fields, Gong's offsets and call dates, SendPulse's zoneless dates and LACRM's due
    dates are on. ``real_ids``: RingCentral's links carry the account's and extension's numeric
    ids, as the real API's do, instead of the ``~`` they were asked with. ``credentials`` replace
    the sandbox's defaults for this account (a second account of one API needs its own).
    """

    timezone: str = "UTC"
    real_ids: bool = True
    credentials: Mapping[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)


class Api:
    """Base of the five simulated APIs: routing, auth and error rendering hooks."""

    name: str = ""
    limits: tuple[Limit, ...] = ()

    def __init__(self, world: World, credentials: Mapping[str, str], token_ttl: int = 3600,
                 account: Account = Account()) -> None:
        self.world = world
        self.credentials = {**credentials, **account.credentials}
        self.account = account
        self.zone = account.zone
        self.token_ttl = token_ttl
        self.routes: dict[tuple[str, str], Route] = {}
        self.public: set[str] = set()  # paths served without credentials (token endpoints)

    def handle(self, request: Request) -> Reply:
        route = self.find(request.method, request.path)
        if request.path.rstrip("/") not in self.public:
            self.authenticate(request)
        return route(request)

    def owns(self, request: Request) -> bool:
        """Whether the request carries this account's credentials (the sandbox asks each account)."""
        try:
            self.authenticate(request)
        except ApiError:
            return False
        return True

    def local(self, at: datetime) -> datetime:
        """An instant on the account's clock."""
        return at.astimezone(self.zone)

    def route(self, method: str, path: str, handler: Route) -> None:
        self.routes[(method, path.rstrip("/"))] = handler

    def find(self, method: str, path: str) -> Route:
        path = path.rstrip("/")
        if (method, path) in self.routes:
            return self.routes[(method, path)]
        if any(p == path for _, p in self.routes):
            raise ApiError(405, f"Method {method} not allowed on {path or '/'}")
        raise ApiError(404, f"No route for {path or '/'}")

    retry_after = True  # whether a 429 says when to come back (JustCall, SendPulse and LACRM do not)
    time_scale = 1.0  # how many times shorter the rate windows are (set by the server)

    def limits_for(self, request: Request) -> tuple[Limit, ...]:
        """The rate limits a request counts against."""
        return self.limits

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far (APIs with a token endpoint)."""

    def authenticate(self, request: Request) -> None:
        """Raise ``ApiError`` unless the request carries this API's credentials."""
        raise NotImplementedError

    def error(self, error: ApiError) -> Reply:
        """Render an error the way this API does."""
        raise NotImplementedError

    def rate_limit_headers(self, limit: Limit, remaining: int, reset: float) -> dict[str, str]:
        return {}

    def record_count(self) -> dict[str, int]:
        """How many records each endpoint holds, for tests and the demo summary."""
        raise NotImplementedError


def page_slice(request: Request, ids: range, offset: int, size: int) -> range:
    """Records ``offset .. offset+size`` of an index range, moved back by a "shift" fault.

    A shift imitates a record inserted ahead of the reader between two page requests: the page
    starts early and repeats records the previous page already held. A "late" fault leaves the
    page's last records out, as records that reach the API after the reader has passed.
    """
    offset = max(0, offset - request.shift)
    page = ids[offset : offset + size]
    return page[: max(0, len(page) - request.late)]


def link(request: Request, **params: Any) -> str:
    """The absolute URL of this request's path with ``params`` replacing its query."""
    query = {**request.query, **{k: str(v) for k, v in params.items()}}
    return f"{request.base_url}{request.path}?{urlencode(query)}"


def parse_instant(value: str, field_name: str) -> datetime:
    """An ISO-8601 date or date-time; naive values are UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"'{field_name}' is not a valid date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class TokenStore:
    """Access tokens issued by an OAuth token endpoint, each with an expiry time."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._tokens: dict[str, float] = {}
        self.issued: list[str] = []  # every token ever issued, revoked or not: what must never leak
        self._lock = threading.Lock()

    def issue(self, ttl: int) -> str:
        with self._lock:
            token = f"{self.prefix}-{len(self.issued) + 1}-{secrets.token_hex(8)}"
            self.issued.append(token)
            self._tokens[token] = time.time() + ttl
        return token

    def valid(self, token: str) -> bool:
        return self._tokens.get(token, 0.0) > time.time()

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()
