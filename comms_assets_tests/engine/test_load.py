"""Every endpoint loaded from the sandbox through dlt into a real DuckDB: all pages, nothing twice."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import dlt
import orjson
import pytest

from comms_assets.catalog import APIS
from comms_assets.engine.batches import DEDUPLICATED
from comms_assets.engine.sources import LoadStats, build_source
from comms_assets.engine.warehouse import column
from comms_assets.sandbox import Sandbox, World
from comms_assets.sandbox.data import digits
from comms_assets_tests.conftest import END, SANDBOX_COLLECTION, START, point_at, small_world

ENDPOINTS = [f"{api.name}/{e.name}" for api in APIS.values() for e in api.endpoints]
# The largest page each API documents (api-facts): what the connectors should ask for.
DOCUMENTED_PAGE_SIZES = {"justcall": 100, "justcall/contacts": 500, "ringcentral": 1000, "gong": 100,
                         "sendpulse": 100, "lacrm": 10_000}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Load all 35 endpoints once; return rows, distinct keys and requests per endpoint."""
    root: Path = tmp_path_factory.mktemp("load")
    with Sandbox(world=small_world(), rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        env = point_at(patch, sandbox)
        result: dict[str, dict] = {}
        for api in APIS.values():
            stats = LoadStats()
            credentials = {name: env[name] for name in api.credentials[0]}
            pipeline = dlt.pipeline(f"test_{api.name}", destination=dlt.destinations.duckdb(str(root / "t.duckdb")),
                                    dataset_name=api.name, pipelines_dir=str(root / "pipelines"))
            pipeline.run(build_source(api, credentials, (START, END), stats), loader_file_format="parquet")
            with pipeline.sql_client() as client:
                for endpoint in api.endpoints:
                    table = client.make_qualified_table_name(endpoint.name)
                    keys = ", ".join(column(k) for k in endpoint.primary_key) or "*"
                    rows = client.execute_sql(f"select count(*) from {table}")[0][0]
                    distinct = client.execute_sql(f"select count(*) from (select distinct {keys} from {table}) k")[0][0]
                    declared = pipeline.default_schema.tables[endpoint.name].get(DEDUPLICATED)
                    types = {name: c.get("data_type") for name, c in
                             pipeline.default_schema.tables[endpoint.name]["columns"].items()}
                    result[f"{api.name}/{endpoint.name}"] = {"rows": rows, "distinct": distinct, "declared": declared,
                                                             "requests": stats.requests[endpoint.name], "types": types}
        yield {"tables": result, "expected": sandbox.counts()}


@pytest.mark.parametrize("key", ENDPOINTS)
def test_endpoint_loads_every_record_once(loaded: dict, key: str) -> None:
    table = loaded["tables"][key]
    expected = loaded["expected"][SANDBOX_COLLECTION[key]]
    assert expected > 0
    assert table["rows"] == table["distinct"] == expected


@pytest.mark.parametrize("key", [k for k in ENDPOINTS if k not in ("justcall/agent_analytics", "lacrm/pipeline_items",
                                                                   "lacrm/contact_events")])
def test_requests_are_pages_plus_at_most_one(loaded: dict, key: str) -> None:
    endpoint = APIS[key.split("/")[0]].endpoint(key.split("/")[1])
    single = endpoint.paginator == {"type": "single_page"}
    size = DOCUMENTED_PAGE_SIZES.get(key, DOCUMENTED_PAGE_SIZES[key.split("/")[0]])
    pages = 1 if single else max(1, math.ceil(loaded["tables"][key]["rows"] / size))
    assert pages <= loaded["tables"][key]["requests"] <= pages + 1


def test_per_day_and_bulk_endpoints_make_one_request_per_day_or_listing(loaded: dict) -> None:
    days = (END - START).days
    assert loaded["tables"]["justcall/agent_analytics"]["requests"] == days
    # GetPipelines, then GetPipelineItems once per pipeline (the sandbox has two); GetEvents once
    assert loaded["tables"]["lacrm/pipeline_items"]["requests"] == 3
    assert loaded["tables"]["lacrm/contact_events"]["requests"] == 1


@pytest.mark.parametrize("key", ENDPOINTS)
def test_described_columns_are_typed_as_loaded_and_every_timestamp_is_described(loaded: dict, key: str) -> None:
    endpoint = APIS[key.split("/")[0]].endpoint(key.split("/")[1])
    types = loaded["tables"][key]["types"]
    described = {column(path): kind for path, (kind, _) in endpoint.described.items()}
    later = {column(endpoint.sync.deleted)} if endpoint.sync else set()  # with the first deleted record
    assert {name: types.get(name) or (described[name] if name in later else None) for name in described} == described
    assert {name for name, kind in types.items() if kind in ("timestamp", "date")} <= described.keys()


def test_loads_that_saw_each_key_once_spare_dlt_its_deduplication(loaded: dict) -> None:
    declared = {key: table["declared"] for key, table in loaded["tables"].items()}
    assert declared["justcall/calls"] is True and declared["gong/calls"] is True and declared["lacrm/users"] is True
    assert declared["lacrm/contacts"] is True and declared["lacrm/contact_events"] is True
    assert not declared["sendpulse/balance_details"]  # a keyless snapshot, replaced


def per_contact(sandbox: Sandbox, function: str, key: str) -> set[tuple[str, str]]:
    """What one call per contact returns (the sandbox served in-process): (record id, contact id)."""
    out = set()
    for contact in range(sandbox.world.count("lacrm/contacts")):
        contact_id = digits(sandbox.world.seed, "lacrm/contacts", contact)
        parameters = {"ContactId": contact_id, "MaxNumberOfResults": 10_000}
        body = orjson.dumps({"Function": function, "Parameters": parameters})
        auth = {"Authorization": sandbox.credentials["LACRM_API_KEY"]}
        reply, _ = sandbox.serve("POST", "/lacrm/v2/", auth, body, "x")
        out |= {(record[key], contact_id) for record in orjson.loads(reply.payload())["Results"]}
    return out


def test_bulk_calls_load_what_one_call_per_contact_returns_with_a_hundredth_of_the_requests(tmp_path: Path) -> None:
    world = World(seed=3, start=START, end=END, counts={"lacrm/contacts": 5_000, "lacrm/events": 6_000})
    with Sandbox(world=world, rate_limit_scale=0) as sandbox, pytest.MonkeyPatch.context() as patch:
        point_at(patch, sandbox)
        pipeline = dlt.pipeline("bulk", destination=dlt.destinations.duckdb(str(tmp_path / "bulk.duckdb")),
                                dataset_name="lacrm", pipelines_dir=str(tmp_path / "pipelines"))
        stats = LoadStats()
        source = build_source(APIS["lacrm"], {"LACRM_API_KEY": sandbox.credentials["LACRM_API_KEY"]}, stats=stats)
        pipeline.run(source.with_resources("pipeline_items", "contact_events"), loader_file_format="parquet")
        with pipeline.sql_client() as client:
            items = set(client.execute_sql("select pipeline_item_id, _contacts_contact_id from pipeline_items"))
            events = set(client.execute_sql("select event_id, _contacts_contact_id from contact_events"))
        assert items == per_contact(sandbox, "GetPipelineItemsAttachedToContact", "PipelineItemId")
        assert events == per_contact(sandbox, "GetEventsAttachedToContact", "EventId")
        assert len(items) > 5_000 and len(events) == 12_000
        assert stats.requests["pipeline_items"] + stats.requests["contact_events"] <= 2 * 5_000 / 100
