"""The Dagster definitions, found by ``dg`` (``load_from_defs_folder``): loading per API
(``ingest/``), the dbt layer, automation, health, and the resources and executor."""
