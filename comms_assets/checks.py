"""Primary-key checks for every keyed endpoint, computed in the warehouse by SQL.

Blocking: a duplicate or null key fails the run (and ``dagster asset materialize`` exits non-zero).
The table is scanned whole, not per partition: merge semantics promise uniqueness table-wide.
"""


from collections.abc import Iterator

import dagster as dg
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from comms_assets.assets import POOL, WAREHOUSE_TAGS
from comms_assets.catalog import Api, Endpoint
from comms_assets.warehouse import column, pipeline

UNIQUE = "primary_key_unique"
NOT_NULL = "primary_key_not_null"
EXAMPLES = 5


def key_checks(api: Api, assets: dg.AssetsDefinition) -> dg.AssetChecksDefinition | None:
    """Uniqueness and not-null checks for the keyed endpoints of one multi-asset."""
    dlt_pipeline = pipeline(assets.node_def.name, api.name)  # the multi-asset's own pipeline
    keyed: dict[dg.AssetKey, Endpoint] = {
        key: api.endpoint(key.path[-1]) for key in assets.keys if api.endpoint(key.path[-1]).primary_key}
    if not keyed:
        return None
    specs = [dg.AssetCheckSpec(name, asset=key, blocking=True, description=text.format(", ".join(e.primary_key)))
             for key, e in keyed.items()
             for name, text in ((UNIQUE, "No two rows share the key ({})."), (NOT_NULL, "No key column ({}) is null."))]

    @dg.multi_asset_check(specs=specs, name=f"{assets.node_def.name}_keys", can_subset=True, pool=POOL,
                          op_tags=WAREHOUSE_TAGS)
    def check_keys(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        with dlt_pipeline.sql_client() as client:
            for check in context.selected_asset_check_keys:
                endpoint = keyed[check.asset_key]
                table = client.make_qualified_table_name(endpoint.name)
                cols = ", ".join(client.escape_column_name(column(k)) for k in endpoint.primary_key)
                try:
                    if check.name == UNIQUE:
                        yield _unique(client, check, table, cols)
                    else:
                        nulls = " or ".join(f"{c} is null" for c in cols.split(", "))
                        count = client.execute_sql(f"select count(*) from {table} where {nulls}")[0][0]
                        yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name,
                                                  passed=count == 0, metadata={"null_keys": count})
                except DatabaseUndefinedRelation:
                    yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True,
                                              metadata={"note": "table not created yet: no rows loaded"})

    return check_keys


def _unique(client, check: dg.AssetCheckKey, table: str, cols: str) -> dg.AssetCheckResult:
    duplicates = client.execute_sql(
        f"select count(*) from (select {cols} from {table} group by {cols} having count(*) > 1) d")[0][0]
    examples = client.execute_sql(
        f"select {cols}, count(*) from {table} group by {cols} having count(*) > 1 "
        f"order by count(*) desc limit {EXAMPLES}") if duplicates else []
    return dg.AssetCheckResult(
        asset_key=check.asset_key, check_name=check.name, passed=duplicates == 0,
        metadata={"duplicate_keys": duplicates,
                  "examples": dg.MetadataValue.json([list(map(str, row)) for row in examples])})
