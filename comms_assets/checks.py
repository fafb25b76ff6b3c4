"""Checks computed in the load's own step, right after it.

* Primary keys, for every keyed endpoint, in the warehouse by SQL (unique, not null): blocking,
  so a duplicate or null key fails the run and ``dagster asset materialize`` exits non-zero. The
  table is checked whole, not per partition: merging promises uniqueness table-wide.
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
from comms_assets.warehouse import column

UNIQUE = "primary_key_unique"
NOT_NULL = "primary_key_not_null"
VOLUME = "daily_volume"
EXAMPLES = 5
VOLUME_DAYS, VOLUME_MIN_DAYS, VOLUME_FLOOR = 14, 5, 0.25
ROW_COUNT = "dagster/partition_row_count"


def check_specs(api: Api, endpoints: list[Endpoint]) -> list[dg.AssetCheckSpec]:
    """Uniqueness and not-null specs for the keyed endpoints among ``endpoints``."""
    return [
        dg.AssetCheckSpec(name, asset=dg.AssetKey([api.name, e.name]), blocking=True,
                          description=text.format(", ".join(e.primary_key)))
        for e in endpoints if e.primary_key
        for name, text in ((UNIQUE, "No two rows share the key ({})."), (NOT_NULL, "No key column ({}) is null."))
    ]


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
