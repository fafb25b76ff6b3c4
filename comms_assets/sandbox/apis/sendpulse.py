"""SendPulse: OAuth2 client credentials (1-hour tokens), bare JSON arrays paged by limit/offset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qsl

from comms_assets.sandbox.data import email, person
from comms_assets.sandbox.protocol import Api, ApiError, Limit, Reply, Request, TokenStore, page_slice

MAX_LIMIT = 100
STAMP = "%Y-%m-%d %H:%M:%S"


class SendPulse(Api):
    name = "sendpulse"
    limits = (Limit("second", 10, 1),)
    retry_after = False  # a 429 says nothing of when to come back

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tokens = TokenStore("sp")
        self.route("POST", "/oauth/access_token", self.token)
        self.public.add("/oauth/access_token")
        self.route("GET", "/addressbooks", self._paged("sendpulse/addressbooks", self.addressbook))
        self.route("GET", "/campaigns", self._paged("sendpulse/campaigns", self.campaign))
        self.route("GET", "/templates", self._all("sendpulse/templates", self.template))
        self.route("GET", "/senders", self._all("sendpulse/senders", self.sender))
        self.route("GET", "/v2/email-service/webhook", self.webhooks)
        self.route("GET", "/user/balance/detail", self.balance_detail)
        self.route("GET", "/balance", self.balance)

    # -- protocol ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        if not self.tokens.valid(request.bearer()):
            raise ApiError(401, "Unauthorized", "invalid_token")

    def revoke_tokens(self) -> None:
        self.tokens.revoke_all()

    def error(self, error: ApiError) -> Reply:
        if error.code:
            return Reply(error.status, {"error": error.code, "error_description": error.message,
                                        "message": error.message})
        return Reply(error.status, {"error_code": error.status, "message": error.message})

    def record_count(self) -> dict[str, int]:
        w = self.world
        return {"addressbooks": w.count("sendpulse/addressbooks"), "campaigns": w.count("sendpulse/campaigns"),
                "templates": w.count("sendpulse/templates"), "senders": w.count("sendpulse/senders"),
                "webhooks": w.count("sendpulse/webhooks"), "balance_detail": 1, "balance": 1}

    # -- endpoints -----------------------------------------------------------------------------

    def owns(self, request: Request) -> bool:
        if request.path.rstrip("/") in self.public:
            return self._client(request) == (self.credentials["SENDPULSE_CLIENT_ID"],
                                             self.credentials["SENDPULSE_CLIENT_SECRET"])
        return super().owns(request)

    @staticmethod
    def _client(request: Request) -> tuple[str, str] | None:
        """The client of a token request: the documented JSON body, or the form body the official SDK sends."""
        try:
            form = request.json() if request.header("Content-Type").startswith("application/json") else dict(
                parse_qsl(request.body.decode(errors="replace")))
        except ValueError:
            return None
        if not isinstance(form, dict) or form.get("grant_type") != "client_credentials":
            return None
        return form.get("client_id"), form.get("client_secret")

    def token(self, request: Request) -> Reply:
        if self._client(request) != (self.credentials["SENDPULSE_CLIENT_ID"],
                                     self.credentials["SENDPULSE_CLIENT_SECRET"]):
            raise ApiError(401, "Client authentication failed.", "invalid_client")
        return Reply(200, {"access_token": self.tokens.issue(self.token_ttl), "token_type": "Bearer",
                           "expires_in": self.token_ttl})

    def _paged(self, collection: str, build: Callable[[int], dict]):
        def handler(request: Request) -> Reply:
            limit = min(request.int_param("limit", MAX_LIMIT), MAX_LIMIT)
            offset = request.int_param("offset", 0)
            if limit < 1 or offset < 0:
                raise ApiError(400, "Invalid limit or offset")
            ids = range(self.world.count(collection))
            return Reply(200, [build(i) for i in page_slice(request, ids, offset, limit)])

        return handler

    def _all(self, collection: str, build: Callable[[int], dict]):
        return lambda request: Reply(200, [build(i) for i in range(self.world.count(collection))])

    def webhooks(self, request: Request) -> Reply:
        hooks = [{"id": 900 + i, "user_id": 7001, "url": f"https://hooks.example.com/sendpulse/{i}",
                  "action": ["open", "click", "unsubscribe", "delivered"][i % 4]}
                 for i in range(self.world.count("sendpulse/webhooks"))]
        return Reply(200, {"success": True, "data": hooks})

    def balance_detail(self, request: Request) -> Reply:
        return Reply(200, {
            "balance": {"main": "120.50", "bonus": "10.00", "currency": "USD"},
            "email": {"tariff_name": "Standard-5000",
                      "finished_time": self.local(self.world.end + timedelta(days=20)).strftime(STAMP),
                      "maximum_subscribers": 5000, "current_subscribers": 3120, "is_unique_type": False},
            "smtp": {"tariff_name": "Free", "end_date": None, "auto_renew": 0},
            "push": {"tariff_name": "Free", "end_date": None, "auto_renew": 0}})

    def balance(self, request: Request) -> Reply:
        return Reply(200, {"currency": "USD", "balance_currency": "120.50"})

    # -- records -------------------------------------------------------------------------------

    def addressbook(self, i: int) -> dict:
        r = self.world.rng("sendpulse/addressbooks", i)
        total = r.randrange(10, 5000)
        active = r.randrange(0, total)
        return {"id": 300_001 + i, "name": f"List {i + 1}", "all_email_qty": total, "active_email_qty": active,
                "inactive_email_qty": total - active, "new_phones_quantity": 0,
                "active_phones_quantity": r.randrange(0, 50),
                "exc_phones_quantity": 0,
                "creationdate": self.local(self.world.start - timedelta(days=r.randrange(1, 700))).strftime(STAMP),
                "status": 0, "status_explain": "Active"}

    def campaign(self, i: int) -> dict:
        r = self.world.rng("sendpulse/campaigns", i)
        sent = r.randrange(100, 5000)
        first, last = person(r)
        return {"id": 5_000_001 + i, "name": f"Campaign {i + 1}", "status": 3,
                "send_date": self.local(self.world.start + timedelta(hours=i * 2)).strftime(STAMP),
                "message": {"sender_name": f"{first} {last}",
                            "sender_email": email(first, last, 0, "sendpulse.example"),
                            "subject": f"News #{i + 1}",
                            "list_id": 300_001 + self.world.pick("sendpulse/addressbooks", r),
                            "attachments": ""},
                "statistics": {"sent": sent, "delivered": sent - r.randrange(0, 20), "opening": r.randrange(0, sent),
                               "link_redirected": r.randrange(0, 100), "unsubscribe": r.randrange(0, 10), "error": 0},
                "all_email_qty": sent, "tariff_email_qty": sent, "paid_email_qty": 0, "overdraft_price": 0,
                "overdraft_currency": "USD", "company_price": 0, "is_sms": False, "is_viber": False}

    def template(self, i: int) -> dict:
        r = self.world.rng("sendpulse/templates", i)
        return {"id": f"{r.getrandbits(64):016x}", "real_id": 40_001 + i, "name": f"Template {i + 1}",
                "name_slug": f"template-{i + 1}", "lang": r.choice(["en", "de", "fr"]),
                "owner": r.choice(["me", "sendpulse"]),
                "created": self.local(self.world.start - timedelta(days=i)).strftime(STAMP), "category": "newsletter",
                "category_info": {"id": 1, "name": "Newsletter"}, "tags": {"season": "any"},
                "preview": f"https://cdn.sendpulse.example/preview/{i}.png", "is_structure": False,
                "full_description": ""}

    def sender(self, i: int) -> dict:
        first, last = person(self.world.rng("sendpulse/senders", i))
        return {"email": email(first, last, i, "sendpulse.example"), "name": f"{first} {last}",
                "status": "Active", "is_allowed_for_smtp": i % 2 == 0}
