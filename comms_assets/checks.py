"""Primary-key checks for every keyed endpoint, computed in the warehouse by SQL.

They run in the same step as the load, right after it (a check per key: unique, not null), and
are blocking: a duplicate or null key fails the run, so ``dagster asset materialize`` exits
non-zero. The table is checked whole, not per partition: merging promises uniqueness table-wide.
"""

from collections.abc import Iterator

import dagster as dg
import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from comms_assets.catalog import Api, Endpoint
from comms_assets.warehouse import column

UNIQUE = "primary_key_unique"
NOT_NULL = "primary_key_not_null"
EXAMPLES = 5


def check_specs(api: Api, endpoints: list[Endpoint]) -> list[dg.AssetCheckSpec]:
    """Uniqueness and not-null specs for the keyed endpoints among ``endpoints``."""
    return [
        dg.AssetCheckSpec(name, asset=dg.AssetKey([api.name, e.name]), blocking=True,
                          description=text.format(", ".join(e.primary_key)))
        for e in endpoints if e.primary_key
        for name, text in ((UNIQUE, "No two rows share the key ({})."), (NOT_NULL, "No key column ({}) is null."))
    ]


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
