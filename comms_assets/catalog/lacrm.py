"""Less Annoying CRM API v2 (small-business CRM): one RPC URL, ``Function`` + ``Parameters`` bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from dlt.sources.helpers.rest_client.auth import APIKeyAuth

from comms_assets.catalog.model import Api, Endpoint, PerParent, Window

PAGE_SIZE = 10_000  # documented maximum of MaxNumberOfResults
SINGLE = {"type": "single_page"}
PAGED = {"type": "page_number", "base_page": 1, "page_body_path": "Parameters.Page", "total_path": None,
         "has_more_path": "HasMoreResults"}


def _auth(credentials: Mapping[str, str], base_url: str) -> APIKeyAuth:
    """The raw API key in ``Authorization``, no scheme."""
    return APIKeyAuth(name="Authorization", api_key=credentials["LACRM_API_KEY"], location="header")


def call(function: str, **parameters: Any) -> dict[str, Any]:
    return {"Function": function, "Parameters": parameters}


def paged(function: str, **parameters: Any) -> dict[str, Any]:
    return call(function, MaxNumberOfResults=PAGE_SIZE, **parameters)


def _dates(function: str):
    """``StartDate``/``EndDate`` are inclusive dates (account time zone, UTC)."""

    def request(start: datetime, end: datetime) -> dict:
        last = end - timedelta(days=1)
        return {"json": paged(function, StartDate=f"{start:%Y-%m-%d}", EndDate=f"{last:%Y-%m-%d}", SortDirection="Ascending")}

    return request


def endpoint(name: str, function: str, description: str, *key: str, **kwargs: Any) -> Endpoint:
    """Every LACRM call is a POST to the API's one URL."""
    kwargs.setdefault("json", paged(function))
    return Endpoint(name, "", description, primary_key=key, method="POST", **kwargs)


API = Api(
    name="lacrm",
    title="Less Annoying CRM",
    base_url="https://api.lessannoyingcrm.com/v2/",
    credentials=(("LACRM_API_KEY",),),
    auth=_auth,
    paginator=PAGED,
    page_size=PAGE_SIZE,
    endpoints=(
        endpoint("users", "GetUsers", "Users of the CRM account.", "UserId", json=call("GetUsers"), paginator=SINGLE),
        endpoint("contacts", "GetContacts", "Contacts and companies.", "ContactId", selector="Results"),
        endpoint("tasks", "GetTasks", "Tasks, by due date.", "TaskId", selector="Results.*",
                 window=Window(_dates("GetTasks"), cursor="DueDate")),
        endpoint("pipeline_items", "GetPipelineItemsAttachedToContact", "Pipeline items, fetched per contact.",
                 "PipelineItemId", selector="Results",
                 per_parent=PerParent("contacts", "ContactId", "Parameters.ContactId")),
        endpoint("notes", "GetNotes", "Notes logged on contacts.", "NoteId", selector="Results"),
        endpoint("teams", "GetTeams", "Teams of users.", "TeamId", json=call("GetTeams"), paginator=SINGLE),
        endpoint("events", "GetEvents", "Calendar events, by start date.", "EventId", selector="Results",
                 window=Window(_dates("GetEvents"), cursor="StartDate")),
        endpoint("contact_events", "GetEventsAttachedToContact",
                 "Events per contact: one row per (event, contact) attachment.", "EventId",
                 "_contacts_ContactId", selector="Results",
                 per_parent=PerParent("contacts", "ContactId", "Parameters.ContactId")),
    ),
)
