"""Gong API v2 (conversation intelligence)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from dlt.sources.helpers.rest_client.auth import HttpBasicAuth

from comms_assets.catalog.model import Api, Budget, Endpoint, Rate, Window

MAX_DAYS = 90  # Gong rejects wider date ranges
GET_CURSOR = {"type": "cursor", "cursor_path": "records.cursor", "cursor_param": "cursor"}
POST_CURSOR = {"type": "cursor", "cursor_path": "records.cursor", "cursor_body_path": "cursor"}


def _auth(credentials: Mapping[str, str], base_url: str) -> HttpBasicAuth:
    return HttpBasicAuth(credentials["GONG_ACCESS_KEY"], credentials["GONG_ACCESS_KEY_SECRET"])


def _instants(start: datetime, end: datetime) -> dict[str, str]:
    """``fromDateTime`` inclusive, ``toDateTime`` exclusive, ISO-8601 with offset."""
    return {"fromDateTime": start.isoformat(), "toDateTime": end.isoformat()}


def _calls(start: datetime, end: datetime) -> dict:
    return {"params": _instants(start, end)}


def _extensive(start: datetime, end: datetime) -> dict:
    return {"json": {"filter": _instants(start, end), "contentSelector": {
        "context": "Extended", "exposedFields": {"parties": True, "content": {"topics": True, "trackers": True},
                                                 "interaction": {"speakers": True, "personInteractionStats": True}}}}}


def _scorecards(start: datetime, end: datetime) -> dict:
    """``callFromDate`` inclusive, ``callToDate`` exclusive: dates on the company's clock."""
    return {"json": {"filter": {"callFromDate": start.strftime("%Y-%m-%d"), "callToDate": end.strftime("%Y-%m-%d")}}}


# What the fields mean (api-facts); every endpoint describes its key, cursor and timestamps.
ID = ("text", "Gong's id (up to 20 digits, kept as text).")
OFFSET = "ISO-8601 with the workspace's UTC offset; stored as UTC"
STARTED = ("timestamp", f"When the call started ({OFFSET}): the cursor, by its UTC day.")
SCHEDULED = ("timestamp", f"When it was scheduled to start ({OFFSET}).")


API = Api(
    name="gong",
    title="Gong",
    base_url="https://api.gong.io/v2",
    credentials=(("GONG_ACCESS_KEY", "GONG_ACCESS_KEY_SECRET"),),
    auth=_auth,
    paginator=GET_CURSOR,
    # 3 calls a second and 10,000 a day per company; a 429 says when in Retry-After.
    budget=Budget(plans={"published": {"default": (Rate(3, 1), Rate(10_000, 86_400))}}, plan="published"),
    settling_days=3, settling_why=("a call is visible only once processed, up to a day after it starts; "
                                   "scorecards are answered days later"),
    # Gong answers an empty result with 404 and this text instead of an empty page.
    response_actions=({"status_code": 404, "content": "found corresponding to the provided filters",
                       "action": "ignore"},),
    endpoints=(
        Endpoint("users", "users", "Gong users (reps, managers, admins).", primary_key=("id",), selector="users",
                 columns={"id": ID, "created": ("timestamp", f"When the user was created ({OFFSET}).")}),
        Endpoint("calls", "calls", "Recorded calls and meetings: one row per call.", primary_key=("id",),
                 selector="calls", window=Window(_calls, cursor="started", max_days=MAX_DAYS),
                 columns={"id": ID, "started": STARTED, "scheduled": SCHEDULED}),
        Endpoint("extensive_calls", "calls/extensive", "Calls with parties, topics and interaction statistics.",
                 primary_key=("metaData__id",), method="POST", selector="calls", paginator=POST_CURSOR,
                 window=Window(_extensive, cursor="metaData.started", max_days=MAX_DAYS),
                 columns={"metaData.id": ID, "metaData.started": STARTED, "metaData.scheduled": SCHEDULED}),
        Endpoint("scorecards", "settings/scorecards", "Scorecard definitions and their questions.",
                 primary_key=("scorecardId",), selector="scorecards", paginator={"type": "single_page"},
                 columns={"scorecardId": ID, "created": ("timestamp", f"When the scorecard was created ({OFFSET})."),
                          "updated": ("timestamp", f"Its last change ({OFFSET}).")}),
        Endpoint("answered_scorecards", "stats/activity/scorecards", "Scorecards reviewers filled in for calls.",
                 primary_key=("answeredScorecardId",), method="POST", selector="answeredScorecards",
                 paginator=POST_CURSOR,
                 window=Window(_scorecards, cursor="callStartTime", max_days=MAX_DAYS, clock="date"),
                 columns={"answeredScorecardId": ID,
                          "callStartTime": ("timestamp", (f"Start of the reviewed call ({OFFSET}): the cursor, by the "
                                                         "company's date it is written with (its partition).")),
                          "reviewTime": ("timestamp", f"When the review was submitted ({OFFSET}).")}),
    ),
)
