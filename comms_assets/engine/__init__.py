"""The engine the definitions run on: plain dlt and HTTP, runnable without Dagster (sources,
Arrow batches, rate limits, the warehouse, errors, progress, alerts, the dbt project as data).
Nothing here imports ``defs/``."""
