"""Faults on demand and rate limits: the unpleasant parts of real APIs, switchable at run time."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "slow", "timeout", "cut", "malformed", "expire_token", "expire_cursor", "shift",
                    "late", "echo", "rename", "retype"]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``count`` matching requests.

    ``kind``:
      * ``status``: answer ``status`` (429 carries ``Retry-After: retry_after``, or no hint at
        all when ``retry_after`` is ``None``, as SendPulse's and LACRM's 429s);
      * ``slow``: wait ``delay`` seconds, then answer normally;
      * ``timeout``: wait ``delay`` seconds, then close the connection without answering;
      * ``cut``: send the headers and half of the body, then close the connection;
      * ``malformed``: answer 200 with a body that is not valid JSON;
      * ``expire_token``: revoke every access token issued so far (OAuth APIs);
      * ``expire_cursor``: reject the request's paging cursor as expired (Gong);
      * ``shift``: start the page ``rows`` records early, as if records were inserted meanwhile;
      * ``late``: leave the page's last ``rows`` records out, as if they had not arrived yet;
      * ``echo``: answer ``status`` with a body that repeats the request's ``Authorization``
        header, as some vendors' error pages repeat what they were sent;
      * ``rename``: every record's field ``field`` arrives as ``to`` (a vendor renamed it);
      * ``retype``: every record's field ``field`` arrives as text that is no longer a number
        (``"#125"`` for ``125``), as when a vendor turns an id into a code.
    ``api`` names the API; ``endpoint``, if set, must occur in the request path; the first
    ``after`` matching requests pass untouched.
    """

    api: str
    kind: FaultKind
    count: int = 1
    endpoint: str = ""
    after: int = 0
    status: int = 503
    retry_after: int | None = 1
    delay: float = 2.0
    rows: int = 1
    field: str = ""
    to: str = ""
    id: int = 0
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")

    def reshape(self, value: Any) -> Any:
        """``value`` (a reply's body) with ``field`` renamed or retyped in every object."""
        if isinstance(value, list):
            return [self.reshape(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {key: self.reshape(item) for key, item in value.items()}
        if self.field in out:
            if self.kind == "rename":
                out[self.to] = out.pop(self.field)
            else:
                out[self.field] = f"#{out[self.field]}"
        return out

    def matches(self, api: str, path: str) -> bool:
        return self.api == api and self.endpoint in path and self.fired < self.count


@dataclass
class FaultBoard:
    """The faults in force; thread-safe, consulted once per request."""

    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, **spec: Any) -> Fault:
        fault = Fault(**spec)
        with self._lock:
            fault.id = next(self._ids)
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, api: str, path: str) -> Fault | None:
        """The fault that fires for this request, if any (consumes one of its ``count``)."""
        with self._lock:
            for fault in self.faults:
                if not fault.matches(api, path):
                    continue
                fault.seen += 1
                if fault.seen > fault.after:
                    fault.fired += 1
                    return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self.faults]


@dataclass
class RateLimiter:
    """Fixed-window counters per (API, group, credential); ``scale`` multiplies every limit.

    ``scale=0`` switches limits off; ``time_scale`` makes every window that many times shorter
    (an hour of a vendor's quota in 36 s at 100). Windows are aligned to the epoch like the
    vendors' own.
    """

    scale: float = 1.0
    time_scale: float = 1.0
    clock: Callable[[], float] = time.time  # a test may hold time still
    _windows: dict[tuple[str, str, int], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, api: str, group: str, calls: int, seconds: int) -> tuple[bool, int, float]:
        """Count one call; returns ``(allowed, remaining, seconds_until_reset)``."""
        if self.scale <= 0:
            return True, calls, seconds
        limit = max(1, int(calls * self.scale))
        now = self.clock()
        length = seconds / self.time_scale
        window = int(now // length)
        reset = (window + 1) * length - now
        with self._lock:
            used = self._windows.get((api, group, window), 0)
            if used >= limit:
                return False, 0, reset
            self._windows[(api, group, window)] = used + 1
            if len(self._windows) > 10_000:
                self._windows = {k: v for k, v in self._windows.items() if k[2] >= window - 1}
        return True, limit - used - 1, reset
