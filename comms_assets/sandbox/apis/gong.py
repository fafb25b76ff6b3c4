"""Gong v2: HTTP Basic, ``records.cursor`` paging (query for GET, body for POST), 404 on no results."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from comms_assets.sandbox.data import COMPANY_DOMAIN, digits, phone
from comms_assets.sandbox.protocol import Api, ApiError, Limit, Reply, Request, page_slice, parse_instant

PAGE_SIZE = 100
MAX_RANGE = timedelta(days=90)
OFFSETS = [timezone(timedelta(hours=h)) for h in (-8, -5, 0, 1)]


class Gong(Api):
    name = "gong"
    limits = (Limit("second", 3, 1), Limit("day", 10_000, 86_400))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.route("GET", "/v2/users", self._paged("users", "users", lambda q: range(self.world.count("gong/users")),
                                                   self.user))
        self.route("GET", "/v2/calls", self._paged("calls", "calls", self._call_ids, self.call))
        self.route("POST", "/v2/calls/extensive", self._paged("calls", "calls", self._call_ids, self.extensive))
        self.route("POST", "/v2/stats/activity/scorecards",
                   self._paged("answered scorecards", "answeredScorecards", self._answered_ids, self.answered))
        self.route("GET", "/v2/settings/scorecards", self.scorecards)

    # -- protocol ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if request.basic_auth() != (self.credentials["GONG_ACCESS_KEY"], self.credentials["GONG_ACCESS_KEY_SECRET"]):
            raise ApiError(401, "Unauthorized: the access key or secret is invalid")

    def error(self, error: ApiError) -> Reply:
        return Reply(error.status, {"requestId": _request_id(error.message), "errors": [error.message]})

    def record_count(self) -> dict[str, int]:
        w = self.world
        return {"users": w.count("gong/users"), "calls": w.count("gong/calls"),
                "extensive_calls": w.count("gong/calls"), "scorecards": w.count("gong/scorecards"),
                "answered_scorecards": w.count("gong/answered_scorecards")}

    # -- paging --------------------------------------------------------------------------------

    def _paged(self, noun: str, key: str, ids_for: Callable[[dict], range], build: Callable[[int], dict]):
        def handler(request: Request) -> Reply:
            if request.method == "POST":
                try:
                    body = request.json()
                except ValueError:
                    raise ApiError(400, "Malformed JSON body") from None
                if not isinstance(body, dict) or not isinstance(body.get("filter"), dict):
                    raise ApiError(400, "filter is required")
                query, cursor = body["filter"], body.get("cursor")
            else:
                query = {k: v for k, v in request.query.items() if k != "cursor"}
                cursor = request.query.get("cursor")
            ids = ids_for(query)
            fingerprint = zlib.crc32(orjson.dumps(query, option=orjson.OPT_SORT_KEYS)) & 0xFFFF
            offset = self._open_cursor(request, cursor, fingerprint) if cursor else 0
            if not ids:
                raise ApiError(404, f"No {noun} found corresponding to the provided filters")
            chunk = page_slice(request, ids, offset, PAGE_SIZE)
            records: dict[str, Any] = {"totalRecords": len(ids), "currentPageSize": len(chunk),
                                       "currentPageNumber": offset // PAGE_SIZE}
            if offset + PAGE_SIZE < len(ids):
                records["cursor"] = _cursor(offset + PAGE_SIZE, fingerprint)
            body_out = {"requestId": _request_id(request.path + str(query) + str(offset)), "records": records,
                        key: [build(i) for i in chunk]}
            return Reply(200, body_out)

        return handler

    def _open_cursor(self, request: Request, cursor: str, fingerprint: int) -> int:
        if request.cursor_expired:
            raise ApiError(400, "cursor has expired")
        try:
            offset, check = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        except (ValueError, TypeError):
            raise ApiError(400, "failed to verify cursor") from None
        if check != fingerprint:
            raise ApiError(400, "failed to verify cursor")
        return int(offset)

    def _window(self, query: dict, since_key: str, until_key: str) -> tuple[datetime | None, datetime | None]:
        since = parse_instant(query[since_key], since_key) if query.get(since_key) else None
        until = parse_instant(query[until_key], until_key) if query.get(until_key) else None
        if since and until and until - since > MAX_RANGE:
            raise ApiError(400, f"The range between {since_key} and {until_key} must not exceed 90 days")
        return since, until

    def _call_ids(self, query: dict) -> range | list[int]:
        """``fromDateTime`` inclusive, ``toDateTime`` exclusive: the calls processed by now."""
        ids = self.world.between("gong/calls", *self._window(query, "fromDateTime", "toDateTime"))
        return ids if self.world.now is None else [i for i in ids if self.world.visible(self.processed(i))]

    def processed(self, i: int) -> datetime:
        """When call ``i`` becomes visible: half an hour after it starts, or for one in ten (a long
        recording, a busy day) 20 hours after."""
        late = self.world.rng("gong/calls/processing", i).random() < 0.1
        return self.world.instant("gong/calls", i) + timedelta(hours=20 if late else 0.5)

    def _answered_ids(self, query: dict) -> range:
        """``callFromDate`` inclusive, ``callToDate`` exclusive: dates on the company's clock."""
        since, until = self._window(query, "callFromDate", "callToDate")
        local = [moment.replace(tzinfo=self.zone) if moment else None for moment in (since, until)]
        return self.world.between("gong/answered_scorecards", *local)

    # -- records -------------------------------------------------------------------------------

    def user(self, i: int) -> dict:
        r = self.world.rng("gong/users", i)
        employee = self.world.employee(i)
        first, last = employee.first, employee.last
        return {"id": digits(self.world.seed, "gong/users", i), "emailAddress": gong_email(i, employee.email),
                "created": (self.world.start - timedelta(days=200 + i)).isoformat(), "active": r.random() < 0.9,
                "firstName": first, "lastName": last, "title": r.choice(["AE", "SDR", "CSM", "Sales Manager"]),
                "phoneNumber": phone(r), "managerId": digits(self.world.seed, "gong/users", i // 8),
                "emailAliases": [], "settings": {"webConferencesRecorded": True, "telephonyCallsImported": True},
                "spokenLanguages": [{"language": "en-US", "primary": True}]}

    def call(self, i: int) -> dict:
        w = self.world
        r = w.rng("gong/calls", i)
        started = w.instant("gong/calls", i).astimezone(r.choice(OFFSETS))
        duration = r.randrange(60, 3600)
        cid = digits(w.seed, "gong/calls", i)
        return {"id": cid, "url": f"https://app.gong.example/call?id={cid}",
                "title": f"{r.choice(['Discovery', 'Demo', 'Renewal', 'Check-in'])} call", "scheduled":
                started.isoformat(), "started": started.isoformat(), "duration": duration,
                "primaryUserId": digits(w.seed, "gong/users", w.pick("gong/users", r)),
                "direction": r.choice(["Inbound", "Outbound", "Conference"]),
                "system": r.choice(["Zoom", "Google Meet", "Outreach"]), "scope": r.choice(["External", "Internal"]),
                "media": r.choice(["Video", "Audio"]), "language": "eng", "workspaceId": "1000001",
                "sdrDisposition": None, "clientUniqueId": None, "customData": None,
                "purpose": None, "meetingUrl": None, "isPrivate": False, "calendarEventId": None}

    def extensive(self, i: int) -> dict:
        meta = self.call(i)
        r = self.world.rng("gong/calls/parties", i)
        parties = []
        for n in range(r.randrange(2, 5)):
            internal = n == 0
            if internal:
                user = self.user(int(meta["primaryUserId"]) - int(digits(self.world.seed, "gong/users", 0)))
                address, name = user["emailAddress"], f"{user['firstName']} {user['lastName']}"
            else:
                customer = self.world.customer(self.world.pick("company/customers", r))
                address, name = customer.email, customer.name
            parties.append({"id": str(n + 1), "emailAddress": address, "name": name,
                            "title": None, "userId": meta["primaryUserId"] if internal else None,
                            "speakerId": str(r.getrandbits(32)), "affiliation": "Internal" if internal else "External",
                            "methods": ["Invitee"]})
        return {"metaData": meta, "parties": parties,
                "content": {"topics": [{"name": "Pricing", "duration": r.randrange(0, 300)}], "trackers": []},
                "interaction": {"speakers": [],
                                "interactionStats": [{"name": "Talk Ratio", "value": round(r.random(), 2)}]},
                "context": []}

    def scorecards(self, request: Request) -> Reply:
        cards = []
        for i in range(self.world.count("gong/scorecards")):
            cards.append({"scorecardId": str(7_000_000 + i), "scorecardName": f"Scorecard {i + 1}",
                          "workspaceId": "1000001", "enabled": True,
                          "updaterUserId": digits(self.world.seed, "gong/users", 0),
                          "created": (self.world.start - timedelta(days=90)).isoformat(),
                          "updated": (self.world.start - timedelta(days=10)).isoformat(), "reviewMethod": "AUTOMATIC",
                          "questions": [{"questionId": str(i * 10 + q), "questionText": f"Question {q + 1}",
                                         "isOverall": q == 0} for q in range(3)]})
        return Reply(200, {"requestId": _request_id(request.path), "scorecards": cards})

    def answered(self, i: int) -> dict:
        w = self.world
        r = w.rng("gong/answered_scorecards", i)
        at = self.local(w.instant("gong/answered_scorecards", i))  # written with the company's offset
        card = w.pick("gong/scorecards", r)
        return {"answeredScorecardId": digits(w.seed, "gong/answered", i), "scorecardId": str(7_000_000 + card),
                "scorecardName": f"Scorecard {card + 1}",
                "callId": digits(w.seed, "gong/calls", w.pick("gong/calls", r)), "callStartTime": at.isoformat(),
                "reviewedUserId": digits(w.seed, "gong/users", w.pick("gong/users", r)),
                "reviewerUserId": digits(w.seed, "gong/users", w.pick("gong/users", r)),
                "reviewTime": (at + timedelta(hours=r.randrange(1, 48))).isoformat(), "visibilityType": "PUBLIC",
                "answers": [{"questionId": str(card * 10 + q), "questionRevisionId": "1", "isOverall": q == 0,
                             "score": r.randrange(1, 6), "answerText": None, "notApplicable": False}
                            for q in range(3)]}


def gong_email(i: int, address: str) -> str:
    """Gong users are the company's people, but one in eight is an agency's contractor (an address
    no other system has), and one in five typed the address capitalised."""
    if i % 8 == 7:
        return address.replace(f"@{COMPANY_DOMAIN}", "@agency.example")
    return address[0].upper() + address[1:] if i % 5 == 4 else address


def _cursor(offset: int, fingerprint: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([offset, fingerprint])).decode()


def _request_id(seed: str) -> str:
    return f"{zlib.crc32(seed.encode()):08x}{zlib.adler32(seed.encode()):08x}"
