"""Catalog -> dlt: one source per API, one resource per endpoint, on dlt's REST client.

Each resource pages through its endpoint with dlt's ``RESTClient`` (the API's auth, paginator,
retrying session and response actions) and hands its rows to dlt in Arrow batches
(``batches.py``). A date-cursor endpoint is asked for an explicit window in the API's own filter
format, and rows whose cursor falls outside it are dropped here, so windows never share state.

``rest_api_source`` is not used: it yields one list of dicts per page (100 rows for most of these
APIs), which dlt then normalizes row by row, and re-parses its data selector for every page. Nor
is dlt's incremental: on Arrow tables it compares one typed column with ``min``/``max``, while
these cursors are ISO strings in mixed forms (dates, ``Z``, offsets) compared as points in time.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
import orjson
import requests
from dlt.common import jsonpath
from dlt.common.utils import update_dict_nested
from dlt.extract.source import DltResource, DltSource
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth, BearerTokenAuth, HttpBasicAuth, OAuth2ClientCredentials
from dlt.sources.helpers.rest_client.client import raise_for_status
from dlt.sources.rest_api.config_setup import create_paginator, create_response_hooks
from requests import Response

from comms_assets.catalog import Api, Endpoint
from comms_assets.catalog.model import thawed
from comms_assets.catalog.oauth import RenewingClientCredentials
from comms_assets.engine.batches import ColumnTypes, KeyLedger, add_dlt_ids, batches, declare_distinct
from comms_assets.engine.errors import SECRETS, Blanked
from comms_assets.engine.limits import PacedAdapter
from comms_assets.engine.progress import Log, Progress

Span = tuple[datetime, datetime]  # [start, end) of a load: the days it asks the API for
Page = list[dict[str, Any]]  # one response's records
LOGGER = logging.getLogger(__name__)
logging.getLogger("dlt").addFilter(Blanked())


def base_url(api: Api) -> str:
    """``SOURCES__<API>__BASE_URL`` (env or ``.dlt/config.toml``), else the vendor's host."""
    return dlt.config.get(f"sources.{api.name}.base_url", str) or api.base_url


def account_zone(api: Api) -> tzinfo | None:
    """The account's clock: ``SOURCES__<API>__TIMEZONE`` (an IANA name), else the API's declared
    default, else unknown (``None``)."""
    name = dlt.config.get(f"sources.{api.name}.timezone", str) or api.timezone
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{api.name}: SOURCES__{api.name.upper()}__TIMEZONE={name!r} is not an IANA time zone "
                         "(such as America/New_York)") from None


@lru_cache(maxsize=65_536)
def _written_day(text: str) -> datetime:
    """The calendar date a cursor value is written with (its own clock), as a UTC midnight."""
    return datetime.fromisoformat(text[:10]).replace(tzinfo=UTC)


@lru_cache(maxsize=65_536)
def _instant(text: str) -> tuple[datetime, str]:
    """A cursor value as a point in time, and its UTC day: ISO dates, ``Z``, offsets (Gong) and
    naive UTC. Cached: every row's cursor is compared with the window, and rows share dates."""
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment, moment.astimezone(UTC).date().isoformat()


@dataclass
class LoadStats:
    """What one load did: requests per endpoint (a response hook) and, for date-cursor endpoints,
    rows kept per endpoint and UTC day, so a range run can report each day."""

    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    rows_by_day: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    keys: dict[str, KeyLedger] = field(default_factory=dict)
    synced: set[str] = field(default_factory=set)  # endpoints loaded from their change feed
    progress: Progress = field(default_factory=Progress)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def repeated_keys(self, endpoint: str) -> int | None:
        """Keys the endpoint returned more than once in this load (0 for a keyless endpoint)."""
        ledger = self.keys.get(endpoint)
        return ledger.repeated() if ledger else 0

    def request_hook(self, endpoint: str):
        def count(response: Response, *args: Any, **kwargs: Any) -> Response:
            with self._lock:
                self.requests[endpoint] += 1
            return response

        return count


def build_source(
    api: Api,
    credentials: Mapping[str, str] | None = None,
    window: Span | None = None,
    stats: LoadStats | None = None,
    log: Log = LOGGER.warning,
) -> DltSource:
    """The dlt source of one API.

    Without ``credentials`` the source still builds (for asset definitions and validation) but
    has no auth; without ``window`` the date-cursor endpoints are asked for the previous day.
    ``log`` receives the lines about waits for the API's limits.
    """
    add_dlt_ids()
    url = base_url(api)
    session = _session(api, url, log, api.account(credentials or {}))
    auth = None
    if credentials is not None:
        auth = api.auth(credentials, url)
        SECRETS.add(*credentials.values(), *_derived(auth))
        if hasattr(auth, "session"):
            auth.session = session  # the token request retries like every other request
    client = RESTClient(base_url=url, headers=dict(api.headers), auth=auth, session=session)
    fetch = _Fetch(api, client, stats or LoadStats(), account_zone(api), api.account(credentials or {}))
    window = window or _yesterday()
    resources = [_resource(fetch, endpoint, window) for endpoint in api.endpoints]

    @dlt.source(name=api.name)
    def source() -> list[DltResource]:
        return resources

    return source()


def _derived(auth: Any) -> list[str]:
    """The values an auth puts on the wire, beyond the credentials themselves: a header's
    ``key:secret`` (raw or, for Basic, base64: ``Secrets`` adds that form), a token."""
    if isinstance(auth, APIKeyAuth):
        return [auth.api_key]
    if isinstance(auth, HttpBasicAuth):
        return [f"{auth.username}:{auth.password}"]
    if isinstance(auth, BearerTokenAuth):
        return [auth.token]
    if isinstance(auth, OAuth2ClientCredentials):
        return [f"{auth.client_id}:{auth.client_secret}", *map(str, auth.access_token_request_data.values())]
    return []


def _yesterday() -> Span:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1), today


def _session(api: Api, url: str, log: Log, account: str) -> Any:
    """dlt's retrying session: 429/5xx/connection errors, exponential backoff, ``Retry-After``,
    over a transport paced to the API's budget (``limits.py``).

    requests reads proxy and CA settings from the environment again for every request, which
    costs more than parsing a page; they are read once here, for the API's host.
    """
    section = f"sources.{api.name}"
    retry = api.retry
    session = Client(
        request_timeout=dlt.config.get(f"{section}.request_timeout", float) or retry.timeout,
        request_max_attempts=dlt.config.get(f"{section}.request_max_attempts", int) or retry.attempts,
        request_backoff_factor=dlt.config.get(f"{section}.request_backoff_factor", float) or retry.backoff,
        request_max_retry_delay=dlt.config.get(f"{section}.request_max_retry_delay", float) or retry.max_delay,
        respect_retry_after_header=True,
        raise_for_status=False,
    ).session
    environment = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(environment["proxies"])
    session.verify = environment["verify"]
    session.trust_env = False
    adapter = PacedAdapter(api, f"{url}#{account}", log)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class PaginationStalled(RuntimeError):
    """The API answered the same request twice within one pagination: it would never end."""


class UnexpectedShape(ValueError):
    """A response holds data where the endpoint's selector finds none."""


@dataclass
class _Fetch:
    """Pages of rows of one endpoint for one request, through the API's client."""

    api: Api
    client: RESTClient
    stats: LoadStats
    zone: tzinfo | None = None  # the account's clock, where it is known
    account: str = ""  # the digest the account's budget and sync state are kept under

    def __call__(self, endpoint: Endpoint, extra: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        for rows, _ in self.answers(endpoint, extra):
            yield rows

    def answers(self, endpoint: Endpoint, extra: Mapping[str, Any] | None = None
                ) -> Iterator[tuple[list[dict[str, Any]], Response]]:
        """Each page's rows with the response they came in. Every request starts from its own copy
        of the catalog: dlt's paginators write the page number or cursor into the request they are
        given, and endpoints are extracted interleaved."""
        request = update_dict_nested(thawed({"params": endpoint.params, "json": endpoint.json}), thawed(extra or {}))
        paginator = endpoint.paginator or self.api.paginator
        auth = self.client.auth
        renew = [auth.renew_on_401] if isinstance(auth, RenewingClientCredentials) else []
        # Requests' own hooks, not dlt's response actions: dlt drops what a hook returns, and the
        # renewal answers a 401 with the response to the request sent again.
        actions = create_response_hooks(thawed(self.api.response_actions)) or {"response": [raise_for_status]}
        hooks = {"response": [self.stats.request_hook(endpoint.name), *renew, _parse_once, *actions["response"]]}
        pages = self.client.paginate(
            endpoint.path, method=endpoint.method, params=request["params"], json=request["json"],
            paginator=paginator() if callable(paginator) else create_paginator(thawed(paginator)),
            data_selector=_selector(endpoint.selector), hooks=hooks)
        sent: set[tuple[str, bytes]] = set()
        zoneless = _timestamps(endpoint) if self.api.timezone else ()
        for page in pages:
            prepared = page.response.request
            asked = (prepared.url or "", prepared.body if isinstance(prepared.body, bytes) else
                     str(prepared.body or "").encode())
            if asked in sent:
                raise PaginationStalled(f"{self.api.name}/{endpoint.name}: the same page was asked for twice "
                                        f"({prepared.method} {requests.utils.urlparse(prepared.url).path}): "
                                        "the paginator is not progressing")
            sent.add(asked)
            if not page and endpoint.selector != "$":
                _check_shape(self.api, endpoint, page.response)
            rows = [row for record in page for row in endpoint.rows(record)] if endpoint.rows else page
            if zoneless:
                _zoned(rows, zoneless, self.zone or UTC)
            yield rows, page.response


def _timestamps(endpoint: Endpoint) -> tuple[tuple[str, ...], ...]:
    """The endpoint's declared timestamp fields, as paths."""
    return tuple(tuple(name.split(".")) for name, (kind, _) in endpoint.columns.items() if kind == "timestamp")


def _zoned(rows: list[dict[str, Any]], fields: tuple[tuple[str, ...], ...], zone: tzinfo) -> None:
    """Zoneless timestamps read on the account's clock, written as UTC instants (in place)."""
    for row in rows:
        for *parents, leaf in fields:
            holder: Any = row
            for part in parents:
                holder = holder.get(part) if isinstance(holder, dict) else None
            value = holder.get(leaf) if isinstance(holder, dict) else None
            try:
                moment = datetime.fromisoformat(value) if isinstance(value, str) and value else None
            except ValueError:
                continue  # not a timestamp: left as the vendor wrote it, for the schema checks to see
            if moment and moment.tzinfo is None:
                holder[leaf] = moment.replace(tzinfo=zone).astimezone(UTC).isoformat()


def _check_shape(api: Api, endpoint: Endpoint, response: Response) -> None:
    """An empty page is fine when the selector found an empty list; a body that holds data
    elsewhere (a bare array, another envelope) would otherwise load nothing and report success."""
    if not response.content or not response.ok:
        return  # an answer a response action let through (Gong's 404 for "no calls")
    body = response.json()
    container = endpoint.selector.removesuffix(".*").removesuffix("[*]")  # ``Results.*``: an object of records
    if not body or jsonpath.find_values(container, body):
        return
    held = (f"an array of {len(body)} item(s)" if isinstance(body, list) else
            f"an object with keys {', '.join(sorted(map(str, body))[:10])}" if isinstance(body, dict) else
            f"a {type(body).__name__}")
    raise UnexpectedShape(f"{api.name}/{endpoint.name}: the response to {endpoint.http_call} held {held}, "
                          f"where `{endpoint.selector}` finds nothing")


def _parse_once(response: Response, *args: Any, **kwargs: Any) -> Response:
    """``response.json()`` parsed by orjson, once: dlt's client and its JSON paginators each ask.

    Parsing is lazy, so a malformed body fails where it always did, as a ``JSONDecodeError``.
    """
    parsed: list[Any] = []

    def json(**_: Any) -> Any:
        if not parsed:
            parsed.append(orjson.loads(response.content))
        return parsed[0]

    response.json = json  # type: ignore[method-assign]
    return response


@cache
def _selector(path: str) -> Any:
    return jsonpath.compile_path(path)


def _resource(fetch: _Fetch, endpoint: Endpoint, window: Span) -> DltResource:
    key = endpoint.primary_key
    ledger = fetch.stats.keys[endpoint.name] = KeyLedger(key)
    types = ColumnTypes(endpoint.name)  # one per load: the table has one type per column
    declares = endpoint.write_disposition == "merge"

    def rows() -> Iterator[Any]:
        if endpoint.sync and _settling(fetch.api, window):
            pages = _synced(fetch, endpoint, window)
        elif endpoint.window:
            pages = _windowed(fetch, endpoint, window)
        else:
            pages = _counted(fetch, endpoint, _per_listed(fetch, endpoint) if endpoint.per_listed else fetch(endpoint))
        return declare_distinct(batches(pages, key, types=types), ledger, declare=declares)

    # No data type: the column is created by the first deleted record, on the Arrow path as on dlt's
    # own, and a merge ignores the hint until then.
    hints = {endpoint.sync.deleted: {"hard_delete": True}} if endpoint.sync else None
    return dlt.resource(rows, name=endpoint.name, primary_key=list(key), write_disposition=endpoint.write_disposition,
                        columns=hints)


def _settling(api: Api, window: Span) -> bool:
    """Whether ``window`` is (within) the API's settling window: no longer, and ending no earlier."""
    start, end = window
    settling = timedelta(days=api.settling_days)
    return end - start <= settling and end >= _yesterday()[1] - settling


def _synced(fetch: _Fetch, endpoint: Endpoint, window: Span) -> Iterator[list[dict[str, Any]]]:
    """The settling window from the endpoint's change feed: the changes since the account's token
    where it covers the window, else a baseline from the window's start; read by date when the
    feed's answer is full (it may hold less than there is).

    Everything the feed returns is loaded, the days outside the window too: the token moves past
    it. The token goes into dlt's state, which commits with the rows.
    """
    sync = endpoint.sync
    assert sync is not None
    start, _ = window
    tokens = dlt.current.resource_state().setdefault("sync_tokens", {})
    name = f"{fetch.api.name}/{endpoint.name}"
    fetch.stats.synced.add(endpoint.name)  # its days are counted in the warehouse, after the merge
    asks = []
    if (kept := tokens.pop(fetch.account, None)) and datetime.fromisoformat(kept["since"]) <= start:
        asks.append((sync.incremental(kept["token"]), kept["since"]))
    asks.append((sync.full(start, sync.max_records), start.isoformat()))
    for params, since in asks:
        feed = dataclasses.replace(endpoint, path=sync.path, params=params, selector=sync.records, window=None,
                                   paginator={"type": "single_page"})
        [(rows, response)] = list(fetch.answers(feed))
        if not (token := jsonpath.find_values(sync.token, response.json())):
            raise UnexpectedShape(f"{name}: the answer to GET {sync.path} held no `{sync.token}`")
        fetch.stats.progress.page(name, len(rows))
        yield rows
        if len(rows) < sync.max_records:
            tokens[fetch.account] = {"token": token[0], "since": since}
            return
        LOGGER.info(f"{name}: {sync.path} answered {len(rows)} records, its most: reading the window by date")
    yield from _windowed(fetch, endpoint, window)


def _per_listed(fetch: _Fetch, endpoint: Endpoint) -> Iterator[list[dict[str, Any]]]:
    """The endpoint's pages for every record of its listing, one call per record."""
    listed = endpoint.per_listed
    assert listed is not None
    listing = dataclasses.replace(endpoint, json=listed.json, selector=listed.selector, per_listed=None, rows=None,
                                  paginator={"type": "single_page"})
    for page in fetch(listing):
        for record in page:
            yield from fetch(endpoint, listed.request(record))


def _counted(fetch: _Fetch, endpoint: Endpoint, pages: Iterator[Page]) -> Iterator[Page]:
    for page in pages:
        fetch.stats.progress.page(f"{fetch.api.name}/{endpoint.name}", len(page))
        yield page


def _windowed(fetch: _Fetch, endpoint: Endpoint, window: Span) -> Iterator[list[dict[str, Any]]]:
    """The pages of ``window``, asked for in chunks the API accepts, on the clock its filter
    reads; rows counted per day.

    The API's own filter does the work; the cursor check drops what an API returns beyond it
    (inclusive ends, a window widened to every time zone), so adjacent windows never load the
    same row twice. On a ``date`` clock the window's days are the account's dates, and so is
    each row's.
    """
    spec = endpoint.window
    assert spec is not None
    start, end = window
    counts = fetch.stats.rows_by_day
    cursor = tuple(spec.cursor.split(".")) if spec.cursor else ()
    name = f"{fetch.api.name}/{endpoint.name}"
    chunks = spec.chunks(start, end)
    written = spec.clock == "date"
    for done, (chunk_start, chunk_end) in enumerate(chunks, start=1):
        for page in fetch(endpoint, spec.request(*spec.asked(chunk_start, chunk_end, fetch.zone))):
            if spec.tag:
                for row in page:
                    row[spec.tag] = chunk_start.strftime("%Y-%m-%d")
            if cursor:
                kept, moments = [], []
                for row in page:
                    text = str(_get(row, cursor))
                    moment, day = (_written_day(text), text[:10]) if written else _instant(text)
                    if start <= moment < end:
                        kept.append(row)
                        moments.append(moment)
                        counts[(endpoint.name, day)] += 1
                page = kept
                fetch.stats.progress.page(name, len(page), window, (min(moments), max(moments)) if moments else None)
            else:
                counts[(endpoint.name, chunk_start.strftime("%Y-%m-%d"))] += len(page)
                fetch.stats.progress.page(name, len(page), window, share=done / len(chunks))
            yield page


def _get(row: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for part in path:
        value = value[part]
    return value
