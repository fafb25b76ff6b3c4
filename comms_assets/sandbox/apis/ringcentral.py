"""RingCentral REST v1.0: JWT-bearer token grant, Bearer calls, ``records`` + ``navigation.nextPage``."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from comms_assets.sandbox.data import digits, person, phone
from comms_assets.sandbox.protocol import (
    Api,
    ApiError,
    Limit,
    Reply,
    Request,
    TokenStore,
    link,
    page_slice,
    parse_instant,
)

V1 = "/restapi/v1.0"
# The ids RingCentral puts in every link it returns, where a request may say ``~`` (RingCentral's
# own examples show 12-digit ids; the account's main extension often shares the account's id).
ACCOUNT_ID = "401501489004"
EXTENSION_ID = "401501490012"
IDS = re.compile(r"/(account|extension)/(~|\d+)(?=/|$)")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_PER_PAGE = 1000
MAX_SYNC_RECORDS = 250  # per call-log-sync answer, FSync and ISync alike
HEAVY = ("/call-log", "/call-log-sync", "/active-calls")
MEDIUM = ("/call-queues", "/ivr-prompts", "/call-monitoring-groups")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RingCentral(Api):
    name = "ringcentral"
    limits = (Limit("Light", 50, 60), Limit("Medium", 40, 60), Limit("Heavy", 10, 60), Limit("Auth", 5, 60))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tokens = TokenStore("rc")
        self.route("POST", "/restapi/oauth/token", self.token)
        self.public.add("/restapi/oauth/token")
        self.route("GET", f"{V1}/account/~/extension/~/business-hours", self._hours("extension"))
        self.route("GET", f"{V1}/account/~/business-hours", self._hours("account"))
        lists: dict[str, tuple[str, Callable[[int], dict]]] = {
            "/account/~/extension/~/forwarding-number": ("ringcentral/forwarding_numbers", self.forwarding),
            "/account/~/extension/~/caller-blocking/phone-numbers": ("ringcentral/blocked_numbers", self.blocked),
            "/account/~/extension/~/active-calls": ("ringcentral/active_calls", self.active_call),
            "/account/~/call-monitoring-groups": ("ringcentral/monitoring_groups", self.monitoring_group),
            "/account/~/call-queues": ("ringcentral/call_queues", self.call_queue),
            "/account/~/ivr-prompts": ("ringcentral/ivr_prompts", self.ivr_prompt),
        }
        for path, (collection, build) in lists.items():
            self.route("GET", V1 + path, self._list(lambda req, c=collection: range(self.world.count(c)), build))
        for path in ("/account/~/extension/~/call-log", "/account/~/call-log"):
            self.route("GET", V1 + path, self._list(self._call_log_ids, self.call_record))
        self.route("GET", f"{V1}/account/~/extension/~/call-log-sync", self.call_log_sync)

    # -- protocol ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Paths name the account and extension by id or by ``~`` (the caller's own)."""
        request.path = IDS.sub(self._own, request.path)
        return super().handle(request)

    def _own(self, match: re.Match[str]) -> str:
        kind, given = match.groups()
        if given not in ("~", ACCOUNT_ID if kind == "account" else EXTENSION_ID):
            raise ApiError(404, f"{kind.capitalize()} not found: {given}", "CMN-102")
        return f"/{kind}/~"

    def linked(self, uri: str) -> str:
        """A link as the account's API writes it: with the real ids where its account says so."""
        if not self.account.real_ids:
            return uri
        return IDS.sub(lambda m: f"/{m[1]}/{ACCOUNT_ID if m[1] == 'account' else EXTENSION_ID}", uri)

    def owns(self, request: Request) -> bool:
        if request.path.endswith("/oauth/token"):
            return request.basic_auth() == (self.credentials["RINGCENTRAL_CLIENT_ID"],
                                            self.credentials["RINGCENTRAL_CLIENT_SECRET"])
        return super().owns(request)

    def limits_for(self, request: Request) -> tuple[Limit, ...]:
        if request.path.endswith("/oauth/token"):
            group = "Auth"
        else:
            group = "Heavy" if request.path.endswith(HEAVY) else "Medium" if request.path.endswith(MEDIUM) else "Light"
        return tuple(limit for limit in self.limits if limit.group == group)

    def authenticate(self, request: Request) -> None:
        if not request.header("Authorization"):
            raise ApiError(401, "Authorization header is not specified", "AGW-401")
        if not self.tokens.valid(request.bearer()):
            raise ApiError(401, "Token not found", "OAU-213")

    def revoke_tokens(self) -> None:
        self.tokens.revoke_all()

    def error(self, error: ApiError) -> Reply:
        code = error.code or {401: "AGW-401", 404: "CMN-102", 405: "CMN-405", 429: "CMN-301"}.get(
            error.status, "CMN-101")
        return Reply(error.status, {"errorCode": code, "message": error.message,
                                    "errors": [{"errorCode": code, "message": error.message}]})

    def rate_limit_headers(self, limit: Limit, remaining: int, reset: float) -> dict[str, str]:
        return {"X-Rate-Limit-Group": limit.group, "X-Rate-Limit-Limit": str(limit.calls),
                "X-Rate-Limit-Remaining": str(remaining),
                "X-Rate-Limit-Window": f"{limit.seconds / self.time_scale:g}"}

    def record_count(self) -> dict[str, int]:
        w = self.world
        return {"business_hours": 1, "company_business_hours": 1,
                "forwarding_numbers": w.count("ringcentral/forwarding_numbers"),
                "blocked_numbers": w.count("ringcentral/blocked_numbers"),
                "call_log": w.count("ringcentral/call_log"), "active_calls": w.count("ringcentral/active_calls"),
                "monitoring_groups": w.count("ringcentral/monitoring_groups"),
                "call_queues": w.count("ringcentral/call_queues"), "ivr_prompts": w.count("ringcentral/ivr_prompts")}

    # -- endpoints -----------------------------------------------------------------------------

    def token(self, request: Request) -> Reply:
        client = request.basic_auth()
        if client != (self.credentials["RINGCENTRAL_CLIENT_ID"], self.credentials["RINGCENTRAL_CLIENT_SECRET"]):
            return Reply(401, {"error": "invalid_client", "error_description": "Invalid client",
                               "errors": [{"errorCode": "OAU-123", "message": "Invalid client"}]})
        form = dict(parse_qsl(request.body.decode(errors="replace")))
        if form.get("grant_type") != JWT_GRANT:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type",
                               "errors": [{"errorCode": "OAU-250", "message": "Unsupported grant type"}]})
        if form.get("assertion") != self.credentials["RINGCENTRAL_JWT"]:
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid assertion",
                               "errors": [{"errorCode": "OAU-140", "message": "Invalid assertion"}]})
        return Reply(200, {"access_token": self.tokens.issue(self.token_ttl), "token_type": "bearer",
                           "expires_in": self.token_ttl, "refresh_token": self.tokens.issue(604800),
                           "refresh_token_expires_in": 604800, "scope": "ReadAccounts ReadCallLog",
                           "owner_id": "100000001", "endpoint_id": "sandbox-endpoint"})

    def _list(self, ids_for: Callable[[Request], Sequence[int]], build: Callable[[int], dict]):
        def handler(request: Request) -> Reply:
            page = request.int_param("page", 1)
            size = min(request.int_param("perPage", 100), MAX_PER_PAGE)
            if page < 1 or size < 1:
                raise ApiError(400, "Parameter [page] or [perPage] is out of range", "CMN-101")
            ids = ids_for(request)
            offset = (page - 1) * size
            chunk = page_slice(request, ids, offset, size)
            total_pages = max(1, -(-len(ids) // size))
            at = {name: {"uri": self.linked(link(request, page=number, perPage=size))} for name, number in
                  (("firstPage", 1), ("lastPage", total_pages), ("nextPage", page + 1), ("previousPage", page - 1))}
            navigation = {name: at[name] for name in ("firstPage", "lastPage")}
            if page < total_pages:
                navigation["nextPage"] = at["nextPage"]
            if page > 1:
                navigation["previousPage"] = at["previousPage"]
            return Reply(200, {
                "uri": self.linked(link(request, page=page, perPage=size)),
                "records": [build(i) for i in chunk],
                "paging": {"page": page, "perPage": size, "pageStart": offset if chunk else 0,
                           "pageEnd": max(0, offset + len(chunk) - 1), "totalPages": total_pages,
                           "totalElements": len(ids)},
                "navigation": navigation})

        return handler

    def _call_log_ids(self, request: Request) -> Sequence[int]:
        """``dateFrom`` inclusive, ``dateTo`` exclusive; without ``dateFrom`` only the last 24 hours.
        Calls not yet made or already deleted by the sandbox's present are not there."""
        until = request.query.get("dateTo")
        end = parse_instant(until, "dateTo") if until else datetime.now(UTC)
        since = request.query.get("dateFrom")
        start = parse_instant(since, "dateFrom") if since else end - timedelta(hours=24)
        ids = self.world.between("ringcentral/call_log", start, end)
        return ids if self.world.now is None else [i for i in ids if self._exists(i, self.world.now)]

    def deleted_at(self, i: int) -> datetime | None:
        """When call ``i`` is deleted from the call log (one in ten, 30 hours after it started), where
        the sandbox has a present; with none, nothing is ever deleted."""
        if self.world.now is None or self.world.rng("ringcentral/call_log/deleted", i).random() >= 0.1:
            return None
        return self.world.instant("ringcentral/call_log", i) + timedelta(hours=30)

    def _exists(self, i: int, at: datetime) -> bool:
        deleted = self.deleted_at(i)
        return self.world.instant("ringcentral/call_log", i) <= at and (deleted is None or deleted > at)

    def call_log_sync(self, request: Request) -> Reply:
        """FSync: the newest ``recordCount`` calls since ``dateFrom`` and a token for that frame; ISync:
        the calls of the frame made or deleted since the token (deleted ones flagged, with
        ``showDeleted``), at most 250 of them: when more changed, the rest are not returned."""
        now = self.world.now or datetime.now(UTC)
        kind = request.query.get("syncType", "FSync")
        if kind == "FSync":
            if "recordCount" not in request.query:
                raise ApiError(400, "Parameter [recordCount] is required for FSync", "CMN-101")
            since = request.query.get("dateFrom")
            frame = parse_instant(since, "dateFrom") if since else now
            ids = [i for i in self.world.between("ringcentral/call_log", frame, None) if self._exists(i, now)]
            count = min(request.int_param("recordCount", 0), MAX_SYNC_RECORDS)
            records = [self.call_record(i) for i in ids[::-1][:count]]
        elif kind == "ISync":
            frame, last = self._sync_token(request.query.get("syncToken", ""))
            changes = []
            for i in self.world.between("ringcentral/call_log", frame, None):
                started, deleted = self.world.instant("ringcentral/call_log", i), self.deleted_at(i)
                if deleted and last < deleted <= now and request.query.get("showDeleted") == "true":
                    changes.append((deleted, {**self.call_record(i), "deleted": True}))
                elif last < started <= now and (deleted is None or deleted > now):
                    changes.append((started, self.call_record(i)))
            records = [record for _, record in sorted(changes, key=lambda change: change[0])][:MAX_SYNC_RECORDS]
        else:
            raise ApiError(400, f"Parameter [syncType] value is invalid: {kind}", "CMN-101")
        token = base64.urlsafe_b64encode(f"{frame.isoformat()}|{now.isoformat()}".encode()).decode()
        return Reply(200, {"uri": self.linked(link(request)), "records": records,
                           "syncInfo": {"syncType": kind, "syncToken": token, "syncTime": _rc_time(now)}})

    @staticmethod
    def _sync_token(token: str) -> tuple[datetime, datetime]:
        try:
            frame, last = base64.urlsafe_b64decode(token.encode()).decode().split("|")
            return datetime.fromisoformat(frame), datetime.fromisoformat(last)
        except ValueError:
            raise ApiError(400, "Parameter [syncToken] value is invalid", "CMN-101") from None

    def _hours(self, level: str):
        def handler(request: Request) -> Reply:
            r = self.world.rng(f"ringcentral/hours/{level}", 0)
            opens, closes = r.choice(["08:00", "09:00"]), r.choice(["17:00", "18:00"])
            ranges = {day: [{"from": opens, "to": closes}] for day in DAYS[:5]}
            uri = self.linked(f"{request.base_url}{request.path}")
            return Reply(200, {"uri": uri, "schedule": {"weeklyRanges": ranges}})

        return handler

    # -- records -------------------------------------------------------------------------------

    def _uri(self, kind: str, record_id: str) -> str:
        return f"https://platform.ringcentral.com/restapi/v1.0/account/{ACCOUNT_ID}/{kind}/{record_id}"

    def forwarding(self, i: int) -> dict:
        r = self.world.rng("ringcentral/forwarding_numbers", i)
        rid = digits(self.world.seed, "rc/fwd", i, 9)
        return {"id": rid, "uri": self._uri("forwarding-number", rid), "phoneNumber": phone(r),
                "label": r.choice(["Mobile", "Home", "Desk"]), "type": r.choice(["PhoneLine", "Other"]),
                "features": ["CallFlip", "CallForwarding"], "flipNumber": str(i + 1)}

    def blocked(self, i: int) -> dict:
        r = self.world.rng("ringcentral/blocked_numbers", i)
        rid = digits(self.world.seed, "rc/blocked", i, 9)
        return {"id": rid, "uri": self._uri("caller-blocking/phone-numbers", rid), "phoneNumber": phone(r),
                "label": r.choice(["Spam", "Vendor", "Partner"]), "status": r.choice(["Blocked", "Allowed"])}

    def call_record(self, i: int, collection: str = "ringcentral/call_log") -> dict:
        w = self.world
        r = w.rng(collection, i)
        rid = ("A" if collection.endswith("active_calls") else "") + digits(w.seed, collection, i, 12)
        at = w.instant(collection, i) if collection.endswith("call_log") else w.end - timedelta(minutes=i + 1)
        customer = w.customer(w.pick("company/customers", r))
        outside = {"phoneNumber": customer.phone if r.random() < 0.85 else phone(r), "name": customer.name}
        inside = {"phoneNumber": phone(w.rng("ringcentral/main_number", 0)), "name": " ".join(person(r))}
        inbound = r.random() < 0.5
        result = r.choice(["Accepted", "Accepted", "Missed", "Voicemail"])
        return {"id": rid, "uri": self._uri("call-log", rid), "sessionId": str(r.getrandbits(40)),
                "telephonySessionId": f"s-{r.getrandbits(64):x}", "startTime": _rc_time(at),
                "duration": r.randrange(5, 1800) if result == "Accepted" else 0, "type": "Voice",
                "direction": "Inbound" if inbound else "Outbound", "action": r.choice(["Phone Call", "VoIP Call"]),
                "result": result,
                "from": {**(outside if inbound else inside), "location": "San Mateo, CA"},
                "to": inside if inbound else outside}

    def active_call(self, i: int) -> dict:
        return self.call_record(i, "ringcentral/active_calls")

    def monitoring_group(self, i: int) -> dict:
        rid = digits(self.world.seed, "rc/monitoring", i, 9)
        return {"id": rid, "uri": self._uri("call-monitoring-groups", rid), "name": f"Monitoring group {i + 1}"}

    def call_queue(self, i: int) -> dict:
        rid = digits(self.world.seed, "rc/queue", i, 9)
        return {"id": rid, "uri": self._uri("call-queues", rid), "name": f"Queue {i + 1}",
                "extensionNumber": str(500 + i)}

    def ivr_prompt(self, i: int) -> dict:
        rid = digits(self.world.seed, "rc/ivr", i, 9)
        return {"id": rid, "uri": self._uri("ivr-prompts", rid), "contentUri": self._uri("ivr-prompts", rid) +
                "/content", "contentType": "audio/mpeg", "filename": f"prompt-{i + 1}.mp3"}


def _rc_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
