"""SendPulse (email and SMS marketing)."""

from __future__ import annotations

from collections.abc import Mapping

from comms_assets.catalog.model import Api, Budget, Endpoint, Rate
from comms_assets.catalog.oauth import RenewingClientCredentials

PAGE_SIZE = 100  # maximum ``limit``
SINGLE = {"type": "single_page"}


def _auth(credentials: Mapping[str, str], base_url: str) -> RenewingClientCredentials:
    """Client credentials for a 1-hour token, renewed ahead of expiry and on a 401."""
    return RenewingClientCredentials(
        access_token_url=base_url.rstrip("/") + "/oauth/access_token",
        client_id=credentials["SENDPULSE_CLIENT_ID"],
        client_secret=credentials["SENDPULSE_CLIENT_SECRET"],
    )


# What the fields mean (api-facts); every endpoint describes its key, cursor and timestamps.
NO_ZONE = ("'YYYY-MM-DD HH:MM:SS' without a zone, read on SOURCES__SENDPULSE__TIMEZONE's clock "
           "(UTC unless set) and stored as UTC")


API = Api(
    name="sendpulse",
    title="SendPulse",
    base_url="https://api.sendpulse.com",
    credentials=(("SENDPULSE_CLIENT_ID", "SENDPULSE_CLIENT_SECRET"),),
    auth=_auth,
    # Bare arrays with no total: the end is an empty page (one extra request per endpoint).
    paginator={"type": "offset", "limit": PAGE_SIZE, "offset_param": "offset", "limit_param": "limit",
               "total_path": None},
    # "10 requests per second"; a 429 carries no hint of when to come back.
    budget=Budget(plans={"published": {"default": (Rate(10, 1),)}}, plan="published"),
    timezone="UTC",  # which clock its zoneless dates are on is unconfirmed: the account's, or UTC
    endpoints=(
        Endpoint("mailing_lists", "addressbooks", "Mailing lists (address books) and their subscriber counts.",
                 primary_key=("id",),
                 columns={"id": ("bigint", "SendPulse's id of the mailing list (address book)."),
                          "creationdate": ("timestamp", f"When the list was created ({NO_ZONE}).")}),
        Endpoint("campaigns", "campaigns", "Email campaigns with delivery statistics.", primary_key=("id",),
                 columns={"id": ("bigint", "SendPulse's id of the campaign."),
                          "send_date": ("timestamp", f"When the campaign was (or is to be) sent ({NO_ZONE}).")}),
        Endpoint("templates", "templates", "Email templates.", primary_key=("id",), paginator=SINGLE,
                 columns={"id": ("text", "SendPulse's id of the template."),
                          "created": ("timestamp", f"When the template was created ({NO_ZONE}).")}),
        Endpoint("senders", "senders", "Verified sender addresses.", primary_key=("email",), paginator=SINGLE,
                 columns={"email": ("text", "The sender's address: the key.")}),
        Endpoint("webhooks", "v2/email-service/webhook", "Webhooks registered for email events.", primary_key=("id",),
                 selector="data", paginator=SINGLE,
                 columns={"id": ("bigint", "SendPulse's id of the webhook.")}),
        Endpoint("balance_details", "user/balance/detail",
                 "Balance and tariff details: a snapshot without a key, replaced on every load.", paginator=SINGLE,
                 columns={"email.finished_time": ("timestamp", f"When the email plan ends ({NO_ZONE}).")}),
        Endpoint("balance", "balance", "Account balance per currency.", primary_key=("currency",), paginator=SINGLE,
                 columns={"currency": ("text", "Currency of the balance (one row per currency).")}),
    ),
)
