"""Catalog + sources -> Dagster assets: one asset per endpoint, two multi-assets per API.

Date-cursor endpoints share a daily-partitioned multi-asset (a run loads exactly its window);
the others share an unpartitioned one (a multi-asset has a single partitions definition).
"""

import collections
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from comms_assets.catalog import APIS, Api, Endpoint
from comms_assets.defs.ingest.checks import (
    DRIFT,
    ROW_COUNT,
    SCHEMA,
    VOLUME,
    check_specs,
    drift_specs,
    drifts,
    evaluate,
    volume_specs,
    volumes,
)
from comms_assets.defs.shared import POOL, WAREHOUSE_STEP_TAGS, api_tags, partitions_def
from comms_assets.engine.errors import describe
from comms_assets.engine.limits import Settings
from comms_assets.engine.progress import Progress, duration
from comms_assets.engine.sources import LoadStats, Span, build_source
from comms_assets.engine.warehouse import LOADER_FILE_FORMAT, column, exclusive, pipeline

# Unpartitioned snapshots refresh once a day, evaluated by each API's automation sensor.
SNAPSHOT_REFRESH = dg.AutomationCondition.on_cron("0 3 * * *", "UTC")
# A range run commits once about this much work (seconds) is uncommitted (``COMMS_COMMIT_EVERY_S``).
COMMIT_EVERY_S = 300
# The metadata each day of a range carries; the rest describes the whole commit (its last day has it).
OF_EVERY_DAY = ("dagster/table_name", "dagster/storage_kind", "dagster/row_count")


class CommsTranslator(DagsterDltTranslator):
    """Key ``[api, endpoint]``, group = API, no phantom upstream, description and keys from the catalog."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        api = APIS[data.resource.source_name]
        endpoint = api.endpoint(data.resource.name)
        return spec.replace_attributes(
            key=dg.AssetKey([api.name, endpoint.name]),
            group_name=api.name,
            deps=[],
            description=f"{endpoint.description}\n\n`{endpoint.http_call}` ({api.title})",
            automation_condition=None if endpoint.partitioned else SNAPSHOT_REFRESH,
        ).merge_attributes(
            metadata={
                SCHEMA: column_schema(endpoint),
                "comms/http_call": endpoint.http_call,
                "comms/primary_key": ", ".join(endpoint.primary_key) or "(none: snapshot)",
                "comms/write_disposition": endpoint.write_disposition,
                "dagster/table_name": f"{api.name}.{endpoint.name}",
            },
            tags=api_tags(api),
        )


TRANSLATOR = CommsTranslator()


def column_schema(endpoint: Endpoint, loaded: dg.TableSchema | None = None) -> dg.TableSchema:
    """The table's columns, described where the catalog describes them: as loaded (dlt's names,
    types and constraints, what dagster-dlt reports) or, before any load, the described ones."""
    docs = {column(path): kind_text for path, kind_text in endpoint.described.items()}
    if loaded is None or not loaded.columns:
        return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=text)
                                       for name, (kind, text) in docs.items()])
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.type, description=docs[c.name][1] if c.name in docs else c.description,
                       constraints=c.constraints, tags=c.tags) for c in loaded.columns])


@dg.definitions
def defs() -> dg.Definitions:
    """The raw assets of every API, with their checks."""
    return dg.Definitions(
        assets=[multi_asset for api in APIS.values() for multi_asset in api_assets(api)],
        resources={"dlt": DagsterDltResource()},
    )


def api_assets(api: Api) -> list[dg.AssetsDefinition]:
    """The API's partitioned and unpartitioned multi-assets (whichever it has endpoints for)."""
    out = []
    for partitioned in (True, False):
        endpoints = [e for e in api.endpoints if e.partitioned == partitioned]
        if endpoints:
            out.append(_multi_asset(api, endpoints, partitioned))
    return out


def _multi_asset(api: Api, endpoints: list[Endpoint], partitioned: bool) -> dg.AssetsDefinition:
    names = [e.name for e in endpoints]
    kind = "daily" if partitioned else "snapshot"
    dlt_pipeline = pipeline(f"{api.name}_{kind}", api.name)

    # ``@dlt_assets`` takes resources only as function parameters, whose names cannot vary per
    # API, and no check specs; this is the multi-asset it builds, with both added.
    @dg.multi_asset(
        name=f"{api.name}_{kind}",
        specs=build_dlt_asset_specs(build_source(api).with_resources(*names), dlt_pipeline, TRANSLATOR),
        check_specs=[*check_specs(api, endpoints), *drift_specs(api, endpoints), *volume_specs(api, endpoints)],
        can_subset=True,
        partitions_def=partitions_def(api) if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        pool=POOL,
        op_tags=WAREHOUSE_STEP_TAGS,
        required_resource_keys={"dlt", api.name},
    )
    def load(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization |
                                                             dg.AssetCheckResult]:
        if context.has_partition_key_range and len(context.partition_keys) > 1:
            refuse_models_in_range(context, api)
        checks = set(context.selected_asset_check_keys)
        loaded: dict[dg.AssetKey, dict[str, int]] = collections.defaultdict(dict)  # rows per day, for volumes
        schemas: dict[dg.AssetKey, dg.TableSchema] = {}  # the columns as loaded, for drift
        with exclusive(dlt_pipeline, lambda: context.log.info("waiting for another run to release the warehouse")):
            if context.selected_asset_keys:
                for event in _load(context, api, names, dlt_pipeline, partitioned):
                    if schema := event.metadata.get(SCHEMA):  # a commit's last day
                        schemas[event.asset_key] = getattr(schema, "schema", schema)  # a value, or the schema
                    if day := getattr(event, "partition", None) or (context.partition_key if partitioned else None):
                        rows = event.metadata[ROW_COUNT]
                        loaded[event.asset_key][day] = getattr(rows, "value", rows)  # a value, or the number
                    yield event
            yield from evaluate(api, dlt_pipeline, {c for c in checks if c.name not in (VOLUME, DRIFT)})
        declared = {dg.AssetKey([api.name, e.name]): {column(path) for path in e.described} for e in endpoints}
        yield from drifts(context.instance, context.run.run_id, checks, schemas, declared)
        yield from volumes(context.instance, checks, loaded)

    return load


def refuse_models_in_range(context: dg.AssetExecutionContext, api: Api) -> None:
    """Fail at once a range run that also selects assets downstream of these days (the dbt models).

    Dagster hands the steps after this one a single materialization of the whole range, while a
    range here is committed and reported a window at a time (so that a failure keeps each
    committed day): the steps downstream would be skipped and the run would succeed without them.
    """
    layer = context.job_def.asset_layer  # the run's assets
    mine = set(context.assets_def.keys)
    after = sorted(key.to_user_string() for key in layer.selected_asset_keys - mine
                   if mine & set(layer.asset_graph.get(key).parent_keys))
    if after:
        first, last = context.partition_keys[0], context.partition_keys[-1]
        raise dg.Failure(
            f"{api.name}: this run loads {first}..{last} and selects {', '.join(after)} after those days, which a "
            f"range run cannot build: materialize the {api.name} days alone (nothing has been loaded); the models "
            "of each day then follow by comms_automation as the days land, or select them alone over the range")


def _load(context: dg.AssetExecutionContext, api: Api, names: list[str], dlt_pipeline: dlt.Pipeline,
          partitioned: bool) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """Run the API's dlt source for the selected endpoints and report each asset (and day).

    A range of days is asked for and committed in windows of whole days sized by ``CommitPlan``:
    as large as about ``COMMS_COMMIT_EVERY_S`` seconds of work, so that requests span many days
    where pages hold many days, and each day is reported as soon as it is in the warehouse. A
    failure, or a quota that ends a backfill, keeps every committed day; running the range again
    completes it exactly.
    """
    credentials = getattr(context.resources, api.name).values()
    if not partitioned:
        stats = LoadStats(progress=Progress(context.log.info))
        yield from _commit(context, api, names, dlt_pipeline, credentials, stats)
        return
    keys = context.partition_keys
    days = context.assets_def.partitions_def
    every = commit_every_s()
    plan = CommitPlan(every, Settings.of(api).seconds_per_request(), days=api.settling_days if every else 1)
    committed: list[str] = []
    started = time.monotonic()
    while len(committed) < len(keys):
        chunk = keys[len(committed):len(committed) + plan.days]
        window = (days.time_window_for_partition_key(chunk[0]).start, days.time_window_for_partition_key(chunk[-1]).end)
        began = time.monotonic()
        stats = LoadStats(progress=Progress(context.log.info))
        try:
            yield from _commit(context, api, names, dlt_pipeline, credentials, stats, window, list(chunk))
        except dg.Failure as failure:
            kept = f"{committed[0]}..{committed[-1]} are loaded; " if committed else ""
            raise dg.Failure(f"{failure.description} ({kept}{chunk[0]}..{keys[-1]} are not: run the range again "
                             "to complete it)") from None
        plan.took(len(chunk), time.monotonic() - began, sum(stats.requests.values()))
        committed.extend(chunk)
        if len(keys) > len(chunk):
            elapsed = time.monotonic() - started
            left = elapsed * (len(keys) - len(committed)) / len(committed)
            context.log.info(f"{api.name}: {len(committed)} of {len(keys)} days committed ({chunk[0]}..{chunk[-1]} "
                             f"in {duration(time.monotonic() - began)}), {duration(elapsed)} so far, "
                             f"about {duration(left)} left")


def commit_every_s() -> float:
    """``COMMS_COMMIT_EVERY_S``: about how much work (seconds) a range run leaves uncommitted."""
    return max(0.0, float(os.environ.get("COMMS_COMMIT_EVERY_S", COMMIT_EVERY_S)))


@dataclass
class CommitPlan:
    """How many days the next window of a range asks for and commits.

    A window is both one request window (the API's filter, split only where the API caps a
    window) and one commit: RingCentral and Gong return a window in no order of time, so a day is
    whole only once its window is. The first window is as long as the API's settling window (a
    scheduled run's whole range: the days it re-reads, in one request window); each next one holds
    the days that take about ``every_s`` at the pace measured so far, so windows grow while pages are sparse
    (the fewest requests) and shrink when the API slows. A day's requests are counted at the API's
    sustained pace at least (``pace_s`` per request): a budget's first requests go in a burst,
    and a window sized by them would outlast its time once the budget binds. Growth is bounded per
    step: one quiet day does not size a window for a busy quarter.
    """

    every_s: float
    pace_s: float = 0.0
    days: int = 1
    growth: int = 32

    def took(self, days: int, seconds: float, requests: int) -> None:
        per_day = max(seconds, requests * self.pace_s) / days
        fits = int(self.every_s / per_day) if per_day > 0 else self.growth * days
        self.days = max(1, min(fits, self.growth * days))


def _commit(context: dg.AssetExecutionContext, api: Api, names: list[str], dlt_pipeline: dlt.Pipeline,
            credentials: dict[str, str], stats: LoadStats, window: Span | None = None,
            keys: list[str] | None = None) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """One dlt load (one commit): the snapshot endpoints, or the days ``keys`` spanning ``window``."""
    source = build_source(api, credentials, window, stats, log=context.log.warning).with_resources(*names)
    started = time.monotonic()
    runner: DagsterDltResource = context.resources.dlt
    try:
        results = list(runner.run(context=context, dlt_source=source, dlt_pipeline=dlt_pipeline,
                                  dagster_dlt_translator=TRANSLATOR, loader_file_format=LOADER_FILE_FORMAT))
    except Exception as exc:  # noqa: BLE001 -- every failure becomes one line without credentials
        raise dg.Failure(describe(api.name, exc, credentials.values())) from None
    elapsed = round(time.monotonic() - started, 2)
    loaded = dlt_pipeline.last_trace.last_normalize_info.row_counts if dlt_pipeline.last_trace else {}
    totals = table_rows(dlt_pipeline, [r.asset_key.path[-1] for r in results])
    for result in results:
        table = result.asset_key.path[-1]
        repeated = stats.repeated_keys(table)
        if repeated:
            context.log.warning(f"{api.name}/{table}: {repeated} key(s) came on more than one page in this load "
                                "(records moving between pages, or paging that does not progress); stored once each")
        schema = (result.metadata or {}).get(SCHEMA)  # dagster-dlt's, from dlt's schema
        metadata = {**(result.metadata or {}), "rows_loaded": loaded.get(table, 0),
                    SCHEMA: column_schema(api.endpoint(table), schema),
                    "comms/requests": stats.requests[table], "comms/elapsed_s": elapsed,
                    **({} if repeated is None else {"comms/repeated_keys": repeated}),
                    "dagster/row_count": totals[table], "dagster/table_name": f"{dlt_pipeline.dataset_name}.{table}"}
        if keys is None:
            yield result._replace(metadata=metadata)
            continue
        # One materialization per day, each with its own rows. A run of one day reports it as the
        # step's output, so that assets downstream in the same run (the dbt models) follow; in a
        # range, each day is reported as it commits, and the models update in a run of their own.
        # What describes the whole commit (the column schema and dlt's jobs, 4-60 KB an event; the
        # requests, the time, the destination) goes on its last day only, the asset's newest
        # materialization; the other days carry their own figures: a year's range reports 3,285
        # days, and Dagster serializes and stores every event.
        days = context.assets_def.partitions_def
        windows = {key: days.time_window_for_partition_key(key) for key in keys}
        synced = day_rows(dlt_pipeline, api.endpoint(table), windows) if table in stats.synced else {}
        for key in keys:
            day = windows[key]
            rows = synced[key] if synced else stats.rows_by_day[(table, key)]
            of_commit = metadata if key == keys[-1] else {k: v for k, v in metadata.items() if k in OF_EVERY_DAY}
            of_day = {**of_commit, "rows_loaded": rows, ROW_COUNT: rows,
                      "comms/commit_rows_loaded": loaded.get(table, 0),
                      "comms/window": _window_text(day.start, day.end),
                      "comms/committed_with": f"{keys[0]}..{keys[-1]}"}
            if context.partition_keys == [key]:
                yield result._replace(metadata=of_day)
            else:
                yield dg.AssetMaterialization(asset_key=result.asset_key, partition=key, metadata=of_day)


def table_rows(dlt_pipeline: dlt.Pipeline, tables: list[str]) -> dict[str, int]:
    """Rows in each warehouse table now (0 for an endpoint that has never returned a row)."""
    counts = dict.fromkeys(tables, 0)
    with dlt_pipeline.sql_client() as client:
        for table in tables:
            try:
                qualified = client.make_qualified_table_name(table)
                counts[table] = client.execute_sql(f"select count(*) from {qualified}")[0][0]
            except DatabaseUndefinedRelation:  # created by the first load that has rows
                pass
    return counts


def day_rows(dlt_pipeline: dlt.Pipeline, endpoint: Endpoint, windows: dict[str, dg.TimeWindow]) -> dict[str, int]:
    """Rows of each day in the table now, by the endpoint's cursor: what a change feed leaves
    there (it returns what changed, not the day)."""
    assert endpoint.window and endpoint.window.cursor
    with dlt_pipeline.sql_client() as client:
        table = client.make_qualified_table_name(endpoint.name)
        cursor = client.escape_column_name(column(endpoint.window.cursor.replace(".", "__")))
        return {key: client.execute_sql(f"select count(*) from {table} where {cursor} >= %s and {cursor} < %s",
                                         day.start, day.end)[0][0] for key, day in windows.items()}


def _window_text(start: datetime, end: datetime) -> str:
    return f"[{start.isoformat()}, {end.isoformat()})"

