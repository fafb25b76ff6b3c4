"""RingCentral REST API v1.0 (business phone system)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dlt.common.configuration import configspec
from dlt.sources.helpers.rest_client.auth import AuthConfigBase, BearerTokenAuth

from comms_assets.catalog.model import Api, Budget, Endpoint, Rate, Sync, Window
from comms_assets.catalog.oauth import RenewingClientCredentials

PAGE_SIZE = 1000
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIST = {"perPage": PAGE_SIZE}
SINGLE = {"type": "single_page"}


@configspec
class JwtBearerAuth(RenewingClientCredentials):
    """RingCentral's server-to-server flow: the JWT credential exchanged for a 1-hour Bearer token.

    dlt's ``oauth2_client_credentials`` posts ``grant_type=client_credentials`` with the client in
    the form body; RingCentral wants the JWT-bearer grant with the client in a Basic header.
    """

    def build_access_token_request(self) -> dict[str, Any]:
        client = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return {"headers": {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {client}"},
                "data": {"grant_type": JWT_GRANT, **self.access_token_request_data}}


def _auth(credentials: Mapping[str, str], base_url: str) -> AuthConfigBase:
    if token := credentials.get("RINGCENTRAL_ACCESS_TOKEN"):
        return BearerTokenAuth(token)
    return JwtBearerAuth(
        access_token_url=base_url.rstrip("/").removesuffix("/v1.0") + "/oauth/token",
        client_id=credentials["RINGCENTRAL_CLIENT_ID"],
        client_secret=credentials["RINGCENTRAL_CLIENT_SECRET"],
        access_token_request_data={"assertion": credentials["RINGCENTRAL_JWT"]},
    )


ISO = "%Y-%m-%dT%H:%M:%S.000Z"


def _iso(start: datetime, end: datetime) -> dict:
    """``dateFrom`` must always be sent: without it the call log holds only the last 24 hours."""
    return {"params": {"dateFrom": start.strftime(ISO), "dateTo": end.strftime(ISO)}}


# call-log-sync (RingCentral.Net ``SyncUserCallLogParameters``, ``CallLogRecord.deleted``): FSync
# takes a mandatory ``recordCount``; ISync returns at most 250 records, deleted ones (flagged
# ``deleted``) only with ``showDeleted``; the view chosen by FSync holds for ISync.
CALL_LOG_SYNC = Sync(
    path="account/~/extension/~/call-log-sync",
    full=lambda start, count: {"syncType": "FSync", "dateFrom": start.strftime(ISO), "recordCount": count,
                               "view": "Simple"},
    incremental=lambda token: {"syncType": "ISync", "syncToken": token, "showDeleted": "true"},
)


# developers.ringcentral.com/guide/basics/rate-limits: per app and user, cumulative per group,
# each endpoint in one group (RingCentral.Net); a 429 carries Retry-After "in most cases".
BUDGET = Budget(plans={"published": {"light": (Rate(50, 60),), "medium": (Rate(40, 60),), "heavy": (Rate(10, 60),),
                                     "auth": (Rate(5, 60),)}},
                plan="published", token_group="auth", headers=(("X-Rate-Limit-Remaining", "X-Rate-Limit-Window"),))


# What the fields mean (api-facts); every endpoint describes its key, cursor and timestamps.
ID = ("text", "RingCentral's id of the record (a string).")
URI = ("text", "The schedule's resource URI, which identifies it.")
STARTED = ("timestamp", "Start of the call, UTC (ISO-8601 with Z and milliseconds).")
DELETED = ("bool", "Set by the call log's sync on a call deleted upstream: the row is removed.")


API = Api(
    name="ringcentral",
    title="RingCentral",
    base_url="https://platform.ringcentral.com/restapi/v1.0",
    credentials=(("RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT"),
                 ("RINGCENTRAL_ACCESS_TOKEN",)),
    auth=_auth,
    paginator={"type": "json_link", "next_url_path": "navigation.nextPage.uri"},
    budget=BUDGET,
    settling_days=2, settling_why="call records are completed and updated after the call ends",
    ids_in_paths=("account", "extension"),
    identity=("RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_JWT", "RINGCENTRAL_ACCESS_TOKEN"),
    # limits are per app and user  # links carry /account/401501489004/extension/…, not ~
    endpoints=(
        Endpoint("user_business_hours", "account/~/extension/~/business-hours",
                 "Weekly business hours of the authorised user (one row).",
                 primary_key=("uri",), paginator=SINGLE, rate_group="light",
                 columns={"uri": URI}),
        Endpoint("company_business_hours", "account/~/business-hours",
                 "Weekly business hours of the company (one row).",
                 primary_key=("uri",), paginator=SINGLE, rate_group="light",
                 columns={"uri": URI}),
        Endpoint("forwarding_numbers", "account/~/extension/~/forwarding-number",
                 "Numbers the user's calls forward or flip to.", primary_key=("id",), selector="records", params=LIST,
                 rate_group="light",
                 columns={"id": ID}),
        Endpoint("blocked_allowed_phonenumbers", "account/~/extension/~/caller-blocking/phone-numbers",
                 "Numbers the user blocks or explicitly allows.", primary_key=("id",), selector="records", params=LIST,
                 rate_group="light",
                 columns={"id": ID}),
        Endpoint("user_call_records", "account/~/extension/~/call-log", "The user's call log: one row per call.",
                 primary_key=("id",), selector="records", params={**LIST, "view": "Simple"},
                 window=Window(_iso, cursor="startTime"), rate_group="heavy", sync=CALL_LOG_SYNC,
                 columns={"id": ID, "startTime": ("timestamp", f"{STARTED[1]} The daily partition's cursor."),
                          "deleted": DELETED}),
        Endpoint("user_active_calls", "account/~/extension/~/active-calls",
                 "Calls in progress or ended in the last minutes.", primary_key=("id",), selector="records",
                 params=LIST,
                 rate_group="heavy",
                 columns={"id": ID, "startTime": STARTED}),
        Endpoint("call_monitoring_groups", "account/~/call-monitoring-groups", "Call monitoring groups.",
                 primary_key=("id",), selector="records", params=LIST, rate_group="medium",
                 columns={"id": ID}),  # unconfirmed
        Endpoint("call_queues", "account/~/call-queues", "Call queues.", primary_key=("id",), selector="records",
                 params=LIST, rate_group="medium",
                 columns={"id": ID}),
        Endpoint("ivr_prompts", "account/~/ivr-prompts", "Recorded IVR prompts.", primary_key=("id",),
                 selector="records", params=LIST, rate_group="medium",
                 columns={"id": ID}),
    ),
)
