"""The unified layer: the dbt project in ``dbt_project/`` as Dagster assets of the ``comms`` group.

dagster-dbt turns each model into an asset and each dbt test into an asset check (error-severity
tests, the keys and the reconciliations, are blocking). The models' dependencies on the raw assets
come from the dbt sources (``models/staging/_sources.yml``, generated from the catalog), so the
lineage is exactly what each model reads. The models tagged ``daily`` follow the daily partitions:
a run for some days passes them as ``COMMS_DBT_MIN_DATE``/``COMMS_DBT_MAX_DATE`` and the incremental
models rebuild exactly those days. They read only dated endpoints and each other, so a refresh of
a snapshot (people) rebuilds no day; the marts are views that name the people when read.
"""

import contextlib
import functools
import importlib.metadata
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev
from packaging import version

from comms_assets.catalog import APIS
from comms_assets.defs.shared import POOL, WAREHOUSE_STEP_TAGS, partitions_def
from comms_assets.engine import layer, warehouse
from comms_assets.engine.layer import (
    DAILY,
    GROUP,
    PARTIAL_PARSE,
    PROJECT_DIR,
    dbt_executable,
    models,
    read_manifest,
)

project = DbtProject(project_dir=PROJECT_DIR)


# Dagster's eager condition, on every day rather than the latest only: a day loaded by a daily
# schedule, a catch-up or a backfill reaches the models (once every input of that day is loaded).
UPDATE_WITH_INPUTS = dg.AutomationCondition.eager().without(
    dg.AutomationCondition.in_latest_time_window()).with_label("eager, on every day")
# The models rebuilt whole (snapshots, and the views that name people in the daily facts): eager,
# once each input has been loaded at all. Eager's own "no input missing" would wait for every day
# since the partitions' start to be loaded before a view over the daily facts is first made.
UPDATE_WHOLE = (dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
                .without(~dg.AutomationCondition.any_deps_missing())
                & dg.AutomationCondition.all_deps_match(~dg.AutomationCondition.missing())
                ).with_label("eager, once every input has a load")


class Translator(DagsterDbtTranslator):
    """Models as ``comms/<model>`` in the ``comms`` group, updated when their inputs are (through
    the ``comms_automation`` sensor)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)  # the raw asset, from the source's meta
        return dg.AssetKey([GROUP, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return GROUP

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition:
        return UPDATE_WITH_INPUTS if DAILY in dbt_resource_props.get("tags", ()) else UPDATE_WHOLE

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        """dbt's test as a check, described (dbt's generic tests carry no description of their own)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        node = manifest["nodes"][unique_id]
        if node["description"]:
            return spec._replace(description=node["description"])
        warns = str(node["config"].get("severity", "")).lower() == "warn"
        return spec._replace(description=describe_test(node.get("test_metadata", {}))
                             + (" (a warning otherwise)." if warns else "."))


def describe_test(metadata: Mapping[str, Any]) -> str:
    """What a generic dbt test asserts, in words, from its name and arguments."""
    args = metadata.get("kwargs", {})
    column = args.get("column_name", "")
    match metadata.get("name"):
        case "unique":
            return f"{column} is unique"
        case "not_null":
            return f"{column} is never null"
        case "accepted_values":
            return f"{column} is one of {', '.join(yaml.safe_load(str(args['values'])))}"
        case "relationships":
            target = re.sub(r"ref\('(\w+)'\)", r"\1", args["to"])
            return f"Each {column} is in {target}.{args['field']}"
        case "reconciles_with_raw":
            return ("Per source and UTC day of the run's days: exactly the raw tables' distinct keys, each once "
                    "(a row lost or doubled between raw and here fails)")
        case "adds_up_to_raw":
            return f"Per UTC day of the run's days, {args['counter']} adds up to the raw rows it counts"
        case name:
            return f"dbt test {name}"


def build(context: dg.AssetExecutionContext, dbt: DbtCliResource, days: tuple[str, str] | None = None) -> Iterator:
    """``dbt build`` of the selected models and their tests, against the raw tables' warehouse.

    The profile reads the warehouse from the environment (``profiles.yml``), which the dbt
    process inherits, and so do the run's days (``in_window``): passed as ``--vars`` they would
    make dbt parse the whole project again, while the prepared parse serves every run on the
    default warehouse. On DuckDB the step holds the file's lock like every loading step. A test
    of several models (a reconciliation) runs when its model is built, not when only one of its
    inputs is (dbt's ``buildable`` indirect selection; the default would run it on a missing table).
    """
    first, end = days or ("", "")
    run_environment = {**warehouse.dbt_environment(), "DBT_INDIRECT_SELECTION": "buildable",
                       "COMMS_DBT_MIN_DATE": first, "COMMS_DBT_MAX_DATE": end}
    lock = warehouse.exclusive(warehouse.pipeline("dbt", GROUP), lambda: context.log.info("waiting for the warehouse"))
    with lock, tempfile.TemporaryDirectory(prefix="comms-dbt-") as artifacts:  # dbt's per-run files, not kept
        prepared = project.manifest_path.with_name(PARTIAL_PARSE)
        if prepared.exists():
            shutil.copyfile(prepared, Path(artifacts, PARTIAL_PARSE))
        with environment(run_environment):  # read once, as the dbt process starts
            invocation = dbt.cli(BUILD, context=context, target_path=Path(artifacts))
        yield from invocation.stream()


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block, restored after it: the dbt process
    started in it inherits them, and the next run in this process (one in-process execution after
    another) does not."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# A build of the models and their data tests; the unit tests (fixed inputs, no warehouse data) run
# in CI alone: ``dbt test --select test_type:unit``.
BUILD = ["build", "--exclude-resource-type", "unit_test"]


@dg.definitions
def defs() -> dg.Definitions:
    """The daily models (partitioned like the raw days) and the others, as two dbt multi-assets,
    from the manifest ``make install`` prepared.

    In development (``dg``, ``dagster dev``) the project is parsed again when one of its files
    changed since its manifest, dagster-dbt's ``prepare_if_dev`` made conditional: ``dg`` sets the
    development flag for every command, and ``dg check defs`` or ``dg launch`` must find the
    prepared project as it is and write nothing."""
    if using_dagster_dev() and layer.stale():
        layer.prepare()
    parsed = read_manifest()  # read once, for both multi-assets
    translator = Translator()
    models(parsed)  # refuses a daily model that reads a snapshot (its every day would follow each refresh)
    # Every API's days start together unless configured otherwise: the layer's start with the earliest.
    days = min((partitions_def(api) for api in APIS.values()), key=lambda api_days: api_days.start)

    @dbt_assets(manifest=parsed, project=project, select=f"tag:{DAILY}", name="comms_daily",
                partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run(), dagster_dbt_translator=translator,
                pool=POOL, op_tags=WAREHOUSE_STEP_TAGS)
    def comms_daily(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        window = context.partition_time_window
        yield from build(context, dbt, (f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}"))

    @dbt_assets(manifest=parsed, project=project, exclude=f"tag:{DAILY}", name="comms_snapshots",
                dagster_dbt_translator=translator, pool=POOL, op_tags=WAREHOUSE_STEP_TAGS)
    def comms_snapshots(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from build(context, dbt)

    return dg.Definitions(assets=[comms_daily, comms_snapshots], resources={"dbt": dbt_resource()})


class DbtCoreResource(DbtCliResource):
    """dagster-dbt's resource for the dbt-core installed beside this Python, without two costs
    of each command that this project does not use (4.6 s of a 10 s step, measured on DuckDB).

    Before every command dagster-dbt runs ``dbt --version`` in a subprocess (2.5 s) to tell
    dbt-core from the Fusion engine, and opens an adapter of its own (2.1 s), which only its
    opt-in row-count and column-metadata fetches read. The version comes from dbt-core's package
    metadata instead, and there is no adapter: those fetches are not used here.
    """

    @functools.cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource() -> DbtCliResource:
    return DbtCoreResource(project_dir=project, dbt_executable=dbt_executable())
