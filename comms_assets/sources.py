"""Catalog -> dlt: the only module that speaks ``rest_api``.

Each API becomes one ``rest_api_source`` whose client carries the API's auth, paginator, headers
and a retrying HTTP session tuned per API. A date-cursor endpoint is asked for an explicit window:
its filter goes in the request in the API's own format, and dlt's incremental is bounded by both
``initial_value`` and ``end_value`` so that windows never share cursor state.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import dlt
from dlt.extract.source import DltResource, DltSource
from dlt.sources.helpers.requests import Client
from dlt.sources.rest_api import rest_api_source
from requests import Response

from comms_assets.catalog import Api, Endpoint

Window = tuple[datetime, datetime]


def base_url(api: Api) -> str:
    """``SOURCES__<API>__BASE_URL`` (env or ``.dlt/config.toml``), else the vendor's host."""
    return dlt.config.get(f"sources.{api.name}.base_url", str) or api.base_url


def latest_instant(values: tuple[Any, ...]) -> Any:
    """``max`` by point in time, for cursors in mixed ISO-8601 forms (dates, ``Z``, offsets).

    Plain ``max`` compares strings, which is wrong across time zone offsets (Gong) and between a
    date and a date-time (JustCall's ``call_date`` against a window bound).
    """
    return max(values, key=_instant)


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) and value.tzinfo else _parse_instant(str(value))


@lru_cache(maxsize=65_536)
def _parse_instant(text: str) -> datetime:
    """Cached: the window bounds are compared with every row, and rows share dates."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class LoadStats:
    """What one load did: requests per endpoint (a response hook) and, for date-cursor endpoints,
    rows extracted per endpoint and UTC day (a map step), so a range run can report each day."""

    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    rows_by_day: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_hook(self, endpoint: str):
        def count(response: Response, *args: Any, **kwargs: Any) -> Response:
            with self._lock:
                self.requests[endpoint] += 1
            return response

        return count

    def row_counter(self, endpoint: str, date_field: str, window: Window):
        """Counts rows per day of ``date_field``; runs before dlt's incremental drops rows outside
        the window, so it skips those itself."""
        path = date_field.split(".")
        start, end = window

        def count(row: dict[str, Any]) -> dict[str, Any]:
            value: Any = row
            for part in path:
                value = value[part]
            moment = _instant(value)
            if start <= moment < end:
                self.rows_by_day[(endpoint, moment.astimezone(UTC).date().isoformat())] += 1
            return row

        return count


def build_source(
    api: Api,
    credentials: Mapping[str, str] | None = None,
    window: Window | None = None,
    stats: LoadStats | None = None,
) -> DltSource:
    """The dlt source of one API.

    Without ``credentials`` the source still builds (for asset definitions and validation) but
    has no auth; without ``window`` the date-cursor endpoints are asked for the previous day.
    """
    url = base_url(api)
    window = window or _yesterday()
    stats = stats or LoadStats()
    client: dict[str, Any] = {"base_url": url, "headers": dict(api.headers), "session": _session(api),
                              "paginator": api.paginator() if callable(api.paginator) else api.paginator}
    if credentials is not None:
        auth = api.auth(credentials, url)
        if hasattr(auth, "session"):
            auth.session = client["session"]  # the token request retries like every other request
        client["auth"] = auth
    resources: list[Any] = []
    for endpoint in api.endpoints:
        if endpoint.window:
            resources.append(_windows(endpoint, window))
        resources.append(_resource(api, endpoint, window, stats))
    config = {"client": client, "resources": resources}
    return rest_api_source(config, name=api.name)  # type: ignore[arg-type]


def _yesterday() -> Window:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1), today


def _session(api: Api) -> Any:
    """dlt's retrying session: 429/5xx/connection errors, exponential backoff, ``Retry-After``."""
    section = f"sources.{api.name}"
    retry = api.retry
    return Client(
        request_timeout=dlt.config.get(f"{section}.request_timeout", float) or retry.timeout,
        request_max_attempts=dlt.config.get(f"{section}.request_max_attempts", int) or retry.attempts,
        request_backoff_factor=dlt.config.get(f"{section}.request_backoff_factor", float) or retry.backoff,
        request_max_retry_delay=dlt.config.get(f"{section}.request_max_retry_delay", float) or retry.max_delay,
        respect_retry_after_header=True,
        raise_for_status=False,
    ).session


def _windows_name(endpoint: Endpoint) -> str:
    return f"{endpoint.name}_windows"


def _windows(endpoint: Endpoint, window: Window) -> DltResource:
    """A hidden parent resource yielding one row per request window (rendered request values)."""
    assert endpoint.window is not None
    rows = []
    for start, end in endpoint.window.chunks(*window):
        leaves = dict(_leaves(endpoint.window.request(start, end)))
        rows.append({**leaves, "window_start": start.strftime("%Y-%m-%d")})
    # One item holding all rows: rest_api's dependent resources iterate parent items as pages.
    return dlt.resource([rows], name=_windows_name(endpoint), selected=False)


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"json": {"filter": {"a": 1}}}`` -> ``("json__filter__a", 1)``."""
    for key, value in tree.items():
        path = f"{prefix}__{key}" if prefix else key
        if isinstance(value, Mapping):
            yield from _leaves(value, path)
        else:
            yield path, value


def _template(tree: Mapping[str, Any], parent: str, prefix: str) -> dict[str, Any]:
    """``tree`` with every leaf replaced by a placeholder into the parent's row."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}__{key}"
        out[key] = _template(value, parent, path) if isinstance(value, Mapping) else f"{{resources.{parent}.{path}}}"
    return out


def _merge(base: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base or {})
    for key, value in extra.items():
        out[key] = _merge(out.get(key), value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def _resource(api: Api, endpoint: Endpoint, window: Window, stats: LoadStats) -> dict[str, Any]:
    request: dict[str, Any] = {"path": endpoint.path, "method": endpoint.method, "data_selector": endpoint.selector,
                               "params": dict(endpoint.params), "response_actions": [
                                   stats.request_hook(endpoint.name), *api.response_actions]}
    if endpoint.json is not None:
        request["json"] = dict(endpoint.json)
    if endpoint.paginator is not None:
        request["paginator"] = endpoint.paginator
    resource: dict[str, Any] = {"name": endpoint.name, "primary_key": list(endpoint.primary_key),
                                "write_disposition": endpoint.write_disposition, "endpoint": request}
    if endpoint.window:
        parent = _windows_name(endpoint)
        sample = endpoint.window.request(*window)
        for part in ("params", "json"):
            if part in sample:
                request[part] = _merge(request.get(part), _template(sample[part], parent, part))
        if endpoint.window.cursor:
            start, end = window
            request["incremental"] = {
                "cursor_path": endpoint.window.cursor, "initial_value": start.isoformat(),
                "end_value": end.isoformat(), "range_end": "open", "last_value_func": latest_instant,
                "primary_key": []}
        steps = []
        if endpoint.window.tag:
            resource["include_from_parent"] = ["window_start"]
            steps.append({"map": _rename(f"_{parent}_window_start", endpoint.window.tag)})
        steps.append({"map": stats.row_counter(endpoint.name, endpoint.window.cursor or endpoint.window.tag or "",
                                               window)})
        resource["processing_steps"] = steps
    if endpoint.per_parent:
        link = endpoint.per_parent
        *parents, leaf = link.key.split(".")
        nested: dict[str, Any] = {leaf: f"{{resources.{link.endpoint}.{link.field}}}"}
        for name in reversed(parents):
            nested = {name: nested}
        request["json"] = _merge(request.get("json"), nested)
        resource["include_from_parent"] = [link.field]
    return resource


def _rename(old: str, new: str):
    def rename(row: dict[str, Any]) -> dict[str, Any]:
        row[new] = row.pop(old)
        return row

    return rename
