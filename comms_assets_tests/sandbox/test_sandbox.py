"""The sandbox over real HTTP: every endpoint, auth, envelopes, paging ends, filters, limits, faults."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time

import pytest
import requests

from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import END, START, small_world


class Client:
    """Speaks each API the way its documentation says, with the sandbox's credentials."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.env = sandbox.env()
        self.http = requests.Session()

    def url(self, api: str, path: str) -> str:
        return self.env[f"SOURCES__{api.upper()}__BASE_URL"].rstrip("/") + path

    def justcall(self, path: str, **params) -> requests.Response:
        auth = f"{self.env['JUSTCALL_API_KEY']}:{self.env['JUSTCALL_API_SECRET']}"
        return self.http.get(self.url("justcall", path), params=params, headers={"Authorization": auth})

    def ringcentral_token(self) -> str:
        client = base64.b64encode(
            f"{self.env['RINGCENTRAL_CLIENT_ID']}:{self.env['RINGCENTRAL_CLIENT_SECRET']}".encode()).decode()
        response = self.http.post(self.url("ringcentral", "").removesuffix("/v1.0") + "/oauth/token",
                                  headers={"Authorization": f"Basic {client}"},
                                  data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                        "assertion": self.env["RINGCENTRAL_JWT"]})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def ringcentral(self, path: str, token: str | None = None, **params) -> requests.Response:
        token = token or self.ringcentral_token()
        return self.http.get(self.url("ringcentral", path), params=params, headers={"Authorization": f"Bearer {token}"})

    def gong(self, path: str, body: dict | None = None, **params) -> requests.Response:
        auth = (self.env["GONG_ACCESS_KEY"], self.env["GONG_ACCESS_KEY_SECRET"])
        if body is not None:
            return self.http.post(self.url("gong", path), json=body, auth=auth)
        return self.http.get(self.url("gong", path), params=params, auth=auth)

    def sendpulse_token(self) -> str:
        response = self.http.post(self.url("sendpulse", "/oauth/access_token"), data={
            "grant_type": "client_credentials", "client_id": self.env["SENDPULSE_CLIENT_ID"],
            "client_secret": self.env["SENDPULSE_CLIENT_SECRET"]})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def sendpulse(self, path: str, **params) -> requests.Response:
        return self.http.get(self.url("sendpulse", path), params=params,
                             headers={"Authorization": f"Bearer {self.sendpulse_token()}"})

    def lacrm(self, function: str, key: str | None = None, **parameters) -> requests.Response:
        return self.http.post(self.url("lacrm", "/"), json={"Function": function, "Parameters": parameters},
                              headers={"Authorization": key or self.env["LACRM_API_KEY"]})


@pytest.fixture
def client(sandbox: Sandbox) -> Client:
    return Client(sandbox)


def drain(fetch, first, next_of) -> list:
    """Follow an API's paging from ``first`` until ``next_of`` says there is no more."""
    rows, request, pages = [], first, 0
    while request is not None:
        body = fetch(request)
        page_rows, request = next_of(body)
        rows += page_rows
        pages += 1
        assert pages < 1000
    return rows


# -- JustCall ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path,collection", [("/v2.1/users", "justcall/users"), ("/v2.1/calls", "justcall/calls"),
                                             ("/v2.1/texts", "justcall/texts"), ("/v2.1/contacts", "justcall/contacts"),
                                             ("/v2.1/phone-numbers", "justcall/phone_numbers")])
def test_justcall_pages_end_with_empty_next_link(client: Client, sandbox: Sandbox, path: str, collection: str) -> None:
    def fetch(url):
        response = client.http.get(url, headers={"Authorization": "sandbox-justcall-key:sandbox-justcall-secret"})
        assert response.status_code == 200
        return response.json()

    first = client.justcall(path, per_page=100, page=0).url
    ids = drain(fetch, first, lambda b: (b["data"], b["next_page_link"] or None))
    assert len(ids) == len({r["id"] for r in ids}) == sandbox.world.count(collection)
    last = fetch(first)
    assert last["status"] == "success" and last["count"] == len(last["data"])


def test_justcall_auth_page_cap_and_date_filter(client: Client) -> None:
    assert client.http.get(client.url("justcall", "/v2.1/calls")).status_code == 401
    bad = client.http.get(client.url("justcall", "/v2.1/calls"), headers={"Authorization": "Basic eHg6eXk="})
    assert bad.status_code == 401 and bad.json()["status"] == "failure"
    assert len(client.justcall("/v2.1/calls", per_page=500).json()["data"]) == 100  # maximum per_page
    assert len(client.justcall("/v2.1/calls").json()["data"]) == 20  # default per_page
    day = client.justcall("/v2.1/calls", per_page=100, order="asc", from_datetime="2026-10-25 00:00:00",
                          to_datetime="2026-10-25 23:59:59").json()["data"]
    assert day and {r["call_date"] for r in day} == {"2026-10-25"}
    assert client.justcall("/v2.1/calls", per_page=100, from_datetime="2026-10-25",
                           to_datetime="2026-10-25").json()["count"] == len(day)  # date-only ends are inclusive


def test_justcall_analytics_aggregates_a_day(client: Client) -> None:
    rows = client.justcall("/v2.1/sales_dialer/analytics", from_date="2026-10-25", to_date="2026-10-25").json()["data"]
    calls = client.justcall("/v2.1/calls", per_page=100, from_datetime="2026-10-25", to_datetime="2026-10-25").json()
    assert sum(r["dialed_calls"] for r in rows) == calls["count"]
    assert client.justcall("/v2.1/sales_dialer/analytics").status_code == 400


# -- RingCentral ------------------------------------------------------------------------------

RC_LISTS = ["/account/~/extension/~/forwarding-number", "/account/~/extension/~/caller-blocking/phone-numbers",
            "/account/~/extension/~/active-calls", "/account/~/call-monitoring-groups", "/account/~/call-queues",
            "/account/~/ivr-prompts"]


@pytest.mark.parametrize("path", RC_LISTS)
def test_ringcentral_lists_follow_navigation(client: Client, path: str) -> None:
    token = client.ringcentral_token()

    def fetch(url):
        return client.http.get(url, headers={"Authorization": f"Bearer {token}"}).json()

    first = client.ringcentral(path, token, perPage=7).url
    rows = drain(fetch, first, lambda b: (b["records"], b["navigation"].get("nextPage", {}).get("uri")))
    assert len(rows) == len({r["id"] for r in rows}) == fetch(first)["paging"]["totalElements"]


def test_ringcentral_business_hours_and_auth(client: Client) -> None:
    for path in ("/account/~/extension/~/business-hours", "/account/~/business-hours"):
        body = client.ringcentral(path).json()
        assert body["uri"] and body["schedule"]["weeklyRanges"]["monday"][0]["from"]
    missing = client.http.get(client.url("ringcentral", "/account/~/call-queues"))
    assert missing.status_code == 401 and missing.json()["errorCode"] == "AGW-401"
    wrong = client.ringcentral("/account/~/call-queues", token="not-a-token")
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["errorCode"] == "OAU-213"
    bad_grant = client.http.post(client.url("ringcentral", "").removesuffix("/v1.0") + "/oauth/token",
                                 auth=("sandbox-ringcentral-client", "sandbox-ringcentral-secret"),
                                 data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x"})
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"


def test_ringcentral_call_log_window_and_default_24h(client: Client, sandbox: Sandbox) -> None:
    token = client.ringcentral_token()
    everything = client.ringcentral("/account/~/extension/~/call-log", token, perPage=5000,
                                    dateFrom=START.isoformat(), dateTo=END.isoformat()).json()
    assert len(everything["records"]) == 1000 and everything["paging"]["totalElements"] == 1500  # perPage cap
    day = client.ringcentral("/account/~/extension/~/call-log", token, perPage=1000,
                             dateFrom="2026-10-25T00:00:00.000Z", dateTo="2026-10-26T00:00:00.000Z").json()["records"]
    assert day and all(r["startTime"].startswith("2026-10-25") for r in day)
    recent = client.ringcentral("/account/~/extension/~/call-log", token, perPage=1000,
                                dateTo="2026-10-26T00:00:00.000Z").json()["records"]
    assert [r["id"] for r in recent] == [r["id"] for r in day]  # no dateFrom: the 24 hours before dateTo


# -- Gong -------------------------------------------------------------------------------------

def test_gong_get_cursor_paging(client: Client, sandbox: Sandbox) -> None:
    rows, cursor = [], None
    while True:
        body = client.gong("/users", **({"cursor": cursor} if cursor else {})).json()
        rows += body["users"]
        cursor = body["records"].get("cursor")
        if not cursor:
            break
    assert len({r["id"] for r in rows}) == sandbox.world.count("gong/users") == 120
    assert body["records"]["totalRecords"] == 120 and body["records"]["currentPageSize"] == 20


@pytest.mark.parametrize("path,key,filter_", [
    ("/calls/extensive", "calls", {"fromDateTime": START.isoformat(), "toDateTime": END.isoformat()}),
    ("/stats/activity/scorecards", "answeredScorecards", {"callFromDate": "2026-10-22", "callToDate": "2026-11-01"}),
])
def test_gong_post_cursor_in_body(client: Client, path: str, key: str, filter_: dict) -> None:
    rows, cursor = [], None
    while True:
        body = client.gong(path, {"filter": filter_, **({"cursor": cursor} if cursor else {})}).json()
        assert len(body[key]) <= 100
        rows += body[key]
        cursor = body["records"].get("cursor")
        if not cursor:
            break
    assert len(rows) == body["records"]["totalRecords"] > 100


def test_gong_filters_404_and_errors(client: Client) -> None:
    day = client.gong("/calls", fromDateTime="2026-10-25T00:00:00Z", toDateTime="2026-10-26T00:00:00Z").json()
    assert all(c["started"] for c in day["calls"]) and day["records"]["totalRecords"] < 250
    empty = client.gong("/calls", fromDateTime="2020-01-01T00:00:00Z", toDateTime="2020-01-02T00:00:00Z")
    assert empty.status_code == 404 and "No calls found" in empty.json()["errors"][0]
    assert client.gong("/calls/extensive", {"cursor": "x"}).status_code == 400  # filter is required
    too_wide = client.gong("/calls", fromDateTime="2026-01-01T00:00:00Z", toDateTime="2026-11-01T00:00:00Z")
    assert too_wide.status_code == 400 and "90 days" in too_wide.json()["errors"][0]
    assert client.gong("/calls", cursor="garbage").status_code == 400
    unauthorised = client.http.get(client.url("gong", "/users"), auth=("k", "s"))
    assert unauthorised.status_code == 401 and unauthorised.json()["errors"]
    assert len(client.gong("/settings/scorecards").json()["scorecards"]) == 6


# -- SendPulse --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/addressbooks", "/campaigns"])
def test_sendpulse_limit_offset_until_short_page(client: Client, sandbox: Sandbox, path: str) -> None:
    rows, offset = [], 0
    while True:
        page = client.sendpulse(path, limit=500, offset=offset).json()
        assert isinstance(page, list) and len(page) <= 100  # bare array, limit capped at 100
        rows += page
        offset += 100
        if len(page) < 100:
            break
    assert len({r["id"] for r in rows}) == len(rows) == sandbox.world.count("sendpulse" + path.replace("/", "/"))


def test_sendpulse_other_endpoints_and_auth(client: Client) -> None:
    assert isinstance(client.sendpulse("/templates").json(), list)
    assert isinstance(client.sendpulse("/senders").json(), list)
    assert client.sendpulse("/v2/email-service/webhook").json()["success"] is True
    assert client.sendpulse("/user/balance/detail").json()["balance"]["currency"] == "USD"
    assert client.sendpulse("/balance").json()["currency"] == "USD"
    denied = client.http.post(client.url("sendpulse", "/oauth/access_token"),
                              data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"})
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_client"
    assert client.http.get(client.url("sendpulse", "/addressbooks")).status_code == 401


def test_sendpulse_tokens_expire() -> None:
    with Sandbox(world=small_world(), rate_limit_scale=0, token_ttl=1) as sandbox:
        client = Client(sandbox)
        token = client.sendpulse_token()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.http.get(client.url("sendpulse", "/senders"), headers=headers).status_code == 200
        time.sleep(1.2)
        assert client.http.get(client.url("sendpulse", "/senders"), headers=headers).status_code == 401


# -- LACRM ------------------------------------------------------------------------------------

def test_lacrm_functions_paging_and_errors(client: Client, sandbox: Sandbox) -> None:
    assert isinstance(client.lacrm("GetUsers").json(), list)
    assert isinstance(client.lacrm("GetTeams").json(), list)
    first = client.lacrm("GetNotes", MaxNumberOfResults=50_000).json()
    assert len(first["Results"]) == 10_000 and first["HasMoreResults"] is True  # MaxNumberOfResults cap
    second = client.lacrm("GetNotes", MaxNumberOfResults=10_000, Page=2).json()
    assert len(second["Results"]) == 50 and second["HasMoreResults"] is False
    tasks = client.lacrm("GetTasks", StartDate="2026-10-25", EndDate="2026-10-25").json()["Results"]
    assert isinstance(tasks, dict) and {t["DueDate"] for t in tasks.values()} == {"2026-10-25"}
    assert set(tasks) == {t["TaskId"] for t in tasks.values()}  # keyed by id
    assert client.lacrm("GetTasks").json()["ErrorCode"] == "MissingParameter"
    contact = client.lacrm("GetContacts").json()["Results"][0]["ContactId"]
    items = client.lacrm("GetPipelineItemsAttachedToContact", ContactId=contact).json()
    assert all(i["ContactId"] == contact for i in items["Results"])
    events = client.lacrm("GetEventsAttachedToContact", ContactId=contact).json()["Results"]
    assert events and all(contact in e["ContactIds"] for e in events)
    for response in (client.lacrm("GetContacts", key="wrong"), client.lacrm("NoSuchFunction"),
                     client.lacrm("GetPipelineItemsAttachedToContact", ContactId="1"),
                     client.http.post(client.url("lacrm", "/"), data=b"{not json",
                                      headers={"Authorization": "sandbox-lacrm-key"})):
        assert response.status_code == 400 and set(response.json()) == {"ErrorCode", "ErrorDescription"}


def test_lacrm_pipeline_items_by_status_filter_and_in_every_documented_shape(client: Client, sandbox: Sandbox) -> None:
    pipelines = client.lacrm("GetPipelines").json()
    assert len(pipelines) == 2 and all(p["Statuses"] for p in pipelines)
    everything, active = set(), set()
    for pipeline in pipelines:
        statuses = [s["StatusId"] for s in pipeline["Statuses"]]
        every = client.lacrm("GetPipelineItems", PipelineId=pipeline["PipelineId"], StatusFilter=statuses,
                             MaxNumberOfResults=10_000).json()["Results"]
        everything |= {i["PipelineItemId"] for i in every}
        active |= {i["PipelineItemId"] for i in client.lacrm("GetPipelineItems", PipelineId=pipeline["PipelineId"],
                                                               MaxNumberOfResults=10_000).json()["Results"]}
        assert {i["PipelineId"] for i in every} == {pipeline["PipelineId"]}
    assert active < everything and len(everything) == sandbox.counts()["lacrm/pipeline_items"]
    assert client.lacrm("GetPipelineItems", PipelineId="nope").status_code == 400
    contact = next(c["ContactId"] for c in client.lacrm("GetContacts").json()["Results"]
                   if client.lacrm("GetPipelineItemsAttachedToContact", ContactId=c["ContactId"]).json()["Results"])
    ids = {i["PipelineItemId"] for i in client.lacrm("GetPipelineItemsAttachedToContact", ContactId=contact).json()[
        "Results"]}
    sandbox.apis["lacrm"].pipeline_item_shape = "items"
    body = client.lacrm("GetPipelineItemsAttachedToContact", ContactId=contact).json()
    assert {i["PipelineItemId"] for i in body["PipelineItems"]} == ids
    sandbox.apis["lacrm"].pipeline_item_shape = "grouped"
    body = client.lacrm("GetPipelineItemsAttachedToContact", ContactId=contact).json()
    assert {i["PipelineItemId"] for group in body for i in group["PipelineItems"]} == ids


# -- Whole sandbox ----------------------------------------------------------------------------

def test_unknown_paths_and_methods_get_the_apis_own_errors(client: Client) -> None:
    assert client.justcall("/v2.1/nothing").status_code == 404
    assert client.http.delete(client.url("justcall", "/v2.1/calls")).json()["status"] == "failure"
    assert client.gong("/nothing").json()["errors"]
    assert client.http.get(client.url("lacrm", "/")).status_code == 400
    assert client.http.get(client.sandbox.url + "/nowhere").status_code == 404


def test_same_seed_same_bytes() -> None:
    def page(sandbox: Sandbox) -> bytes:
        client = Client(sandbox)
        body = client.justcall("/v2.1/calls", per_page=100, page=1).content + client.gong("/users").content
        return body.replace(sandbox.url.encode(), b"http://sandbox")  # links name the port

    with (Sandbox(world=small_world(), rate_limit_scale=0) as one,
          Sandbox(world=small_world(), rate_limit_scale=0) as two):
        first = page(one)
        assert first == page(two)
    with Sandbox(world=World(seed=8, start=START, end=END, counts=small_world().counts), rate_limit_scale=0) as other:
        assert page(other) != first  # another seed, other data


def test_rate_limit_answers_429_with_retry_after() -> None:
    with Sandbox(world=small_world(), rate_limit_scale=0.1) as sandbox:  # Gong: 3/s -> 1/s here
        sandbox.limiter.clock = lambda: 1_800_000_000.5  # time stands still: no window ends mid-test
        client = Client(sandbox)
        statuses = [client.gong("/users").status_code for _ in range(3)]
        assert statuses[0] == 200 and 429 in statuses
        limited = client.gong("/users")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        justcall = [client.justcall("/v2.1/users") for _ in range(4)]  # 30/min -> 3/min here
        assert justcall[-1].status_code == 429 and justcall[0].headers["X-Rate-Limit-Burst-Limit"] == "30"


@pytest.mark.parametrize("kind", ["status", "slow", "malformed", "cut", "timeout", "shift", "late", "expire_token",
                                  "expire_cursor", "echo"])
def test_each_fault_kind(sandbox: Sandbox, client: Client, kind: str) -> None:
    api = {"expire_token": "sendpulse", "expire_cursor": "gong"}.get(kind, "justcall")
    spec = {"api": api, "kind": kind, "count": 1, "delay": 0.5}
    if kind == "expire_cursor":
        body = client.gong("/users").json()
        sandbox.inject(**spec)
        response = client.gong("/users", cursor=body["records"]["cursor"])
        assert response.status_code == 400 and response.json()["errors"] == ["cursor has expired"]
        return
    if kind == "expire_token":
        token = client.sendpulse_token()
        sandbox.inject(**spec)
        response = client.http.get(client.url("sendpulse", "/senders"), headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        return
    if kind == "shift":
        before = client.justcall("/v2.1/users", per_page=10, page=1, order="asc").json()["data"]
        sandbox.inject(**spec, rows=2)
        shifted = client.justcall("/v2.1/users", per_page=10, page=1, order="asc").json()["data"]
        assert [r["id"] for r in shifted] == [before[0]["id"] - 2, before[0]["id"] - 1] + [r["id"] for r in before[:8]]
        return
    if kind == "echo":
        sandbox.inject(**spec, status=401)
        response = client.justcall("/v2.1/users")
        assert response.status_code == 401 and "sandbox-justcall-secret" in response.json()["message"]
        return
    if kind == "late":
        before = client.justcall("/v2.1/users", per_page=10, page=0, order="asc").json()["data"]
        sandbox.inject(**spec, rows=3)
        early = client.justcall("/v2.1/users", per_page=10, page=0, order="asc").json()["data"]
        assert early == before[:7]
        return
    # Faults on the wire: use a raw socket so nothing retries behind our back.
    sandbox.inject(**{**spec, "status": 503})
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as conn:
        conn.sendall(b"GET /justcall/v2.1/users HTTP/1.1\r\nHost: x\r\nAuthorization: "
                     b"sandbox-justcall-key:sandbox-justcall-secret\r\n\r\n")
        raw = b""
        while chunk := conn.recv(65536):
            raw += chunk
            if kind in ("status", "slow", "malformed") and b"\r\n\r\n" in raw:
                head, _, body = raw.partition(b"\r\n\r\n")
                length = int(next(l.split(b":")[1] for l in head.split(b"\r\n")
                                  if l.lower().startswith(b"content-length")))
                if len(body) >= length:
                    break
    head, _, body = raw.partition(b"\r\n\r\n")
    if kind == "status":
        assert head.startswith(b"HTTP/1.1 503")
    elif kind == "slow":
        assert head.startswith(b"HTTP/1.1 200") and time.monotonic() - started >= 0.5
    elif kind == "malformed":
        with pytest.raises(ValueError):
            requests.models.complexjson.loads(body)
    elif kind == "cut":
        declared = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
        assert 0 < len(body) < declared
    elif kind == "timeout":
        assert raw == b"" and time.monotonic() - started >= 0.5
    assert client.justcall("/v2.1/users").status_code == 200  # one-shot: the next request is fine


def test_request_log_and_control_endpoints(sandbox: Sandbox, client: Client) -> None:
    client.justcall("/v2.1/users", per_page=5)
    log = requests.get(sandbox.url + "/_sandbox/requests").json()
    assert log[-1]["path"] == "/v2.1/users" and log[-1]["query"]["per_page"] == "5" and log[-1]["status"] == 200
    client.sendpulse_token()
    assert sandbox.requests("sendpulse")[-1]["body"]["client_secret"] == "***"  # secrets never logged
    added = requests.post(sandbox.url + "/_sandbox/faults", json={"api": "gong", "kind": "status", "status": 500})
    assert added.status_code == 201 and client.gong("/users").status_code == 500
    assert requests.post(sandbox.url + "/_sandbox/faults", json={"api": "gong", "kind": "nope"}).status_code == 400
    assert requests.get(sandbox.url + "/_sandbox/counts").json()["lacrm/notes"] == 10_050
    requests.delete(sandbox.url + "/_sandbox/requests")
    assert sandbox.requests() == []


def test_command_line_prints_the_environment_and_stops_by_itself(tmp_path) -> None:
    env_file = tmp_path / "sandbox.env"
    done = subprocess.run([sys.executable, "-m", "comms_assets.sandbox", "--port", "0", "--seconds", "1",
                           "--env-file", str(env_file)], check=False, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    names = {line.split("=")[0].removeprefix("export ") for line in done.stdout.splitlines()}
    pacing = {f"SOURCES__{api}__{name}" for api in ("JUSTCALL", "RINGCENTRAL", "GONG", "SENDPULSE", "LACRM")
              for name in ("BASE_URL", "RATE_SCALE", "RATE_TIME_SCALE", "TIMEZONE")}
    assert names == {*pacing, "JUSTCALL_API_KEY",
                     "JUSTCALL_API_SECRET", "RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT",
                     "GONG_ACCESS_KEY", "GONG_ACCESS_KEY_SECRET", "SENDPULSE_CLIENT_ID", "SENDPULSE_CLIENT_SECRET",
                     "LACRM_API_KEY"}
    assert "SOURCES__LACRM__BASE_URL=" in env_file.read_text()


def test_one_company_its_people_in_three_systems_and_its_customers_in_two() -> None:
    """The same people are users of JustCall, Gong and LACRM (one work email each, some typed
    differently, some Gong users from outside), and the same customers are JustCall and LACRM
    contacts and the other end of the calls, with the gaps real data has."""
    world = World(seed=8, start=START, end=END)
    with Sandbox(world=world, rate_limit_scale=0) as sandbox:
        justcall, gong, lacrm = (sandbox.apis[name] for name in ("justcall", "gong", "lacrm"))
        emails = [{u["email"].lower() for u in map(justcall.user, range(world.count("justcall/users")))},
                  {g["emailAddress"].lower() for g in map(gong.user, range(world.count("gong/users")))},
                  {u["Email"].lower() for u in map(lacrm.user, range(world.count("lacrm/users")))}]
        assert len(emails[2] & emails[1] & emails[0]) == 9  # LACRM's 10 users, but for Gong's outsider
        assert len(emails[1] - emails[0]) == 40 - 25 + 3 and all(e.endswith(".example") for e in emails[1])
        assert any(g["emailAddress"] != g["emailAddress"].lower() for g in map(gong.user, range(40)))
        phones = {c["contact_number"] for c in map(justcall.contact, range(world.count("justcall/contacts")))}
        lacrm_contacts = [lacrm.contact(i) for i in range(world.count("lacrm/contacts"))]
        typed = {"".join(ch for ch in p["Text"] if ch.isdigit())[-10:] for c in lacrm_contacts for p in c["Phone"]}
        shared = {p for p in phones if p[2:] in typed}  # the same ten digits, however written
        assert 200 < len(shared) < 250 and not any(p["Text"].startswith("+1") and "-" not in p["Text"]
                                                  for c in lacrm_contacts for p in c["Phone"])
        callers = [justcall.call(i)["contact_number"] for i in range(500)]
        known = {world.customer(i).phone for i in range(world.count("company/customers"))}
        assert 0.75 < sum(c in known for c in callers) / len(callers) < 0.95
