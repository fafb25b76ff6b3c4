"""Checks computed in the load's own step, right after it.

* Primary keys, for every keyed endpoint, in the warehouse by SQL (unique, not null): blocking,
  so a duplicate or null key fails the run and ``dagster asset materialize`` exits non-zero. The
  table is checked whole, not per partition: merging promises uniqueness table-wide.
* Schema drift, for every endpoint: columns added (a renamed field, or the variant column dlt
  makes for a retyped one), removed or retyped since the asset's previous load warn, listing
  them. In the step rather than as a separate check op: Dagster leaves an unpartitioned check op
  out of partitioned runs, so the daily loads would never be compared.
* Daily volume, for every dated endpoint: a day that loaded under a quarter of the median of its
  previous 14 days (5 at least, from the partitions' reported row counts) warns, naming the day
  and both counts. An outage or a vendor's silent filter change shows here; it blocks nothing.
"""

import statistics
from collections.abc import Iterator, Mapping
from datetime import date, timedelta

import dagster as dg
import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from comms_assets.catalog import Api, Endpoint
from comms_assets.engine.warehouse import column

UNIQUE = "primary_key_unique"
NOT_NULL = "primary_key_not_null"
VOLUME = "daily_volume"
DRIFT = "column_schema_change"
EXAMPLES = 5
VOLUME_DAYS, VOLUME_MIN_DAYS, VOLUME_FLOOR = 14, 5, 0.25
ROW_COUNT = "dagster/partition_row_count"
SCHEMA = "dagster/column_schema"


def check_specs(api: Api, endpoints: list[Endpoint]) -> list[dg.AssetCheckSpec]:
    """Uniqueness and not-null specs for the keyed endpoints among ``endpoints``."""
    return [
        dg.AssetCheckSpec(name, asset=dg.AssetKey([api.name, e.name]), blocking=True,
                          description=text.format(", ".join(e.primary_key)))
        for e in endpoints if e.primary_key
        for name, text in ((UNIQUE, "No two rows share the key ({})."), (NOT_NULL, "No key column ({}) is null."))
    ]


def drift_specs(api: Api, endpoints: list[Endpoint]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(DRIFT, asset=dg.AssetKey([api.name, e.name]), blocking=False,
                              description="No column added, removed or retyped since the previous load.")
            for e in endpoints]


def drifts(instance: dg.DagsterInstance, run_id: str, checks: set[dg.AssetCheckKey],
           schemas: Mapping[dg.AssetKey, dg.TableSchema],
           declared: Mapping[dg.AssetKey, set[str]]) -> Iterator[dg.AssetCheckResult]:
    """The selected drift checks: this run's column schema against the latest earlier run's. A
    column the catalog declares may arrive late (RingCentral's ``deleted``, with the first
    deleted call) without being drift."""
    for check in sorted((c for c in checks if c.name == DRIFT), key=lambda c: c.asset_key.to_user_string()):
        new, old = schemas.get(check.asset_key), _previous_schema(instance, check.asset_key, run_id)
        if new is None or old is None:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=DRIFT, passed=True,
                                      description="no earlier load to compare with")
            continue
        before, after = {c.name: c.type for c in old.columns}, {c.name: c.type for c in new.columns}
        added = sorted(after.keys() - before.keys() - declared.get(check.asset_key, set()))
        removed = sorted(before.keys() - after.keys())
        retyped = {n: f"{before[n]} -> {after[n]}" for n in sorted(before.keys() & after.keys())
                   if before[n] != after[n]}
        parts = [f"Added columns: {', '.join(added)}" if added else "",
                 f"Removed columns: {', '.join(removed)}" if removed else "",
                 f"Retyped columns: {', '.join(f'{n} ({t})' for n, t in retyped.items())}" if retyped else ""]
        yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=DRIFT, passed=not any(parts),
                                  severity=dg.AssetCheckSeverity.WARN,
                                  description="; ".join(p for p in parts if p) or None,
                                  metadata={"added": added, "removed": removed,
                                            "retyped": dg.MetadataValue.json(retyped)})


def _previous_schema(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> dg.TableSchema | None:
    """The column schema of the newest materialization from another run: paged, since a long range
    run writes one materialization per day."""
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=100, cursor=cursor)  # newest first
        for record in page.records:
            if record.run_id != run_id and record.asset_materialization:
                value = record.asset_materialization.metadata.get(SCHEMA)
                return value.schema if value is not None else None
        if not page.has_more:
            return None
        cursor = page.cursor


def volume_specs(api: Api, endpoints: list[Endpoint]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(VOLUME, asset=dg.AssetKey([api.name, e.name]), blocking=False,
                              description=f"No day loads under {VOLUME_FLOOR:.0%} of the median of its previous "
                                          f"{VOLUME_DAYS} days.")
            for e in endpoints if e.partitioned]


def volumes(instance: dg.DagsterInstance, checks: set[dg.AssetCheckKey],
            loaded: Mapping[dg.AssetKey, Mapping[str, int]]) -> Iterator[dg.AssetCheckResult]:
    """The selected volume checks, for the days this step loaded (``loaded``: rows per day)."""
    for check in sorted((c for c in checks if c.name == VOLUME), key=lambda c: c.asset_key.to_user_string()):
        days = loaded.get(check.asset_key, {})
        counts = {**_reported(instance, check.asset_key, days), **days}
        low = []
        for day, rows in sorted(days.items()):
            start = f"{date.fromisoformat(day) - timedelta(days=VOLUME_DAYS):%Y-%m-%d}"
            before = [n for d, n in counts.items() if start <= d < day]
            if len(before) >= VOLUME_MIN_DAYS and rows < VOLUME_FLOOR * (median := statistics.median(before)):
                low.append({"day": day, "rows": rows, "median_of_previous_days": median, "days_compared": len(before)})
        text = "; ".join(f"{d['day']}: {d['rows']} rows, median {d['median_of_previous_days']:g} over the "
                         f"{d['days_compared']} days before" for d in low)
        yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=VOLUME, passed=not low,
                                  severity=dg.AssetCheckSeverity.WARN, description=text or None,
                                  metadata={"days_checked": len(days), "low_days": dg.MetadataValue.json(low)})


def _reported(instance: dg.DagsterInstance, key: dg.AssetKey, days: Mapping[str, int]) -> dict[str, int]:
    """Rows per day as the days' latest materializations reported them, for the look-back."""
    if not days:
        return {}
    first = date.fromisoformat(min(days)) - timedelta(days=VOLUME_DAYS)
    window = [f"{first + timedelta(days=n):%Y-%m-%d}" for n in range(VOLUME_DAYS + len(days) + 1)]
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=window),
                                              limit=10 * len(window)).records
    out: dict[str, int] = {}
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization and materialization.partition not in out and ROW_COUNT in materialization.metadata:
            out[materialization.partition] = materialization.metadata[ROW_COUNT].value
    return out


def evaluate(api: Api, dlt_pipeline: dlt.Pipeline, checks: set[dg.AssetCheckKey]) -> Iterator[dg.AssetCheckResult]:
    """Run the selected checks against the warehouse, one SQL query each."""
    with dlt_pipeline.sql_client() as client:
        for check in sorted(checks, key=lambda c: (c.asset_key.to_user_string(), c.name)):
            endpoint = api.endpoint(check.asset_key.path[-1])
            table = client.make_qualified_table_name(endpoint.name)
            keys = [client.escape_column_name(column(k)) for k in endpoint.primary_key]
            try:
                metadata = _duplicates(client, table, keys) if check.name == UNIQUE else _nulls(client, table, keys)
            except DatabaseUndefinedRelation:
                metadata = {"note": "no table yet: no rows loaded so far"}
            failures = metadata.get("duplicate_keys", metadata.get("null_keys", 0))
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=failures == 0,
                                      metadata=metadata)


def _duplicates(client, table: str, keys: list[str]) -> dict:
    cols = ", ".join(keys)
    count = client.execute_sql(
        f"select count(*) from (select {cols} from {table} group by {cols} having count(*) > 1) d")[0][0]
    examples = client.execute_sql(
        f"select {cols}, count(*) from {table} group by {cols} having count(*) > 1 "
        f"order by count(*) desc limit {EXAMPLES}") if count else []
    return {"duplicate_keys": count, "examples": dg.MetadataValue.json([[str(v) for v in row] for row in examples])}


def _nulls(client, table: str, keys: list[str]) -> dict:
    nulls = " or ".join(f"{k} is null" for k in keys)
    return {"null_keys": client.execute_sql(f"select count(*) from {table} where {nulls}")[0][0]}
