"""Each API's endpoints loaded together, as a run loads them, at sizes where batches interleave.

dlt extracts the resources of one source round-robin, switching every 5,000 rows, and the Arrow
batches hold 5,000 rows: with 12,000 rows on every paged endpoint, each endpoint's pages are
fetched between the pages of its neighbours, several times over. Expectations come from the
sandbox: its record counts and its request log.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pytest

from comms_assets.catalog import APIS
from comms_assets.catalog.model import thawed
from comms_assets.definitions import build_definitions
from comms_assets.engine.warehouse import column
from comms_assets.sandbox import Sandbox, World
from comms_assets_tests.conftest import END, FAST_RETRIES, SANDBOX_COLLECTION, START, point_at, range_tags

pytestmark = [pytest.mark.slow]

ROWS = 12_000
# Every collection an endpoint pages through.
LARGE = {name: ROWS for name in (
    "justcall/users", "justcall/calls", "justcall/texts", "justcall/contacts", "justcall/phone_numbers",
    "ringcentral/call_log", "ringcentral/forwarding_numbers", "ringcentral/blocked_numbers",
    "ringcentral/active_calls", "ringcentral/monitoring_groups", "ringcentral/call_queues", "ringcentral/ivr_prompts",
    "gong/users", "gong/calls", "gong/answered_scorecards", "sendpulse/addressbooks", "sendpulse/campaigns",
    "lacrm/contacts", "lacrm/tasks", "lacrm/notes", "lacrm/events")}


def catalog() -> dict[str, list]:
    return {api.name: [thawed((e.params, e.json, e.paginator)) for e in api.endpoints] for api in APIS.values()}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Every API's snapshot endpoints in one run and its dated endpoints in one range run."""
    root: Path = tmp_path_factory.mktemp("large")
    warehouse = str(root / "large.duckdb")
    before = catalog()
    world = World(seed=11, start=START, end=END, counts=dict(LARGE))
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        # the ten days as two commits (a day, then nine): an API's dated endpoints extracted together
        point_at(patch, sandbox, {**FAST_RETRIES, "DESTINATION__DUCKDB__CREDENTIALS": warehouse})
        defs = build_definitions()
        job = defs.resolve_implicit_global_asset_job_def()
        tags = range_tags(f"{START:%Y-%m-%d}", f"{END - timedelta(days=1):%Y-%m-%d}")
        results = {}
        for api in APIS.values():
            for partitioned in (False, True):
                keys = [dg.AssetKey([api.name, e.name]) for e in api.endpoints if e.partitioned == partitioned]
                if keys:
                    result = job.execute_in_process(asset_selection=keys, tags=tags if partitioned else None,
                                                    raise_on_error=False)
                    results[(api.name, partitioned)] = result.success
        yield {"results": results, "counts": sandbox.counts(), "log": sandbox.requests(), "warehouse": warehouse,
               "before": before, "after": catalog()}


def test_every_run_succeeds(loaded: dict) -> None:
    assert all(loaded["results"].values()), loaded["results"]


@pytest.mark.parametrize("key", [f"{api.name}/{e.name}" for api in APIS.values() for e in api.endpoints])
def test_every_record_is_loaded_once(loaded: dict, key: str) -> None:
    api_name, name = key.split("/")
    endpoint = APIS[api_name].endpoint(name)
    keys = ", ".join(column(k) for k in endpoint.primary_key) or "*"
    with duckdb.connect(loaded["warehouse"], read_only=True) as con:
        rows, distinct = con.execute(
            f"select count(*), (select count(*) from (select distinct {keys} from {api_name}.{name})) "
            f"from {api_name}.{name}").fetchone()
    assert rows == distinct == loaded["counts"][SANDBOX_COLLECTION[key]]


def test_paged_endpoints_are_above_two_batches(loaded: dict) -> None:
    assert loaded["counts"]["justcall/contacts"] == ROWS > 2 * 5_000


def test_no_request_is_sent_twice(loaded: dict) -> None:
    """Two paginators sharing a page counter ask for one page twice and skip another. (Each run
    asks for its own OAuth token.)"""
    sent = collections.Counter(
        (r["api"], r["method"], r["path"], orjson.dumps(r["query"], option=orjson.OPT_SORT_KEYS),
         orjson.dumps(r["body"], option=orjson.OPT_SORT_KEYS)) for r in loaded["log"] if "/oauth/" not in r["path"])
    assert [request for request, times in sent.items() if times > 1] == []
    contacts = sorted(int(r["query"]["page"]) for r in loaded["log"] if r["path"] == "/v2.1/contacts")
    assert contacts == list(range(ROWS // 500))  # 0-based pages of 500 (v2.1 contacts' maximum), the last says so


def test_the_catalog_is_unchanged_by_loads_and_cannot_be_changed(loaded: dict) -> None:
    assert loaded["after"] == loaded["before"]
    with pytest.raises(TypeError):
        APIS["justcall"].endpoint("contacts").params["page"] = 3  # type: ignore[index]
