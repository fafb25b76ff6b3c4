"""Less Annoying CRM v2: one POST URL, ``Function``/``Parameters`` bodies, HTTP 400 for every error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from comms_assets.sandbox.data import digits
from comms_assets.sandbox.protocol import Api, ApiError, Limit, Reply, Request, page_slice

MAX_RESULTS = 10_000
DEFAULT_RESULTS = 500
PIPELINE_ITEMS_PER_CONTACT = 3
# (name, statuses): each status (name, active?). Items in closed statuses are left out of
# GetPipelineItems unless its StatusFilter names them.
PIPELINES = (("Sales", (("Lead", True), ("Qualified", True), ("Proposal", True), ("Won", False), ("Lost", False))),
             ("Onboarding", (("Kick-off", True), ("Live", False))))


class Lacrm(Api):
    name = "lacrm"
    limits = (Limit("minute", 120, 60),)  # not published; a community client self-limits to this
    retry_after = False  # a 429 says nothing of when to come back

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.route("POST", "/v2", self.dispatch)
        self.functions: dict[str, Callable[[Request, dict], Reply]] = {
            "GetUsers": lambda req, p: Reply(200, [self.user(i) for i in range(self.world.count("lacrm/users"))]),
            "GetTeams": lambda req, p: Reply(200, [self.team(i) for i in range(self.world.count("lacrm/teams"))]),
            "GetContacts": lambda req, p: self._page(req, p, range(self.world.count("lacrm/contacts")), self.contact),
            "GetNotes": lambda req, p: self._page(req, p, range(self.world.count("lacrm/notes")), self.note),
            "GetTasks": self.tasks,
            "GetEvents": self.events,
            "GetPipelineItemsAttachedToContact": self.pipeline_items,
            "GetEventsAttachedToContact": self.contact_events,
            "GetPipelines": lambda req, p: Reply(200, [self.pipeline(i) for i in range(len(PIPELINES))]),
            "GetPipelineItems": self.items_of_pipeline,
        }
        # How GetPipelineItemsAttachedToContact answers; the vendor's docs leave it open and client
        # code reads all three: "results" ({"Results": [...]}), "items" ({"PipelineItems": [...]}),
        # "grouped" (a bare array of pipelines, each with its "PipelineItems").
        self.pipeline_item_shape = "results"

    # -- protocol ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.header("Authorization") != self.credentials["LACRM_API_KEY"]:
            raise ApiError(400, "The API key is invalid or has been revoked.", "InvalidApiKey")

    def error(self, error: ApiError) -> Reply:
        status = error.status if error.status in (429,) or error.status >= 500 else 400
        return Reply(status, {"ErrorCode": error.code or _codes.get(error.status, "InvalidRequest"),
                              "ErrorDescription": error.message})

    def record_count(self) -> dict[str, int]:
        w = self.world
        contacts = w.count("lacrm/contacts")
        return {"users": w.count("lacrm/users"), "contacts": contacts, "tasks": w.count("lacrm/tasks"),
                "pipeline_items": sum(self._pipeline_count(c) for c in range(contacts)),
                "notes": w.count("lacrm/notes"), "teams": w.count("lacrm/teams"), "events": w.count("lacrm/events"),
                "contact_events": sum(len(self._events_of(c)) for c in range(contacts))}

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.", "InvalidJson") from None
        if not isinstance(body, dict) or "Function" not in body:
            raise ApiError(400, "No Function was specified.", "MissingFunction")
        function = self.functions.get(body["Function"])
        if function is None:
            raise ApiError(400, f"{body['Function']} is not a valid function.", "InvalidFunction")
        params = body.get("Parameters") or {}
        if not isinstance(params, dict):
            raise ApiError(400, "Parameters must be an object.", "InvalidParameter")
        return function(request, params)

    def _page(self, request: Request, params: dict, ids: range | list[int], build: Callable[[int], dict],
              keyed_by: str = "") -> Reply:
        try:
            size = min(int(params.get("MaxNumberOfResults", DEFAULT_RESULTS)), MAX_RESULTS)
            page = int(params.get("Page", 1))
        except (TypeError, ValueError):
            raise ApiError(400, "MaxNumberOfResults and Page must be integers.", "InvalidParameter") from None
        if size < 1 or page < 1:
            raise ApiError(400, "MaxNumberOfResults and Page must be positive.", "InvalidParameter")
        rows = [build(i) for i in page_slice(request, ids, (page - 1) * size, size)]
        results: list | dict = {row[keyed_by]: row for row in rows} if keyed_by else rows
        return Reply(200, {"HasMoreResults": page * size < len(ids), "Results": results})

    def _dates(self, params: dict, required: bool) -> tuple[datetime | None, datetime | None]:
        """``StartDate``..``EndDate``, both inclusive dates on the account's clock."""
        if required and not (params.get("StartDate") and params.get("EndDate")):
            raise ApiError(400, "StartDate and EndDate are required.", "MissingParameter")
        bounds = []
        for key in ("StartDate", "EndDate"):
            value = params.get(key)
            try:
                day = date.fromisoformat(str(value)[:10]) if value else None
            except ValueError:
                raise ApiError(400, f"{key} is not a valid date.", "InvalidParameter") from None
            bounds.append(datetime(day.year, day.month, day.day, tzinfo=self.zone) if day else None)
        start, end = bounds
        return start, datetime.combine(end.date() + timedelta(days=1), end.time(), self.zone) if end else None

    def tasks(self, request: Request, params: dict) -> Reply:
        ids = self.world.between("lacrm/tasks", *self._dates(params, required=True))
        return self._page(request, params, ids, self.task, keyed_by="TaskId")

    def events(self, request: Request, params: dict) -> Reply:
        ids = self.world.between("lacrm/events", *self._dates(params, required=False))
        return self._page(request, params, ids, self.event)

    def _contact_index(self, params: dict) -> int:
        contact_id = str(params.get("ContactId", ""))
        base = digits(self.world.seed, "lacrm/contacts", 0)
        index = int(contact_id) - int(base) if contact_id.isdigit() else -1
        if not 0 <= index < self.world.count("lacrm/contacts"):
            raise ApiError(400, "ContactId is not a valid contact.", "InvalidContactId")
        return index

    def pipeline_items(self, request: Request, params: dict) -> Reply:
        """Every item of one contact, in any status, in ``pipeline_item_shape``."""
        contact = self._contact_index(params)
        ids = range(contact * PIPELINE_ITEMS_PER_CONTACT, contact * PIPELINE_ITEMS_PER_CONTACT +
                    self._pipeline_count(contact))
        if self.pipeline_item_shape == "results":
            return self._page(request, params, ids, self.pipeline_item)
        items = [self.pipeline_item(i) for i in ids]
        if self.pipeline_item_shape == "items":
            return Reply(200, {"PipelineItems": items})
        return Reply(200, [{"PipelineId": p["PipelineId"], "Name": p["Name"],
                            "PipelineItems": [i for i in items if i["PipelineId"] == p["PipelineId"]]}
                           for p in (self.pipeline(n) for n in range(len(PIPELINES)))])

    def items_of_pipeline(self, request: Request, params: dict) -> Reply:
        """One pipeline's items whose status ``StatusFilter`` names; an empty filter means the
        active statuses only."""
        pipeline = str(params.get("PipelineId", ""))
        numbers = [n for n in range(len(PIPELINES)) if self._id("lacrm/pipelines", n) == pipeline]
        if not numbers:
            raise ApiError(400, "PipelineId is not a valid pipeline.", "InvalidPipelineId")
        statuses = {s["StatusId"]: s for s in self.pipeline(numbers[0])["Statuses"]}
        wanted = params.get("StatusFilter") or [sid for sid, s in statuses.items() if s["IsActive"]]
        if not isinstance(wanted, list) or any(sid not in statuses for sid in wanted):
            raise ApiError(400, "StatusFilter must list StatusIds of the pipeline.", "InvalidStatusFilter")
        total = PIPELINE_ITEMS_PER_CONTACT * self.world.count("lacrm/contacts")
        ids = [i for i in range(total) if self._pipeline_of(i) == numbers[0] and self._is_item(i)
               and self.pipeline_item(i)["StatusId"] in wanted]
        return self._page(request, params, ids, self.pipeline_item)

    def _is_item(self, i: int) -> bool:
        contact, n = divmod(i, PIPELINE_ITEMS_PER_CONTACT)
        return n < self._pipeline_count(contact)

    def _pipeline_of(self, i: int) -> int:
        return self.world.rng("lacrm/pipeline_of", i).randrange(len(PIPELINES))

    def contact_events(self, request: Request, params: dict) -> Reply:
        return self._page(request, params, self._events_of(self._contact_index(params)), self.event)

    def _pipeline_count(self, contact: int) -> int:
        return self.world.rng("lacrm/pipeline_count", contact).randrange(PIPELINE_ITEMS_PER_CONTACT + 1)

    def _attendees(self, event: int) -> tuple[int, int]:
        """Each event is attached to two contacts, chosen so that the reverse lookup is arithmetic."""
        n = self.world.count("lacrm/contacts")
        return event % n, (event + n // 2) % n

    def _events_of(self, contact: int) -> list[int]:
        n, events = self.world.count("lacrm/contacts"), self.world.count("lacrm/events")
        first = range(contact, events, n)
        second = range((contact - n // 2) % n, events, n)
        return sorted(set(first) | set(second))

    # -- records -------------------------------------------------------------------------------

    def _id(self, kind: str, i: int) -> str:
        return digits(self.world.seed, kind, i)

    def _stamp(self, at: datetime) -> str:
        """API v2's timestamps carry the account's offset."""
        return self.local(at).isoformat(timespec="seconds")

    def user(self, i: int) -> dict:
        employee = self.world.employee(i)
        return {"UserId": self._id("lacrm/users", i), "FirstName": employee.first, "LastName": employee.last,
                "Email": employee.email, "Timezone": self.account.timezone}

    def team(self, i: int) -> dict:
        users = self.world.count("lacrm/users")
        return {"TeamId": self._id("lacrm/teams", i), "Name": f"Team {i + 1}",
                "UserIds": [self._id("lacrm/users", u) for u in range(i, users, self.world.count("lacrm/teams"))],
                "DateCreated": self._stamp(self.world.start - timedelta(days=365))}

    def contact(self, i: int) -> dict:
        r = self.world.rng("lacrm/contacts", i)
        customer = self.world.customer(i + self.world.lacrm_offset())
        created = self.world.start - timedelta(days=r.randrange(1, 500), seconds=r.randrange(86400))
        return {"ContactId": self._id("lacrm/contacts", i), "IsCompany": False, "CompanyId": None,
                "AssignedTo": int(self._id("lacrm/users", self.world.pick("lacrm/users", r))),
                "Name": {"Salutation": "", "FirstName": customer.first, "MiddleName": "", "LastName": customer.last,
                         "Suffix": ""},
                "Email": [{"Text": customer.lacrm_email, "Type": "Work"}],
                "Phone": [{"Text": number, "Type": "Mobile"} for number in customer.lacrm_phones], "Address": [],
                "Website": [],
                "DateCreated": self._stamp(created), "LastUpdate": self._stamp(created + timedelta(days=3)),
                "Lead Source": r.choice(["Referral", "Website", "Event"])}

    def task(self, i: int) -> dict:
        r = self.world.rng("lacrm/tasks", i)
        due = self.world.instant("lacrm/tasks", i)
        return {"TaskId": self._id("lacrm/tasks", i), "Name": r.choice(["Call back", "Send quote", "Follow up"]),
                "DueDate": self.local(due).strftime("%Y-%m-%d"), "IsCompleted": r.random() < 0.5,
                "AssignedTo": self._id("lacrm/users", self.world.pick("lacrm/users", r)), "CalendarId": "1",
                "ContactId": self._id("lacrm/contacts", self.world.pick("lacrm/contacts", r)), "Description": "",
                "DateCreated": self._stamp(due - timedelta(days=r.randrange(1, 20)))}

    def note(self, i: int) -> dict:
        r = self.world.rng("lacrm/notes", i)
        created = self.world.start + timedelta(minutes=i * 7)
        return {"NoteId": self._id("lacrm/notes", i),
                "ContactId": self._id("lacrm/contacts", self.world.pick("lacrm/contacts", r)),
                "Note": r.choice(["Left a voicemail.", "Asked for pricing.", "Signed!"]), "IsRichText": False,
                "DateCreated": self._stamp(created), "DateDisplayedInHistory": self._stamp(created),
                "UserId": self._id("lacrm/users", self.world.pick("lacrm/users", r))}

    def pipeline(self, n: int) -> dict:
        name, statuses = PIPELINES[n]
        return {"PipelineId": self._id("lacrm/pipelines", n), "Name": name, "IsArchived": False,
                "Statuses": [{"StatusId": self._id("lacrm/statuses", n * 10 + k), "Name": status, "IsActive": active}
                             for k, (status, active) in enumerate(statuses)]}

    def pipeline_item(self, i: int) -> dict:
        r = self.world.rng("lacrm/pipeline_items", i)
        created = self.world.start - timedelta(days=r.randrange(1, 200))
        pipeline = self.pipeline(self._pipeline_of(i))
        status = r.choice(pipeline["Statuses"])
        return {"PipelineItemId": self._id("lacrm/pipeline_items", i), "PipelineId": pipeline["PipelineId"],
                "StatusId": status["StatusId"],
                "ContactId": self._id("lacrm/contacts", i // PIPELINE_ITEMS_PER_CONTACT),
                "DateCreated": self._stamp(created), "LastUpdate": self._stamp(created + timedelta(days=5)),
                "LastNote": "", "NumberOfUpdates": r.randrange(1, 9), "PipelineMetaData": {"Name": pipeline["Name"]},
                "StatusMetaData": {"Name": status["Name"]}}

    def event(self, i: int) -> dict:
        r = self.world.rng("lacrm/events", i)
        start = self.world.instant("lacrm/events", i)
        a, b = self._attendees(i)
        return {"EventId": self._id("lacrm/events", i), "Name": r.choice(["Demo", "Lunch", "Kick-off"]),
                "StartDate": self._stamp(start), "EndDate": self._stamp(start + timedelta(minutes=30)),
                "IsAllDay": False, "IsRecurring": False, "RecurrenceRule": None, "Location": "",
                "Description": "", "UserIds": [self._id("lacrm/users", self.world.pick("lacrm/users", r))],
                "ContactIds": [self._id("lacrm/contacts", a), self._id("lacrm/contacts", b)], "Attendees": [],
                "DateCreated": self._stamp(start - timedelta(days=2)),
                "DateUpdated": self._stamp(start - timedelta(days=1))}


_codes = {401: "InvalidApiKey", 404: "InvalidFunction", 405: "InvalidRequest"}
