"""Requests paced to each API's published limits, and quotas waited out, in the HTTP transport.

Every request of an API, token requests and dlt's own retries included, goes through one
``requests`` transport adapter mounted on dlt's session (dlt's ``RESTClient`` sends prepared
requests with ``session.send``, which a wrapper around ``Session.request`` would never see).

Pacing is pyrate-limiter's: a sliding-window log per account and group of the API's budget,
kept where every process loading that account sees it and no other user can touch it: in Redis
(``COMMS_RATE_LIMIT_REDIS``, shared by every host), else in a private SQLite file
(``rate_store.py``). Each window is paced at 95% of its
published length, so requests that reach the vendor a little unevenly still fit its windows.

What no library knows is each vendor's way of saying "slow down": budget headers that announce a
spent window (waited out before the next request), and 429s with ``Retry-After``, with only a
reset time, or with nothing at all. dlt's session caps every wait at ``request_max_retry_delay``
and gives up after a few attempts; a quota is waited out here instead, up to
``SOURCES__<API>__MAX_QUOTA_WAIT`` seconds (an hour by default). A quota that resets later than
that (Gong's daily cap) raises ``QuotaExhausted``: the load stops, keeping every day committed.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import dlt
from pyrate_limiter import Limiter
from pyrate_limiter import Rate as PyrateRate
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from comms_assets.catalog import Api
from comms_assets.engine import rate_store
from comms_assets.engine.progress import Log

PACE = 0.95  # of each published window's rate
MAX_QUOTA_WAIT = 3600.0
SAID_WAIT = 10.0  # seconds: a longer wait is logged
QUOTA_WAITS = 24  # 429s one request may wait out before it counts as a failure


class QuotaExhausted(RuntimeError):
    """The API's quota resets later than this load may wait."""


@dataclass(frozen=True)
class Settings:
    """The budget in force for one API: its plan's limits scaled as configured."""

    limits: dict[str, tuple[tuple[int, int], ...]]  # group -> (calls, milliseconds); none: no pacing
    hintless_wait: float
    max_wait: float

    @classmethod
    def of(cls, api: Api) -> Settings:
        """``SOURCES__<API>__PLAN``, ``__RATE_SCALE`` (calls per window; 0 switches pacing off),
        ``__RATE_TIME_SCALE`` (windows this many times shorter: a sandbox hour in seconds) and
        ``__MAX_QUOTA_WAIT`` (seconds)."""
        section = f"sources.{api.name}"
        budget = api.budget
        plan = dlt.config.get(f"{section}.plan", str) or budget.plan
        if plan not in budget.plans:
            raise ValueError(f"{api.name}: unknown plan {plan!r}; one of {', '.join(budget.plans)}")
        scale = _number(f"{section}.rate_scale", 1.0)
        faster = _number(f"{section}.rate_time_scale", 1.0)
        limits = {group: tuple((max(1, int(rate.calls * scale)), int(rate.seconds * 1000 / faster / PACE))
                               for rate in rates) if scale > 0 else ()
                  for group, rates in budget.plans[plan].items()}
        return cls(limits, budget.hintless_wait / faster, _number(f"{section}.max_quota_wait", MAX_QUOTA_WAIT))

    def strictest_group(self, besides: str = "") -> str | None:
        """The group whose sustained pace is the slowest, token requests' aside (``None`` when
        nothing is paced)."""
        paces = {group: max(ms / calls for calls, ms in rates) for group, rates in self.limits.items()
                 if rates and group != besides}
        return max(paces, key=paces.__getitem__) if paces else None

    def seconds_per_request(self) -> float:
        """The API's sustained pace: the strictest of its limits, per request (0 when unpaced).
        Over a long load the longest window binds, however fast its first requests go."""
        return max((ms / 1000 / calls for rates in self.limits.values() for calls, ms in rates), default=0.0)


def _number(key: str, default: float) -> float:
    value = dlt.config.get(key, float)
    return default if value is None else float(value)


class PacedAdapter(HTTPAdapter):
    """Sends each request when the API's budget allows, and waits out the quotas it answers."""

    def __init__(self, api: Api, account: str, log: Log, **kwargs: Any) -> None:
        """``account``: the base URL and the account's digest, the key of its budget."""
        super().__init__(**kwargs)
        self.api = api
        self.account = account
        self.settings = Settings.of(api)
        self.log = log
        paths = [(path, e.rate_group) for e in api.endpoints for path in (e.path, *([e.sync.path] if e.sync else []))]
        self.groups = sorted(((path.strip("/"), group) for path, group in paths), key=lambda p: -len(p[0]))
        followed = "|".join(map(re.escape, api.ids_in_paths))
        self.ids = re.compile(rf"/({followed})/[^/]+(?=/|$)") if followed else None
        self.strictest = self.settings.strictest_group(besides=api.budget.token_group) or "default"
        self._spent_until: dict[str, float] = {}  # group -> when a window announced as spent resets
        self._sent: dict[str,
                         collections.deque[float]] = collections.defaultdict(lambda: collections.deque(maxlen=1000))
        self._lock = threading.Lock()

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        group = self.group(request.url or "")
        for _ in range(QUOTA_WAITS):
            self._pace(group)
            self._sent[group].append(time.time())
            response = super().send(request, *args, **kwargs)
            self._note_spent(group, response)
            if response.status_code != 429:
                return response
            wait, hint = self._quota_wait(response)
            response.close()
            self._wait(wait, f"rate limit reached ({hint})", said=True)
        return response

    def group(self, url: str) -> str:
        """The budget group of a request: its endpoint's, the token group for a token request.

        Any URL the API hands back counts: the ids it writes into links (RingCentral's
        ``/account/401501489004``) are read as the ``~`` the catalog declares, and a path no
        endpoint declares is paced by the API's strictest group, never by none.
        """
        path = urlsplit(url).path.rstrip("/")
        if "/oauth/" in path:
            return self.api.budget.token_group
        if self.ids:
            path = self.ids.sub(r"/\1/~", path)
        return next((group for suffix, group in self.groups if not suffix or path.endswith("/" + suffix)),
                    self.strictest)

    def _pace(self, group: str) -> None:
        with self._lock:
            until = self._spent_until.pop(group, 0.0)
        self._wait(until - time.time(), f"the {group} window is spent, as the API's budget headers say")
        if rates := self.settings.limits.get(group):
            paced = limiter(self.account, group, rates, rate_store.location(), self.log)
            while wait := _acquire(paced, group):
                self._wait(wait, f"the {group} budget ({_rates(rates)}) is spent")

    def _wait(self, seconds: float, why: str, said: bool = False) -> None:
        """Sleep ``seconds`` for ``why``, or raise ``QuotaExhausted`` if that is longer than this
        load may wait; a wait longer than ``SAID_WAIT`` (or any a 429 asked for) logs one line."""
        if seconds <= 0:
            return
        reset = datetime.fromtimestamp(time.time() + seconds, UTC)
        if seconds > self.settings.max_wait:
            raise QuotaExhausted(f"{self.api.name}: {why}; it resets at {reset:%Y-%m-%d %H:%M:%S} UTC, later than "
                                 f"the {self.settings.max_wait:.0f} s this load may wait "
                                 f"(SOURCES__{self.api.name.upper()}__MAX_QUOTA_WAIT)")
        if said or seconds > SAID_WAIT:
            self.log(f"{self.api.name}: {why}; waiting {seconds:.0f} s, until {reset:%H:%M:%S} UTC")
        time.sleep(seconds)

    def _note_spent(self, group: str, response: Response) -> None:
        """A budget header saying a window is spent: the next request waits for its reset.

        A header that gives only the window's length (RingCentral) says nothing of when it ends:
        if the pace alone spent it, the pace already waits long enough; if fewer of our own
        requests fall in that length, other clients share the budget and a whole window is waited.
        """
        for remaining, reset in self.api.budget.headers:
            value = response.headers.get(reset)
            if response.headers.get(remaining) != "0" or not (at := _reset_at(value)):
                continue
            if float(value or 0) <= 1e9 and self._paced_spent(group, at - time.time()):
                continue
            with self._lock:
                self._spent_until[group] = max(self._spent_until.get(group, 0.0), at)

    def _paced_spent(self, group: str, window: float) -> bool:
        """Whether our own paced requests alone fill a window of this length."""
        rates = self.settings.limits.get(group)
        if not rates:
            return False
        since = time.time() - window
        ours = sum(1 for at in self._sent[group] if at >= since)
        return ours >= min(calls for calls, _ in rates)

    def _quota_wait(self, response: Response) -> tuple[float, str]:
        """Seconds until the API takes requests again, and what said so."""
        if (after := response.headers.get("Retry-After")) and (at := _retry_after(after)):
            return max(0.0, at - time.time()), f"Retry-After: {after}"
        resets = [(at, reset) for remaining, reset in self.api.budget.headers
                  if response.headers.get(remaining) == "0" and (at := _reset_at(response.headers.get(reset)))]
        if resets:
            at, header = max(resets)
            return max(0.0, at - time.time()) + 1.0, f"{header}: {response.headers[header]}"
        return self.settings.hintless_wait, "no hint in the response"


def _reset_at(value: str | None) -> float | None:
    """A reset header as an epoch: epoch seconds, or seconds from now."""
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    if number is None:
        return None
    return number if number > 1e9 else time.time() + number


def _retry_after(value: str) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) as an epoch."""
    try:
        return time.time() + float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return parsed.timestamp() if parsed else None


def _acquire(paced: Limiter, group: str) -> float:
    """0 when a request may go now (and is counted), else the seconds until one may.

    pyrate-limiter's bucket and its own estimate of the wait, without ``Limiter.try_acquire``'s
    loop: that loop waits as long as the bucket says, unbounded and unsaid, and its non-blocking
    mode fails on the file lock the SQLite bucket shares between processes. A wait longer than
    the longest window can only come from entries dated in the future: they are dropped.
    """
    item = paced.bucket_factory.wrap_item(group)
    bucket = paced.bucket_factory.get(item)
    if bucket.put(item):
        return 0.0
    wait = bucket.waiting(item)
    if wait > max(rate.interval for rate in bucket.rates) and rate_store.forget_future(bucket):
        return 0.0 if bucket.put(paced.bucket_factory.wrap_item(group)) else max(bucket.waiting(item), 1) / 1000
    return max(wait, 1) / 1000


def _rates(rates: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{calls} per {ms / 1000:g} s" for calls, ms in rates)


@lru_cache(maxsize=256)
def limiter(account: str, group: str, rates: tuple[tuple[int, int], ...], store: str, log: Log) -> Limiter:
    """One limiter per account (base URL and digest), group, rates and load in a process, over a
    bucket every process loading the account shares (``rate_store``)."""
    digest = hashlib.sha1(f"{account}|{group}|{rates}".encode()).hexdigest()[:16]
    return Limiter(rate_store.bucket([PyrateRate(calls, ms) for calls, ms in rates], digest, store, log))
