"""JustCall v2.1: raw ``key:secret`` auth, 0-based pages, ``next_page_link`` (empty on the last page)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from comms_assets.sandbox.data import Employee, phone
from comms_assets.sandbox.protocol import (
    Api,
    ApiError,
    Limit,
    Rendered,
    Reply,
    Request,
    link,
    page_slice,
    parse_instant,
)

MAX_PER_PAGE = 100
MAX_CONTACTS_PER_PAGE = 500  # v2.1 contacts take more (JustCall's own schema for the endpoint)
ACCOUNT_FMT = "%Y-%m-%d %H:%M:%S"
DISPOSITION_DELAY = timedelta(hours=20)


class JustCall(Api):
    name = "justcall"
    # Team plan: 30 calls per minute (burst) and 1800 per hour.
    limits = (Limit("burst", 30, 60), Limit("hourly", 1800, 3600))
    retry_after = False  # a 429 carries only the windows' reset epochs

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Every call and text embeds its agent and number: build each of those once.
        self._user = lru_cache(maxsize=65536)(self._user)  # type: ignore[method-assign]
        self.number = lru_cache(maxsize=65536)(self.number)  # type: ignore[method-assign]
        self.rendered = Rendered()
        self.route("GET", "/v2.1/users", self._list("justcall/users", self.user, 50))
        self.route("GET", "/v2.1/calls", self._list("justcall/calls", self.call, 20, dated=True))
        self.route("GET", "/v2.1/texts", self._list("justcall/texts", self.text, 20, dated=True))
        self.route("GET", "/v2.1/contacts", self._list("justcall/contacts", self.contact, 20,
                                                       max_size=MAX_CONTACTS_PER_PAGE))
        self.route("GET", "/v2.1/phone-numbers", self._list("justcall/phone_numbers", self.number, 20))
        self.route("GET", "/v2.1/sales_dialer/analytics", self.analytics)

    # -- protocol ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        expected = f"{self.credentials['JUSTCALL_API_KEY']}:{self.credentials['JUSTCALL_API_SECRET']}"
        if request.header("Authorization") != expected:
            raise ApiError(401, "Invalid API key or secret")

    def error(self, error: ApiError) -> Reply:
        return Reply(error.status, {"status": "failure", "message": error.message})

    def rate_limit_headers(self, limit: Limit, remaining: int, reset: float) -> dict[str, str]:
        prefix = "X-Rate-Limit-Burst" if limit.group == "burst" else "X-Rate-Limit"
        return {f"{prefix}-Limit": str(limit.calls), f"{prefix}-Remaining": str(remaining),
                f"{prefix}-Reset": str(math.ceil(time.time() + reset))}

    def record_count(self) -> dict[str, int]:
        w = self.world
        return {"users": w.count("justcall/users"), "calls": w.count("justcall/calls"),
                "texts": w.count("justcall/texts"), "contacts": w.count("justcall/contacts"),
                "phone_numbers": w.count("justcall/phone_numbers"), "analytics": self._analytics_rows()}

    def _analytics_rows(self) -> int:
        """Rows the analytics report yields when asked one day at a time: (agent, day) pairs."""
        pairs = {(self.call(i)["agent_id"], self.local(self.world.instant("justcall/calls", i)).date())
                 for i in range(self.world.count("justcall/calls"))}
        return len(pairs)

    # -- endpoints -----------------------------------------------------------------------------

    def _list(self, collection: str, build: Callable[[int], dict], default_size: int, dated: bool = False,
              max_size: int = MAX_PER_PAGE):
        def handler(request: Request) -> Reply:
            page = request.int_param("page", 0)
            size = min(request.int_param("per_page", default_size), max_size)
            if page < 0 or size < 1:
                raise ApiError(400, "page must be >= 0 and per_page >= 1")
            ids = self.world.between(collection, *self._window(request)) if dated else range(
                self.world.count(collection))
            if request.query.get("order", "desc").lower() == "desc":
                ids = ids[::-1]
            # Records change while the sandbox's present moves on or people are renamed: served as
            # built, not as kept.
            render = (lambda i: self.rendered(collection, i, build)) if self.world.settled else build
            data = [render(i) for i in page_slice(request, ids, page * size, size)]
            more = (page + 1) * size < len(ids)
            return Reply(200, {"status": "success", "count": len(data), "data": data,
                               "next_page_link": link(request, page=page + 1, per_page=size) if more else ""})

        return handler

    def _window(self, request: Request) -> tuple[datetime | None, datetime | None]:
        """``from_datetime``/``to_datetime``, both inclusive, wall-clock times in the account's zone."""
        since = request.query.get("from_datetime")
        until = request.query.get("to_datetime")
        start = self._wall(since, "from_datetime") if since else None
        end = None
        if until:
            end = self._wall(until, "to_datetime")
            end += timedelta(days=1) if len(until) == 10 else timedelta(seconds=1)
        return start, end

    def _wall(self, value: str, field_name: str) -> datetime:
        """A date or date-time without a zone, on the account's clock."""
        return parse_instant(value, field_name).replace(tzinfo=self.zone)

    def analytics(self, request: Request) -> Reply:
        """Per-agent dialer totals over ``from_date``..``to_date`` (inclusive dates on the account's
        clock); not paginated."""
        try:
            since = self._wall(request.query["from_date"], "from_date")
            until = self._wall(request.query["to_date"], "to_date") + timedelta(days=1)
        except KeyError as missing:
            raise ApiError(400, f"{missing.args[0]} is required") from None
        totals: dict[int, dict] = {}
        for i in self.world.between("justcall/calls", since, until):
            call = self.call(i)
            row = totals.setdefault(call["agent_id"], {
                "agent_id": call["agent_id"], "agent_name": call["agent_name"],
                "agent_email": call["agent_email"], "dialed_calls": 0, "answered_calls": 0,
                "abandoned_calls": 0, "campaigns_run": 1, "total_call_duration": 0,
                "total_cost_incurred": 0.0})
            row["dialed_calls"] += 1
            answered = call["call_info"]["type"] == "answered"
            row["answered_calls"] += answered
            row["abandoned_calls"] += not answered
            row["total_call_duration"] += call["call_duration"]["total_duration"]
            row["total_cost_incurred"] = round(row["total_cost_incurred"] + call["cost_incurred"], 2)
        data = []
        for agent_id in sorted(totals):
            row = totals[agent_id]
            seconds = row["total_call_duration"]
            row["connection_rate"] = round(row["answered_calls"] / row["dialed_calls"], 4)
            row["total_call_duration"] = _hms(seconds)
            row["average_call_duration"] = _hms(seconds // row["dialed_calls"])
            data.append(row)
        return Reply(200, {"status": "success", "count": len(data), "data": data})

    # -- records -------------------------------------------------------------------------------

    def user(self, i: int) -> dict:
        return self._user(i, self.world.employee(i))

    def _user(self, i: int, employee: Employee) -> dict:
        """User ``i`` as ``employee``, whose name may change."""
        r = self.world.rng("justcall/users", i)
        return {"id": 1001 + i, "name": employee.name, "email": employee.email,
                "role": r.choice(["agent", "agent", "supervisor", "admin"]), "extension": 101 + i,
                "timezone": r.choice(["America/New_York", "Europe/London", "Asia/Kolkata"]),
                "available": r.random() < 0.7, "on_call": r.random() < 0.2,
                "created_at": self.world.start.replace(year=self.world.start.year - 1).strftime(ACCOUNT_FMT),
                "last_login_timestamp": self.world.end.strftime(ACCOUNT_FMT),
                "owned_numbers": [self.number(self.world.pick("justcall/phone_numbers", r))["phone"]],
                "groups": [{"id": 1 + i % 3, "name": ["Sales", "Support", "Success"][i % 3]}]}

    def number(self, i: int) -> dict:
        r = self.world.rng("justcall/phone_numbers", i)
        return {"id": 5001 + i, "phone": phone(r), "friendly_name": f"Line {i + 1}",
                "custom_name": r.choice(["Main", "Sales", "Support", "After hours"]),
                "agent_id": 1001 + self.world.pick("justcall/users", r),
                "capabilities": {"voice": True, "sms": r.random() < 0.8, "mms": r.random() < 0.4, "fax": False}}

    def contact(self, i: int) -> dict:
        r = self.world.rng("justcall/contacts", i)
        customer = self.world.customer(i)
        created = self.world.start - timedelta(days=r.randrange(1, 400))
        return {"id": 20001 + i, "first_name": customer.first, "last_name": customer.last,
                "contact_number": customer.phone, "email": customer.justcall_email,
                "company": r.choice(["Acme", "Globex", "Initech", ""]),
                "notes": "", "other_phones": [], "created_at": created.strftime(ACCOUNT_FMT),
                "last_updated_at": (created + timedelta(days=r.randrange(0, 30))).strftime(ACCOUNT_FMT)}

    def call(self, i: int) -> dict:
        w = self.world
        r = w.rng("justcall/calls", i)
        at = w.instant("justcall/calls", i)
        agent = self.user(w.pick("justcall/users", r))
        customer = w.customer(w.pick("company/customers", r))
        number = customer.phone if r.random() < 0.85 else phone(r)  # some callers are no customer
        (day, clock), (user_day, user_clock) = _stamps(at), _stamps(self.local(at))
        kind = r.choice(["answered", "answered", "answered", "missed", "voicemail"])
        talk = r.randrange(20, 1800) if kind == "answered" else 0
        ring = r.randrange(2, 30)
        return {"id": 3_000_001 + i, "call_sid": f"CA{r.getrandbits(64):016x}", "contact_number": number,
                "contact_name": customer.name if number == customer.phone else "",
                "contact_email": customer.justcall_email if number == customer.phone else "",
                "agent_id": agent["id"], "agent_name": agent["name"], "agent_email": agent["email"],
                "justcall_number": agent["owned_numbers"][0],
                "call_date": day, "call_time": clock, "call_user_date": user_day, "call_user_time": user_clock,
                "call_duration": {"total_duration": ring + talk, "ring_time": ring, "hold_time": 0,
                                  "wrap_up_time": r.randrange(0, 60), "conversation_time": talk},
                "call_info": {"direction": r.choice(["Incoming", "Outgoing"]), "type": kind,
                              "status": "completed",
                              # set by the agent at wrap-up, up to a day later: blank until then
                              "disposition": _until(r.choice(["", "Interested", "Follow up"]),
                                                    w.visible(at + DISPOSITION_DELAY)),
                              "notes": "", "recording": f"https://recordings.justcall.example/{i}.mp3"
                              if talk else ""},
                "cost_incurred": round(r.uniform(0, 1.5), 2)}

    def text(self, i: int) -> dict:
        w = self.world
        r = w.rng("justcall/texts", i)
        at = w.instant("justcall/texts", i)
        agent = self.user(w.pick("justcall/users", r))
        (day, clock), (user_day, user_clock) = _stamps(at), _stamps(self.local(at))
        customer = w.customer(w.pick("company/customers", r))
        return {"id": 8_000_001 + i, "contact_number": customer.phone, "justcall_number": agent["owned_numbers"][0],
                "agent_id": agent["id"], "sms_date": day, "sms_time": clock, "sms_user_date": user_day,
                "sms_user_time": user_clock,
                "direction": r.choice(["Incoming", "Outgoing"]),
                "delivery_status": r.choice(["delivered", "delivered", "sent", "failed"]),
                "sms_info": {"body": r.choice(["Thanks!", "Call me back?", "Your order shipped."]),
                             "is_mms": False, "mms": []},
                "medium": "SMS", "is_deleted": False}


def _until(value: str, settled: bool) -> str:
    """``value`` once it is set, blank before (drawn either way, so the record's other draws stay)."""
    return value if settled else ""


def _stamps(at: datetime) -> tuple[str, str]:
    """``YYYY-MM-DD`` and ``HH:MM:SS`` of an instant on its own clock."""
    return at.strftime("%Y-%m-%d"), at.strftime("%H:%M:%S")


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
