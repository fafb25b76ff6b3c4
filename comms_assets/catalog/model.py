"""The shape of the catalog: one ``Endpoint`` per loaded endpoint, one ``Api`` per vendor.

Everything else (dlt sources, Dagster assets, checks, partitions, schedules, the README table) is
derived from these declarations; nothing downstream names an endpoint by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any, Literal

from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from dlt.sources.helpers.rest_client.paginators import BasePaginator

WriteDisposition = Literal["merge", "replace"]
Frozen = Mapping[str, Any]
# Builds the request part for one date window ``[start, end)``: {"params": {...}} or {"json": {...}}.
WindowRequest = Callable[[datetime, datetime], dict[str, Any]]


def frozen(value: Any) -> Any:
    """``value`` with every mapping read-only and every list a tuple, all the way down.

    The catalog is shared by every request of every endpoint in a process; dlt's paginators
    write page numbers and cursors into the request they are given. A frozen catalog turns
    such a write into an error instead of a page counter shared between endpoints.
    """
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


def thawed(value: Any) -> Any:
    """A fresh, mutable deep copy of a frozen value: what one request may change."""
    if isinstance(value, Mapping):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thawed(item) for item in value]
    return value


Clock = Literal["utc", "account", "date"]
# The widest gap between an account's wall clock and UTC: UTC-12:00 (Baker Island) to UTC+14:00 (Kiribati).
BEHIND_UTC, AHEAD_OF_UTC = timedelta(hours=12), timedelta(hours=14)


@dataclass(frozen=True)
class Window:
    """How a date-cursor endpoint is asked for one window of time.

    ``request`` renders the window in the API's own filter format; ``cursor`` is the record field
    (a dotted path) checked against the window client-side, or ``None`` where records carry no
    date (aggregates); ``max_days`` splits longer windows into several requests, for APIs that cap
    the range or report per day; ``tag`` adds the window's start date to each record under that name.

    ``clock`` is what the API's filter reads: ``utc`` instants (or instants with an offset);
    ``account`` wall-clock times on the account's clock, so a UTC day is asked for in the
    account's zone when it is configured and widened to every zone on Earth when it is not (the
    cursor keeps exactly the UTC day); ``date`` calendar dates on the account's clock, for data
    that is a per-date aggregate or a zoneless date: the partition is then the account's local
    date, and the cursor is read as the date it is written with.
    """

    request: WindowRequest
    cursor: str | None
    max_days: int | None = None
    tag: str | None = None
    clock: Clock = "utc"

    def chunks(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """``[start, end)`` cut into consecutive windows no longer than ``max_days``."""
        if not self.max_days:
            return [(start, end)]
        step = timedelta(days=self.max_days)
        out, at = [], start
        while at < end:
            out.append((at, min(at + step, end)))
            at += step
        return out

    def asked(self, start: datetime, end: datetime, zone: tzinfo | None) -> tuple[datetime, datetime]:
        """The bounds to send for the UTC window ``[start, end)``, on the clock the filter reads."""
        if self.clock != "account":
            return start, end
        if zone is None:
            return (start - BEHIND_UTC).replace(tzinfo=None), (end + AHEAD_OF_UTC).replace(tzinfo=None)
        return start.astimezone(zone).replace(tzinfo=None), end.astimezone(zone).replace(tzinfo=None)


Record = Mapping[str, Any]


@dataclass(frozen=True)
class Sync:
    """An endpoint's change feed (RingCentral's ``call-log-sync``), used for the settling window.

    ``full(start)`` asks for a baseline: the records started since ``start``, at most
    ``max_records``, and a token; ``incremental(token)`` asks for every record created, changed
    or deleted since that token, at most ``max_records`` again, with a token for next time. The
    token is kept in dlt's state with the rows it came with; a record flagged ``deleted`` is
    removed from the table. An answer of ``max_records`` may hold less than there is, so the
    window is then read by date instead, as it is for windows longer than the settling window.
    """

    path: str
    full: Callable[[datetime, int], Mapping[str, Any]]  # (start, max_records) -> query parameters
    incremental: Callable[[str], Mapping[str, Any]]  # token -> query parameters
    records: str = "records"
    token: str = "syncInfo.syncToken"
    deleted: str = "deleted"
    max_records: int = 250


@dataclass(frozen=True)
class PerListed:
    """The endpoint is called once per record of a short listing that is not loaded itself
    (LACRM's pipelines): ``json`` asks for the listing in one request, ``selector`` finds its
    records, ``request`` turns one record into the request part of its call."""

    json: Frozen
    selector: str
    request: Callable[[Record], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint = one dlt resource = one Dagster asset = one warehouse table."""

    name: str
    path: str
    description: str
    primary_key: tuple[str, ...] = ()
    method: Literal["GET", "POST"] = "GET"
    selector: str = "$"
    params: Frozen = field(default_factory=dict)
    json: Frozen | None = None
    paginator: Frozen | None = None  # dlt's paginator config; None: the API's default
    window: Window | None = None
    rate_group: str = "default"  # the group of the API's budget its requests count in
    per_listed: PerListed | None = None
    # One record of the API -> the table's rows (one per contact an event is attached to, say).
    rows: Callable[[Record], list[Record]] | None = None
    sync: Sync | None = None  # a change feed that replaces re-reading the settling window
    # What the vendor's fields mean: field (dotted path as the API nests it) -> (dlt data type,
    # description). At least the key, the date cursor and every timestamp (which clock, which zone).
    columns: Frozen = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("params", "json", "paginator", "columns"):
            object.__setattr__(self, name, frozen(getattr(self, name)))
        cursor = [self.window.cursor] if self.window and self.window.cursor else []
        deleted = [self.sync.deleted] if self.sync else []
        if missing := {f.replace(".", "__") for f in (*self.primary_key, *cursor, *deleted)} - set(self.described):
            raise ValueError(f"endpoint {self.name}: describe {', '.join(sorted(missing))} in its columns")

    @property
    def described(self) -> dict[str, tuple[str, str]]:
        """The described fields as dlt paths (``metaData__started``): (dlt data type, description)."""
        return {name.replace(".", "__"): (kind, text) for name, (kind, text) in self.columns.items()}

    @property
    def write_disposition(self) -> WriteDisposition:
        """Merge on the key where there is one; a keyless endpoint is a snapshot, replaced."""
        return "merge" if self.primary_key else "replace"

    @property
    def partitioned(self) -> bool:
        return self.window is not None

    @property
    def http_call(self) -> str:
        body = f" {{Function: {self.json['Function']}}}" if self.json and "Function" in self.json else ""
        return f"{self.method} {self.path or '/'}{body}"


@dataclass(frozen=True)
class Rate:
    """A published limit: at most ``calls`` requests in any ``seconds``."""

    calls: int
    seconds: float


Limits = Mapping[str, tuple[Rate, ...]]  # group of requests -> the limits that all apply to it


@dataclass(frozen=True)
class Budget:
    """An API's published request limits, and how its responses announce them.

    ``plans`` holds the limits per plan where they depend on the account's plan (chosen with
    ``SOURCES__<API>__PLAN``, else ``plan``), per group of requests where the vendor counts
    groups separately (an endpoint names its group; token requests count in ``token_group``).
    ``headers`` are (remaining, reset) response headers that say a window is spent before a 429
    does; a reset is epoch seconds or seconds from now. ``hintless_wait`` is how long a 429
    carrying neither ``Retry-After`` nor a reset waits: longer than the API's shortest window.
    """

    plans: Mapping[str, Limits]
    plan: str
    token_group: str = "default"
    headers: tuple[tuple[str, str], ...] = ()
    hintless_wait: float = 61.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "plans", frozen(self.plans))


@dataclass(frozen=True)
class Retry:
    """The seeds' policy: 429 and 5xx retried ``attempts - 1`` times, exponential ``backoff``."""

    attempts: int = 4
    backoff: float = 2.0
    max_delay: float = 60.0
    timeout: float = 60.0


@dataclass(frozen=True)
class Api:
    """One vendor: where it lives, how it authenticates, how it pages, and its endpoints."""

    name: str
    title: str
    base_url: str
    # Environment variables a run needs: the first complete set wins (RingCentral takes either a
    # JWT with its client, or a ready access token).
    credentials: tuple[tuple[str, ...], ...]
    auth: Callable[[Mapping[str, str], str], AuthConfigBase]  # (credentials, base_url) -> dlt auth
    endpoints: tuple[Endpoint, ...]
    paginator: Frozen | Callable[[], BasePaginator]  # dlt's paginator config, or a paginator class
    budget: Budget
    partition_start: str = "2025-01-01"
    retry: Retry = Retry()
    headers: Frozen = field(default_factory=dict)
    response_actions: tuple[Frozen, ...] = ()
    # Path segments the API follows with an id, which its links fill in where a request said ``~``.
    ids_in_paths: tuple[str, ...] = ()
    # Zoneless timestamps (``YYYY-MM-DD HH:MM:SS``) are on the account's clock, converted to UTC
    # from ``SOURCES__<API>__TIMEZONE`` (``timezone``, when it is not set); ``None``: they are UTC.
    timezone: str | None = None
    # Days a daily partition keeps changing after it closes (records that arrive, or change, late),
    # and why: every scheduled daily run loads them again, merging on the key.
    settling_days: int = 1
    settling_why: str = "records do not change after their day"
    # The credentials that tell one account from another (its limits are per account); by
    # default the first of each set: a key or client id, not the secret that goes with it.
    identity: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("headers", "response_actions") + (() if callable(self.paginator) else ("paginator",)):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    def account(self, credentials: Mapping[str, str]) -> str:
        """A digest of the account ``credentials`` belong to: what its budget is kept under.
        One-way and short, so the store that holds budgets holds no credential."""
        names = self.identity or tuple(names[0] for names in self.credentials)
        seen = "|".join(f"{name}={credentials.get(name, '')}" for name in names)
        return hashlib.sha256(f"{self.name}|{seen}".encode()).hexdigest()[:16]

    def endpoint(self, name: str) -> Endpoint:
        return next(e for e in self.endpoints if e.name == name)
