"""Tests of the Dagster definitions: assets, runs, partitions, automation, health, the dbt layer."""
