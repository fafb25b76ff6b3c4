"""JustCall v2.1 (cloud call centre)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from requests import Response

from comms_assets.catalog.model import Api, Budget, Endpoint, Rate, Window

PAGE_SIZE = 100  # documented maximum of per_page
CONTACTS_PAGE_SIZE = 500  # the maximum JustCall's own schema gives v2.1 contacts
LIST = {"per_page": PAGE_SIZE, "order": "asc"}
DATED = {**LIST, "sort": "datetime"}


# ``"next_page_link": ""`` or ``null``: read from the raw body, so the page is not parsed twice.
LAST_PAGE = re.compile(rb'"next_page_link"\s*:\s*(""|null)')


class NextLinkPaginator(PageNumberPaginator):
    """0-based ``page`` numbers that stop when ``next_page_link`` is empty or absent.

    dlt's ``json_link`` would request the empty string as a URL, and a bare ``page_number``
    paginator needs one extra, empty page to notice the end.
    """

    def __init__(self) -> None:
        super().__init__(base_page=0, page_param="page", total_path=None, stop_after_empty_page=True)

    def update_state(self, response: Response, data: list | None = None) -> None:
        super().update_state(response, data)
        if LAST_PAGE.search(response.content) or b'"next_page_link"' not in response.content:
            self._has_next_page = False


def _auth(credentials: Mapping[str, str], base_url: str) -> APIKeyAuth:
    """The raw ``key:secret`` pair in ``Authorization``: no scheme, no base64."""
    secret = f"{credentials['JUSTCALL_API_KEY']}:{credentials['JUSTCALL_API_SECRET']}"
    return APIKeyAuth(name="Authorization", api_key=secret, location="header")


def _datetimes(start: datetime, end: datetime) -> dict:
    """``from_datetime``/``to_datetime`` are both inclusive wall-clock times in the account's time
    zone (the ``account`` clock), while ``call_date``/``call_time`` are UTC."""
    fmt = "%Y-%m-%d %H:%M:%S"
    return {"params": {"from_datetime": start.strftime(fmt), "to_datetime": (end - timedelta(seconds=1)).strftime(fmt)}}


def _day(start: datetime, end: datetime) -> dict:
    """One date on the account's clock: the report's totals are per local date."""
    return {"params": {"from_date": start.strftime("%Y-%m-%d"), "to_date": start.strftime("%Y-%m-%d")}}


def _plan(per_minute: int, per_hour: int) -> dict[str, tuple[Rate, ...]]:
    return {"default": (Rate(per_minute, 60), Rate(per_hour, 3600))}


# developer.justcall.io/docs/rate-limits: a burst limit per minute and an hourly one, by plan. A
# 429 carries no Retry-After, only the windows' reset times (epoch seconds).
BUDGET = Budget(plans={"team": _plan(30, 1800), "pro": _plan(60, 3600), "business": _plan(90, 5400)}, plan="team",
                headers=(("X-Rate-Limit-Burst-Remaining", "X-Rate-Limit-Burst-Reset"),
                         ("X-Rate-Limit-Remaining", "X-Rate-Limit-Reset")))


# What the fields mean (api-facts); every endpoint describes its key, cursor and timestamps.
NAIVE_UTC = "a value without an offset is stored as UTC"

ID = ("bigint", "JustCall's numeric id of the record.")


API = Api(
    name="justcall",
    title="JustCall",
    base_url="https://api.justcall.io",
    credentials=(("JUSTCALL_API_KEY", "JUSTCALL_API_SECRET"),),
    auth=_auth,
    paginator=NextLinkPaginator,
    budget=BUDGET,
    settling_days=2, settling_why="recordings, dispositions, notes and AI data are added to a call after it ends",
    headers={"Accept": "application/json"},
    endpoints=(
        Endpoint("users", "v2.1/users", "Agents and admins of the JustCall account.",
                 primary_key=("id",), selector="data", params=LIST,
                 columns={"id": ID, "created_at": ("timestamp", f"When the user was created (ISO-8601; {NAIVE_UTC})."),
                          "last_login_timestamp": ("timestamp", f"The user's last sign-in (ISO-8601; {NAIVE_UTC}).")}),
        Endpoint("calls", "v2.1/calls", "Call log: one row per call, with duration and disposition.",
                 primary_key=("id",), selector="data", params=DATED,
                 window=Window(_datetimes, cursor="call_date", clock="account"),
                 columns={"id": ID, "call_date": ("text",
                                                  "UTC date of the call (YYYY-MM-DD): the daily partition's cursor."),
                          "call_time": ("text", "UTC time of day the call started (HH:MM:SS)."),
                          "call_user_date": ("text", ("Date of the call in the account's time zone, as JustCall's "
                                                      "filters read it.")),
                          "call_user_time": ("text", "Time of day in the account's time zone.")}),
        Endpoint("sms", "v2.1/texts", "Text messages sent and received.",
                 primary_key=("id",), selector="data", params=DATED,
                 window=Window(_datetimes, cursor="sms_date", clock="account"),
                 columns={"id": ID, "sms_date": ("text",
                                                 "UTC date of the text (YYYY-MM-DD): the daily partition's cursor."),
                          "sms_time": ("text", "UTC time of day the text was sent or received (HH:MM:SS)."),
                          "sms_user_date": ("text", "Date of the text in the account's time zone."),
                          "sms_user_time": ("text", "Time of day in the account's time zone.")}),
        Endpoint("contacts", "v2.1/contacts", "Contacts in the JustCall address book.",
                 primary_key=("id",), selector="data", params={**LIST, "per_page": CONTACTS_PAGE_SIZE},
                 columns={"id": ID, "created_at": ("timestamp",
                                                   f"When the contact was created (ISO-8601; {NAIVE_UTC})."),
                          "last_updated_at": ("timestamp", f"Its last change (ISO-8601; {NAIVE_UTC}).")}),
        Endpoint("phone_numbers", "v2.1/phone-numbers", "Phone numbers owned by the account.",
                 primary_key=("id",), selector="data", params=LIST,
                 columns={"id": ID}),
        Endpoint("agent_analytics", "v2.1/sales_dialer/analytics",
                 "Sales-dialer totals per agent per day (the API aggregates a range; it is asked one day at a time).",
                 primary_key=("agent_id", "report_date"), selector="data", paginator={"type": "single_page"},
                 window=Window(_day, cursor=None, max_days=1, tag="report_date", clock="date"),
                 columns={"agent_id": ("bigint", "JustCall user id of the agent."),
                          "report_date": ("text", ("The date the totals are for, on the account's clock (YYYY-MM-DD): "
                                                  "the partition asked for, added by the loader: the report does "
                                                  "not say it."))}),
    ),
)
