"""Each API's auth, paging parameters and stop signal, asserted on the wire with ``responses``."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs, quote, urlsplit

import pyarrow as pa
import pytest
import requests
import responses

from comms_assets.catalog import APIS
from comms_assets.engine.errors import SECRETS, describe
from comms_assets.engine.sources import build_source
from comms_assets_tests.conftest import END, START

HOST = "https://api.test"


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> responses.RequestsMock:
    for api in APIS:
        monkeypatch.setenv(f"SOURCES__{api.upper()}__BASE_URL", f"{HOST}/{api}" + ("/v2/" if api == "lacrm" else ""))
        monkeypatch.setenv(f"SOURCES__{api.upper()}__REQUEST_MAX_ATTEMPTS", "1")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def rows(api: str, endpoint: str, credentials: dict[str, str]) -> list[dict]:
    """The endpoint's rows as the source hands them to dlt (flat rows arrive in Arrow batches)."""
    items = build_source(APIS[api], credentials, (START, END)).with_resources(endpoint)
    return [row for item in items for row in (item.to_pylist() if isinstance(item, pa.Table) else [item])]


def query(call: responses.Call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@pytest.mark.parametrize(("zone", "bounds"), [
    ("", ("2026-10-21 12:00:00", "2026-11-01 13:59:59")),  # unknown: widened to every zone, UTC-12 to UTC+14
    ("America/New_York", ("2026-10-21 20:00:00", "2026-10-31 19:59:59")),  # the UTC days on New York's clock (EDT)
    ("Asia/Kolkata", ("2026-10-22 05:30:00", "2026-11-01 05:29:59")),
])
def test_justcall_raw_key_secret_zero_based_pages_and_empty_next_link(
        zone: str, bounds: tuple[str, str], http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    """JustCall reads ``from_datetime``/``to_datetime`` on the account's clock."""
    if zone:
        monkeypatch.setenv("SOURCES__JUSTCALL__TIMEZONE", zone)
    url = f"{HOST}/justcall/v2.1/calls"
    http.get(url, json={"status": "success", "count": 2, "next_page_link": f"{url}?page=1",
                        "data": [{"id": 1, "call_date": "2026-10-22"}, {"id": 2, "call_date": "2026-10-23"}]})
    http.get(url, json={"status": "success", "count": 1, "next_page_link": "",
                        "data": [{"id": 3, "call_date": "2026-10-31"}]})
    loaded = rows("justcall", "calls", {"JUSTCALL_API_KEY": "k", "JUSTCALL_API_SECRET": "s"})
    assert [r["id"] for r in loaded] == [1, 2, 3]
    first, second = http.calls
    assert first.request.headers["Authorization"] == "k:s"
    assert query(first) == {"page": "0", "per_page": "100", "order": "asc", "sort": "datetime",
                            "from_datetime": bounds[0], "to_datetime": bounds[1]}
    assert query(second)["page"] == "1"


def test_ringcentral_jwt_grant_then_bearer_and_navigation(http: responses.RequestsMock) -> None:
    http.post(f"{HOST}/ringcentral/oauth/token", json={"access_token": "T", "token_type": "bearer", "expires_in": 3600})
    url = f"{HOST}/ringcentral/account/~/call-queues"
    http.get(url, json={"records": [{"id": "1"}], "navigation": {"nextPage": {"uri": f"{url}?page=2&perPage=1000"}}})
    http.get(url, json={"records": [{"id": "2"}], "navigation": {}})
    credentials = {"RINGCENTRAL_CLIENT_ID": "cid", "RINGCENTRAL_CLIENT_SECRET": "csec", "RINGCENTRAL_JWT": "jwt"}
    assert [r["id"] for r in rows("ringcentral", "call_queues", credentials)] == ["1", "2"]
    token, first, second = http.calls
    assert token.request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csec").decode()
    assert parse_qs(token.request.body) == {"grant_type": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
                                            "assertion": ["jwt"]}
    assert first.request.headers["Authorization"] == "Bearer T"
    assert query(first) == {"perPage": "1000"} and query(second) == {"page": "2", "perPage": "1000"}


def test_ringcentral_accepts_a_ready_access_token(http: responses.RequestsMock) -> None:
    http.get(f"{HOST}/ringcentral/account/~/call-queues", json={"records": [{"id": "1"}], "navigation": {}})
    assert rows("ringcentral", "call_queues", {"RINGCENTRAL_ACCESS_TOKEN": "ready"})
    assert http.calls[0].request.headers["Authorization"] == "Bearer ready"


def test_gong_basic_auth_cursor_in_post_body_and_404_as_empty(http: responses.RequestsMock) -> None:
    url = f"{HOST}/gong/calls/extensive"
    call = {"metaData": {"id": "1", "started": "2026-10-25T10:00:00-05:00"}}
    http.post(url, json={"records": {"cursor": "C2"}, "calls": [call]})
    http.post(url, json={"records": {}, "calls": [{"metaData": {"id": "2", "started": "2026-10-26T10:00:00Z"}}]})
    credentials = {"GONG_ACCESS_KEY": "ak", "GONG_ACCESS_KEY_SECRET": "as"}
    assert [r["meta_data__id"] for r in rows("gong", "extensive_calls", credentials)] == ["1", "2"]
    first, second = (json.loads(c.request.body) for c in http.calls)
    assert http.calls[0].request.headers["Authorization"] == "Basic " + base64.b64encode(b"ak:as").decode()
    assert first["filter"] == {"fromDateTime": START.isoformat(),
                               "toDateTime": END.isoformat()} and "cursor" not in first
    assert second["cursor"] == "C2"
    http.reset()
    http.get(f"{HOST}/gong/calls", status=404, json={"requestId": "r", "errors": [
        "No calls found corresponding to the provided filters"]})
    assert rows("gong", "calls", credentials) == []


def test_sendpulse_client_credentials_and_offset_until_empty(http: responses.RequestsMock) -> None:
    http.post(f"{HOST}/sendpulse/oauth/access_token",
              json={"access_token": "T", "token_type": "Bearer", "expires_in": 3600})
    url = f"{HOST}/sendpulse/addressbooks"
    http.get(url, json=[{"id": i} for i in range(100)])
    http.get(url, json=[{"id": 100}])
    http.get(url, json=[])
    result = rows("sendpulse", "mailing_lists", {"SENDPULSE_CLIENT_ID": "cid", "SENDPULSE_CLIENT_SECRET": "cs"})
    assert len(result) == 101
    token, *pages = http.calls
    assert parse_qs(token.request.body) == {"grant_type": ["client_credentials"], "client_id": ["cid"],
                                            "client_secret": ["cs"]}
    assert [query(p) for p in pages] == [{"limit": "100", "offset": str(o)} for o in (0, 100, 200)]
    assert all(p.request.headers["Authorization"] == "Bearer T" for p in pages)


def test_lacrm_function_body_pages_in_parameters_and_has_more(http: responses.RequestsMock) -> None:
    url = f"{HOST}/lacrm/v2/"
    http.post(url, json={"HasMoreResults": True, "Results": {"t1": {"TaskId": "t1", "DueDate": "2026-10-23"}}})
    http.post(url, json={"HasMoreResults": False, "Results": {"t2": {"TaskId": "t2", "DueDate": "2026-10-24"}}})
    assert [r["task_id"] for r in rows("lacrm", "tasks", {"LACRM_API_KEY": "raw"})] == ["t1", "t2"]
    bodies = [json.loads(c.request.body) for c in http.calls]
    assert http.calls[0].request.headers["Authorization"] == "raw"
    assert bodies[0] == {"Function": "GetTasks", "Parameters": {
        "MaxNumberOfResults": 10_000, "StartDate": "2026-10-22", "EndDate": "2026-10-31",
        "SortDirection": "Ascending", "Page": 1}}
    assert bodies[1]["Parameters"]["Page"] == 2


def test_window_bounds_drop_records_outside_it(http: responses.RequestsMock) -> None:
    """An API that ignores the filter still loads only the window (cursor checked at both ends)."""
    http.get(f"{HOST}/gong/calls", json={"records": {}, "calls": [
        {"id": "start", "started": "2026-10-22T00:00:00Z"},  # the window's first instant: inside
        {"id": "start-offset", "started": "2026-10-21T19:00:00-05:00"},  # the same instant
        {"id": "early", "started": "2026-10-21T23:00:00-02:00"},  # 2026-10-22T01:00Z: inside
        {"id": "before", "started": "2026-10-21T23:59:59Z"},
        {"id": "last", "started": "2026-10-31T23:59:59+00:00"},
        {"id": "end", "started": "2026-11-01T00:00:00Z"},  # the window's end: the next window's
        {"id": "end-offset", "started": "2026-11-01T05:30:00+05:30"},  # the same instant
        {"id": "after", "started": "2026-10-31T22:00:00-05:00"}]})  # 2026-11-01T03:00Z: outside
    got = rows("gong", "calls", {"GONG_ACCESS_KEY": "a", "GONG_ACCESS_KEY_SECRET": "b"})
    assert [r["id"] for r in got] == ["start", "start-offset", "early", "last"]


def test_date_only_cursors_keep_the_window_days(http: responses.RequestsMock) -> None:
    http.get(f"{HOST}/justcall/v2.1/calls", json={"next_page_link": "", "data": [
        {"id": 1, "call_date": "2026-10-21"}, {"id": 2, "call_date": "2026-10-22"},
        {"id": 3, "call_date": "2026-10-31"}, {"id": 4, "call_date": "2026-11-01"}]})
    got = rows("justcall", "calls", {"JUSTCALL_API_KEY": "k", "JUSTCALL_API_SECRET": "s"})
    assert [r["id"] for r in got] == [2, 3]


def test_lacrm_pipeline_items_in_every_status_pipeline_by_pipeline(http: responses.RequestsMock) -> None:
    """An empty ``StatusFilter`` would return the items in active statuses only."""
    url = f"{HOST}/lacrm/v2/"
    http.post(url, json=[{"PipelineId": "p1", "Statuses": [{"StatusId": "a"}, {"StatusId": "won"}]},
                         {"PipelineId": "p2", "Statuses": [{"StatusId": "b"}]}])
    http.post(url, json={"HasMoreResults": False, "Results": [{"PipelineItemId": "i1", "ContactId": "c1"}]})
    http.post(url, json={"HasMoreResults": False, "Results": [{"PipelineItemId": "i2", "ContactId": "c2"}]})
    got = rows("lacrm", "pipeline_items", {"LACRM_API_KEY": "raw"})
    assert [(r["pipeline_item_id"], r["_contacts_contact_id"]) for r in got] == [("i1", "c1"), ("i2", "c2")]
    bodies = [json.loads(c.request.body) for c in http.calls]
    assert bodies[0] == {"Function": "GetPipelines", "Parameters": {}}
    assert [b["Parameters"] for b in bodies[1:]] == [
        {"MaxNumberOfResults": 10_000, "PipelineId": "p1", "StatusFilter": ["a", "won"], "Page": 1},
        {"MaxNumberOfResults": 10_000, "PipelineId": "p2", "StatusFilter": ["b"], "Page": 1}]


def test_lacrm_contact_events_are_one_row_per_attached_contact(http: responses.RequestsMock) -> None:
    http.post(f"{HOST}/lacrm/v2/", json={"HasMoreResults": False, "Results": [
        {"EventId": "e1", "ContactIds": ["c1", "c2"]}, {"EventId": "e2", "ContactIds": []}]})
    got = rows("lacrm", "contact_events", {"LACRM_API_KEY": "raw"})  # rows holding a list reach dlt as dicts
    assert [(r["EventId"], r["_contacts_ContactId"]) for r in got] == [("e1", "c1"), ("e1", "c2")]
    assert json.loads(http.calls[0].request.body)["Function"] == "GetEvents"


@pytest.mark.parametrize("body, held", [
    ([{"NoteId": "n1"}], "an array of 1 item(s)"),
    ({"PipelineItems": [{"NoteId": "n1"}], "HasMoreResults": False},
     "an object with keys HasMoreResults, PipelineItems"),
])
def test_a_body_of_another_shape_fails_naming_endpoint_and_shape(http: responses.RequestsMock, body: object,
                                                                  held: str) -> None:
    http.post(f"{HOST}/lacrm/v2/", json=body)
    with pytest.raises(Exception,
                       match=re.escape(f"lacrm/notes: the response to POST / {{Function: GetNotes}} held {held}")):
        rows("lacrm", "notes", {"LACRM_API_KEY": "raw"})


def test_a_paginator_pointed_back_at_its_own_page_stops_with_an_error(http: responses.RequestsMock) -> None:
    url = f"{HOST}/ringcentral/account/~/call-queues"
    http.get(url, json={"records": [{"id": "1"}], "navigation": {"nextPage": {"uri": f"{url}?page=2"}}})
    http.get(url, json={"records": [{"id": "2"}], "navigation": {"nextPage": {"uri": f"{url}?page=2"}}})
    with pytest.raises(Exception, match="ringcentral/call_queues: the same page was asked for twice"):
        rows("ringcentral", "call_queues", {"RINGCENTRAL_ACCESS_TOKEN": "t"})


def test_a_token_longer_than_the_cut_is_blanked_whole_in_every_form(http: responses.RequestsMock) -> None:
    """A 120-character token echoed across the 300-character cut, as base64 and URL-encoded, and a
    scheme's value the process never saw: none survives ``describe``, not even in part."""
    token = "tok_" + "A1b2/C3d4+" * 11 + "end="
    SECRETS.add(token)
    unseen = "Zm9yZWlnbi10b2tlbi12YWx1ZQ"
    body = ("x" * 280 + f"echo {token} | b64 {base64.b64encode(token.encode()).decode()} | url {quote(token, safe='')}"
            f" | Authorization: Bearer {unseen}")
    http.get(f"{HOST}/echo", status=401, body=body)
    with pytest.raises(requests.HTTPError) as failed:
        requests.get(f"{HOST}/echo", timeout=5).raise_for_status()
    message = describe("sendpulse", failed.value)
    assert message.startswith("sendpulse: HTTP 401 Unauthorized from GET /echo: " + "x" * 280 + "echo ***")
    whole = SECRETS.blank(body)
    assert "b64 *** | url *** | Authorization: Bearer ***" in whole
    for part in (token[:12], token[-12:], token[40:60], unseen, base64.b64encode(token.encode()).decode()[:16]):
        assert part not in message and part not in whole
