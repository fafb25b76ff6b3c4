"""Less Annoying CRM API v2 (small-business CRM): one RPC URL, ``Function`` + ``Parameters`` bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from dlt.sources.helpers.rest_client.auth import APIKeyAuth

from comms_assets.catalog.model import Api, Budget, Endpoint, PerListed, Rate, Record, Window

PAGE_SIZE = 10_000  # documented maximum of MaxNumberOfResults
SINGLE = {"type": "single_page"}
CONTACT = "_contacts_ContactId"  # the contact column of the per-contact tables
EVERY_DATE = {"StartDate": "1970-01-01", "EndDate": "2200-01-01"}
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
    """``StartDate``/``EndDate`` are inclusive dates (on the account's clock: unconfirmed)."""

    def request(start: datetime, end: datetime) -> dict:
        last = end - timedelta(microseconds=1)
        return {"json": paged(function, StartDate=f"{start:%Y-%m-%d}", EndDate=f"{last:%Y-%m-%d}",
                              SortDirection="Ascending")}

    return request


def _every_status(pipeline: Record) -> dict[str, Any]:
    """A pipeline's items in all its statuses: an empty ``StatusFilter`` means the active ones only."""
    statuses = [status["StatusId"] for status in pipeline["Statuses"]]
    return {"json": {"Parameters": {"PipelineId": pipeline["PipelineId"], "StatusFilter": statuses}}}


def _with_contact(item: Record) -> list[Record]:
    """An item as the table has always held it, with its contact under ``_contacts_ContactId``."""
    return [{**item, CONTACT: item["ContactId"]}]


def _per_contact(event: Record) -> list[Record]:
    """One row per contact the event is attached to."""
    return [{**event, CONTACT: contact} for contact in event.get("ContactIds") or ()]


def endpoint(name: str, function: str, description: str, *key: str, **kwargs: Any) -> Endpoint:
    """Every LACRM call is a POST to the API's one URL."""
    kwargs.setdefault("json", paged(function))
    return Endpoint(name, "", description, primary_key=key, method="POST", **kwargs)


# What the fields mean (api-facts); every endpoint describes its key, cursor and timestamps.
OFFSET = "ISO-8601 with the account's UTC offset; stored as UTC"
CREATED = ("timestamp", f"When the record was created ({OFFSET}).")
UPDATED = ("timestamp", f"Its last change ({OFFSET}).")
EVENT = {"EventId": ("text", "LACRM's id of the event."),
         "StartDate": ("timestamp", f"When the event starts ({OFFSET}): the cursor, by its UTC day."),
         "EndDate": ("timestamp", f"When it ends ({OFFSET})."), "DateCreated": CREATED, "DateUpdated": UPDATED}


API = Api(
    name="lacrm",
    title="Less Annoying CRM",
    base_url="https://api.lessannoyingcrm.com/v2/",
    credentials=(("LACRM_API_KEY",),),
    auth=_auth,
    paginator=PAGED,
    # Unpublished: the community client's 120 a minute is assumed; a 429 carries no hint.
    budget=Budget(plans={"assumed": {"default": (Rate(120, 60),)}}, plan="assumed"),
    settling_days=2, settling_why="tasks and events are edited and completed after their day",
    endpoints=(
        endpoint("users", "GetUsers", "Users of the CRM account.", "UserId", json=call("GetUsers"), paginator=SINGLE,
                 columns={"UserId": ("text", "LACRM's id of the user.")}),
        endpoint("contacts", "GetContacts", "Contacts and companies.", "ContactId", selector="Results",
                 columns={"ContactId": ("text", "LACRM's id of the contact or company."), "DateCreated": CREATED,
                          "LastUpdate": UPDATED}),
        endpoint("tasks", "GetTasks", "Tasks, by due date.", "TaskId", selector="Results.*",
                 window=Window(_dates("GetTasks"), cursor="DueDate", clock="date"),
                 columns={"TaskId": ("text", "LACRM's id of the task."), "DateCreated": CREATED,
                          "DueDate": ("text", ("Due date (YYYY-MM-DD), a calendar date with no zone: the cursor "
                                               "and the partition."))}),
        endpoint("pipeline_items", "GetPipelineItems", "Pipeline items in every status, pipeline by pipeline.",
                 "PipelineItemId", selector="Results", rows=_with_contact,
                 per_listed=PerListed(call("GetPipelines"), "$", _every_status),
                 columns={"PipelineItemId": ("text", "LACRM's id of the pipeline item."), "DateCreated": CREATED,
                          "LastUpdate": UPDATED}),
        endpoint("notes", "GetNotes", "Notes logged on contacts.", "NoteId", selector="Results",
                 columns={"NoteId": ("text", "LACRM's id of the note."), "DateCreated": CREATED,
                          "DateDisplayedInHistory": ("timestamp", f"The date the note is filed under ({OFFSET}).")}),
        endpoint("teams", "GetTeams", "Teams of users.", "TeamId", json=call("GetTeams"), paginator=SINGLE,
                 columns={"TeamId": ("text", "LACRM's id of the team."), "DateCreated": CREATED}),
        endpoint("events", "GetEvents", "Calendar events, by start date.", "EventId", selector="Results",
                 window=Window(_dates("GetEvents"), cursor="StartDate", clock="account"),
                 columns=EVENT),
        endpoint("contact_events", "GetEvents", "Events per contact: one row per (event, contact) attachment.",
                 "EventId", CONTACT, selector="Results", json=paged("GetEvents", **EVERY_DATE), rows=_per_contact,
                 columns={**EVENT, CONTACT: ("text", "The contact the event is attached to: one row per contact.")}),
    ),
)
